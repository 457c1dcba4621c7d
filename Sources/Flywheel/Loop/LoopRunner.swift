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
    public static let stageNames = ["start", "run", "feedback", "evals", "gate", "diagnose", "handoff", "close"]

    public static func runCycle(_ ctx: LoopContext, options: LoopOptions, taskProgress: @escaping (Int, Int, String) -> Void = { _, _, _ in }) throws -> LoopReport {
        let total = stageNames.count
        func step(_ i: Int) { ctx.progress("[\(i)/\(total)] \(stageNames[i - 1])") }
        try preflight(ctx, options: options)
        step(1)
        let cycle = try CycleStart.start(ctx, harnessPaths: options.harnessPaths, summary: options.summary, agentCommand: options.run.agentCommand)
        step(2)
        let run = try RunStage.run(ctx, options: options.run, progress: taskProgress)
        for w in run.warnings { ctx.progress("warning: \(w)") }
        step(3)
        let feedback = try FeedbackStage.critique(ctx, humanFiles: options.feedbackFiles)
        step(4)
        let generated = try EvalStages.generate(ctx)
        step(5)
        let gate = try EvalStages.gate(ctx, options: .init(cycle: cycle.number, scripts: options.scripts))
        step(6)
        let (diagnosis, _) = try AnalysisStages.diagnose(ctx)
        step(7)
        _ = try AnalysisStages.handoff(ctx)
        step(8)
        let closed = try ctx.history.closeCycle(now: ctx.now())
        var outcomes: [String: String] = [:]
        for o in diagnosis.outcomes { outcomes[o.recommendationID] = o.status.rawValue }
        return LoopReport(
            cycle: closed.number, traces: run.traceIDs.count, feedback: feedback.total, evalsAdded: generated.added.count,
            suiteSize: generated.suiteSize, passRate: gate.run.summary.passRate / 100, gatePassed: gate.decision.exitCode == 0,
            gateMessage: gate.decision.message, failureModes: diagnosis.failureModes.count,
            topRecommendation: diagnosis.recommendations.first.map { "\($0.id): \($0.title)" }, outcomes: outcomes,
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
        let data = try CycleData.read(ctx.history, cycle: cycle)
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
