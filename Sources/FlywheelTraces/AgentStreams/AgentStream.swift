import FlywheelSupport
import Foundation

/// What an external agent's standard output is (`flywheel run --agent-format`, loop.yaml `agent_format`).
public enum AgentOutputFormat: String, Sendable, Hashable, Codable, CaseIterable {
    /// The agent writes HALO JSONL to `$FLYWHEEL_TRACE_FILE` itself; stdout is its final answer (the default).
    case halo
    /// `codex exec --json …`: Codex CLI's JSONL event stream; Flywheel writes the trace.
    case codexJSON = "codex-json"
    /// `claude -p --output-format stream-json --verbose …`: Claude Code's stream; Flywheel writes the trace.
    case claudeStreamJSON = "claude-stream-json"

    /// A converter for a streaming format (nil for `halo`).
    public func converter(_ context: AgentStreamContext) -> (any AgentStreamConverter)? {
        switch self {
        case .halo: return nil
        case .codexJSON: return CodexEventConverter(context)
        case .claudeStreamJSON: return ClaudeStreamConverter(context)
        }
    }
}

/// What a converter needs to know about the run.
public struct AgentStreamContext: Sendable {
    /// The trace id every span gets (`$FLYWHEEL_TRACE_ID`).
    public var traceID: String
    /// The task, the AGENT root's `input.value`.
    public var task: String
    /// Common span attributes (project, agent name, service).
    public var builder: SpanBuilder
    /// The model, when the stream does not name it (Codex's does not).
    public var model: String?

    public init(traceID: String, task: String, builder: SpanBuilder, model: String? = nil) {
        self.traceID = traceID
        self.task = task
        self.builder = builder
        self.model = model
    }
}

/// The trace a stream became.
public struct AgentStreamResult: Sendable {
    /// Children first, the AGENT root last (HALO's writing order).
    public var spans: [Span]
    /// The agent's final message (the answer artifact), when it gave one.
    public var finalAnswer: String?
    /// Lines that were not events of the format (`line N: reason`); they are skipped, not fatal.
    public var problems: [String]
}

/// Turns an agent's stdout event stream into HALO spans, one line at a time, each stamped with its arrival time
/// (nanoseconds since the epoch).
public protocol AgentStreamConverter: Sendable {
    /// Feeds one line of standard output (without its newline).
    mutating func feed(_ line: String, at nanos: Int64)
    /// Ends the stream (`exitStatus` nil when unknown) and returns the trace.
    mutating func finish(at nanos: Int64, exitStatus: Int32?) -> AgentStreamResult
}

extension AgentStreamConverter {
    /// Feeds a whole recorded stream (lines with arrival times) and finishes it.
    public mutating func convert(_ lines: [(String, Int64)], end: Int64, exitStatus: Int32? = 0) -> AgentStreamResult {
        for (l, t) in lines { feed(l, at: t) }
        return finish(at: end, exitStatus: exitStatus)
    }
}

/// Deterministic span ids for one trace: unique, reproducible from the trace id and a counter.
struct StreamSpanIDs: Sendable {
    let traceID: String
    var counter = 0
    init(_ traceID: String) { self.traceID = traceID }
    mutating func next() -> String {
        counter += 1
        let h = SHA256.hex("flywheel.stream:\(traceID):\(counter)")
        let id = String(h.prefix(16))
        return id == "0000000000000000" ? "0000000000000001" : id
    }
}

/// Parses one stream line as a JSON object; nil (with a reason) when it is not one.
func streamObject(_ line: String) -> Result<[String: JSONValue], StreamLineError> {
    let trimmed = line.trimmingCharacters(in: .whitespaces)
    if trimmed.isEmpty { return .failure(StreamLineError(reason: "")) }
    guard let v = try? JSONValue.parse(trimmed) else {
        return .failure(StreamLineError(reason: "not JSON: \(quoted(String(trimmed.prefix(80))))"))
    }
    guard case .object(let o) = v else { return .failure(StreamLineError(reason: "not a JSON object")) }
    return .success(o.dictionary)
}

struct StreamLineError: Error {
    var reason: String
}

extension JSONValue {
    /// A count from a JSON number (nil when absent, negative, fractional or over ``SemanticConventions/maxTokens``).
    var tokenCount: Int64? {
        guard let n = intValue, n >= 0, n <= SemanticConventions.maxTokens else { return nil }
        return n
    }
}

/// A converter shared between the thread reading an agent's stdout and the run stage (the hook into
/// ``ExternalAgentRunner``).
public final class AgentStreamFeed: @unchecked Sendable {
    private let lock = NSLock()
    private var converter: any AgentStreamConverter

    /// nil for `halo` (the agent writes its own trace).
    public init?(_ format: AgentOutputFormat, traceID: String, task: String, project: String, model: String? = nil) {
        let agent = format == .codexJSON ? "codex" : "claude-code"
        let builder = SpanBuilder(projectID: project, agentName: agent, serviceName: agent)
        guard let c = format.converter(AgentStreamContext(traceID: traceID, task: task, builder: builder, model: model)) else { return nil }
        converter = c
    }

    /// Feeds one stdout line with its arrival time.
    public func feed(_ line: String, _ nanos: Int64) {
        lock.withLock { converter.feed(line, at: nanos) }
    }

    /// Ends the stream now.
    public func finish(exitStatus: Int32?) -> AgentStreamResult {
        lock.withLock { converter.finish(at: TraceTime.nowNanos(), exitStatus: exitStatus) }
    }
}

/// The per-line bookkeeping every stream converter shares: line numbers, parse problems, the first arrival.
protocol StreamLineBookkeeping {
    var lineNumber: Int { get set }
    var problems: [String] { get set }
    var firstArrival: Int64? { get set }
}

extension StreamLineBookkeeping {
    /// Numbers the line and parses it as one JSON object; a line that is not one is noted (blank lines silently)
    /// and gives nil. Records the first arrival time.
    mutating func acceptLine(_ line: String, at nanos: Int64) -> [String: JSONValue]? {
        lineNumber += 1
        switch streamObject(line) {
        case .success(let object):
            if firstArrival == nil { firstArrival = nanos }
            return object
        case .failure(let e):
            if !e.reason.isEmpty { problems.append("line \(lineNumber): \(e.reason)") }
            return nil
        }
    }
}
