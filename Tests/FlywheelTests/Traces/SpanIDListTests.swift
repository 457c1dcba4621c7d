import Foundation
import Testing

@testable import FlywheelTraces

/// The index keeps span and parent ids as bytes (SpanIDList): ids are the ids their JSON strings decode to, and two
/// ids are one when their bytes are (as HALO's Python compares them), however each line spelled them.
@Suite("Trace index: span ids kept as bytes")
struct SpanIDListTests {
    @Test("a list reads back what was appended, joins in order, and equals the list built from the same strings")
    func list() {
        var a = SpanIDList()
        for id in ["b2c3d4e5f6071829", "", "caf\u{E9}", "x"] { a.append(id) }
        #expect(Array(a) == ["b2c3d4e5f6071829", "", "caf\u{E9}", "x"])
        #expect(a.isEmpty(at: 1) && !a.isEmpty(at: 0))
        var b: SpanIDList = ["y", ""]
        b += a
        #expect(Array(b) == ["y", "", "b2c3d4e5f6071829", "", "caf\u{E9}", "x"])
        #expect(b == SpanIDList(["y", "", "b2c3d4e5f6071829", "", "caf\u{E9}", "x"]))
        #expect(b != SpanIDList(["y", "", "b2c3d4e5f6071829", "", "cafe\u{301}", "x"]))
        #expect(b.firstIndex(of: "caf\u{E9}") == 4)
    }

    /// A span line of trace `t` with `span` and `parent` written as given (JSON string bodies).
    static func line(_ span: String, parent: String) -> String {
        #"{"trace_id":"0123456789abcdef0123456789abcdef","span_id":"\#(span)","parent_span_id":"\#(parent)","trace_state":"","name":"n","kind":"SPAN_KIND_INTERNAL","start_time":"2026-05-01T09:00:00.000000000Z","end_time":"2026-05-01T09:00:01.000000000Z","status":{"code":"STATUS_CODE_OK","message":""},"resource":{"attributes":{"service.name":"s"}},"scope":{"name":"s","version":"1"},"attributes":{"inference.export.schema_version":1,"inference.project_id":"p","inference.observation_kind":"SPAN","openinference.span.kind":"CHAIN","inference.agent_name":"a"}}"#
    }

    @Test("escaped ids are the ids they decode to: a duplicate and a parent found either way; a different spelling of é is another id")
    func escapedIDs() throws {
        let text = [
            Self.line("00000000000000a1", parent: ""),
            // The same id as the first, with \u escapes: a duplicate.
            Self.line(#"\u0030\u0030000000000000a1"#, parent: ""),
            // Its parent, escaped, is the first span.
            Self.line("00000000000000a2", parent: #"00000000000000\u00611"#),
            // Precomposed é as a span id; its child names it decomposed: not the same bytes, so a missing parent.
            Self.line("caf\u{E9}", parent: "00000000000000a1"),
            Self.line("00000000000000a3", parent: "cafe\u{301}"),
        ].joined(separator: "\n") + "\n"
        for workers in [1, 2, 3] {
            let found = Data(text.utf8).withUnsafeBytes { FileScan.run($0, name: "t.jsonl", source: 0, options: .init(), workers: workers) }
            let t = try #require(found.traces.first)
            #expect(Array(t.spanIDs) == ["00000000000000a1", "00000000000000a1", "00000000000000a2", "caf\u{E9}", "00000000000000a3"])
            #expect(Array(t.parentIDs) == ["", "", "00000000000000a1", "00000000000000a1", "cafe\u{301}"])
            let duplicates = found.problems.filter { $0.code == "duplicate_span_id" }
            #expect(duplicates.map(\.line) == [2], "\(workers) slices")
            #expect(duplicates.first?.message.contains("00000000000000a1 already used at line 1") == true)
            let missing = found.problems.filter { $0.code == "missing_parent" }
            #expect(missing.map(\.line) == [5], "\(workers) slices")
            #expect(t.missingParentCount == 1)
        }
    }
}
