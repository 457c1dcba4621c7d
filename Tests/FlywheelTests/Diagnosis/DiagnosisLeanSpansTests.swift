import Foundation
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelTraces
import FlywheelSupport

/// `Diagnoser.diagnose(store:)` builds lean spans: the attributes whose every use reads the span's record instead
/// (`DiagnosisLoading.recordOnly`: the two kind attributes and the four token counts) are left out of each span. These
/// tests hold a lean span to the whole span minus exactly those, and a diagnosis of lean spans to the diagnosis of
/// the whole spans, also where a detector reads a kind the span's name does not give.
@Suite("Diagnosis: lean spans")
struct DiagnosisLeanSpansTests {
    static let head = #""trace_id":"0123456789abcdef0123456789abcdef","trace_state":"","resource":{"attributes":{"service.name":"svc"}},"scope":{"name":"s","version":""},"kind":"SPAN_KIND_INTERNAL","start_time":"2026-01-01T00:00:00.000000000Z","end_time":"2026-01-01T00:00:01.000000000Z""#

    /// Spans whose kind comes from their attributes (tool spans not named `function.*`), a tool called three times
    /// with the same arguments, a write of one of two required outputs, model spans at a stated context window
    /// (with token counts kept) and without one, token counts that are null or repeated.
    static func lines() -> [String] {
        var out: [String] = []
        func span(_ id: Int, parent: Int?, name: String, status: String = "STATUS_CODE_OK", _ attributes: String) {
            let p = parent.map { String(format: "%016x", $0) } ?? ""
            out.append(#"{\#(head),"span_id":"\#(String(format: "%016x", id))","parent_span_id":"\#(p)","name":"\#(name)","status":{"code":"\#(status)","message":""},"attributes":{\#(attributes)}}"#)
        }
        span(1, parent: nil, name: "run", #""openinference.span.kind":"AGENT","agent.tools":"[\"lookup\",\"write_artifact\"]","output.value":"done","inference.llm.input_tokens":null"#)
        for i in 0..<3 {
            span(2 + i, parent: 1, name: "call \(i)", #""inference.observation_kind":"TOOL","tool.name":"lookup","input.value":"{\"q\":\"same\"}","inference.llm.input_tokens":5,"inference.llm.output_tokens":null"#)
        }
        span(5, parent: 1, name: "save", #""openinference.span.kind":"tool","tool.name":"write_artifact","input.value":"{\"name\":\"report.md\"}""#)
        span(6, parent: 1, name: "model", #""openinference.span.kind":"LLM","llm.context_window":1000,"inference.llm.input_tokens":990,"llm.token_count.prompt":12,"llm.token_count.completion":3"#)
        span(7, parent: 1, name: "model again", #""openinference.span.kind":"LLM","inference.llm.input_tokens":1,"inference.llm.input_tokens":7,"llm.token_count.completion":2,"openinference.span.kind":"LLM""#)
        span(8, parent: 1, name: "step", status: "STATUS_CODE_ERROR", #""inference.observation_kind":"CHAIN","error.type":"Timeout","output.value":"Error: timed out after 30s","llm.token_count.prompt":4"#)
        return out
    }

    static let expectedHandoffPath = "triage→billing, billing→triage, billing→triage, triage→billing, triage→billing"

    /// A second trace: handoffs back and forth whose start times are partly not canonical (one is a date that does
    /// not exist), so the orders fall back to the texts, some of which a lean span left out.
    static func handoffLines() -> [String] {
        let starts = ["2026-01-01T00:00:05.000000000Z", "2026-01-01T00:00:01Z", "2026-02-30T00:00:00.000000000Z", "2026-01-01T00:00:03.000000000Z", "2026-01-01 00:00:02"]
        return starts.enumerated().map { i, start in
            let (from, to) = i % 2 == 0 ? ("triage", "billing") : ("billing", "triage")
            let parent = i == 0 ? "" : "00000000000000f0"
            let id = i == 0 ? "00000000000000f0" : String(format: "%016x", 0xf0 + i)
            return #"{"trace_id":"fedcba9876543210fedcba9876543210","trace_state":"","resource":{"attributes":{}},"scope":{"name":"s","version":""},"kind":"SPAN_KIND_INTERNAL","start_time":"\#(start)","end_time":"\#(starts[4 - i])","span_id":"\#(id)","parent_span_id":"\#(parent)","name":"handoff","status":{"code":"STATUS_CODE_OK","message":""},"attributes":{"agent.handoff.from":"\#(from)","agent.handoff.to":"\#(to)","openinference.span.kind":"\#(i == 0 ? "AGENT" : "CHAIN")","output.value":"ok"}}"#
        }
    }

    static func data(_ lines: [String]) -> Data { Data((lines.joined(separator: "\n") + "\n").utf8) }

    /// Every span loaded lean is the span loaded whole less the record-only attributes (the token counts kept where
    /// the span states its context window), with the same record.
    static func expectLeanIsWholeLess(_ data: Data, _ label: String) throws {
        for store in [try TraceStore(data: data, options: DiagnosisLoading.scanOptions), try TraceStore(data: data)] {
            let whole = try DiagnosisLoading.tracesAndRecords(store), lean = try DiagnosisLoading.tracesAndRecords(store, lean: true)
            #expect(whole.records == lean.records, "\(label)")
            #expect(whole.traces.map(\.id) == lean.traces.map(\.id), "\(label)")
            var compared = 0
            for (t, trace) in whole.traces.enumerated() {
                for (i, span) in trace.spans.enumerated() {
                    var expected = span
                    DiagnosisLoading.makeLean(&expected, whole.records[t][i])
                    // A time text left out is given back exactly by the record.
                    #expect(lean.records[t][i].startText(lean.traces[t].spans[i]) == span.startTime, "\(label): \(span.startTime)")
                    #expect(lean.records[t][i].endText(lean.traces[t].spans[i]) == span.endTime, "\(label): \(span.endTime)")
                    #expect(lean.traces[t].spans[i] == expected, "\(label): span \(span.spanID)")
                    let dropped = Set(span.attributes.keys).subtracting(lean.traces[t].spans[i].attributes.keys)
                    #expect(dropped.isSubset(of: DiagnosisLoading.recordOnly), "\(label): \(dropped)")
                    if whole.records[t][i].has(SpanRecord.contextWindow) {
                        for key in DiagnosisLoading.tokenKeys { #expect(lean.traces[t].spans[i].attributes[key] == span.attributes[key], "\(label): \(key)") }
                    }
                    compared += 1
                }
            }
            #expect(compared > 0)
        }
    }

    @Test("a lean span is the whole span less what its record holds: crafted lines, fixtures, planted corpora")
    func leanIsWholeLessRecordOnly() throws {
        try Self.expectLeanIsWholeLess(Self.data(Self.lines()), "crafted")
        try Self.expectLeanIsWholeLess(Self.data(Self.handoffLines()), "handoffs")
        try Self.expectLeanIsWholeLess(Self.data(DiagnosisLoadingTests.lines), "crafted (loading)")
        for name in TraceFixtures.validFiles { try Self.expectLeanIsWholeLess(try TraceFixtures.data(name), name) }
        for c in PlantedCorpus.tuning + PlantedCorpus.heldOut.prefix(2) {
            try Self.expectLeanIsWholeLess(Data(c.generate().spans.map { $0.jsonLine + "\n" }.joined().utf8), "\(c.modes)")
        }
        // Stated outright: a lean span keeps none of the kinds; the counts only where the context window is stated.
        let lean = try DiagnosisLoading.tracesAndRecords(try TraceStore(data: Self.data(Self.lines()), options: DiagnosisLoading.scanOptions), lean: true)
        let spans = lean.traces.flatMap(\.spans), records = lean.records.flatMap { $0 }
        #expect(spans.allSatisfy { $0.attributes["openinference.span.kind"] == nil && $0.attributes["inference.observation_kind"] == nil })
        #expect(spans.allSatisfy { $0.startTime.isEmpty && $0.endTime.isEmpty } && records.allSatisfy { $0.startOrdered && $0.endOrdered })
        #expect(records.map(\.kind) == ["AGENT", "TOOL", "TOOL", "TOOL", "TOOL", "LLM", "LLM", "CHAIN"])
        #expect(spans[5].attributes["inference.llm.input_tokens"] == .int(990) && spans[5].attributes["llm.token_count.prompt"] == .int(12))
        #expect(spans[6].attributes["inference.llm.input_tokens"] == nil && records[6].inputTokens == 7 && records[6].outputTokens == 2)
        #expect(records[7].inputTokens == 4 && records[7].outputTokens == nil)
    }

    @Test("a diagnosis of lean spans is the diagnosis of the whole spans, where kinds come from attributes too")
    func leanDiagnosisIsWholeDiagnosis() throws {
        let data = Self.data(Self.lines() + Self.handoffLines())
        let spans = try (Self.lines() + Self.handoffLines()).map { try Span(line: $0) }
        for required in [[], ["report.md", "summary.md"]] {
            let whole = Diagnoser.diagnose(DiagnosisInput(spans: spans, requiredArtifacts: required), cycle: 1)
            for store in [try TraceStore(data: data, options: DiagnosisLoading.scanOptions), try TraceStore(data: data)] {
                #expect(try Diagnoser.diagnose(store: store, input: DiagnosisInput(spans: [], requiredArtifacts: required), cycle: 1) == whole, "\(required)")
            }
            let categories = Set(whole.failureModes.map(\.category))
            #expect(categories.isSuperset(of: ["loop", "context-overflow", "handoff-loop"]), "\(categories)")
            // The handoffs in the order of their start texts: "2026-01-01 00:00:02" (a space sorts before "T"),
            // 00:00:01Z, 00:00:03…, 00:00:05…, and the day that does not exist last.
            let path = whole.failureModes.first { $0.category == "handoff-loop" }?.evidence.first?.quote ?? ""
            #expect(path == Self.expectedHandoffPath, "\(path)")
            #expect(categories.contains("artifact-missing") == !required.isEmpty, "\(categories)")
            // The loop names the tool the kind attribute makes a tool (its span is named "call 0").
            #expect(whole.failureModes.first { $0.category == "loop" }?.evidence.first?.note.hasPrefix("lookup called 3×") == true)
        }
    }
}
