import Foundation
import Testing
import TestSupport
@testable import Flywheel
@testable import FlywheelEvals

/// Keys Promptfoo honours that used to be dropped: they change verdicts now (or are warned about).
@Suite("Evals: keys that change a verdict")
struct EvalDroppedKeysTests {
    static func grade(_ yaml: String, files: [String: String] = [:], label: String) throws -> (EvalSuite, EvalRunResult) {
        let dir = TestPaths.scratch(label)
        for (name, text) in files { try text.write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8) }
        let suite = try EvalSuite.parse(yaml: yaml, file: dir.appendingPathComponent("promptfooconfig.yaml"), allowedRoots: [dir])
        let runner = EvalRunner(engine: EvalAssertionEngine(scripts: SubprocessScriptRunner(policy: EvalScriptPolicy(workingDirectory: dir))))
        return (suite, runner.grade(suite: suite))
    }

    @Test("file://x.js, file://x.js:fn and file://x.py:fn assertion values run the file's function")
    func scriptFiles() throws {
        try #require(toolExists("node") && toolExists("python3"))
        let (_, run) = try Self.grade("""
            prompts: ["{{q}}"]
            providers: [echo]
            tests:
              - vars: {q: hello world}
                assert:
                  - {type: javascript, value: file://check.js}
                  - {type: javascript, value: "file://check.js:longEnough"}
                  - {type: python, value: "file://check.py:has_world"}
                  - {type: python, value: "file://check.py"}
              - vars: {q: bye}
                assert:
                  - {type: python, value: "file://check.py:has_world"}
            """, files: [
                "check.js": "module.exports = (output) => output.startsWith('hello');\nmodule.exports.longEnough = (output, ctx) => ({pass: output.length > 5, score: 0.5, reason: 'len ' + ctx.vars.q.length});\n",
                "check.py": "def has_world(output, context):\n    return 'world' in output\n\ndef get_assert(output, context):\n    return {'pass': True, 'score': 1, 'reason': context['vars']['q']}\n",
            ], label: "dropped-files")
        #expect(run.rows.map(\.status) == [.passed, .failed], "\(run.rows.map { $0.error ?? "" })")
        let comps = try #require(run.rows.first?.gradingResult?.componentResults)
        #expect(comps.count == 4)
        #expect(comps[1].score == 0.5 && comps[1].reason == "len 11")
        #expect(comps[3].reason == "hello world")
    }

    @Test("assertScoringFunction replaces the verdict (JavaScript and Python)")
    func scoring() throws {
        try #require(toolExists("node") && toolExists("python3"))
        let yaml = """
            prompts: ["{{q}}"]
            providers: [echo]
            tests:
              - vars: {q: abc}
                assertScoringFunction: file://score.js:strict
                assert:
                  - {type: contains, value: a, metric: m}
                  - {type: contains, value: z, metric: m}
              - vars: {q: abc}
                assertScoringFunction: "file://score.py:lenient"
                assert:
                  - {type: contains, value: a, metric: m}
                  - {type: contains, value: z, metric: m}
            """
        let (_, run) = try Self.grade(yaml, files: [
            "score.js": "module.exports.strict = (named, ctx) => ({pass: named.m >= 0.9, score: named.m, reason: 'strict ' + ctx.componentResults.length});\n",
            "score.py": "def lenient(named, context):\n    return {'pass': named['m'] >= 0.5, 'score': named['m'], 'reason': 'lenient'}\n",
        ], label: "dropped-scoring")
        #expect(run.rows.map(\.status) == [.failed, .passed])
        #expect(run.rows[0].gradingResult?.reason == "strict 2")
        #expect(run.rows[1].gradingResult?.reason == "lenient" && run.rows[1].score == 0.5)
        // Scripts off: the row is skipped, not passed or failed on the plain verdict.
        let dir = TestPaths.scratch("dropped-scoring-off")
        try "module.exports.strict = () => ({pass: true, score: 1, reason: 'x'});\n".write(to: dir.appendingPathComponent("score.js"), atomically: true, encoding: .utf8)
        try "def lenient(n, c):\n    return {'pass': True}\n".write(to: dir.appendingPathComponent("score.py"), atomically: true, encoding: .utf8)
        let suite = try EvalSuite.parse(yaml: yaml, file: dir.appendingPathComponent("s.yaml"))
        let off = EvalRunner(engine: EvalAssertionEngine(scripts: DisabledScriptRunner(reason: "off"))).grade(suite: suite)
        #expect(off.rows.map(\.status) == [.skipped, .skipped])
    }

    @Test("options.transformVars feeds the prompt and assertions; storeOutputAs feeds later tests")
    func transformVarsAndStore() throws {
        try #require(toolExists("node"))
        let (_, run) = try Self.grade("""
            prompts: ["Say {{name}}"]
            providers: [echo]
            tests:
              - vars: {first: ada}
                options:
                  transformVars: "{ name: vars.first.toUpperCase() }"
                  storeOutputAs: said
                assert: [{type: equals, value: Say ADA}]
              - vars: {name: x}
                assert: [{type: equals, value: "{{said}}!"}]
                providerOutput: Say ADA!
              - vars: {name: y}
                options: {transformVars: "const x = 1;\\nthrow new Error('boom')"}
            """, label: "dropped-transformvars")
        #expect(run.rows.map(\.status) == [.passed, .passed, .error], "\(run.rows.map { $0.error ?? "" })")
        #expect(run.rows[0].promptRaw == "Say ADA")
        #expect(run.rows[1].vars["said"]?.stringValue == "Say ADA")
        #expect(run.rows[2].error?.contains("boom") == true, "\(run.rows[2].error ?? "")")
    }

    @Test("contextTransform, provider delay and unknown test options are warned about, naming file, line and key")
    func warned() throws {
        let dir = TestPaths.scratch("dropped-warn")
        let suite = try EvalSuite.parse(yaml: """
            prompts: ["{{q}}"]
            providers:
              - id: echo
                delay: 100
            tests:
              - vars: {q: a}
                options: {somethingNew: 1}
                assert:
                  - type: equals
                    contextTransform: output.context
                    value: a
            """, file: dir.appendingPathComponent("s.yaml"))
        let w = suite.warnings.map { "\($0)" }
        #expect(w.contains { $0.contains("s.yaml:4") && $0.contains("delay") }, "\(w)")
        #expect(w.contains { $0.contains("options.somethingNew") }, "\(w)")
        #expect(w.contains { $0.contains("contextTransform") && $0.contains("s.yaml:10") }, "\(w)")
    }
}

@Suite("Evals is-refusal list")
struct EvalRefusalListTests {
    @Test("Promptfoo's refusal substrings (I won't…, I do not…, Anthropic's) are refusals; word boundaries hold")
    func list() {
        for s in ["Well, I won't write that for you.", "Honestly I do not feel comfortable doing this", "I want to be direct with you: no.",
                  "The generated text has been blocked by our content filters.", "That would not be appropriate here."] {
            #expect(EvalRefusal.isBasicRefusal(s), "\(s)")
        }
        for s in ["As an Airbnb host you can list rooms.", "Here is the essay you asked for.", "I won't stop until it's done, here it is"] {
            #expect(!EvalRefusal.isBasicRefusal(s), "\(s)")
        }
    }
}
