import FlywheelSupport
import Foundation

/// The chat-completions wire format: `ChatRequest` → request JSON, response JSON → `ChatResponse`.
enum OpenAIWire {
    /// The request body (compact JSON, sorted keys).
    static func encode(_ request: ChatRequest, model: String) -> Data {
        var body: [String: JSONValue] = [
            "model": .string(model),
            "messages": .array(request.messages.map(message)),
        ]
        if !request.tools.isEmpty {
            body["tools"] = .array(
                request.tools.map { tool in
                    [
                        "type": "function",
                        "function": [
                            "name": .string(tool.name), "description": .string(tool.description),
                            "parameters": tool.parameters,
                        ],
                    ]
                })
        }
        if let choice = request.toolChoice {
            switch choice {
            case .auto: body["tool_choice"] = "auto"
            case .none: body["tool_choice"] = "none"
            case .required: body["tool_choice"] = "required"
            case .function(let name): body["tool_choice"] = ["type": "function", "function": ["name": .string(name)]]
            }
        }
        switch request.responseFormat {
        case nil, .text?: break
        case .jsonObject?: body["response_format"] = ["type": "json_object"]
        case .jsonSchema(let name, let schema, let strict)?:
            body["response_format"] = [
                "type": "json_schema",
                "json_schema": ["name": .string(name), "schema": schema, "strict": .bool(strict)],
            ]
        }
        if let t = request.temperature { body["temperature"] = .double(t) }
        if let m = request.maxTokens { body["max_tokens"] = .int(Int64(m)) }
        if let s = request.seed { body["seed"] = .int(Int64(s)) }
        return Data(JSONValue.object(body).canonicalText.utf8)
    }

    private static func message(_ m: ChatMessage) -> JSONValue {
        var o: [String: JSONValue] = ["role": .string(m.role.rawValue)]
        o["content"] = m.content.map(JSONValue.string) ?? .null
        if !m.toolCalls.isEmpty {
            o["tool_calls"] = .array(
                m.toolCalls.map { call in
                    [
                        "id": .string(call.id), "type": "function",
                        "function": ["name": .string(call.name), "arguments": .string(call.arguments)],
                    ]
                })
        }
        if m.role == .tool {
            o["tool_call_id"] = .string(m.toolCallID ?? "")
        } else if let name = m.name {
            o["name"] = .string(name)
        }
        return .object(o)
    }

    /// Parses a 2xx body. Latency and cost are filled in by the caller.
    /// - Throws: `ModelError(.invalidResponse)` naming what is missing.
    static func decode(_ data: Data, fallbackModel: String) throws(ModelError) -> ChatResponse {
        let json: JSONValue
        do {
            json = try JSONValue.parse(data)
        } catch {
            throw ModelError(.invalidResponse, "response is not JSON: \(excerpt(data))")
        }
        if let error = json["error"], !error.isNull {
            throw ModelError(.invalidResponse, "response carries an error: \(errorText(error) ?? error.canonicalText)")
        }
        guard let choice = json["choices"]?.arrayValue?.first else {
            throw ModelError(.invalidResponse, "response has no choices[0]: \(excerpt(data))")
        }
        guard let msg = choice["message"], msg.objectValue != nil else {
            throw ModelError(.invalidResponse, "choices[0] has no message: \(excerpt(data))")
        }
        var calls: [ToolCall] = []
        for (i, call) in (msg["tool_calls"]?.arrayValue ?? []).enumerated() {
            guard let fn = call["function"], let name = fn["name"]?.stringValue else {
                throw ModelError(.invalidResponse, "choices[0].message.tool_calls[\(i)] has no function.name")
            }
            let arguments: String
            switch fn["arguments"] {
            case .string(let s)?: arguments = s
            case nil, .null?: arguments = "{}"
            case let other?: arguments = other.canonicalText
            }
            calls.append(ToolCall(id: call["id"]?.stringValue ?? "call_\(i)", name: name, arguments: arguments))
        }
        let content = text(msg["content"]) ?? msg["refusal"]?.stringValue
        let finish = choice["finish_reason"]?.stringValue ?? (calls.isEmpty ? "stop" : "tool_calls")
        let usage = Usage(
            promptTokens: Int(json["usage"]?["prompt_tokens"]?.intValue ?? 0),
            completionTokens: Int(json["usage"]?["completion_tokens"]?.intValue ?? 0))
        return ChatResponse(
            message: .assistant(content, toolCalls: calls), finishReason: finish, usage: usage, latencyMs: 0,
            costUSD: nil, model: json["model"]?.stringValue ?? fallbackModel)
    }

    /// Content as a string, or the text parts of a content array joined.
    private static func text(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let s)?: return s
        case .array(let parts)?:
            let texts = parts.compactMap { $0["text"]?.stringValue ?? $0.stringValue }
            return texts.isEmpty ? nil : texts.joined()
        default: return nil
        }
    }

    /// The server's explanation of an error status: `error.message`, `error` (string), `message`,
    /// `detail`, or an excerpt of the body.
    static func serverMessage(_ data: Data) -> String {
        if let json = try? JSONValue.parse(data) {
            if let e = json["error"], let text = errorText(e) { return text }
            if let m = json["message"]?.stringValue { return m }
            if let d = json["detail"]?.stringValue { return d }
        }
        let text = excerpt(data)
        return text.isEmpty ? "(empty body)" : text
    }

    private static func errorText(_ error: JSONValue) -> String? {
        if let s = error.stringValue { return s }
        guard let message = error["message"]?.stringValue else { return nil }
        if let code = error["code"]?.stringValue ?? error["type"]?.stringValue { return "\(message) [\(code)]" }
        return message
    }

    /// The first 300 characters of a body, on one line.
    static func excerpt(_ data: Data) -> String {
        let text = String(decoding: data.prefix(1200), as: UTF8.self)
        return Excerpt.clip(text.replacingOccurrences(of: "\n", with: " "), 300)
    }
}
