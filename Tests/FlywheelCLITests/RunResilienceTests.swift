import Foundation
import Testing
import TestSupport

/// Runs that hold up: a task's failure is data, tasks run at once without changing what is committed, read-only
/// commands stay read-only, a stale lock is named.
@Suite("Run: failures, concurrency, read-only")
struct RunResilienceTests {
    @Test("a crashing, hanging, killed or traceless task is recorded as a failed trace and the run goes on")
    func failuresAreData() throws {
        let folder = try OrderDesk.project("run-failures")
        let pidFile = folder.appendingPathComponent("hang.pid")
        let env = ["BEHAVIOURS": "t02=crash,t03=hang,t04=signal,t05=notrace,t06=badtrace", "HANG_PID_FILE": pidFile.path]
        #expect(try flywheel(["cycle", "start"], in: folder).status == 0)
        let started = Date()
        let r = try flywheel(["run", "--json", "--concurrency", "3", "--task-timeout", "2"], in: folder, env: env)
        let elapsed = Date().timeIntervalSince(started)
        try #require(r.status == 0, "\(r.stderr)")
        #expect(elapsed < 60, "the hanging task was not stopped (\(elapsed) s)")
        let report = try LoopTest.object(r.stdout)
        #expect(report["ran"] as? Int == 8)
        let failed = try #require(report["failed"] as? [[String: Any]])
        #expect(failed.compactMap { $0["task_id"] as? String } == ["t02", "t03", "t04", "t05", "t06"])

        let spans = try OrderDesk.spans(folder)
        let roots = OrderDesk.roots(spans)
        // Every task once, every root span naming its task.
        #expect(roots.keys.sorted() == (1...8).map { String(format: "t%02d", $0) })
        #expect(roots.values.allSatisfy { $0.count == 1 })
        func message(_ task: String) -> String { roots[task]?.first.map(OrderDesk.statusMessage) ?? "" }
        for task in ["t02", "t03", "t04", "t05", "t06"] {
            let root = try #require(roots[task]?.first)
            #expect(OrderDesk.statusCode(root) == "STATUS_CODE_ERROR", "\(task)")
            #expect((root["attributes"] as? [String: Any])?["inference.observation_kind"] as? String == "AGENT")
            #expect((root["attributes"] as? [String: Any])?["flywheel.task.failed"] as? Bool == true)
        }
        #expect(message("t02").contains("exited with 3") && message("t02").contains("KeyError: 'email'"), "\(message("t02"))")
        #expect(message("t03").contains("timed out after 2 s"), "\(message("t03"))")
        #expect(message("t04").contains("signal 9"), "\(message("t04"))")
        #expect(message("t05").contains("wrote no trace"), "\(message("t05"))")
        #expect(message("t06").contains("not valid HALO JSONL"), "\(message("t06"))")
        #expect(OrderDesk.statusCode(try #require(roots["t01"]?.first)) == "STATUS_CODE_OK")
        // The stderr tail is redacted before it reaches git.
        let traces = try #require(try LoopTest.show(folder, "refs/heads/main", "cycles/0001/traces.jsonl"))
        #expect(!traces.contains("sk-proj-abcdefghijklmnopqrstuvwx123456"))
        // The hanging task's child process was killed with its process group.
        let pid = try #require(Int32(try String(contentsOf: pidFile, encoding: .utf8)))
        var alive = true
        for _ in 0..<50 where alive {
            alive = kill(pid, 0) == 0
            if alive { usleep(100_000) }
        }
        #expect(!alive, "the hanging agent's child \(pid) survived the timeout")
        let cycle = try LoopTest.object(try LoopTest.show(folder, "refs/heads/main", "cycles/0001/cycle.json"))
        #expect((cycle["scores"] as? [String: Any])?["failed_tasks"] as? Int == 5)

        // The gate counts a failed task's cases as errors.
        try """
            prompts: ["{{question}}"]
            providers: [{id: "flywheel:cycle-outputs"}]
            tests:
              - vars: {question: "Where is order 1?"}
                assert: [{type: contains, value: "has shipped"}]
              - vars: {question: "Where is order 2?"}
                assert: [{type: contains, value: "has shipped"}]

            """.write(to: folder.appendingPathComponent("suite.yaml"), atomically: true, encoding: .utf8)
        let gate = try flywheel(["evals", "run", "--suite", "suite.yaml", "--json"], in: folder)
        let summary = try LoopTest.object(gate.stdout)
        #expect(summary["passed"] as? Int == 1 && summary["errors"] as? Int == 1, "\(gate.stdout)")

        // --rerun replaces runs (a task never twice); --fail-on-task-error makes a failure the exit code.
        let again = try flywheel(["run", "--rerun", "--fail-on-task-error", "--concurrency", "4"], in: folder, env: ["BEHAVIOURS": "t02=crash"])
        #expect(again.status == 1, "\(again.stdout) \(again.stderr)")
        #expect(again.stdout.contains("7 of 8 task(s) succeeded, 1 failed"), "\(again.stdout)")
        let rerun = OrderDesk.roots(try OrderDesk.spans(folder))
        #expect(rerun.count == 8 && rerun.values.allSatisfy { $0.count == 1 })
        #expect(OrderDesk.statusCode(try #require(rerun["t03"]?.first)) == "STATUS_CODE_OK")
    }

    @Test("--concurrency 4 commits the same traces and outputs as --concurrency 1 (external agent and the example)")
    func concurrencyIsInvisible() throws {
        let env = ["SOURCE_DATE_EPOCH": "1767225600", "AGENT_DELAY": "0.05", "BEHAVIOURS": "t03=crash"]
        var traces: [String] = [], outputs: [String] = []
        for n in ["1", "4"] {
            let folder = try OrderDesk.project("run-concurrency-\(n)")
            #expect(try flywheel(["cycle", "start"], in: folder, env: env).status == 0)
            let r = try flywheel(["run", "--concurrency", n], in: folder, env: env)
            #expect(r.status == 0, "\(r.stderr)")
            traces.append(try #require(try LoopTest.show(folder, "refs/heads/main", "cycles/0001/traces.jsonl")))
            outputs.append(try LoopTest.git(folder.appendingPathComponent("loop-history"), ["rev-parse", "refs/heads/main:cycles/0001/outputs"]).stdout)
        }
        #expect(!traces[0].isEmpty && traces[0] == traces[1], "traces differ between --concurrency 1 and 4")
        #expect(!outputs[0].isEmpty && outputs[0] == outputs[1])
        #expect(OrderDesk.roots(traces[0].split(separator: "\n").compactMap { try? json(String($0)) as? [String: Any] }).keys.sorted()
                == (1...8).map { String(format: "t%02d", $0) })

        // The built-in agent of the example, per task through its session.
        var example: [String] = []
        for n in ["1", "4"] {
            let folder = try LoopTest.example("run-concurrency-example-\(n)")
            #expect(try flywheel(["cycle", "start"], in: folder, env: env).status == 0)
            let r = try flywheel(["run", "--tasks", "4", "--concurrency", n], in: folder, env: env)
            #expect(r.status == 0, "\(r.stderr)")
            example.append(try #require(try LoopTest.show(folder, "refs/heads/main", "cycles/0001/traces.jsonl")))
        }
        #expect(!example[0].isEmpty && example[0] == example[1], "the example's traces differ between --concurrency 1 and 4")
    }

    @Test("read-only commands leave the ref where it was; a stage re-run with the same output commits nothing")
    func readOnly() throws {
        let folder = try OrderDesk.project("run-readonly", tasks: 3)
        let loop = try flywheel(["loop"], in: folder)
        #expect(loop.status == 0 || loop.status == 100, "\(loop.stderr)")
        let closed = try #require(try LoopTest.head(folder))
        for args in [
            ["diagnose", "--cycle", "1", "--json"], ["handoff"], ["show", "1"], ["log"], ["diff", "1", "1"], ["traces", "overview"],
            ["site", "build", "--out", "site"], ["evals", "run", "--cycle", "1"],
        ] {
            let r = try flywheel(args, in: folder)
            #expect(r.status == 0 || r.status == 100, "\(args): \(r.stderr)")
            #expect(try LoopTest.head(folder) == closed, "\(args) moved the ref")
        }
        // An open cycle: each stage once, then again with nothing new.
        for args in [["cycle", "start"], ["run"], ["feedback", "critique"], ["evals", "generate"], ["evals", "run"], ["diagnose"], ["handoff"]] {
            let r = try flywheel(args, in: folder)
            #expect(r.status == 0 || r.status == 100, "\(args): \(r.stderr)")
        }
        let open = try #require(try LoopTest.head(folder))
        for args in [["run"], ["evals", "run"], ["diagnose", "--json"], ["handoff"], ["evals", "generate"]] {
            let r = try flywheel(args, in: folder)
            #expect(r.status == 0 || r.status == 100, "\(args): \(r.stderr)")
            #expect(try LoopTest.head(folder) == open, "\(args) committed although nothing changed")
        }
    }

    @Test("a ref lock left by a killed process is named with the command that clears it")
    func staleLock() throws {
        let folder = try OrderDesk.project("run-lock", tasks: 2)
        #expect(try flywheel(["cycle", "start"], in: folder).status == 0)
        let lock = folder.appendingPathComponent("loop-history/refs/heads/main.lock")
        try Data().write(to: lock)
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-600)], ofItemAtPath: lock.path)
        let r = try LoopTest.expectRefused(["run"], in: folder, mentions: ["main.lock", "rm '"])
        #expect(r.stderr.contains(lock.resolvingSymlinksInPath().path) || r.stderr.contains(lock.path), "\(r.stderr)")
        try FileManager.default.removeItem(at: lock)
        #expect(try flywheel(["run"], in: folder).status == 0)
    }
}
