import FlywheelSupport
import Foundation
internal import HTTP
import FlywheelModels

/// The model APIs a suite's providers call directly, as Promptfoo builds and reads them:
/// - `openai:MODEL` / `openai:chat:MODEL` → `POST {base}/chat/completions`;
/// - `openai:responses:MODEL` → `POST {base}/responses`;
/// - `anthropic:messages:MODEL` / `anthropic:MODEL` → `POST {base}/v1/messages`.
/// The request body is built from the provider's `config` merged with the prompt's `config` (the prompt wins); the keys
/// listed in ``openAIChatKeys``, ``openAIResponsesKeys`` and ``anthropicKeys`` are read, any other key is a load warning.
/// Calls go through the libcurl HTTP client with the model client's retry policy; the API key is sent only in a header
/// and removed from every error message.
extension EvalProviderCaller {
    /// Keys that only say where and how to connect.
    static let connectionKeys: Set<String> = ["apiBaseUrl", "apiHost", "apiKey", "apiKeyEnvar", "headers"]

    /// `config` keys an `openai:` chat provider reads.
    static let openAIChatKeys: Set<String> = connectionKeys.union([
        "temperature", "max_tokens", "max_completion_tokens", "seed", "top_p", "presence_penalty", "frequency_penalty",
        "functions", "function_call", "tools", "tool_choice", "response_format", "stop", "reasoning_effort", "user",
        "parallel_tool_calls", "metadata", "store", "passthrough", "verbosity", "showThinking",
    ])

    /// `config` keys an `openai:responses:` provider reads.
    static let openAIResponsesKeys: Set<String> = connectionKeys.union([
        "temperature", "max_output_tokens", "max_tokens", "max_completion_tokens", "top_p", "tools", "tool_choice",
        "response_format", "reasoning", "reasoning_effort", "instructions", "user", "parallel_tool_calls", "metadata",
        "store", "previous_response_id", "truncation", "passthrough", "seed",
    ])

    /// `config` keys an `anthropic:` provider reads.
    static let anthropicKeys: Set<String> = connectionKeys.union([
        "max_tokens", "temperature", "top_p", "top_k", "stop_sequences", "tools", "tool_choice", "system", "metadata",
        "thinking", "anthropic_version",
    ])

    /// The keys a provider id's API reads (nil: not one of these APIs).
    static func sentKeys(_ id: String) -> Set<String>? {
        if id.hasPrefix("openai:responses:") { return openAIResponsesKeys }
        if id.hasPrefix("openai:embedding") || id.hasPrefix("openai:assistant:") || id.hasPrefix("openai:realtime:") { return nil }
        if id.hasPrefix("openai:") { return openAIChatKeys }
        if isAnthropic(id) { return anthropicKeys }
        return nil
    }

    static func isAnthropic(_ id: String) -> Bool { id.hasPrefix("anthropic:") && !id.hasPrefix("anthropic:completion:") }

    /// Promptfoo's reasoning models (no `temperature`/`max_tokens`; `reasoning_effort` and `max_completion_tokens` sent).
    static func isReasoningModel(_ name: String) -> Bool {
        let n = name.split(separator: "/").last.map(String.init) ?? name
        return n.hasPrefix("o1") || n.hasPrefix("o3") || n.hasPrefix("o4") || n.hasPrefix("gpt-5") || n.hasPrefix("gpt-6")
            || n == "codex-mini-latest"
    }

    /// The provider's config with the prompt's config over it.
    static func mergedConfig(_ provider: EvalProvider, _ promptConfig: JSONValue?) -> JSONObject {
        var cfg = provider.config?.objectValue ?? JSONObject()
        for (k, v) in promptConfig?.objectValue?.pairs ?? [] { cfg[k] = v }
        return cfg
    }

    /// A prompt that is a JSON list of `{role, content}` messages is a chat; anything else is one user message.
    static func chatMessages(_ prompt: String) -> [JSONValue] {
        let t = JSText.trim(prompt)
        if t.hasPrefix("["), let arr = JSONValue.parseStrictOrNil(t)?.arrayValue, !arr.isEmpty,
           arr.allSatisfy({ $0["role"]?.stringValue != nil }) {
            return arr
        }
        return [.obj([("role", .string("user")), ("content", .string(prompt))])]
    }

    struct APIFailure: Error { var message: String }

    /// POSTs `body` as JSON, retrying 408/429/5xx and connection failures; returns the parsed reply and the latency.
    func postJSON(_ url: String, headers extra: [(String, String)], body: JSONValue, secret: String?) -> Result<(JSONValue, Double), APIFailure> {
        var headers: HTTPHeaders = ["Content-Type": "application/json", "Accept": "application/json"]
        for (k, v) in extra { headers[k] = v }
        let data = Data(body.jsonString.utf8)
        let retry = RetryPolicy(maxRetries: maxRetries)
        let started = Date()
        func redact(_ s: String) -> String {
            guard let secret, !secret.isEmpty else { return s }
            return s.replacingOccurrences(of: secret, with: "[redacted]")
        }
        var attempt = 0
        while true {
            var wait: Double? = nil
            var failure: String
            do {
                let r = try HTTPClient().send(HTTPRequest(method: "POST", url: url, headers: headers, body: data, timeout: timeout,
                                                          connectTimeout: min(10, timeout)))
                let text = r.text
                if (200..<300).contains(r.status) {
                    guard let json = JSONValue.parseStrictOrNil(text) else {
                        return .failure(APIFailure(message: redact("invalid JSON from \(url): \(String(text.prefix(500)))")))
                    }
                    return .success((json, Date().timeIntervalSince(started) * 1000))
                }
                failure = "API error: \(r.status)\n\(String(text.prefix(2000)))"
                guard RetryPolicy.isRetryable(status: r.status) else { return .failure(APIFailure(message: redact(failure))) }
                wait = RetryPolicy.parseRetryAfter(r.headers["Retry-After"], retryAfterMs: r.headers["retry-after-ms"])
            } catch {
                failure = "API call error: \(error.kind.rawValue) for \(url): \(error.message)"
                guard error.isTransient else { return .failure(APIFailure(message: redact(failure))) }
            }
            guard attempt < retry.maxRetries else { return .failure(APIFailure(message: redact(failure))) }
            let d = retry.delay(beforeRetry: attempt, retryAfter: wait)
            if d > 0 { Thread.sleep(forTimeInterval: d) }
            attempt += 1
        }
    }

    /// The base URL and key of an `openai:` provider: config `apiBaseUrl`/`apiHost`/`apiKey`/`apiKeyEnvar`, then the
    /// environment (`OPENAI_BASE_URL`, `OPENAI_API_BASE_URL`, `OPENAI_API_HOST`, `OPENAI_API_KEY`).
    func openAIConnection(_ cfg: JSONObject, suiteEnv: [String: String]) -> (base: String, key: String?) {
        var env = environment
        for (k, v) in suiteEnv { env[k] = v }
        var base: String = OpenAICompatibleModel.defaultBaseURL
        let envBase: String? = env["OPENAI_BASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
        if let b = cfg["apiBaseUrl"]?.stringValue { base = b } else if let h = cfg["apiHost"]?.stringValue { base = "https://\(h)/v1" }
        else if let b = envBase { base = b } else if let b = env["OPENAI_API_BASE_URL"] { base = b }
        else if let h = env["OPENAI_API_HOST"] { base = "https://\(h)/v1" }
        while base.hasSuffix("/") { base.removeLast() }
        let key = cfg["apiKey"]?.stringValue ?? env[cfg["apiKeyEnvar"]?.stringValue ?? "OPENAI_API_KEY"]
        return (base, key.flatMap { $0.isEmpty ? nil : $0 })
    }

    func extraHeaders(_ cfg: JSONObject) -> [(String, String)] {
        (cfg["headers"]?.objectValue?.pairs ?? []).map { ($0.key, $0.value.stringValue ?? $0.value.jsDisplayString) }
    }

    static func usage(_ u: JSONValue?) -> (EvalTokenUsage?, Usage?) {
        guard let u = u?.objectValue else { return (nil, nil) }
        let p = Int(u["prompt_tokens"]?.doubleValue ?? u["input_tokens"]?.doubleValue ?? 0)
        let c = Int(u["completion_tokens"]?.doubleValue ?? u["output_tokens"]?.doubleValue ?? 0)
        let t = Int(u["total_tokens"]?.doubleValue ?? Double(p + c))
        return (EvalTokenUsage(total: t, prompt: p, completion: c, numRequests: 1), Usage(promptTokens: p, completionTokens: c))
    }

    // MARK: chat completions

    /// The model name of `openai:[chat:|completion:|responses:]MODEL`.
    static func openAIModelName(_ id: String) -> (kind: String, model: String) {
        var parts = id.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        parts.removeFirst()
        var kind = "chat"
        if let f = parts.first, ["chat", "completion", "responses", "embedding", "embeddings"].contains(f), parts.count > 1 {
            kind = f
            parts.removeFirst()
        }
        return (kind, parts.joined(separator: ":"))
    }

    /// The chat-completions request body Promptfoo sends for `config`.
    static func openAIChatBody(model: String, prompt: String, cfg: JSONObject) -> JSONValue {
        var b = JSONObject()
        b["model"] = .string(model)
        b["messages"] = .array(chatMessages(prompt))
        let reasoning = isReasoningModel(model)
        for k in ["seed", "top_p", "presence_penalty", "frequency_penalty", "functions", "function_call", "tools", "tool_choice",
                  "response_format", "stop", "user", "parallel_tool_calls", "metadata", "store"] {
            if let v = cfg[k], !v.isNull { b[k] = v }
        }
        if !reasoning {
            if let v = cfg["temperature"], !v.isNull { b["temperature"] = v }
            if let v = cfg["max_tokens"], !v.isNull { b["max_tokens"] = v }
        }
        if let v = cfg["max_completion_tokens"], !v.isNull { b["max_completion_tokens"] = v }
        if let v = cfg["reasoning_effort"], !v.isNull, reasoning || model.contains("gpt-oss") { b["reasoning_effort"] = v }
        if let v = cfg["verbosity"], !v.isNull, model.hasPrefix("gpt-5") || model.hasPrefix("gpt-6") { b["verbosity"] = v }
        for (k, v) in cfg["passthrough"]?.objectValue?.pairs ?? [] { b[k] = v }
        return .object(b)
    }

    /// Promptfoo's chat output: the text; the message object when it has text and tool/function calls; the tool calls
    /// (or function call) when there is no text; a refusal's text; JSON parsed for a `json_schema` response format;
    /// `Thinking: …` before the text when the message carries reasoning (unless `showThinking: false`).
    static func openAIChatOutput(_ reply: JSONValue, cfg: JSONObject) -> Result<(JSONValue, finish: String?, toolCalls: [JSONValue]?), APIFailure> {
        guard let choice = reply["choices"]?.arrayValue?.first, let message = choice["message"]?.objectValue else {
            if let e = reply["error"], !e.isNull { return .failure(APIFailure(message: "API error: \(e["message"]?.stringValue ?? e.jsonString)")) }
            return .failure(APIFailure(message: "API error: no choices in \(String(reply.jsonString.prefix(500)))"))
        }
        let finish = choice["finish_reason"]?.stringValue
        let content = message["content"]
        let tools = message["tool_calls"].flatMap { $0.isNull ? nil : $0 }
        let fn = message["function_call"].flatMap { $0.isNull ? nil : $0 }
        let toolCalls = tools?.arrayValue
        if let r = message["refusal"]?.stringValue, !r.isEmpty { return .success((.string(r), finish, toolCalls)) }
        var output: JSONValue
        let text = content?.stringValue
        if let reasoning = (message["reasoning"] ?? message["reasoning_content"])?.stringValue, !reasoning.isEmpty {
            output = .string(text ?? "")
            if cfg["showThinking"]?.boolValue != false { output = .string("Thinking: \(reasoning)\n\n\(text ?? "")") }
        } else if let text, !text.isEmpty, fn != nil || tools != nil {
            output = toolCalls?.isEmpty == true ? .string(text) : .object(message)
        } else if content == nil || content?.isNull == true || (text == "" && tools != nil) {
            output = fn ?? tools ?? .null
        } else {
            output = content ?? .null
        }
        if cfg["response_format"]?["type"]?.stringValue == "json_schema", let s = output.stringValue, let j = JSONValue.parseStrictOrNil(s) {
            output = j
        }
        return .success((output, finish, toolCalls))
    }

    /// `openai:MODEL`, `openai:chat:MODEL`, `openai:responses:MODEL`; config: ``openAIChatKeys`` / ``openAIResponsesKeys``.
    func callOpenAI(_ provider: EvalProvider, prompt: String, promptConfig: JSONValue?, suiteEnv: [String: String]) -> EvalOutput {
        let (kind, modelName) = Self.openAIModelName(provider.id)
        if kind == "embedding" || kind == "embeddings" {
            return EvalOutput(output: .null, error: "\(provider.id) is an embedding model: use it as the provider of `similar` (defaultTest.options.provider), not as a suite provider")
        }
        guard !modelName.isEmpty else { return EvalOutput(output: .null, error: "\(provider.id): no model name") }
        let cfg = Self.mergedConfig(provider, promptConfig)
        let (base, key) = openAIConnection(cfg, suiteEnv: suiteEnv)
        var headers = extraHeaders(cfg)
        if let key { headers.insert(("Authorization", "Bearer \(key)"), at: 0) }
        if kind == "responses" {
            let body = Self.openAIResponsesBody(model: modelName, prompt: prompt, cfg: cfg)
            switch postJSON(base + "/responses", headers: headers, body: body, secret: key) {
            case .failure(let f): return EvalOutput(output: .null, error: "\(f.message) (\(provider.id))")
            case .success(let (reply, ms)):
                let (usage, u) = Self.usage(reply["usage"])
                switch Self.openAIResponsesOutput(reply, cfg: cfg) {
                case .failure(let f): return EvalOutput(output: .null, latencyMs: ms, tokenUsage: usage, error: f.message)
                case .success(let (out, calls)):
                    return EvalOutput(output: out, latencyMs: ms, cost: u.flatMap { ModelPricing.openAI.cost(model: modelName, usage: $0) },
                                      tokenUsage: usage, finishReason: reply["status"]?.stringValue == "completed" ? "stop" : reply["status"]?.stringValue,
                                      toolCalls: calls)
                }
            }
        }
        let body = Self.openAIChatBody(model: modelName, prompt: prompt, cfg: cfg)
        switch postJSON(base + "/chat/completions", headers: headers, body: body, secret: key) {
        case .failure(let f): return EvalOutput(output: .null, error: "\(f.message) (\(provider.id))")
        case .success(let (reply, ms)):
            let (usage, u) = Self.usage(reply["usage"])
            switch Self.openAIChatOutput(reply, cfg: cfg) {
            case .failure(let f): return EvalOutput(output: .null, latencyMs: ms, tokenUsage: usage, error: f.message)
            case .success(let (out, finish, calls)):
                let model = reply["model"]?.stringValue ?? modelName
                return EvalOutput(output: out, latencyMs: ms, cost: u.flatMap { ModelPricing.openAI.cost(model: model, usage: $0) },
                                  tokenUsage: usage, finishReason: finish, toolCalls: calls)
            }
        }
    }

    // MARK: responses

    /// The Responses API body: `input` (the prompt, or its chat messages), `instructions`, `max_output_tokens`,
    /// `reasoning` (`reasoning` or `{effort: reasoning_effort}`, reasoning models), `text.format` from `response_format`,
    /// tools and the other keys as given.
    static func openAIResponsesBody(model: String, prompt: String, cfg: JSONObject) -> JSONValue {
        var b = JSONObject()
        b["model"] = .string(model)
        let msgs = chatMessages(prompt)
        b["input"] = msgs.count == 1 && msgs[0]["role"]?.stringValue == "user" && msgs[0]["content"]?.stringValue == prompt ? .string(prompt) : .array(msgs)
        let reasoning = isReasoningModel(model)
        if let v = cfg["instructions"], !v.isNull { b["instructions"] = v }
        if let v = cfg["max_output_tokens"] ?? cfg["max_completion_tokens"] ?? cfg["max_tokens"], !v.isNull { b["max_output_tokens"] = v }
        if let r = cfg["reasoning"], !r.isNull { b["reasoning"] = r } else if let e = cfg["reasoning_effort"], !e.isNull, reasoning {
            b["reasoning"] = .obj([("effort", e)])
        }
        if !reasoning, let v = cfg["temperature"], !v.isNull { b["temperature"] = v }
        for k in ["top_p", "tools", "tool_choice", "user", "parallel_tool_calls", "metadata", "store", "previous_response_id", "truncation", "seed"] {
            if let v = cfg[k], !v.isNull { b[k] = v }
        }
        if let rf = cfg["response_format"]?.objectValue {
            var format = JSONObject()
            switch rf["type"]?.stringValue {
            case "json_schema":
                let s = rf["json_schema"]?.objectValue ?? rf
                format["type"] = .string("json_schema")
                format["name"] = s["name"] ?? .string("response")
                if let schema = s["schema"] { format["schema"] = schema }
                if let strict = s["strict"] { format["strict"] = strict }
            case let t?: format["type"] = .string(t)
            case nil: break
            }
            if !format.isEmpty { b["text"] = .obj([("format", .object(format))]) }
        }
        for (k, v) in cfg["passthrough"]?.objectValue?.pairs ?? [] { b[k] = v }
        return .object(b)
    }

    /// Promptfoo's Responses output: the assistant messages' `output_text`, function calls as their JSON, reasoning
    /// summaries as `Reasoning: …`, joined by newlines; a refusal's text; JSON parsed for a `json_schema` format.
    static func openAIResponsesOutput(_ reply: JSONValue, cfg: JSONObject) -> Result<(JSONValue, [JSONValue]?), APIFailure> {
        if let e = reply["error"], !e.isNull { return .failure(APIFailure(message: "API error: \(e["message"]?.stringValue ?? e.jsonString)")) }
        guard let items = reply["output"]?.arrayValue, !items.isEmpty else {
            return .failure(APIFailure(message: "Invalid response format: Missing output array"))
        }
        var parts: [String] = []
        var refusal: String? = nil
        var calls: [JSONValue] = []
        for item in items {
            switch item["type"]?.stringValue {
            case "function_call":
                parts.append(item.jsonString)
                calls.append(.obj([("id", item["call_id"] ?? item["id"] ?? .null), ("type", .string("function")),
                                   ("function", .obj([("name", item["name"] ?? .null), ("arguments", item["arguments"] ?? .string("{}"))]))]))
            case "message":
                guard item["role"]?.stringValue == "assistant" else { continue }
                var text = ""
                for c in item["content"]?.arrayValue ?? [] {
                    switch c["type"]?.stringValue {
                    case "output_text": text += c["text"]?.stringValue ?? ""
                    case "refusal": refusal = c["refusal"]?.stringValue ?? ""
                    case "function_call", "tool_use": text = c.jsonString
                    default: break
                    }
                }
                if let r = item["refusal"]?.stringValue { refusal = r }
                if !text.isEmpty { parts.append(text) }
            case "reasoning":
                let s = (item["summary"]?.arrayValue ?? []).compactMap { $0["text"]?.stringValue }
                if !s.isEmpty { parts.append("Reasoning: " + s.joined(separator: "\n")) }
            case "tool_result":
                parts.append(item.jsonString)
            default:
                continue
            }
        }
        if let refusal { return .success((.string(refusal), calls.isEmpty ? nil : calls)) }
        var output: JSONValue = .string(parts.joined(separator: "\n"))
        if cfg["response_format"]?["type"]?.stringValue == "json_schema", let j = JSONValue.parseStrictOrNil(output.stringValue ?? "") { output = j }
        return .success((output, calls.isEmpty ? nil : calls))
    }

    // MARK: anthropic

    /// The Anthropic Messages body: system messages split out into `system`, `max_tokens` (default 1024), the other
    /// keys as given.
    static func anthropicBody(model: String, prompt: String, cfg: JSONObject) -> JSONValue {
        var b = JSONObject()
        b["model"] = .string(model)
        var system: [String] = []
        var messages: [JSONValue] = []
        for m in chatMessages(prompt) {
            let role = m["role"]?.stringValue ?? "user"
            let content = m["content"] ?? .string("")
            if role == "system" { system.append(content.stringValue ?? content.jsonString); continue }
            messages.append(.obj([("role", .string(role == "assistant" ? "assistant" : "user")), ("content", content)]))
        }
        if let s = cfg["system"], !s.isNull { b["system"] = s } else if !system.isEmpty { b["system"] = .string(system.joined(separator: "\n\n")) }
        b["messages"] = .array(messages)
        b["max_tokens"] = cfg["max_tokens"] ?? .int(1024)
        for k in ["temperature", "top_p", "top_k", "stop_sequences", "tools", "tool_choice", "metadata", "thinking"] {
            if let v = cfg[k], !v.isNull { b[k] = v }
        }
        return .object(b)
    }

    /// Promptfoo's Anthropic output: the text blocks joined by blank lines, a `tool_use` block as its JSON; thinking as
    /// `Thinking: …` first.
    static func anthropicOutput(_ reply: JSONValue) -> Result<(JSONValue, [JSONValue]?), APIFailure> {
        if let e = reply["error"], !e.isNull { return .failure(APIFailure(message: "API error: \(e["message"]?.stringValue ?? e.jsonString)")) }
        guard let blocks = reply["content"]?.arrayValue else {
            return .failure(APIFailure(message: "API error: no content in \(String(reply.jsonString.prefix(500)))"))
        }
        var parts: [String] = []
        var calls: [JSONValue] = []
        for b in blocks {
            switch b["type"]?.stringValue {
            case "text": parts.append(b["text"]?.stringValue ?? "")
            case "tool_use":
                parts.append(b.jsonString)
                calls.append(.obj([("id", b["id"] ?? .null), ("type", .string("function")),
                                   ("function", .obj([("name", b["name"] ?? .null), ("arguments", .string((b["input"] ?? .obj([])).jsonString))]))]))
            case "thinking": parts.append("Thinking: \(b["thinking"]?.stringValue ?? "")")
            default: continue
            }
        }
        return .success((.string(parts.joined(separator: "\n\n")), calls.isEmpty ? nil : calls))
    }

    /// `anthropic:messages:MODEL` or `anthropic:MODEL`: `POST {apiBaseUrl | ANTHROPIC_BASE_URL | https://api.anthropic.com}/v1/messages`
    /// with `x-api-key` (config `apiKey`, the `apiKeyEnvar` variable, else `ANTHROPIC_API_KEY`).
    func callAnthropic(_ provider: EvalProvider, prompt: String, promptConfig: JSONValue?, suiteEnv: [String: String]) -> EvalOutput {
        var rest = String(provider.id.dropFirst("anthropic:".count))
        if rest.hasPrefix("messages:") { rest = String(rest.dropFirst("messages:".count)) }
        guard !rest.isEmpty else { return EvalOutput(output: .null, error: "\(provider.id): no model name") }
        let cfg = Self.mergedConfig(provider, promptConfig)
        var env = environment
        for (k, v) in suiteEnv { env[k] = v }
        var base = cfg["apiBaseUrl"]?.stringValue ?? env["ANTHROPIC_BASE_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? "https://api.anthropic.com"
        while base.hasSuffix("/") { base.removeLast() }
        if base.hasSuffix("/v1") { base.removeLast(3) }
        let key = (cfg["apiKey"]?.stringValue ?? env[cfg["apiKeyEnvar"]?.stringValue ?? "ANTHROPIC_API_KEY"]).flatMap { $0.isEmpty ? nil : $0 }
        var headers = extraHeaders(cfg)
        headers.insert(("anthropic-version", cfg["anthropic_version"]?.stringValue ?? "2023-06-01"), at: 0)
        if let key { headers.insert(("x-api-key", key), at: 0) }
        let body = Self.anthropicBody(model: rest, prompt: prompt, cfg: cfg)
        switch postJSON(base + "/v1/messages", headers: headers, body: body, secret: key) {
        case .failure(let f): return EvalOutput(output: .null, error: "\(f.message) (\(provider.id))")
        case .success(let (reply, ms)):
            let (usage, _) = Self.usage(reply["usage"])
            switch Self.anthropicOutput(reply) {
            case .failure(let f): return EvalOutput(output: .null, latencyMs: ms, tokenUsage: usage, error: f.message)
            case .success(let (out, calls)):
                return EvalOutput(output: out, latencyMs: ms, tokenUsage: usage, finishReason: reply["stop_reason"]?.stringValue, toolCalls: calls)
            }
        }
    }
}
