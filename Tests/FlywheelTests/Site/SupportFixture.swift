@testable import Flywheel
@testable import FlywheelSupport
@testable import FlywheelTraces
import Foundation

/// A history of another domain for the site's cross-cycle views: a support bot answering tickets over three cycles.
/// Its runs carry `task_id` and `final_answer.md`; one task id is not file-name safe; the third cycle drops a task
/// (the task set changed, a case not run); two recommendations of cycle 1 are implemented together in cycle 2.
struct SupportFixture {
    var history: LoopHistory
    /// Text appended to every untrusted field (the XSS corpus), empty otherwise.
    var payload: String

    static let epoch: TimeInterval = 1_790_000_000
    static let tasks = ["ticket-1", "ticket-2", "refund/3 ünïcode"]

    init(directory: URL, payload: String = "") {
        history = LoopHistory(repository: directory.appendingPathComponent("support.git"))
        self.payload = payload
    }

    func text(_ s: String) -> String { payload.isEmpty ? s : s + " " + payload }
    func json(_ v: JSONValue) -> Data { Data((v.canonicalText + "\n").utf8) }
    static func date(_ n: Int, _ offset: TimeInterval = 0) -> Date { Date(timeIntervalSince1970: epoch + Double(n) * 86_400 + offset) }

    func harness(_ n: Int) -> String {
        var s = "# Support bot\n\nAnswer the customer's ticket.\n"
        if n >= 2 { s += "\nGreet the customer by name.\nKeep a friendly tone.\n" }
        if n >= 3 { s += "\nQuote the refund policy: 30 days.\n" }
        return s
    }

    func traceID(_ n: Int, _ i: Int) -> String { String(format: "%028x%04x", 0x50 + n, i) }

    func answer(_ n: Int, _ task: String) -> String {
        switch task {
        case "ticket-1": return text(n == 1 ? "Your order shipped.\nTracking: 123.\n" : "Hi Dana,\nYour order shipped.\nTracking: 123.\n")
        case "ticket-2": return text(n == 3 ? "Refunds are accepted within 30 days.\n" : "Refunds are accepted.\n")
        default: return text("Escalated to billing.\n")
        }
    }

    /// Which tasks run in cycle `n` (the third cycle drops the last task).
    func tasks(_ n: Int) -> [String] { n >= 3 ? Array(Self.tasks.prefix(2)) : Self.tasks }

    func span(_ tid: String, _ n: Int, _ i: Int, task: String) -> String {
        let start = String(format: "2026-09-%02dT10:00:%02d.000000000Z", n, i)
        let end = String(format: "2026-09-%02dT10:00:%02d.500000000Z", n, i)
        return JSONValue.object([
            "trace_id": .string(tid), "span_id": .string(String(format: "%016x", n * 100 + i)), "parent_span_id": "", "trace_state": "",
            "name": .string(text("support.answer")), "kind": "SPAN_KIND_INTERNAL", "start_time": .string(start), "end_time": .string(end),
            "status": .object(["code": "STATUS_CODE_OK", "message": ""]),
            "resource": .object(["attributes": .object(["service.name": "support-bot"])]), "scope": .object(["name": "t", "version": ""]),
            "attributes": .object(["inference.observation_kind": "AGENT", "input.value": .string(text("ticket " + task))]),
        ]).canonicalText + "\n"
    }

    func row(_ idx: Int, _ caseID: String, pass: Bool, trace: String, reason: String) -> JSONValue {
        let meta: JSONValue = .object(["id": .string(caseID), "category": "support", "cycle": 1])
        return .object([
            "testIdx": .int(Int64(idx)), "promptIdx": 0, "success": .bool(pass), "score": .double(pass ? 1 : 0),
            "failureReason": .int(pass ? 0 : 1), "description": .string(text("Case " + caseID)),
            "testCase": .object(["description": .string(text("Case " + caseID)), "vars": .object(["trace_id": .string(trace)]), "metadata": meta]),
            "response": .object(["output": "x", "metadata": .object(["traceId": .string(trace)])]),
            "gradingResult": .object(["pass": .bool(pass), "score": .double(pass ? 1 : 0), "reason": .string(text(reason))]),
            "metadata": meta,
        ])
    }

    func addCycle(_ n: Int) throws {
        let tasks = tasks(n)
        _ = try history.startCycle(
            harness: ["prompt.md": Data(text(harness(n)).utf8)], sourceCommit: String(format: "%040x", 0xabc0 + n), models: ["agent": "support-model"],
            summary: text("Cycle \(n)"), now: Self.date(n),
            experiment: { _ in Experiment(taskSet: .init(file: "tickets.jsonl", sha256: "s\(tasks.count)", count: tasks.count, changed: n == 3 ? true : nil)) })
        var lines = ""
        var files: [String: Data] = [:]
        for (i, task) in tasks.enumerated() {
            let tid = traceID(n, i)
            lines += span(tid, n, i, task: task)
            files["outputs/\(tid)/task.json"] = json(.object(["task_id": .string(text(task)), "question": .string(text("Ticket " + task)), "trace_id": .string(tid)]))
            files["outputs/\(tid)/final_answer.md"] = Data(answer(n, task).utf8)
            files["outputs/\(tid)/reply.json"] = json(.object(["tone": .string(n == 1 ? "neutral" : "friendly")]))
        }
        files["traces.jsonl"] = Data(lines.utf8)
        try history.commitToOpenCycle(.traces, files: files) { c in c.scores.traces = tasks.count }
        let fb = JSONValue.object([
            "feedback_id": .string("fb-\(n)"), "trace_id": .string(traceID(n, 0)), "source": "human", "author": .string(text("agent lead")),
            "category": .string(text("tone")), "severity": "medium", "observation": .string(text("Greet the customer by name.")),
            "created_at": .string(ISO8601.string(Self.date(n, 60))),
        ]).canonicalText + "\n"
        try history.commitToOpenCycle(.feedback, files: ["feedback.jsonl": Data(fb.utf8)])
        // greet on ticket-1: fail, pass, pass; refund on ticket-2: pass, fail, pass; escalate on the third: fail, fail, not run.
        var rows = [
            row(0, "greet", pass: n >= 2, trace: traceID(n, 0), reason: n >= 2 ? "greets" : "no greeting"),
            row(1, "refund", pass: n != 2, trace: traceID(n, 1), reason: n == 2 ? "no policy quoted" : "ok"),
        ]
        if tasks.count > 2 { rows.append(row(2, "escalate", pass: false, trace: traceID(n, 2), reason: "not escalated")) }
        let passed = rows.filter { $0["success"]?.boolValue == true }.count
        let results: JSONValue = .object(["results": .object(["version": 3, "results": .array(rows)])])
        try history.commitToOpenCycle(.results, files: ["results.json": json(results)]) { c in
            c.scores.passRate = Double(passed) / Double(rows.count)
            c.scores.passed = passed
            c.scores.failed = rows.count - passed
            c.scores.total = rows.count
            c.scores.notRun = n == 3 ? 1 : 0
        }
        var modes: [JSONValue] = []
        if n == 1 { modes.append(.object(["id": "fm-no-greeting", "title": .string(text("Does not greet")), "kind": "missing requirement", "category": "tone", "count": 1, "trace_ids": [], "span_ids": [], "eval_ids": [], "feedback_ids": [], "evidence": []])) }
        if n == 2 { modes.append(.object(["id": "fm-no-policy", "title": .string(text("No refund policy")), "kind": "missing requirement", "category": "policy", "count": 1, "trace_ids": [], "span_ids": [], "eval_ids": [], "feedback_ids": [], "evidence": []])) }
        var recs: [JSONValue] = []
        /// A recommendation as diagnosis writes it (every field of the contract).
        func rec(_ id: String, _ rank: Int, _ title: String, evals: [String], summary: String) -> JSONValue {
            .object([
                "id": .string(id), "rank": .int(Int64(rank)), "title": .string(title), "area": "prompt", "change": "Edit the prompt.",
                "patch": .null, "predicted_impact": .object(["eval_ids": .array(evals.map { .string($0) }), "trace_ids": [], "summary": .string(summary)]),
                "confidence": "medium", "effort": "small", "evidence": [], "validation": "", "failure_mode_ids": [],
            ])
        }
        if n == 1 {
            recs.append(rec("rec-greet", 1, text("Greet by name"), evals: ["greet"], summary: text("greet passes")))
            recs.append(rec("rec-tone", 2, text("Friendly tone"), evals: [], summary: "friendlier replies"))
        }
        if n == 2 {
            recs.append(rec("rec-refund", 1, text("Quote the refund policy"), evals: ["refund"], summary: "refund passes"))
        }
        var outcomes: [JSONValue] = []
        if n == 2 {
            outcomes.append(.object(["recommendation_id": "rec-greet", "from_cycle": 1, "implemented": true, "status": "regressed",
                "flipped_to_pass": ["greet"], "still_failing": [], "regressed": ["refund"], "note": .string(text("refund broke"))]))
            outcomes.append(.object(["recommendation_id": "rec-tone", "from_cycle": 1, "implemented": true, "status": "regressed",
                "regressed": ["refund"], "note": "refund broke"]))
        }
        if n == 3 {
            outcomes.append(.object(["recommendation_id": "rec-refund", "from_cycle": 2, "implemented": true, "status": "verified",
                "flipped_to_pass": ["refund"], "still_failing": [], "regressed": [], "note": "all predicted evals pass"]))
        }
        let diag: JSONValue = .object([
            "cycle": .int(Int64(n)), "generated_by": "deterministic", "failure_modes": .array(modes), "recommendations": .array(recs),
            "outcomes": .array(outcomes),
        ])
        try history.commitToOpenCycle(.diagnosis, files: ["diagnosis.json": json(diag)])
        _ = try history.closeCycle(now: Self.date(n, 3600))
    }

    static func make(in dir: URL, payload: String = "", cycles: Int = 3) throws -> SupportFixture {
        let f = SupportFixture(directory: dir, payload: payload)
        try f.history.initialize(files: [
            "loop.yaml": Data("project: Acme support\n".utf8), "harness/prompt.md": Data(f.harness(0).utf8),
        ])
        for n in 1...cycles { try f.addCycle(n) }
        return f
    }
}
