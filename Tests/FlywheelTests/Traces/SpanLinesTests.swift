import FlywheelSupport
import FlywheelTraces
import Foundation
import Testing

/// The site's reader of a stored traces.jsonl: each line read as a span on its own, what is not a span named.
@Suite("Span lines")
struct SpanLinesTests {
    static func line(_ trace: String, _ span: String, drop: String? = nil, serviceName: String = "support-bot") -> String {
        var o: [String: JSONValue] = [
            "trace_id": .string(trace), "span_id": .string(span), "parent_span_id": "", "trace_state": "", "name": "answer",
            "kind": "SPAN_KIND_INTERNAL", "start_time": "2026-05-29T10:00:00.000000000Z", "end_time": "2026-05-29T10:00:01.000000000Z",
            "status": .object(["code": "STATUS_CODE_OK", "message": ""]),
            "resource": .object(["attributes": .object(["service.name": .string(serviceName)])]),
            "scope": .object(["name": "bot", "version": ""]), "attributes": .object([:]),
        ]
        if let drop { o[drop] = nil }
        return JSONValue.object(o).canonicalText
    }

    @Test("spans in file order grouped by trace; blank lines passed over; CRLF read; a line that is not a span named by its number and field")
    func readsAndNames() {
        let text = [
            Self.line("t1", "a"), "", Self.line("t2", "b") + "\r", "   ", "{broken", Self.line("t1", "c"),
            Self.line("t3", "d", drop: "start_time"), "[1, 2]",
            // HALO would reject this line (a line separator in an indexed field); as a span it reads, and is shown.
            Self.line("t2", "e", serviceName: "bot\u{2028}x"),
        ].joined(separator: "\n") + "\n"
        let lines = SpanLines(Data(text.utf8))
        #expect(lines.spans.map(\.spanID) == ["a", "b", "c", "e"])
        #expect(lines.byTrace.map(\.traceID) == ["t1", "t2"])
        #expect(lines.byTrace.map { $0.spans.map(\.spanID) } == [["a", "c"], ["b", "e"]])
        #expect(lines.skipped.map(\.line) == [5, 7, 8])
        #expect(lines.skipped.map(\.field) == ["<line>", "start_time", "<line>"])
        #expect(lines.skipped[1].description == "line 7: start_time: required field is missing")
        #expect(SpanLines(Data()).spans.isEmpty && SpanLines(Data()).skipped.isEmpty)
    }
}
