import Foundation
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelSupport
@testable import FlywheelTraces
@testable import FlywheelEvals

/// Denial of service through YAML (alias bombs, nesting, size) and regular expressions (catastrophic backtracking):
/// refused quickly with the file named, or cut off by a time limit.
@Suite("Hostile input: YAML bombs and slow regexes")
struct HostileYAMLAndRegexTests {
    /// The billion-laughs shape: 9 levels of 9 aliases each (9^9 ≈ 387 million nodes once expanded).
    static func bomb(key: String) -> String {
        var y = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
        for i in 1...9 {
            let prev = "*a\(i - 1)"
            y += "a\(i): &a\(i) [\(Array(repeating: prev, count: 9).joined(separator: ", "))]\n"
        }
        return y + "\(key): *a9\n"
    }

    static let deep = "x: " + String(repeating: "[", count: 300) + String(repeating: "]", count: 300) + "\n"

    @Test("aliases used as mapping keys (found by the suite fuzzer) are refused or bounded, never an explosion of key paths")
    func aliasKeys() throws {
        // A sequence alias as a key: its JSON text would be megabytes, copied into every path below it.
        let found = String(decoding: try Data(contentsOf: TestPaths.packageRoot.appendingPathComponent("Tests/FlywheelTests/Fixtures/Hostile/alias-keys-bomb.yaml")), as: UTF8.self)
        do {
            _ = try EvalSuite.parse(yaml: found, file: URL(fileURLWithPath: "/w/promptfooconfig.yaml"))
            Issue.record("the alias-key bomb was accepted")
        } catch let e as EvalSuiteError {
            #expect(e.description.contains("/w/promptfooconfig.yaml") && e.reason.contains("mapping key"), "\(e)")
        }
        // A long scalar key (aliased) at every level of a nested mapping that is itself expanded many times: accepted,
        // with the kept key paths (for messages) short and within their budget.
        var y = "k: &k \(String(repeating: "q", count: 5_000))\nn: &n "
        for _ in 0..<60 { y += "{*k: " }
        y += "leaf" + String(repeating: "}", count: 60) + "\nmany: [" + Array(repeating: "*n", count: 2_000).joined(separator: ", ") + "]\n"
        let doc = try EvalYAML.load(y, file: "s.yaml")
        let kept = doc.lines.keys.reduce(0) { $0 + $1.utf8.count }
        #expect(kept < 6 << 20, "\(kept) bytes of key paths")
        #expect(doc.lines.keys.allSatisfy { $0.utf8.count < 2_200 })
    }

    @Test("a large honest suite (more nodes than a small file may expand to) loads; a small file expanding as far is refused")
    func nodeBudgetScalesWithSize() throws {
        // 16,000 tests × 6 assertions: about 610,000 nodes written out (38 a test), above the base limit of 500,000.
        var y = "prompts: ['{{q}}']\nproviders: [echo]\ntests:\n"
        for i in 0..<16_000 {
            y += "  - vars: {q: 'question \(i)'}\n    assert:\n"
            for k in 0..<6 { y += "      - {type: contains, value: 'v\(k)'}\n" }
        }
        let suite = try EvalSuite.parse(yaml: y, file: URL(fileURLWithPath: "/w/promptfooconfig.yaml"))
        #expect(suite.tests.count == 16_000)
        // The same node count reached through aliases from a few hundred bytes is still a bomb.
        var bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...6 { bomb += "a\(i): &a\(i) [\(Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", "))]\n" }
        bomb += "tests: *a6\n"
        #expect(throws: EvalSuiteError.self) { _ = try EvalSuite.parse(yaml: bomb, file: URL(fileURLWithPath: "/w/promptfooconfig.yaml")) }
    }

    @Test("an alias bomb or deep nesting is refused with the file named, wherever YAML is read")
    func bombs() throws {
        for (text, what) in [(Self.bomb(key: "tools"), "alias bomb"), (Self.deep, "deeper")] {
            // The shared check.
            do {
                try YAMLLimits.check(text, file: "cycles/0003/evals.yaml")
                Issue.record("\(what) passed")
            } catch let e as YAMLLimits.Exceeded {
                #expect(e.file == "cycles/0003/evals.yaml" && e.description.contains(what), "\(e)")
            }
            // loop.yaml, task sets, harness files, suites.
            #expect(throws: ConfigError.self) { _ = try LoopConfig.parse(text, file: "loop.yaml") }
            do { _ = try LoopConfig.parse(text, file: "loop.yaml") } catch let e as ConfigError {
                #expect(e.file == "loop.yaml" && e.reason.contains(what), "\(e)")
            }
            do { _ = try TaskSet.parse(text, file: "tasks/q.yaml") } catch let e as ConfigError {
                #expect(e.file == "tasks/q.yaml" && e.reason.contains(what), "\(e)")
            }
            do {
                _ = try ProjectRules.parse(text, file: "rules.yaml")
                Issue.record("rules accepted \(what)")
            } catch let e as RulesError {
                #expect(e.issues.first?.file == "rules.yaml" && e.issues.first?.reason.contains(what) == true, "\(e)")
            }
            do {
                _ = try EvalSuite.parse(yaml: text, file: URL(fileURLWithPath: "/nonexistent/evals/promptfooconfig.yaml"), label: "refs/heads/main:evals/promptfooconfig.yaml")
                Issue.record("suite accepted \(what)")
            } catch let e as EvalSuiteError {
                #expect(e.description.contains("refs/heads/main:evals/promptfooconfig.yaml"), "\(e)")
                #expect(!e.description.contains("/nonexistent"), "\(e)")
            }
        }
        // An ordinary document with aliases passes.
        try YAMLLimits.check("base: &b {model: m}\njudge: *b\ncritic: *b\n", file: "loop.yaml")
        let big = String(repeating: "# padding line\n", count: YAMLLimits.maxBytes / 15 + 1)
        #expect(throws: YAMLLimits.Exceeded.self) { try YAMLLimits.check(big, file: "big.yaml") }
    }

    @Test("nested quantifiers in redact.patterns are refused before use, naming the pattern")
    func redactPatterns() throws {
        for bad in ["(x+x+)+y", "(a*)*b", "(?:\\d+)+$", "(a|b+)*c", "([a-z]+){2,}"] {
            #expect(RegexSafety.problem(bad) != nil, "\(bad)")
            do {
                _ = try TraceStage.redactor(config: try LoopConfig.parse("redact:\n  patterns:\n    slow: '\(bad)'\n", file: "loop.yaml"))
                Issue.record("\(bad) accepted")
            } catch let TraceStageError.badRedactionPattern(name, reason) {
                #expect(name == "slow" && reason.contains("exponential"), "\(reason)")
            }
            #expect(throws: RegexSafety.Unsafe.self) { _ = try Redactor(extraRegexes: [bad]) }
        }
        for ok in ["ACME-[0-9]{6}", "(?:foo|bar)+", "\\bkey_[a-z0-9]{8,}\\b", "(ab){3}", "[(+)]+"] {
            #expect(RegexSafety.problem(ok) == nil, "\(ok)")
        }
    }

    @Test("a suite's catastrophic regex fails its row after the time limit, with the reason, instead of hanging")
    func suiteRegexTimeLimit() throws {
        let re = try JSRegex("(x+x+)+y")
        let subject = String(repeating: "x", count: 40)
        let started = Date()
        #expect(re.testWithinLimit(subject, limit: 0.3) == nil)
        #expect(Date().timeIntervalSince(started) < 30)
        #expect(re.testWithinLimit("xxy", limit: 0.3) == true)
        let engine = EvalAssertionEngine(judge: nil, scripts: nil)
        let r = try engine.run(EvalAssertion(type: "regex", value: "(x+x+)+y"), output: EvalOutput(text: subject), context: EvalAssertionContext(prompt: "p"))
        #expect(!r.pass && r.reason.contains("took longer than"), "\(r.reason)")
    }
}
