@testable import Flywheel
@testable import FlywheelSupport
import Foundation
import Testing
import TestSupport
@testable import FlywheelEvals
@testable import FlywheelModels

/// A judge that answers every request with a fixed text (the ChatModel protocol, no HTTP).
struct StubJudge: ChatModel {
    let reply: String
    var id: String { "openai:stub-judge" }
    var label: String { "stub judge" }
    var isSimulation: Bool { true }
    func complete(_ request: ChatRequest) throws -> ChatResponse {
        ChatResponse(message: .assistant(reply), finishReason: "stop", usage: Usage(promptTokens: 10, completionTokens: 5), latencyMs: 1, model: "stub")
    }
}

@Suite("Evals grading")
struct EvalRunnerTests {
    static let suiteURL = TestPaths.packageRoot.appendingPathComponent("Tests/FlywheelTests/Fixtures/Evals/suite/promptfooconfig.yaml")

    static func run(judge: (any ChatModel)? = nil) throws -> (EvalSuite, EvalRunResult) {
        let suite = try EvalSuite.load(from: suiteURL)
        let runner = EvalRunner(engine: EvalAssertionEngine(judge: judge, scripts: nil))
        return (suite, runner.grade(suite: suite))
    }

    @Test("grades the fixture suite: pass, fail, skip; weighted scores; expansion")
    func gradeSuite() throws {
        let (_, run) = try Self.run()
        #expect(run.rows.count == 6)
        #expect(run.rows.map(\.status) == [.failed, .passed, .passed, .passed, .skipped, .passed])
        let cancel = run.rows[0]
        #expect(cancel.score == 0.75)
        #expect(cancel.error == "Expected output to not be a refusal")
        #expect(cancel.failureReason == 1)
        #expect(cancel.metadata["flywheelCaseId"] == .string("case-0007"))
        #expect(run.rows[1].vars["message"] == .string("Hello"))
        #expect(run.rows[2].vars["message"] == .string("Hi there"))
        #expect(run.rows[1].response?.outputString == "Reply: Hello")
        #expect(run.rows[1].namedScores["greeting"] == 1)
        let skipped = run.rows[4]
        #expect(skipped.success == false && skipped.failureReason == 2)
        #expect(skipped.error?.hasPrefix("Skipped: llm-rubric needs a judge") == true)
        #expect(skipped.metadata["flywheel"]?["status"] == .string("skipped"))
        #expect(skipped.gradingResult?.componentResults.contains { $0.skipped && !$0.pass } == true)
        #expect(run.rows[5].namedScores["length"] == 1)
        let s = run.summary
        #expect((s.passed, s.failed, s.errors, s.skipped) == (4, 1, 0, 1))
        #expect(abs(s.passRate - 400.0 / 6) < 1e-9)
        #expect(abs(s.viewerPassRate - 80) < 1e-9)
    }

    @Test("model-graded with a judge is graded, and counts as a pass")
    func judged() throws {
        let (_, run) = try Self.run(judge: StubJudge(reply: "Here you go: {\"reason\": \"the refund is stated\", \"pass\": true, \"score\": 0.9}"))
        let row = run.rows[4]
        #expect(row.status == .passed)
        #expect(abs(row.score - 0.95) < 1e-12)  // defaultTest's not-contains (1) and the rubric (0.9)
        #expect(row.gradingResult?.componentResults[1].reason == "the refund is stated")
        #expect(run.summary.skipped == 0 && run.summary.passed == 5)
        let (_, failing) = try Self.run(judge: StubJudge(reply: "{\"reason\": \"no refund mentioned\", \"pass\": false, \"score\": 0}"))
        #expect(failing.rows[4].status == .failed)
        #expect(failing.rows[4].error == "no refund mentioned")
        let (_, garbage) = try Self.run(judge: StubJudge(reply: "I think it is fine."))
        #expect(garbage.rows[4].error == "Could not extract JSON from llm-rubric response")
    }

    @Test("closedqa, factuality and g-eval through the judge")
    func otherModelGraded() throws {
        let ctx = EvalAssertionContext(prompt: "What is 2+2?")
        let out = EvalOutput(text: "4")
        let yes = EvalAssertionEngine(judge: StubJudge(reply: "The answer is right.\nY"), scripts: nil)
        #expect(try yes.run(EvalAssertion(type: "model-graded-closedqa", value: "is correct"), output: out, context: ctx).pass)
        let fact = EvalAssertionEngine(judge: StubJudge(reply: "{\"category\": \"D\", \"reason\": \"disagrees\"}"), scripts: nil)
        let f = try fact.run(EvalAssertion(type: "factuality", value: "4"), output: out, context: ctx)
        #expect(!f.pass && f.score == 0)
        let geval = EvalAssertionEngine(judge: StubJudge(reply: "{\"steps\": [\"a\"], \"score\": 8, \"reason\": \"good\"}"), scripts: nil)
        let g = try geval.run(EvalAssertion(type: "g-eval", value: "correct"), output: out, context: ctx)
        #expect(g.pass && abs(g.score - 0.8) < 1e-9)
        let none = EvalAssertionEngine(judge: nil, scripts: nil)
        for t in ["llm-rubric", "model-graded-closedqa", "factuality", "g-eval", "answer-relevance"] {
            let r = try none.run(EvalAssertion(type: t, value: "x"), output: out, context: ctx)
            #expect(r.skipped && !r.pass, "\(t)")
        }
    }

    @Test("skip rules: a failure elsewhere without threshold is a plain failure; weight 0 skips are ignored")
    func skipRules() throws {
        let engine = EvalAssertionEngine(judge: nil, scripts: nil)
        let out = EvalOutput(text: "hello")
        let rubric = EvalAssertion(type: "llm-rubric", value: "x")
        let (_, a1) = try engine.runAssertions([rubric, EvalAssertion(type: "equals", value: "bye")], threshold: nil, output: out, context: .init())
        #expect(a1.firstSkip != nil && a1.hasRealFailure)
        let (r2, a2) = try engine.runAssertions([EvalAssertion(type: "llm-rubric", value: "x", weight: 0), EvalAssertion(type: "equals", value: "hello")],
                                               threshold: nil, output: out, context: .init())
        #expect(a2.firstSkip == nil && r2.pass && r2.score == 1)
    }

    @Test("outputs come from the caller's lookup for non-echo providers; missing ones are errors")
    func lookup() throws {
        let yaml = """
        prompts: ['{{question}}']
        providers: [openai:gpt-4.1-mini]
        tests:
          - vars: {question: 'Where is my parcel?', trace_id: t1}
            assert: [{type: icontains, value: parcel}, {type: latency, threshold: 500}]
          - vars: {question: 'Refund?'}
            metadata: {trace_id: t2}
            assert: [{type: contains, value: refund issued}]
          - vars: {question: 'Unknown'}
            assert: [{type: contains, value: x}]
        """
        let suite = try EvalSuite.parse(yaml: yaml, file: URL(fileURLWithPath: "/tmp/x/promptfooconfig.yaml"))
        let recorded = ["t1": EvalOutput(output: "Your parcel ships today", latencyMs: 120), "t2": EvalOutput(output: "No refund", latencyMs: 900)]
        let run = EvalRunner(engine: EvalAssertionEngine(scripts: nil)).grade(suite: suite) { key in
            let id = key.vars["trace_id"]?.stringValue ?? key.metadata["trace_id"]?.stringValue
            return id.flatMap { recorded[$0] }
        }
        #expect(run.rows.map(\.status) == [.passed, .failed, .error])
        #expect(run.rows[2].error?.contains("No output recorded") == true)
        #expect(run.summary.errors == 1)
        #expect(EvalGate.decide(run.summary).exitCode == 100)
    }

    @Test("handler errors make ERROR rows without response or grading result")
    func handlerError() throws {
        let suite = try EvalSuite.parse(yaml: "prompts: [a]\ntests:\n  - providerOutput: x\n    assert: [{type: trace-span-count, value: {pattern: '*'}}]\n",
                                        file: URL(fileURLWithPath: "/tmp/x/s.yaml"))
        let run = EvalRunner(engine: EvalAssertionEngine(scripts: nil)).grade(suite: suite)
        #expect(run.rows[0].status == .error)
        #expect(run.rows[0].error == "No trace data available for trace-span-count assertion")
        #expect(run.rows[0].response == nil && run.rows[0].gradingResult == nil)
    }

    @Test("trace assertions read EvalTraceSpan inputs")
    func traces() throws {
        let spans = [
            EvalTraceSpan(name: "llm.chat", startNs: 0, endNs: 1_500_000_000),
            EvalTraceSpan(name: "tool.search", startNs: 1_600_000_000, endNs: 1_700_000_000, statusCode: 2, statusMessage: "boom",
                          jsonAttributes: ["tool.name": .string("search"), "tool.arguments": .string("{\"q\":\"x\"}")]),
        ]
        let out = EvalOutput(output: "done", traceSpans: spans)
        let e = EvalAssertionEngine(scripts: nil)
        #expect(try e.run(EvalAssertion(type: "trace-span-count", value: .obj([("pattern", "llm*"), ("min", 1)])), output: out, context: .init()).pass)
        let d = try e.run(EvalAssertion(type: "trace-span-duration", value: .obj([("max", 1000)])), output: out, context: .init())
        #expect(!d.pass && d.reason == "1 span(s) exceed duration threshold 1000ms. Slowest: llm.chat (1500ms)")
        let er = try e.run(EvalAssertion(type: "trace-error-spans", value: 0), output: out, context: .init())
        #expect(er.reason == "Found 1 error spans, expected at most 0. Errors: tool.search (boom)")
        #expect(try e.run(EvalAssertion(type: "trajectory:tool-args-match", value: .obj([("name", "search"), ("args", .obj([("q", "x")]))])),
                          output: out, context: .init()).pass)
    }

    @Test("javascript and python assertions run in node / python3, or are skipped without them")
    func scripts() throws {
        let runner = SubprocessScriptRunner(timeout: 20)
        let e = EvalAssertionEngine(scripts: runner)
        let out = EvalOutput(text: "hello world")
        if runner.nodePath != nil {
            #expect(try e.run(EvalAssertion(type: "javascript", value: "output.includes('world')"), output: out, context: .init()).pass)
            let r = try e.run(EvalAssertion(type: "javascript", value: "if (output) {\n  throw new Error('bad');\n}"), output: out, context: .init())
            #expect(!r.pass && r.reason.hasPrefix("Custom function threw error: bad"))
            let traced = EvalOutput(output: "x", traceId: "t", traceSpans: [EvalTraceSpan(name: "a", startNs: 1_000_000, endNs: 3_500_000)])
            let t = try e.run(EvalAssertion(type: "javascript", value: "context.trace.spans[0].endTime - context.trace.spans[0].startTime"), output: traced, context: .init())
            #expect(t.pass && t.score == 2.5)
        }
        if runner.pythonPath != nil {
            let r = try e.run(EvalAssertion(type: "python", value: "len(output) / 100"), output: out, context: .init())
            #expect(r.pass && abs(r.score - 0.11) < 1e-9)
        }
        var none = SubprocessScriptRunner(environment: ["PATH": "/nonexistent"])
        none.nodePath = nil
        let skipped = try EvalAssertionEngine(scripts: none).run(EvalAssertion(type: "javascript", value: "true"), output: out, context: .init())
        #expect(skipped.skipped && skipped.reason == "Skipped: no node on PATH")
    }

    @Test("gate: threshold from loop, suite env, process env; exit codes")
    func gate() throws {
        let (suite, run) = try Self.run()
        #expect(EvalGate.decide(run.summary, suiteEnv: suite.env).exitCode == 0)
        #expect(EvalGate.decide(run.summary).exitCode == 100)
        #expect(EvalGate.decide(run.summary, environment: ["PROMPTFOO_FAILED_TEST_EXIT_CODE": "3"]).exitCode == 3)
        #expect(EvalGate.decide(run.summary, suiteEnv: suite.env, loopThreshold: 90).exitCode == 100)
        #expect(EvalGate.decide(run.summary, environment: ["PROMPTFOO_PASS_RATE_THRESHOLD": "66"]).exitCode == 0)
        #expect(EvalGate.inputErrorExitCode == 1)
    }

    @Test("JS number formatting matches node")
    func jsNumbers() throws {
        let values: [Double] = [1, 0.1, 1e-7, 1e21, 1.2345678901234568e20, 0.000001, 1.5e-10, -0.5, 0.125, 1.005, 2.5, 0.0020, 1234.5678, 66.66666666666667]
        #expect(JSNumber.toFixed(0.125, 2) == "0.13")
        #expect(JSNumber.toFixed(1.005, 2) == "1.00")
        #expect(JSNumber.toPrecision(0.002, 2) == "0.0020")
        #expect(JSNumber.toPrecision(123, 2) == "1.2e+2")
        #expect(JSNumber.toPrecision(1e-7, 2) == "1.0e-7")
        let runner = SubprocessScriptRunner(timeout: 20)
        try #require(runner.nodePath != nil, "node is the peer here (make test installs nodejs)")
        let body = "return context.map(v => [String(v), v.toFixed(2), v.toFixed(4), v.toPrecision(2), (v*7).toFixed(1)])"
        guard case .value(let v) = runner.run(EvalScriptRequest(language: .javascript, body: body, output: .null, context: .array(values.map(JSONValue.double)))),
              let rows = v.arrayValue else { Issue.record("node failed"); return }
        for (d, row) in zip(values, rows) {
            let got = [JSNumber.string(d), JSNumber.toFixed(d, 2), JSNumber.toFixed(d, 4), JSNumber.toPrecision(d, 2), JSNumber.toFixed(d * 7, 1)]
            #expect(got == row.arrayValue!.compactMap(\.stringValue), "\(d)")
        }
    }

    @Test("JS regex translation: ASCII classes, $ at end only, lenient forms")
    func regexTranslation() throws {
        #expect(try JSRegex("^\\d+$").test("123"))
        #expect(try !JSRegex("^\\d+$").test("123\n"))
        #expect(try !JSRegex("\\d").test("٣"))
        #expect(try JSRegex("a{").test("a{"))
        #expect(try JSRegex("]").test("]"))
        #expect(try JSRegex("[^]").test("\n"))
        #expect(try !JSRegex("a.b").test("a\nb"))
        #expect(try JSRegex("\\bcat\\b").test("a cat!"))
        #expect(try JSRegex("\\s").test("\u{FEFF}"))
        #expect(throws: JSRegex.SyntaxError.self) { try JSRegex("(a") }
        #expect(throws: JSRegex.SyntaxError.self) { try JSRegex("+a") }
        #expect(JSText.lower("ΟΔΟΣ") == "οδος")
        #expect(JSText.trim("\u{FEFF} x \u{3000}") == "x")
        #expect(!JSText.equal("é", "e\u{301}"))
    }
}

@Suite("Evals suite features in grading")
struct EvalRunnerFeatureTests {
    @Test("file:// vars, prompt filters, prefix/suffix and output transforms")
    func features() throws {
        let dir = TestPaths.scratch("evals-features")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("Where is my parcel?\n".utf8).write(to: dir.appendingPathComponent("question.txt"))
        try Data("{\"tier\": \"gold\"}".utf8).write(to: dir.appendingPathComponent("customer.json"))
        let yaml = """
        prompts:
          - {label: A, raw: 'A: {{question}}'}
          - {label: B, raw: 'B: {{question}} ({{customer.tier}})'}
        tests:
          - vars: {question: file://question.txt, customer: file://customer.json}
            prompts: ['B*']
            options: {prefix: '>> ', transform: 'output.toUpperCase()'}
            assert:
              - {type: starts-with, value: '>> B: WHERE IS MY PARCEL?'}
              - {type: contains, value: '(GOLD)'}
        """
        let url = dir.appendingPathComponent("promptfooconfig.yaml")
        try Data(yaml.utf8).write(to: url)
        let suite = try EvalSuite.load(from: url)
        #expect(suite.tests[0].vars["question"] == .string("Where is my parcel?\n"))
        #expect(suite.tests[0].vars["customer"]?["tier"] == .string("gold"))
        let scripts = SubprocessScriptRunner(timeout: 20)
        let run = EvalRunner(engine: EvalAssertionEngine(scripts: scripts)).grade(suite: suite)
        #expect(run.rows.count == 1)
        #expect(run.rows[0].promptLabel == "B")
        #expect(run.rows[0].promptRaw == ">> B: Where is my parcel?\n (gold)")
        if scripts.nodePath != nil {
            #expect(run.rows[0].status == .passed, "\(run.rows[0].error ?? "")")
        }
        // Without scripts the transform cannot run: an ERROR, never a silent pass.
        let none = EvalRunner(engine: EvalAssertionEngine(scripts: nil)).grade(suite: suite)
        #expect(none.rows[0].status == .error)
    }
}

@Suite("Evals CSV tests")
struct EvalCSVSuiteTests {
    @Test("tests: file://tests.csv with __expected columns, quoted fields and metadata")
    func csvSuite() throws {
        let dir = TestPaths.scratch("evals-csv")
        defer { try? FileManager.default.removeItem(at: dir) }
        let csv = "question,__expected1,__expected2,__providerOutput,__metadata:tags[],__description\n"
            + "Where is my parcel?,icontains:PARCEL,\"not-contains:sorry, no\",\"Your parcel ships today, promise\",\"a,b\\,c\",parcel\n"
            + "\"Refund?\",contains-any:refund,levenshtein(3):No refunds,No refunds.,,refund\r\n"
        try Data(csv.utf8).write(to: dir.appendingPathComponent("tests.csv"))
        let url = dir.appendingPathComponent("promptfooconfig.yaml")
        try Data("prompts: ['{{question}}']\ntests: file://tests.csv\n".utf8).write(to: url)
        let suite = try EvalSuite.load(from: url)
        #expect(suite.tests.count == 2)
        #expect(suite.tests[0].metadata["tags"] == .array(["a", "b,c"]))
        #expect(suite.tests[1].assertions.map(\.type) == ["contains-any", "levenshtein"])
        #expect(suite.tests[1].assertions[1].threshold == 3)
        let run = EvalRunner(engine: EvalAssertionEngine(scripts: nil)).grade(suite: suite)
        #expect(run.rows.map(\.status) == [.passed, .passed])
        #expect(run.rows.map(\.description) == ["parcel", "refund"])
    }
}

@Suite("Evals JS regex parity")
struct EvalRegexParityTests {
    static let patterns = [
        "^\\d{3}-\\d{2}-\\d{4}$", "\\w+@\\w+\\.com", "colou?r", "^(yes|no)$", "a.c", "[^]", "a{", "a{2}", "a{2,}", "a{,2}", "]",
        "\\bword\\b", "\\Bor\\B", "\\s+$", "^\\S+", "[\\d-]+", "[a-z&&[^c]]", "[[a]]", "x--y", "\\p{L}", "\\u0041", "\\x41", "\\101",
        "\\8", "(a)\\1", "(?<n>b)\\k<n>", "(?=a)a", "(?<=a)b", "(?<!a)b", "[.]", "\\.", "\\/", "\\cJ", "é", "\\v", "[\\b]", "\\t",
        "^$", "$", "^", "a|b|", "\\n$", "[\\s\\S]+", "\\W", "\\D", "#notcomment", "a b", "(?:ab)+", "[-a]", "[a-]", "[\\]]", "\\$\\d",
    ]
    static let inputs = ["123-45-6789", "me@x.com", "color", "colour", "yes", "abc", "a\nc", "a{", "aa", "a{,2}", "]", "a word here", "words",
                         "trailing  ", "", "\n", "x\n", "\u{0B}", "\u{08}", "É", "étude", "A", "8", "bb", "ab", "cb", "x-y", "x--y", "#notcomment",
                         "a b", "$5", "[a]", "c", "p{L}", "\u{FEFF}", "١٢٣", "tab\there"]

    @Test("translated patterns match as V8 does (node as the peer)")
    func parity() throws {
        let runner = SubprocessScriptRunner(timeout: 30)
        try #require(runner.nodePath != nil, "node is the peer here (make test installs nodejs)")
        let body = """
        return context.patterns.map(p => { try { const r = new RegExp(p); return context.inputs.map(s => r.test(s)); } catch (e) { return null; } })
        """
        let ctx = JSONValue.obj([("patterns", .array(Self.patterns.map(JSONValue.string))), ("inputs", .array(Self.inputs.map(JSONValue.string)))])
        guard case .value(let v) = runner.run(EvalScriptRequest(language: .javascript, body: body, output: .null, context: ctx)), let rows = v.arrayValue else {
            Issue.record("node failed")
            return
        }
        var mismatches: [String] = []
        for (p, row) in zip(Self.patterns, rows) {
            let ours = try? JSRegex(p)
            if row.isNull {
                if ours != nil { mismatches.append("/\(p)/ compiles here but not in V8") }
                continue
            }
            guard let ours else { mismatches.append("/\(p)/ fails to compile here"); continue }
            for (s, want) in zip(Self.inputs, row.arrayValue!) where ours.test(s) != want.boolValue! {
                mismatches.append("/\(p)/ on \(JSONValue.string(s).jsonString): V8 \(want.boolValue!)")
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.joined(separator: "\n"))")
    }
}

@Suite("Evals hostile outputs")
struct EvalHostileOutputTests {
    @Test("contains-json on a megabyte of unbalanced braces finishes quickly")
    func braces() throws {
        let text = String(repeating: "{\"a\": [", count: 150_000)
        let start = Date()
        let r = try EvalAssertionEngine(scripts: nil).run(EvalAssertion(type: "contains-json"), output: EvalOutput(text: text), context: .init())
        #expect(!r.pass)
        #expect(Date().timeIntervalSince(start) < 20)
    }
}
