@testable import Flywheel
@testable import FlywheelSupport
import Foundation
import Testing
import TestSupport
@testable import FlywheelEvals

/// Nunjucks tags and expressions in prompts, Promptfoo's `load` filter, var globs and text var files.
@Suite("Evals template tags and var files")
struct EvalTemplateTagsTests {
    static func r(_ t: String, _ vars: String = "{}") throws -> String {
        try EvalTemplate.render(t, vars: try JSONValue.parseStrict(vars).objectValue!)
    }

    @Test("for (with loop.index/first/last, key-value pairs, else), if/elif/else, set, whitespace control, operators")
    func tags() throws {
        let xs = #"{"xs": ["a", "b", "c"], "o": {"k": 1, "m": 2}, "n": 5, "empty": []}"#
        #expect(try Self.r("{% for x in xs %}{{ loop.index }}{{ x }}{% if not loop.last %},{% endif %}{% endfor %}", xs) == "1a,2b,3c")
        #expect(try Self.r("{% for x in xs %}{% if loop.first %}[{% endif %}{{ loop.index0 }}/{{ loop.length }}{% endfor %}", xs) == "[0/31/32/3")
        #expect(try Self.r("{% for k, v in o %}{{ k }}={{ v }};{% endfor %}", xs) == "k=1;m=2;")
        #expect(try Self.r("{% for x in empty %}x{% else %}none{% endfor %}", xs) == "none")
        #expect(try Self.r("{% for x in missing %}x{% endfor %}.", xs) == ".")
        #expect(try Self.r("{% if n > 9 %}big{% elif n >= 5 and n != 6 %}mid{% else %}small{% endif %}", xs) == "mid")
        #expect(try Self.r("{% if 'b' in xs %}yes{% endif %}{% if 'z' not in xs %}no{% endif %}", xs) == "yesno")
        #expect(try Self.r("{% set greeting = 'Hi ' ~ xs[0] | upper %}{{ greeting }}!", xs) == "Hi A!")
        #expect(try Self.r("{{ n * 2 + 1 }} {{ 'x' if n == 5 else 'y' }} {{ (xs | length) - 1 }}", xs) == "11 x 2")
        #expect(try Self.r("a\n  {%- if true -%}\n  b\n  {%- endif %}", xs) == "ab")
        #expect(try Self.r("{{ xs | join('-') | title }} {{ xs | reverse | first }} {{ 3.7 | int }}", xs) == "A-b-c c 3", "Nunjucks title splits on spaces only")
    }

    @Test("load parses JSON in a var, so members of a CSV column's JSON can be read")
    func loadFilter() throws {
        #expect(try Self.r("{{ (style | load).tone }} {{ (style | load).formatting.bullets }}", #"{"style": "{\"tone\":\"formal\",\"formatting\":{\"bullets\":true}}"}"#) == "formal true")
        #expect(throws: EvalTemplate.TemplateError.self) { try Self.r("{{ (style | load).tone }}", #"{"style": "not json"}"#) }
    }

    @Test("bad tags are load errors naming the template line: unclosed, stray end tags, unknown tags")
    func tagErrors() throws {
        func message(_ t: String) -> String {
            do { try EvalTemplate.validate(t); return "" } catch let e as EvalTemplate.TemplateError { return e.message } catch { return "\(error)" }
        }
        #expect(message("a\n{% for x in xs %}\nb") .contains("no {% endfor %} (line 2)"))
        #expect(message("{% if x %}y") .contains("no {% endif %}"))
        #expect(message("x\n\n{% endif %}") .contains("unexpected {% endif %} (line 3)"))
        #expect(message("{% macro m() %}{% endmacro %}") .contains("{% macro %} is not supported"))
        #expect(message("{% for in xs %}{% endfor %}") .contains("bad loop variable") || message("{% for in xs %}{% endfor %}").contains("must be"))
        #expect(message("{{ x | nosuch }}") .contains("\"nosuch\" is not supported"))
        #expect(message("{% for x in xs %}{{ loop.index }}{% endfor %}").isEmpty)
    }

    @Test("a JSON chat prompt file with {% for %} loads and renders into the chat the model gets; the glob var makes one test per file; .sql is text")
    func filesAndGlobs() throws {
        let dir = TestPaths.scratch("evals-tags-files")
        defer { try? FileManager.default.removeItem(at: dir) }
        let files: [String: String] = [
            "chat.json": """
            [
              {"role": "system", "content": {{ system | dump }}},
              {% for m in history %}{% for role, content in m %}{"role": "{{ role }}", "content": {{ content | dump }}},{% endfor %}{% endfor %}
              {"role": "user", "content": {{ question | dump }}}
            ]
            """,
            "docs/a.md": "Doc A",
            "docs/b.md": "Doc B",
            "schema.sql": "CREATE TABLE t (id INT);",
            "promptfooconfig.yaml": """
            prompts: [file://chat.json]
            providers: [echo]
            tests:
              - vars:
                  system: Be brief.
                  history: [{user: Hi}, {assistant: Hello}]
                  question: 'Doc: {{doc}}'
                  doc: file://docs/*.md
                  schema: file://schema.sql
                assert: [{type: contains, value: Hello}]
            """,
        ]
        for (name, text) in files {
            let url = dir.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        let suite = try EvalSuite.load(from: dir.appendingPathComponent("promptfooconfig.yaml"))
        #expect(suite.tests.first?.vars["schema"]?.stringValue == "CREATE TABLE t (id INT);")
        #expect(suite.tests.first?.vars["doc"]?.arrayValue?.compactMap(\.stringValue) == ["Doc A", "Doc B"])
        let run = EvalRunner(engine: EvalAssertionEngine(scripts: nil)).grade(suite: suite)
        #expect(run.rows.count == 2, "one row per matching file")
        let chat = try JSONValue.parseStrict(try #require(run.rows.first?.response?.output.stringValue))
        #expect(chat.arrayValue?.compactMap { $0["role"]?.stringValue } == ["system", "user", "assistant", "user"])
        #expect(chat.arrayValue?.last?["content"]?.stringValue?.hasPrefix("Doc:") == true)
        #expect(run.rows.allSatisfy { $0.status == .passed })

        // A glob that matches nothing is a load error naming the field.
        try "prompts: [x]\ntests:\n  - vars: {doc: file://nothing/*.md}\n".write(to: dir.appendingPathComponent("promptfooconfig.yaml"), atomically: true, encoding: .utf8)
        do {
            _ = try EvalSuite.load(from: dir.appendingPathComponent("promptfooconfig.yaml"))
            Issue.record("an empty glob must not load")
        } catch let e as EvalSuiteError {
            #expect(e.key == "tests[0].vars.doc" && e.line == 3, "\(e)")
        }
        // Binary var files are refused with the reason.
        try "prompts: [x]\ntests:\n  - vars: {img: file://a.png}\n".write(to: dir.appendingPathComponent("promptfooconfig.yaml"), atomically: true, encoding: .utf8)
        try Data([0x89, 0x50]).write(to: dir.appendingPathComponent("a.png"))
        #expect(throws: EvalSuiteError.self) { try EvalSuite.load(from: dir.appendingPathComponent("promptfooconfig.yaml")) }
    }
    @Test("nunjucksFilters: a suite's own .js filter runs in node with its arguments; with scripts off the row is an error, not a raw prompt",
          .enabled(if: SubprocessScriptRunner(timeout: 5).nodePath != nil, "needs node"))
    func customFilters() throws {
        let dir = TestPaths.scratch("evals-custom-filters")
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try "module.exports = function (s, suffix) { return String(s).toUpperCase() + (suffix || ''); };\n"
            .write(to: dir.appendingPathComponent("shout.js"), atomically: true, encoding: .utf8)
        try """
            prompts: ["{{ w | shout('!') }} {{ w | shout }}"]
            providers: [echo]
            nunjucksFilters: {shout: ./shout.js}
            tests:
              - vars: {w: hi}
                assert: [{type: equals, value: "HI! HI"}]
            """.write(to: dir.appendingPathComponent("promptfooconfig.yaml"), atomically: true, encoding: .utf8)
        let suite = try EvalSuite.load(from: dir.appendingPathComponent("promptfooconfig.yaml"))
        #expect(suite.warnings.isEmpty, "\(suite.warnings)")
        let run = EvalRunner(engine: EvalAssertionEngine(scripts: SubprocessScriptRunner(timeout: 20))).grade(suite: suite)
        #expect(run.rows.first?.status == .passed, "\(run.rows.first?.error ?? "") \(run.rows.first?.response?.output.jsonString ?? "")")
        let off = EvalRunner(engine: EvalAssertionEngine(scripts: nil)).grade(suite: suite)
        #expect(off.rows.first?.status == .error)
        #expect(off.rows.first?.error?.contains("filter \"shout\"") == true, "\(off.rows.first?.error ?? "")")
        // An unknown filter file is a load error naming the key.
        try "prompts: ['{{ w | nope }}']\nnunjucksFilters: {nope: ./missing.js}\n".write(to: dir.appendingPathComponent("promptfooconfig.yaml"), atomically: true, encoding: .utf8)
        do {
            _ = try EvalSuite.load(from: dir.appendingPathComponent("promptfooconfig.yaml"))
            Issue.record("a missing filter file must not load")
        } catch let e as EvalSuiteError {
            #expect(e.key == "nunjucksFilters.nope" && e.line == 2, "\(e)")
        }
    }
}
