import Foundation
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelSupport
@testable import FlywheelModels

@Suite("OpenAI-compatible model against a loopback chat server")
struct OpenAICompatibleModelTests {
    @Test func toolCallLoop() throws {
        let server = try ScriptedHTTPServer(steps: [
            ChatServer.ok(ChatServer.completion(content: nil, toolCalls: [("call_1", "get_weather", #"{"city":"Oslo"}"#)])),
            ChatServer.ok(ChatServer.completion(content: "It is 4 °C in Oslo.", prompt: 40, completion: 9)),
        ])
        defer { server.stop() }
        let model = ChatServer.model(server)

        var messages: [ChatMessage] = [.system("You are terse."), .user("Weather in Oslo?")]
        let first = try model.complete(
            ChatRequest(
                model: "", messages: messages, tools: [ChatServer.weatherTool], toolChoice: .auto, temperature: 0.2,
                maxTokens: 200, seed: 7))
        #expect(first.finishReason == "tool_calls")
        let call = try #require(first.message.toolCalls.first)
        #expect(call == ToolCall(id: "call_1", name: "get_weather", arguments: #"{"city":"Oslo"}"#))
        #expect(first.message.content == nil)
        #expect(first.usage == Usage(promptTokens: 11, completionTokens: 7))
        #expect(first.model == "gpt-4o-mini-2024-07-18")
        // gpt-4o-mini: 0.15 / 0.60 per million tokens.
        #expect(abs((first.costUSD ?? -1) - (11 * 0.15 + 7 * 0.60) / 1e6) < 1e-12)
        #expect(first.latencyMs > 0)

        messages.append(first.message)
        messages.append(.tool(callID: call.id, name: call.name, content: #"{"temp_c":4}"#))
        let second = try model.complete(ChatRequest(model: "", messages: messages, tools: [ChatServer.weatherTool]))
        #expect(second.message.content == "It is 4 °C in Oslo.")
        #expect(second.finishReason == "stop")
        #expect(second.message.role == .assistant)

        let seen = server.requests()
        #expect(seen.count == 2)
        #expect(seen.allSatisfy { $0.method == "POST" && $0.path == "/v1/chat/completions" })
        #expect(seen[0].headers["authorization"] == "Bearer \(ChatServer.key)")
        #expect(seen[0].headers["content-type"] == "application/json")

        let body1 = try ChatServer.json(seen[0].body)
        #expect(body1["model"] == "gpt-4o-mini")
        #expect(body1["temperature"]?.doubleValue == 0.2)
        #expect(body1["max_tokens"] == 200)
        #expect(body1["seed"] == 7)
        #expect(body1["tool_choice"] == "auto")
        #expect(body1["messages"] == [
            ["role": "system", "content": "You are terse."], ["role": "user", "content": "Weather in Oslo?"],
        ])
        #expect(body1["tools"] == [
            ["type": "function", "function": ["name": "get_weather", "description": "Current weather for a city", "parameters": ChatServer.weatherTool.parameters]]
        ])

        let body2 = try ChatServer.json(seen[1].body)
        let sent = try #require(body2["messages"]?.arrayValue)
        #expect(sent.count == 4)
        #expect(sent[2] == [
            "role": "assistant", "content": nil,
            "tool_calls": [["id": "call_1", "type": "function", "function": ["name": "get_weather", "arguments": #"{"city":"Oslo"}"#]]],
        ])
        #expect(sent[3] == ["role": "tool", "content": #"{"temp_c":4}"#, "tool_call_id": "call_1"])
        #expect(body2["tool_choice"] == nil)
        #expect(body2["temperature"] == nil)
    }

    @Test func responseFormatsAndForcedToolAreMapped() throws {
        let server = try ScriptedHTTPServer(steps: [], default: ChatServer.ok(ChatServer.completion(content: "{}")))
        defer { server.stop() }
        let model = ChatServer.model(server)
        let schema: JSONValue = ["type": "object", "properties": ["ok": ["type": "boolean"]]]
        _ = try model.complete(ChatRequest(model: "openai:gpt-4.1", messages: [.user("a")], responseFormat: .jsonObject))
        _ = try model.complete(
            ChatRequest(model: "", messages: [.user("b")], responseFormat: .jsonSchema(name: "verdict", schema: schema, strict: true)))
        _ = try model.complete(
            ChatRequest(model: "", messages: [.user("c")], tools: [ChatServer.weatherTool], toolChoice: .function("get_weather")))
        _ = try model.complete(ChatRequest(model: "", messages: [.user("d")], toolChoice: .required, responseFormat: .text))
        let bodies = try server.requests().map { try ChatServer.json($0.body) }
        #expect(bodies[0]["model"] == "gpt-4.1")
        #expect(bodies[0]["response_format"] == ["type": "json_object"])
        #expect(bodies[1]["model"] == "gpt-4o-mini")
        #expect(bodies[1]["response_format"] == ["type": "json_schema", "json_schema": ["name": "verdict", "schema": schema, "strict": true]])
        #expect(bodies[2]["tool_choice"] == ["type": "function", "function": ["name": "get_weather"]])
        #expect(bodies[3]["tool_choice"] == "required")
        #expect(bodies[3]["response_format"] == nil)
    }

    @Test func retriesAfter429HonouringRetryAfter() throws {
        let server = try ScriptedHTTPServer(steps: [
            ChatServer.error(429, "Rate limit reached", headers: ["Retry-After": "1"]),
            ChatServer.ok(ChatServer.completion(content: "finally")),
        ])
        defer { server.stop() }
        let start = Date()
        let response = try ChatServer.model(server).complete(ChatRequest(model: "", messages: [.user("hi")]))
        let elapsed = Date().timeIntervalSince(start)
        #expect(response.message.content == "finally")
        #expect(server.requests().count == 2)
        #expect(elapsed >= 0.95, "Retry-After: 1 must be honoured (took \(elapsed)s)")
        #expect(elapsed < 4)
        #expect(response.latencyMs >= 950)
    }

    @Test func retryAfterAsHTTPDate() throws {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        // Whole seconds: the date is 2.5–3.5 s ahead when written. What is checked is that the second request went
        // out no earlier than that date, so the test holds however long the server takes to start on a loaded machine.
        let when = f.string(from: Date().addingTimeInterval(3.5))
        let whenDate = try #require(f.date(from: when))
        let server = try ScriptedHTTPServer(steps: [
            ChatServer.error(503, "overloaded", headers: ["Retry-After": when]),
            ChatServer.ok(ChatServer.completion(content: "ok")),
        ])
        defer { server.stop() }
        let start = Date()
        _ = try ChatServer.model(server).complete(ChatRequest(model: "", messages: [.user("hi")]))
        let done = Date()
        let elapsed = done.timeIntervalSince(start)
        #expect(done.timeIntervalSince(whenDate) >= -0.05, "waited until the HTTP date \(when) (done \(done), took \(elapsed)s)")
        #expect(elapsed < 8)
    }

    @Test func parsesRetryAfterForms() {
        let now = Date(timeIntervalSince1970: 1_700_000_000)  // Tue, 14 Nov 2023 22:13:20 GMT
        #expect(RetryPolicy.parseRetryAfter("7", now: now) == 7)
        #expect(RetryPolicy.parseRetryAfter(" 1.5 ", now: now) == 1.5)
        #expect(RetryPolicy.parseRetryAfter("Tue, 14 Nov 2023 22:13:30 GMT", now: now) == 10)
        #expect(RetryPolicy.parseRetryAfter("Tuesday, 14-Nov-23 22:13:25 GMT", now: now) == 5)
        #expect(RetryPolicy.parseRetryAfter("Tue, 14 Nov 2023 22:00:00 GMT", now: now) == 0)
        #expect(RetryPolicy.parseRetryAfter("soon", now: now) == nil)
        #expect(RetryPolicy.parseRetryAfter("-3", now: now) == nil)
        #expect(RetryPolicy.parseRetryAfter(nil, retryAfterMs: "250", now: now) == 0.25)
        #expect(RetryPolicy.parseRetryAfter(nil, now: now) == nil)
        let policy = RetryPolicy(maxRetries: 5, baseDelay: 1, maxDelay: 8, maxRetryAfter: 30)
        #expect(policy.delay(beforeRetry: 0, retryAfter: 100) == 30)
        for retry in 0..<6 {
            let d = policy.delay(beforeRetry: retry, retryAfter: nil)
            let cap = min(8, pow(2, Double(retry)))
            #expect(d >= cap / 2 && d <= cap)
        }
    }

    @Test func retriesServerErrorsThenSucceeds() throws {
        let server = try ScriptedHTTPServer(steps: [
            ChatServer.error(500, "boom"), ChatServer.error(502, "bad gateway"),
            ChatServer.ok(ChatServer.completion(content: "third time")),
        ])
        defer { server.stop() }
        let response = try ChatServer.model(server, maxRetries: 2).complete(ChatRequest(model: "", messages: [.user("hi")]))
        #expect(response.message.content == "third time")
        #expect(server.requests().count == 3)
    }

    @Test func givesUpAfterMaxRetriesWithTheLastStatus() throws {
        let server = try ScriptedHTTPServer(steps: [], default: ChatServer.error(503, "still overloaded"))
        defer { server.stop() }
        let error = try #require(throws: ModelError.self) {
            try ChatServer.model(server, maxRetries: 2).complete(ChatRequest(model: "", messages: [.user("hi")]))
        }
        #expect(error.kind == .http)
        #expect(error.status == 503)
        #expect(error.message.contains("still overloaded"))
        #expect(server.requests().count == 3)
    }

    @Test func retriesConnectionFailuresThenReportsTransport() throws {
        let server = try ScriptedHTTPServer(steps: [])
        let model = ChatServer.model(server, maxRetries: 2)
        server.stop()
        let start = Date()
        let error = try #require(throws: ModelError.self) { try model.complete(ChatRequest(model: "", messages: [.user("hi")])) }
        #expect(error.kind == .transport)
        #expect(error.message.contains("connect"))
        #expect(Date().timeIntervalSince(start) >= 0.05, "backed off between attempts")
    }

    @Test func timeoutEndsWithinItsBound() throws {
        let server = try ScriptedHTTPServer(steps: [], default: .init(body: "{}", delay: 5))
        defer { server.stop() }
        let start = Date()
        let error = try #require(throws: ModelError.self) {
            try ChatServer.model(server, timeout: 0.5, maxRetries: 1).complete(ChatRequest(model: "", messages: [.user("hi")]))
        }
        let elapsed = Date().timeIntervalSince(start)
        #expect(error.kind == .transport)
        #expect(error.message.contains("timedOut"))
        #expect(server.requests().count == 2, "a timeout is retried")
        #expect(elapsed >= 0.9 && elapsed < 4.5, "two attempts of 0.5 s plus a short backoff (one answer takes 5 s), took \(elapsed)s")
    }

    @Test func truncatedBodyIsInvalidResponse() throws {
        let full = ChatServer.completion(content: "cut short")
        let server = try ScriptedHTTPServer(steps: [], default: .init(headers: ["Content-Type": "application/json"], body: full, truncateAt: 20))
        defer { server.stop() }
        let error = try #require(throws: ModelError.self) {
            try ChatServer.model(server, maxRetries: 1).complete(ChatRequest(model: "", messages: [.user("hi")]))
        }
        #expect(error.kind == .invalidResponse)
        #expect(error.message.contains("truncated"))
        #expect(server.requests().count == 2, "a truncated transfer is retried once")
    }

    @Test(arguments: [
        "this is not json", #"{"choices": []}"#, #"{"choices": [{"finish_reason": "stop"}]}"#,
        #"{"choices": [{"message": {"tool_calls": [{"id": "x", "function": {}}]}}]}"#,
        #"{"error": {"message": "upstream failed"}}"#,
    ])
    func invalidBodiesAreInvalidResponse(body: String) throws {
        let server = try ScriptedHTTPServer(steps: [], default: ChatServer.ok(body))
        defer { server.stop() }
        let error = try #require(throws: ModelError.self) {
            try ChatServer.model(server).complete(ChatRequest(model: "", messages: [.user("hi")]))
        }
        #expect(error.kind == .invalidResponse)
        #expect(server.requests().count == 1, "a bad body is not retried")
    }

    @Test func bodyOverTheLimitIsResponseTooLarge() throws {
        // 10 MB, against the default 8 MiB limit.
        let server = try ScriptedHTTPServer(steps: [], default: .init(body: String(repeating: "x", count: 1_000_000), repeatCount: 10))
        defer { server.stop() }
        let error = try #require(throws: ModelError.self) {
            try ChatServer.model(server).complete(ChatRequest(model: "", messages: [.user("hi")]))
        }
        #expect(error.kind == .responseTooLarge)
        #expect(server.requests().count == 1)
    }

    @Test func unauthorizedSurfacesTheServerMessageWithoutTheKey() throws {
        // A careless server echoes the key back; it must not reach the error.
        let server = try ScriptedHTTPServer(steps: [
            ChatServer.error(401, "Incorrect API key provided: \(ChatServer.key). Find your key at the dashboard.")
        ])
        defer { server.stop() }
        let error = try #require(throws: ModelError.self) {
            try ChatServer.model(server).complete(ChatRequest(model: "", messages: [.user("hi")]))
        }
        #expect(error.kind == .http)
        #expect(error.status == 401)
        #expect(error.message.contains("Incorrect API key provided"))
        #expect(error.message.contains("[redacted]"))
        #expect(!error.description.contains(ChatServer.key))
        #expect(!String(reflecting: error).contains(ChatServer.key))
        #expect(server.requests().count == 1, "401 is not retried")
    }

    @Test func theKeyNeverAppearsInDescriptionsOrErrors() throws {
        let server = try ScriptedHTTPServer(steps: [])
        let model = ChatServer.model(server, timeout: 1, maxRetries: 0)
        server.stop()
        var dumped = ""
        dump(model, to: &dumped)
        for text in [String(describing: model), String(reflecting: model), dumped, model.label, model.id] {
            #expect(!text.contains(ChatServer.key), "\(text)")
        }
        #expect(model.hasAPIKey)
        let error = try #require(throws: ModelError.self) { try model.complete(ChatRequest(model: "", messages: [.user("x")])) }
        #expect(!error.description.contains(ChatServer.key))
    }

    @Test func environmentSuppliesDefaults() {
        let m = OpenAICompatibleModel(
            model: "llama3", environment: ["OPENAI_BASE_URL": "http://127.0.0.1:11434/v1/", "OPENAI_API_KEY": "k"])
        #expect(m.endpoint == "http://127.0.0.1:11434/v1/chat/completions")
        #expect(m.hasAPIKey)
        #expect(m.id == "openai:llama3")
        #expect(m.label == "llama3 (OpenAI-compatible, 127.0.0.1)")
        let d = OpenAICompatibleModel(model: "gpt-4o", environment: [:])
        #expect(d.baseURL == "https://api.openai.com/v1")
        #expect(!d.hasAPIKey)
        let o = OpenAICompatibleModel(model: "x", baseURL: "http://h/v1", apiKey: "", environment: ["OPENAI_API_KEY": "k"])
        #expect(o.baseURL == "http://h/v1")
        #expect(!o.hasAPIKey)
    }

    @Test func noKeyMeansNoAuthorizationHeader() throws {
        let server = try ScriptedHTTPServer(steps: [ChatServer.ok(ChatServer.completion(content: "hi", model: "local-model"))])
        defer { server.stop() }
        let m = OpenAICompatibleModel(model: "local-model", baseURL: server.baseURL, environment: [:])
        let r = try m.complete(ChatRequest(model: "", messages: [.user("x")]))
        #expect(r.costUSD == nil, "unknown model has no price")
        #expect(server.requests().first?.headers["authorization"] == nil)
    }

    @Test func pricingMatchesSnapshotsAndOnlyKnownModels() {
        let p = ModelPricing.openAI
        #expect(p.price(of: "gpt-4o-2024-08-06") == p.price(of: "gpt-4o"))
        #expect(p.price(of: "gpt-4o-mini") != p.price(of: "gpt-4o"))
        #expect(p.price(of: "gpt-4o-audio-preview") == nil)
        #expect(p.cost(model: "llama3:8b", usage: Usage(promptTokens: 1, completionTokens: 1)) == nil)
        #expect(p.cost(model: "gpt-4.1", usage: Usage(promptTokens: 1_000_000, completionTokens: 500_000)) == 6.0)
    }

    @Test func contentPartsAndObjectArgumentsAreAccepted() throws {
        let body = #"""
            {"model":"m","choices":[{"message":{"role":"assistant","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}],
            "tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":{"z":1,"a":[true]}}}]},"finish_reason":null}]}
            """#
        let server = try ScriptedHTTPServer(steps: [ChatServer.ok(body)])
        defer { server.stop() }
        let r = try ChatServer.model(server).complete(ChatRequest(model: "", messages: [.user("x")]))
        #expect(r.message.content == "ab")
        #expect(r.message.toolCalls == [ToolCall(id: "c1", name: "f", arguments: #"{"a":[true],"z":1}"#)])
        #expect(r.finishReason == "tool_calls")
        #expect(r.usage == Usage(promptTokens: 0, completionTokens: 0))
    }
}
