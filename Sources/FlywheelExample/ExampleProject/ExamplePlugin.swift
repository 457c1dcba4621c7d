import Flywheel
import Foundation
import FlywheelModels

/// The embedded example as a plugin of the loop: its analyst agent (`agent: diligence-analyst` in loop.yaml, with
/// `agent_settings.dataroom`) and its offline model (`offline-example`, a labelled simulation that only plays the
/// analyst). The command line adds these to every loop; the core knows nothing of them.
public enum ExamplePlugin {
    /// The name of the example's agent in loop.yaml.
    public static let agentName = "diligence-analyst"
    /// The name of the example's offline model.
    public static let modelName = "offline-example"

    /// The plugins to pass to `LoopContext`.
    public static var plugins: LoopPlugins {
        LoopPlugins(
            agents: [AnalystBuiltInAgent()], models: [modelName: { seed in OfflineExampleModel(seed: seed) }],
            agentOnlyModels: [modelName])
    }
}

/// The analyst agent, run in-process over the cycle's harness (from the history) and the data room.
struct AnalystBuiltInAgent: BuiltInAgent {
    var name: String { ExamplePlugin.agentName }

    func prepare(_ run: BuiltInAgentRun) throws -> any BuiltInAgentSession {
        let ctx = run.context
        let options = run.options
        // The harness is the cycle's (from git), not whatever the working folder holds now.
        let harnessDir = run.scratch.appendingPathComponent("harness")
        for (path, text) in run.harness {
            let url = harnessDir.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
        let harness: Harness
        do { harness = try Harness.load(from: harnessDir) } catch {
            throw StageError(.traces, "the harness of cycle \(run.cycle) (harness/ in the history): \(error)")
        }
        let modelName = ctx.modelName(for: .agent, override: options.model) ?? harness.modelName
        let resolved: (any ChatModel)?
        do {
            resolved = try ctx.model(for: .agent, override: modelName, cassette: options.cassette, cassetteMode: options.cassetteMode, seed: run.seed)
        } catch let error as ConfigError {
            // Name where the model name came from: --model, loop.yaml's models.agent, or the harness's model.yaml.
            if options.model != nil { throw ConfigError(file: "--model", line: nil, field: nil, reason: error.reason) }
            if ctx.modelName(for: .agent) == nil {
                throw ConfigError(file: "harness/model.yaml", line: nil, field: "model", reason: error.reason)
            }
            throw error
        }
        guard let model = resolved else {
            throw StageError(.traces, "no agent model: set models.agent in loop.yaml or pass --model")
        }
        // The requests name the model that was chosen (--model or models.agent), not the harness's default.
        var agentHarness = harness
        agentHarness.modelName = modelName
        // A cassette replay serves the recorded responses: the spans carry the recorded model's label, so a replay is
        // byte-identical to the recorded run; cycle.json and the commit still say it was a replay (`label`).
        var spanModel: any ChatModel = model
        if options.cassette != nil, let base = try? ctx.model(for: .agent, override: modelName, seed: run.seed) {
            spanModel = RelabelledModel(base: model, label: base.label)
        }
        let dataroomPath = ctx.config.agentSettings?["dataroom"] ?? "dataroom"
        let dataroom = ctx.workspace.url(dataroomPath)
        guard FileManager.default.fileExists(atPath: dataroom.path) else {
            throw ConfigError(file: "loop.yaml", line: nil, field: "agent_settings.dataroom", reason: "no such folder: \(dataroomPath)")
        }
        var agent = AnalystAgent(harness: agentHarness, dataRoom: dataroom, model: spanModel, seed: run.seed)
        if agent.seed == nil { agent.seed = run.seed }
        return AnalystSession(
            agent: agent, modelID: model.id, modelLabel: model.label, simulation: model.isSimulation, seed: run.seed,
            projectID: ctx.config.project, epoch: ctx.environment["SOURCE_DATE_EPOCH"].flatMap(Double.init))
    }
}

/// A prepared analyst: one task per call, each with its own tracer and clock, so tasks may run at once.
struct AnalystSession: BuiltInAgentSession, @unchecked Sendable {  // AnalystAgent holds only values and a Sendable model
    let agent: AnalystAgent
    let modelID: String
    let modelLabel: String
    let simulation: Bool
    let seed: UInt64
    let projectID: String
    /// SOURCE_DATE_EPOCH: each task's clock starts at epoch + one hour per task position, so span times are
    /// reproducible whatever ran alongside (a replayed cassette then gives byte-identical traces).
    let epoch: Double?

    func runTask(_ task: AgentTask, index: Int, traceID: String, outputDirectory: URL) throws -> BuiltInTaskResult {
        let clock: any AgentClock = epoch.map { SteppingAgentClock(start: Date(timeIntervalSince1970: $0 + Double(index) * 3600)) }
            ?? SystemAgentClock()
        try FileManager.default.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
        let tracer = HALOTracer(projectID: projectID, serviceName: "flywheel-agent", seed: seed)
        let r = agent.run(question: task.question, traceID: traceID, outputDirectory: outputDirectory, tracer: tracer, clock: clock)
        if r.finalAnswer == nil && r.events.isEmpty {
            throw StageError(.traces, "the agent produced nothing for \"\(task.question)\"")
        }
        // A run the model failed (after its retries), or a cassette miss, measures the endpoint, not the harness:
        // nothing is committed, and the message says which task and why.
        if r.outcome.stopReason == .modelError {
            throw StageError(.traces, "the agent's model \(modelID) failed on \"\(task.question)\" (nothing committed): \(r.outcome.error ?? "unknown error")")
        }
        if let answer = r.finalAnswer {
            try? Data((answer + "\n").utf8).write(to: outputDirectory.appendingPathComponent("final_answer.md"))
        }
        // The model's own cost estimates (nil when no call priced itself, e.g. the offline model).
        let costs = r.events.compactMap { event -> Double? in
            if case .llmCall(_, let response?, _, _, _) = event { return response.costUSD }
            return nil
        }
        return BuiltInTaskResult(
            traces: tracer.jsonl, tokens: r.usage.totalTokens, costUSD: costs.isEmpty ? nil : costs.reduce(0, +))
    }
}

/// A model that answers as `base` but shows another label (the recorded model's, during a cassette replay).
struct RelabelledModel: ChatModel {
    let base: any ChatModel
    let label: String
    var id: String { base.id }
    var isSimulation: Bool { base.isSimulation }
    func complete(_ request: ChatRequest) throws -> ChatResponse { try base.complete(request) }
}
