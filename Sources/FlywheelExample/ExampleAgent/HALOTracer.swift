import Flywheel
import FlywheelSupport
import FlywheelTraces
import Foundation
import FlywheelModels

/// Turns the agent loop's events into HALO spans (specs/halo-trace-format.md): an AGENT root `agent.<Name>`,
/// one LLM span `generation.<model>` per model call, one TOOL span `function.<tool>` per tool call, children
/// first and the root last (a span is written when it ends). Failed tool calls carry `STATUS_CODE_ERROR` with
/// HALO's "Error running tool (non-fatal)" message; a run that ends without a final answer marks its root as
/// an error.
///
/// Span ids are 16 lowercase hex digits drawn from a generator seeded with `seed` and the trace id, so a run
/// with a fixed seed and a `SteppingAgentClock` gives byte-identical JSONL.
public final class HALOTracer: AgentTracer {
    /// `inference.project_id` of every span.
    public let projectID: String
    /// `resource.attributes["service.name"]`.
    public let serviceName: String
    /// `scope.version`.
    public let scopeVersion: String
    /// Spans of the current run so far, in write order (the root is appended when the run finishes).
    public private(set) var spans: [Span] = []

    private let seed: UInt64?
    private var ids: SeededGenerator?
    private var info: AgentRunInfo?
    private var rootID = ""
    private var rootStart = Date()
    private var builder: SpanBuilder?

    /// - Parameters:
    ///   - projectID: `inference.project_id` (e.g. `lumora-diligence`).
    ///   - serviceName: `service.name` (e.g. `diligence-analyst`).
    ///   - scopeVersion: the `scope.version` (Flywheel's version).
    ///   - seed: seeds span ids (with the trace id); nil draws them from the system generator.
    public init(projectID: String, serviceName: String, scopeVersion: String = "0.1.0", seed: UInt64? = nil) {
        self.projectID = projectID
        self.serviceName = serviceName
        self.scopeVersion = scopeVersion
        self.seed = seed
    }

    /// The spans as HALO JSONL bytes (each line ends in `\n`).
    public var jsonl: Data { SpanWriter.data(spans) }

    /// Forgets the spans written so far (to reuse the tracer for another run).
    public func reset() { spans = [] }

    // MARK: - AgentTracer

    public func agentStarted(_ info: AgentRunInfo, at time: Date) {
        self.info = info
        if let seed { ids = SeededGenerator(seed: seed, salt: "halo-spans|" + info.traceID) }
        rootID = newSpanID()
        rootStart = time
        builder = SpanBuilder(
            projectID: projectID, agentName: info.agentName, agentID: Self.slug(info.agentName), serviceName: serviceName,
            scopeVersion: scopeVersion)
    }

    public func llmCall(request: ChatRequest, response: ChatResponse?, error: String?, start: Date, end: Date) {
        guard let info, let builder else { return }
        let model = info.isSimulation ? info.modelLabel : (response?.model ?? request.model)
        var params: [String: JSONValue] = [:]
        if let t = request.temperature { params["temperature"] = .double(t) }
        if let s = request.seed { params["seed"] = .int(Int64(s)) }
        if let m = request.maxTokens { params["max_tokens"] = .int(Int64(m)) }
        if !request.tools.isEmpty { params["tools"] = .array(request.tools.map { .string($0.name) }) }
        var extra: [String: JSONValue] = [:]
        var status = SpanStatus.ok
        if let response {
            extra["flywheel.finish_reason"] = .string(response.finishReason)
            if let cost = response.costUSD { extra["flywheel.cost_usd"] = .double(cost) }
        } else {
            status = .error(error ?? "model call failed")
            extra["error.type"] = "ModelError"
        }
        spans.append(
            builder.llmSpan(
                traceID: info.traceID, spanID: newSpanID(), parentSpanID: rootID, start: TraceTime.format(start),
                end: TraceTime.format(end), status: status,
                provider: info.isSimulation ? "flywheel" : Self.provider(of: info.modelID), model: model,
                inputMessages: request.messages, outputMessages: response.map { [$0.message] } ?? [],
                promptTokens: response?.usage.promptTokens ?? 0, completionTokens: response?.usage.completionTokens ?? 0,
                invocationParameters: .object(params), extra: extra))
    }

    public func toolCall(_ call: ToolCall, output: String, error: ToolError?, start: Date, end: Date) {
        guard let info, let builder else { return }
        let failure = error.map {
            $0.isInvalidCall
                ? SpanBuilder.ToolFailure.fatal(detail: $0.message, errorType: $0.type)
                : SpanBuilder.ToolFailure.nonFatal(detail: $0.message, errorType: $0.type)
        }
        spans.append(
            builder.toolSpan(
                traceID: info.traceID, spanID: newSpanID(), parentSpanID: rootID, start: TraceTime.format(start),
                end: TraceTime.format(end), toolName: call.name, arguments: call.arguments, output: output, failure: failure,
                extra: ["flywheel.tool_call_id": .string(call.id)]))
    }

    public func agentFinished(_ outcome: AgentOutcome, at time: Date) {
        guard let info, let builder else { return }
        var extra: [String: JSONValue] = [
            "input.value": .string(info.question),
            "flywheel.turns": .int(Int64(outcome.turns)),
            "flywheel.model": .string(info.modelID),
            "flywheel.model_label": .string(info.modelLabel),
            "flywheel.simulation": .bool(info.isSimulation),
        ]
        if let answer = outcome.finalAnswer { extra["output.value"] = .string(answer) }
        if let seed = info.seed { extra["flywheel.seed"] = .int(Int64(bitPattern: seed)) }
        let status: SpanStatus
        switch outcome.stopReason {
        case .finalAnswer: status = .ok
        case .maxTurns: status = .error("MaxTurnsExceeded: no final answer after \(outcome.turns) turns")
        case .modelError: status = .error("ModelError: \(outcome.error ?? "model call failed")")
        }
        spans.append(
            builder.agentSpan(
                traceID: info.traceID, spanID: rootID, start: TraceTime.format(rootStart), end: TraceTime.format(time),
                status: status, tools: info.tools, outcome: outcome.outcome, stopReason: outcome.stopReason.rawValue,
                extra: extra))
        self.info = nil
    }

    // MARK: - Helpers

    private func newSpanID() -> String {
        if ids != nil { return ids!.hex(16) }
        return TraceIDs.newSpanID()
    }

    static func provider(of modelID: String) -> String {
        if let colon = modelID.firstIndex(of: ":") { return String(modelID[..<colon]) }
        return "openai"
    }

    /// `DiligenceAnalyst` → `diligence-analyst`.
    static func slug(_ name: String) -> String {
        var out = ""
        for (i, c) in name.enumerated() {
            if c.isUppercase && i > 0 { out += "-" }
            out += c.isLetter || c.isNumber ? String(c).lowercased() : "-"
        }
        return out
    }
}
