@testable import Flywheel
@testable import FlywheelSupport
import Foundation
import Testing
import TestSupport
@testable import FlywheelEvals

/// Providers called for rows without a recorded output, against loopback servers and local commands.
@Suite("Evals providers")
struct EvalProvidersTests {
    /// An OpenAI-compatible server: chat answers "ECHO: <last user message>" with usage, and checks the bearer key;
    /// embeddings answer a bag-of-letters vector; every request is logged as one JSON line.
    static let server = #"""
    import http.server, json, sys, threading
    log = open(sys.argv[1], "a")
    lock = threading.Lock()
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a): pass
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            with lock:
                log.write(json.dumps({"path": self.path, "auth": self.headers.get("Authorization"), "body": body}) + "\n"); log.flush()
            if self.headers.get("Authorization") != "Bearer sk-loopback":
                return self.send(401, {"error": {"message": "bad key"}})
            if self.path.endswith("/chat/completions"):
                text = body["messages"][-1]["content"]
                self.send(200, {"id": "x", "object": "chat.completion", "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ECHO: " + text}}],
                    "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}})
            elif self.path.endswith("/embeddings"):
                inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                data = [{"index": i, "embedding": [s.lower().count(c) for c in "abcdefghijklmnopqrstuvwxyz"]} for i, s in enumerate(inputs)]
                self.send(200, {"data": data, "model": body["model"], "usage": {"prompt_tokens": 2, "total_tokens": 2}})
            else:
                self.send(404, {"error": {"message": "no route"}})
        def send(self, code, obj):
            b = json.dumps(obj).encode()
            self.send_response(code); self.send_header("Content-Type", "application/json"); self.send_header("Content-Length", str(len(b))); self.end_headers()
            self.wfile.write(b)
    s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    print(s.server_address[1], flush=True)
    s.serve_forever()
    """#

    static func startServer(_ dir: URL) throws -> (PythonServer, URL) {
        let log = dir.appendingPathComponent("requests.jsonl")
        return (try PythonServer(script: server, arguments: [log.path], in: dir), log)
    }

    static func requests(_ log: URL) -> [[String: Any]] {
        ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    static func caller(_ dir: URL, allow: Bool = true, env: [String: String] = [:], inherited: [String: String]? = nil) -> EvalProviderCaller {
        EvalProviderCaller(policy: EvalScriptPolicy(allowScripts: allow, disabledReason: "scripts are off", workingDirectory: dir,
                                                    inheritedEnvironment: inherited),
                           environment: env, maxRetries: 0, timeout: 20)
    }

    @Test("openai:chat with apiBaseUrl and apiKeyEnvar: rows graded on the server's answers, with tokens, latency; cached per prompt")
    func openAIChat() throws {
        let dir = TestPaths.scratch("providers-openai")
        let (server, log) = try Self.startServer(dir)
        defer { server.stop() }
        let suite = try EvalSuite.parse(yaml: """
            prompts: ["Say {{word}}"]
            providers:
              - id: openai:chat:local-model
                config: {apiBaseUrl: "http://127.0.0.1:\(server.port)/v1", apiKeyEnvar: LOCAL_KEY, temperature: 0}
              - id: openai:other-model
            evaluateOptions: {maxConcurrency: 3}
            tests:
              - vars: {word: [apple, pear, plum]}
                assert: [{type: starts-with, value: "ECHO: Say"}]
              - vars: {word: apple}
                assert: [{type: contains, value: banana}]
            """, file: dir.appendingPathComponent("s.yaml"))
        let env = ["LOCAL_KEY": "sk-loopback", "OPENAI_BASE_URL": "http://127.0.0.1:\(server.port)/v1", "OPENAI_API_KEY": "sk-loopback"]
        let run = EvalRunner(engine: EvalAssertionEngine(scripts: nil), providers: Self.caller(dir, env: env)).grade(suite: suite)
        #expect(run.rows.count == 8)
        #expect(run.rows.filter { $0.status == .passed }.count == 6, "\(run.rows.map { "\($0.status) \($0.error ?? "")" })")
        #expect(run.rows.filter { $0.status == .failed }.count == 2)
        let first = try #require(run.rows.first)
        #expect(first.response?.output.stringValue == "ECHO: Say apple")
        #expect(first.response?.tokenUsage?.total == 10)
        #expect(first.response?.finishReason == "stop")
        #expect(run.summary.tokenUsage.total > 0)
        let reqs = Self.requests(log)
        #expect(reqs.allSatisfy { $0["auth"] as? String == "Bearer sk-loopback" })
        #expect(reqs.contains { (($0["body"] as? [String: Any])?["model"] as? String) == "other-model" })
        // "Say apple" for each provider was asked once: the second test's row came from the cache.
        let applePerModel = reqs.filter { (($0["body"] as? [String: Any])?["model"] as? String) == "local-model" }
            .filter { "\($0["body"]!)".contains("Say apple") }
        #expect(applePerModel.count == 1)
        #expect(run.rows.filter { $0.response?.cached == true }.count == 2)
    }

    @Test("an HTTP error is an ERROR row naming the provider; scripts off: no request at all, rows skipped")
    func openAIErrorsAndPolicy() throws {
        let dir = TestPaths.scratch("providers-openai-err")
        let (server, log) = try Self.startServer(dir)
        defer { server.stop() }
        let suite = try EvalSuite.parse(yaml: """
            prompts: ["{{q}}"]
            providers: [{id: "openai:chat:m", config: {apiBaseUrl: "http://127.0.0.1:\(server.port)/v1", apiKeyEnvar: WRONG_KEY}}]
            tests: [{vars: {q: hi}, assert: [{type: contains, value: hi}]}]
            """, file: dir.appendingPathComponent("s.yaml"))
        var run = EvalRunner(engine: EvalAssertionEngine(scripts: nil), providers: Self.caller(dir, env: ["WRONG_KEY": "sk-nope"])).grade(suite: suite)
        #expect(run.rows.first?.status == .error)
        #expect(run.rows.first?.error?.contains("openai:chat:m") == true, "\(run.rows.first?.error ?? "")")
        let before = Self.requests(log).count
        run = EvalRunner(engine: EvalAssertionEngine(scripts: nil), providers: Self.caller(dir, allow: false, env: ["WRONG_KEY": "sk-loopback"])).grade(suite: suite)
        #expect(run.rows.first?.status == .skipped)
        #expect(run.rows.first?.error?.contains("scripts are off") == true)
        #expect(Self.requests(log).count == before)
    }

    @Test("exec: runs the candidate agent as a command with the prompt, options and context as arguments")
    func execProvider() throws {
        try #require(toolExists("python3"))
        let dir = TestPaths.scratch("providers-exec")
        try """
            import json, os, sys
            prompt, options, context = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
            if context["vars"].get("fail"):
                sys.stderr.write("agent crashed"); sys.exit(3)
            print(f"answer to {prompt} ({context['vars']['q']}) key={os.environ.get('FLYWHEEL_PROVIDER_TEST_SECRET')}")
            """.write(to: dir.appendingPathComponent("agent.py"), atomically: true, encoding: .utf8)
        let suite = try EvalSuite.parse(yaml: """
            prompts: ["Q: {{q}}"]
            providers: ["exec: python3 agent.py"]
            tests:
              - vars: {q: refunds}
                assert: [{type: icontains, value: "answer to q: refunds"}, {type: contains, value: "key=None"}]
              - vars: {q: x, fail: true}
            """, file: dir.appendingPathComponent("s.yaml"))
        // A variable of Flywheel's own environment does not reach the command. (Injected rather than set with
        // setenv, which races with every other test thread reading the environment.)
        let caller = Self.caller(dir, inherited: ProcessInfo.processInfo.environment.merging(
            ["FLYWHEEL_PROVIDER_TEST_SECRET": "sk-from-flywheel-env"]) { $1 })
        let run = EvalRunner(engine: EvalAssertionEngine(scripts: nil), providers: caller).grade(suite: suite)
        #expect(run.rows.map(\.status) == [.passed, .error], "\(run.rows.map { $0.error ?? "" })")
        #expect(run.rows[1].error?.contains("agent crashed") == true)
        #expect(run.rows[0].latencyMs > 0)
    }

    @Test("file://provider.py[:fn]: Promptfoo's call_api contract, output, tokenUsage, cost and errors")
    func pythonProvider() throws {
        try #require(toolExists("python3"))
        let dir = TestPaths.scratch("providers-python")
        try """
            def call_api(prompt, options, context):
                print("noise on stdout")
                return {"output": prompt.upper() + " " + options["config"]["suffix"], "tokenUsage": {"total": 5, "prompt": 2, "completion": 3}, "cost": 0.25}

            async def other(prompt, options, context):
                return {"error": "model overloaded"}
            """.write(to: dir.appendingPathComponent("provider.py"), atomically: true, encoding: .utf8)
        let suite = try EvalSuite.parse(yaml: """
            prompts: ["hi {{name}}"]
            providers:
              - {id: file://provider.py, config: {suffix: "!"}}
              - file://provider.py:other
            tests:
              - vars: {name: bo}
                assert: [{type: equals, value: "HI BO !"}, {type: cost, threshold: 1}]
            """, file: dir.appendingPathComponent("s.yaml"), allowedRoots: [dir])
        let run = EvalRunner(engine: EvalAssertionEngine(scripts: nil), providers: Self.caller(dir)).grade(suite: suite)
        #expect(run.rows.map(\.status) == [.passed, .error], "\(run.rows.map { $0.error ?? "" })")
        #expect(run.rows[0].cost == 0.25 && run.rows[0].response?.tokenUsage?.total == 5)
        #expect(run.rows[1].error == "model overloaded")
        // A JavaScript provider file is refused at load time with the key.
        #expect(throws: EvalSuiteError.self) {
            try EvalSuite.parse(yaml: "prompts: [x]\nproviders: [file://p.js]\n", file: dir.appendingPathComponent("s2.yaml"))
        }
    }
}

/// `similar` through an embeddings endpoint (the loopback server's bag-of-letters vectors).
@Suite("Evals similar")
struct EvalSimilarTests {
    @Test("similar and not-similar: cosine of embeddings against the threshold, lists, provider from the assertion; skipped without an embedder")
    func similar() throws {
        let dir = TestPaths.scratch("providers-similar")
        let (server, log) = try EvalProvidersTests.startServer(dir)
        defer { server.stop() }
        let suite = try EvalSuite.parse(yaml: """
            prompts: ["{{q}}"]
            providers: [echo]
            tests:
              - vars: {q: abc abc}
                assert:
                  - {type: similar, value: cab, threshold: 0.99}
                  - {type: similar, value: [xyz, bca]}
                  - {type: not-similar, value: xyz}
              - vars: {q: abc}
                assert:
                  - type: similar
                    value: xyz
                    provider: {id: "openai:embedding:letters", config: {apiBaseUrl: "http://127.0.0.1:\(server.port)/v1", apiKeyEnvar: LETTERS_KEY}}
            """, file: dir.appendingPathComponent("s.yaml"))
        let caller = EvalProvidersTests.caller(dir, env: ["OPENAI_BASE_URL": "http://127.0.0.1:\(server.port)/v1", "OPENAI_API_KEY": "sk-loopback",
                                                          "LETTERS_KEY": "sk-loopback"])
        let engine = EvalAssertionEngine(scripts: nil, embedder: { p, t in try caller.embed(provider: p, texts: t) })
        let run = EvalRunner(engine: engine).grade(suite: suite)
        #expect(run.rows.map(\.status) == [.passed, .failed], "\(run.rows.map { $0.error ?? "" })")
        let comps = try #require(run.rows.first?.gradingResult?.componentResults)
        #expect(comps[0].reason == "Similarity 1.00 is greater than threshold 0.99")
        #expect(comps[2].reason == "Similarity 0.00 is less than threshold 0.75" && comps[2].score == 1)
        #expect(run.rows[1].error == "Similarity 0.00 is less than threshold 0.75")
        let models = EvalProvidersTests.requests(log).compactMap { ($0["body"] as? [String: Any])?["model"] as? String }
        #expect(models.contains("text-embedding-3-large") && models.contains("letters"))
        // Without an embedder the rows are skipped, never passed.
        let skipped = EvalRunner(engine: EvalAssertionEngine(scripts: nil)).grade(suite: suite)
        #expect(skipped.rows.map(\.status) == [.skipped, .skipped])
    }
}

/// Promptfoo's `http` provider against a loopback server.
@Suite("Evals http provider")
struct EvalHTTPProviderTests {
    static let server = #"""
    import http.server, json, sys, urllib.parse
    log = open(sys.argv[1], "a")
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a): pass
        def reply(self, code, obj):
            b = (obj if isinstance(obj, str) else json.dumps(obj)).encode()
            self.send_response(code); self.send_header("Content-Type", "application/json"); self.send_header("Content-Length", str(len(b))); self.end_headers()
            self.wfile.write(b)
        def do_GET(self):
            q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            log.write(json.dumps({"method": "GET", "path": self.path}) + "\n"); log.flush()
            self.reply(200, "plain " + q.get("q", [""])[0])
        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            log.write(json.dumps({"method": "POST", "path": self.path, "auth": self.headers.get("X-Api-Key"), "ctype": self.headers.get("Content-Type"), "body": raw.decode()}) + "\n"); log.flush()
            if self.path.startswith("/fail"):
                return self.reply(503, {"error": "overloaded"})
            if self.path.endswith("/moderations"):
                text = json.loads(raw)["input"]
                cats = {"harassment": "idiot" in text, "violence": "kill" in text, "sexual": False}
                return self.reply(200, {"id": "m", "model": json.loads(raw)["model"], "results": [{"flagged": any(cats.values()), "categories": cats}]})
            body = json.loads(raw)
            self.reply(200, {"result": {"choices": [{"text": "ANSWER to " + body["input"]["question"]}]}, "usage": 3})
    s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    print(s.server_address[1], flush=True)
    s.serve_forever()
    """#

    @Test("url, method, headers from env, JSON body template with {{prompt}}, transformResponse paths; errors are ERROR rows")
    func http() throws {
        let dir = TestPaths.scratch("providers-http")
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("requests.jsonl")
        let server = try PythonServer(script: Self.server, arguments: [log.path], in: dir)
        defer { server.stop() }
        let base = "http://127.0.0.1:\(server.port)"
        let suite = try EvalSuite.parse(yaml: """
            prompts: ["Q: {{question}}"]
            providers:
              - id: http
                label: json-api
                config:
                  url: \(base)/chat/{{route}}
                  method: POST
                  headers: {X-Api-Key: '{{env.SUPPORT_BOT_KEY}}'}
                  body: {input: {question: '{{prompt}}', lang: '{{lang | default("en")}}'}}
                  transformResponse: json.result.choices[0].text
              - id: \(base)/search
                label: get-api
                config:
                  method: GET
                  queryParams: {q: '{{question}}'}
              - id: https
                label: failing
                config: {url: \(base)/fail, body: 'raw {{prompt}}'}
            tests:
              - vars: {question: "where is my parcel?", route: v1}
                assert: [{type: contains, value: "parcel"}]
            """, file: dir.appendingPathComponent("s.yaml"))
        let run = EvalRunner(engine: EvalAssertionEngine(scripts: nil),
                             providers: EvalProvidersTests.caller(dir, env: ["SUPPORT_BOT_KEY": "k-123"])).grade(suite: suite)
        #expect(run.rows.count == 3)
        #expect(run.rows[0].response?.output == .string("ANSWER to Q: where is my parcel?"))
        #expect(run.rows[0].status == .passed)
        #expect(run.rows[1].response?.output == .string("plain where is my parcel?"))
        #expect(run.rows[2].status == .error)
        #expect(run.rows[2].error?.hasPrefix("HTTP call error: 503") == true, "\(run.rows[2].error ?? "")")
        let lines = ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let post = try #require(lines.first { ($0["path"] as? String) == "/chat/v1" })
        #expect(post["auth"] as? String == "k-123")
        #expect(post["ctype"] as? String == "application/json")
        #expect(post["body"] as? String == #"{"input":{"question":"Q: where is my parcel?","lang":"en"}}"#)
        #expect(lines.contains { ($0["path"] as? String) == "/search?q=where%20is%20my%20parcel%3F" }, "\(lines)")
        #expect(lines.contains { ($0["body"] as? String) == "raw Q: where is my parcel?" })
        // Paths are read natively; a path that names nothing gives null.
        #expect(EvalProviderCaller.path("json.a[1]['b']", json: JSONValue.parseStrictOrNil(#"{"a":[0,{"b":"x"}]}"#), text: "") == .some(.string("x")))
        #expect(EvalProviderCaller.path("json?.missing.x", json: .obj([]), text: "") == .some(nil))
        #expect(EvalProviderCaller.path("json.a.map(x => x)", json: .obj([]), text: "") == nil)
        // With scripts off nothing is called.
        let off = EvalRunner(engine: EvalAssertionEngine(scripts: nil), providers: EvalProvidersTests.caller(dir, allow: false)).grade(suite: suite)
        #expect(off.rows.allSatisfy { $0.status != .passed })
    }

    @Test("the on-disk cache answers a later run without calling the server; --no-cache (no folder) calls it again")
    func diskCache() throws {
        let dir = TestPaths.scratch("providers-http-cache")
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("requests.jsonl")
        let server = try PythonServer(script: Self.server, arguments: [log.path], in: dir)
        defer { server.stop() }
        let suite = try EvalSuite.parse(yaml: """
            prompts: ["{{q}}"]
            providers:
              - id: http://127.0.0.1:\(server.port)/chat
                config: {body: {input: {question: '{{prompt}}'}}, transformResponse: 'json.result.choices[0].text'}
            tests:
              - vars: {q: [one, two]}
            """, file: dir.appendingPathComponent("s.yaml"))
        func count() -> Int { ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").count }
        func run(cache: Bool) -> EvalRunResult {
            let caller = EvalProvidersTests.caller(dir)
            if cache { caller.diskCache = EvalProviderCaller.defaultDiskCache(in: dir) }
            return EvalRunner(engine: EvalAssertionEngine(scripts: nil), providers: caller).grade(suite: suite)
        }
        let first = run(cache: true)
        #expect(count() == 2)
        #expect(first.rows.map { $0.response?.output } == [.string("ANSWER to one"), .string("ANSWER to two")])
        let files = FileManager.default.enumerator(atPath: EvalProviderCaller.defaultDiskCache(in: dir).path)?.allObjects.compactMap { $0 as? String }.filter { $0.hasSuffix(".json") }
        #expect(files?.count == 2)
        let second = run(cache: true)
        #expect(count() == 2)   // no new request
        #expect(second.rows.map { $0.response?.output } == first.rows.map { $0.response?.output })
        #expect(second.rows.allSatisfy { $0.response?.cached == true && $0.response?.latencyMs == nil })
        _ = run(cache: false)
        #expect(count() == 4)
    }

    @Test("moderation: flagged categories of the output from a /moderations endpoint, optionally only the listed ones; skipped without one")
    func moderation() throws {
        let dir = TestPaths.scratch("providers-moderation")
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("requests.jsonl")
        let server = try PythonServer(script: Self.server, arguments: [log.path], in: dir)
        defer { server.stop() }
        let caller = EvalProvidersTests.caller(dir, env: ["OPENAI_BASE_URL": "http://127.0.0.1:\(server.port)/v1", "OPENAI_API_KEY": "k"])
        let engine = EvalAssertionEngine(scripts: nil, moderator: { p, t in try caller.moderate(provider: p, text: t) })
        let suite = try EvalSuite.parse(yaml: """
            prompts: ['{{reply}}']
            providers: [echo]
            tests:
              - vars: {reply: 'Happy to help with your order.'}
                assert: [{type: moderation}]
              - vars: {reply: 'you idiot, I will kill it'}
                assert: [{type: moderation}]
              - vars: {reply: 'you idiot'}
                assert: [{type: moderation, value: [violence]}]
            """, file: dir.appendingPathComponent("s.yaml"))
        let run = EvalRunner(engine: engine).grade(suite: suite)
        #expect(run.rows.map(\.status) == [.passed, .failed, .passed], "\(run.rows.map { $0.error ?? "" })")
        #expect(run.rows[0].gradingResult?.componentResults.first?.reason == "No relevant moderation flags detected")
        #expect(run.rows[1].error == "Moderation flags detected: harassment, violence")
        let bodies = ((try? String(contentsOf: log, encoding: .utf8)) ?? "")
        #expect(bodies.contains("omni-moderation-latest"))
        let none = EvalRunner(engine: EvalAssertionEngine(scripts: nil)).grade(suite: suite)
        #expect(none.rows.allSatisfy { $0.status == .skipped })
    }

    @Test("a transport error names the configured URL, never the rendered one (no {{env}} secret in the row)")
    func transportError() throws {
        let dir = TestPaths.scratch("providers-http-down")
        defer { try? FileManager.default.removeItem(at: dir) }
        let suite = try EvalSuite.parse(yaml: """
            prompts: ["{{q}}"]
            providers:
              - id: http
                config: {url: 'http://127.0.0.1:1/x?key={{env.BOT_SECRET}}', body: {q: '{{prompt}}'}}
            tests:
              - vars: {q: hi}
            """, file: dir.appendingPathComponent("s.yaml"))
        let run = EvalRunner(engine: EvalAssertionEngine(scripts: nil),
                             providers: EvalProvidersTests.caller(dir, env: ["BOT_SECRET": "sk-do-not-leak-123"])).grade(suite: suite)
        let error = run.rows.first?.error ?? ""
        #expect(run.rows.first?.status == .error)
        #expect(error.hasPrefix("HTTP call error: ") && error.contains("{{env.BOT_SECRET}}"), "\(error)")
        #expect(!error.contains("sk-do-not-leak-123"))
    }
}

