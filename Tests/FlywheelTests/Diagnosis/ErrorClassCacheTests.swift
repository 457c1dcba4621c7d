import Foundation
import Testing

@testable import Flywheel
import FlywheelSupport
import FlywheelTraces

/// Errors are classified once per distinct text; the key must hold everything the class is read from, or a span
/// would borrow another's exception type and join its failure mode.
@Suite struct ErrorClassCacheTests {
    static func trace(_ n: Int, exceptionType: String) -> [Span] {
        let tid = String(format: "%032x", n + 1)
        let scope = SpanScope(name: "test")
        let root = Span(
            traceID: tid, spanID: String(format: "%016x", 2 * n + 1), name: "agent.Support", kind: "SPAN_KIND_INTERNAL",
            startTime: "2026-05-01T10:00:00.000000000Z", endTime: "2026-05-01T10:00:05.000000000Z", status: .ok, scope: scope,
            attributes: ["inference.observation_kind": "AGENT"])
        let tool = Span(
            traceID: tid, spanID: String(format: "%016x", 2 * n + 2), parentSpanID: root.spanID, name: "function.fetch_order",
            kind: "SPAN_KIND_INTERNAL", startTime: "2026-05-01T10:00:01.000000000Z", endTime: "2026-05-01T10:00:02.000000000Z",
            status: .error("request failed after 3 attempts"), scope: scope,
            attributes: ["inference.observation_kind": "TOOL", "tool.name": "fetch_order", "exception.type": .string(exceptionType)])
        return [root, tool]
    }

    @Test("the same message with two exception types (exception.type) is two failure modes, each with its own traces")
    func exceptionTypeIsPartOfTheKey() {
        var spans: [Span] = []
        for n in 0..<6 { spans += Self.trace(n, exceptionType: n < 3 ? "TimeoutError" : "AuthError") }
        let d = Diagnoser.diagnose(DiagnosisInput(spans: spans), cycle: 1)
        let ids = { (range: Range<Int>) in Set(range.map { String(format: "%032x", $0 + 1) }) }
        let timeout = d.failureModes.first { $0.id.contains("timeouterror") }
        let auth = d.failureModes.first { $0.id.contains("autherror") }
        #expect(timeout.map { Set($0.traceIDs) } == ids(0..<3), "\(d.failureModes.map { "\($0.id) \($0.traceIDs.count)" })")
        #expect(auth.map { Set($0.traceIDs) } == ids(3..<6), "\(d.failureModes.map { "\($0.id) \($0.traceIDs.count)" })")
    }
}
