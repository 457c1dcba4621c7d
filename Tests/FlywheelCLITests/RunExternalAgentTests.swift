import Foundation
import Testing
import TestSupport

/// `flywheel run --agent-cmd`: an agent outside Flywheel, one process per task, its spans and artifacts committed.
@Suite("Loop: run an external agent")
struct RunExternalAgentTests {
    /// A small agent: reads the task, writes two HALO spans (agent root + one tool call) and an artifact, prints an answer.
    static let agent = #"""
        import json, os, sys
        task = os.environ["FLYWHEEL_TASK"]
        stdin_task = sys.stdin.read()
        assert stdin_task.strip() == task.strip(), "the task on stdin differs from FLYWHEEL_TASK"
        trace = os.environ["FLYWHEEL_TRACE_ID"]
        out = os.environ["FLYWHEEL_OUTPUT_DIR"]
        n = int(os.environ["FLYWHEEL_TASK_ID"].lstrip("q"))
        def span(span_id, parent, name, kind, start, end, attrs):
            return {"trace_id": trace, "span_id": span_id, "parent_span_id": parent, "trace_state": "", "name": name,
                    "kind": kind, "start_time": start, "end_time": end,
                    "status": {"code": "STATUS_CODE_OK", "message": ""},
                    "resource": {"attributes": {"service.name": "external-agent"}},
                    "scope": {"name": "test-agent", "version": "1.0"}, "attributes": attrs}
        root = "%016x" % (0xa000 + n)
        tool = "%016x" % (0xb000 + n)
        common = {"inference.project_id": "external", "inference.agent_name": "ExternalAgent"}
        spans = [
            span(tool, root, "tool.list_files", "SPAN_KIND_INTERNAL", "2026-01-01T00:00:01.000000000Z", "2026-01-01T00:00:02.000000000Z",
                 dict(common, **{"inference.observation_kind": "TOOL", "tool.name": "list_files", "input.value": "{}", "output.value": "overview.md"})),
            span(root, "", "agent.ExternalAgent", "SPAN_KIND_INTERNAL", "2026-01-01T00:00:00.000000000Z", "2026-01-01T00:00:03.000000000Z",
                 dict(common, **{"inference.observation_kind": "AGENT", "input.value": task, "output.value": "EXTERNAL-ANSWER-%d" % n})),
        ]
        with open(os.environ["FLYWHEEL_TRACE_FILE"], "w") as f:
            for s in spans:
                f.write(json.dumps(s) + "\n")
        with open(os.path.join(out, "summary_answer.md"), "w") as f:
            f.write("# Answer %d\n\nEXTERNAL-ARTIFACT for: %s\n" % (n, task))
        print("EXTERNAL-ANSWER-%d: %s" % (n, task))
        """#

    @Test("an external agent's spans, artifacts and answers are committed per task")
    func externalAgent() throws {
        let folder = try LoopTest.example("external")
        try Self.agent.write(to: folder.appendingPathComponent("agent.py"), atomically: true, encoding: .utf8)
        #expect(try flywheel(["cycle", "start"], in: folder).status == 0)
        let r = try flywheel(["run", "--agent-cmd", "python3 agent.py", "--tasks", "2", "--json"], in: folder)
        try #require(r.status == 0, "\(r.stderr)\n\(r.stdout)")
        let report = try LoopTest.object(r.stdout)
        let ids = try #require(report["trace_ids"] as? [String])
        #expect(ids.count == 2)
        #expect(report["spans"] as? Int == 4)
        #expect(report["simulation"] as? Bool == false)

        let traces = try #require(try LoopTest.show(folder, "refs/heads/main", "cycles/0001/traces.jsonl"))
        let spans = traces.split(separator: "\n").compactMap { try? json(String($0)) as? [String: Any] }
        #expect(spans.count == 4)
        #expect(Set(spans.compactMap { $0["trace_id"] as? String }) == Set(ids))
        #expect(traces.contains("EXTERNAL-ANSWER-1") && traces.contains("EXTERNAL-ANSWER-2"))
        for (i, id) in ids.enumerated() {
            let base = "cycles/0001/outputs/\(id)/"
            let summary = try #require(try LoopTest.show(folder, "refs/heads/main", base + "summary_answer.md"))
            #expect(summary.contains("EXTERNAL-ARTIFACT"))
            let answer = try #require(try LoopTest.show(folder, "refs/heads/main", base + "final_answer.md"))
            #expect(answer.hasPrefix("EXTERNAL-ANSWER-\(i + 1):"))
            let task = try LoopTest.object(try LoopTest.show(folder, "refs/heads/main", base + "task.json"))
            #expect(task["trace_id"] as? String == id)
            #expect(task["task_id"] as? String == String(format: "q%02d", i + 1))
        }
        let cycle = try LoopTest.object(try LoopTest.show(folder, "refs/heads/main", "cycles/0001/cycle.json"))
        #expect(((cycle["models"] as? [String: Any])?["agent"] as? String)?.contains("python3 agent.py") == true)

        // The rest of the loop works on an external agent's traces.
        let critique = try flywheel(["feedback", "critique"], in: folder)
        #expect(critique.status == 0, "\(critique.stderr)")
        let diagnose = try flywheel(["diagnose", "--json"], in: folder)
        #expect(diagnose.status == 0, "\(diagnose.stderr)")
    }

    @Test("secrets an external agent leaks into its trace, artifacts and answer never reach git")
    func externalAgentLeaks() throws {
        let folder = try LoopTest.example("external-leak")
        let key = "sk-proj-LEAKED0123456789abcdefghij"
        let token = "ghp_" + String(repeating: "Z9", count: 18)
        let leaky = Self.agent
            .replacingOccurrences(of: #""output.value": "overview.md""#, with: #""output.value": "token " + os.environ["LEAK_TOKEN"]"#)
            .replacingOccurrences(of: #"EXTERNAL-ARTIFACT for: %s\n" % (n, task)"#, with: #"EXTERNAL-ARTIFACT for: %s key=%s\n" % (n, task, os.environ["OPENAI_API_KEY"])"#)
            .replacingOccurrences(of: #"print("EXTERNAL-ANSWER-%d: %s" % (n, task))"#, with: #"print("EXTERNAL-ANSWER-%d: Authorization: Bearer %s" % (n, os.environ["OPENAI_API_KEY"]))"#)
        #expect(leaky != Self.agent)
        try leaky.write(to: folder.appendingPathComponent("agent.py"), atomically: true, encoding: .utf8)
        #expect(try flywheel(["cycle", "start"], in: folder).status == 0)
        let env = ["OPENAI_API_KEY": key, "LEAK_TOKEN": token]
        let r = try flywheel(["run", "--agent-cmd", "python3 agent.py", "--tasks", "2", "--json"], in: folder, env: env)
        try #require(r.status == 0, "\(r.stderr)")
        let redactions = try #require(try LoopTest.object(r.stdout)["redactions"] as? [String: Int])
        #expect(!redactions.isEmpty, "nothing reported redacted")
        let all = try LoopTest.git(folder.appendingPathComponent("loop-history"), ["cat-file", "--batch-all-objects", "--batch"]).stdout
        #expect(all.contains("EXTERNAL-ARTIFACT"), "the artifacts were committed")
        #expect(!all.contains(key) && !all.contains("LEAKED0123456789"), "the API key reached git")
        #expect(!all.contains(token), "the GitHub token reached git")
        #expect(!(r.stdout + r.stderr).contains(key))
    }

    @Test("an agent whose tracer picks its own trace id has its outputs filed under that id; two traces per run are refused")
    func ownTraceIDs() throws {
        let folder = try LoopTest.example("external-ids")
        let own = Self.agent.replacingOccurrences(
            of: #"trace = os.environ["FLYWHEEL_TRACE_ID"]"#, with: #"trace = "%032x" % (0xfeed0000 + int(os.environ["FLYWHEEL_TASK_ID"].lstrip("q")))"#)
        #expect(own != Self.agent)
        try own.write(to: folder.appendingPathComponent("own.py"), atomically: true, encoding: .utf8)
        #expect(try flywheel(["cycle", "start"], in: folder).status == 0)
        let r = try flywheel(["run", "--agent-cmd", "python3 own.py", "--tasks", "2", "--json"], in: folder)
        try #require(r.status == 0, "\(r.stderr)")
        let ids = try #require(try LoopTest.object(r.stdout)["trace_ids"] as? [String])
        #expect(ids == [String(format: "%032x", 0xfeed0001), String(format: "%032x", 0xfeed0002)])
        let files = try LoopTest.git(folder.appendingPathComponent("loop-history"), ["ls-tree", "-r", "--name-only", "refs/heads/main", "cycles/0001/outputs"])
            .stdout.split(separator: "\n").map(String.init)
        let folders = Set(files.map { $0.split(separator: "/")[3] }.map(String.init))
        #expect(folders == Set(ids), "outputs are filed under other ids: \(folders)")
        for id in ids {
            let task = try LoopTest.object(try LoopTest.show(folder, "refs/heads/main", "cycles/0001/outputs/\(id)/task.json"))
            #expect(task["trace_id"] as? String == id)
        }
        // The loop goes on: the critics' feedback names traces of the cycle.
        let critique = try flywheel(["feedback", "critique"], in: folder)
        #expect(critique.status == 0, "\(critique.stderr)")

        let two = Self.agent.replacingOccurrences(
            of: "for s in spans:", with: #"for s in spans + [dict(spans[1], trace_id="%032x" % 7, span_id="%016x" % 7)]:"#)
        #expect(two != Self.agent)
        let other = try LoopTest.example("external-two")
        try two.write(to: other.appendingPathComponent("two.py"), atomically: true, encoding: .utf8)
        #expect(try flywheel(["cycle", "start"], in: other).status == 0)
        // Two traces from one run: the task is recorded as failed, saying why.
        let twice = try flywheel(["run", "--agent-cmd", "python3 two.py", "--tasks", "1", "--json"], in: other)
        #expect(twice.status == 0, "\(twice.stderr)")
        let failed = try #require(try LoopTest.object(twice.stdout)["failed"] as? [[String: Any]])
        let reason = failed.first?["reason"] as? String ?? ""
        #expect(failed.count == 1 && reason.contains("wrote 2 traces"), "\(failed)")
        #expect(reason.contains("FLYWHEEL_TRACE_ID"))
    }

    @Test("an external agent that fails, or writes no or a bad trace, is recorded as a failed task; the run goes on")
    func failingAgent() throws {
        let folder = try LoopTest.example("external-fail")
        try "import sys\nsys.stderr.write('agent broke: no credentials\\n')\nsys.exit(1)\n"
            .write(to: folder.appendingPathComponent("fail.py"), atomically: true, encoding: .utf8)
        try "print('an answer but no trace')\n".write(to: folder.appendingPathComponent("notrace.py"), atomically: true, encoding: .utf8)
        try "import os\nopen(os.environ['FLYWHEEL_TRACE_FILE'], 'w').write('{not a span}\\n')\nprint('x')\n"
            .write(to: folder.appendingPathComponent("badtrace.py"), atomically: true, encoding: .utf8)
        try RunExternalAgentTests.agent.write(to: folder.appendingPathComponent("agent.py"), atomically: true, encoding: .utf8)
        #expect(try flywheel(["cycle", "start"], in: folder).status == 0)
        for (script, task, needles) in [
            ("fail.py", "1", ["exited with 1", "agent broke: no credentials"]), ("notrace.py", "2", ["FLYWHEEL_TRACE_FILE"]),
            ("badtrace.py", "3", ["not valid HALO JSONL"]),
        ] {
            // --tasks N with N-1 tasks already recorded runs just task N.
            let r = try flywheel(["run", "--agent-cmd", "python3 \(script)", "--tasks", task, "--json"], in: folder)
            #expect(r.status == 0, "\(script): \(r.stderr)")
            let failed = try #require(try LoopTest.object(r.stdout)["failed"] as? [[String: Any]])
            #expect(failed.count == 1, "\(script): \(failed)")
            let reason = failed.first?["reason"] as? String ?? ""
            for n in needles { #expect(reason.contains(n), "\(script): \(reason)") }
            #expect(failed.first?["task_id"] as? String == String(format: "q%02d", Int(task)!))
        }
        // --fail-on-task-error turns a failure into the exit code; a good run of the next task still goes in.
        let strict = try flywheel(["run", "--agent-cmd", "python3 fail.py", "--tasks", "4", "--fail-on-task-error"], in: folder)
        #expect(strict.status == 1 && strict.stdout.contains("failed q04"), "\(strict.stdout)")
        let r = try flywheel(["run", "--agent-cmd", "python3 agent.py", "--tasks", "5"], in: folder)
        #expect(r.status == 0 && r.stdout.contains("1 of 1 task(s) succeeded"), "\(r.stdout) \(r.stderr)")
        let traces = try #require(try LoopTest.show(folder, "refs/heads/main", "cycles/0001/traces.jsonl"))
        #expect(traces.split(separator: "\n").count == 6)  // four failed roots, and the good run's two spans
    }
}
