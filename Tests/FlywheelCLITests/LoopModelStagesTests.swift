import Foundation
import Testing
import TestSupport

/// `flywheel loop` with a model per optional stage (critic, eval generation, judge, diagnosis), all served by one
/// local OpenAI-compatible server that answers each stage the way a real model would.
@Suite("Loop: model-backed stages through a local server")
struct LoopModelStagesTests {
    /// Routes by what is asked: the critic's and the eval proposer's JSON schemas, the judge's rubric prompt, and the
    /// diagnosis pass's tool loop (overview → view a trace → report one verifiable and one invented failure mode →
    /// final answer). Logs `model kind` per request.
    static let server = #"""
        import json, re, sys, threading
        from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
        log_path = sys.argv[1]
        lock = threading.Lock()

        def reply(model, content=None, calls=None):
            msg = {"role": "assistant", "content": content}
            if calls:
                msg["tool_calls"] = [{"id": "call_%d" % i, "type": "function",
                                      "function": {"name": n, "arguments": json.dumps(a)}} for i, (n, a) in enumerate(calls)]
            return {"id": "x", "object": "chat.completion", "created": 0, "model": model,
                    "choices": [{"index": 0, "message": msg, "finish_reason": "tool_calls" if calls else "stop"}],
                    "usage": {"prompt_tokens": 50, "completion_tokens": 5, "total_tokens": 55}}

        def answer(body):
            model = body.get("model", "")
            msgs = body.get("messages", [])
            schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("name")
            tools = [t["function"]["name"] for t in body.get("tools") or []]
            if schema == "critique":
                return "critic", reply(model, json.dumps({"findings": [{
                    "category": "Model Noted Gap", "severity": "medium",
                    "observation": "MODEL-CRITIC: the answer does not state the data room's as-of date.",
                    "evidence": "overview.md", "required_observations": ["MODEL-PHRASE"], "prohibited_claims": []}]}))
            if schema == "eval_cases":
                user = msgs[-1]["content"]
                ids = re.findall(r'"feedback_id":"([^"]+)"', user)
                return "eval_generation", reply(model, json.dumps({"cases": [{
                    "feedback_id": ids[0], "description": "MODEL-PROPOSED: names the company",
                    "assert": [{"type": "icontains", "value": "Lumora"}]}]}))
            if msgs and (msgs[0].get("content") or "").startswith("You grade an AI system's output"):
                return "judge", reply(model, json.dumps({"reason": "JUDGE-OK", "pass": True, "score": 1.0}))
            if "report_failure_mode" in tools:
                turn = sum(1 for m in msgs if m["role"] == "assistant")
                last = msgs[-1].get("content") or ""
                if turn == 0:
                    return "diagnosis", reply(model, None, [("get_dataset_overview", {})])
                if turn == 1:
                    trace = re.findall(r"[0-9a-f]{32}", last)[0]
                    return "diagnosis", reply(model, None, [("view_trace", {"trace_id": trace})])
                if turn == 2:
                    trace = re.findall(r"[0-9a-f]{32}", last)[0]
                    span = re.findall(r'"span_id"\s*:\s*"([0-9a-f]{16})"', last)[0]
                    real = {"title": "MODEL-FOUND: agent never states the as-of date", "category": "as-of-date",
                            "kind": "missing requirement",
                            "evidence": [{"trace_id": trace, "span_id": span, "quote": "DiligenceAnalyst"}],
                            "recommendation": {"title": "State the as-of date", "area": "prompt",
                                               "change": "Add a rule: state the data room's as-of date."}}
                    invented = {"title": "MODEL-INVENTED: leaks passwords", "category": "invented", "kind": "missing requirement",
                                "evidence": [{"trace_id": trace, "span_id": span, "quote": "THIS TEXT IS IN NO SPAN AT ALL"}]}
                    return "diagnosis", reply(model, None, [("report_failure_mode", real), ("report_failure_mode", invented)])
                return "diagnosis", reply(model, None, [("final_answer", {"answer": "MODEL-DIAGNOSIS done"})])
            return "unknown", reply(model, "?")

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"
            def log_message(self, *a): pass
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                kind, payload = answer(body)
                with lock:
                    with open(log_path, "a") as f:
                        f.write(json.dumps({"kind": kind, "model": body.get("model"),
                                            "auth": self.headers.get("Authorization", "")}) + "\n")
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        print(server.server_address[1], flush=True)
        server.serve_forever()
        """#

    /// Starts the server script; returns the server and the request log.
    static func start(in folder: URL) throws -> (PythonServer, URL) {
        let log = folder.appendingPathComponent("requests.jsonl")
        return (try PythonServer(script: server, arguments: [log.path], in: folder), log)
    }

    @Test("critic, eval generation, judge and diagnosis models each do their part; unverifiable model claims are dropped")
    func modelStages() throws {
        let folder = try LoopTest.example("model-stages")
        let scratch = TestPaths.scratch("model-stages-server")
        let (server, log) = try Self.start(in: scratch)
        defer { server.stop() }
        let port = server.port
        let config = folder.appendingPathComponent("loop.yaml")
        var yaml = try String(contentsOf: config, encoding: .utf8)
        for (stage, model) in [("critic", "critic-model"), ("eval_generation", "gen-model"), ("judge", "judge-model"), ("diagnosis", "diag-model")] {
            let before = yaml
            yaml = yaml.replacingOccurrences(of: "  \(stage):\n", with: "  \(stage): openai:\(model)\n")
            try #require(yaml != before, "loop.yaml has no empty models.\(stage)")
        }
        try yaml.write(to: config, atomically: true, encoding: .utf8)
        let key = "sk-test-STAGES0123456789abcdef"
        let env = ["OPENAI_BASE_URL": "http://127.0.0.1:\(port)/v1", "OPENAI_API_KEY": key]

        let r = try flywheel(["loop", "--tasks", "2", "--json"], in: folder, env: env)
        try #require(r.status == 0 || r.status == 100, "loop failed: \(r.stderr)\n\(r.stdout)")
        let report = try LoopTest.object(r.stdout)
        #expect(r.status == ((report["gate_passed"] as? Bool ?? false) ? 0 : 100), "the exit code is the gate's")
        #expect(report["tag"] as? String == "cycle-0001")

        // Every stage called its own model, with the key.
        let requests = try String(contentsOf: log, encoding: .utf8).split(separator: "\n").compactMap { try? json(String($0)) as? [String: Any] }
        var models: [String: Set<String>] = [:]
        for q in requests { models[q["kind"] as? String ?? "", default: []].insert(q["model"] as? String ?? "") }
        #expect(models["critic"] == ["critic-model"])
        #expect(models["eval_generation"] == ["gen-model"])
        #expect(models["judge"] == ["judge-model"])
        #expect(models["diagnosis"] == ["diag-model"])
        #expect(models["unknown"] == nil, "a request the server did not recognise")
        #expect(requests.allSatisfy { $0["auth"] as? String == "Bearer \(key)" })
        #expect(requests.filter { $0["kind"] as? String == "critic" }.count == 2, "one critique per run")

        // Critic → feedback from the model, attributed to it, one per trace.
        let feedback = try #require(try LoopTest.show(folder, "cycle-0001", "cycles/0001/feedback.jsonl"))
        let records = feedback.split(separator: "\n").compactMap { try? json(String($0)) as? [String: Any] }
        let byModel = records.filter { $0["source"] as? String == "model" }
        #expect(byModel.count == 2)
        #expect(byModel.allSatisfy { $0["author"] as? String == "openai:critic-model" && $0["category"] as? String == "model-noted-gap" })
        #expect(records.contains { $0["source"] as? String == "rule" }, "the rule critic still runs")

        // Eval generation: the model's proposal and, with a judge, rubric cases; the judge graded the rubric rows.
        let evals = try #require(try LoopTest.show(folder, "cycle-0001", "cycles/0001/evals.yaml"))
        #expect(evals.contains("MODEL-PROPOSED"))
        #expect(evals.contains("MODEL-PHRASE"), "the critic's required phrase became an assertion")
        #expect(evals.contains("llm-rubric"))
        let results = try LoopTest.object(try LoopTest.show(folder, "cycle-0001", "cycles/0001/results.json"))
        let rows = try #require((results["results"] as? [String: Any])?["results"] as? [[String: Any]])
        let rubricRows = rows.filter { row in
            (((row["testCase"] as? [String: Any])?["assert"] as? [[String: Any]]) ?? []).contains { $0["type"] as? String == "llm-rubric" }
        }
        #expect(!rubricRows.isEmpty)
        #expect(requests.filter { $0["kind"] as? String == "judge" }.count == rubricRows.count)
        let rubricText = String(decoding: try JSONSerialization.data(withJSONObject: rubricRows), as: UTF8.self)
        #expect(rubricText.contains("JUDGE-OK"), "rubric rows do not carry the judge's reason")

        // Diagnosis: the verifiable model finding is kept with its evidence, the invented one is not.
        let diagnosis = try LoopTest.object(try LoopTest.show(folder, "cycle-0001", "cycles/0001/diagnosis.json"))
        #expect(diagnosis["generated_by"] as? String == "deterministic+model:openai:diag-model")
        let titles = ((diagnosis["failure_modes"] as? [[String: Any]]) ?? []).compactMap { $0["title"] as? String }
        #expect(titles.contains { $0.contains("MODEL-FOUND") }, "\(titles)")
        #expect(!titles.contains { $0.contains("MODEL-INVENTED") }, "an unverifiable model claim reached the diagnosis")
        let cycle = try LoopTest.object(try LoopTest.show(folder, "cycle-0001", "cycles/0001/cycle.json"))
        let cycleModels = try #require(cycle["models"] as? [String: String])
        #expect(cycleModels["critic"] == "openai:critic-model" && cycleModels["judge"] == "openai:judge-model")

        // The key is nowhere in the history.
        let all = try LoopTest.git(folder.appendingPathComponent("loop-history"), ["cat-file", "--batch-all-objects", "--batch"]).stdout
        #expect(!all.contains(key))
    }
}
