import Foundation

/// An agent built into the program that embeds Flywheel, run in-process (the embedded example's agent is one).
/// loop.yaml names it with `agent: NAME`; any other agent is an external command (`agent_cmd`).
public protocol BuiltInAgent: Sendable {
    /// The name loop.yaml's `agent:` uses.
    var name: String { get }
    /// Runs `run.tasks` in order: task `i` under trace id `run.traceIDs[i]`, its artifacts written to
    /// `run.outputsRoot/<trace id>/`. Returns the HALO JSONL of every run.
    func run(_ run: BuiltInAgentRun, progress: @escaping (_ done: Int, _ total: Int, _ task: String) -> Void) throws -> BuiltInAgentResult
}

/// What a built-in agent is given.
public struct BuiltInAgentRun: Sendable {
    public var context: LoopContext
    public var cycle: Int
    public var tasks: [AgentTask]
    /// One trace id per task, in order.
    public var traceIDs: [String]
    public var seed: UInt64
    /// The cycle's harness from the history, path relative to `harness/` → text.
    public var harness: [String: String]
    public var options: RunOptions
    public var outputsRoot: URL
    /// A scratch folder the agent may use (removed after the run).
    public var scratch: URL
}

/// What a built-in agent ran.
public struct BuiltInAgentResult: Sendable {
    public var traces: Data
    /// The model as recorded in cycle.json (`offline-example (simulation)`, `openai:gpt-4.1`, …).
    public var modelLabel: String
    public var simulation: Bool
    public var tokens: Int
    public var costUSD: Double?

    public init(traces: Data, modelLabel: String, simulation: Bool = false, tokens: Int = 0, costUSD: Double? = nil) {
        self.traces = traces
        self.modelLabel = modelLabel
        self.simulation = simulation
        self.tokens = tokens
        self.costUSD = costUSD
    }
}

/// What the program adds to the loop: built-in agents and models under their own names. The command line wires in
/// the embedded example's; a library user wires in its own.
public struct LoopPlugins: Sendable {
    public var agents: [any BuiltInAgent]
    /// Model name → a factory taking the run's seed.
    public var models: [String: @Sendable (UInt64) -> any ChatModel]
    /// Models that only play an agent (refused for the critic, judge, eval generation and diagnosis).
    public var agentOnlyModels: Set<String>

    public init(agents: [any BuiltInAgent] = [], models: [String: @Sendable (UInt64) -> any ChatModel] = [:], agentOnlyModels: Set<String> = []) {
        self.agents = agents
        self.models = models
        self.agentOnlyModels = agentOnlyModels
    }

    /// The built-in agent called `name`.
    public func agent(named name: String) -> (any BuiltInAgent)? { agents.first { $0.name == name } }
}

/// Trace ids Flywheel gives runs: unique per project, cycle and task, and the same when a cycle is replayed.
public enum TraceIdentity {
    /// 32 hex digits of SHA-256 over the project, the cycle number and the task id.
    public static func traceID(project: String, cycle: Int, taskID: String) -> String {
        String(SHA256.hex("flywheel-trace\u{0}\(project)\u{0}\(cycle)\u{0}\(taskID)").prefix(32))
    }

    /// The span attribute on every run's root span that names its task.
    public static let taskAttribute = "flywheel.task.id"
}
