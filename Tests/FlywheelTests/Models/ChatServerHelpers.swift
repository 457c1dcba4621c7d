import Foundation
import TestSupport

@testable import Flywheel
@testable import FlywheelSupport
@testable import FlywheelModels

/// Builders for chat-completions answers served by `ScriptedHTTPServer`.
enum ChatServer {
    static let key = "sk-test-SECRET-0123456789abcdef"

    /// A chat-completions response body.
    static func completion(
        content: String?, toolCalls: [(id: String, name: String, arguments: String)] = [], finish: String? = nil,
        model: String = "gpt-4o-mini-2024-07-18", prompt: Int = 11, completion: Int = 7
    ) -> String {
        var message: [String: Any] = ["role": "assistant", "content": content ?? NSNull()]
        if !toolCalls.isEmpty {
            message["tool_calls"] = toolCalls.map {
                ["id": $0.id, "type": "function", "function": ["name": $0.name, "arguments": $0.arguments]]
            }
        }
        let body: [String: Any] = [
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000, "model": model,
            "choices": [["index": 0, "message": message, "finish_reason": finish ?? (toolCalls.isEmpty ? "stop" : "tool_calls")]],
            "usage": ["prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion],
        ]
        let data = try! JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    static func ok(_ body: String, headers: [String: String] = [:]) -> ScriptedHTTPServer.Step {
        .json(200, body, headers: headers)
    }

    static func error(_ status: Int, _ message: String, headers: [String: String] = [:]) -> ScriptedHTTPServer.Step {
        let body = try! JSONSerialization.data(withJSONObject: ["error": ["message": message, "type": "invalid_request_error"]])
        return .json(status, String(decoding: body, as: UTF8.self), headers: headers)
    }

    /// A model pointed at the server with fast retries.
    static func model(
        _ server: ScriptedHTTPServer, timeout: Double = 10, maxRetries: Int = 3, maxResponseBytes: Int = 8 << 20
    ) -> OpenAICompatibleModel {
        var m = OpenAICompatibleModel(
            model: "gpt-4o-mini", baseURL: server.baseURL + "/v1/", apiKey: key, timeout: timeout, maxRetries: maxRetries,
            maxResponseBytes: maxResponseBytes, environment: [:])
        m.retry = RetryPolicy(maxRetries: maxRetries, baseDelay: 0.05, maxDelay: 0.2, maxRetryAfter: 5)
        return m
    }

    static func json(_ text: String) throws -> JSONValue { try JSONValue.parse(text) }

    static let weatherTool = ToolDefinition(
        name: "get_weather", description: "Current weather for a city",
        parameters: [
            "type": "object", "properties": ["city": ["type": "string"]], "required": ["city"],
            "additionalProperties": false,
        ])
}
