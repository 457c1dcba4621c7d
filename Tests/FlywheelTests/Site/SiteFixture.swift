@testable import Flywheel
@testable import FlywheelSupport
import Foundation
import GitStore

/// A small deterministic loop history for the site tests, made through `LoopHistory` with fixed times.
/// Every untrusted text field goes through `text(_:)`, so the XSS test can put its payloads in all of them.
struct SiteFixture {
    var history: LoopHistory
    /// Text placed in every untrusted field (empty for the golden tests).
    var payload: String
    /// Trace ids used per cycle (cycle → ids).
    var traceIDs: [Int: [String]] = [:]

    static let epoch: TimeInterval = 1_780_000_000  // 2026-05-28T20:26:40Z

    init(directory: URL, payload: String = "") {
        history = LoopHistory(repository: directory.appendingPathComponent("history.git"))
        self.payload = payload
    }

    func text(_ s: String) -> String { payload.isEmpty ? s : s + " " + payload }

    static func date(_ cycle: Int, _ offset: TimeInterval = 0) -> Date {
        Date(timeIntervalSince1970: epoch + Double(cycle) * 86_400 + offset)
    }

    func json(_ v: JSONValue) -> Data { Data((v.canonicalText + "\n").utf8) }

    /// `loop.yaml`, the harness and an empty suite.
    func initialize() throws {
        let loop = "project: \(payload.isEmpty ? "Lumora diligence" : "Lumora " + yamlQuoted(payload))\n"
        try history.initialize(files: [
            "loop.yaml": Data(loop.utf8), "harness/instructions.md": Data(harness(0).utf8),
            "evals/promptfooconfig.yaml": Data("tests: []\n".utf8),
        ])
    }

    func yamlQuoted(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n") + "\""
    }

    func harness(_ version: Int) -> String {
        var s = "# Diligence analyst\n\nYou are a diligence analyst. Cite every figure.\n"
        if version >= 2 { s += "\nAlways state the ARR date.\n" }
        if version >= 3 { s += "\nNever invent a file path; list the data room first.\n" }
        return s
    }

    func traceID(_ cycle: Int, _ i: Int) -> String {
        // With a payload, the second trace's id is hostile too (file names and anchors are made from it).
        if !payload.isEmpty && i == 1 { return "\(cycle)" + String(payload.prefix(80)) }
        return String(format: "%030x%02x", cycle * 1000 + 7, i)
    }

    /// One trace: root agent, an LLM call, two tool calls (the second failing in odd traces).
    func spans(cycle: Int, index i: Int, id tid: String) -> [JSONValue] {
        let base = Self.epoch + Double(cycle) * 86_400 + Double(i) * 60
        func ts(_ s: Double) -> String {
            let whole = Int(base + s)
            let frac = Int(((base + s) - Double(whole)) * 1_000_000_000 + 0.5)
            let date = Date(timeIntervalSince1970: TimeInterval(whole))
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.timeZone = TimeZone(identifier: "UTC")
            f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
            return f.string(from: date) + String(format: ".%09dZ", frac)
        }
        func span(_ sid: String, _ parent: String, _ name: String, _ kind: String, _ s: Double, _ e: Double,
                  error: String? = nil, attrs: [String: JSONValue]) -> JSONValue {
            var a = attrs
            a["inference.observation_kind"] = .string(kind)
            a["openinference.span.kind"] = .string(kind)
            a["inference.project_id"] = "lumora-diligence"
            return .object([
                "trace_id": .string(tid), "span_id": .string(sid), "parent_span_id": .string(parent), "trace_state": "",
                "name": .string(name), "kind": kind == "LLM" ? "SPAN_KIND_CLIENT" : "SPAN_KIND_INTERNAL",
                "start_time": .string(ts(s)), "end_time": .string(ts(e)),
                "status": .object(["code": error == nil ? "STATUS_CODE_OK" : "STATUS_CODE_ERROR", "message": .string(error ?? "")]),
                "resource": .object(["attributes": .object(["service.name": .string(text("diligence-analyst"))])]),
                "scope": .object(["name": "flywheel", "version": "0.1.0"]),
                "attributes": .object(a),
            ])
        }
        let root = String(format: "a%015x", cycle * 100 + i)
        let llm = String(format: "b%015x", cycle * 100 + i)
        let t1 = String(format: "c%015x", cycle * 100 + i)
        let t2 = String(format: "d%015x", cycle * 100 + i)
        let messages: JSONValue = .array([
            .object(["role": "system", "content": .string(text("You are a diligence analyst. Cite every figure."))]),
            .object(["role": "user", "content": .string(text("What is Lumora’s current ARR?"))]),
        ])
        let output: JSONValue = .array([
            .object(["role": "assistant", "content": .null, "tool_calls": .array([
                .object(["id": "call_1", "type": "function", "function": .object([
                    "name": .string(text("read_file")), "arguments": .string(text("{\"path\":\"financials/arr.csv\"}")),
                ])]),
            ])]),
        ])
        let failing = i % 2 == 1
        return [
            span(llm, root, text("generation.offline-example"), "LLM", 0.01, 1.5, attrs: [
                "llm.model_name": "offline-example", "inference.llm.model_name": "offline-example",
                "llm.input_messages": .string(messages.canonicalText), "llm.output_messages": .string(output.canonicalText),
                "inference.llm.input_tokens": .int(Int64(400 + i)), "inference.llm.output_tokens": 58,
                "flywheel.note": .string(text(String(repeating: "long attribute ", count: 400))),
            ]),
            span(t1, root, text("function.read_file"), "TOOL", 1.6, 2.0, attrs: [
                "tool.name": "read_file", "input.value": .string(text("{\"path\":\"financials/arr.csv\"}")),
                "output.value": .string(text("month,arr_usd\n2026-08,46350000")),
            ]),
            span(t2, root, "function.read_file", "TOOL", 2.1, 2.9,
                 error: failing ? text("Error running tool (non-fatal)") : nil, attrs: [
                "tool.name": "read_file", "input.value": "{\"path\":\"financials/arr_2026.csv\"}",
                "output.value": .string(failing ? text("An error occurred while running the tool. Please try again. Error: no such file") : "ok"),
            ]),
            span(root, "", text("agent.DiligenceAnalyst"), "AGENT", 0, 3.0, attrs: [
                "agent.name": .string(text("DiligenceAnalyst")), "inference.agent_name": "DiligenceAnalyst",
            ]),
        ]
    }

    func row(_ testIdx: Int, caseID: String, pass: Bool, error: Bool = false, cycle: Int, addedIn: Int, trace: String, category: String) -> JSONValue {
        let meta: JSONValue = .object([
            "id": .string(caseID), "feedback_id": .string("fb-\(addedIn)-\(testIdx)"), "trace_id": .string(trace),
            "cycle": .int(Int64(addedIn)), "category": .string(text(category)),
        ])
        return .object([
            "id": .string(String(format: "00000000-0000-4000-8000-%012d", cycle * 100 + testIdx)), "promptIdx": 0,
            "testIdx": .int(Int64(testIdx)),
            "testCase": .object(["description": .string(text("Case \(caseID)")), "vars": .object(["trace_id": .string(trace)]), "metadata": meta]),
            "vars": .object(["trace_id": .string(trace)]), "description": .string(text("Case \(caseID)")),
            "response": .object(["output": .string(text("The ARR is $46.9M"))]),
            "success": .bool(pass), "score": .double(pass ? 1 : 0.25), "latencyMs": 12,
            "namedScores": .object(["citations": .double(pass ? 1 : 0.5)]),
            "failureReason": .int(pass ? 0 : (error ? 2 : 1)),
            "gradingResult": .object(["pass": .bool(pass), "score": .double(pass ? 1 : 0.25),
                "reason": .string(pass ? "All assertions passed" : text("Expected output to cite the ARR date"))]),
            "metadata": meta,
        ])
    }

    /// Runs one full cycle (every stage) and closes it. `version` selects the harness and the outcomes.
    @discardableResult
    func addCycle(_ n: Int, stages: Set<Stage> = Set(Stage.allCases)) throws -> Cycle {
        _ = try history.startCycle(
            harness: ["instructions.md": Data(harness(n).utf8)], models: ["agent": "offline-example"],
            summary: text("Cycle \(n) applies rec-cite-dates"), now: Self.date(n))
        let ids = (0..<2).map { traceID(n, $0) }
        var lines = ""
        for (i, tid) in ids.enumerated() { for s in spans(cycle: n, index: i, id: tid) { lines += s.canonicalText + "\n" } }
        var outputs: [String: Data] = ["traces.jsonl": Data(lines.utf8)]
        for (i, tid) in ids.enumerated() where !tid.contains("/") && !tid.isEmpty {
            outputs["outputs/\(tid)/summary_answer.md"] = Data(text("# Answer\n\nLumora’s ARR is **$46.9M** (2026-09).\n").utf8)
            outputs["outputs/\(tid)/risk_register.json"] = json(.array([.object(["risk": .string(text("customer concentration")), "severity": "high"])]))
            outputs["outputs/\(tid)/task.json"] = json(.object(["question_id": .string("q\(i)"), "question": .string(text("What is Lumora’s ARR?")), "trace_id": .string(tid)]))
            if !payload.isEmpty { outputs["outputs/\(tid)/\(fileNamePayload).md"] = Data(text("x").utf8) }
        }
        try history.commitToOpenCycle(.traces, files: outputs) { c in
            c.scores.traces = 2
            c.scores.spans = 8
        }
        if stages.contains(.feedback) {
            let fb = ids.enumerated().map { (i, tid) -> String in
                JSONValue.object([
                    "feedback_id": .string("fb-\(n)-\(i)"), "trace_id": .string(tid), "source": "human", "author": .string(text("reviewer")),
                    "category": .string(text("citation")), "severity": i == 0 ? "high" : "low",
                    "observation": .string(text("The answer gives ARR without its date.")), "evidence": .string(text("span b… output")),
                    "required_observations": .array([.string(text("ARR date"))]), "prohibited_claims": .array([.string(text("ARR of $50M"))]),
                    "created_at": .string(ISO8601.string(Self.date(n, 60))),
                ]).canonicalText
            }.joined(separator: "\n") + "\n"
            try history.commitToOpenCycle(.feedback, files: ["feedback.jsonl": Data(fb.utf8)])
        }
        if stages.contains(.evals) {
            let added = n == 1 ? ["case-a", "case-b"] : n == 2 ? ["case-c"] : []
            var yaml = added.isEmpty ? "[]\n" : ""
            for id in added {
                yaml += "- description: \(yamlQuoted(text("Case " + id)))\n  metadata:\n    id: \(id)\n    cycle: \(n)\n    category: \(yamlQuoted(text("citation")))\n"
            }
            try history.commitToOpenCycle(.evals, files: ["evals.yaml": Data(yaml.utf8)])
        }
        var passRate = 0.0
        if stages.contains(.results) {
            var rows: [JSONValue] = []
            // case-a: fails in cycle 1, fixed in 2; case-b: flaky (pass, fail, pass); case-c: added in 2, errors in 3.
            rows.append(row(0, caseID: "case-a", pass: n >= 2, cycle: n, addedIn: 1, trace: ids[0], category: "citation"))
            rows.append(row(1, caseID: "case-b", pass: n != 2, cycle: n, addedIn: 1, trace: ids[1], category: "tools"))
            if n >= 2 { rows.append(row(2, caseID: "case-c", pass: n == 2, error: n >= 3, cycle: n, addedIn: 2, trace: ids[0], category: "citation")) }
            let passed = rows.filter { $0["success"]?.boolValue == true }.count
            passRate = Double(passed) / Double(rows.count)
            let results: JSONValue = .object([
                "evalId": "eval-abc-2026-05-28T20:26:40",
                "results": .object(["version": 3, "timestamp": "2026-05-28T20:26:40.000Z", "prompts": [], "results": .array(rows),
                    "stats": .object(["successes": .int(Int64(passed)), "failures": .int(Int64(rows.count - passed)), "errors": 0])]),
                "config": .object([:]), "shareableUrl": .null,
            ])
            try history.commitToOpenCycle(.results, files: ["results.json": json(results)]) { c in
                c.scores.passRate = passRate
                c.scores.meanScore = passRate * 0.8 + 0.1
                c.scores.passed = passed
                c.scores.failed = rows.count - passed
                c.scores.errors = 0
                c.scores.skipped = 0
                c.scores.total = rows.count
                c.scores.gatePassed = passRate >= 0.6
                c.scores.minPassRate = 0.6
                c.scores.metrics = ["citations": passRate]
                c.scores.failuresByCategory = ["citation": n == 1 ? 1 : 0, "tools": n == 2 ? 1 : 0]
                c.scores.tokens = 1000 + n * 10
                c.scores.costUSD = 0.01 * Double(n)
                c.scores.latencyMs = 3000 - Double(n) * 100
            }
        }
        if stages.contains(.diagnosis) {
            let ev: JSONValue = .array([.object(["trace_id": .string(ids[1]), "span_id": .string(String(format: "d%015x", n * 100 + 1)),
                "eval_id": "case-b", "note": .string(text("tool read a missing file"))])])
            var diag: [String: JSONValue] = [
                "cycle": .int(Int64(n)), "generated_by": "deterministic",
                "failure_modes": .array([.object([
                    "id": "fm-missing-file", "title": .string(text("Reads a file that does not exist")), "kind": "present but not followed",
                    "category": .string(text("tools")), "count": 1, "trace_ids": .array([.string(ids[1])]), "span_ids": [], "eval_ids": ["case-b"],
                    "feedback_ids": [], "evidence": ev,
                ])]),
                "recommendations": .array([.object([
                    "id": "rec-cite-dates", "rank": 1, "title": .string(text("State the ARR date")), "area": "prompt",
                    "change": .string(text("Append a rule to cite the ARR date.")),
                    "patch": .object(["file": "harness/instructions.md", "append": .string(text("Always state the ARR date."))]),
                    "predicted_impact": .object(["eval_ids": ["case-a"], "trace_ids": [], "summary": .string(text("case-a passes"))]),
                    "confidence": "medium", "effort": "small", "evidence": ev, "validation": .string(text("rerun the gate")),
                    "failure_mode_ids": ["fm-missing-file"],
                ])]),
                "outcomes": [],
            ]
            if n >= 2 {
                diag["outcomes"] = .array([.object([
                    "recommendation_id": "rec-cite-dates", "from_cycle": .int(Int64(n - 1)), "implemented": true,
                    "status": n == 2 ? "verified" : "ineffective", "flipped_to_pass": n == 2 ? ["case-a"] : [],
                    "still_failing": [], "regressed": n == 2 ? ["case-b"] : [], "note": .string(text("from the gate")),
                ])])
            }
            try history.commitToOpenCycle(.diagnosis, files: ["diagnosis.json": json(.object(diag))])
        }
        if stages.contains(.handoff) {
            let md = """
                # Handoff for cycle \(n)

                \(text("The agent cites figures without dates."))

                ## Priorities

                - \(text("State the ARR date"))
                - [evidence](\(payload.isEmpty ? "#md-priorities" : "javascript:window.__xss=1"))

                ```json
                {"priorities": ["rec-cite-dates"]}
                ```

                """
            try history.commitToOpenCycle(.handoff, files: ["handoff.md": Data(md.utf8)])
        }
        return try history.closeCycle(now: Self.date(n, 3600))
    }

    /// A file name made from the payload (no `/`, no NUL), so artifact names carry it too.
    var fileNamePayload: String {
        String(payload.prefix(120)).replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "\0", with: "").replacingOccurrences(of: "\n", with: " ")
    }

    /// The standard three-cycle history.
    static func standard(in dir: URL, payload: String = "", cycles: Int = 3) throws -> SiteFixture {
        let f = SiteFixture(directory: dir, payload: payload)
        try f.initialize()
        for n in 1...cycles { try f.addCycle(n) }
        return f
    }
}
