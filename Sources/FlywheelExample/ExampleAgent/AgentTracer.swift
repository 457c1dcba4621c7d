import Flywheel
import Foundation
import FlywheelModels

/// What the agent loop knows about a run when it starts.
public struct AgentRunInfo: Sendable, Hashable {
    /// The agent's name (`DiligenceAnalyst`); spans are named `agent.<name>`.
    public var agentName: String
    /// The trace id of this run (32 lowercase hex).
    public var traceID: String
    /// The question (task) put to the agent.
    public var question: String
    /// The model's id (`offline-example`, `openai:gpt-4.1-mini`, …).
    public var modelID: String
    /// The model's label (a simulation says so).
    public var modelLabel: String
    /// True for the offline example model.
    public var isSimulation: Bool
    /// Names of the tools offered.
    public var tools: [String]
    /// The seed of the run, when there is one.
    public var seed: UInt64?

    public init(
        agentName: String, traceID: String, question: String, modelID: String, modelLabel: String, isSimulation: Bool,
        tools: [String], seed: UInt64?
    ) {
        self.agentName = agentName
        self.traceID = traceID
        self.question = question
        self.modelID = modelID
        self.modelLabel = modelLabel
        self.isSimulation = isSimulation
        self.tools = tools
        self.seed = seed
    }
}

/// How a run ended.
public struct AgentOutcome: Sendable, Hashable {
    /// Why the run stopped.
    public enum StopReason: String, Sendable, Hashable {
        /// The model gave a final answer.
        case finalAnswer = "final_answer"
        /// `max_turns` model calls were made without a final answer.
        case maxTurns = "max_turns"
        /// The model call failed (transport, HTTP, …).
        case modelError = "model_error"
    }
    /// Why the run stopped.
    public var stopReason: StopReason
    /// `success` (final answer, all artifacts valid), `partial` (final answer but artifact problems),
    /// `failed` (no final answer).
    public var outcome: String
    /// The final answer, if any.
    public var finalAnswer: String?
    /// Model calls made.
    public var turns: Int
    /// The error that ended the run (model errors only).
    public var error: String?

    public init(stopReason: StopReason, outcome: String, finalAnswer: String?, turns: Int, error: String?) {
        self.stopReason = stopReason
        self.outcome = outcome
        self.finalAnswer = finalAnswer
        self.turns = turns
        self.error = error
    }
}

/// Receives the steps of an agent run as they happen. Implementations: `InMemoryAgentTracer` (tests) and the
/// HALO adapter that turns these events into spans. Calls arrive on the run's thread, in order.
public protocol AgentTracer: AnyObject {
    /// The run started.
    func agentStarted(_ info: AgentRunInfo, at time: Date)
    /// One model call finished (`response` nil and `error` set when it failed).
    func llmCall(request: ChatRequest, response: ChatResponse?, error: String?, start: Date, end: Date)
    /// One tool call finished; `error` set when the tool failed (the model then received `output`,
    /// the HALO error text).
    func toolCall(_ call: ToolCall, output: String, error: ToolError?, start: Date, end: Date)
    /// The run ended.
    func agentFinished(_ outcome: AgentOutcome, at time: Date)
}

/// One recorded event of a run.
public enum AgentTraceEvent: Sendable, Hashable {
    case agentStarted(AgentRunInfo, at: Date)
    case llmCall(request: ChatRequest, response: ChatResponse?, error: String?, start: Date, end: Date)
    case toolCall(ToolCall, output: String, error: ToolError?, start: Date, end: Date)
    case agentFinished(AgentOutcome, at: Date)
}

/// Keeps every event in memory, in order (tests, and the run result).
public final class InMemoryAgentTracer: AgentTracer {
    /// The events so far.
    public private(set) var events: [AgentTraceEvent] = []

    public init() {}

    public func agentStarted(_ info: AgentRunInfo, at time: Date) { events.append(.agentStarted(info, at: time)) }
    public func llmCall(request: ChatRequest, response: ChatResponse?, error: String?, start: Date, end: Date) {
        events.append(.llmCall(request: request, response: response, error: error, start: start, end: end))
    }
    public func toolCall(_ call: ToolCall, output: String, error: ToolError?, start: Date, end: Date) {
        events.append(.toolCall(call, output: output, error: error, start: start, end: end))
    }
    public func agentFinished(_ outcome: AgentOutcome, at time: Date) { events.append(.agentFinished(outcome, at: time)) }
}

/// Sends each event to several tracers.
public final class FanOutAgentTracer: AgentTracer {
    /// The receivers, in order.
    public let tracers: [any AgentTracer]
    public init(_ tracers: [any AgentTracer]) { self.tracers = tracers }
    public func agentStarted(_ info: AgentRunInfo, at time: Date) { tracers.forEach { $0.agentStarted(info, at: time) } }
    public func llmCall(request: ChatRequest, response: ChatResponse?, error: String?, start: Date, end: Date) {
        tracers.forEach { $0.llmCall(request: request, response: response, error: error, start: start, end: end) }
    }
    public func toolCall(_ call: ToolCall, output: String, error: ToolError?, start: Date, end: Date) {
        tracers.forEach { $0.toolCall(call, output: output, error: error, start: start, end: end) }
    }
    public func agentFinished(_ outcome: AgentOutcome, at time: Date) { tracers.forEach { $0.agentFinished(outcome, at: time) } }
}

/// A clock for the agent loop. `SystemAgentClock` reads the wall clock; `SteppingAgentClock` starts at a fixed
/// instant and advances a fixed step per reading, so traces are deterministic.
public protocol AgentClock: AnyObject {
    /// The current time.
    func now() -> Date
}

/// The wall clock.
public final class SystemAgentClock: AgentClock {
    public init() {}
    public func now() -> Date { Date() }
}

/// A deterministic clock: `start`, then `start + step`, `start + 2·step`, …
public final class SteppingAgentClock: AgentClock {
    private var current: Date
    private let step: TimeInterval
    /// - Parameters:
    ///   - start: the first reading.
    ///   - step: seconds added after each reading (default 0.25 s).
    public init(start: Date, step: TimeInterval = 0.25) {
        current = start
        self.step = step
    }
    public func now() -> Date {
        defer { current = current.addingTimeInterval(step) }
        return current
    }
}
