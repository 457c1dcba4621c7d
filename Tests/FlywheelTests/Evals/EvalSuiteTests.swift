@testable import Flywheel
@testable import FlywheelSupport
import Foundation
import Testing
import TestSupport
@testable import FlywheelEvals

@Suite("Evals suite files")
struct EvalSuiteTests {
    static let fixtures = TestPaths.packageRoot.appendingPathComponent("Tests/FlywheelTests/Fixtures/Evals")
    static let suiteURL = fixtures.appendingPathComponent("suite/promptfooconfig.yaml")

    @Test("loads prompts, providers, defaultTest, inline and file:// tests, file:// values")
    func load() throws {
        let suite = try EvalSuite.load(from: Self.suiteURL)
        #expect(suite.description == "support gate")
        #expect(suite.prompts.map(\.label) == ["Reply: {{message}}"])
        #expect(suite.prompts[0].promptId == SHA256.hex("Reply: {{message}}"))
        #expect(suite.providers.map(\.id) == ["echo"])
        #expect(suite.tests.count == 5)
        #expect(suite.tests.map(\.description) == ["cancellation", "greeting", "json reply", "rubric without judge", "word count"])
        #expect(suite.tests[3].sourceFile.hasSuffix("more-tests.yaml"))
        // file:// value is read and trimmed; the raw node keeps the reference for saving.
        #expect(suite.tests[1].assertions[2].value == .string("Reply"))
        #expect(suite.tests[1].raw["assert"]?.arrayValue?[2]["value"] == .string("file://expected.txt"))
        #expect(suite.tests[2].assertions[0].value?["required"] == .array([.string("status")]))
        // defaultTest merge: vars, assert prepended, metadata shallow.
        let m = suite.merged(suite.tests[0])
        #expect(m.vars["tone"] == .string("polite"))
        #expect(m.vars["message"] == .string("Cancel my order"))
        #expect(m.assertions.map(\.type) == ["not-contains", "icontains", "not-is-refusal"])
        #expect(m.metadata["suite"] == .string("support"))
        #expect(m.metadata["flywheelCaseId"] == .string("case-0007"))
        #expect(suite.env["PROMPTFOO_PASS_RATE_THRESHOLD"] == "50")
        #expect(suite.tests[0].id == "case-0007")
        #expect(suite.tests[1].id.hasPrefix("t-") && suite.tests[1].id.count == 18)
    }

    @Test("vars expansion is a cartesian product over string arrays")
    func expansion() {
        var v = JSONObject()
        v["a"] = .array(["1", "2"])
        v["b"] = .array(["x", "y", "z"])
        v["c"] = .array([.int(1), .int(2)])
        let rows = EvalSuite.expand(v)
        #expect(rows.count == 6)
        #expect(rows[0]["c"] == .array([.int(1), .int(2)]))
        #expect(EvalSuite.expand(v, disabled: true).count == 1)
    }

    @Test("load → save → load keeps every key, in order")
    func roundTrip() throws {
        let suite = try EvalSuite.load(from: Self.suiteURL)
        #expect(suite.yamlText() == (try String(contentsOf: Self.suiteURL, encoding: .utf8)))  // unedited: the file as it was
        let text = EvalYAMLWriter.write(.object(suite.document))
        let again = try EvalSuite.parse(yaml: text, file: Self.suiteURL)
        #expect(JSONValue.object(again.document) == JSONValue.object(suite.document))
        #expect(again.document.keys == suite.document.keys)
        #expect(again.tests.map(\.id) == suite.tests.map(\.id))
        #expect(text.contains("x-custom-key: kept"))
        #expect(text.contains("sharing: false"))
        // Writing again is byte-identical.
        #expect(EvalYAMLWriter.write(.object(again.document)) == text)
    }

    @Test("writer round-trips awkward scalars")
    func writerScalars() throws {
        let doc = JSONValue.obj([
            ("yes", .string("yes")), ("no", .string("no")), ("num", .string("0123")), ("float", .double(1.0)), ("int", .int(7)),
            ("colon", .string("a: b")), ("hash", .string("a #b")), ("multi", .string("line one\nline two\n")), ("lead", .string(" x")),
            ("quote", .string("it's \"q\"")), ("empty", .string("")), ("null", .null), ("t", .string("true")), ("dash", .string("- x")),
            ("unicode", .string("héllo ΟΔΟΣ")), ("tab", .string("a\tb")), ("nested", .obj([("list", .array([.obj([("k", .array([]))]), .array([.int(1)])]))])),
            ("bigdouble", .double(1e21)), ("neg", .double(-0.5)), ("ctrl", .string("bell\u{07}")), ("trail", .string("x\n\n")),
        ])
        let text = EvalYAMLWriter.write(doc)
        let back = try EvalYAML.load(text, file: "x.yaml").value
        #expect(back == doc, "\(text)")
        #expect(back["float"].map { if case .double = $0 { true } else { false } } == true)
    }

    @Test("append dedupes by id; remove records the reason")
    func editing() throws {
        var suite = try EvalSuite.load(from: Self.suiteURL)
        let new = try EvalTestCase(description: "new case", vars: { var o = JSONObject(); o["message"] = "Where is my parcel?"; return o }(),
                                   assertions: [EvalAssertion(type: "icontains", value: "parcel")], metadata: { var o = JSONObject(); o["trace_id"] = "abc"; return o }())
        let added = suite.append(new)
        let addedAgain = suite.append(new)
        #expect(added && !addedAgain)
        #expect(suite.tests.count == 6)
        let removed = suite.remove(id: "case-0007", reason: "obsolete policy")
        #expect(removed?.description == "cancellation")
        let again1 = suite.remove(id: "case-0007", reason: "again")
        #expect(again1 == nil)
        let fileTestId = suite.tests.first { $0.description == "word count" }!.id
        let inFile = suite.remove(id: fileTestId, reason: "lives in a file")
        #expect(inFile == nil)
        let text = suite.yamlText()
        let again = try EvalSuite.parse(yaml: text, file: Self.suiteURL)
        #expect(again.tests.map(\.description) == ["greeting", "json reply", "rubric without judge", "word count", "new case"])
        #expect(again.document["metadata"]?["flywheel"]?["removed"]?.arrayValue?.first?["reason"] == .string("obsolete policy"))
        #expect(again.tests.contains { $0.id == new.id })
    }

    @Test("appending only keeps the file's comments and layout")
    func appendKeepsComments() throws {
        var suite = try EvalSuite.load(from: Self.suiteURL)
        let original = try String(contentsOf: Self.suiteURL, encoding: .utf8)
        var vars = JSONObject()
        vars["message"] = "Is it raining?"
        let t1 = try EvalTestCase(description: "weather: multi\nline", vars: vars, assertions: [EvalAssertion(type: "icontains", value: "rain")])
        let t2 = try EvalTestCase(description: "second", assertions: [EvalAssertion(type: "equals", value: .obj([("a", .array([1, 2]))]))])
        suite.append(t1)
        suite.append(t2)
        let text = suite.yamlText()
        #expect(text.hasPrefix("# A support-gate suite exercising the loader.\n"))
        #expect(text.contains("  - file://more-tests.yaml\n  - description:"))
        #expect(text.hasSuffix(original.components(separatedBy: "\n").suffix(5).joined(separator: "\n")))
        let again = try EvalSuite.parse(yaml: text, file: Self.suiteURL)
        #expect(again.tests.map(\.id) == suite.tests.map(\.id))
        #expect(JSONValue.object(again.document) == JSONValue.object(suite.document))
    }

    @Test("the bad-input corpus: every suite fails with file, key and line")
    func badCorpus() throws {
        let dir = Self.fixtures.appendingPathComponent("bad")
        let expectations = try #require(JSONValue.parseStrict(String(contentsOf: dir.appendingPathComponent("expectations.json"), encoding: .utf8)).objectValue)
        #expect(expectations.count >= 40)
        var problems: [String] = []
        for (name, exp) in expectations.pairs {
            let url = dir.appendingPathComponent(name)
            do {
                _ = try EvalSuite.load(from: url)
                problems.append("\(name): loaded without error")
            } catch let e as EvalSuiteError {
                let wantFile = exp["file"]?.stringValue ?? name
                if !e.file.hasSuffix(wantFile) { problems.append("\(name): file \(e.file)") }
                if e.key != exp["key"]!.stringValue! { problems.append("\(name): key \"\(e.key)\" ≠ \"\(exp["key"]!.stringValue!)\" (\(e))") }
                if !e.reason.contains(exp["reason"]!.stringValue!) { problems.append("\(name): reason \"\(e.reason)\"") }
                if let line = exp["line"]?.doubleValue, e.line != Int(line) { problems.append("\(name): line \(e.line.map(String.init) ?? "nil") ≠ \(Int(line))") }
                if !e.description.contains(wantFile) { problems.append("\(name): description lacks the file: \(e)") }
            } catch {
                problems.append("\(name): untyped error \(error)")
            }
        }
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test("huge values and huge files are refused")
    func hugeValues() throws {
        let dir = TestPaths.scratch("evals-huge")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("promptfooconfig.yaml")
        try Data(("prompts: [a]\ndescription: \"" + String(repeating: "x", count: 5 * 1024 * 1024) + "\"\n").utf8).write(to: url)
        #expect {
            try EvalSuite.load(from: url)
        } throws: { e in
            guard let e = e as? EvalSuiteError else { return false }
            return e.key == "description" && e.line == 2 && e.reason.contains("more than the limit")
        }
        let big = dir.appendingPathComponent("big.yaml")
        let handle = try { _ = FileManager.default.createFile(atPath: big.path, contents: nil); return try FileHandle(forWritingTo: big) }()
        let chunk = Data(String(repeating: "# filler line\n", count: 80_000).utf8)
        for _ in 0..<16 { handle.write(chunk) }
        try handle.close()
        #expect(throws: EvalSuiteError.self) { try EvalSuite.load(from: big) }
    }

    @Test("js-yaml scalar rules: yes/no/on stay strings, octal-looking stays a string")
    func yamlResolution() throws {
        let v = try EvalYAML.load("a: yes\nb: on\nc: 0777\nd: 1:30\ne: true\nf: 0x1F\ng: ~\nh: 1.5e3\ni: '12'\nj: !!str 12\n", file: "x").value
        #expect(v["a"] == .string("yes"))
        #expect(v["b"] == .string("on"))
        #expect(v["c"] == .int(777))
        #expect(v["d"] == .string("1:30"))
        #expect(v["e"] == .bool(true))
        #expect(v["f"] == .int(31))
        #expect(v["g"] == .null)
        #expect(v["h"] == .double(1500))
        #expect(v["i"] == .string("12"))
        #expect(v["j"] == .string("12"))
    }
}

@Suite("Evals new suites")
struct EvalNewSuiteTests {
    @Test("make → append → save → load")
    func makeAppendSave() throws {
        let dir = TestPaths.scratch("evals-new")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("promptfooconfig.yaml")
        var suite = try EvalSuite.make(file: url, description: "ratchet", prompts: ["{{question}}"], providers: ["openai:gpt-4.1-mini"])
        var md = JSONObject()
        md["id"] = "case-0001"
        md["trace_id"] = "0af7651916cd43dd8448eb211c80319c"
        var vars = JSONObject()
        vars["question"] = "Where is my parcel?"
        suite.append(try EvalTestCase(description: "parcel", vars: vars, assertions: [EvalAssertion(type: "icontains", value: "parcel")], metadata: md))
        try suite.save()
        let loaded = try EvalSuite.load(from: url)
        #expect(loaded.tests.map(\.id) == ["case-0001"])
        #expect(loaded.providers.map(\.id) == ["openai:gpt-4.1-mini"])
        #expect(loaded.tests[0].metadata["trace_id"] == .string("0af7651916cd43dd8448eb211c80319c"))
    }
}

@Suite("Evals suite warnings")
struct EvalSuiteWarningTests {
    @Test("ignored forms are warned about with file, line and key")
    func warnings() throws {
        let yaml = "prompts: [a]\nshiny: 1\ntests:\n  - providerOutput: x\n    assert:\n      - type: not-levenshtein\n        value: y\n"
        let suite = try EvalSuite.parse(yaml: yaml, file: URL(fileURLWithPath: "/tmp/w/promptfooconfig.yaml"))
        #expect(suite.warnings.map(\.key) == ["shiny", "tests[0].assert[0].type"])
        #expect(suite.warnings[1].line == 6 && suite.warnings[1].reason.contains("acts as \"levenshtein\""))
        #expect(throws: EvalSuiteError.self) {
            try EvalSuite.parse(yaml: "prompts: [a]\ntests:\n  - assert: [{type: regex, value: ''}]\n", file: URL(fileURLWithPath: "/tmp/w/p.yaml"))
        }
    }
}
