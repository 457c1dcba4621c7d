import FlywheelSupport
import FlywheelTraces
import Foundation
import GitStore
import FlywheelModels

/// Options of `flywheel run`.
public struct RunOptions: Sendable {
    /// How many questions of the task set (default: its `default_count`).
    public var tasks: Int?
    /// Overrides the agent's model (`openai:NAME`, `offline-example`).
    public var model: String?
    /// The batch seed (default: derived from the cycle number, so cycles differ but reruns repeat).
    public var seed: UInt64?
    /// An external agent command run per task (instead of loop.yaml's `agent_cmd` or built-in `agent`).
    public var agentCommand: String?
    /// Record/replay the agent's model calls in this cassette.
    public var cassette: URL?
    public var cassetteMode: CassetteModel.Mode
    /// Leave secrets in (explicit opt-out).
    public var noRedact: Bool
    /// Tasks run at once (default: loop.yaml's `run.concurrency`, else 1).
    public var concurrency: Int?
    /// Seconds per external task before its process group is killed (default: loop.yaml's `run.task_timeout`, else 600).
    public var taskTimeout: Double?
    /// Run every selected task again, replacing the runs the cycle holds (default: run only the missing ones).
    public var rerun: Bool
    /// Run only this slice of the selected tasks.
    public var shard: Shard?
    /// What the external agent's stdout is (default: loop.yaml `agent_format`, else `halo`).
    public var agentFormat: AgentOutputFormat?

    public init(tasks: Int? = nil, model: String? = nil, seed: UInt64? = nil, agentCommand: String? = nil,
                cassette: URL? = nil, cassetteMode: CassetteModel.Mode = .replayOrRecord, noRedact: Bool = false,
                concurrency: Int? = nil, taskTimeout: Double? = nil, rerun: Bool = false, shard: Shard? = nil,
                agentFormat: AgentOutputFormat? = nil) {
        self.agentFormat = agentFormat
        self.tasks = tasks
        self.model = model
        self.seed = seed
        self.agentCommand = agentCommand
        self.cassette = cassette
        self.cassetteMode = cassetteMode
        self.noRedact = noRedact
        self.concurrency = concurrency
        self.taskTimeout = taskTimeout
        self.rerun = rerun
        self.shard = shard
    }
}

/// `--shard K/N`: the K-th (1-based) of N deterministic slices of the selected tasks (task `i` goes to slice
/// `i mod N`), so N machines can run one cycle between them.
public struct Shard: Sendable, Hashable, CustomStringConvertible {
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    /// Parses `K/N` (1 ≤ K ≤ N).
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]), n >= 1, (1...n).contains(k) else { return nil }
        self.init(index: k, count: n)
    }

    public var description: String { "\(index)/\(count)" }

    /// This shard's tasks, in order.
    public func slice<T>(_ items: [T]) -> [T] {
        items.enumerated().filter { $0.offset % count == index - 1 }.map(\.element)
    }
}

/// A task that failed in a run.
public struct FailedTask: Sendable, Codable, Hashable {
    public var taskID: String
    public var traceID: String
    public var reason: String
    enum CodingKeys: String, CodingKey { case taskID = "task_id", traceID = "trace_id", reason }
}

/// What a run committed.
public struct RunReport: Sendable, Codable {
    public var cycle: Int
    public var model: String
    public var simulation: Bool
    /// The traces this run added, in task order.
    public var traceIDs: [String]
    /// Tasks run by this call.
    public var ran: Int
    /// Tasks left out because the cycle already held their runs (run again with `--rerun`).
    public var skipped: [String]
    /// Tasks of this run recorded as failed traces.
    public var failed: [FailedTask]
    /// Runs the cycle holds after this one.
    public var cycleTraces: Int
    public var spans: Int
    public var toolErrors: Int
    public var tokens: Int
    public var costUSD: Double?
    public var meanLatencyMs: Double?
    public var redactions: [String: Int]
    public var commit: String?
    /// Output files refused or renamed (links, special files, names git refuses), one line each.
    public var warnings: [String] = []

    enum CodingKeys: String, CodingKey {
        case cycle, model, simulation, traceIDs = "trace_ids", ran, skipped, failed, cycleTraces = "cycle_traces", spans
        case toolErrors = "tool_errors", tokens, costUSD = "cost_usd", meanLatencyMs = "mean_latency_ms", redactions, commit, warnings
    }
}

/// `flywheel run`: runs the task set against the open cycle's harness and commits `traces.jsonl` and `outputs/`
/// (stage `traces`, one commit). Secrets are redacted from both before anything is written to git.
///
/// The orchestrator: which tasks run (the missing ones, a shard, or all with `--rerun`), how many at once, and the
/// one commit merging them into the cycle (`RunMerge`). Each task runs in `TaskRunner`; a task's failure is recorded
/// as a failed trace and the run goes on.
public enum RunStage {
    /// - Parameter progress: called when a task starts and when it ends (tasks done, running, failed).
    public static func run(_ ctx: LoopContext, options: RunOptions, progress: @escaping @Sendable (RunProgress) -> Void = { _ in }) throws -> RunReport {
        let history = ctx.history
        let cycle = try history.openCycle()
        // One snapshot for what the run needs of the history: the harness it runs and the tasks the cycle holds.
        let snap = try history.snapshot(at: history.ref)
        let tasksPath = ctx.config.tasks ?? TaskSet.defaultPath
        let taskSet = try TaskSet.load(ctx.workspace.url(tasksPath), name: tasksPath)
        let selected = try taskSet.selected(options.tasks, file: tasksPath)
        let slice = options.shard.map { $0.slice(selected) } ?? selected
        let held = Set(try RunMerge.existing(snap, cycle: cycle.number).tasks.values)
        let tasks = options.rerun ? slice : slice.filter { !held.contains($0.id) }
        let skipped = options.rerun ? [] : slice.filter { held.contains($0.id) }.map(\.id)
        let seed = options.seed ?? UInt64(1000 + cycle.number)
        let traceIDs = tasks.map { TraceIdentity.traceID(project: ctx.config.project, cycle: cycle.number, taskID: $0.id) }
        let concurrency = max(1, options.concurrency ?? ctx.config.run?.concurrency ?? 1)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("flywheel-run-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let epoch = ctx.environment["SOURCE_DATE_EPOCH"].flatMap(Double.init)
        let labels = tasks.map { String($0.question.prefix(60)) }
        let label: @Sendable (Int) -> String = { labels[$0] }

        var modelLabel = "external agent"
        var simulation = false
        var runs: [TaskRun] = []
        var agentName = "external"
        if let command = options.agentCommand ?? ctx.config.agentCommand {
            modelLabel = "external: \(try ctx.redactor().redact(command).0)"
            if !tasks.isEmpty {
                let runner = ExternalAgentRunner(
                    command: command, timeout: options.taskTimeout ?? ctx.config.run?.taskTimeout ?? 600,
                    workingDirectory: ctx.workspace.folder, environment: ctx.environment)
                let failure = FailureTrace(project: ctx.config.project, agentName: "ExternalAgent", epoch: epoch)
                // Event-stream agents (--agent-format): Flywheel writes the trace from their stdout (AgentStreams/).
                let stream = TaskRunner.StreamFormat(
                    format: options.agentFormat ?? ctx.config.agentFormat ?? .halo, project: ctx.config.project,
                    model: options.model.map { $0.hasPrefix("openai:") ? String($0.dropFirst(7)) : $0 })
                runs = try TaskRunner.perform(count: tasks.count, concurrency: concurrency, label: label, progress: progress) { i in
                    try TaskRunner.external(runner, stream: stream, task: tasks[i], index: i, traceID: traceIDs[i], scratch: scratch, failure: failure)
                }
            }
        } else {
            guard let name = ctx.config.agent else {
                throw StageError(.traces, "no agent to run: set agent_cmd in loop.yaml (or pass --agent-cmd) to the command that runs your agent"
                    + (ctx.plugins.agents.isEmpty ? "" : ", or agent: to one built in (\(ctx.plugins.agents.map(\.name).joined(separator: ", ")))"))
            }
            guard let agent = ctx.plugins.agent(named: name) else {
                throw ConfigError(file: Layout.loopConfig, line: nil, field: "agent",
                                  reason: "no built-in agent \"\(name)\"" + (ctx.plugins.agents.isEmpty ? "" : " (known: \(ctx.plugins.agents.map(\.name).joined(separator: ", ")))"))
            }
            agentName = name
            let session = try agent.prepare(BuiltInAgentRun(
                context: ctx, cycle: cycle.number, seed: seed, harness: try snap.texts(under: Layout.harness), options: options, scratch: scratch.appendingPathComponent("agent")))
            modelLabel = session.modelLabel
            simulation = session.simulation
            let failure = FailureTrace(project: ctx.config.project, agentName: name, epoch: epoch)
            runs = try TaskRunner.perform(count: tasks.count, concurrency: concurrency, label: label, progress: progress) { i in
                try TaskRunner.builtIn(session, task: tasks[i], index: i, traceID: traceIDs[i], scratch: scratch, failure: failure)
            }
        }

        // In task order: one trace per task, its root span naming the task; secrets redacted before anything reaches git.
        let redactor: Redactor? = options.noRedact ? nil : try ctx.redactor()
        var redactions: [String: Int] = [:]
        var warnings: [String] = []
        var records: [TaskRecord] = []
        var failed: [FailedTask] = []
        var taken: [String: String] = [:]  // trace id → task id
        var tokens = 0
        var costs: [Double] = []
        let failure = FailureTrace(project: ctx.config.project, agentName: agentName, epoch: epoch)
        for var run in runs {
            let expected = traceIDs[run.index]
            if let other = taken[run.traceID] {
                let message = "agent command wrote trace \(run.traceID), the trace of \(other); use $FLYWHEEL_TRACE_ID (\(expected))"
                run.failure = message
                run.traceID = expected
                run.spans = failure.spans(task: run.task, traceID: expected, message: message, started: Date(), ended: Date())
            }
            taken[run.traceID] = run.task.id
            for i in run.spans.indices where run.spans[i].parentSpanID.isEmpty {
                run.spans[i].attributes[TraceIdentity.taskAttribute] = .string(run.task.id)
            }
            let meta: JSONValue = ["task_id": .string(run.task.id), "question": .string(run.task.question), "trace_id": .string(run.traceID)]
            run.outputs[RunFiles.task] = Data((meta.canonicalText + "\n").utf8)
            warnings += run.warnings
            if let redactor {
                var report = RedactionReport()
                run.spans = run.spans.map { redactor.redact($0, report: &report) }
                // An adopted id holding a secret is filed under its redacted form, as the spans carry it.
                if run.traceID != expected { run.traceID = redactor.redactID(run.traceID, report: &report) }
                for (path, bytes) in run.outputs { run.outputs[path] = redactor.redact(bytes: bytes, report: &report) }
                if let reason = run.failure { run.failure = redactor.redact(reason, report: &report) }
                for (k, v) in report.counts { redactions[k, default: 0] += v }
            }
            let folder = SafeName.treeName(run.traceID)
            if folder != run.traceID {
                warnings.append("the agent on \(run.task.id) wrote trace id \"\(PathRules.printable(run.traceID))\", not a name git accepts; its outputs are filed under outputs/\(folder)")
            }
            if let reason = run.failure { failed.append(FailedTask(taskID: run.task.id, traceID: run.traceID, reason: reason)) }
            tokens += run.tokens
            if let c = run.costUSD { costs.append(c) }
            records.append(TaskRecord(taskID: run.task.id, traceID: run.traceID, spans: run.spans, outputs: run.outputs, failed: run.failure != nil))
        }
        let cost: Double? = costs.isEmpty ? nil : costs.reduce(0, +)

        let body = "Ran \(records.count) task(s) with \(modelLabel)"
            + (options.shard.map { " (shard \($0))" } ?? "") + (failed.isEmpty ? "" : "; \(failed.count) failed: " + failed.map(\.taskID).joined(separator: ", "))
            + "." + (redactions.isEmpty ? "" : " Redacted: " + redactions.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ") + ".")
        // Merged with the tip committed onto: runs of other tasks (another shard, another `flywheel run`) are kept,
        // a task the tip already holds is not added twice.
        var merged: RunMerge.Merged?
        let order = taskSet.tasks.map(\.id)
        let commit: ObjectID?
        if records.isEmpty {
            commit = nil
        } else {
            (_, commit) = try history.commitMerging(.traces, body: body, updateCycle: { c in
                guard let m = merged else { return }
                RunMerge.update(&c, m)
                if tokens > 0 && m.tokens == 0 { c.scores.tokens = (c.scores.tokens ?? 0) + tokens }
                if let cost { c.scores.costUSD = (c.scores.costUSD ?? 0) + cost }
                c.models["agent"] = modelLabel
                if let command = options.agentCommand {
                    c.experiment?.agent?.command = modelLabel.hasPrefix("external: ") ? String(modelLabel.dropFirst("external: ".count)) : command
                }
            }) { snap, open in
                let m = try RunMerge.merge(snap, cycle: open.number, incoming: records, replace: options.rerun, taskOrder: order)
                merged = m
                return (m.files, m.extra)
            }
        }
        let added = Set(merged?.added ?? [])
        let committed = records.filter { added.contains($0.taskID) }
        let final = try merged ?? RunMerge.merge(try history.snapshot(), cycle: cycle.number, incoming: [], replace: false, taskOrder: order)
        return RunReport(
            cycle: cycle.number, model: modelLabel, simulation: simulation, traceIDs: committed.map(\.traceID), ran: records.count,
            skipped: skipped + (merged?.skipped ?? []), failed: failed.filter { added.contains($0.taskID) }, cycleTraces: final.traceIDs.count,
            spans: final.spans, toolErrors: final.toolErrors, tokens: final.tokens > 0 ? final.tokens : tokens, costUSD: cost,
            meanLatencyMs: final.meanLatencyMs, redactions: redactions, commit: commit?.hex, warnings: warnings)
    }
}
