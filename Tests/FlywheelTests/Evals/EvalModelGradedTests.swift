@testable import Flywheel
@testable import FlywheelSupport
import Foundation
import Testing
import TestSupport
@testable import FlywheelEvals
@testable import FlywheelModels

/// answer-relevance, context-recall, context-relevance, context-faithfulness and conversation-relevance through a judge
/// and an embeddings endpoint on a loopback OpenAI-compatible server.
@Suite("Evals retrieval and conversation grading")
struct EvalModelGradedTests {
    /// Answers by the task in the system message. The grader's verdicts come from the user message, so the scores
    /// depend on the row: a sentence/statement is supported iff all its words (4+ letters) occur in the context;
    /// a turn is relevant iff its reply shares a word (4+ letters) with its question. Embeddings: bag of letters.
    static let server = #"""
    import http.server, json, re, sys
    log = open(sys.argv[1], "a")
    def words(s): return set(w.lower() for w in re.findall(r"[A-Za-z]{4,}", s))
    def block(text, tag):
        m = re.search("<%s>\n(.*?)\n</%s>" % (tag, tag), text, re.S)
        return m.group(1) if m else ""
    def numbered(text): return [re.sub(r"^\d+\. ", "", l) for l in text.split("\n") if l.strip()]
    def reply(system, user):
        if "Write the one question" in system:
            return json.dumps({"question": "what about " + user.split("\n", 1)[1]})
        if "decide whether the context supports it" in system:
            ctx = words(block(user, "Context"))
            items = numbered(block(user, "Sentences") or block(user, "Statements"))
            key = "attributed" if "<Sentences>" in user else "supported"
            return "Verdicts: " + json.dumps({"verdicts": [{"n": i + 1, key: words(s) <= ctx, "reason": "r"} for i, s in enumerate(items)]})
        if "Extract, word for word" in system:
            q = words(block(user, "Query"))
            sents = [s for s in re.split(r"(?<=[.!?])\s+", block(user, "Context")) if s]
            return json.dumps({"sentences": [s for s in sents if words(s) & q]})
        if "Break the answer" in system:
            return json.dumps({"statements": [s for s in re.split(r"(?<=[.!?])\s+", block(user, "Answer")) if s]})
        if "last reply is relevant" in system:
            last = block(user, "Conversation").split("\n\n")[-1]
            u, a = last.split("\nAssistant: ", 1)
            ok = bool(words(u) & words(a))
            return json.dumps({"verdict": "yes" if ok else "no", "reason": "on topic" if ok else "off topic: " + a})
        if "Pick the one that best" in system:
            outs = re.findall(r'<Output index="(\d+)">\n(.*?)\n</Output>', user, re.S)
            best = max(outs, key=lambda o: len(o[1]))
            return json.dumps({"best": int(best[0]), "reason": "the most detailed"})
        return "?"
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a): pass
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            log.write(json.dumps({"path": self.path, "body": body}) + "\n"); log.flush()
            if self.path.endswith("/chat/completions"):
                msgs = body["messages"]
                system = next((m["content"] for m in msgs if m["role"] == "system"), "")
                text = reply(system, msgs[-1]["content"])
                out = {"id": "x", "object": "chat.completion", "model": body["model"],
                       "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
                       "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}
            else:
                inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                out = {"data": [{"index": i, "embedding": [s.lower().count(c) for c in "abcdefghijklmnopqrstuvwxyz"]} for i, s in enumerate(inputs)],
                       "model": body["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1}}
            b = json.dumps(out).encode()
            self.send_response(200); self.send_header("Content-Type", "application/json"); self.send_header("Content-Length", str(len(b))); self.end_headers()
            self.wfile.write(b)
    s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    print(s.server_address[1], flush=True)
    s.serve_forever()
    """#

    @Test("each type scores from the judge's verdicts with Promptfoo's formulas; inputs missing are errors; no judge skips")
    func graded() throws {
        let dir = TestPaths.scratch("evals-rag")
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("requests.jsonl")
        let server = try PythonServer(script: Self.server, arguments: [log.path], in: dir)
        defer { server.stop() }
        let base = "http://127.0.0.1:\(server.port)/v1"
        let judge = OpenAICompatibleModel(model: "judge", baseURL: base, apiKey: "sk-loopback", timeout: 20, maxRetries: 0, environment: [:])
        let caller = EvalProviderCaller(policy: EvalScriptPolicy(allowScripts: false, disabledReason: "off", workingDirectory: dir),
                                        environment: ["OPENAI_BASE_URL": base, "OPENAI_API_KEY": "sk-loopback"], maxRetries: 0, timeout: 20)
        let engine = EvalAssertionEngine(judge: judge, scripts: nil, embedder: { p, t in try caller.embed(provider: p, texts: t) })
        let suite = try EvalSuite.parse(yaml: """
            prompts: ['{{query}}']
            providers: [echo]
            tests:
              - description: recall half
                vars:
                  query: Who created Python?
                  context: [Python was released in 1991., It is popular.]
                options: {disableVarExpansion: true}
                providerOutput: Guido created Python in 1991.
                assert:
                  - {type: context-recall, value: 'Python was released in 1991. Guido van Rossum created Python.', threshold: 0.5}
                  - {type: context-recall, value: 'Python was released in 1991. Guido van Rossum created Python.', threshold: 0.9, weight: 0}
              - description: relevance and faithfulness
                vars:
                  query: What is the capital city of France?
                  context: Paris is the capital city of France. France has great wine. The tower is tall.
                providerOutput: Paris is the capital city. Paris has three million residents.
                assert:
                  - {type: context-relevance, threshold: 0.3}
                  - {type: context-faithfulness, threshold: 0.5}
              - description: conversation
                vars:
                  query: unused
                  _conversation:
                    - {input: 'tell me about trains', output: 'trains run on rails'}
                    - {input: 'and about boats', output: 'I like cheese'}
                providerOutput: x
                assert:
                  - {type: conversation-relevance, threshold: 0.5}
              - description: answer relevance
                vars: {query: abcabc}
                providerOutput: abc
                assert:
                  - {type: answer-relevance, threshold: 0.5}
              - description: no context
                vars: {query: q}
                providerOutput: x
                assert:
                  - {type: context-recall, value: y}
            """, file: dir.appendingPathComponent("s.yaml"))
        let run = EvalRunner(engine: engine).grade(suite: suite)
        let rows = run.rows
        #expect(rows.map(\.status) == [.passed, .passed, .passed, .passed, .error], "\(rows.map { $0.error ?? "" })")
        let recall = rows[0].gradingResult?.componentResults ?? []
        try #require(recall.count == 2)
        #expect(recall[0].score == 0.5 && recall[0].reason == "Recall 0.50 is >= 0.5")
        #expect(!recall[1].pass || recall[1].assertion?.weight == 0)
        #expect(recall[1].reason == "Recall 0.50 is < 0.9")
        let rf = rows[1].gradingResult?.componentResults ?? []
        try #require(rf.count == 2)
        #expect(abs(rf[0].score - 2.0 / 3.0) < 1e-9 && rf[0].reason == "Relevance 0.67 is >= 0.3")   // 2 of 3 context sentences share a query word
        #expect(rf[1].score == 0.5 && rf[1].reason == "Faithfulness 0.50 is >= 0.5")   // residents unsupported
        let conv = try #require(rows[2].gradingResult?.componentResults.first)
        #expect(conv.score == 0.5 && conv.reason.contains("off topic: I like cheese"))
        let ar = try #require(rows[3].gradingResult?.componentResults.first)
        #expect(ar.score > 0.5 && ar.score <= 1 && ar.reason.hasPrefix("Relevance "), "\(ar.reason)")
        #expect(ar.metadata["generatedQuestions"]?.arrayValue?.count == 3)
        #expect((rows[4].error ?? "").contains("requires a \"context\" var"))
        // Tokens of the grader calls are counted.
        #expect((rows[1].gradingResult?.tokensUsed?.total ?? 0) >= 21)
        // Without a judge each type is skipped, never passed.
        let none = EvalRunner(engine: EvalAssertionEngine(judge: nil, scripts: nil)).grade(suite: suite)
        #expect(none.rows.prefix(4).allSatisfy { $0.status == .skipped })
    }

    @Test("contextTransform reads the context from the output (needs node)")
    func contextTransform() throws {
        let scripts = SubprocessScriptRunner(timeout: 20)
        try #require(scripts.nodePath != nil, "node is needed (make test installs it)")
        let dir = TestPaths.scratch("evals-rag-ct")
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("requests.jsonl")
        let server = try PythonServer(script: Self.server, arguments: [log.path], in: dir)
        defer { server.stop() }
        let judge = OpenAICompatibleModel(model: "judge", baseURL: "http://127.0.0.1:\(server.port)/v1", apiKey: "k", timeout: 20, maxRetries: 0, environment: [:])
        let engine = EvalAssertionEngine(judge: judge, scripts: scripts)
        let a = try EvalAssertion(parsing: .obj([("type", .string("context-faithfulness")), ("contextTransform", .string("output.ctx"))]))
        let out = EvalOutput(output: .obj([("answer", .string("x")), ("ctx", .string("Cats sleep a lot."))]))
        let r = try engine.run(a, output: out, context: EvalAssertionContext(vars: JSONValue.obj([("query", .string("cats?"))]).objectValue!, prompt: "cats?"))
        // The whole output (JSON) is the answer; its statement's words are not all in the context.
        #expect(r.reason.hasPrefix("Faithfulness "), "\(r.reason)")
        let reqs: String = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        #expect(reqs.contains("Cats sleep a lot."))
    }

    @Test("select-best through the judge and max-score over the other assertions pick one row of each test group")
    func compare() throws {
        let dir = TestPaths.scratch("evals-compare")
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("requests.jsonl")
        let server = try PythonServer(script: Self.server, arguments: [log.path], in: dir)
        defer { server.stop() }
        let judge = OpenAICompatibleModel(model: "judge", baseURL: "http://127.0.0.1:\(server.port)/v1", apiKey: "k", timeout: 20, maxRetries: 0, environment: [:])
        let suite = try EvalSuite.parse(yaml: """
            prompts: ['short {{x}}', 'a much longer answer about {{x}}']
            providers: [echo]
            tests:
              - vars: {x: trains}
                assert:
                  - {type: select-best, value: the most detailed answer}
              - vars: {x: boats}
                assert:
                  - {type: contains, value: boats}
                  - {type: contains, value: longer}
                  - {type: max-score}
              - vars: {x: cars}
                assert:
                  - {type: contains, value: nothing}
                  - {type: max-score, value: {threshold: 0.5}}
            """, file: dir.appendingPathComponent("s.yaml"))
        let run = EvalRunner(engine: EvalAssertionEngine(judge: judge, scripts: nil)).grade(suite: suite)
        #expect(run.rows.count == 6)
        #expect(run.rows.map(\.status) == [.failed, .passed, .failed, .passed, .failed, .failed], "\(run.rows.map { $0.error ?? "" })")
        #expect(run.rows[0].error == "Output not selected: the most detailed")
        #expect(run.rows[1].gradingResult?.componentResults.last?.reason == "Output selected as the best: the most detailed")
        #expect(run.rows[2].error == "Not selected (score: 0.500, max: 1.000)")
        #expect(run.rows[3].gradingResult?.componentResults.last?.reason == "Selected as highest scoring output (score: 1.000)")
        #expect(run.rows[4].gradingResult?.componentResults.last?.reason == "Highest score 0.000 is below threshold 0.5")
        // Without a judge select-best is skipped, never passed; max-score needs none.
        let none = EvalRunner(engine: EvalAssertionEngine(judge: nil, scripts: nil)).grade(suite: suite)
        #expect(none.rows.map(\.status) == [.skipped, .skipped, .failed, .passed, .failed, .failed])
    }
}

