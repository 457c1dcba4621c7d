import Foundation
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelTraces

@Suite("External agent runner")
struct ExternalAgentRunnerTests {
    func paths(_ label: String) -> (URL, URL) {
        let dir = TestPaths.scratch(label)
        return (dir.appendingPathComponent("outputs/t1"), dir.appendingPathComponent("traces/t1.jsonl"))
    }

    @Test func shellAgentGetsTheTaskAndItsOutputsAreCollected() throws {
        let (out, trace) = paths("ext-sh")
        let cmd = #"""
            q=$(cat)
            [ "$q" = "$FLYWHEEL_TASK" ] || { echo "stdin and env differ" >&2; exit 9; }
            mkdir -p "$FLYWHEEL_OUTPUT_DIR/sub"
            printf '# %s\n' "$q" > "$FLYWHEEL_OUTPUT_DIR/summary_answer.md"
            printf 'x' > "$FLYWHEEL_OUTPUT_DIR/sub/n.txt"
            printf '%s %s\n' "$FLYWHEEL_TRACE_ID" "$FLYWHEEL_TASK_ID" > "$FLYWHEEL_TRACE_FILE"
            echo "Answer: 46.9M"
            echo "progress" >&2
            """#
        let r = try ExternalAgentRunner(command: cmd, timeout: 30).run(
            task: "What is Lumora's ARR? \"quoted\" $HOME", taskID: "q01", traceID: "abc", outputDirectory: out, traceFile: trace)
        #expect(r.exitStatus == 0, "\(r.stderr)")
        #expect(r.succeeded)
        #expect(r.finalAnswer == "Answer: 46.9M")
        #expect(r.stderr == "progress\n")
        #expect(r.artifacts.keys.sorted() == ["sub/n.txt", "summary_answer.md"])
        #expect(String(decoding: r.artifacts["summary_answer.md"]!, as: UTF8.self) == "# What is Lumora's ARR? \"quoted\" $HOME\n")
        #expect(r.traceData.map { String(decoding: $0, as: UTF8.self) } == "abc q01\n")
    }

    @Test func pythonAgentWritesHALOSpans() throws {
        try #require(toolExists("python3"), "python3 is needed (make test installs it)")
        let (out, trace) = paths("ext-py")
        let script = TestPaths.scratch("ext-py-script").appendingPathComponent("agent.py")
        try #"""
            import json, os, sys
            task = sys.stdin.read()
            tid = os.environ["FLYWHEEL_TRACE_ID"]
            common = {"inference.export.schema_version": 1, "inference.project_id": "ext", "inference.agent_name": "Py", "inference.agent_id": "py"}
            def span(sid, parent, name, kind, okind, extra):
                attrs = dict(common, **{"inference.observation_kind": okind, "openinference.span.kind": okind}, **extra)
                return {"trace_id": tid, "span_id": sid, "parent_span_id": parent, "trace_state": "", "name": name, "kind": kind,
                        "start_time": "2026-10-01T00:00:00.000000000Z", "end_time": "2026-10-01T00:00:01.000000000Z",
                        "status": {"code": "STATUS_CODE_OK", "message": ""}, "resource": {"attributes": {"service.name": "py-agent"}},
                        "scope": {"name": "py", "version": ""}, "attributes": attrs}
            with open(os.environ["FLYWHEEL_TRACE_FILE"], "w") as f:
                f.write(json.dumps(span("00000000000000b2", "00000000000000a1", "function.read_file", "SPAN_KIND_INTERNAL", "TOOL", {"tool.name": "read_file", "input.value": "{}", "output.value": task}), separators=(",", ":"), ensure_ascii=False) + "\n")
                f.write(json.dumps(span("00000000000000a1", "", "agent.Py", "SPAN_KIND_INTERNAL", "AGENT", {"agent.name": "Py"}), separators=(",", ":"), ensure_ascii=False) + "\n")
            open(os.path.join(os.environ["FLYWHEEL_OUTPUT_DIR"], "summary_answer.md"), "w").write("ok\n")
            print("done:", task)
            """#.write(to: script, atomically: true, encoding: .utf8)
        let r = try ExternalAgentRunner(command: "python3 \"\(script.path)\"", timeout: 60).run(
            task: "Summarise the security posture.", traceID: "7d3f1c9a2b4e4f6a8c0d1e2f3a4b5c6d", outputDirectory: out,
            traceFile: trace)
        #expect(r.succeeded, "\(r.stderr)")
        #expect(r.finalAnswer == "done: Summarise the security posture.")
        let data = try #require(r.traceData)
        let report = TraceValidator.validate(data: data)
        #expect(report.haloAccepts, "\(report.issues)")
        let spans = try String(decoding: data, as: UTF8.self).split(separator: "\n").map { try Span(line: String($0)) }
        #expect(spans.map(\.name) == ["function.read_file", "agent.Py"])
        #expect(spans.allSatisfy { $0.traceID == "7d3f1c9a2b4e4f6a8c0d1e2f3a4b5c6d" })
    }

    @Test func timeoutKillsTheWholeProcessGroup() throws {
        let (out, trace) = paths("ext-timeout")
        let marker = out.deletingLastPathComponent().appendingPathComponent("late")
        let started = Date()
        let r = try ExternalAgentRunner(command: "(sleep 3; touch \"\(marker.path)\") & sleep 30", timeout: 0.5).run(
            task: "x", traceID: "t", outputDirectory: out, traceFile: trace)
        #expect(r.timedOut)
        #expect(!r.succeeded)
        #expect(Date().timeIntervalSince(started) < 10)
        Thread.sleep(forTimeInterval: 3.5)
        #expect(!FileManager.default.fileExists(atPath: marker.path), "a child survived the timeout")
    }

    @Test func failuresAreReportedNotThrown() throws {
        let (out, trace) = paths("ext-fail")
        try FileManager.default.createDirectory(at: trace.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("stale\n".utf8).write(to: trace)
        let r = try ExternalAgentRunner(command: "echo oops >&2; exit 3", timeout: 10).run(
            task: "x", traceID: "t", outputDirectory: out, traceFile: trace)
        #expect(r.exitStatus == 3)
        #expect(!r.timedOut)
        #expect(r.finalAnswer == nil)
        #expect(r.stderr == "oops\n")
        #expect(r.traceData == nil, "a stale trace file from an earlier run is not collected")
    }

    /// The real openai-agents SDK with HALO's processor, offline (venv made by `Tests/scripts/agents-sdk-venv.sh`;
    /// skipped, with the reason, when PyPI cannot be reached or shared/tools lacks the script).
    @Test(.enabled(if: AgentsSDKPeer.python != nil, "openai-agents venv or shared/tools/agents_sdk_offline_traces.py unavailable"))
    func agentsSDKOfflineScriptAsAnExternalAgent() throws {
        let python = AgentsSDKPeer.python!
        let script = TestPaths.shared.appendingPathComponent("tools/agents_sdk_offline_traces.py")
        let (out, trace) = paths("ext-sdk")
        let cmd = "\"\(python.path)\" \"\(script.path)\" \"$FLYWHEEL_TRACE_FILE\" --no-check --project-id lumora-diligence > /dev/null && echo finished"
        let r = try ExternalAgentRunner(command: cmd, timeout: 180).run(task: "x", traceID: "t", outputDirectory: out, traceFile: trace)
        #expect(r.succeeded, "\(r.stderr)")
        let data = try #require(r.traceData)
        let report = TraceValidator.validate(data: data)
        #expect(report.haloAccepts, "\(report.errors)")
        let spans = try String(decoding: data, as: UTF8.self).split(separator: "\n").map { try Span(line: String($0)) }
        #expect(Set(spans.map(\.traceID)).count == 4)
        #expect(spans.contains { $0.status.message == "Error running tool (non-fatal)" })
    }
}

/// The venv with the real openai-agents SDK (Tests/scripts/agents-sdk-venv.sh), when it can be made.
enum AgentsSDKPeer {
    static let python: URL? = {
        guard FileManager.default.fileExists(atPath: TestPaths.shared.appendingPathComponent("tools/agents_sdk_offline_traces.py").path) else { return nil }
        let script = TestPaths.packageRoot.appendingPathComponent("Tests/scripts/agents-sdk-venv.sh")
        guard let r = try? runProcess(URL(fileURLWithPath: "/bin/sh"), [script.path], timeout: 900), r.status == 0 else {
            print("openai-agents peer test skipped: Tests/scripts/agents-sdk-venv.sh could not create the venv (PyPI unreachable?)")
            return nil
        }
        return URL(fileURLWithPath: r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)).appendingPathComponent("bin/python")
    }()
}
