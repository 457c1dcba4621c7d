import Foundation
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelTraces
import FlywheelSupport

/// The scan keeps the places of what diagnosis reads in one flat array per trace (`IndexedTrace.keptPlaces`, cut per
/// span by `keptEnds`), and the loader leaves out the output messages of model spans that diagnosis does not read
/// (`DiagnosisLoading.mayHoldFinishReason`, `decodeLastAnswers`). These tests hold both to what they replace.
@Suite("Diagnosis: flat kept places and output messages read only where needed")
struct DiagnosisLazyLoadingTests {
    /// Each span's places, cut from the flat array, are in its line and hold its values: the last place of each field
    /// is the value the loader's whole-line reader gives (`DiagnosisLoading.span(_:)`; lazy attributes: where it
    /// decodes them).
    static func expectPlacesHoldValues(_ data: Data, _ label: String) throws {
        let store = try TraceStore(data: data, options: DiagnosisLoading.scanOptions)
        var checked = 0
        for t in store.traces {
            #expect(t.keptEnds.count == t.spanCount && t.keptEnds.last == t.keptPlaces.count, "\(label)")
            #expect(zip(t.keptEnds, t.keptEnds.dropFirst()).allSatisfy { $0 <= $1 }, "\(label): ends out of order")
            for i in 0..<t.spanCount {
                try store.withLine(t, i) { line in
                    let whole = try DiagnosisLoading.span(line)
                    var last: [Int16: KeptField] = [:]
                    for f in t.keptPlaces[t.keptRange(i)] {
                        #expect(f.from >= 0 && f.from <= f.to && Int(f.to) <= line.count, "\(label): place outside the line")
                        last[f.field] = f
                    }
                    func value(_ f: KeptField) throws -> JSONValue {
                        var sc = JSONScanner(UnsafeRawBufferPointer(rebasing: line[Int(f.from)..<Int(f.to)]))
                        return try sc.parseValue()
                    }
                    if let f = last[KeptField.name] { #expect(try value(f).stringValue == whole.name, "\(label)") }
                    if let f = last[KeptField.startTime] { #expect(try value(f).stringValue == whole.startTime, "\(label)") }
                    if let f = last[KeptField.endTime] { #expect(try value(f).stringValue == whole.endTime, "\(label)") }
                    for (field, f) in last where field >= 0 {
                        let key = DiagnosisLoading.keptKeys[Int(field)]
                        if DiagnosisLoading.lazy.contains(key), whole.attributes[key] == nil { continue }
                        #expect(try value(f) == whole.attributes[key], "\(label): \(key) of \(whole.spanID)")
                        checked += 1
                    }
                    // Every kept attribute the span has has a place.
                    for key in DiagnosisLoading.keptKeys where whole.attributes[key] != nil {
                        #expect(last[Int16(DiagnosisLoading.keptKeys.firstIndex(of: key)!)] != nil, "\(label): \(key) of \(whole.spanID) has no place")
                    }
                }
            }
        }
        #expect(checked > 0, "\(label)")
    }

    @Test("a span's places in the flat array hold its values: crafted lines, fixtures, planted corpora")
    func flatPlaces() throws {
        try Self.expectPlacesHoldValues(Data((DiagnosisLoadingTests.lines.joined(separator: "\n") + "\n").utf8), "crafted")
        for name in TraceFixtures.validFiles { try Self.expectPlacesHoldValues(try TraceFixtures.data(name), name) }
        for c in PlantedCorpus.tuning.prefix(3) {
            try Self.expectPlacesHoldValues(Data(c.generate().spans.map { $0.jsonLine + "\n" }.joined().utf8), "\(c.modes)")
        }
    }

    @Test("setting keptFields sets the flat places and ends; reading them gives them back")
    func keptFieldsRoundTrip() {
        var t = IndexedTrace(traceID: "t", source: 0, firstLine: 1)
        let a = KeptField(field: 1, from: 2, to: 3), b = KeptField(field: -1, from: 5, to: 9), c = KeptField(field: 4, from: 0, to: 1)
        t.keptFields = [[a, b], [], [c]]
        #expect(t.keptPlaces == [a, b, c] && t.keptEnds == [2, 2, 3])
        #expect(t.keptFields == [[a, b], [], [c]])
        #expect(t.keptRange(1).isEmpty && t.keptRange(2) == 2..<3)
        var u = IndexedTrace(traceID: "u", source: 0, firstLine: 1)
        u.keptFields = [[c]]
        t.merge(u)
        #expect(t.keptFields == [[a, b], [], [c], [c]])
        t.keptFields = []
        #expect(t.keptPlaces.isEmpty && t.keptEnds.isEmpty)
    }

    /// `text` as a JSON string literal, written plainly, with every character as a `\u` escape, or with `/` and
    /// the letters of `finish_reason` escaped where JSON allows.
    static func encodings(_ text: String) -> [String] {
        let plain = JSONValue.string(text).canonicalText
        let all = "\"" + text.utf16.map { String(format: "\\u%04x", $0) }.joined() + "\""
        let someEscaped = plain.replacingOccurrences(of: "/", with: "\\/").replacingOccurrences(of: "_", with: "\\u005f")
        return [plain, all, someEscaped]
    }

    @Test("the output-messages pre-check never rules out a text that holds finish_reason")
    func finishReasonPrecheckIsSound() {
        let texts = [
            #"[{"role":"assistant","content":"hi","finish_reason":"length"}]"#, #"[{"finish_reason": "length"}]"#, "finish_reason",
            #"[{"role":"assistant","content":"a\\b \"quoted\" finish reason"}]"#, #"[{"role":"assistant","content":"plain"}]"#,
            "é finish_reason ü", "\\finish_reason", "finish_reasons", "", "_", "inish_reason", #"{"a":"\\\"finish_reason\\\""}"#,
        ]
        var ruledOut = 0
        for text in texts {
            for raw in Self.encodings(text) {
                let may = Array(raw.utf8).withUnsafeBytes { DiagnosisLoading.mayHoldFinishReason($0) }
                if text.contains("finish_reason") { #expect(may, "\(raw)") }
                if !may { ruledOut += 1 }
            }
        }
        // Plain texts without the word are ruled out (that is what saves decoding them).
        #expect(ruledOut >= 4)
        #expect(!Array(#""[{\"role\":\"assistant\",\"content\":\"hi\"}]""#.utf8).withUnsafeBytes { DiagnosisLoading.mayHoldFinishReason($0) })
    }

    static let traceID = "0123456789abcdef0123456789abcdef"

    static func span(_ id: String, parent: String = "", name: String, start: Int, end: Int, attributes: [String: JSONValue]) -> Span {
        func time(_ s: Int) -> String { String(format: "2026-01-01T00:00:%02d.000000000Z", s) }
        return Span(
            traceID: traceID, spanID: id, parentSpanID: parent, name: name, kind: "SPAN_KIND_INTERNAL", startTime: time(start), endTime: time(end),
            status: .ok, resourceAttributes: ["service.name": "svc"], scope: SpanScope(name: "s"), attributes: attributes)
    }

    static func messages(_ m: [[String: JSONValue]]) -> JSONValue { .string(JSONValue.array(m.map { .object($0) }).canonicalText) }

    /// A support bot's trace: its agent span has no output, so its answer is the last assistant message of its model
    /// spans; the last model span's messages are not JSON and the one before holds no assistant message, so the answer
    /// is the third from last (a refusal). An early model span stopped for length (said only in its messages).
    static let lazyTrace: [Span] = [
        span("00000000000000a0", name: "agent.Support", start: 0, end: 30, attributes: ["openinference.span.kind": "AGENT", "agent.tools": #"["lookup_order"]"#]),
        span("00000000000000a1", parent: "00000000000000a0", name: "generation.m", start: 1, end: 2, attributes: [
            "openinference.span.kind": "LLM", "llm.output_messages": messages([["role": "assistant", "content": "Let me look that up."]]),
        ]),
        span("00000000000000a2", parent: "00000000000000a0", name: "generation.m", start: 3, end: 4, attributes: [
            "openinference.span.kind": "LLM",
            "llm.output_messages": messages([["role": "assistant", "content": "partial", "finish_reason": "length"]]),
        ]),
        span("00000000000000a3", parent: "00000000000000a0", name: "generation.m", start: 5, end: 8, attributes: [
            "openinference.span.kind": "LLM", "llm.output_messages": messages([["role": "assistant", "content": "I'm sorry, but I can't help with that."]]),
        ]),
        span("00000000000000a4", parent: "00000000000000a0", name: "generation.m", start: 9, end: 10, attributes: [
            "openinference.span.kind": "LLM", "llm.output_messages": messages([["role": "user", "content": "anything else?"]]),
        ]),
        span("00000000000000a5", parent: "00000000000000a0", name: "generation.m", start: 11, end: 12, attributes: [
            "openinference.span.kind": "LLM", "llm.output_messages": "not json",
        ]),
    ]

    @Test("output messages left out where not read: the same diagnosis as from whole spans, from places and from lines")
    func lazyOutputMessages() throws {
        let data = Data(Self.lazyTrace.map { $0.jsonLine + "\n" }.joined().utf8)
        let whole = Diagnoser.diagnose(spans: try data.split(separator: UInt8(ascii: "\n")).map { try Span(line: String(decoding: $0, as: UTF8.self)) })
        for store in [try TraceStore(data: data, options: DiagnosisLoading.scanOptions), try TraceStore(data: data)] {
            let viaStore = try Diagnoser.diagnose(store: store, input: DiagnosisInput(spans: []), cycle: 0)
            #expect(viaStore == whole)
            let (traces, records) = try DiagnosisLoading.tracesAndRecords(store)
            let spans = traces[0].spans
            // Read back to the answer (a3), and the messages that say "length" (a2); the first (a1) is left out.
            #expect(spans[1].attributes["llm.output_messages"] == nil && !records[0][1].has(SpanRecord.outputMessages))
            for i in 2...5 { #expect(spans[i].attributes["llm.output_messages"] == Self.lazyTrace[i].attributes["llm.output_messages"], "span \(i)") }
            for (i, s) in spans.enumerated() { #expect(records[0][i] == SpanRecord(s), "record \(i)") }
        }
        // Left to the process's exit instead of freed (the `diagnose --traces` command): the same diagnosis.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("lazy-\(UUID().uuidString).jsonl")
        try data.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(try Diagnoser.diagnose(traces: file, processExits: true) == whole)
        #expect(try Diagnoser.diagnose(traces: file) == whole)
        // Not vacuous: the refusal is the third model span from last, and the truncation is found in the messages.
        #expect(whole.failureModes.contains { $0.id == "fm-refusals" && $0.spanIDs == ["00000000000000a3"] })
        #expect(whole.failureModes.contains { $0.id == "fm-context-overflow" && $0.spanIDs == ["00000000000000a2"] })
    }
}
