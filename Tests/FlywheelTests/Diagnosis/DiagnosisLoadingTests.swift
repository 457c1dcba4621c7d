import Foundation
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelTraces
import FlywheelSupport

/// Diagnosis reads its spans from the places of the values it needs, kept by the validating scan
/// (`TraceValidationOptions.keptAttributes`), instead of scanning every line a second time. These tests hold that
/// reading to the line reader's result, span by span and for whole diagnoses.
@Suite("Diagnosis: spans read from the scan's kept places")
struct DiagnosisLoadingTests {
    static let head = #""trace_id":"0123456789abcdef0123456789abcdef","parent_span_id":"","trace_state":"","resource":{"attributes":{"service.name":"svc"}},"scope":{"name":"s","version":""}"#
    static let times = #""start_time":"2026-01-01T00:00:00.000000000Z","end_time":"2026-01-01T00:00:01.000000000Z""#

    /// Valid lines with what the places must get right: repeated keys (the last wins, a repeated status replaces the
    /// whole earlier one, a repeated attributes object adds to it), escaped keys and values, whitespace, non-string
    /// values, large skipped values, a lazy attribute decoded only on the kinds of span that need it.
    static let lines: [String] = [
        #"{\#(head),"span_id":"00000000000000a1","name":"function.search","kind":"SPAN_KIND_INTERNAL",\#(times),"status":{"code":"STATUS_CODE_ERROR","message":"boom"},"attributes":{"openinference.span.kind":"TOOL","tool.name":"search","input.value":"{\"q\":1}","output.value":"Error: bad \"input\"","llm.input_messages":"[{\"role\":\"user\",\"content\":\"skipped\"}]","inference.llm.input_tokens":12}}"#,
        #"{\#(head),"span_id":"00000000000000a2","name":"generation.x","kind":"SPAN_KIND_CLIENT",\#(times),"status":{"code":"STATUS_CODE_ERROR","message":"first"},"status":{"code":"STATUS_CODE_OK"},"attributes":{"tool.name":"a","openinference.span.kind":"LLM","tool.name":"b","llm.output_messages":"[{\"role\":\"assistant\",\"content\":\"hi\"}]","input.value":"not read on LLM spans","agent.tools":[{"name":"t1"},"t2"],"guardrail.triggered":true,"gen_ai.response.finish_reasons":["length"]}}"#,
        #"{ \#(head) , "span_id" : "00000000000000a3" , "name" :  "na\"me\u00e9" , "kind" : "custom" , \#(times) , "status" : { "message" : "m" , "code" : "STATUS_CODE_UNSET" } , "attributes" : { "tool\u002ename" : "escaped key" , "openinference.span.kind" : "agent" , "output.value" : "done" , "agent.name" : null } , "attributes" : { "agent.outcome" : "max_turns" , "inference.llm.output_tokens" : 1.5e3 } }"#,
        #"{\#(head),"span_id":"00000000000000a4","name":"x","kind":"SPAN_KIND_INTERNAL",\#(times),"status":{"code":"STATUS_CODE_ERROR"},"attributes":{"output.value":"Error: only on error spans","error.type":"Timeout","exception.message":"took \u2028 long"},"extra_top":{"nested":[1,2,{"a":"b"}]}}"#,
    ]

    /// Every span of the store read from its kept places equals the span read from its whole line.
    static func expectSameSpans(_ data: Data, _ label: String) throws {
        let store = try TraceStore(data: data, options: DiagnosisLoading.scanOptions)
        #expect(store.traces.allSatisfy { $0.keptFields.count == $0.spanCount }, "\(label): a span without kept places")
        var compared = 0
        for t in store.traces {
            for i in 0..<t.spanCount {
                let (fromPlaces, fromLine) = try store.withLine(t, i) { line in
                    (
                        try DiagnosisLoading.span(line, kept: t.keptFields[i], traceID: t.traceID, spanID: t.spanIDs[i], parentID: t.parentIDs[i]),
                        try DiagnosisLoading.span(line, traceID: t.traceID, spanID: t.spanIDs[i], parentID: t.parentIDs[i])
                    )
                }
                #expect(fromPlaces == fromLine, "\(label): span \(t.spanIDs[i]) differs")
                compared += 1
            }
        }
        #expect(compared > 0)
        // The loader takes the places only from a store scanned for them; both loaders give the same traces.
        let viaPlaces = try DiagnosisLoading.traces(store), viaLines = try DiagnosisLoading.traces(try TraceStore(data: data))
        #expect(viaPlaces.map(\.id) == viaLines.map(\.id) && viaPlaces.map(\.spans) == viaLines.map(\.spans), "\(label)")
    }

    /// Every span's record, as the loader makes it while reading the span, equals the record worked out from the
    /// finished span (`SpanRecord(span)`: its kind, status and the kept attributes it has); and the loader's spans
    /// are the spans it would give without records.
    static func expectSameRecords(_ data: Data, _ label: String) throws {
        for store in [try TraceStore(data: data, options: DiagnosisLoading.scanOptions), try TraceStore(data: data)] {
            let (traces, records) = try DiagnosisLoading.tracesAndRecords(store)
            #expect(records.map(\.count) == traces.map(\.spans.count), "\(label)")
            var compared = 0
            for (t, trace) in traces.enumerated() {
                for (i, span) in trace.spans.enumerated() {
                    let whole = SpanRecord(span)
                    #expect(records[t][i] == whole, "\(label): span \(span.spanID): \(records[t][i]) vs \(whole)")
                    #expect(whole.kind == span.observationKindForDiagnosis && whole.isError == span.isErrorSpan)
                    for (k, key) in DiagnosisLoading.keptKeys.enumerated() {
                        #expect(whole.has(1 << UInt64(k)) == (span.attributes[key] != nil), "\(label): \(key) of \(span.spanID)")
                    }
                    compared += 1
                }
            }
            #expect(compared > 0)
        }
    }

    @Test("every kept key has its bit in a record")
    func keptKeysFitTheBits() {
        #expect(DiagnosisLoading.keptKeys.count <= 64)
        #expect(SpanRecord.index.count == DiagnosisLoading.keptKeys.count)
    }

    @Test("the records made while loading agree with the finished spans: crafted lines, fixtures, planted corpora")
    func recordsAgreeWithSpans() throws {
        try Self.expectSameRecords(Data((Self.lines.joined(separator: "\n") + "\n").utf8), "crafted")
        for name in TraceFixtures.validFiles { try Self.expectSameRecords(try TraceFixtures.data(name), name) }
        for c in PlantedCorpus.tuning + PlantedCorpus.heldOut {
            try Self.expectSameRecords(Data(c.generate().spans.map { $0.jsonLine + "\n" }.joined().utf8), "\(c.modes)")
        }
    }

    @Test("a record's bits say which attributes a span has, and its kind and status are the span's")
    func recordOfASpan() {
        let span = Span(
            traceID: String(repeating: "a", count: 32), spanID: String(repeating: "b", count: 16), name: "function.lookup", kind: "SPAN_KIND_INTERNAL",
            startTime: "2026-01-01T00:00:00Z", endTime: "2026-01-01T00:00:01Z", status: .error("boom"), scope: SpanScope(name: "s"),
            attributes: ["tool.name": "lookup", "guardrail.triggered": true, "llm.input_messages": "not kept"])
        let r = SpanRecord(span)
        #expect(r.kind == "TOOL" && r.isError)
        #expect(r.has(SpanRecord.toolName) && r.has(SpanRecord.guardrailTriggered))
        #expect(!r.has(SpanRecord.guardrailName) && !r.has(SpanRecord.inputValue) && !r.has(SpanRecord.truncation))
        #expect(r.present.nonzeroBitCount == 2)
        #expect(span.toolName(r) == "lookup" && span.inputValueText(r) == nil)
        var agent = span
        agent.attributes = ["openinference.span.kind": "agent", "gen_ai.response.finish_reasons": ["length"]]
        agent.status = .ok
        let a = SpanRecord(agent)
        #expect(a.kind == "AGENT" && !a.isError && a.has(SpanRecord.truncation) && agent.toolName(a) == nil)
    }

    @Test("crafted lines: repeated keys, escapes, whitespace, non-string and skipped values")
    func craftedLines() throws {
        let data = Data((Self.lines.joined(separator: "\n") + "\n").utf8)
        let report = try TraceStore(data: data).validation
        #expect(report.haloAccepts, "the crafted lines must be valid: \(report.issues.filter { $0.severity == .error })")
        try Self.expectSameSpans(data, "crafted")
        // The cases the places must get right, stated outright.
        let spans = try DiagnosisLoading.traces(try TraceStore(data: data, options: DiagnosisLoading.scanOptions)).flatMap(\.spans)
        #expect(spans.count == 4)
        #expect(spans[1].status == SpanStatus(code: "STATUS_CODE_OK", message: ""))
        #expect(spans[1].attributes["tool.name"] == .string("b"))
        #expect(spans[1].attributes["input.value"] == nil && spans[1].attributes["llm.output_messages"] != nil)
        #expect(spans[2].name == "na\"meé" && spans[2].attributes["tool.name"] == .string("escaped key"))
        #expect(spans[2].attributes["agent.outcome"] == .string("max_turns") && spans[2].status.message == "m")
        #expect(spans[0].attributes["llm.input_messages"] == nil && spans[0].attributes["output.value"] != nil)
        #expect(spans[3].attributes["output.value"] == .string("Error: only on error spans"))
    }

    @Test("the trace fixtures, span by span")
    func fixtures() throws {
        for name in TraceFixtures.validFiles { try Self.expectSameSpans(try TraceFixtures.data(name), name) }
    }

    @Test("whole diagnoses of planted corpora are the same read from places or from lines")
    func sameDiagnoses() throws {
        for c in PlantedCorpus.tuning + PlantedCorpus.heldOut {
            let out = c.generate()
            let data = Data(out.spans.map { $0.jsonLine + "\n" }.joined().utf8)
            let input = DiagnosisInput(spans: [])
            let viaPlaces = try Diagnoser.diagnose(store: TraceStore(data: data, options: DiagnosisLoading.scanOptions), input: input, cycle: 1)
            let viaLines = try Diagnoser.diagnose(store: TraceStore(data: data), input: input, cycle: 1)
            #expect(viaPlaces == viaLines, "\(c.modes)")
            #expect(!viaPlaces.failureModes.isEmpty)
        }
    }

    @Test("a store scanned for other attributes is read line by line")
    func otherPlacesAreNotUsed() throws {
        let data = Data((Self.lines.joined(separator: "\n") + "\n").utf8)
        let store = try TraceStore(data: data, options: DiagnosisLoading.scanOptions)
        // A store scanned for other attributes: its places are not used (the loader reads each line).
        var other = TraceValidationOptions()
        other.keptAttributes = ["tool.name"]
        let elsewhere = try TraceStore(data: data, options: other)
        #expect(elsewhere.traces.allSatisfy { $0.keptFields.count == $0.spanCount })
        let a = try DiagnosisLoading.traces(store), b = try DiagnosisLoading.traces(elsewhere)
        #expect(a.map(\.spans) == b.map(\.spans))
    }
}

/// The refusal pattern runs only on answers that may match it (`Diagnoser.mayRefuse`); the pre-check must never
/// rule out an answer the pattern matches.
@Suite("Diagnosis: the refusal pre-check")
struct RefusalPrecheckTests {
    static let answers: [String] = [
        "I'm sorry, but I can't share that.", "I’m sorry, but no.", "I am unable to do this.", "im not able to open it",
        "I cannot help with that request.", "I can't assist.", "I won't be able to finish.", "I WILL NOT BE ABLE TO go",
        "I must decline.", "As an AI language model, I do not browse.", "Unfortunately, I cannot complete the booking.",
        "UNFORTUNATELY I CAN’T GIVE advice", "ſorry: I'm ſorry, but", "Here is your itinerary: flight at 9:40, hotel booked.",
        "The tests pass; the patch is attached.", "Résumé attached — I'm sorry, but the file is large.", "",
        "Order 1234 shipped on Monday.", "I can do that for you!", "Thanks — done.",
    ]

    @Test("every answer the refusal pattern matches passes the pre-check; plain ASCII answers without its words do not")
    func precheckIsSound() {
        var matched = 0, ruledOut = 0
        for a in Self.answers + (0..<4).map(PlantedCorpus.Wording.refusal) {
            let head = Diagnoser.refusalHead(a)
            let matches = Diagnoser.refusalPattern.firstMatch(in: head, range: NSRange(head.startIndex..., in: head)) != nil
            if matches {
                matched += 1
                #expect(Diagnoser.mayRefuse(head), "\(a)")
            }
            if !Diagnoser.mayRefuse(head) { ruledOut += 1 }
        }
        #expect(matched >= 10 && ruledOut >= 4)
        #expect(!Diagnoser.mayRefuse("Here is your itinerary: flight at 9:40.") && Diagnoser.mayRefuse("Résumé ready"))
        #expect(Diagnoser.refusalHead(String(repeating: "é", count: 700)).count == 600)
    }

    @Test("the head the pattern reads is the first 600 characters, also where a byte cut would split one")
    func headIsSixHundredCharacters() {
        let a = String(repeating: "a", count: 599)
        let texts = [
            String(repeating: "x", count: 900), a + "\r\n" + String(repeating: "b", count: 50), a + "e\u{301}" + String(repeating: "c", count: 40),
            String(repeating: "ab", count: 300), String(repeating: "ab", count: 301), "short", String(repeating: "é", count: 650), a + "b",
            String(repeating: "\r\n", count: 400),
        ]
        for t in texts { #expect(Diagnoser.refusalHead(t) == String(t.prefix(600)), "\(t.utf8.count) bytes") }
    }
}
