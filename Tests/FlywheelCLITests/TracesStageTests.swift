import Flywheel
import Foundation
import Testing
import TestSupport

@Suite("Traces: TraceStage library")
struct TracesStageTests {
    func span(_ trace: String, _ id: String, name: String = "step") -> Span {
        Span(
            traceID: trace, spanID: id, name: name, kind: "SPAN_KIND_INTERNAL",
            startTime: "2026-05-01T09:00:00.000000000Z", endTime: "2026-05-01T09:00:01.000000000Z",
            status: SpanStatus(code: "STATUS_CODE_OK"), resourceAttributes: ["service.name": .string("s")],
            scope: SpanScope(name: "t"))
    }

    @Test("prepare: mixed HALO and OTLP files in the order given; a trace split across HALO files is an error")
    func prepare() throws {
        let dir = TestPaths.scratch("stage-prepare")
        let a = dir.appendingPathComponent("a.jsonl"), b = dir.appendingPathComponent("b.jsonl")
        let t1 = "11111111111111111111111111111111", t2 = "22222222222222222222222222222222"
        try SpanWriter.data([span(t1, "1111111111111111"), span(t1, "1111111111111112")]).write(to: a)
        try SpanWriter.data([span(t2, "2222222222222221")]).write(to: b)
        let otlp = URL(fileURLWithPath: TraceFixtures.otlp)
        let p = try TraceStage.prepare(files: [a, otlp, b], redactor: try TraceStage.redactor(config: nil))
        let otlpSpans = try decodeOTLPJSON(Data(contentsOf: otlp))
        #expect(p.spans.count == 3 + otlpSpans.count)
        #expect(p.report.files.map(\.format) == [.halo, .otlpJSON, .halo])
        #expect(p.traceIDs.first == t1 && p.traceIDs.last == t2)
        #expect(p.data == SpanWriter.data(p.spans))
        #expect(p.report.redactions["api_key"] == 1)

        try SpanWriter.data([span(t1, "1111111111111113")]).write(to: b)
        #expect {
            try TraceStage.prepare(files: [a, b], redactor: nil)
        } throws: { error in
            guard case TraceStageError.invalidInput(let issues) = error else { return false }
            return issues.contains { $0.code == "duplicate_trace_across_files" }
        }
        #expect(throws: TraceStageError.noInput) { try TraceStage.prepare(files: [], redactor: nil) }
    }

    @Test("commit: refuses a trace already in the cycle; the receiver's policy appends to it and skips known spans")
    func commitPolicies() throws {
        let history = try openCycleHistory("stage-commit")
        let t = "33333333333333333333333333333333"
        let first = try TraceStage.prepare(spans: [span(t, "3333333333333331")], label: "a", redactor: nil)
        let r1 = try TraceStage.commit(first, to: history)
        #expect(r1.cycle == 1 && r1.spansAdded == 1 && r1.commit != nil)
        let more = try TraceStage.prepare(
            spans: [span(t, "3333333333333331"), span(t, "3333333333333332")], label: "b", redactor: nil)
        #expect(throws: TraceStageError.traceAlreadyInCycle(cycle: 1, traceIDs: [t])) {
            try TraceStage.commit(more, to: history)
        }
        let r2 = try TraceStage.commit(more, to: history, policy: .appendSkippingDuplicateSpans)
        #expect(r2.spansAdded == 1 && r2.spansSkipped == 1 && r2.totalSpans == 2 && r2.totalTraces == 1)
        let r3 = try TraceStage.commit(more, to: history, policy: .appendSkippingDuplicateSpans)
        #expect(r3.commit == nil && r3.spansAdded == 0)
        let data = try #require(try TraceStage.tracesData(cycle: 1, history: history))
        #expect(data == SpanWriter.data([span(t, "3333333333333331"), span(t, "3333333333333332")]))
        #expect(try history.log().filter { $0.stage == "traces" }.count == 2)
    }
}
