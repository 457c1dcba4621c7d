import Foundation
import GitStore

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
    /// What the external agent's stdout is (default: loop.yaml `agent_format`, else `halo`).
    public var agentFormat: AgentOutputFormat?
    /// Record/replay the agent's model calls in this cassette.
    public var cassette: URL?
    public var cassetteMode: CassetteModel.Mode
    /// Leave secrets in (explicit opt-out).
    public var noRedact: Bool

    public init(tasks: Int? = nil, model: String? = nil, seed: UInt64? = nil, agentCommand: String? = nil,
                cassette: URL? = nil, cassetteMode: CassetteModel.Mode = .replayOrRecord, noRedact: Bool = false,
                agentFormat: AgentOutputFormat? = nil) {
        self.agentFormat = agentFormat
        self.tasks = tasks
        self.model = model
        self.seed = seed
        self.agentCommand = agentCommand
        self.cassette = cassette
        self.cassetteMode = cassetteMode
        self.noRedact = noRedact
    }
}

/// What a run committed.
public struct RunReport: Sendable, Codable {
    public var cycle: Int
    public var model: String
    public var simulation: Bool
    public var traceIDs: [String]
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
        case cycle, model, simulation, traceIDs = "trace_ids", spans, toolErrors = "tool_errors", tokens
        case costUSD = "cost_usd", meanLatencyMs = "mean_latency_ms", redactions, commit, warnings
    }
}

/// `flywheel run`: runs the task set against the open cycle's harness and commits `traces.jsonl` and `outputs/`
/// (stage `traces`, one commit). Secrets are redacted from both before anything is written to git.
public enum RunStage {
    /// - Parameter progress: called before each task (`done`, `total`, question) and once at the end.
    public static func run(_ ctx: LoopContext, options: RunOptions, progress: @escaping (Int, Int, String) -> Void = { _, _, _ in }) throws -> RunReport {
        let history = ctx.history
        let cycle = try history.openCycle()
        let data = try CycleData.read(history, cycle: cycle.number, revision: history.ref)
        guard data.traces.isEmpty else {
            throw StageError("run", "cycle \(cycle.number) already has traces; start a new cycle to run again")
        }
        let tasksPath = ctx.config.tasks ?? TaskSet.defaultPath
        let tasks = try TaskSet.load(ctx.workspace.url(tasksPath), name: tasksPath).selected(options.tasks, file: tasksPath)
        let seed = options.seed ?? UInt64(1000 + cycle.number)
        let traceIDs = tasks.map { TraceIdentity.traceID(project: ctx.config.project, cycle: cycle.number, taskID: $0.id) }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("flywheel-run-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outputsRoot = scratch.appendingPathComponent("outputs")
        try FileManager.default.createDirectory(at: outputsRoot, withIntermediateDirectories: true)

        var traces = Data()
        var modelLabel = "external agent"
        var simulation = false
        var tokens = 0
        var cost: Double?
        var warnings: [String] = []
        let redactor: Redactor? = options.noRedact ? nil : try ctx.redactor()
        var runTraceIDs = traceIDs
        if let command = options.agentCommand ?? ctx.config.agentCommand {
            (traces, runTraceIDs) = try runExternal(
                command, format: options.agentFormat ?? ctx.config.agentFormat ?? .halo, streamModel: options.model, tasks: tasks,
                traceIDs: traceIDs, outputsRoot: outputsRoot, scratch: scratch, ctx: ctx, redactor: redactor,
                warnings: &warnings, progress: progress)
            // The command text may hold a key (`--api-key sk-…`): redacted before cycle.json, the commit and the site.
            modelLabel = "external: \(try ctx.redactor().redact(command).0)"
        } else {
            guard let name = ctx.config.agent else {
                throw StageError("run", "no agent to run: set agent_cmd in loop.yaml (or pass --agent-cmd) to the command that runs your agent"
                    + (ctx.plugins.agents.isEmpty ? "" : ", or agent: to one built in (\(ctx.plugins.agents.map(\.name).joined(separator: ", ")))"))
            }
            guard let agent = ctx.plugins.agent(named: name) else {
                throw ConfigError(file: Layout.loopConfig, line: nil, field: "agent",
                                  reason: "no built-in agent \"\(name)\"" + (ctx.plugins.agents.isEmpty ? "" : " (known: \(ctx.plugins.agents.map(\.name).joined(separator: ", ")))"))
            }
            let result = try agent.run(
                BuiltInAgentRun(context: ctx, cycle: cycle.number, tasks: tasks, traceIDs: traceIDs, seed: seed, harness: data.harness,
                                options: options, outputsRoot: outputsRoot, scratch: scratch), progress: progress)
            traces = result.traces
            modelLabel = result.modelLabel
            simulation = result.simulation
            tokens = result.tokens
            cost = result.costUSD
        }
        // Flywheel's own record of each run: the task it answered.
        // Written without following links the agent may have planted (OutputFolder.write), in the folder named by the
        // trace id's safe form (SafeName).
        for (task, traceID) in zip(tasks, runTraceIDs) {
            let dir = outputsRoot.appendingPathComponent(SafeName.treeName(traceID))
            let meta: JSONValue = ["task_id": .string(task.id), "question": .string(task.question), "trace_id": .string(traceID)]
            if let w = try OutputFolder.write(Data((meta.canonicalText + "\n").utf8), named: RunFiles.task, in: dir) { warnings.append(w) }
        }

        // Validate and normalise before anything reaches git.
        let imported: TraceImportResult
        do {
            imported = try TraceImporter.importData(traces, name: Layout.cycleFile(cycle.number, Layout.CycleFile.traces), format: .halo, redactor: redactor)
        } catch {
            throw StageError("run", "the run's traces are not valid HALO JSONL: \(error)")
        }
        var redactions = imported.redaction.counts
        var files: [String: Data] = [Layout.CycleFile.traces: imported.normalizedData]
        // No link is followed and no file outside the folder is read (OutputFolder); every byte is redacted.
        let collected = OutputFolder.collect(outputsRoot, label: Layout.CycleFile.outputs)
        warnings += collected.warnings
        for (rel, raw) in collected.files {
            var bytes = raw
            if let redactor {
                var report = RedactionReport()
                bytes = redactor.redact(bytes: raw, report: &report)
                for (k, v) in report.counts { redactions[k, default: 0] += v }
            }
            files["\(Layout.CycleFile.outputs)/\(rel)"] = bytes
        }

        let store = try TraceStore(data: imported.normalizedData)
        let spans = store.traces.reduce(0) { $0 + $1.spanCount }
        let toolErrors = store.traces.reduce(0) { $0 + $1.toolErrorSpanCount }
        if tokens == 0 { tokens = Int(store.traces.reduce(Int64(0)) { TraceLimits.adding($0, $1.inputTokens, $1.outputTokens) }) }
        let durations = store.traces.compactMap(\.durationNanos).map { Double($0) / 1e6 }
        let meanLatency = durations.isEmpty ? nil : durations.reduce(0, +) / Double(durations.count)
        let committedIDs = store.traces.map(\.traceID)
        let body = "Ran \(committedIDs.count) task(s) with \(modelLabel); \(spans) spans, \(toolErrors) tool errors."
            + (redactions.isEmpty ? "" : " Redacted: " + redactions.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ") + ".")
        // Checked again on the tip committed onto: two runs of one cycle at once must not overwrite each other.
        let (_, commit) = try history.commitMerging(.traces, body: body, updateCycle: { c in
            c.scores.traces = committedIDs.count
            c.scores.spans = spans
            c.scores.toolErrors = toolErrors
            c.scores.tokens = tokens
            c.scores.costUSD = cost
            c.scores.latencyMs = meanLatency
            c.models["agent"] = modelLabel
            if c.experiment == nil { c.experiment = Experiment() }
            c.experiment?.taskSet?.selected = tasks.map(\.id)
            if let command = options.agentCommand {
                c.experiment?.agent?.command = modelLabel.hasPrefix("external: ") ? String(modelLabel.dropFirst("external: ".count)) : command
            }
        }) { snap, open in
            guard try snap.cycleFile(open.number, Layout.CycleFile.traces) == nil else {
                throw StageError("run", "cycle \(open.number) got traces from another run while this one ran; nothing committed (start a new cycle to run again)")
            }
            return (files, TreeChanges())
        }
        return RunReport(
            cycle: cycle.number, model: modelLabel, simulation: simulation, traceIDs: committedIDs, spans: spans, toolErrors: toolErrors,
            tokens: tokens, costUSD: cost, meanLatencyMs: meanLatency, redactions: redactions, commit: commit?.hex, warnings: warnings)
    }

    /// Runs an external agent per task; its spans (HALO JSONL written to `$FLYWHEEL_TRACE_FILE`) are concatenated.
    /// Returns the traces and the trace id each task's run ended up with.
    static func runExternal(
        _ command: String, format: AgentOutputFormat = .halo, streamModel: String? = nil, tasks: [AgentTask], traceIDs: [String],
        outputsRoot: URL, scratch: URL, ctx: LoopContext,
        redactor: Redactor? = nil, warnings: inout [String], progress: (Int, Int, String) -> Void
    ) throws -> (Data, [String]) {
        let runner = ExternalAgentRunner(command: command, workingDirectory: ctx.workspace.folder, environment: ctx.environment)
        var traces = Data()
        var finalIDs: [String] = []
        var taken: [String: String] = [:]  // trace id → task id
        for (i, task) in tasks.enumerated() {
            progress(i, tasks.count, task.question)
            let expected = traceIDs[i]
            var traceID = expected
            var dir = outputsRoot.appendingPathComponent(traceID)
            let traceFile = scratch.appendingPathComponent("trace-\(i + 1).jsonl")
            var result: ExternalRunResult
            // Event-stream agents (--agent-format): Flywheel writes the trace from their stdout (AgentStreams/).
            let stream = AgentStreamFeed(
                format, traceID: traceID, task: task.question, project: ctx.config.project,
                model: streamModel.map { $0.hasPrefix("openai:") ? String($0.dropFirst(7)) : $0 })
            do {
                result = try runner.run(
                    task: task.question, taskID: task.id, traceID: traceID, outputDirectory: dir, traceFile: traceFile,
                    onStdoutLine: stream.map { s -> @Sendable (String, Int64) -> Void in { line, t in s.feed(line, t) } })
                if let converted = stream?.finish(exitStatus: result.exitStatus) {
                    result.traceData = SpanWriter.data(converted.spans)
                    result.finalAnswer = converted.finalAnswer
                }
            } catch {
                throw StageError("run", "external agent on \(task.id): \(error)")
            }
            guard result.exitStatus == 0, !result.timedOut else {
                throw StageError("run", "external agent on \(task.id) \(result.timedOut ? "timed out" : "exited with \(result.exitStatus)"): \(result.stderr.suffix(500))")
            }
            guard var data = result.traceData, !data.isEmpty else {
                throw StageError("run", "external agent on \(task.id) wrote no trace to $FLYWHEEL_TRACE_FILE")
            }
            if data.last != 0x0A { data.append(0x0A) }
            // One run is one trace. An agent whose tracer makes its own trace id is taken at its word (its outputs are
            // filed under that id); several traces, or an id another task used, are refused.
            if let ids = try? TraceStore(data: data, name: "$FLYWHEEL_TRACE_FILE of \(task.id)").traces.map(\.traceID) {
                guard ids.count == 1, let agentsID = ids.first else {
                    throw StageError("run", "external agent on \(task.id) wrote \(ids.count) traces (\(ids.prefix(3).joined(separator: ", "))); one run is one trace: use $FLYWHEEL_TRACE_ID (\(expected))")
                }
                // An id holding a secret is filed under its redacted form, as the import stores it.
                var scratchReport = RedactionReport()
                let id = redactor?.redactID(agentsID, report: &scratchReport) ?? agentsID
                if let other = taken[id] {
                    throw StageError("run", "external agent on \(task.id) wrote trace \(id), the trace of \(other); use $FLYWHEEL_TRACE_ID (\(expected))")
                }
                if id != expected {
                    // The id names the outputs folder: a name git refuses is mapped to a safe one (SafeName).
                    let folder = SafeName.treeName(id)
                    if folder != id {
                        warnings.append("external agent on \(task.id) wrote trace id \"\(PathRules.printable(id))\", not a name git accepts (\(PathRules.problem(component: id) ?? "invalid")); its outputs are filed under outputs/\(folder)")
                    }
                    let adopted = outputsRoot.appendingPathComponent(folder)
                    guard !FileManager.default.fileExists(atPath: adopted.path) else {
                        throw StageError("run", "external agent on \(task.id) wrote trace id \"\(PathRules.printable(id))\", whose outputs folder another task already has; use $FLYWHEEL_TRACE_ID (\(expected))")
                    }
                    if FileManager.default.fileExists(atPath: dir.path) { try FileManager.default.moveItem(at: dir, to: adopted) }
                    dir = adopted
                    traceID = id
                }
                taken[id] = task.id
            }
            traces.append(data)
            // Written without following links the agent may have planted (OutputFolder.write).
            if let answer = result.finalAnswer, !answer.isEmpty {
                if let w = try OutputFolder.write(Data((answer + "\n").utf8), named: RunFiles.finalAnswer, in: dir) { warnings.append(w) }
            }
            finalIDs.append(traceID)
        }
        progress(tasks.count, tasks.count, tasks.last?.question ?? "")
        return (traces, finalIDs)
    }
}
