import Foundation
import GitStore

/// Options of `flywheel loop`: one cycle end to end.
public struct LoopOptions: Sendable {
    public var run: RunOptions
    /// Human feedback files imported with the critics' findings.
    public var feedbackFiles: [URL]
    /// Harness paths to snapshot (default: loop.yaml's).
    public var harnessPaths: [String]
    /// What changed in the harness, recorded in `cycle.json` and the start commit.
    public var summary: String?
    /// The gate's script policy: `--allow-scripts` (true), `--no-scripts` (false), nil: loop.yaml's `evals.allow_scripts`.
    public var scripts: Bool?

    public init(run: RunOptions = RunOptions(), feedbackFiles: [URL] = [], harnessPaths: [String] = [], summary: String? = nil,
                scripts: Bool? = nil) {
        self.scripts = scripts
        self.run = run
        self.feedbackFiles = feedbackFiles
        self.harnessPaths = harnessPaths
        self.summary = summary
    }
}

/// What one cycle of the loop did.
public struct LoopReport: Sendable, Codable {
    public var cycle: Int
    public var traces: Int
    public var feedback: Int
    public var evalsAdded: Int
    public var suiteSize: Int
    public var passRate: Double
    public var gatePassed: Bool
    public var gateMessage: String
    public var failureModes: Int
    public var topRecommendation: String?
    public var outcomes: [String: String]
    public var tag: String

    enum CodingKeys: String, CodingKey {
        case cycle, traces, feedback, evalsAdded = "evals_added", suiteSize = "suite_size", passRate = "pass_rate"
        case gatePassed = "gate_passed", gateMessage = "gate_message", failureModes = "failure_modes"
        case topRecommendation = "top_recommendation", outcomes, tag
    }
}

/// `flywheel loop`: start (snapshot the harness), run, critique, generate evals, gate, diagnose, handoff, close and
/// tag — each stage its own commit. A failing gate does not stop the loop (the handoff is how it gets fixed).
public enum LoopRunner {
    public static let stageNames = Stage.cycle.map(\.step)

    /// Runs one cycle. With `resume`, continues the open cycle from the first stage it has not committed yet (a run
    /// that was stopped runs only its missing tasks), instead of starting a new one.
    public static func runCycle(
        _ ctx: LoopContext, options: LoopOptions, resume: Bool = false, taskProgress: @escaping @Sendable (RunProgress) -> Void = { _ in }
    ) throws -> LoopReport {
        let total = stageNames.count
        func step(_ i: Int, skipped: Bool = false) { ctx.progress("[\(i)/\(total)] \(stageNames[i - 1])" + (skipped ? " (already committed)" : "")) }
        let cycle: Cycle
        if resume {
            guard let open = try? ctx.history.openCycle() else {
                throw StageError("loop", "no open cycle to resume: start one with `flywheel loop` (without --resume)")
            }
            cycle = open
            step(1, skipped: true)
        } else {
            if ctx.history.exists, let open = try? ctx.history.openCycle() {
                throw StageError("loop", "cycle \(open.number) is still open: continue it with `flywheel loop --resume` (or close it with `flywheel cycle close`)")
            }
            try preflight(ctx, options: options)
            step(1)
            cycle = try CycleStart.start(ctx, harnessPaths: options.harnessPaths, summary: options.summary, agentCommand: options.run.agentCommand)
        }
        func has(_ name: String) throws -> Bool { try ctx.history.snapshot().cycleFile(cycle.number, name) != nil }
        step(2)
        // Runs only the tasks the cycle does not hold yet (all of them in a fresh cycle).
        let run = try RunStage.run(ctx, options: options.run, progress: taskProgress)
        for w in run.warnings { ctx.progress("warning: \(w)") }
        let feedbackDone = resume ? try has(Layout.CycleFile.feedback) : false
        step(3, skipped: feedbackDone)
        if !feedbackDone { _ = try FeedbackStage.critique(ctx, humanFiles: options.feedbackFiles) }
        let evalsDone = resume ? try has(Layout.CycleFile.evals) : false
        step(4, skipped: evalsDone)
        var added = 0
        if !evalsDone { added = try EvalStages.generate(ctx).added.count }
        let gateDone = resume ? try has(Layout.CycleFile.results) : false
        step(5, skipped: gateDone)
        var gate: GateReport?
        if !gateDone { gate = try EvalStages.gate(ctx, options: .init(cycle: cycle.number, scripts: options.scripts)) }
        let diagnosisDone = resume ? try has(Layout.CycleFile.diagnosis) : false
        step(6, skipped: diagnosisDone)
        var diagnosis: Diagnosis?
        if !diagnosisDone { diagnosis = try AnalysisStages.diagnose(ctx).diagnosis }
        let handoffDone = resume ? try has(Layout.CycleFile.handoff) : false
        step(7, skipped: handoffDone)
        if !handoffDone { _ = try AnalysisStages.handoff(ctx) }
        step(8)
        let closed = try ctx.history.closeCycle(now: ctx.now())
        // The figures as committed (a resumed cycle did some stages in an earlier process).
        let data = try CycleData.read(ctx.history, cycle: closed.number, parts: [])
        let finalDiagnosis = diagnosis ?? data.diagnosis
        var outcomes: [String: String] = [:]
        for o in finalDiagnosis?.outcomes ?? [] { outcomes[o.recommendationID] = o.status.rawValue }
        let scores = closed.scores
        let passed = gate.map { $0.decision.exitCode == 0 } ?? scores.gatePassed ?? false
        let message = gate?.decision.message
            ?? String(format: "pass rate %.1f%% (threshold %.1f%%)", (scores.passRate ?? 0) * 100, (scores.minPassRate ?? 0) * 100)
        return LoopReport(
            cycle: closed.number, traces: scores.traces ?? run.cycleTraces, feedback: data.feedback.count,
            evalsAdded: evalsDone ? (scores.evalsAdded ?? 0) : added, suiteSize: scores.suiteSize ?? 0,
            passRate: gate.map { $0.run.summary.passRate / 100 } ?? scores.passRate ?? 0, gatePassed: passed, gateMessage: message,
            failureModes: finalDiagnosis?.failureModes.count ?? 0,
            topRecommendation: finalDiagnosis?.recommendations.first.map { "\($0.id): \($0.title)" }, outcomes: outcomes,
            tag: Layout.cycleTag(closed.number))
    }

    /// Checks what the user brings before the cycle starts, so a typo does not leave a cycle open with half its
    /// stages: the feedback files are readable, the task count fits the task set, the agent's model name resolves.
    static func preflight(_ ctx: LoopContext, options: LoopOptions) throws {
        for url in options.feedbackFiles where !FileManager.default.isReadableFile(atPath: url.path) {
            throw StageError("loop", "cannot read feedback file \(url.path); nothing started")
        }
        _ = try CycleStart.workingRules(ctx)
        guard options.run.agentCommand ?? ctx.config.agentCommand == nil else { return }
        let tasksPath = ctx.config.tasks ?? TaskSet.defaultPath
        _ = try TaskSet.load(ctx.workspace.url(tasksPath), name: tasksPath).selected(options.run.tasks, file: tasksPath)
        if let name = ctx.modelName(for: .agent, override: options.run.model) {
            do {
                _ = try ctx.model(for: .agent, override: name)
            } catch let error as ConfigError where options.run.model != nil {
                throw ConfigError(file: "--model", line: nil, field: nil, reason: error.reason)
            }
        }
    }

    /// Plays the coding agent: applies the concrete change of the highest-ranked recommendation that has one to the
    /// workspace's harness files. Returns the recommendation applied and the files changed (nil when none applies).
    public static func applyTopRecommendation(_ ctx: LoopContext, cycle: Int) throws -> (Recommendation, [String])? {
        let data = try CycleData.read(ctx.history, cycle: cycle, parts: [])
        guard let diagnosis = data.diagnosis else { return nil }
        for rec in diagnosis.recommendations {
            guard let patch = rec.patch, let url = harnessURL(ctx, repositoryPath: patch.file) else { continue }
            let before = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
            let after = patch.apply(to: before)
            guard after != before else { continue }
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(after.utf8).write(to: url)
            return (rec, [patch.file])
        }
        return nil
    }

    /// Where a history path under `harness/` lives in the working folder (the first harness folder of loop.yaml).
    static func harnessURL(_ ctx: LoopContext, repositoryPath: String) -> URL? {
        guard repositoryPath.hasPrefix(Layout.harness + "/") else { return nil }
        let rel = String(repositoryPath.dropFirst(Layout.harness.count + 1))
        guard !rel.split(separator: "/").contains("..") else { return nil }
        for path in ctx.workspace.harnessPaths {
            var isDir: ObjCBool = false
            let base = ctx.workspace.url(path)
            if FileManager.default.fileExists(atPath: base.path, isDirectory: &isDir), isDir.boolValue {
                return base.appendingPathComponent(rel)
            }
        }
        return nil
    }
}
