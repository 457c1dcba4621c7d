@testable import Flywheel
@testable import FlywheelSupport
@testable import FlywheelTraces
import Foundation
import Testing
import TestSupport
import Yams
@testable import FlywheelEvals

/// The one YAML writer (`EvalYAMLWriter.write`, behind `EvalTestsYAML.render`) against hostile values: every reader we
/// care about — our js-yaml-rules reader, and PyYAML (YAML 1.1, so ambiguous strings must be quoted) — gets them back.
@Suite("Evals YAML writer (Yams emitter)")
struct EvalSuiteYAMLWriterTests {
    /// Strings that YAML could read as something else, or that need quoting, escaping or a block.
    static let hostileStrings: [String] = [
        "true", "True", "TRUE", "false", "yes", "Yes", "NO", "on", "off", "y", "n", "Y", "null", "Null", "NULL", "~", "",
        "1", "-1", "+1", "1.0", ".5", "1e3", "1_000", "0x10", "0o17", "012", "0b11", "1:20", "2001-12-14", "2001-12-14 21:59:43.10 -5",
        ".inf", "-.inf", ".nan", "NaN", "<<", "=", "---", "...", "--- x",
        "- x", "a: b", "#c", "a #b", "x:", ":", "-", "?", "? x", "|", ">", "[flow]", "{flow}", "a, b", "*alias", "&anchor", "!tag",
        "%pct", "@at", "`tick`", "\"quoted\"", "'single'", "it's", "back\\slash", "a\tb", "\ttab",
        "  lead", "trail  ", " ", "line1\nline2", "ends\n", "ends\n\n", "\nleading newline", " leading space\nsecond",
        "trailing space \nx", "cr\r\nlf", "lone\rcr", "nel\u{85}x", "ls\u{2028}ps\u{2029}", "bom\u{FEFF}", "bell\u{07}", "nul\u{0}",
        "é", "héllo ΟΔΟΣ", "emoji 🎉", "中文", "plain words", "snake_case", "path/to/file.txt",
        String(repeating: "long words ", count: 30), "key " + String(repeating: "k", count: 200),
    ]

    static let numbers: [JSONValue] = [
        .int(0), .int(1), .int(-1), .int(Int64.max), .int(Int64.min),
        .double(1), .double(1.5), .double(1e21), .double(1e20), .double(-0.0), .double(0), .double(0.1), .double(1e-7),
        .double(.leastNonzeroMagnitude), .double(1.7976931348623157e308), .double(-123456789.125),
    ]

    /// One document with all of it: hostile strings as values and as keys, numbers, nesting, empties.
    static var document: JSONValue {
        .obj([
            ("strings", .array(hostileStrings.map(JSONValue.string))),
            ("keys", .obj(hostileStrings.map { ($0, .string($0)) })),
            ("numbers", .array(numbers)),
            ("one as a string", .string("1")),
            ("scalars", .array([.null, .bool(true), .bool(false)])),
            ("nested", .array([.array([.array([]), .obj([]), .int(1)]), .obj([("a", .obj([("b", .array([.obj([("c", .null)])]))]))])])),
            ("empty array", .array([])),
            ("empty object", .obj([])),
        ])
    }

    /// Equal and of the same kind: ints stay ints, doubles keep their bits (so -0.0 stays -0.0), NaN matches NaN.
    static func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.double(let x), .double(let y)): return x.bitPattern == y.bitPattern || (x.isNaN && y.isNaN)
        case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy(same)
        case (.object(let x), .object(let y)): return x.keys.sorted() == y.keys.sorted() && x.allSatisfy { same($0.value, y[$0.key]!) }
        default: return a == b
        }
    }

    @Test("write → EvalYAML.load gives back the same values, keys in order")
    func writerRoundTrip() throws {
        var doc = Self.document
        if case .object(var o) = doc {
            o["non-finite"] = .array([.double(.infinity), .double(-.infinity), .double(.nan)])
            doc = .object(o)
        }
        let text = EvalYAMLWriter.write(doc)
        let back = try EvalYAML.load(text, file: "hostile.yaml").value
        #expect(Self.same(back, doc), "\(text)")
        #expect(back["keys"]?.objectValue.map { Array($0.keys) } == Self.hostileStrings)
        #expect(EvalYAMLWriter.write(back) == text)  // stable
        // Yams' own resolver and constructor (YAML 1.1 types) read the same scalars.
        let yams = try #require(try Yams.load(yaml: text) as? [String: Any])
        #expect(yams["strings"] as? [String] == Self.hostileStrings)
        #expect((yams["keys"] as? [String: String]).map { $0.keys.sorted() } == Self.hostileStrings.sorted())
        #expect(yams["one as a string"] as? String == "1")
        let numbers = try #require(yams["numbers"] as? [Any])
        #expect(numbers.count == Self.numbers.count)
        for (got, want) in zip(numbers, Self.numbers) {
            switch want {
            case .int(let i): #expect(got as? Int == Int(i), "\(got) \(want)")
            case .double(let d): #expect((got as? Double)?.bitPattern == d.bitPattern, "\(got) \(want)")
            default: Issue.record("not a number: \(want)")
            }
        }
    }

    @Test("render → parse gives back the same values; keys sorted by UTF-8 bytes")
    func renderRoundTrip() throws {
        let value = Self.document
        let text = EvalTestsYAML.render(value)
        #expect(Self.same(try EvalTestsYAML.parse(text), value), "\(text)")
        #expect(EvalTestsYAML.render(try EvalTestsYAML.parse(text)) == text)
        let keys = try #require(try EvalYAML.load(text, file: "x").value["keys"]?.objectValue?.keys)
        #expect(Array(keys) == Self.hostileStrings.sorted(by: byteOrder))
        // Bare scalars and empty documents.
        for v: JSONValue in ["yes", "", "1", 1, 1.5, nil, true, [], [:], ["a": []]] {
            #expect(Self.same(try EvalTestsYAML.parse(EvalTestsYAML.render(v)), v), "\(v)")
        }
        #expect(EvalTestsYAML.render(["b": 1, "a": ["x", "true"]]) == "a:\n- x\n- \"true\"\nb: 1\n")
    }

    static let pyYAML = toolExists("python3") && (try? runTool("python3", ["-c", "import yaml"]).status) == 0

    @Test("PyYAML (YAML 1.1) reads the emitted text to the same JSON", .enabled(if: pyYAML, "python3 with PyYAML unavailable"))
    func pyYAMLReadsIt() throws {
        // Non-string keys would slip through json.dumps (True → "true"), so they fail here.
        let script = """
            import yaml, json, sys
            def check(v):
                if isinstance(v, dict):
                    for k, x in v.items():
                        assert isinstance(k, str), repr(k)
                        check(x)
                elif isinstance(v, list):
                    for x in v: check(x)
            v = yaml.safe_load(sys.stdin.read())
            check(v)
            print(json.dumps(v))
            """
        for text in [EvalYAMLWriter.write(Self.document), EvalTestsYAML.render(Self.document)] {
            let r = try runTool("python3", ["-c", script], stdin: text)
            #expect(r.status == 0, "\(r.stderr)\n\(text)")
            let back = try JSONValue.parseStrict(r.stdout)
            #expect(back.looselyEquals(Self.document), "\(r.stdout)")
            // Every string came back a string (looselyEquals lets 1 match 1.0, not "1" match 1).
            #expect(back["strings"]?.arrayValue?.allSatisfy { $0.stringValue != nil } == true)
            #expect(back["one as a string"] == .string("1"))
        }
    }
}
