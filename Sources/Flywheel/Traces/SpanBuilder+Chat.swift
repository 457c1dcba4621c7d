import FlywheelSupport
import FlywheelTraces
import Foundation
import FlywheelModels

// LLM spans from the loop's chat messages: the one part of span building that knows the model layer's
// `ChatMessage`, so it lives beside the models' users rather than in FlywheelTraces.
extension SpanBuilder {
    /// An LLM span `generation.<model>` with messages as JSON strings and integer token counts.
    public func llmSpan(
        traceID: String, spanID: String = TraceIDs.newSpanID(), parentSpanID: String, start: String, end: String,
        status: SpanStatus = .ok, provider: String, model: String, inputMessages: [ChatMessage],
        outputMessages: [ChatMessage], promptTokens: Int, completionTokens: Int,
        invocationParameters: JSONValue? = nil, cachedInputTokens: Int? = nil, reasoningOutputTokens: Int? = nil,
        extra: [String: JSONValue] = [:]
    ) -> Span {
        var a: [String: JSONValue] = [
            "llm.provider": .string(provider),
            "llm.model_name": .string(model),
            "inference.llm.model_name": .string(model),
            "llm.input_messages": .string(Self.messagesJSON(inputMessages)),
            "llm.output_messages": .string(Self.messagesJSON(outputMessages)),
            "llm.token_count.prompt": .int(Int64(promptTokens)),
            "llm.token_count.completion": .int(Int64(completionTokens)),
            "llm.token_count.total": .int(Int64(promptTokens + completionTokens)),
            "inference.llm.input_tokens": .int(Int64(promptTokens)),
            "inference.llm.output_tokens": .int(Int64(completionTokens)),
        ]
        if let invocationParameters { a["llm.invocation_parameters"] = .string(invocationParameters.canonicalText) }
        if let cachedInputTokens { a["inference.llm.cached_input_tokens"] = .int(Int64(cachedInputTokens)) }
        if let reasoningOutputTokens { a["inference.llm.reasoning_output_tokens"] = .int(Int64(reasoningOutputTokens)) }
        a.merge(extra) { _, new in new }
        return span(kind: .llm, name: "generation.\(model)", traceID: traceID, spanID: spanID, parentSpanID: parentSpanID,
            start: start, end: end, status: status, attributes: a)
    }

    /// Chat messages as the JSON string `llm.input_messages` / `llm.output_messages` hold:
    /// `{"role","content","tool_calls":[{"id","type":"function","function":{"name","arguments"}}],"tool_call_id"}`,
    /// keys sorted.
    public static func messagesJSON(_ messages: [ChatMessage]) -> String {
        JSONValue.array(messages.map { m in
            var o: [String: JSONValue] = ["role": .string(m.role.rawValue), "content": m.content.map { .string($0) } ?? .null]
            if !m.toolCalls.isEmpty {
                o["tool_calls"] = .array(m.toolCalls.map { c in
                    .object([
                        "id": .string(c.id), "type": "function",
                        "function": .object(["name": .string(c.name), "arguments": .string(c.arguments)]),
                    ])
                })
            }
            if let id = m.toolCallID { o["tool_call_id"] = .string(id) }
            if let name = m.name { o["name"] = .string(name) }
            return .object(o)
        }).canonicalText
    }
}
