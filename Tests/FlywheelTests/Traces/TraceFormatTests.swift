import Foundation
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelSupport
@testable import FlywheelTraces
@testable import FlywheelModels

@Suite("Traces: span model, reader and writer")
struct TraceFormatTests {
    @Test("every fixture span survives read → write with identical JSON values", arguments: TraceFixtures.validFiles)
    func roundTrip(file: String) throws {
        let data = try TraceFixtures.data(file)
        var count = 0
        for line in TraceFixtures.lines(data) {
            let span = try line.withUnsafeBytes { try Span(line: $0) }
            let written = Array(span.jsonLine.utf8)
            // Compare with Foundation's parser (independent of ours) and with ours.
            let viaFoundationIn = try JSONValue.parse(Data(line))
            let viaFoundationOut = try JSONValue.parse(Data(written))
            #expect(viaFoundationIn == viaFoundationOut)
            let viaScannerIn = try line.withUnsafeBytes { try JSONValue.parse(bytes: $0) }
            let viaScannerOut = try written.withUnsafeBytes { try JSONValue.parse(bytes: $0) }
            #expect(viaScannerIn == viaScannerOut)
            // And with NSJSONSerialization, which knows nothing of JSONValue.
            let a = try JSONSerialization.jsonObject(with: Data(line)) as? NSDictionary
            let b = try JSONSerialization.jsonObject(with: Data(written)) as? NSDictionary
            #expect(a != nil && a == b)
            // Re-reading the written line gives the same span.
            #expect(try Span(line: span.jsonLine) == span)
            count += 1
        }
        #expect(count > 0)
    }

    @Test("written bytes follow the framing rules")
    func framing() throws {
        var spans: [Span] = []
        for file in TraceFixtures.validFiles {
            for line in TraceFixtures.lines(try TraceFixtures.data(file)) {
                spans.append(try line.withUnsafeBytes { try Span(line: $0) })
            }
        }
        // A span with characters that need care.
        var odd = spans[0]
        odd.name = "a/b ’ \u{2028} \u{2029} \u{01} \"q\" \\ \n\t"
        odd.attributes["flywheel.nested"] = .object(["z": 1, "a": .double(0.5), "é": .array([.null, true, 1e300])])
        spans.append(odd)
        let out = SpanWriter.data(spans)
        let bytes = [UInt8](out)
        #expect(!bytes.starts(with: [0xEF, 0xBB, 0xBF]))
        #expect(bytes.last == 0x0A)
        #expect(!bytes.contains(0x0D), "no CR anywhere (CR inside strings is escaped)")
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(!text.contains("\\/"), "slashes are never escaped")
        #expect(!text.contains("\n\n"), "no blank lines")
        #expect(text.contains("a/b ’ \\u2028 \\u2029 \\u0001 \\\"q\\\" \\\\ \\n\\t"))
        // Only the allowed \u escapes appear: control characters and U+2028/U+2029.
        let escapes = try NSRegularExpression(pattern: #"(?<!\\)(?:\\\\)*\\u([0-9a-fA-F]{4})"#)
        for m in escapes.matches(in: text, range: NSRange(location: 0, length: (text as NSString).length)) {
            let hex = (text as NSString).substring(with: m.range(at: 1))
            let v = Int(hex, radix: 16)!
            #expect(v < 0x20 || v == 0x2028 || v == 0x2029, "unexpected escape \\u\(hex)")
            #expect(hex == hex.lowercased())
        }
        let lines = TraceFixtures.lines(out)
        #expect(lines.count == spans.count)
        for line in lines {
            #expect(try topLevelKeys(line) == Span.topLevelKeys)
            #expect(try objectKeys(line, path: ["status"]) == ["code", "message"])
            #expect(try objectKeys(line, path: ["scope"]) == ["name", "version"])
            let attrKeys = try objectKeys(line, path: ["attributes"])
            #expect(attrKeys == attrKeys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
            let resKeys = try objectKeys(line, path: ["resource", "attributes"])
            #expect(resKeys == resKeys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        }
        let nestedKeys = try objectKeys(lines.last!, path: ["attributes", "flywheel.nested"])
        #expect(nestedKeys == ["a", "z", "é"])
        #expect(text.contains(#""flywheel.nested":{"a":0.5,"z":1,"é":[null,true,1e+300]}"#))
    }

    @Test("the writer reproduces the spec's example file byte for byte")
    func specExampleBytes() throws {
        let data = try TraceFixtures.data("spec_examples.jsonl")
        var spans: [Span] = []
        for line in TraceFixtures.lines(data) { spans.append(try line.withUnsafeBytes { try Span(line: $0) }) }
        #expect(SpanWriter.data(spans) == data)
    }

    @Test("extra top-level keys survive and are written after the twelve")
    func extraKeys() throws {
        let line = #"{"trace_id":"t","span_id":"s","name":"n","kind":"k","start_time":"a","end_time":"b","status":{"code":"STATUS_CODE_OK"},"resource":{"attributes":{}},"scope":{"name":"x"},"attributes":{},"events":[{"name":"e"}],"links":[]}"#
        let span = try Span(line: line)
        #expect(span.extra["events"] == .array([.object(["name": "e"])]))
        #expect(span.parentSpanID == "" && span.status.message == "" && span.scope.version == "")
        let keys = try topLevelKeys(Array(span.jsonLine.utf8))
        #expect(keys == Span.topLevelKeys + ["events", "links"])
    }

    @Test("span decoding errors name the field")
    func decodingErrors() {
        let cases: [(String, String, String)] = [
            (#"{"trace_id":null}"#, "trace_id", "wrong_type"),
            (#"{"trace_id":"t","span_id":"s","name":"n","kind":"k","start_time":"a","end_time":"b","status":{"code":"c","message":null},"resource":{"attributes":{}},"scope":{"name":"x"},"attributes":{}}"#, "status.message", "wrong_type"),
            (#"{"trace_id":"t","span_id":"s","name":"n","kind":"k","start_time":"a","end_time":"b","status":{"code":"c"},"resource":{"attributes":{},"schema_url":""},"scope":{"name":"x"},"attributes":{}}"#, "resource.schema_url", "extra_key"),
            (#"[1]"#, "<line>", "not_object"),
            (#"{"trace_id":"#, "<line>", "invalid_json"),
        ]
        for (line, field, code) in cases {
            do {
                _ = try Span(line: line)
                Issue.record("\(line) should not decode")
            } catch let e as SpanDecodingError {
                #expect(e.field == field)
                #expect(e.code == code)
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
    }

    @Test("timestamps have nine fractional digits, in UTC")
    func timestamps() {
        #expect(TraceTime.format(unixNanos: 0) == "1970-01-01T00:00:00.000000000Z")
        #expect(TraceTime.format(unixNanos: 1_772_460_311_204_118_000) == "2026-03-02T14:05:11.204118000Z")
        #expect(TraceTime.format(unixNanos: 951_782_400_000_000_001) == "2000-02-29T00:00:00.000000001Z")
        #expect(TraceTime.format(unixNanos: -1) == "1969-12-31T23:59:59.999999999Z")
        #expect(TraceTime.parse("2026-03-02T14:05:11.204118000Z") == 1_772_460_311_204_118_000)
        #expect(TraceTime.parse("2026-03-02T14:05:11.204Z") == nil)
        let now = TraceTime.now()
        #expect(TraceTime.isCanonical(now))
        #expect(now.hasSuffix("000Z"))
        for n: Int64 in [1, 999_999_999, 1_000_000_000, 4_102_444_800_123_456_789] {
            #expect(TraceTime.parse(TraceTime.format(unixNanos: n)) == n)
        }
    }

    @Test("generated ids are 32/16 lowercase hex and distinct")
    func ids() {
        var seen = Set<String>()
        for _ in 0..<200 {
            let t = TraceIDs.newTraceID(), s = TraceIDs.newSpanID()
            #expect(TraceIDs.isCanonicalTraceID(t))
            #expect(TraceIDs.isCanonicalSpanID(s))
            #expect(seen.insert(t).inserted && seen.insert(s).inserted)
        }
        #expect(!TraceIDs.isCanonicalSpanID("0000000000000000"))
        #expect(!TraceIDs.isCanonicalSpanID("e0e7879e26ed453f8027b82c"))
        #expect(!TraceIDs.isCanonicalTraceID("7D3F1C9A2B4E4F6A8C0D1E2F3A4B5C6D"))
    }

    @Test("the span builder emits AGENT/LLM/TOOL spans that validate cleanly")
    func builder() throws {
        let b = SpanBuilder(projectID: "lumora-diligence", agentName: "DiligenceAnalyst", agentID: "diligence-analyst",
            serviceName: "diligence-analyst")
        let trace = TraceIDs.newTraceID()
        let root = TraceIDs.newSpanID()
        var clock: Int64 = 1_772_460_311_204_118_000
        func tick() -> String {
            clock += 1_234_567
            return TraceTime.format(unixNanos: clock)
        }
        let t0 = tick()
        let llm = b.llmSpan(
            traceID: trace, parentSpanID: root, start: tick(), end: tick(), provider: "openai", model: "gpt-4.1-mini",
            inputMessages: [.system("Cite every figure."), .user("What is Lumora’s ARR?")],
            outputMessages: [.assistant(nil, toolCalls: [ToolCall(id: "call_1", name: "read_file", arguments: #"{"path":"a/b.csv"}"#)])],
            promptTokens: 412, completionTokens: 58, invocationParameters: ["temperature": 0.2])
        let ok = b.toolSpan(traceID: trace, parentSpanID: root, start: tick(), end: tick(), toolName: "read_file",
            arguments: #"{"path":"a/b.csv"}"#, output: "month,arr\n2026-08,46350000")
        let bad = b.toolSpan(traceID: trace, parentSpanID: root, start: tick(), end: tick(), toolName: "read_file",
            arguments: #"{"path":"missing.csv"}"#, output: "", failure: .nonFatal(detail: "no such file", errorType: "FileNotFoundError"))
        let handoff = b.handoffSpan(traceID: trace, parentSpanID: root, start: tick(), end: tick(), from: "DiligenceAnalyst", to: "Reviewer")
        let guardrail = b.guardrailSpan(traceID: trace, parentSpanID: root, start: tick(), end: tick(), name: "pii", triggered: false)
        let agent = b.agentSpan(traceID: trace, spanID: root, start: t0, end: tick(), tools: ["read_file"], outcome: "partial", stopReason: "max_turns")
        let spans = [llm, ok, bad, handoff, guardrail, agent]
        let data = SpanWriter.data(spans)
        let report = TraceValidator.validate(data: data, name: "built.jsonl")
        #expect(report.issues.isEmpty, "\(report.issues)")
        #expect(llm.kind == "SPAN_KIND_CLIENT" && ok.kind == "SPAN_KIND_INTERNAL")
        #expect(llm.attributes["inference.llm.model_name"] == "gpt-4.1-mini")
        #expect(llm.attributes["llm.token_count.total"] == 470)
        let msgs = try JSONValue.parse(llm.attributes["llm.output_messages"]!.stringValue!)
        #expect(msgs.arrayValue?.first?["tool_calls"]?.arrayValue?.first?["function"]?["arguments"] == #"{"path":"a/b.csv"}"#)
        #expect(bad.status == .error("Error running tool (non-fatal)"))
        #expect(bad.attributes["output.value"] == "An error occurred while running the tool. Please try again. Error: no such file")
        #expect(ok.attributes["openinference.span.kind"] == "TOOL")
        #expect(guardrail.attributes["openinference.span.kind"] == "GUARDRAIL")
        #expect(agent.attributes["agent.tools"] == #"["read_file"]"#)
        let store = try TraceStore(data: data)
        let ov = try store.overview()
        #expect(ov.totalSpans == 6 && ov.errorTraceCount == 1 && ov.toolErrorSpanCount == 1)
        #expect(ov.totalInputTokens == 412 && ov.modelNames == ["gpt-4.1-mini"])
        #expect(store.indexRows().first?.rootSpanName == "agent.DiligenceAnalyst")
    }

    @Test("the streaming reader yields every line with its number, without reading the file whole")
    func streaming() throws {
        let url = TestPaths.scratch("stream").appendingPathComponent("t.jsonl")
        var data = try TraceFixtures.data("spec_examples.jsonl")
        data.append(contentsOf: Array("\n{\"trace_id\":1}\n".utf8))
        try data.write(to: url)
        var seen: [(Int, Bool)] = []
        try forEachSpan(inFile: url) { line, result in
            if case .success = result { seen.append((line, true)) } else { seen.append((line, false)) }
        }
        #expect(seen.map(\.0) == [1, 2, 3, 4, 6])
        #expect(seen.map(\.1) == [true, true, true, true, false])
        // Tiny chunks exercise lines that span chunk boundaries.
        let reader = try JSONLLineReader(url: url, chunkSize: 7)
        var lines: [JSONLLine] = []
        while let l = try reader.next() { lines.append(l) }
        #expect(lines.count == 6)
        #expect(lines.map(\.bytes).joined(separator: [0x0A]).elementsEqual(data.dropLast()))
        #expect(lines[1].byteOffset == TraceFixtures.lines(data)[0].count + 1)
    }
}
