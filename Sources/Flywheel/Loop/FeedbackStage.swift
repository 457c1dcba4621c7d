import FlywheelTraces
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
    /// - Parameter history: the runs and feedback as `FeedbackHistory.read` found them, when the caller read them.
    /// - Throws: when a record's trace id is not a trace of the cycle; nothing is committed then.
    public static func commit(
        _ ctx: LoopContext, records: [FeedbackRecord], rejected: [String] = [], note: String, history: FeedbackHistory? = nil
    ) throws -> FeedbackReport {
        let history = try history ?? FeedbackHistory.read(ctx)
        let cycle = history.cycle
        // Redacted first: a trace id holding a secret was stored under its redacted form (Redactor.redactID).
        let redactor = try ctx.redactor()
        var report = RedactionReport()
        let clean = records.map { redact($0, redactor, &report) }
        for r in clean where history.targets.traces[r.traceID] == nil {
            throw StageError(.feedback, "feedback \(r.feedbackID): trace_id \(r.traceID) is not a trace of cycle \(cycle) or an earlier one")
        }
        // Merged with feedback.jsonl as it is at the tip committed onto: a reviewer adding notes at the same time as
        // another keeps both (the merge runs again when the other commit lands first).
        var merged: [FeedbackRecord] = []
        var added: [String: Int] = [:]
        let (_, commit) = try ctx.history.commitMerging(.feedback, body: note) { snap, open in
            let current = try CycleData.readFeedback(snap, cycle: open.number)
            merged = FeedbackStore.merge(current, clean)
            let before = Set(current.map(\.feedbackID))
            added = [:]
            for r in merged where !before.contains(r.feedbackID) { added[r.source.rawValue, default: 0] += 1 }
            return ([Layout.CycleFile.feedback: FeedbackStore.encode(merged)], TreeChanges())
        }
        return FeedbackReport(cycle: cycle, added: added, total: merged.count, rejected: rejected, redactions: report.counts, commit: commit?.hex)
    }

    /// Reads feedback files (JSONL or a JSON array), validated against the traces of the open cycle and earlier
    /// ones. A record may name its run by `trace_id`, by `task_id` (any id format), or by `question` (a task id, or
    /// the task's 1-based position); with `cycle: N` it is about a run of an earlier cycle.
    public static func load(_ ctx: LoopContext, files: [URL], history: FeedbackHistory? = nil) throws -> [FeedbackRecord] {
        let history = try history ?? FeedbackHistory.read(ctx)
        var out: [FeedbackRecord] = []
        for url in files {
            guard let bytes = FileManager.default.contents(atPath: url.path) else {
                throw StageError(.feedback, "cannot read \(url.path)")
            }
            out += try FeedbackParser.load(bytes, file: url.path, defaultCreatedAt: ctx.timestamp, targets: history.targets)
        }
        return out
    }

    /// The critics over the open cycle's runs: the deterministic rule critic always, the LLM critic when
    /// `models.critic` is set. Human files given are imported in the same commit. The history is read once: the open
    /// cycle in full, earlier cycles' runs and feedback only.
    public static func critique(_ ctx: LoopContext, humanFiles: [URL] = []) throws -> FeedbackReport {
        let cycle = try ctx.history.openCycle()
        let data = try CycleData.read(ctx.history, cycle: cycle.number, revision: ctx.history.ref)
        guard !data.traces.isEmpty else { throw StageError(.feedback, "cycle \(cycle.number) has no traces yet: run `flywheel run` first") }
        let history = try FeedbackHistory.read(ctx, open: data)
        let human = try load(ctx, files: humanFiles, history: history)
        let sources = try sourceFolder(ctx, rules: data.rules)
        let runs = data.runs
        var records = human + ruleCritique(data, runs: runs, sources: sources, human: human, history: history, createdAt: ctx.timestamp)
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
                    throw StageError(.feedback, "critic model \(model.id) on trace \(run.traceID): \(error)")
                }
            }
        }
        let note = "Rule critic\(ctx.modelName(for: .critic).map { " and model critic (\($0))" } ?? "") over \(runs.count) run(s)"
            + (humanFiles.isEmpty ? "" : "; human feedback from " + humanFiles.map(\.lastPathComponent).joined(separator: ", "))
        return try commit(ctx, records: records, rejected: rejected, note: note + ".", history: history)
    }

    /// The rule critic's records for a cycle: a pure function of the cycle's data, the human records filed with
    /// them and the feedback of earlier cycles (whose prohibited claims keep being checked).
    static func ruleCritique(
        _ data: CycleData, runs: [RunArtifacts], sources: SourceFolder?, human: [FeedbackRecord], history: FeedbackHistory, createdAt: String
    ) -> [FeedbackRecord] {
        let critic = RuleCritic(rules: data.rules, sources: sources, createdAt: createdAt)
        return critic.critique(runs: runs, earlierFeedback: history.earlierFeedback + human)
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

/// What the feedback stage reads of the history besides the open cycle's data, read once per stage: the runs
/// feedback may name (the open cycle's and every earlier cycle's) and the feedback earlier cycles hold.
public struct FeedbackHistory: Sendable {
    /// The open cycle.
    public var cycle: Int
    public var targets: FeedbackTargets
    /// Feedback of the cycles before the open one (a cycle whose feedback.jsonl cannot be read adds none).
    public var earlierFeedback: [FeedbackRecord]

    /// Reads the open cycle's runs (from `open` when the caller has read its data) and earlier cycles' runs and
    /// feedback, without their outputs, harness or results.
    public static func read(_ ctx: LoopContext, open: CycleData? = nil) throws -> FeedbackHistory {
        let number = try open?.cycle.number ?? ctx.history.openCycle().number
        var history = FeedbackHistory(cycle: number, targets: FeedbackTargets(cycle: number), earlierFeedback: [])
        for c in try ctx.history.cycles() where c.number <= number {
            let runs: CycleRuns
            if c.number == number, let open {
                runs = try CycleRuns(open)
            } else {
                runs = try CycleRuns(ctx.history, cycle: c.number, revision: c.number == number ? ctx.history.ref : nil)
            }
            history.targets.add(cycle: c.number, runs: runs.runs)
            if c.number < number { history.earlierFeedback += runs.feedback ?? [] }
        }
        return history
    }
}
