import Foundation
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelTraces

/// The byte writer and the raw-line redaction check that streaming import relies on.
@Suite("Traces: byte writer and raw-line redaction check")
struct TraceWriterBytesTests {
    static let awkward: [String] = [
        "", "plain", "quote \" and backslash \\ and slash /", "tab\there\nnew line\r\u{08}\u{0C}", "\u{01}\u{1F}\u{7F}",
        "line\u{2028}sep\u{2029}para", "\u{E2}\u{80} not a separator: \u{2027}\u{202A}", "émoji 😀 中文", "{\"json\":[1,2.5,\"x\"]}",
    ]

    @Test("the byte writer's lines read back as the same spans, keys in §2 order, for every fixture span and awkward strings")
    func bytesMatchString() throws {
        var spans: [Span] = []
        for file in TraceFixtures.validFiles {
            let store = try TraceStore(data: try TraceFixtures.data(file), name: file, skipInvalid: true)
            spans += try store.allSpans()
        }
        #expect(spans.count > 50)
        for (i, text) in Self.awkward.enumerated() {
            spans.append(
                Span(
                    traceID: "t\(i)", spanID: text, parentSpanID: text, traceState: text, name: text, kind: "SPAN_KIND_INTERNAL",
                    startTime: "2026-05-01T09:00:00.000000000Z", endTime: "2026-05-01T09:00:01.000000000Z",
                    status: SpanStatus(code: "STATUS_CODE_ERROR", message: text),
                    resourceAttributes: [text: .string(text), "n": .int(-42), "d": .double(2.5), "big": .double(1e300)],
                    scope: SpanScope(name: text, version: text),
                    attributes: [
                        "a": .array([.null, .bool(true), .bool(false), .double(3.0), .string(text)]), text: .object(["b": .string(text), "a": .int(1)]),
                        "é": .string("1"), "e": .string("2"), "Z": .string("3"),
                    ],
                    extra: ["zz.extra": .string(text), "aa.extra": .int(7)]))
        }
        let order = ["trace_id", "span_id", "parent_span_id", "trace_state", "name", "kind", "start_time", "end_time", "status",
                     "resource", "scope", "attributes"]
        for s in spans {
            var bytes: [UInt8] = []
            s.writeJSONLine(to: &bytes)
            let line = String(decoding: bytes, as: UTF8.self)
            #expect(try Span(line: line) == s, "\(line)")
            // The twelve keys first, in the spec's order (found as `"key":` at the top level, after the previous one).
            var from = line.startIndex
            for k in order {
                let r = try #require(line.range(of: "\"\(k)\":", range: from..<line.endIndex), "\(k) in \(line)")
                from = r.upperBound
            }
            #expect(!line.contains("\u{2028}") && !line.contains("\u{2029}"))
        }
        #expect(SpanWriter.data(spans) == Data(spans.map { $0.jsonLine + "\n" }.joined().utf8))
    }

    @Test("mayFindSecrets is false only where redacting the decoded span changes nothing")
    func rawLineCheck() throws {
        let redactor = try Redactor()
        func line(_ value: String) -> String {
            #"{"trace_id":"t","span_id":"s","name":"n","kind":"k","start_time":"a","end_time":"b","status":{"code":"STATUS_CODE_OK"},"resource":{"attributes":{}},"scope":{"name":"x"},"attributes":{"v":"\#(value)"}}"#
        }
        func check(_ value: String, expected: Bool) throws {
            let text = line(value)
            let may = text.utf8.withContiguousStorageIfAvailable { redactor.mayFindSecrets(inJSON: UnsafeRawBufferPointer($0)) } ?? true
            #expect(may == expected, "\(value)")
            var report = RedactionReport()
            let span = try Span(line: text)
            let redacted = redactor.redact(span, report: &report)
            // Whenever the check says "nothing", redaction indeed finds nothing.
            if !may { #expect(report.total == 0 && redacted == span, "\(value)") }
        }
        try check("order 42 shipped", expected: false)
        try check("key sk-abcdefghijklmnopqrstuvwx", expected: true)
        try check("KEY SK-ABCDEFGHIJKLMNOPQRSTUVWX", expected: true)
        try check(#"escaped \u0073k-abcdefghijklmnopqrstuvwx"#, expected: true)  // \u can spell a hint
        try check(#"postgres:\/\/u:pw@host"#, expected: true)  // \/ can spell "://"
        try check(#"a literal backslash-u: \\u0073"#, expected: false)  // an escaped backslash, then plain text
        try check("the password is hunter22", expected: true)
        let custom = try Redactor(extraPatterns: [RedactionPattern(kind: "ticket", pattern: "TICKET-[0-9]+")])
        let text = line("order 42")
        #expect(text.utf8.withContiguousStorageIfAvailable { custom.mayFindSecrets(inJSON: UnsafeRawBufferPointer($0)) } == true)
    }

    /// Every (hint, offset) in `text`, by comparing every hint at every place (the plain definition).
    static func hintsByBruteForce(_ text: [UInt8]) -> [[Int]] {
        var out: [[Int]] = []
        for i in text.indices {
            for (h, hint) in Redactor.hintBytes.enumerated() where i + hint.count <= text.count {
                if hint.indices.allSatisfy({ Redactor.lowercase[Int(text[i + $0])] == hint[$0] }) { out.append([h, i]) }
            }
        }
        return out
    }

    @Test("scanHints finds every hint at every place and containsHint says so, in any case, against a brute-force search")
    func hintTable() {
        var rng = SystemRandomNumberGenerator()
        let filler = Array("abc def, XYZ.:/_-0123 psa kb".utf8)
        func check(_ text: [UInt8]) {
            let truth = Self.hintsByBruteForce(text)
            var found: [[Int]] = []
            text.withUnsafeBufferPointer { Redactor.scanHints($0) { h, i in found.append([h, i]) } }
            #expect(found == truth, "\(String(decoding: text, as: UTF8.self))")
            #expect(text.withUnsafeBufferPointer { Redactor.containsHint($0) } == !truth.isEmpty, "\(String(decoding: text, as: UTF8.self))")
        }
        for hint in Redactor.hintBytes {
            for upper in [false, true] {
                for at in [0, 1, 7, 15, 16, 17, 40] {
                    var text = (0..<at).map { _ in filler.randomElement(using: &rng)! }
                    text += upper ? hint.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 } : hint
                    check(text)  // the hint as the last bytes
                    check(text + (0..<5).map { _ in filler.randomElement(using: &rng)! })
                }
            }
        }
        for _ in 0..<2000 {
            check((0..<Int.random(in: 0..<80, using: &rng)).map { _ in filler.randomElement(using: &rng)! })
        }
    }
}
