import Foundation
import Testing

@testable import FlywheelTraces

/// The scan reads a span's name, times and service name without copying them when they have no escape (LineText):
/// the index must be what it was when each was decoded into a string — whichever way each span wrote them.
@Suite("Trace index: names, times and service names read in place or decoded give the same index")
struct LineTextIndexTests {
    /// One span line; `escape` writes the name, the times and the service name with \u escapes for their ASCII.
    static func line(span: Int, start: String, end: String, service: String, name: String, error: Bool, escape: Bool) -> String {
        func text(_ s: String) -> String {
            guard escape else { return "\"\(s)\"" }
            return "\"" + s.unicodeScalars.map { $0.isASCII ? String(format: "\\u%04x", $0.value) : String($0) }.joined() + "\""
        }
        let id = String(format: "%016x", span + 1)
        let parent = span == 0 ? "" : String(format: "%016x", 1)
        let status = error ? #"{"code":"STATUS_CODE_ERROR","message":"boom"}"# : #"{"code":"STATUS_CODE_OK","message":""}"#
        return #"{"trace_id":"0123456789abcdef0123456789abcdef","span_id":"\#(id)","parent_span_id":"\#(parent)","trace_state":"","name":\#(text(name)),"kind":"SPAN_KIND_INTERNAL","start_time":\#(text(start)),"end_time":\#(text(end)),"status":\#(status),"resource":{"attributes":{"service.name":\#(text(service))}},"scope":{"name":"s","version":"1"},"attributes":{"inference.export.schema_version":1,"inference.project_id":"p","inference.observation_kind":"SPAN","openinference.span.kind":"CHAIN","inference.agent_name":"a"}}"#
    }

    static let spans: [(start: String, end: String, service: String, name: String, error: Bool)] = [
        ("2026-05-01T09:00:02.000000000Z", "2026-05-01T09:00:03.000000000Z", "svc-b", "root", false),
        ("2026-05-01T09:00:01.500000000Z", "2026-05-01T09:00:09.000000000Z", "svc-a", "child.one", true),
        ("2026-05-01T09:00:01.000000000Z", "2026-05-01T09:00:04.000000000Z", "svc-b", "child.two", false),
        ("2026-05-01T09:00:05.000000000Z", "2026-05-01T09:00:09.500000000Z", "caf\u{E9}", "child.three", true),
        // The same service name, decomposed: equal as Swift compares strings, so not a new one.
        ("2026-05-01T09:00:06.000000000Z", "2026-05-01T09:00:07.000000000Z", "cafe\u{301}", "child.four", false),
    ]

    static func index(escaping: (Int) -> Bool) throws -> IndexedTrace {
        let text = spans.enumerated().map { i, s in
            line(span: i, start: s.start, end: s.end, service: s.service, name: s.name, error: s.error, escape: escaping(i))
        }.joined(separator: "\n") + "\n"
        let store = try TraceStore(data: Data(text.utf8))
        #expect(store.validation.errors.isEmpty)
        return try #require(store.traces.first)
    }

    @Test("plain, escaped and mixed lines give one index: first start, last end, root name, error names, services")
    func sameIndex() throws {
        let plain = try Self.index { _ in false }
        #expect(plain.startTime == "2026-05-01T09:00:01.000000000Z")
        #expect(plain.endTime == "2026-05-01T09:00:09.500000000Z")
        #expect(plain.rootSpanName == "root")
        #expect(plain.errorSignatures.map(\.spanName) == ["child.one", "child.three"])
        #expect(plain.serviceNames == ["svc-b", "svc-a", "caf\u{E9}"])
        for escaping in [{ (_: Int) in true }, { $0 % 2 == 0 }, { $0 % 2 == 1 }] {
            let other = try Self.index(escaping: escaping)
            #expect(other.startTime == plain.startTime && other.endTime == plain.endTime)
            #expect(other.rootSpanName == plain.rootSpanName)
            #expect(other.errorSignatures == plain.errorSignatures)
            #expect(other.serviceNames == plain.serviceNames)
        }
    }
}
