@testable import Flywheel
@testable import FlywheelSupport
import Foundation
import Testing
import TestSupport
@testable import FlywheelEvals

@Suite("Evals results files")
struct EvalResultsTests {
    static let fixtures = TestPaths.packageRoot.appendingPathComponent("Tests/FlywheelTests/Fixtures/Evals")
    static let created = Date(timeIntervalSince1970: 1_778_000_000)

    static func written() throws -> (EvalSuite, EvalRunResult, String) {
        let (suite, run) = try EvalRunnerTests.run()
        return (suite, run, EvalResultsJSON.write(run, suite: suite, options: .init(createdAt: created, cycle: 3)))
    }

    @Test("the lenient mode (the site's) reads what a damaged file has; the strict mode refuses it with the key")
    func lenientRead() throws {
        let text = #"{"results":[{"success":true,"testIdx":1e300},{"testCase":{"metadata":{"id":"c"}}},"junk",{"success":false,"failureReason":2,"promptIdx":-1e300}]}"#
        #expect(throws: EvalResultsError.self) { try EvalResultsJSON.read(text) }
        let file = try EvalResultsJSON.read(text, lenient: true)
        #expect(file.rows.map(\.status) == [.passed, .failed, .error])
        #expect(file.rows.map(\.testIdx) == [Int.max, 1, 3])
        #expect(file.rows[2].promptIdx == Int.min)
        #expect(file.rows[1].testId == "c")
        // Numbers out of Int's range clamp in the strict mode too (an imported file never traps).
        let huge = #"{"version":3,"results":{"version":3,"results":[{"success":false,"failureReason":1e300,"testIdx":-1e300}]}}"#
        let row = try #require(try EvalResultsJSON.read(huge).rows.first)
        #expect(row.failureReason == Int.max && row.testIdx == Int.min)
        #expect(throws: EvalResultsError.self) { try EvalResultsJSON.read("[1]", lenient: true) }
    }

    @Test("results JSON reads back into the same rows")
    func roundTrip() throws {
        let (_, run, text) = try Self.written()
        let file = try EvalResultsJSON.read(text)
        #expect(file.version == 3)
        #expect(file.evalId.hasPrefix("eval-") && file.evalId.hasSuffix("-2026-05-05T16:53:20"))
        #expect(file.rows.count == run.rows.count)
        for (a, b) in zip(run.rows, file.rows) {
            #expect(a.id == b.id && a.testIdx == b.testIdx && a.promptIdx == b.promptIdx && a.promptId == b.promptId)
            #expect(a.status == b.status && a.success == b.success && a.failureReason == b.failureReason)
            #expect(a.score == b.score && a.error == b.error && a.namedScores == b.namedScores)
            #expect(a.vars == b.vars && a.testCase == b.testCase && a.metadata == b.metadata && a.description == b.description)
            #expect(a.response?.output == b.response?.output)
            #expect(a.gradingResult?.reason == b.gradingResult?.reason)
            #expect(a.gradingResult?.componentResults.map(\.reason) == b.gradingResult?.componentResults.map(\.reason))
            #expect(a.gradingResult?.componentResults.map(\.skipped) == b.gradingResult?.componentResults.map(\.skipped))
            #expect(a.testId == b.testId)
        }
        #expect((file.successes, file.failures, file.errors) == (4, 1, 1))
        // Writing what we read gives the same rows JSON.
        #expect(file.rows.map { EvalResultsJSON.rowJSON($0) } == run.rows.map { EvalResultsJSON.rowJSON($0) })
    }

    @Test("results JSON validates against the v3 schema (own validator and Python jsonschema)")
    func schema() throws {
        let (_, _, text) = try Self.written()
        let schemaURL = Self.fixtures.appendingPathComponent("promptfoo-results-v3.schema.json")
        let schema = try JSONSchemaValidator(schema: JSONValue.parseStrict(String(contentsOf: schemaURL, encoding: .utf8)))
        let doc = try JSONValue.parseStrict(text)
        #expect(schema.validate(doc) == nil, "\(schema.validate(doc)?.description ?? "")")
        // A broken document is caught.
        var broken = doc.objectValue!
        broken["shareableUrl"] = .string("x")
        #expect(schema.validate(.object(broken))?.description == "data/shareableUrl must be null")
        // Python's jsonschema as a peer.
        let dir = TestPaths.scratch("evals-schema")
        defer { try? FileManager.default.removeItem(at: dir) }
        let docURL = dir.appendingPathComponent("results.json")
        try Data(text.utf8).write(to: docURL)
        let py = """
        import json, sys, jsonschema
        schema = json.load(open(sys.argv[1])); doc = json.load(open(sys.argv[2]))
        v = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
        errs = sorted(v.iter_errors(doc), key=lambda e: list(e.path))
        print(len(errs)); [print(e.message) for e in errs[:5]]
        """
        let r = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", py, schemaURL.path, docURL.path], timeout: 60)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.hasPrefix("0\n"), "\(r.stdout)")
    }

    @Test("JUnit XML parses with Python's xml.etree and has the right counts")
    func junit() throws {
        let (suite, run) = try EvalRunnerTests.run()
        let xml = EvalJUnit.write(run, name: suite.description ?? "evals")
        #expect(xml.contains("<failure type=\"assertion\" message=\"Expected output to not be a refusal\">"))
        #expect(xml.contains("FAIL not-is-refusal: Expected output to not be a refusal"))
        // A skipped row is an error for the gate, so it is an <error> in JUnit too (type "skipped").
        #expect(xml.contains("<error type=\"skipped\" message=\"Skipped: llm-rubric needs a judge model and none is configured\">"))
        let dir = TestPaths.scratch("evals-junit")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("results.junit.xml")
        try Data(xml.utf8).write(to: url)
        let py = """
        import sys, xml.etree.ElementTree as ET
        root = ET.parse(sys.argv[1]).getroot()
        cases = root.findall('.//testcase')
        print(root.tag, root.get('tests'), root.get('failures'), root.get('errors'), root.get('skipped'), len(root.findall('testsuite')),
              len(cases), len(root.findall('.//failure')), len(root.findall('.//error')), len(root.findall('.//skipped')))
        print(cases[0].get('name'))
        """
        let r = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", py, url.path], timeout: 60)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "testsuites 6 1 1 None 1 6 1 1 0\n[0] cancellation\n", "\(r.stdout)")
        #expect(run.summary.errors + run.summary.skipped == 1)
        // Hostile text is escaped and forbidden characters dropped.
        var evil = run
        evil.rows[0].error = "<b>&\"'\u{01}</b>"
        let x2 = EvalJUnit.write(evil, name: "a<b")
        #expect(x2.contains("message=\"&lt;b&gt;&amp;&quot;&apos;&lt;/b&gt;\""))
        #expect(!x2.contains("\u{01}"))
        try Data(x2.utf8).write(to: url)
        let r2 = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", py, url.path], timeout: 60)
        #expect(r2.status == 0, "\(r2.stderr)")
    }

    @Test("JUnit XML is valid against the Jenkins xunit junit-10.xsd (lxml), hostile text included",
          .enabled(if: LXMLVenv.python != nil, "lxml venv unavailable (no PyPI); see Tests/scripts/lxml-venv.sh"))
    func junitSchema() throws {
        let (suite, run) = try EvalRunnerTests.run()
        var evil = run
        evil.rows[0].error = "<b>&\"'\u{01}</b> ]]>"
        let dir = TestPaths.scratch("evals-junit-xsd")
        let xsd = TestPaths.packageRoot.appendingPathComponent("Tests/FlywheelTests/Fixtures/JUnit/junit-10.xsd")
        let py = """
        import sys
        from lxml import etree
        schema = etree.XMLSchema(etree.parse(sys.argv[1]))
        for f in sys.argv[2:]:
            doc = etree.parse(f)
            print("ok" if schema.validate(doc) else "invalid: " + str(schema.error_log))
        """
        var files: [String] = []
        for (i, r) in [run, evil].enumerated() {
            let url = dir.appendingPathComponent("r\(i).xml")
            try Data(EvalJUnit.write(r, name: suite.description ?? "evals").utf8).write(to: url)
            files.append(url.path)
        }
        // The old shape (a skipped attribute on <testsuites>) is rejected by the schema: the check can fail.
        let old = dir.appendingPathComponent("old.xml")
        try "<?xml version=\"1.0\"?>\n<testsuites tests=\"1\" failures=\"0\" errors=\"0\" skipped=\"1\"><testsuite name=\"s\" tests=\"1\" failures=\"0\" errors=\"0\"><testcase name=\"c\"><skipped/></testcase></testsuite></testsuites>\n"
            .write(to: old, atomically: true, encoding: .utf8)
        let r = try runProcess(try #require(LXMLVenv.python), ["-c", py, xsd.path] + files + [old.path], timeout: 120)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines.prefix(2).allSatisfy { $0 == "ok" }, "\(r.stdout)")
        #expect(lines.last?.hasPrefix("invalid") == true, "\(r.stdout)")
    }

    @Test("Promptfoo's legacy summary {version: 1, results: [...], table} is read; a bare list is refused clearly")
    func legacyList() throws {
        let text = """
            {"version": 1, "results": [
              {"prompt": {"raw": "Q: hi", "display": "Q: {{q}}"}, "vars": {"q": "hi"}, "response": {"output": "hello"}, "success": true, "score": 1},
              {"prompt": {"raw": "Q: x", "display": "Q: {{q}}"}, "vars": {"q": "x"}, "response": {"output": "no"}, "success": false, "score": 0,
               "error": "Expected output to contain yes"}],
             "stats": {"successes": 1, "failures": 1}, "table": {"head": {"prompts": [], "vars": ["q"]}, "body": []}}
            """
        let f = try EvalResultsJSON.read(text)
        #expect(f.version == 1)
        #expect(f.rows.map(\.status) == [.passed, .failed])
        #expect(f.rows[0].promptLabel == "Q: {{q}}" && f.rows[1].error == "Expected output to contain yes")
        #expect(f.successes == 1 && f.failures == 1)
        #expect(throws: EvalResultsError.self) { try EvalResultsJSON.read(#"{"results": [{"success": true}]}"#) }
    }

    @Test("results JSON carries the fields Promptfoo's OutputFile type requires: metadata.nodeVersion, stats.tokenUsage details")
    func outputFileFields() throws {
        let (suite, run) = try EvalRunnerTests.run()
        let text = EvalResultsJSON.write(run, suite: suite, options: .init(createdAt: Date(timeIntervalSince1970: 0)))
        let o = try JSONValue.parseStrict(text)
        #expect(o["metadata"]?["nodeVersion"]?.stringValue?.isEmpty == false)
        let usage = try #require(o["results"]?["stats"]?["tokenUsage"])
        #expect(usage["completionDetails"]?["reasoning"]?.doubleValue == 0)
        #expect(usage["assertions"]?["total"]?.doubleValue != nil)
        #expect(usage["assertions"]?["completionDetails"] != nil)
    }

    @Test("import-results reads v2 and the legacy shape, and rejects the stale doc shape")
    func importShapes() throws {
        let v2 = """
        {"evalId": "eval-abc-2025-01-01T00:00:00", "results": {"version": 2, "timestamp": "2025-01-01T00:00:00.000Z", "table": {"head": {}, "body": []},
         "results": [{"success": true, "score": 1, "vars": {"q": "x"}, "response": {"output": {"a": 1}}}, {"success": false, "failureReason": 2, "error": "boom"}],
         "stats": {"successes": 1, "failures": 0, "errors": 1}}, "config": {}}
        """
        let f2 = try EvalResultsJSON.read(v2)
        #expect(f2.version == 2 && f2.rows.map(\.status) == [.passed, .error])
        #expect(f2.rows[0].response?.output == .obj([("a", .int(1))]))
        let legacy = """
        {"id": "legacy-1", "version": 1, "createdAt": "2024-05-01", "author": "me", "config": {},
         "results": {"results": [{"success": false, "error": "nope", "testCase": {"description": "d"}}], "stats": {"successes": 0, "failures": 1}}}
        """
        let fl = try EvalResultsJSON.read(legacy)
        #expect(fl.evalId == "legacy-1" && fl.rows[0].status == .failed && fl.rows[0].description == "d")
        #expect(throws: EvalResultsError.self) { try EvalResultsJSON.read("{\"providers\": [], \"outputs\": []}") }
        #expect(throws: EvalResultsError.self) { try EvalResultsJSON.read("{\"results\": {\"results\": [{\"score\": 1}]}}") }
        #expect(throws: EvalResultsError.self) { try EvalResultsJSON.read("not json") }
    }

    @Test("summary table lists every row and the gate's pass rate")
    func table() throws {
        let (_, run) = try EvalRunnerTests.run()
        let t = EvalSummaryTable.render(run)
        #expect(t.split(separator: "\n").count == 1 + 6 + 1)
        #expect(t.contains("SKIP"))
        #expect(t.contains("6 rows: 4 passed, 1 failed, 0 errors, 1 skipped. Pass rate 66.67%"))
    }
}

@Suite("Evals stage in one call")
struct EvalStageTests {
    @Test("Evals.run renders every artifact and decides the gate")
    func stage() throws {
        let suite = try EvalSuite.load(from: EvalRunnerTests.suiteURL)
        let report = Evals.run(suite: suite, engine: EvalAssertionEngine(scripts: nil), options: .init(createdAt: EvalResultsTests.created, cycle: 1))
        #expect(report.run.rows.count == 6)
        #expect(try EvalResultsJSON.read(report.resultsJSON).rows.count == 6)
        #expect(report.junitXML.hasPrefix("<?xml"))
        #expect(report.table.contains("Pass rate 66.67%"))
        #expect(report.gate.exitCode == 0 && report.gate.threshold == 50)
        let strict = Evals.run(suite: suite, engine: EvalAssertionEngine(scripts: nil), options: .init(createdAt: EvalResultsTests.created), loopThreshold: 100)
        #expect(strict.gate.exitCode == 100)
    }
}
