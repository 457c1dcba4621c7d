import Foundation
import Testing
import TestSupport

/// A project that is not the embedded example: an order-desk bot, its agent a small Python script whose behaviour
/// per task is set by `BEHAVIOURS=t02=crash,t03=hang,…` (crash, hang, signal, notrace, badtrace; default ok).
enum OrderDesk {
    static let agent = #"""
import json, os, sys, time, subprocess
task_id = os.environ["FLYWHEEL_TASK_ID"]; trace = os.environ["FLYWHEEL_TRACE_ID"]; task = os.environ["FLYWHEEL_TASK"]
n = int(task_id[1:])
behaviour = dict(b.split("=") for b in os.environ.get("BEHAVIOURS", "").split(",") if b).get(task_id, "ok")
time.sleep(float(os.environ.get("AGENT_DELAY", "0")) * ((n * 7) % 5))
if behaviour == "crash":
    sys.stderr.write("Traceback (most recent call last):\nKeyError: 'email' (key sk-proj-abcdefghijklmnopqrstuvwx123456)\n"); sys.exit(3)
if behaviour == "hang":
    child = subprocess.Popen(["sleep", "120"])
    open(os.environ["HANG_PID_FILE"], "w").write(str(child.pid))
    time.sleep(120)
if behaviour == "signal":
    os.kill(os.getpid(), 9)
if behaviour == "notrace":
    print("an answer without a trace"); sys.exit(0)
def span(sid, parent, name, kind, attrs, start, end):
    return {"trace_id": trace, "span_id": sid, "parent_span_id": parent, "trace_state": "", "name": name, "kind": "SPAN_KIND_INTERNAL",
            "start_time": start, "end_time": end, "status": {"code": "STATUS_CODE_OK", "message": ""},
            "resource": {"attributes": {"service.name": "order-desk"}}, "scope": {"name": "order-desk", "version": "1"},
            "attributes": dict({"inference.project_id": "order-desk", "inference.agent_name": "OrderDesk", "inference.observation_kind": kind}, **attrs)}
root, tool = "%016x" % (0x1000 + n), "%016x" % (0x2000 + n)
with open(os.environ["FLYWHEEL_TRACE_FILE"], "w") as f:
    if behaviour == "badtrace":
        f.write("{not a span}\n")
    else:
        f.write(json.dumps(span(tool, root, "tool.lookup_order", "TOOL", {"tool.name": "lookup_order", "input.value": json.dumps({"order": n}), "output.value": "shipped"}, "2026-01-01T00:00:01.000000000Z", "2026-01-01T00:00:02.000000000Z")) + "\n")
        f.write(json.dumps(span(root, "", "agent.OrderDesk", "AGENT", {"input.value": task, "output.value": "Order %d has shipped." % n}, "2026-01-01T00:00:00.000000000Z", "2026-01-01T00:00:03.000000000Z")) + "\n")
with open(os.path.join(os.environ["FLYWHEEL_OUTPUT_DIR"], "reply.md"), "w") as f:
    f.write("Order %d has shipped.\n" % n)
print("Order %d has shipped." % n)
"""#

    /// A fresh project folder with `count` tasks (t01…), loop.yaml naming the agent, and a harness.
    static func project(_ label: String, tasks count: Int = 8) throws -> URL {
        let dir = TestPaths.scratch(label).appendingPathComponent("order-desk")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("harness"), withIntermediateDirectories: true)
        try "Answer order questions from the order system.\n".write(to: dir.appendingPathComponent("harness/AGENTS.md"), atomically: true, encoding: .utf8)
        try """
            project: Order desk bot
            repository: loop-history
            harness: [harness]
            tasks: tasks.yaml
            agent_cmd: python3 agent.py
            gate:
              min_pass_rate: 0.5

            """.write(to: dir.appendingPathComponent("loop.yaml"), atomically: true, encoding: .utf8)
        let tasks = (1...count).map { String(format: "  - id: t%02d\n    question: \"Where is order %d?\"\n", $0, $0) }.joined()
        try ("questions:\n" + tasks).write(to: dir.appendingPathComponent("tasks.yaml"), atomically: true, encoding: .utf8)
        try agent.write(to: dir.appendingPathComponent("agent.py"), atomically: true, encoding: .utf8)
        return dir
    }

    /// The committed traces.jsonl of a cycle as parsed lines.
    static func spans(_ folder: URL, cycle: String = "0001", rev: String = "refs/heads/main") throws -> [[String: Any]] {
        let text = try #require(try LoopTest.show(folder, rev, "cycles/\(cycle)/traces.jsonl"))
        return try text.split(separator: "\n").map { try #require(try json(String($0)) as? [String: Any]) }
    }

    /// Root spans by task id (from the documented `flywheel.task.id` attribute).
    static func roots(_ spans: [[String: Any]]) -> [String: [[String: Any]]] {
        var out: [String: [[String: Any]]] = [:]
        for s in spans where (s["parent_span_id"] as? String ?? "").isEmpty {
            let task = (s["attributes"] as? [String: Any])?["flywheel.task.id"] as? String ?? "?"
            out[task, default: []].append(s)
        }
        return out
    }

    static func statusMessage(_ span: [String: Any]) -> String { (span["status"] as? [String: Any])?["message"] as? String ?? "" }
    static func statusCode(_ span: [String: Any]) -> String { (span["status"] as? [String: Any])?["code"] as? String ?? "" }
}
