import Foundation
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelSupport
@testable import FlywheelTraces

/// Import's byte-level fast path must write exactly what decoding the span and writing it again writes.
@Suite("Traces: byte-level line normalizer")
struct SpanLineNormalizerTests {
    /// What the full path writes for `line`, or nil when it throws.
    static func reference(_ line: [UInt8]) -> [UInt8]? {
        line.withUnsafeBytes { raw in
            guard let span = try? Span(line: raw) else { return nil }
            var out: [UInt8] = []
            span.writeJSONLine(to: &out)
            return out
        }
    }

    /// The fast path's bytes, or nil when it declines the line; `out` starts non-empty to check it is only appended to.
    static func fast(_ line: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = Array("prefix".utf8)
        var workspace = SpanLineNormalizer.Workspace()
        let ok = line.withUnsafeBytes { SpanLineNormalizer.normalize($0, into: &out, workspace: &workspace) }
        #expect(Array(out.prefix(6)) == Array("prefix".utf8))
        if !ok { #expect(out.count == 6, "a declined line leaves the output as it was") }
        return ok ? Array(out.dropFirst(6)) : nil
    }

    static let base = #"""
        {"trace_id":"t1","span_id":"s1","parent_span_id":"p","trace_state":"","name":"n","kind":"SPAN_KIND_INTERNAL","start_time":"2026-05-01T09:00:00.000000000Z","end_time":"2026-05-01T09:00:01.000000000Z","status":{"code":"STATUS_CODE_OK","message":""},"resource":{"attributes":{"service.name":"svc"}},"scope":{"name":"sc","version":"1"},"attributes":{"a":1}}
        """#

    /// Lines the fast path must take, each differing from its normalized form in some way.
    static let taken: [String] = [
        base,
        // Keys out of order everywhere, whitespace, optional fields missing, nested objects unsorted.
        #"""
         { "span_id" : "s1", "trace_id":"t1", "name":"n","kind":"SPAN_KIND_INTERNAL","end_time":"e","start_time":"s", "status":{"message":"m","code":"STATUS_CODE_ERROR"}, "resource":{"attributes":{"z":1,"a":{"y":[1, 2, {"b":1,"a":2}],"x":null}}}, "scope":{"version":"v","name":"sc"}, "attributes":{"zz":true,"aa":false,"m":-12,"f":2.50,"e":1e3,"big":123456789012345678901,"neg0":-0,"nan":NaN} }
        """#,
        // Status without message, scope without version; extra top-level keys (sorted after attributes).
        #"{"zeta":1,"trace_id":"t","span_id":"s","name":"n","kind":"k","start_time":"a","end_time":"b","status":{"code":"c"},"resource":{"attributes":{}},"scope":{"name":"x"},"attributes":{},"alpha":{"b":[],"a":""},"alph":0}"#,
        // Escapes: canonical ones kept, \/ and \u decoded, raw U+2028 escaped, a JSON document inside a string.
        #"{"trace_id":"t","span_id":"s","name":"q\"b\\s\/x\n\r\t\b\f","kind":"\u0041\u00e9\ud83d\ude00\u2028\u0001","start_time":"a","end_time":"b","status":{"code":"c","message":"line sep para"},"resource":{"attributes":{"k":"[{\"role\":\"user\",\"content\":\"hi\"}]"}},"scope":{"name":"émoji 😀 中文 — …","version":""},"attributes":{"v":"x\u005cy"}}"#,
        // Empty and nested arrays, deep-ish nesting.
        #"{"trace_id":"t","span_id":"s","name":"n","kind":"k","start_time":"a","end_time":"b","status":{"code":"c","message":""},"resource":{"attributes":{"d":[[[[{"b":{"d":1,"c":2}}]]]],"e":[]}},"scope":{"name":"x","version":""},"attributes":{"n":[0,-1,1.0,1.5e-7,-0.0,Infinity,-Infinity]}}"#,
        // Keys ordered by their first eight bytes and past them: shared prefixes of 7, 8 and more bytes, a key that
        // starts another, case, the empty key; top-level keys in reverse order with extras sharing prefixes.
        #"{"attributes":{"abcdefghij":1,"abcdefgh":2,"abcdefg":3,"abcdefghi":4,"abcdefgha":5,"abcdefgg":6,"abcdefghij.k":7,"abcdefghiJ":8,"B":9,"b":10,"":11,"llm.output_messages.0.message.tool_calls.0.tool_call.function.name":12,"llm.output_messages.0.message.tool_calls.0.tool_call.id":13},"scope":{"version":"","name":"x"},"resource":{"attributes":{"service.version":"1","service.name":"s"}},"status":{"message":"","code":"c"},"end_time":"b","start_time":"a","kind":"k","name":"n","trace_state":"","parent_span_id":"","span_id":"s","trace_id":"t","extra_keyAB":1,"extra_key":2,"extra_keyA":3,"extr":4}"#,
        // Keys already in order but for the last; sorted keys that share long prefixes.
        #"{"trace_id":"t","span_id":"s","name":"n","kind":"k","start_time":"a","end_time":"b","status":{"code":"c"},"resource":{"attributes":{"inference.llm.a":1,"inference.llm.b":2,"inference.llm.c":{"x.y.z.w.v.u":1,"x.y.z.w.v.t":2}}},"scope":{"name":"x"},"attributes":{"a":1,"b":2,"c":3,"aa":4}}"#,
    ]

    /// Lines the fast path must decline (the full path decides: an answer or an error).
    static let declined: [String] = [
        // A repeated key (the last wins when decoded).
        #"{"trace_id":"t","span_id":"s","name":"n","kind":"k","start_time":"a","end_time":"b","status":{"code":"c"},"resource":{"attributes":{}},"scope":{"name":"x"},"attributes":{"a":1,"a":2}}"#,
        // A key with an escape, and a non-ASCII key (Swift compares those by canonical equivalence).
        #"{"trace_id":"t","span_id":"s","name":"n","kind":"k","start_time":"a","end_time":"b","status":{"code":"c"},"resource":{"attributes":{}},"scope":{"name":"x"},"attributes":{"a\u0062":1}}"#,
        #"{"trace_id":"t","span_id":"s","name":"n","kind":"k","start_time":"a","end_time":"b","status":{"code":"c"},"resource":{"attributes":{}},"scope":{"name":"x"},"attributes":{"é":1,"e\u0301":2}}"#,
        // Missing or mistyped fields, extra keys where none are allowed, not an object, invalid JSON.
        #"{"trace_id":"t","name":"n","kind":"k","start_time":"a","end_time":"b","status":{"code":"c"},"resource":{"attributes":{}},"scope":{"name":"x"},"attributes":{}}"#,
        #"{"trace_id":7,"span_id":"s","name":"n","kind":"k","start_time":"a","end_time":"b","status":{"code":"c"},"resource":{"attributes":{}},"scope":{"name":"x"},"attributes":{}}"#,
        #"{"trace_id":"t","span_id":"s","parent_span_id":null,"name":"n","kind":"k","start_time":"a","end_time":"b","status":{"code":"c"},"resource":{"attributes":{}},"scope":{"name":"x"},"attributes":{}}"#,
        #"{"trace_id":"t","span_id":"s","name":"n","kind":"k","start_time":"a","end_time":"b","status":{"code":"c","x":1},"resource":{"attributes":{}},"scope":{"name":"x"},"attributes":{}}"#,
        #"{"trace_id":"t","span_id":"s","name":"n","kind":"k","start_time":"a","end_time":"b","status":{"code":"c"},"resource":{"attributes":[]},"scope":{"name":"x"},"attributes":{}}"#,
        #"{"trace_id":"t","span_id":"s","name":"n","kind":"k","start_time":"a","end_time":"b","status":{"code":"c"},"resource":{"attributes":{}},"scope":{"name":"x"},"attributes":"no"}"#,
        #"{"trace_id":"t","span_id":"s","name":"n","kind":"k","start_time":"a","end_time":"b","status":{"code":"c"},"resource":{"attributes":{}},"scope":{"name":"x"},"attributes":{}} x"#,
        #"["not","an","object"]"#,
        #"{"trace_id":"t","span_id":"s","name":"n"#,
        #"{"trace_id":"t","span_id":"s","name":"n","kind":"k","start_time":"a","end_time":"b","status":{"code":"c"},"resource":{"attributes":{}},"scope":{"name":"x"},"attributes":{"bad":"\ud800"}}"#,
        // Repeated keys of eight bytes and more (equal prefixes), next to each other or apart; a repeated extra
        // top-level key; a repeated top-level key, in order or not.
        #"{"trace_id":"t","span_id":"s","name":"n","kind":"k","start_time":"a","end_time":"b","status":{"code":"c"},"resource":{"attributes":{}},"scope":{"name":"x"},"attributes":{"abcdefgh":1,"abcdefgh":2}}"#,
        #"{"trace_id":"t","span_id":"s","name":"n","kind":"k","start_time":"a","end_time":"b","status":{"code":"c"},"resource":{"attributes":{}},"scope":{"name":"x"},"attributes":{"abcdefghij":1,"b":0,"abcdefghij":2}}"#,
        #"{"zeta":1,"trace_id":"t","span_id":"s","name":"n","kind":"k","start_time":"a","end_time":"b","status":{"code":"c"},"resource":{"attributes":{}},"scope":{"name":"x"},"attributes":{},"zeta":2}"#,
        #"{"trace_id":"t","span_id":"s","name":"n","kind":"k","start_time":"a","end_time":"b","status":{"code":"c"},"resource":{"attributes":{}},"scope":{"name":"x"},"attributes":{},"name":"m"}"#,
        #"{"trace_id":"t","trace_id":"u","span_id":"s","name":"n","kind":"k","start_time":"a","end_time":"b","status":{"code":"c"},"resource":{"attributes":{}},"scope":{"name":"x"},"attributes":{}}"#,
        // Repeated keys inside status, resource, scope.
        #"{"trace_id":"t","span_id":"s","name":"n","kind":"k","start_time":"a","end_time":"b","status":{"code":"c","code":"d"},"resource":{"attributes":{}},"scope":{"name":"x"},"attributes":{}}"#,
        #"{"trace_id":"t","span_id":"s","name":"n","kind":"k","start_time":"a","end_time":"b","status":{"code":"c"},"resource":{"attributes":{},"attributes":{}},"scope":{"name":"x"},"attributes":{}}"#,
        #"{"trace_id":"t","span_id":"s","name":"n","kind":"k","start_time":"a","end_time":"b","status":{"code":"c"},"resource":{"attributes":{}},"scope":{"name":"x","version":"1","version":"2"},"attributes":{}}"#,
        // A status without its code, a message that is no string, an empty object.
        #"{"trace_id":"t","span_id":"s","name":"n","kind":"k","start_time":"a","end_time":"b","status":{"message":"m"},"resource":{"attributes":{}},"scope":{"name":"x"},"attributes":{}}"#,
        #"{"trace_id":"t","span_id":"s","name":"n","kind":"k","start_time":"a","end_time":"b","status":{"code":"c","message":1},"resource":{"attributes":{}},"scope":{"name":"x"},"attributes":{}}"#,
        #"{}"#,
    ]

    @Test("lines the fast path takes come out byte for byte as Span(line:) + writeJSONLine write them")
    func takenLinesMatch() throws {
        for text in Self.taken {
            let line = Array(text.utf8)
            let want = try #require(Self.reference(line), "the full path reads \(text)")
            let got = try #require(Self.fast(line), "the fast path takes \(text)")
            #expect(String(decoding: got, as: UTF8.self) == String(decoding: want, as: UTF8.self))
        }
    }

    @Test("lines with repeated, escaped or non-ASCII keys, wrong fields or bad JSON are declined")
    func declinedLines() {
        for text in Self.declined {
            #expect(Self.fast(Array(text.utf8)) == nil, "\(text)")
        }
        // Nesting past Span(line:)'s limit is left to it too.
        let deep = String(repeating: "[", count: 205) + String(repeating: "]", count: 205)
        let line = Self.base.replacingOccurrences(of: #""a":1"#, with: "\"a\":\(deep)")
        #expect(Self.fast(Array(line.utf8)) == nil)
    }

    @Test("objects of many keys (the sort past insertion sort) with long shared prefixes, shuffled (seeded): as the full path writes them")
    func manyKeysMatch() throws {
        var rng = SplitMix64(seed: 4242)
        for count in [2, 9, 47, 48, 49, 120] {
            var keys = (0..<count).map { "inference.llm.field.\($0 % 7).\($0)" } + ["inference.llm.field", "inference", "inferencf"]
            keys.shuffle(using: &rng)
            let attributes = keys.map { "\"\($0)\":\(keys.count)" }.joined(separator: ",")
            let line = Array(Self.base.replacingOccurrences(of: #""attributes":{"a":1}"#, with: "\"attributes\":{\(attributes)}").utf8)
            let want = try #require(Self.reference(line))
            #expect(Self.fast(line) == want, "\(count) keys")
            #expect(Self.predicted(line) == want.count)
            // The same key twice among them: declined.
            let twice = Array(Self.base.replacingOccurrences(of: #""attributes":{"a":1}"#, with: "\"attributes\":{\(attributes),\"\(keys[count / 2])\":0}").utf8)
            #expect(Self.fast(twice) == nil, "\(count) keys, one repeated")
        }
    }

    @Test("one workspace for many lines (remembered key orders) writes what a fresh one writes; a wrong remembered order is not used")
    func keyOrdersAreOnlyAHint() throws {
        var rng = SplitMix64(seed: 31)
        let generated = TestPaths.scratch("normalizer-orders").appendingPathComponent("gen.jsonl")
        try TraceFixtures.generate(generated, ["--traces", "3", "--seed", "13"])
        var lines = TraceFixtures.lines(try Data(contentsOf: generated)) + Self.taken.map { Array($0.utf8) }
        for line in lines.prefix(40) {
            let value = try line.withUnsafeBytes { try JSONValue.parse(bytes: $0) }
            lines.append(Array(Self.scrambled(value, &rng).utf8))
        }
        lines += Self.declined.map { Array($0.utf8) }
        var workspace = SpanLineNormalizer.Workspace()
        var remembered = 0
        for line in lines + lines {
            var out: [UInt8] = []
            let ok = line.withUnsafeBytes { SpanLineNormalizer.normalize($0, into: &out, workspace: &workspace, validated: true) }
            #expect((ok ? out : nil) == Self.fast(line), "\(String(decoding: line, as: UTF8.self))")
            remembered = max(remembered, workspace.orders.count)
        }
        #expect(remembered > 1)

        // Every remembered order made wrong (reversed, or an index twice): the keys are sorted again, same bytes.
        let line = Array(Self.taken[1].utf8)
        let want = try #require(Self.reference(line))
        for wrong in [{ (o: [Int32]) in Array(o.reversed()) }, { (o: [Int32]) in [o[0]] + o.dropLast() }] {
            var ws = SpanLineNormalizer.Workspace()
            var out: [UInt8] = []
            #expect(line.withUnsafeBytes { SpanLineNormalizer.normalize($0, into: &out, workspace: &ws) })
            #expect(out == want && !ws.orders.isEmpty)
            for i in ws.orders.indices { ws.orders[i].order = wrong(ws.orders[i].order) }
            out = []
            #expect(line.withUnsafeBytes { SpanLineNormalizer.normalize($0, into: &out, workspace: &ws) })
            #expect(out == want)
        }
    }

    @Test("every fixture line and every line of a generated file: the fast path takes it and matches the full path")
    func fixturesAndGeneratedMatch() throws {
        var files = TraceFixtures.validFiles.map { try? TraceFixtures.data($0) }.compactMap { $0 }
        let generated = TestPaths.scratch("normalizer-gen").appendingPathComponent("gen.jsonl")
        try TraceFixtures.generate(generated, ["--traces", "4", "--seed", "11"])
        files.append(try Data(contentsOf: generated))
        var taken = 0, total = 0
        for data in files {
            for line in TraceFixtures.lines(data) {
                guard let want = Self.reference(line) else { continue }
                total += 1
                if let got = Self.fast(line) {
                    taken += 1
                    #expect(got == want, "\(String(decoding: line, as: UTF8.self))")
                }
            }
        }
        #expect(total > 100)
        #expect(taken == total, "every valid fixture line takes the fast path")
    }

    @Test("shuffled keys and added whitespace (seeded): fast path and full path agree on every variant")
    func shuffledVariantsMatch() throws {
        var rng = SplitMix64(seed: 20261206)
        let lines = TraceFixtures.lines(try TraceFixtures.data("gen_small_3traces.jsonl")) + Self.taken.map { Array($0.utf8) }
        var compared = 0
        for line in lines {
            let value = try line.withUnsafeBytes { try JSONValue.parse(bytes: $0) }
            for _ in 0..<3 {
                let variant = Array(Self.scrambled(value, &rng).utf8)
                guard let want = Self.reference(variant) else { continue }
                let got = try #require(Self.fast(variant))
                #expect(got == want)
                compared += 1
            }
        }
        #expect(compared > 30)
    }

    @Test("on valid lines, the validated mode (import's, after the scan) writes what the validating mode writes")
    func validatedModeMatches() throws {
        var rng = SplitMix64(seed: 99)
        var lines = TraceFixtures.validFiles.map { try? TraceFixtures.data($0) }.compactMap { $0 }.flatMap { TraceFixtures.lines($0) }
        lines += Self.taken.map { Array($0.utf8) }
        lines += Self.declined.prefix(3).map { Array($0.utf8) }  // valid JSON the fast path declines
        for line in lines.prefix(80) {
            let value = try line.withUnsafeBytes { try JSONValue.parse(bytes: $0) }
            lines.append(Array(Self.scrambled(value, &rng).utf8))
        }
        var taken = 0
        for line in lines {
            var a: [UInt8] = [], b: [UInt8] = []
            var workspace = SpanLineNormalizer.Workspace()
            let okA = line.withUnsafeBytes { SpanLineNormalizer.normalize($0, into: &a, workspace: &workspace) }
            let okB = line.withUnsafeBytes { SpanLineNormalizer.normalize($0, into: &b, workspace: &workspace, validated: true) }
            #expect(okA == okB, "\(String(decoding: line, as: UTF8.self))")
            #expect(a == b, "\(String(decoding: line, as: UTF8.self))")
            if okA { taken += 1 }
        }
        #expect(taken > 100)
    }

    /// The predicted length, or nil when the prediction declines.
    static func predicted(_ line: [UInt8]) -> Int? {
        line.withUnsafeBytes { SpanLineNormalizer.predictedLength($0) }
    }

    @Test("a predicted output length is the length of what the full path writes, for fixtures, generated and scrambled lines")
    func predictedLengthsMatch() throws {
        var rng = SplitMix64(seed: 7_2026)
        var files = TraceFixtures.validFiles.map { try? TraceFixtures.data($0) }.compactMap { $0 }
        let generated = TestPaths.scratch("normalizer-predict").appendingPathComponent("gen.jsonl")
        try TraceFixtures.generate(generated, ["--traces", "4", "--seed", "12"])
        let generatedData = try Data(contentsOf: generated)
        files.append(generatedData)
        var lines = files.flatMap { TraceFixtures.lines($0) } + Self.taken.map { Array($0.utf8) }
        for line in lines.prefix(60) {
            let value = try line.withUnsafeBytes { try JSONValue.parse(bytes: $0) }
            lines.append(Array(Self.scrambled(value, &rng).utf8))
        }
        var predicted = 0
        for line in lines {
            guard let want = Self.reference(line) else { continue }
            if let n = Self.predicted(line) {
                predicted += 1
                #expect(n == want.count, "\(String(decoding: line, as: UTF8.self))")
            }
        }
        #expect(predicted > 100)
        // A generated file (compact, every field present) is predicted line by line.
        for line in TraceFixtures.lines(generatedData) { #expect(Self.predicted(line) != nil) }
        // Whitespace is dropped and absent optional fields are added.
        let spaced = Array(" { \"trace_id\" : \"t\",\t\"span_id\":\"s\", \"name\":\"n\",\"kind\":\"k\",\"start_time\":\"a\",\"end_time\":\"b\",\"status\":{\"code\":\"c\"},\"resource\":{\"attributes\":{ \"z\": [1, 2] ,\"a\":true}},\"scope\":{\"name\":\"x\"},\"attributes\":{\"q\":null,\"b\":false}}\r".utf8)
        #expect(Self.predicted(spaced) == Self.reference(spaced)?.count)
        #expect(Self.predicted(spaced) != nil && Self.predicted(spaced) != spaced.count)
    }

    @Test("the prediction declines what the writer writes differently: \\u and \\/ escapes, U+2028, floats, -0, NaN, escaped or non-ASCII keys")
    func predictionDeclines() {
        let base = Self.base
        for (from, to) in [
            (#""name":"n""#, #""name":"\u0041""#), (#""name":"n""#, #""name":"a\/b""#), (#""name":"n""#, "\"name\":\"a\u{2028}b\""),
            (#""a":1"#, #""a":1.5"#), (#""a":1"#, #""a":1e3"#), (#""a":1"#, #""a":-0"#), (#""a":1"#, #""a":NaN"#),
            (#""a":1"#, #""a":1234567890123456789"#), (#""a":1"#, #""\u0061":1"#), (#""a":1"#, #""é":1"#),
            (#""a":1"#, #""a\nb":1"#), (#""a":1"#, #""a\"":1"#),
        ] {
            let line = base.replacingOccurrences(of: from, with: to)
            #expect(line != base)
            #expect(Self.predicted(Array(line.utf8)) == nil, "\(line)")
        }
        // Non-ASCII text in values and the writer's own escapes are predicted.
        let kept = base.replacingOccurrences(of: #""name":"n""#, with: #""name":"émoji 😀 \"q\" \\ \n""#)
        #expect(Self.predicted(Array(kept.utf8)) == Self.reference(Array(kept.utf8))?.count)
        #expect(Self.predicted(Array(kept.utf8)) == kept.utf8.count)
    }

    /// JSON text of `v` with object keys in a random order and random whitespace between tokens.
    static func scrambled(_ v: JSONValue, _ rng: inout SplitMix64) -> String {
        let spaces = ["", " ", "\n", "\t ", "  "]
        func ws() -> String { spaces[Int(rng.next() % UInt64(spaces.count))] }
        switch v {
        case .object(let o):
            let keys = o.keys.shuffled(using: &rng)
            return "{" + ws() + keys.map { k in
                var s = ""
                JSONValue.writeString(k, to: &s)
                return s + ws() + ":" + ws() + scrambled(o[k]!, &rng) + ws()
            }.joined(separator: "," + ws()) + "}"
        case .array(let a):
            return "[" + ws() + a.map { scrambled($0, &rng) }.joined(separator: ", ") + "]"
        default:
            return v.canonicalText
        }
    }
}
