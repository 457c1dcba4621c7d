import FlywheelSupport
import Foundation

/// HALO's observation kinds (`inference.observation_kind`).
public enum ObservationKind: String, Sendable, Hashable, Codable, CaseIterable {
    case agent = "AGENT", llm = "LLM", tool = "TOOL", chain = "CHAIN", guardrail = "GUARDRAIL", span = "SPAN"

    /// `openinference.span.kind`: the same value, except `SPAN` becomes `CHAIN`.
    public var openInferenceKind: String { self == .span ? "CHAIN" : rawValue }
    /// OTel span kind: `SPAN_KIND_CLIENT` for LLM calls, `SPAN_KIND_INTERNAL` otherwise.
    public var otelKind: String { self == .llm ? "SPAN_KIND_CLIENT" : "SPAN_KIND_INTERNAL" }
}

/// Builds the spans an agent emits, with the attribute conventions of spec §3 (every span carries
/// `inference.export.schema_version`, `inference.project_id`, `inference.observation_kind`,
/// `openinference.span.kind`, `inference.agent_name`, `inference.agent_id`).
///
/// Times are HALO timestamps (use ``TraceTime/now()`` or ``TraceTime/format(unixNanos:)``). Write spans when they
/// end, so children come before parents and the root comes last.
public struct SpanBuilder: Sendable, Hashable {
    public var projectID: String
    public var agentName: String
    public var agentID: String
    /// `resource.attributes["service.name"]`.
    public var serviceName: String
    public var scopeName: String
    public var scopeVersion: String
    /// Extra resource attributes (e.g. `service.version`).
    public var resourceAttributes: [String: JSONValue]

    public init(
        projectID: String, agentName: String, agentID: String? = nil, serviceName: String? = nil,
        scopeName: String = "flywheel", scopeVersion: String = "0.1.0", resourceAttributes: [String: JSONValue] = [:]
    ) {
        self.projectID = projectID
        self.agentName = agentName
        self.agentID = agentID ?? agentName
        self.serviceName = serviceName ?? projectID
        self.scopeName = scopeName
        self.scopeVersion = scopeVersion
        self.resourceAttributes = resourceAttributes
    }

    /// A span of `kind` with the common attributes; `attributes` are added on top (and win).
    public func span(
        kind: ObservationKind, name: String, traceID: String, spanID: String = TraceIDs.newSpanID(),
        parentSpanID: String = "", start: String, end: String, status: SpanStatus = .ok,
        attributes: [String: JSONValue] = [:]
    ) -> Span {
        var attrs: [String: JSONValue] = [
            "inference.export.schema_version": 1,
            "inference.project_id": .string(projectID),
            "inference.observation_kind": .string(kind.rawValue),
            "openinference.span.kind": .string(kind.openInferenceKind),
            "inference.agent_name": .string(agentName),
            "inference.agent_id": .string(agentID),
        ]
        attrs.merge(attributes) { _, new in new }
        var resource = resourceAttributes
        resource["service.name"] = .string(serviceName)
        return Span(
            traceID: traceID, spanID: spanID, parentSpanID: parentSpanID, name: name, kind: kind.otelKind,
            startTime: start, endTime: end, status: status, resourceAttributes: resource,
            scope: SpanScope(name: scopeName, version: scopeVersion), attributes: attrs)
    }

    /// An AGENT span `agent.<Name>`; `tools` and `handoffs` become JSON-string arrays; outcome markers go in
    /// `agent.outcome` / `agent.stop_reason` where HALO's model looks for them.
    public func agentSpan(
        traceID: String, spanID: String = TraceIDs.newSpanID(), parentSpanID: String = "", start: String, end: String,
        status: SpanStatus = .ok, tools: [String]? = nil, handoffs: [String]? = nil, outcome: String? = nil,
        stopReason: String? = nil, extra: [String: JSONValue] = [:]
    ) -> Span {
        var a: [String: JSONValue] = ["agent.name": .string(agentName)]
        if let tools { a["agent.tools"] = .string(JSONValue.array(tools.map { .string($0) }).canonicalText) }
        if let handoffs { a["agent.handoffs"] = .string(JSONValue.array(handoffs.map { .string($0) }).canonicalText) }
        if let outcome { a["agent.outcome"] = .string(outcome) }
        if let stopReason { a["agent.stop_reason"] = .string(stopReason) }
        a.merge(extra) { _, new in new }
        return span(kind: .agent, name: "agent.\(agentName)", traceID: traceID, spanID: spanID, parentSpanID: parentSpanID,
            start: start, end: end, status: status, attributes: a)
    }

    /// How a tool call failed (spec §3, "Failed call").
    public enum ToolFailure: Sendable, Hashable {
        /// The error went back to the model and the run continued: `Error running tool (non-fatal)`.
        case nonFatal(detail: String, errorType: String? = nil)
        /// The call could not be made (e.g. undecodable arguments): `Error running tool`.
        case fatal(detail: String, errorType: String? = nil)
    }

    /// A TOOL span `function.<tool>`: `input.value` is the argument JSON exactly as the model sent it,
    /// `output.value` what the model received (omitted when empty). A failure sets the ERROR status and output.
    public func toolSpan(
        traceID: String, spanID: String = TraceIDs.newSpanID(), parentSpanID: String, start: String, end: String,
        toolName: String, arguments: String, output: String, failure: ToolFailure? = nil,
        extra: [String: JSONValue] = [:]
    ) -> Span {
        var a: [String: JSONValue] = ["tool.name": .string(toolName), "input.value": .string(arguments)]
        var status = SpanStatus.ok
        switch failure {
        case nil:
            if !output.isEmpty { a["output.value"] = .string(output) }
        case .nonFatal(let detail, let type), .fatal(let detail, let type):
            if case .nonFatal = failure! {
                status = .error("Error running tool (non-fatal)")
            } else {
                status = .error("Error running tool")
            }
            a["output.value"] = .string("An error occurred while running the tool. Please try again. Error: \(detail)")
            if let type { a["error.type"] = .string(type) }
        }
        a.merge(extra) { _, new in new }
        return span(kind: .tool, name: "function.\(toolName)", traceID: traceID, spanID: spanID, parentSpanID: parentSpanID,
            start: start, end: end, status: status, attributes: a)
    }

    /// A CHAIN span for a handoff; `inference.agent_name` is the target.
    public func handoffSpan(
        traceID: String, spanID: String = TraceIDs.newSpanID(), parentSpanID: String, start: String, end: String,
        from: String, to: String
    ) -> Span {
        span(kind: .chain, name: "handoff", traceID: traceID, spanID: spanID, parentSpanID: parentSpanID, start: start,
            end: end, attributes: [
                "agent.handoff.from": .string(from), "agent.handoff.to": .string(to), "inference.agent_name": .string(to),
            ])
    }

    /// A GUARDRAIL span `guardrail.<name>`.
    public func guardrailSpan(
        traceID: String, spanID: String = TraceIDs.newSpanID(), parentSpanID: String, start: String, end: String,
        name: String, triggered: Bool
    ) -> Span {
        span(kind: .guardrail, name: "guardrail.\(name)", traceID: traceID, spanID: spanID, parentSpanID: parentSpanID,
            start: start, end: end, attributes: ["guardrail.name": .string(name), "guardrail.triggered": .bool(triggered)])
    }
}
