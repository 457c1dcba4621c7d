import FlywheelSupport
import Foundation
internal import HTTP

/// Promptfoo's `http` provider (`id: http`, `https`, or the URL itself): `config.url`, `method` (POST), `headers`,
/// `queryParams`, `body` (an object sent as JSON, or text), each rendered with the row's vars plus `prompt` and `env`;
/// the answer goes through `transformResponse`: a path over `json`/`text`/`data` (`json.choices[0].message.content`)
/// is read natively; any other expression runs as JavaScript (node). Without `transformResponse` the output is the
/// parsed JSON body, else the text. A non-2xx status is an error row: `HTTP call error: <status>\n<body>`.
extension EvalProviderCaller {
    static func isHTTP(_ id: String) -> Bool {
        id == "http" || id == "https" || id.hasPrefix("http://") || id.hasPrefix("https://") || id.hasPrefix("http:") || id.hasPrefix("https:")
    }

    func callHTTP(_ provider: EvalProvider, prompt: String, vars: JSONObject, suiteEnv: [String: String]) -> EvalOutput {
        let cfg = provider.config?.objectValue ?? JSONObject()
        var scope = vars
        scope["prompt"] = .string(prompt)
        var env = JSONObject()
        for (k, v) in environment.sorted(by: { $0.key < $1.key }) { env[k] = .string(v) }
        for (k, v) in suiteEnv.sorted(by: { $0.key < $1.key }) { env[k] = .string(v) }
        scope["env"] = .object(env)
        func render(_ s: String) throws -> String { try EvalTemplate.render(s, vars: scope) }
        func renderJSON(_ v: JSONValue) throws -> JSONValue {
            switch v {
            case .string(let s): return .string(try render(s))
            case .array(let a): return .array(try a.map(renderJSON))
            case .object(let o):
                var out = JSONObject()
                for (k, x) in o.pairs { out[k] = try renderJSON(x) }
                return .object(out)
            default: return v
            }
        }
        do {
            var url: String
            if let u = cfg["url"]?.stringValue { url = try render(u) } else if provider.id.contains("://") {
                url = provider.id.hasPrefix("http:") || provider.id.hasPrefix("https:") ? provider.id : String(provider.id.drop { $0 != ":" }.dropFirst())
            } else { return EvalOutput(output: .null, error: "\(provider.id): config.url is required") }
            if let q = cfg["queryParams"]?.objectValue, !q.isEmpty {
                var parts: [String] = []
                for (k, v) in q.pairs {
                    let val = try render(v.stringValue ?? v.jsDisplayString)
                    let enc = { (s: String) in s.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+?#"))) ?? s }
                    parts.append("\(enc(k))=\(enc(val))")
                }
                url += (url.contains("?") ? "&" : "?") + parts.joined(separator: "&")
            }
            let method = (cfg["method"]?.stringValue ?? "POST").uppercased()
            var headers = HTTPHeaders()
            var hasContentType = false
            for (k, v) in cfg["headers"]?.objectValue?.pairs ?? [] {
                headers[k] = try render(v.stringValue ?? v.jsDisplayString)
                if k.lowercased() == "content-type" { hasContentType = true }
            }
            var body: Data? = nil
            if let b = cfg["body"], method != "GET", method != "HEAD" {
                if let s = b.stringValue {
                    body = Data(try render(s).utf8)
                } else {
                    body = Data(try renderJSON(b).jsonString.utf8)
                    if !hasContentType { headers["Content-Type"] = "application/json" }
                }
            }
            let started = Date()
            let response: HTTPResponse
            do {
                response = try HTTPClient().send(HTTPRequest(method: method, url: url, headers: headers, body: body, timeout: timeout,
                                                             connectTimeout: min(10, timeout)))
            } catch {
                // Named by the URL as configured (a template), not as rendered: `{{env.KEY}}` in a query must not reach the results.
                let code = error.curlCode != 0 ? " (curl \(error.curlCode))" : ""
                return EvalOutput(output: .null, latencyMs: Date().timeIntervalSince(started) * 1000,
                                  error: "HTTP call error: \(error.kind.rawValue)\(code) for \(cfg["url"]?.stringValue ?? provider.id): \(error.message)")
            }
            let ms = Date().timeIntervalSince(started) * 1000
            let text = response.text
            guard (200..<300).contains(response.status) else {
                return EvalOutput(output: .null, latencyMs: ms, error: "HTTP call error: \(response.status)\n\(String(text.prefix(2000)))")
            }
            let json = JSONValue.parseStrictOrNil(text)
            var output: JSONValue = json ?? .string(text)
            if let t = cfg["transformResponse"]?.stringValue ?? cfg["responseParser"]?.stringValue {
                switch transformResponse(t, json: json, text: text) {
                case .success(let v): output = v
                case .failure(let e): return EvalOutput(output: .null, latencyMs: ms, error: "transformResponse failed: \(e.message)")
                }
            }
            if let o = output.objectValue, o["output"] != nil, cfg["transformResponse"] != nil, o.keys.allSatisfy({ ["output", "tokenUsage", "cost", "error", "metadata"].contains($0) }) {
                // A transform may return a ProviderResponse-shaped object.
                if let e = o["error"], !e.isNull { return EvalOutput(output: .null, latencyMs: ms, error: e.stringValue ?? e.jsonString) }
                return EvalOutput(output: o["output"] ?? .null, latencyMs: ms, cost: o["cost"]?.doubleValue,
                                  tokenUsage: o["tokenUsage"].map { EvalTokenUsage(json: $0) }, metadata: o["metadata"]?.objectValue)
            }
            return EvalOutput(output: output, latencyMs: ms)
        } catch let e as EvalTemplate.TemplateError {
            return EvalOutput(output: .null, error: "\(provider.id): \(e.message)")
        } catch {
            return EvalOutput(output: .null, error: "\(provider.id): \(error)")
        }
    }

    struct TransformFailure: Error { var message: String }

    /// A path over `json`, `data` (= json) or `text` — `json.a.b[0]["c"]`, optional chaining allowed — evaluated natively;
    /// anything else runs as JavaScript with `json` and `text` bound.
    func transformResponse(_ expr: String, json: JSONValue?, text: String) -> Result<JSONValue, TransformFailure> {
        let e = JSText.trim(expr)
        if e.hasPrefix("file://") { return .failure(TransformFailure(message: "transformResponse files are not supported (\(e))")) }
        if let v = Self.path(e, json: json, text: text) { return .success(v ?? .null) }
        let runner = SubprocessScriptRunner(policy: policy)
        let body = "const json = output.json; const data = output.json; const text = output.text;\n" + (e.contains("\n") || e.contains("return ") ? e : "return (\(e));")
        switch runner.run(EvalScriptRequest(language: .javascript, body: body, output: .obj([("json", json ?? .null), ("text", .string(text))]), context: .null)) {
        case .value(let v): return .success(v)
        case .failure(let m, _): return .failure(TransformFailure(message: m))
        case .unavailable(let why): return .failure(TransformFailure(message: "\(e) is not a plain path and needs JavaScript: \(why)"))
        case .timedOut: return .failure(TransformFailure(message: "timed out"))
        }
    }

    /// nil: not a plain path; .some(nil): a path that names nothing.
    static func path(_ e: String, json: JSONValue?, text: String) -> JSONValue?? {
        let c = Array(e.unicodeScalars)
        var i = 0
        func ident() -> String? {
            var s = ""
            while i < c.count, c[i].properties.isAlphabetic || c[i] == "_" || c[i] == "$" || (!s.isEmpty && c[i].value >= 0x30 && c[i].value <= 0x39) {
                s.unicodeScalars.append(c[i]); i += 1
            }
            return s.isEmpty ? nil : s
        }
        guard let root = ident() else { return nil }
        var cur: JSONValue?
        switch root {
        case "json", "data": cur = json
        case "text": cur = .string(text)
        default: return nil
        }
        while i < c.count {
            if c[i] == "?", i + 1 < c.count, c[i + 1] == "." { i += 1 }
            if c[i] == "." {
                i += 1
                if i < c.count, c[i] == "[" { continue }
                guard let k = ident() else { return nil }
                cur = EvalTemplate.member(cur, k)
            } else if c[i] == "[" {
                i += 1
                var key = ""
                if i < c.count, c[i] == "\"" || c[i] == "'" {
                    let q = c[i]; i += 1
                    while i < c.count, c[i] != q { key.unicodeScalars.append(c[i]); i += 1 }
                    i += 1
                } else {
                    while i < c.count, c[i].value >= 0x30 && c[i].value <= 0x39 { key.unicodeScalars.append(c[i]); i += 1 }
                    if key.isEmpty { return nil }
                }
                guard i < c.count, c[i] == "]" else { return nil }
                i += 1
                cur = EvalTemplate.member(cur, key)
            } else {
                return nil
            }
        }
        return .some(cur)
    }
}

extension EvalProviderCaller {
    static let defaultModerationProvider = "openai:moderation:omni-moderation-latest"

    /// The categories an OpenAI-compatible `/moderations` endpoint flags in `text` (`openai:moderation:MODEL`; base URL
    /// and key as for embeddings: the suite's `apiBaseUrl`/`apiKeyEnvar` only when scripts are allowed).
    public func moderate(provider: JSONValue?, text: String) throws -> [String] {
        let id = provider?.stringValue ?? provider?["id"]?.stringValue ?? Self.defaultModerationProvider
        guard id.hasPrefix("openai:moderation:") || id == "openai:moderation" else {
            throw EvalAssertionError("moderation: provider \(id) is not supported (openai:moderation:MODEL)")
        }
        let model = id == "openai:moderation" ? "omni-moderation-latest" : String(id.dropFirst("openai:moderation:".count))
        let cfg = policy.allowScripts ? (provider?["config"]?.objectValue ?? JSONObject()) : JSONObject()
        var base = cfg["apiBaseUrl"]?.stringValue ?? environment["OPENAI_BASE_URL"] ?? environment["OPENAI_API_BASE_URL"] ?? "https://api.openai.com/v1"
        while base.hasSuffix("/") { base.removeLast() }
        let key = cfg["apiKey"]?.stringValue ?? environment[cfg["apiKeyEnvar"]?.stringValue ?? "OPENAI_API_KEY"]
        var headers: HTTPHeaders = ["Content-Type": "application/json"]
        if let key, !key.isEmpty { headers["Authorization"] = "Bearer \(key)" }
        let body = JSONValue.obj([("model", .string(model)), ("input", .string(text))]).jsonString
        let response: HTTPResponse
        do {
            response = try HTTPClient().send(HTTPRequest(method: "POST", url: base + "/moderations", headers: headers, body: Data(body.utf8),
                                                         timeout: timeout, connectTimeout: min(10, timeout)))
        } catch { throw EvalAssertionError("moderation API error from \(id): \(error.description)") }
        guard (200..<300).contains(response.status) else {
            throw EvalAssertionError("moderation API error from \(id): HTTP \(response.status) \(String(response.text.prefix(500)))")
        }
        guard let results = JSONValue.parseStrictOrNil(response.text)?["results"]?.arrayValue else {
            throw EvalAssertionError("moderation API error from \(id): no results in the answer")
        }
        var flags: [String] = []
        for r in results {
            for (k, v) in r["categories"]?.objectValue?.pairs ?? [] where v.boolValue == true && !flags.contains(k) { flags.append(k) }
        }
        return flags
    }
}
