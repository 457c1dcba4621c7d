import Foundation

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
    private var agentID = ""

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
        agentID = Self.slug(info.agentName)
    }

    public func llmCall(request: ChatRequest, response: ChatResponse?, error: String?, start: Date, end: Date) {
        guard let info else { return }
        let model = info.isSimulation ? info.modelLabel : (response?.model ?? request.model)
        var a = common(kind: "LLM", info: info)
        a["llm.provider"] = .string(info.isSimulation ? "flywheel" : Self.provider(of: info.modelID))
        a["llm.model_name"] = .string(model)
        a["inference.llm.model_name"] = .string(model)
        a["llm.input_messages"] = .string(JSONValue.array(request.messages.map(Self.json)).canonicalText)
        var params: [String: JSONValue] = [:]
        if let t = request.temperature { params["temperature"] = .double(t) }
        if let s = request.seed { params["seed"] = .int(Int64(s)) }
        if let m = request.maxTokens { params["max_tokens"] = .int(Int64(m)) }
        if !request.tools.isEmpty { params["tools"] = .array(request.tools.map { .string($0.name) }) }
        a["llm.invocation_parameters"] = .string(JSONValue.object(params).canonicalText)
        var status = SpanStatus.ok
        if let response {
            a["llm.output_messages"] = .string(JSONValue.array([Self.json(response.message)]).canonicalText)
            let u = response.usage
            a["llm.token_count.prompt"] = .int(Int64(u.promptTokens))
            a["llm.token_count.completion"] = .int(Int64(u.completionTokens))
            a["llm.token_count.total"] = .int(Int64(u.totalTokens))
            a["inference.llm.input_tokens"] = .int(Int64(u.promptTokens))
            a["inference.llm.output_tokens"] = .int(Int64(u.completionTokens))
            a["flywheel.finish_reason"] = .string(response.finishReason)
            if let cost = response.costUSD { a["flywheel.cost_usd"] = .double(cost) }
        } else {
            status = .error(error ?? "model call failed")
            a["error.type"] = "ModelError"
        }
        append(name: "generation.\(model)", kind: "SPAN_KIND_CLIENT", start: start, end: end, status: status, attributes: a)
    }

    public func toolCall(_ call: ToolCall, output: String, error: ToolError?, start: Date, end: Date) {
        guard let info else { return }
        var a = common(kind: "TOOL", info: info)
        a["tool.name"] = .string(call.name)
        a["input.value"] = .string(call.arguments)
        if !output.isEmpty { a["output.value"] = .string(output) }
        a["flywheel.tool_call_id"] = .string(call.id)
        var status = SpanStatus.ok
        if let error {
            status = .error(error.isInvalidCall ? "Error running tool" : "Error running tool (non-fatal)")
            a["error.type"] = .string(error.type)
        }
        append(name: "function.\(call.name)", kind: "SPAN_KIND_INTERNAL", start: start, end: end, status: status, attributes: a)
    }

    public func agentFinished(_ outcome: AgentOutcome, at time: Date) {
        guard let info else { return }
        var a = common(kind: "AGENT", info: info)
        a["agent.name"] = .string(info.agentName)
        a["agent.tools"] = .string(JSONValue.array(info.tools.map(JSONValue.string)).canonicalText)
        a["agent.outcome"] = .string(outcome.outcome)
        a["agent.stop_reason"] = .string(outcome.stopReason.rawValue)
        a["input.value"] = .string(info.question)
        if let answer = outcome.finalAnswer { a["output.value"] = .string(answer) }
        a["flywheel.turns"] = .int(Int64(outcome.turns))
        a["flywheel.model"] = .string(info.modelID)
        a["flywheel.model_label"] = .string(info.modelLabel)
        a["flywheel.simulation"] = .bool(info.isSimulation)
        if let seed = info.seed { a["flywheel.seed"] = .int(Int64(bitPattern: seed)) }
        let status: SpanStatus
        switch outcome.stopReason {
        case .finalAnswer: status = .ok
        case .maxTurns: status = .error("MaxTurnsExceeded: no final answer after \(outcome.turns) turns")
        case .modelError: status = .error("ModelError: \(outcome.error ?? "model call failed")")
        }
        spans.append(
            Span(
                traceID: info.traceID, spanID: rootID, parentSpanID: "", name: "agent.\(info.agentName)",
                kind: "SPAN_KIND_INTERNAL", startTime: TraceTime.format(rootStart), endTime: TraceTime.format(time),
                status: status, resourceAttributes: resource, scope: SpanScope(name: "flywheel", version: scopeVersion),
                attributes: a))
        self.info = nil
    }

    // MARK: - Helpers

    private var resource: [String: JSONValue] { ["service.name": .string(serviceName)] }

    private func common(kind: String, info: AgentRunInfo) -> [String: JSONValue] {
        [
            "inference.export.schema_version": 1,
            "inference.project_id": .string(projectID),
            "inference.observation_kind": .string(kind),
            "openinference.span.kind": .string(kind),
            "inference.agent_name": .string(info.agentName),
            "inference.agent_id": .string(agentID),
        ]
    }

    private func append(name: String, kind: String, start: Date, end: Date, status: SpanStatus, attributes: [String: JSONValue]) {
        guard let info else { return }
        spans.append(
            Span(
                traceID: info.traceID, spanID: newSpanID(), parentSpanID: rootID, name: name, kind: kind,
                startTime: TraceTime.format(start), endTime: TraceTime.format(end), status: status,
                resourceAttributes: resource, scope: SpanScope(name: "flywheel", version: scopeVersion), attributes: attributes))
    }

    private func newSpanID() -> String {
        if ids != nil { return ids!.hex(16) }
        return TraceIDs.newSpanID()
    }

    /// A chat message in the spec's shape: role, content (string or null), tool_calls, tool_call_id.
    static func json(_ m: ChatMessage) -> JSONValue {
        var o: [String: JSONValue] = ["role": .string(m.role.rawValue), "content": m.content.map(JSONValue.string) ?? .null]
        if !m.toolCalls.isEmpty {
            o["tool_calls"] = .array(
                m.toolCalls.map {
                    ["id": .string($0.id), "type": "function", "function": ["name": .string($0.name), "arguments": .string($0.arguments)]]
                })
        }
        if let id = m.toolCallID { o["tool_call_id"] = .string(id) }
        return .object(o)
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
