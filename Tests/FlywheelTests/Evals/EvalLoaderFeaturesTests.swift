@testable import Flywheel
@testable import FlywheelSupport
import Foundation
import Testing
import TestSupport
@testable import FlywheelEvals

/// Promptfoo loader features: prompt files and objects, `$ref`, globs, CSV tests, scenarios, filters, derivedMetrics.
@Suite("Evals loader features")
struct EvalLoaderFeaturesTests {
    static func write(_ dir: URL, _ files: [String: String]) throws {
        for (name, text) in files {
            let url = dir.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
    }

    @Test("Nunjucks filters render as in Nunjucks; an unknown filter is a load error naming file, line and field")
    func filters() throws {
        var v = JSONObject()
        v["name"] = .string("  Ada Lovelace ")
        v["tags"] = .array([.string("a"), .string("b"), .string("c")])
        v["obj"] = .obj([("k", .int(1)), ("s", .string("x"))])
        v["empty"] = .string("")
        v["html"] = .string("<a href='x'>\"Tom & Jerry\"</a>")
        func r(_ s: String) throws -> String { try EvalTemplate.render(s, vars: v) }
        #expect(try r("{{ name | trim | upper }}") == "ADA LOVELACE")
        #expect(try r("{{ html | escape }}") == "&lt;a href=&#39;x&#39;&gt;&quot;Tom &amp; Jerry&quot;&lt;/a&gt;")
        #expect(try r("{{ 'é < ü' | e }}") == "é &lt; ü")
        #expect(try r("{{ name | lower | trim }}") == "ada lovelace")
        #expect(try r("{{ tags | join(\", \") }}") == "a, b, c")
        #expect(try r("{{ tags | join }}") == "abc")
        #expect(try r("{{ tags | length }}") == "3")
        #expect(try r("{{ name | length }}") == "15")
        #expect(try r("{{ tags | first }}-{{ tags | last }}") == "a-c")
        #expect(try r("{{ obj | dump }}") == "{\"k\":1,\"s\":\"x\"}")
        #expect(try r("{{ name | trim | dump }}") == "\"Ada Lovelace\"")
        #expect(try r("{{ missing | default('none') }}") == "none")
        #expect(try r("{{ empty | default('none') }}") == "")
        #expect(try r("{{ empty | default('none', true) }}") == "none")
        #expect(try r("{{ name | trim | replace('Ada', 'Countess') }}") == "Countess Lovelace")
        #expect(try r("{{ 'a-b-c' | replace('-', '+', 1) }}") == "a+b-c")
        #expect(throws: EvalTemplate.TemplateError.self) { try r("{{ name | urlencode }}") }

        let dir = TestPaths.scratch("evals-filters")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.write(dir, ["promptfooconfig.yaml": "prompts: ['Q: {{ q | upper }}']\ntests:\n  - vars: {q: hello}\n    assert:\n      - type: equals\n        value: '{{ q | nosuch }}'\n"])
        do {
            _ = try EvalSuite.load(from: dir.appendingPathComponent("promptfooconfig.yaml"))
            Issue.record("an unknown filter loaded")
        } catch let e as EvalSuiteError {
            #expect(e.key == "tests[0].assert[0].value")
            #expect(e.line == 6)
            #expect(e.reason.contains("\"nosuch\""))
        }
    }

    @Test("prompt files: .txt with --- separators, .json and .yaml chat prompts, {id: file://…, label}, globs")
    func promptFiles() throws {
        let dir = TestPaths.scratch("evals-prompts")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.write(dir, [
            "prompts/a.txt": "First {{q}}\n---\nSecond {{q}}",
            "prompts/chat.json": "[{\"role\": \"system\", \"content\": \"Be brief\"}, {\"role\": \"user\", \"content\": \"{{q}}\"}]",
            "prompts/chat.yaml": "- role: user\n  content: 'Y: {{q}}'\n",
            "more/x1.txt": "X1 {{q}}",
            "more/x2.txt": "X2 {{q}}",
            "promptfooconfig.yaml": """
            prompts:
              - file://prompts/a.txt
              - file://prompts/chat.json
              - {id: file://prompts/chat.yaml, label: yaml-chat}
              - file://more/*.txt
            tests:
              - vars: {q: hi}
            """,
        ])
        let suite = try EvalSuite.load(from: dir.appendingPathComponent("promptfooconfig.yaml"))
        #expect(suite.prompts.map(\.raw) == ["First {{q}}", "Second {{q}}",
                                             "[{\"role\":\"system\",\"content\":\"Be brief\"},{\"role\":\"user\",\"content\":\"{{q}}\"}]",
                                             "[{\"role\":\"user\",\"content\":\"Y: {{q}}\"}]", "X1 {{q}}", "X2 {{q}}"])
        #expect(suite.prompts[0].label == "file://prompts/a.txt: 0")
        #expect(suite.prompts[3].label == "yaml-chat")
        #expect(suite.prompts[4].label == "file://more/x1.txt")
        let run = EvalRunner().grade(suite: suite)
        #expect(run.rows.count == 6)
        #expect(run.rows.map(\.promptRaw).contains("Second hi"))
        // A glob that matches nothing names the field.
        try Self.write(dir, ["bad.yaml": "prompts:\n  - file://none/*.txt\n"])
        #expect { try EvalSuite.load(from: dir.appendingPathComponent("bad.yaml")) } throws: { e in
            (e as? EvalSuiteError).map { $0.key == "prompts[0]" && $0.reason.contains("no file matches") } ?? false
        }
    }

    @Test("a bare prompt path that exists is read as a file, as Promptfoo does; openai config Flywheel does not send is warned")
    func barePathsAndUnsentConfig() throws {
        let dir = TestPaths.scratch("evals-bare")
        try Self.write(dir, [
            "prompts.txt": "Hello {{q}}\n---\nBye {{q}}",
            "promptfooconfig.yaml": """
            prompts: [prompts.txt, missing.txt, "Plain {{q}}"]
            providers:
              - id: openai:chat:m
                config: {temperature: 0, apiBaseUrl: "http://127.0.0.1:9/v1", tools: [{type: function}], n: 2, logit_bias: {"1": 2}}
              - openai:assistant:m
            tests:
              - vars: {q: hi}
            """,
        ])
        let suite = try EvalSuite.load(from: dir.appendingPathComponent("promptfooconfig.yaml"))
        #expect(suite.prompts.map(\.raw) == ["Hello {{q}}", "Bye {{q}}", "missing.txt", "Plain {{q}}"])
        let unsent = try #require(suite.warnings.first { $0.key == "providers[0].config" })
        #expect(unsent.reason.contains("logit_bias, n") && !unsent.reason.contains("temperature") && !unsent.reason.contains("tools"), "\(unsent)")
        #expect(suite.warnings.contains { $0.key == "providers[1]" && $0.reason.contains("chat completions") })
    }

    @Test("$ref to #/definitions, tests globs over YAML and CSV files, file vars")
    func refsAndGlobs() throws {
        let dir = TestPaths.scratch("evals-refs")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.write(dir, [
            "tests/a.yaml": "- description: from yaml\n  vars: {q: one}\n  assert: [{type: contains, value: one}]\n",
            "tests/b.csv": "q,__expected\ntwo,contains:two\nthree,contains:nope\n",
            "ctx.txt": "some context",
            "promptfooconfig.yaml": """
            prompts: ['Q: {{q}} / {{ctx}}']
            definitions:
              check: {type: starts-with, value: 'Q:'}
              shared:
                vars: {q: four, ctx: file://ctx.txt}
            tests:
              - file://tests/*
              - $ref: '#/definitions/shared'
              - vars: {q: five}
                assert:
                  - $ref: '#/definitions/check'
            """,
        ])
        let url = dir.appendingPathComponent("promptfooconfig.yaml")
        let suite = try EvalSuite.load(from: url)
        #expect(suite.tests.map { $0.vars["q"]?.stringValue } == ["one", "two", "three", "four", "five"])
        #expect(suite.tests[3].vars["ctx"] == .string("some context"))
        #expect(suite.tests[4].assertions.map(\.type) == ["starts-with"])
        // The document keeps the $ref as written (saving does not inline it).
        #expect(suite.document["tests"]?.arrayValue?[1]["$ref"] == .string("#/definitions/shared"))
        let run = EvalRunner().grade(suite: suite)
        #expect(run.rows.map(\.status) == [.passed, .passed, .failed, .passed, .passed])
        // A dangling or cyclic $ref is a load error naming the field.
        try Self.write(dir, ["cyc.yaml": "definitions:\n  a: {$ref: '#/definitions/b'}\n  b: {$ref: '#/definitions/a'}\ntests:\n  - $ref: '#/definitions/a'\n"])
        #expect { try EvalSuite.load(from: dir.appendingPathComponent("cyc.yaml")) } throws: { e in
            (e as? EvalSuiteError).map { $0.reason.contains("refers to itself") } ?? false
        }
    }

    @Test("scenarios: each config entry × each test, vars and asserts combined, defaultTest merged")
    func scenarios() throws {
        let dir = TestPaths.scratch("evals-scenarios")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.write(dir, ["promptfooconfig.yaml": """
            prompts: ['{{greeting}}, {{name}}']
            defaultTest:
              assert: [{type: starts-with, value: '{{greeting}}'}]
            tests:
              - vars: {greeting: Hi, name: plain}
            scenarios:
              - description: languages
                config:
                  - vars: {greeting: Hola}
                  - vars: {greeting: Bonjour}
                    assert: [{type: contains, value: Bon}]
                tests:
                  - vars: {name: Ana}
                    assert: [{type: contains, value: Ana}]
                  - description: second
                    vars: {name: Bo}
            """])
        let suite = try EvalSuite.load(from: dir.appendingPathComponent("promptfooconfig.yaml"))
        #expect(suite.tests.count == 5)
        #expect(suite.tests.map { "\($0.vars["greeting"]?.stringValue ?? ""),\($0.vars["name"]?.stringValue ?? "")" }
                == ["Hi,plain", "Hola,Ana", "Hola,Bo", "Bonjour,Ana", "Bonjour,Bo"])
        #expect(suite.tests[1].description == "languages")
        #expect(suite.tests[2].description == "second")
        #expect(suite.tests[3].assertions.map(\.value) == [.string("Bon"), .string("Ana")])
        #expect(suite.merged(suite.tests[4]).assertions.map(\.type) == ["starts-with", "contains"])
        let run = EvalRunner().grade(suite: suite)
        #expect(run.rows.count == 5)
        #expect(run.rows.allSatisfy { $0.status == .passed }, "\(run.rows.map { $0.error ?? "" })")
    }

    @Test("derivedMetrics: expressions over a column's summed named scores land in prompts[].metrics.namedScores")
    func derivedMetrics() throws {
        let dir = TestPaths.scratch("evals-derived")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.write(dir, ["promptfooconfig.yaml": """
            prompts: ['{{x}}']
            derivedMetrics:
              - name: precision
                value: tp / (tp + fp)
              - name: doubled
                value: 'max(precision, 0) * 2'
            tests:
              - vars: {x: yes}
                assert: [{type: contains, value: 'yes', metric: tp}, {type: contains, value: 'no', metric: fp}]
              - vars: {x: yes no}
                assert: [{type: contains, value: 'yes', metric: tp}, {type: contains, value: 'no', metric: fp}]
              - vars: {x: maybe}
                assert: [{type: contains, value: 'yes', metric: tp}]
            """])
        let suite = try EvalSuite.load(from: dir.appendingPathComponent("promptfooconfig.yaml"))
        #expect(suite.derivedMetrics.map(\.name) == ["precision", "doubled"])
        let run = EvalRunner().grade(suite: suite)
        let json = try JSONValue.parseStrict(EvalResultsJSON.write(run, suite: suite, options: EvalResultsJSON.Options(createdAt: Date(timeIntervalSince1970: 0))))
        let named = json["results"]?["prompts"]?.arrayValue?.first?["metrics"]?["namedScores"]
        // tp = 1 + 1 + 0 = 2, fp = 0 + 1 = 1 → precision 2/3.
        #expect(named?["tp"]?.doubleValue == 2)
        #expect(named?["fp"]?.doubleValue == 1)
        #expect(abs((named?["precision"]?.doubleValue ?? 0) - 2.0 / 3.0) < 1e-12)
        #expect(abs((named?["doubled"]?.doubleValue ?? 0) - 4.0 / 3.0) < 1e-12)
        // A bad expression names the field.
        try Self.write(dir, ["bad.yaml": "prompts: [a]\nderivedMetrics:\n  - name: p\n    value: 'tp / (fp'\n"])
        #expect { try EvalSuite.load(from: dir.appendingPathComponent("bad.yaml")) } throws: { e in
            (e as? EvalSuiteError).map { $0.key == "derivedMetrics[0].value" && $0.line == 4 && $0.reason.contains("missing )") } ?? false
        }
        #expect(try EvalMathExpression("-2 ^ 2 + 10 % 4").evaluate([:]) == -2)
    }

    @Test("extensions: hooks run as fn(hookName, context) when scripts are allowed; refused with a warning otherwise")
    func extensions() throws {
        let dir = TestPaths.scratch("evals-extensions")
        defer { try? FileManager.default.removeItem(at: dir) }
        let log = dir.appendingPathComponent("hooks.log")
        try Self.write(dir, [
            "hooks.py": """
            import json
            def extension_hook(hook, context):
                with open(\(String(reflecting: log.path)), "a") as f:
                    if hook == "afterEach":
                        f.write(hook + " " + str(context["result"]["success"]) + "\\n")
                    elif hook == "afterAll":
                        f.write(hook + " " + str(len(context["results"])) + "\\n")
                    elif hook == "beforeEach":
                        f.write(hook + " " + context["test"]["vars"]["q"] + "\\n")
                    else:
                        f.write(hook + " " + context["suite"]["description"] + "\\n")

            def broken(hook, context):
                raise ValueError("boom in " + hook)
            """,
            "promptfooconfig.yaml": """
            description: hooks
            prompts: ['{{q}}']
            extensions: [file://hooks.py:extension_hook, file://hooks.py:broken]
            tests:
              - vars: {q: [a, b]}
                assert: [{type: equals, value: a}]
            """,
        ])
        let suite = try EvalSuite.load(from: dir.appendingPathComponent("promptfooconfig.yaml"))
        #expect(suite.extensions.count == 2 && suite.extensions[0].hasSuffix("hooks.py:extension_hook"))
        #expect(suite.warnings.contains { $0.key == "extensions" && $0.reason.contains("only when scripts are allowed") })
        let scripts = SubprocessScriptRunner(timeout: 20)
        let run = EvalRunner(engine: EvalAssertionEngine(scripts: scripts)).grade(suite: suite)
        #expect(run.rows.map(\.status) == [.passed, .failed])
        let lines = ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        #expect(lines == ["beforeAll hooks", "beforeEach a", "beforeEach b", "afterEach True", "afterEach False", "afterAll 2"], "\(lines)")
        // One failing hook is reported, never fatal.
        #expect(run.hookProblems.contains { $0.contains("hooks.py:broken failed in beforeAll") && $0.contains("boom in beforeAll") }, "\(run.hookProblems)")
        // Without scripts nothing runs, and the run says so.
        try? FileManager.default.removeItem(at: log)
        let off = EvalRunner(engine: EvalAssertionEngine(scripts: DisabledScriptRunner(reason: "scripts are off"))).grade(suite: suite)
        #expect(!FileManager.default.fileExists(atPath: log.path))
        #expect(off.hookProblems.contains { $0.contains("was not run: scripts are off") })
        // A hook that is not a file://…:function reference is a load error naming the field.
        try Self.write(dir, ["bad.yaml": "prompts: [a]\nextensions: [hooks.py]\n"])
        #expect { try EvalSuite.load(from: dir.appendingPathComponent("bad.yaml")) } throws: { e in
            (e as? EvalSuiteError).map { $0.key == "extensions[0]" && $0.line == 2 } ?? false
        }
    }
}

