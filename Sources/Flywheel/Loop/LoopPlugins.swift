import FlywheelSupport
import Foundation
import FlywheelModels

/// An agent built into the program that embeds Flywheel, run in-process (the embedded example's agent is one).
/// loop.yaml names it with `agent: NAME`; any other agent is an external command (`agent_cmd`).
///
/// A run prepares the agent once, then runs its tasks through the session, several at once with `--concurrency`.
public protocol BuiltInAgent: Sendable {
    /// The name loop.yaml's `agent:` uses.
    var name: String { get }
    /// Prepares a run (resolves the model, reads the cycle's harness). Throwing stops the run before any task.
    func prepare(_ run: BuiltInAgentRun) throws -> any BuiltInAgentSession
}

/// A prepared built-in agent: runs one task at a time per call, possibly on several threads at once.
public protocol BuiltInAgentSession: Sendable {
    /// The model as recorded in cycle.json (`offline-example (simulation)`, `openai:gpt-4.1`, …).
    var modelLabel: String { get }
    var simulation: Bool { get }
    /// Runs `task` (position `index` in the run's task list) under trace id `traceID`, writing its artifacts to
    /// `outputDirectory`. Its result must not depend on which other tasks run at the same time.
    /// - Returns: the task's HALO JSONL, and `failure` when the task failed (recorded as a failed trace).
    /// - Throws: to stop the whole run (nothing is committed), e.g. when the agent's model endpoint fails.
    func runTask(_ task: AgentTask, index: Int, traceID: String, outputDirectory: URL) throws -> BuiltInTaskResult
}

/// What a built-in agent is given.
public struct BuiltInAgentRun: Sendable {
    public var context: LoopContext
    public var cycle: Int
    public var seed: UInt64
    /// The cycle's harness from the history, path relative to `harness/` → text.
    public var harness: [String: String]
    public var options: RunOptions
    /// A scratch folder the agent may use (removed after the run).
    public var scratch: URL
}

/// What one task of a built-in agent produced.
public struct BuiltInTaskResult: Sendable {
    /// The task's HALO JSONL (one trace).
    public var traces: Data
    /// Why the task failed, when it did (the run goes on; the task is recorded as a failed trace).
    public var failure: String?
    public var tokens: Int
    public var costUSD: Double?

    public init(traces: Data, failure: String? = nil, tokens: Int = 0, costUSD: Double? = nil) {
        self.traces = traces
        self.failure = failure
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

    /// The span attribute on every run's root span that names its task (stamped by `flywheel run` whoever wrote
    /// the trace).
    public static let taskAttribute = "flywheel.task.id"
    /// `true` on the root span of a task that failed (non-zero exit, signal, timeout, no or invalid trace); the gate
    /// counts that task's cases as errors.
    public static let failedAttribute = "flywheel.task.failed"
}
