@testable import Flywheel
@testable import FlywheelSupport
import Foundation
import Testing
import TestSupport
@testable import FlywheelEvals

/// Suite code runs under a policy: scrubbed environment, working folder, a time limit that kills the whole tree.
@Suite("Evals script policy")
struct EvalScriptPolicyTests {
    static func alive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        // A zombie (state Z) is dead: it only waits to be reaped by its parent.
        guard let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(close, offsetBy: 2)]
        return state != "Z" && state != "X"
    }

    @Test("after the time limit, a script that ignores SIGTERM and its detached child are both killed")
    func timeoutKillsTree() throws {
        try #require(toolExists("python3"), "python3 is needed")
        let dir = TestPaths.scratch("sandbox-kill")
        let pidFile = dir.appendingPathComponent("child.pid")
        let script = """
            import os, signal, subprocess, sys, time
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            child = subprocess.Popen([sys.executable, "-c", "import signal, time\\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\\ntime.sleep(120)"],
                                     start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            open(\(JSONValue.string(pidFile.path).jsonString), "w").write(f"{os.getpid()} {child.pid}")
            time.sleep(120)
            """
        let python = try #require(SubprocessScriptRunner.which("python3", ProcessInfo.processInfo.environment))
        let started = Date()
        let r = SandboxedProcess.run(python, ["-c", script], stdin: Data(), policy: EvalScriptPolicy(timeout: 3, workingDirectory: dir))
        #expect(r.timedOut)
        #expect(Date().timeIntervalSince(started) < 30)
        let pids = try String(contentsOf: pidFile, encoding: .utf8).split(separator: " ").compactMap { Int32($0) }
        try #require(pids.count == 2)
        var gone = false
        for _ in 0..<100 where !gone {
            gone = !Self.alive(pids[0]) && !Self.alive(pids[1])
            if !gone { usleep(50_000) }
        }
        #expect(gone, "script \(pids[0]) or its detached child \(pids[1]) survived the time limit")
    }

    @Test("scripts see a scrubbed environment (only listed names pass) and run in the working folder")
    func scrubbedEnvironment() throws {
        try #require(toolExists("python3"), "python3 is needed")
        let dir = TestPaths.scratch("sandbox-env")
        let env = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "OPENAI_API_KEY": "sk-secret", "MY_TOKEN": "t-1", "HOME": "/root"]
        let scrubbed = EvalScriptPolicy(passEnvironment: ["MY_TOKEN"]).environment(from: env)
        #expect(scrubbed["OPENAI_API_KEY"] == nil)
        #expect(scrubbed["HOME"] == nil)
        #expect(scrubbed["MY_TOKEN"] == "t-1")
        #expect(scrubbed["PATH"] == env["PATH"])

        // End to end: a python assertion cannot see a variable of Flywheel's own environment unless listed.
        let runner = SubprocessScriptRunner(policy: EvalScriptPolicy(workingDirectory: dir))
        let body = EvalScriptBody.python("__import__('os').environ.get('PATH') is not None and 'OPENAI_API_KEY' not in __import__('os').environ and __import__('os').getcwd()")
        let r = runner.run(EvalScriptRequest(language: .python, body: body, output: .string("x"), context: .obj([])))
        guard case .value(let v) = r else { Issue.record("unexpected \(r)"); return }
        #expect(v.stringValue.map { URL(fileURLWithPath: $0).resolvingSymlinksInPath().path } == dir.resolvingSymlinksInPath().path)
    }

    @Test("a disabled policy skips scripts with its reason")
    func disabled() throws {
        let runner = SubprocessScriptRunner.forPolicy(EvalScriptPolicy(allowScripts: false, disabledReason: "scripts are off for a suite from the history"))
        let r = runner.run(EvalScriptRequest(language: .javascript, body: "return true", output: .string("x"), context: .obj([])))
        guard case .unavailable(let why) = r else { Issue.record("ran: \(r)"); return }
        #expect(why.contains("from the history"))
        // Through the engine the row is skipped, not passed.
        let suite = try EvalSuite.parse(yaml: """
            prompts: ["{{q}}"]
            providers: [echo]
            tests:
              - vars: {q: hi}
                assert:
                  - type: javascript
                    value: output === 'hi'
            """, file: TestPaths.scratch("sandbox-off").appendingPathComponent("s.yaml"))
        let run = EvalRunner(engine: EvalAssertionEngine(scripts: runner)).grade(suite: suite)
        #expect(run.rows.map(\.status) == [.skipped])
        #expect(run.rows.first?.error?.contains("from the history") == true)
    }

    @Test("file:// references outside the allowed folders are refused, naming file and key")
    func outsideFiles() throws {
        let dir = TestPaths.scratch("sandbox-files")
        let outside = TestPaths.scratch("sandbox-outside").appendingPathComponent("secret.txt")
        try "top secret".write(to: outside, atomically: true, encoding: .utf8)
        try "inside".write(to: dir.appendingPathComponent("in.txt"), atomically: true, encoding: .utf8)
        let yaml = """
            prompts: ["{{doc}}"]
            providers: [echo]
            tests:
              - vars: {doc: file://in.txt}
              - vars: {doc: file://\(outside.path)}
            """
        let file = dir.appendingPathComponent("s.yaml")
        #expect {
            try EvalSuite.parse(yaml: yaml, file: file, allowedRoots: [dir])
        } throws: { e in
            let t = "\(e)"
            return t.contains("s.yaml:5") && t.contains("tests[1].vars.doc") && t.contains("outside the working folder")
        }
        // A relative escape is refused too.
        #expect(throws: EvalSuiteError.self) {
            try EvalSuite.parse(yaml: "prompts: [\"{{d}}\"]\ntests:\n  - vars: {d: file://../sandbox-outside/secret.txt}\n", file: file, allowedRoots: [dir])
        }
        // Told: read.
        let s = try EvalSuite.parse(yaml: yaml, file: file, allowedRoots: nil)
        #expect(s.tests[1].vars["doc"]?.stringValue == "top secret")
        #expect(try EvalSuite.parse(yaml: yaml.replacingOccurrences(of: "\n  - vars: {doc: file://\(outside.path)}", with: ""), file: file,
                                    allowedRoots: [dir]).tests.first?.vars["doc"]?.stringValue == "inside")
    }
}
