import Flywheel
import Foundation
import GitStore
import Testing
import TestSupport

/// `flywheel evals run`: the script policy, the no-provider error, loader warnings.
@Suite("CLI: evals run scripts policy and suite checks")
struct EvalsScriptsCLITests {
    /// A folder with a history, one open cycle, and `suite` committed as the history's suite (another writer).
    static func workspace(_ label: String, suite: String) throws -> URL {
        let dir = TestPaths.scratch(label)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("harness"), withIntermediateDirectories: true)
        try "Be brief.\n".write(to: dir.appendingPathComponent("harness/system.md"), atomically: true, encoding: .utf8)
        var r = try flywheel(["init"], in: dir)
        try #require(r.status == 0, "\(r.stderr)")
        r = try flywheel(["cycle", "start", "--harness", "harness"], in: dir)
        try #require(r.status == 0, "\(r.stderr)")
        let ws = try Workspace.resolve(repo: nil, ref: nil, cwd: dir)
        var changes = TreeChanges()
        changes.write(Layout.suite, text: suite)
        try ws.history.commitStage(.config, cycle: nil, title: "test: a suite with code, from another writer") { _ in changes }
        return dir
    }

    static let scriptSuite = """
        description: code in a suite
        prompts: ["{{q}}"]
        providers: [echo]
        tests:
          - vars: {q: hello}
            providerOutput: hello
            assert:
              - type: javascript
                value: output === 'hello'
          - vars: {q: env}
            providerOutput: x
            assert:
              - type: python
                value: "__import__('os').environ.get('FLYWHEEL_TEST_SECRET') is None"

        """

    static func summary(_ r: ProcessResult) throws -> [String: Any] {
        try #require(try json(r.stdout) as? [String: Any], "not JSON: \(r.stdout) \(r.stderr)")
    }

    @Test("a suite from the history runs no code unless allowed; --allow-scripts and loop.yaml allow it; --no-scripts wins")
    func historyScripts() throws {
        try #require(toolExists("node") && toolExists("python3"), "node and python3 are needed")
        let dir = try Self.workspace("scripts-policy", suite: Self.scriptSuite)
        let env = ["FLYWHEEL_TEST_SECRET": "sk-test-do-not-leak"]
        // Default: nothing runs, the rows are skipped (and count against the gate).
        var r = try flywheel(["evals", "run", "--json"], in: dir, env: env)
        var s = try Self.summary(r)
        #expect(r.status == 100)
        #expect(s["skipped"] as? Int == 2 && s["passed"] as? Int == 0, "\(s)")
        #expect(s["scripts_allowed"] as? Bool == false)
        // Allowed on the command line: both run, and the secret of Flywheel's environment is not visible to them.
        r = try flywheel(["evals", "run", "--json", "--allow-scripts"], in: dir, env: env)
        s = try Self.summary(r)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(s["passed"] as? Int == 2, "\(s)")
        // loop.yaml allows scripts and lists the variable: now the script sees it (and its assertion fails).
        let loopYAML = dir.appendingPathComponent("loop.yaml")
        let text = (try? String(contentsOf: loopYAML, encoding: .utf8)) ?? "project: scripts test\n"
        try (text + "\nevals:\n  allow_scripts: true\n  script_env: [FLYWHEEL_TEST_SECRET]\n").write(to: loopYAML, atomically: true, encoding: .utf8)
        r = try flywheel(["evals", "run", "--json"], in: dir, env: env)
        s = try Self.summary(r)
        #expect(s["passed"] as? Int == 1 && s["failed"] as? Int == 1, "\(s) \(r.stderr)")
        // --no-scripts beats loop.yaml.
        r = try flywheel(["evals", "run", "--json", "--no-scripts"], in: dir, env: env)
        s = try Self.summary(r)
        #expect(s["skipped"] as? Int == 2, "\(s)")
        // Both switches: a usage error.
        r = try flywheel(["evals", "run", "--allow-scripts", "--no-scripts"], in: dir)
        #expect(r.status == 2)
    }

    @Test("a suite the user names runs its code; --no-scripts skips it")
    func namedSuite() throws {
        try #require(toolExists("node"), "node is needed")
        let dir = TestPaths.scratch("scripts-named")
        try Self.scriptSuite.components(separatedBy: "  - vars: {q: env}")[0]
            .write(to: dir.appendingPathComponent("suite.yaml"), atomically: true, encoding: .utf8)
        var r = try flywheel(["evals", "run", "--suite", "suite.yaml", "--standalone", "--json"], in: dir)
        #expect(try Self.summary(r)["passed"] as? Int == 1, "\(r.stdout) \(r.stderr)")
        r = try flywheel(["evals", "run", "--suite", "suite.yaml", "--standalone", "--json", "--no-scripts"], in: dir)
        #expect(try Self.summary(r)["skipped"] as? Int == 1)
    }

    @Test("file:///abs vars are refused unless --allow-outside-files")
    func outsideVars() throws {
        let dir = TestPaths.scratch("scripts-outside")
        let secret = TestPaths.scratch("scripts-outside-secret").appendingPathComponent("key.txt")
        try "sk-outside".write(to: secret, atomically: true, encoding: .utf8)
        try """
            prompts: ["{{doc}}"]
            providers: [echo]
            tests:
              - vars: {doc: "file://\(secret.path)"}
                assert: [{type: contains, value: sk-outside}]

            """.write(to: dir.appendingPathComponent("suite.yaml"), atomically: true, encoding: .utf8)
        var r = try flywheel(["evals", "run", "--suite", "suite.yaml", "--standalone"], in: dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("suite.yaml:4") && r.stderr.contains("outside the working folder"), "\(r.stderr)")
        r = try flywheel(["evals", "run", "--suite", "suite.yaml", "--standalone", "--allow-outside-files"], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test("no providers and no recorded output: a clear error, not an echo pass")
    func noProviders() throws {
        let dir = TestPaths.scratch("scripts-noprov")
        try "prompts: [\"{{q}}\"]\ntests:\n  - vars: {q: hi}\n    assert: [{type: contains, value: hi}]\n"
            .write(to: dir.appendingPathComponent("suite.yaml"), atomically: true, encoding: .utf8)
        var r = try flywheel(["evals", "run", "--suite", "suite.yaml", "--standalone"], in: dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("at least 1 provider"), "\(r.stderr)")
        // With a recorded output on every test the suite grades as before.
        try "prompts: [\"{{q}}\"]\ntests:\n  - vars: {q: hi}\n    providerOutput: hi there\n    assert: [{type: contains, value: hi}]\n"
            .write(to: dir.appendingPathComponent("suite.yaml"), atomically: true, encoding: .utf8)
        r = try flywheel(["evals", "run", "--suite", "suite.yaml", "--standalone"], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test("loader warnings are printed, and listed in --json")
    func warnings() throws {
        let dir = TestPaths.scratch("scripts-warn")
        try "prompts: [\"{{q}}\"]\nproviders: [echo]\nsomethingElse: 1\ntests:\n  - vars: {q: hi}\n    assert: [{type: contains, value: hi}]\n"
            .write(to: dir.appendingPathComponent("suite.yaml"), atomically: true, encoding: .utf8)
        var r = try flywheel(["evals", "run", "--suite", "suite.yaml", "--standalone"], in: dir)
        #expect(r.status == 0)
        #expect(r.stderr.contains("warning:") && r.stderr.contains("suite.yaml:3") && r.stderr.contains("somethingElse"), "\(r.stderr)")
        r = try flywheel(["evals", "run", "--suite", "suite.yaml", "--standalone", "--json"], in: dir)
        let w = try #require(try Self.summary(r)["warnings"] as? [String])
        #expect(w.count == 1 && w[0].contains("somethingElse"))
    }

    @Test("exec: provider end to end: a named suite calls the agent command; the same suite from the history does not")
    func execProvider() throws {
        try #require(toolExists("python3"), "python3 is needed")
        let suite = """
            prompts: ["{{q}}"]
            providers: ["exec: python3 bot.py"]
            tests:
              - vars: {q: where is my order}
                assert: [{type: icontains, value: tracking}]

            """
        let bot = "import sys\nprint('Your tracking link is in the email for: ' + sys.argv[1])\n"
        let named = TestPaths.scratch("scripts-exec")
        try suite.write(to: named.appendingPathComponent("suite.yaml"), atomically: true, encoding: .utf8)
        try bot.write(to: named.appendingPathComponent("bot.py"), atomically: true, encoding: .utf8)
        var r = try flywheel(["evals", "run", "--suite", "suite.yaml", "--standalone", "--json"], in: named)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try Self.summary(r)["passed"] as? Int == 1)
        let dir = try Self.workspace("scripts-exec-history", suite: suite)
        try bot.write(to: dir.appendingPathComponent("bot.py"), atomically: true, encoding: .utf8)
        r = try flywheel(["evals", "run", "--json"], in: dir)
        #expect(try Self.summary(r)["skipped"] as? Int == 1, "\(r.stdout)")
        r = try flywheel(["evals", "run", "--json", "--allow-scripts"], in: dir)
        #expect(try Self.summary(r)["passed"] as? Int == 1, "\(r.stdout) \(r.stderr)")
    }

    @Test("an http provider's answers are cached on disk between runs; --no-cache calls the server again")
    func httpDiskCache() throws {
        let dir = TestPaths.scratch("evals-http-cache")
        let log = dir.appendingPathComponent("requests.log")
        let server = try PythonServer(script: #"""
            import http.server, json, sys
            log = open(sys.argv[1], "a")
            class H(http.server.BaseHTTPRequestHandler):
                def log_message(self, *a): pass
                def do_POST(self):
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                    log.write(body["message"] + "\n"); log.flush()
                    b = json.dumps({"reply": "Your tracking link is on its way: " + body["message"]}).encode()
                    self.send_response(200); self.send_header("Content-Type", "application/json"); self.send_header("Content-Length", str(len(b))); self.end_headers()
                    self.wfile.write(b)
            s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
            print(s.server_address[1], flush=True)
            s.serve_forever()
            """#, arguments: [log.path], in: dir)
        defer { server.stop() }
        try """
            prompts: ["{{q}}"]
            providers:
              - id: http://127.0.0.1:\(server.port)/bot
                config: {body: {message: '{{prompt}}'}, transformResponse: json.reply}
            tests:
              - vars: {q: where is my order}
                assert: [{type: icontains, value: tracking}]
            """.write(to: dir.appendingPathComponent("suite.yaml"), atomically: true, encoding: .utf8)
        func requests() -> Int { ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").count }
        var r = try flywheel(["evals", "run", "--suite", "suite.yaml", "--standalone", "--json"], in: dir)
        #expect(try Self.summary(r)["passed"] as? Int == 1, "\(r.stdout) \(r.stderr)")
        #expect(requests() == 1)
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(".cache/flywheel/evals").path))
        r = try flywheel(["evals", "run", "--suite", "suite.yaml", "--standalone", "--json"], in: dir)
        #expect(try Self.summary(r)["passed"] as? Int == 1)
        #expect(requests() == 1)
        r = try flywheel(["evals", "run", "--suite", "suite.yaml", "--standalone", "--json", "--no-cache"], in: dir)
        #expect(try Self.summary(r)["passed"] as? Int == 1)
        #expect(requests() == 2)
    }
}

