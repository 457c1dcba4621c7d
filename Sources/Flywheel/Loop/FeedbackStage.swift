import Foundation
import GitStore

/// What a feedback stage committed.
public struct FeedbackReport: Sendable, Codable {
    public var cycle: Int
    /// Records added by this call, by source.
    public var added: [String: Int]
    /// Records in the cycle's feedback.jsonl after the commit.
    public var total: Int
    /// Model critic findings that failed validation, with why.
    public var rejected: [String]
    public var redactions: [String: Int]
    public var commit: String?
}

/// The feedback stage: human notes (`add`, `import`), the rule critic (always) and an LLM critic (when configured),
/// all validated, redacted and committed as the open cycle's `feedback.jsonl` (stage `feedback`).
public enum FeedbackStage {
    /// Adds records to the open cycle (merged with what is there, deduplicated by id).
    /// - Throws: when a record's trace id is not a trace of the cycle; nothing is committed then.
    public static func commit(_ ctx: LoopContext, records: [FeedbackRecord], rejected: [String] = [], note: String) throws -> FeedbackReport {
        let cycle = try ctx.history.openCycle()
        let targets = try targets(ctx, cycle: cycle.number)
        // Redacted first: a trace id holding a secret was stored under its redacted form (Redactor.redactID).
        let redactor = try ctx.redactor()
        var report = RedactionReport()
        let clean = records.map { redact($0, redactor, &report) }
        for r in clean where targets.traces[r.traceID] == nil {
            throw StageError("feedback", "feedback \(r.feedbackID): trace_id \(r.traceID) is not a trace of cycle \(cycle.number) or an earlier one")
        }
        // Merged with feedback.jsonl as it is at the tip committed onto: a reviewer adding notes at the same time as
        // another keeps both (the merge runs again when the other commit lands first).
        var merged: [FeedbackRecord] = []
        var added: [String: Int] = [:]
        let (_, commit) = try ctx.history.commitMerging(.feedback, body: note) { snap, open in
            let name = Layout.cycleFile(open.number, Layout.CycleFile.feedback)
            let current = try snap.cycleFile(open.number, Layout.CycleFile.feedback).map { try FeedbackStore.decode($0, file: name) } ?? []
            merged = FeedbackStore.merge(current, clean)
            let before = Set(current.map(\.feedbackID))
            added = [:]
            for r in merged where !before.contains(r.feedbackID) { added[r.source.rawValue, default: 0] += 1 }
            return ([Layout.CycleFile.feedback: FeedbackStore.encode(merged)], TreeChanges())
        }
        return FeedbackReport(cycle: cycle.number, added: added, total: merged.count, rejected: rejected, redactions: report.counts, commit: commit?.hex)
    }

    /// The runs feedback filed in `cycle` may name: its own and every earlier cycle's (a late review).
    static func targets(_ ctx: LoopContext, cycle: Int) throws -> FeedbackTargets {
        var targets = FeedbackTargets(cycle: cycle)
        for c in try ctx.history.cycles() where c.number <= cycle {
            let data = try CycleData.read(ctx.history, cycle: c.number, revision: c.number == cycle ? ctx.history.ref : nil)
            targets.add(cycle: c.number, runs: try data.runOrder())
        }
        return targets
    }

    /// Reads feedback files (JSONL or a JSON array), validated against the traces of the open cycle and earlier
    /// ones. A record may name its run by `trace_id`, by `task_id` (any id format), or by `question` (a task id, or
    /// the task's 1-based position); with `cycle: N` it is about a run of an earlier cycle.
    public static func load(_ ctx: LoopContext, files: [URL]) throws -> [FeedbackRecord] {
        let cycle = try ctx.history.openCycle()
        let targets = try targets(ctx, cycle: cycle.number)
        var out: [FeedbackRecord] = []
        for url in files {
            guard let bytes = FileManager.default.contents(atPath: url.path) else {
                throw StageError("feedback", "cannot read \(url.path)")
            }
            out += try FeedbackParser.load(bytes, file: url.path, defaultCreatedAt: ctx.timestamp, targets: targets)
        }
        return out
    }

    /// The critics over the open cycle's runs: the deterministic rule critic always, the LLM critic when
    /// `models.critic` is set. Human files given are imported in the same commit.
    public static func critique(_ ctx: LoopContext, humanFiles: [URL] = []) throws -> FeedbackReport {
        let cycle = try ctx.history.openCycle()
        let data = try CycleData.read(ctx.history, cycle: cycle.number, revision: ctx.history.ref)
        guard !data.traces.isEmpty else { throw StageError("feedback", "cycle \(cycle.number) has no traces yet: run `flywheel run` first") }
        var records = try load(ctx, files: humanFiles)
        let sources = try sourceFolder(ctx, rules: data.rules)
        // Prohibited claims of earlier cycles' feedback keep being checked.
        var earlier: [FeedbackRecord] = []
        for c in try ctx.history.cycles() where c.number < cycle.number {
            earlier += (try? CycleData.read(ctx.history, cycle: c.number).feedback) ?? []
        }
        let critic = RuleCritic(rules: data.rules, sources: sources, createdAt: ctx.timestamp)
        let runs = data.runs
        records += critic.critique(runs: runs, earlierFeedback: earlier + records)
        var rejected: [String] = []
        if let model = try ctx.model(for: .critic) {
            let llm = ModelCritic(model: model, modelName: model.id, createdAt: ctx.timestamp)
            let brief = ProjectBrief(config: ctx.config, harness: data.harnessFiles, rules: data.rules)
            for run in runs {
                do {
                    let result = try llm.critique(run: run, brief: brief, sources: sources)
                    records += result.records
                    rejected += result.rejected
                } catch {
                    throw StageError("feedback", "critic model \(model.id) on trace \(run.traceID): \(error)")
                }
            }
        }
        let note = "Rule critic\(ctx.modelName(for: .critic).map { " and model critic (\($0))" } ?? "") over \(runs.count) run(s)"
            + (humanFiles.isEmpty ? "" : "; human feedback from " + humanFiles.map(\.lastPathComponent).joined(separator: ", "))
        return try commit(ctx, records: records, rejected: rejected, note: note + ".")
    }

    /// The sources the rules say citations point to (nil when the rules name none).
    /// - Throws: when the rules name a folder that does not exist.
    static func sourceFolder(_ ctx: LoopContext, rules: ProjectRules) throws -> SourceFolder? {
        guard let folder = rules.sources?.folder else { return nil }
        let url = ctx.workspace.url(folder)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ConfigError(file: ctx.config.rules ?? ProjectRules.defaultFile, line: nil, field: "sources.folder", reason: "no such folder: \(folder)")
        }
        return try SourceFolder.load(from: url)
    }

    static func redact(_ r: FeedbackRecord, _ redactor: Redactor, _ report: inout RedactionReport) -> FeedbackRecord {
        var r = r
        r.feedbackID = redactor.redactID(r.feedbackID, report: &report)
        r.traceID = redactor.redactID(r.traceID, report: &report)
        r.taskID = r.taskID.map { redactor.redactID($0, report: &report) }
        r.author = redactor.redact(r.author, report: &report)
        r.category = redactor.redact(r.category, report: &report)
        r.observation = redactor.redact(r.observation, report: &report)
        r.evidence = redactor.redact(r.evidence, report: &report)
        r.requiredObservations = r.requiredObservations.map { redactor.redact($0, report: &report) }
        r.prohibitedClaims = r.prohibitedClaims.map { redactor.redact($0, report: &report) }
        return r
    }
}
