@testable import Flywheel
@testable import FlywheelSupport
import Foundation
import Testing
import TestSupport
@testable import FlywheelEvals

/// The model APIs providers call (chat completions with the OpenAI config keys, the Responses API, Anthropic Messages),
/// against scripted loopback servers: what is sent, and what the row's output becomes.
@Suite("Evals model APIs")
struct EvalModelAPIsTests {
    static func write(_ dir: URL, _ files: [String: String]) throws {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (name, text) in files {
            let url = dir.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
    }

    static func body(_ r: ScriptedHTTPServer.Request) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any]) ?? [:]
    }

    static func header(_ r: ScriptedHTTPServer.Request, _ name: String) -> String? {
        r.headers.first { $0.key.lowercased() == name.lowercased() }?.value
    }

    static func run(_ dir: URL, env: [String: String]) throws -> EvalRunResult {
        let suite = try EvalSuite.load(from: dir.appendingPathComponent("promptfooconfig.yaml"))
        return EvalRunner(engine: EvalAssertionEngine(scripts: nil), providers: EvalProvidersTests.caller(dir, env: env)).grade(suite: suite)
    }

    static let toolCallReply = """
        {"id":"c1","object":"chat.completion","model":"m","choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,
         "tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\\"location\\":\\"Boston\\"}"}}]}}],
         "usage":{"prompt_tokens":5,"completion_tokens":4,"total_tokens":9}}
        """

    @Test("openai chat: tools from a file, tool_choice, stop, top_p, penalties, seed, user and the prompt's response_format are sent; a tool call is the output")
    func chatSendsConfigAndReadsToolCalls() throws {
        let server = try ScriptedHTTPServer(steps: [.json(200, Self.toolCallReply, headers: [:])], default: .json(200, Self.toolCallReply))
        defer { server.stop() }
        let dir = TestPaths.scratch("model-apis-chat")
        try Self.write(dir, [
            "tools.yaml": """
            - type: function
              function:
                name: get_weather
                parameters: {type: object, properties: {location: {type: string}}, required: [location]}
            """,
            "promptfooconfig.yaml": """
            prompts:
              - raw: 'Weather in {{city}}?'
                label: p
                config: {temperature: 0.5, response_format: {type: json_object}}
            providers:
              - id: openai:chat:gpt-4.1-mini
                config:
                  apiBaseUrl: \(server.baseURL)/v1
                  tools: file://tools.yaml
                  tool_choice: auto
                  temperature: 0
                  max_tokens: 50
                  stop: ["\\n\\n"]
                  top_p: 0.9
                  presence_penalty: 0.1
                  frequency_penalty: 0.2
                  seed: 7
                  user: tester
                  parallel_tool_calls: false
            tests:
              - vars: {city: Boston}
                assert:
                  - type: is-valid-openai-tools-call
            """,
        ])
        let suite = try EvalSuite.load(from: dir.appendingPathComponent("promptfooconfig.yaml"))
        #expect(!suite.warnings.contains { $0.key.hasPrefix("providers[0]") }, "every key is sent: \(suite.warnings)")
        let run = try Self.run(dir, env: ["OPENAI_API_KEY": "sk-test"])
        let row = try #require(run.rows.first)
        #expect(row.status == .passed, "\(row.error ?? "") \(row.gradingResult?.reason ?? "")")
        let calls = try #require(row.response?.output.arrayValue)
        #expect(calls.first?["function"]?["name"]?.stringValue == "get_weather")
        #expect(row.response?.finishReason == "tool_calls")
        let req = try #require(server.requests().first)
        #expect(req.path == "/v1/chat/completions")
        #expect(Self.header(req, "Authorization") == "Bearer sk-test")
        let b = Self.body(req)
        #expect(b["model"] as? String == "gpt-4.1-mini")
        #expect(((b["tools"] as? [[String: Any]])?.first?["function"] as? [String: Any])?["name"] as? String == "get_weather")
        #expect(b["tool_choice"] as? String == "auto")
        #expect((b["response_format"] as? [String: Any])?["type"] as? String == "json_object")
        #expect(b["temperature"] as? Double == 0.5, "the prompt's config wins over the provider's")
        #expect(b["max_tokens"] as? Int == 50)
        #expect(b["stop"] as? [String] == ["\n\n"])
        #expect(b["top_p"] as? Double == 0.9)
        #expect(b["presence_penalty"] as? Double == 0.1)
        #expect(b["frequency_penalty"] as? Double == 0.2)
        #expect(b["seed"] as? Int == 7)
        #expect(b["user"] as? String == "tester")
        #expect(b["parallel_tool_calls"] as? Bool == false)
        #expect((b["messages"] as? [[String: Any]])?.first?["content"] as? String == "Weather in Boston?")
    }

    @Test("openai chat output as Promptfoo makes it: function_call object, message with text and tool calls, refusal, json_schema parsed, reasoning")
    func chatOutputShapes() throws {
        func out(_ message: String, cfg: String = "{}") throws -> JSONValue {
            let reply = try JSONValue.parseStrict(#"{"choices":[{"finish_reason":"stop","message":\#(message)}]}"#)
            switch EvalProviderCaller.openAIChatOutput(reply, cfg: try JSONValue.parseStrict(cfg).objectValue!) {
            case .success(let r): return r.0
            case .failure(let f): throw f
            }
        }
        let fn = try out(#"{"role":"assistant","content":null,"function_call":{"name":"f","arguments":"{}"}}"#)
        #expect(fn["name"]?.stringValue == "f")
        let both = try out(#"{"role":"assistant","content":"calling","tool_calls":[{"id":"1","type":"function","function":{"name":"g","arguments":"{}"}}]}"#)
        #expect(both["content"]?.stringValue == "calling" && both["tool_calls"]?.arrayValue?.count == 1)
        #expect(try out(#"{"role":"assistant","content":"text","tool_calls":[]}"#).stringValue == "text")
        #expect(try out(#"{"role":"assistant","content":null,"refusal":"I can't"}"#).stringValue == "I can't")
        let parsed = try out(#"{"role":"assistant","content":"{\"a\":1}"}"#, cfg: #"{"response_format":{"type":"json_schema"}}"#)
        #expect(parsed["a"]?.doubleValue == 1)
        #expect(try out(#"{"role":"assistant","content":"{\"a\":1}"}"#).stringValue == "{\"a\":1}", "json_object stays text")
        #expect(try out(#"{"role":"assistant","content":"42","reasoning":"add"}"#).stringValue == "Thinking: add\n\n42")
        #expect(try out(#"{"role":"assistant","content":"42","reasoning":"add"}"#, cfg: #"{"showThinking":false}"#).stringValue == "42")
        // Reasoning models: no temperature or max_tokens; reasoning_effort and max_completion_tokens sent.
        let cfg = try JSONValue.parseStrict(#"{"temperature":0,"max_tokens":9,"max_completion_tokens":99,"reasoning_effort":"low"}"#).objectValue!
        let o3 = EvalProviderCaller.openAIChatBody(model: "o3-mini", prompt: "hi", cfg: cfg)
        #expect(o3["temperature"] == nil && o3["max_tokens"] == nil)
        #expect(o3["reasoning_effort"]?.stringValue == "low" && o3["max_completion_tokens"]?.doubleValue == 99)
        let gpt4 = EvalProviderCaller.openAIChatBody(model: "gpt-4o", prompt: "hi", cfg: cfg)
        #expect(gpt4["temperature"]?.doubleValue == 0 && gpt4["max_tokens"]?.doubleValue == 9 && gpt4["reasoning_effort"] == nil)
    }

    @Test("openai:responses posts /v1/responses with input, instructions, text.format, max_output_tokens, reasoning, tools; reads output items")
    func responsesAPI() throws {
        let reply = """
            {"id":"resp_1","object":"response","status":"completed","model":"o4-mini","output":[
              {"type":"reasoning","summary":[]},
              {"type":"function_call","call_id":"call_9","name":"lookup","arguments":"{\\"q\\":\\"x\\"}","status":"completed"},
              {"type":"message","role":"assistant","content":[{"type":"output_text","text":"done"}]}],
             "usage":{"input_tokens":11,"output_tokens":6,"total_tokens":17}}
            """
        let server = try ScriptedHTTPServer(steps: [], default: .json(200, reply))
        defer { server.stop() }
        let dir = TestPaths.scratch("model-apis-responses")
        try Self.write(dir, [
            "promptfooconfig.yaml": """
            prompts: ['Find {{q}}']
            providers:
              - id: openai:responses:o4-mini
                config:
                  apiBaseUrl: \(server.baseURL)/v1
                  instructions: Be brief.
                  max_output_tokens: 200
                  reasoning_effort: medium
                  temperature: 0.3
                  tools: [{type: function, name: lookup, parameters: {type: object, properties: {q: {type: string}}}}]
                  response_format:
                    type: json_schema
                    json_schema: {name: answer, strict: true, schema: {type: object, properties: {a: {type: string}}}}
            tests:
              - vars: {q: x}
                assert: [{type: contains, value: lookup}, {type: contains, value: done}]
            """,
        ])
        let suite = try EvalSuite.load(from: dir.appendingPathComponent("promptfooconfig.yaml"))
        #expect(!suite.warnings.contains { $0.key.hasPrefix("providers[0]") }, "\(suite.warnings)")
        let run = try Self.run(dir, env: ["OPENAI_API_KEY": "sk-r"])
        let row = try #require(run.rows.first)
        #expect(row.status == .passed, "\(row.error ?? "") \(row.response?.output.jsonString ?? "")")
        #expect(row.response?.tokenUsage?.total == 17)
        #expect(row.response?.output.stringValue?.hasSuffix("\ndone") == true)
        let req = try #require(server.requests().first)
        #expect(req.path == "/v1/responses")
        let b = Self.body(req)
        #expect(b["input"] as? String == "Find x")
        #expect(b["instructions"] as? String == "Be brief.")
        #expect(b["max_output_tokens"] as? Int == 200)
        #expect((b["reasoning"] as? [String: Any])?["effort"] as? String == "medium")
        #expect(b["temperature"] == nil, "o-series models take no temperature")
        let format = ((b["text"] as? [String: Any])?["format"] as? [String: Any]) ?? [:]
        #expect(format["type"] as? String == "json_schema" && format["name"] as? String == "answer" && format["strict"] as? Bool == true)
        #expect((b["tools"] as? [[String: Any]])?.first?["name"] as? String == "lookup")
        // A refusal and a missing output list.
        let refusal = try JSONValue.parseStrict(#"{"output":[{"type":"message","role":"assistant","content":[{"type":"refusal","refusal":"no"}]}]}"#)
        if case .success(let r) = EvalProviderCaller.openAIResponsesOutput(refusal, cfg: JSONObject()) { #expect(r.0.stringValue == "no") } else { Issue.record("refusal") }
        if case .success = EvalProviderCaller.openAIResponsesOutput(.obj([("output", .array([]))]), cfg: JSONObject()) { Issue.record("empty output must fail") }
    }

    @Test("anthropic:messages: /v1/messages with x-api-key, anthropic-version, system split out, default max_tokens; text and tool_use output")
    func anthropicMessages() throws {
        let reply = """
            {"id":"msg_1","type":"message","role":"assistant","model":"claude-x","stop_reason":"end_turn",
             "content":[{"type":"text","text":"Bonjour"}],"usage":{"input_tokens":12,"output_tokens":3}}
            """
        let server = try ScriptedHTTPServer(steps: [], default: .json(200, reply))
        defer { server.stop() }
        let dir = TestPaths.scratch("model-apis-anthropic")
        try Self.write(dir, [
            "chat.json": #"[{"role": "system", "content": "You translate."}, {"role": "user", "content": "Translate {{text}}"}]"#,
            "promptfooconfig.yaml": """
            prompts: [file://chat.json]
            providers:
              - id: anthropic:messages:claude-x
                config: {temperature: 0}
              - id: anthropic:claude-y
                config: {apiKeyEnvar: OTHER_KEY, apiBaseUrl: \(server.baseURL), max_tokens: 64}
            tests:
              - vars: {text: hello}
                assert: [{type: icontains, value: bonjour}]
            """,
        ])
        let run = try Self.run(dir, env: ["ANTHROPIC_API_KEY": "ak-1", "OTHER_KEY": "ak-2", "ANTHROPIC_BASE_URL": server.baseURL])
        #expect(run.rows.count == 2)
        #expect(run.rows.allSatisfy { $0.status == .passed }, "\(run.rows.map { $0.error ?? "" })")
        #expect(run.rows.first?.response?.tokenUsage?.total == 15)
        let reqs = server.requests()
        #expect(reqs.count == 2 && reqs.allSatisfy { $0.path == "/v1/messages" })
        #expect(Set(reqs.compactMap { Self.header($0, "x-api-key") }) == ["ak-1", "ak-2"])
        #expect(reqs.allSatisfy { Self.header($0, "anthropic-version") == "2023-06-01" && Self.header($0, "Authorization") == nil })
        let x = try #require(reqs.map(Self.body).first { $0["model"] as? String == "claude-x" })
        #expect(x["system"] as? String == "You translate.")
        #expect((x["messages"] as? [[String: Any]])?.map { $0["role"] as? String } == ["user"])
        #expect(x["max_tokens"] as? Int == 1024 && x["temperature"] as? Int == 0)
        let y = try #require(reqs.map(Self.body).first { $0["model"] as? String == "claude-y" })
        #expect(y["max_tokens"] as? Int == 64)
        // tool_use blocks are the JSON of the block, as Promptfoo gives them; errors become error messages.
        let tool = try JSONValue.parseStrict(#"{"content":[{"type":"text","text":"a"},{"type":"tool_use","id":"t","name":"f","input":{"x":1}}]}"#)
        if case .success(let r) = EvalProviderCaller.anthropicOutput(tool) {
            #expect(r.0.stringValue?.hasPrefix("a\n\n{") == true && r.1?.first?["function"]?["name"]?.stringValue == "f")
        } else { Issue.record("tool_use") }
    }

    @Test("an API error names the provider and never shows the key")
    func apiErrorRedactsKey() throws {
        let server = try ScriptedHTTPServer(steps: [], default: .json(400, #"{"error":{"message":"bad key sk-secret-123"}}"#))
        defer { server.stop() }
        let dir = TestPaths.scratch("model-apis-error")
        try Self.write(dir, ["promptfooconfig.yaml": "prompts: [hi]\nproviders:\n  - id: anthropic:messages:c\n    config: {apiBaseUrl: \(server.baseURL)}\ntests:\n  - assert: [{type: contains, value: x}]\n"])
        let run = try Self.run(dir, env: ["ANTHROPIC_API_KEY": "sk-secret-123"])
        let row = try #require(run.rows.first)
        #expect(row.status == .error)
        #expect(row.error?.contains("anthropic:messages:c") == true && row.error?.contains("400") == true, "\(row.error ?? "")")
        #expect(row.error?.contains("sk-secret-123") == false)
    }

    @Test("a provider Flywheel cannot call fails only its own column; with none callable the load fails; model: gets a hint")
    func uncallableProviderColumn() throws {
        let dir = TestPaths.scratch("model-apis-uncallable")
        try Self.write(dir, ["promptfooconfig.yaml": "prompts: ['say {{w}}']\nproviders: [echo, 'bedrock:claude-3']\ntests:\n  - vars: {w: a}\n    assert: [{type: contains, value: say}]\n"])
        let suite = try EvalSuite.load(from: dir.appendingPathComponent("promptfooconfig.yaml"))
        #expect(suite.warnings.contains { $0.key == "providers[1]" && $0.reason.contains("bedrock:claude-3") })
        let run = try Self.run(dir, env: [:])
        #expect(run.rows.count == 2)
        #expect(run.rows.first { $0.providerId == "echo" }?.status == .passed)
        let bad = try #require(run.rows.first { $0.providerId == "bedrock:claude-3" })
        #expect(bad.status == .error && bad.error?.contains("bedrock:claude-3") == true)

        try Self.write(dir, ["promptfooconfig.yaml": "prompts: [a]\nproviders: ['bedrock:claude-3']\ntests:\n  - assert: [{type: equals, value: a}]\n"])
        #expect(throws: EvalSuiteError.self) { try EvalSuite.load(from: dir.appendingPathComponent("promptfooconfig.yaml")) }

        try Self.write(dir, ["promptfooconfig.yaml": "prompts: [a]\nproviders:\n  - model: python:provider.py\ntests:\n  - assert: [{type: equals, value: a}]\n"])
        do {
            _ = try EvalSuite.load(from: dir.appendingPathComponent("promptfooconfig.yaml"))
            Issue.record("model: must not load")
        } catch let e as EvalSuiteError {
            #expect(e.key == "providers[0].model" && e.line == 3 && e.reason.contains("id: python:provider.py"), "\(e)")
        }
    }
}
