import Foundation
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelSupport
@testable import FlywheelTraces

@Suite("Traces: index and exploration surface")
struct TraceStoreTests {
    @Test("overview of the generated fixture matches HALO's published figures")
    func overviewSmall() throws {
        let store = try TraceStore(files: [TraceFixtures.url("gen_small_3traces.jsonl")])
        let ov = try store.overview()
        #expect(ov.totalTraces == 3)
        #expect(ov.totalSpans == 51)
        #expect(ov.errorTraceCount == 2)
        #expect(ov.toolErrorSpanCount == 2)
        #expect(ov.totalInputTokens == 10215 && ov.totalOutputTokens == 1510)
        #expect(ov.missingAgentIdentityCount == 48)
        #expect(ov.rawJSONLBytes == 194827)
        #expect(ov.sampleTraceIDs.count == 3)
        #expect(ov.serviceNames == ov.serviceNames.sorted())
        #expect(!ov.errorTaxonomy.isEmpty)
        #expect(ov.errorTaxonomy.reduce(0) { $0 + $1.errorSpanCount } == ov.otelErrorSpanCount)
    }

    @Test("overview of each SDK fixture matches HALO's published figures", arguments: TraceFixtures.sdkFiles)
    func overviewSDK(file: String) throws {
        let store = try TraceStore(files: [TraceFixtures.url(file)])
        let ov = try store.overview()
        #expect(ov.totalTraces == 4 && ov.totalSpans == 42)
        #expect(ov.errorTraceCount == 1 && ov.toolErrorSpanCount == 1)
        #expect(ov.totalInputTokens == 1647 && ov.totalOutputTokens == 518)
    }

    @Test("the spec example: 1 trace, 4 spans, 1 error trace, 1 tool error; index row facts")
    func specExample() throws {
        let store = try TraceStore(data: try TraceFixtures.data("spec_examples.jsonl"))
        let ov = try store.overview()
        #expect(ov.totalTraces == 1 && ov.totalSpans == 4 && ov.errorTraceCount == 1 && ov.toolErrorSpanCount == 1)
        #expect(ov.earliestStartTime == "2026-03-02T14:05:11.204118000Z")
        #expect(ov.latestEndTime == "2026-03-02T14:05:19.877420512Z")
        #expect(ov.errorTaxonomy == [
            ErrorTaxonomyGroup(spanName: "function.read_file", statusMessage: "Error running tool (non-fatal)",
                errorSpanCount: 1, traceCount: 1, exampleTraceIDs: ["7d3f1c9a2b4e4f6a8c0d1e2f3a4b5c6d"]),
        ])
        let row = try #require(store.indexRows().first)
        #expect(row.rootSpanName == "agent.DiligenceAnalyst")
        #expect(row.durationNanos == 8_673_302_512)
        #expect(row.errorSpanCount == 1 && row.toolErrorSpanCount == 1)
        #expect(row.modelNames == ["gpt-4.1-mini"] && row.agentNames == ["DiligenceAnalyst"])
        // The envelope keeps HALO's field order.
        let text = ov.envelopeText()
        let keys = try objectKeys(Array(text.utf8), path: ["result"])
        #expect(keys == [
            "total_traces", "total_spans", "earliest_start_time", "latest_end_time", "service_names", "model_names",
            "agent_names", "agent_ids", "error_trace_count", "missing_parent_count", "missing_agent_identity_count",
            "project_id_mismatch_count", "otel_error_span_count", "tool_error_span_count", "error_taxonomy",
            "total_input_tokens", "total_output_tokens", "raw_jsonl_bytes", "sample_trace_ids",
        ])
        #expect(ov.envelopeText(pretty: true).contains("\n  \"result\": {\n    \"total_traces\": 1,"))
        // Pretty output of spans holding doubles and nested values parses back to the same values as compact output.
        var span = try #require(try store.spans(traceID: "7d3f1c9a2b4e4f6a8c0d1e2f3a4b5c6d").first)
        span.attributes["flywheel.score"] = .double(0.25)
        span.attributes["flywheel.nested"] = ["a": [.double(1.5), .null, "x"]]
        let view = TraceView(traceID: span.traceID, spans: [span], oversized: nil)
        #expect(try JSONValue.parse(view.envelopeText(pretty: true)) == (try JSONValue.parse(view.envelopeText())))
        #expect(view.envelopeText(pretty: true).contains("\"flywheel.score\": 0.25"))
    }

    @Test("filters, counts and pagination")
    func queryAndFilters() throws {
        let store = try TraceStore(files: [TraceFixtures.url("gen_small_3traces.jsonl")])
        let all = try store.query()
        #expect(all.total == 3 && all.traces.count == 3)
        #expect(all.traces.map(\.traceID) == store.traces.map(\.traceID))
        #expect(try store.count(TraceFilters(hasErrors: true)).total == 2)
        #expect(try store.count(TraceFilters(hasErrors: false)).total == 1)
        #expect(try store.count(TraceFilters(regexPattern: "STATUS_CODE_ERROR")).total == 2)
        #expect(try store.count(TraceFilters(regexPattern: "STATUS_CODE_E[R]{2}OR")).total == 2)
        #expect(try store.count(TraceFilters(regexPattern: "no-such-text-anywhere")).total == 0)
        // Model / service / agent filters agree with the summaries.
        for t in all.traces {
            for m in t.modelNames {
                let n = all.traces.filter { $0.modelNames.contains(m) }.count
                #expect(try store.count(TraceFilters(modelNames: [m, "nope"])).total == n)
            }
        }
        let service = try #require(all.traces.first?.serviceNames.first)
        #expect(try store.count(TraceFilters(serviceNames: [service])).total == all.traces.filter { $0.serviceNames.contains(service) }.count)
        #expect(try store.count(TraceFilters(agentNames: ["nobody"])).total == 0)
        // Time range.
        let starts = all.traces.map(\.startTime).sorted()
        #expect(try store.count(TraceFilters(startTimeGte: starts[1])).total == 2)
        let ends = all.traces.map(\.endTime).sorted()
        #expect(try store.count(TraceFilters(endTimeLte: ends[0])).total == 1)
        #expect(try store.count(TraceFilters(hasErrors: true, regexPattern: "STATUS_CODE_ERROR")).total == 2)
        // Paging keeps the total.
        let p1 = try store.query(limit: 2, offset: 0), p2 = try store.query(limit: 2, offset: 2)
        #expect(p1.total == 3 && p2.total == 3)
        #expect((p1.traces + p2.traces).map(\.traceID) == all.traces.map(\.traceID))
        #expect(try store.query(offset: 10).traces.isEmpty)
        // Empty overview.
        let none = try store.overview(TraceFilters(agentNames: ["nobody"]))
        #expect(none.totalTraces == 0 && none.earliestStartTime == "" && none.sampleTraceIDs.isEmpty)
        // The summary's raw bytes add up to the overview's.
        #expect(all.traces.reduce(0) { $0 + $1.rawJSONLBytes } == 194827)
    }

    @Test("argument errors are typed")
    func errors() throws {
        let store = try TraceStore(data: try TraceFixtures.data("spec_examples.jsonl"))
        #expect(throws: TraceStoreError.outOfRange(name: "limit", value: 0, range: "1–500")) { try store.query(limit: 0) }
        #expect(throws: TraceStoreError.self) { try store.query(limit: 501) }
        #expect(throws: TraceStoreError.self) { try store.query(offset: -1) }
        #expect(throws: TraceStoreError.unknownTrace("nope")) { try store.view(traceID: "nope") }
        #expect(throws: TraceStoreError.self) { try store.viewSpans(traceID: "7d3f1c9a2b4e4f6a8c0d1e2f3a4b5c6d", spanIDs: []) }
        #expect(throws: TraceStoreError.self) { try store.count(TraceFilters(regexPattern: "(")) }
        #expect(throws: TraceStoreError.self) { try store.search(traceID: "7d3f1c9a2b4e4f6a8c0d1e2f3a4b5c6d", pattern: "x", contextBufferChars: 2001) }
        #expect(throws: TraceStoreError.self) { try store.search(traceID: "7d3f1c9a2b4e4f6a8c0d1e2f3a4b5c6d", pattern: "x", maxMatches: 0) }
        #expect(throws: TraceStoreError.unknownSpan(traceID: "7d3f1c9a2b4e4f6a8c0d1e2f3a4b5c6d", spanID: "zz")) {
            try store.searchSpan(traceID: "7d3f1c9a2b4e4f6a8c0d1e2f3a4b5c6d", spanID: "zz", pattern: "x")
        }
        #expect(throws: TraceStoreError.self) { try TraceFilters(json: ["has_errors": true, "bogus": 1]) }
        #expect(throws: TraceStoreError.self) { try TraceFilters(json: ["model_names": "gpt"]) }
        let f = try TraceFilters(json: ["has_errors": true, "model_names": ["gpt-4.1-mini"], "regex_pattern": "x"])
        #expect(f == TraceFilters(hasErrors: true, modelNames: ["gpt-4.1-mini"], regexPattern: "x"))
        let e = TraceStoreError.unknownTrace("abc")
        #expect(e.toolMessage == "An error occurred while running the tool. Please try again. Error: unknown trace_id abc")
        #expect(e.errorJSON == #"{"error":{"code":"unknown_trace","message":"unknown trace_id abc"}}"#)
    }

    @Test("view returns spans in file order with defaults; view_spans skips unknown ids")
    func view() throws {
        let store = try TraceStore(data: try TraceFixtures.data("spec_examples.jsonl"))
        let id = "7d3f1c9a2b4e4f6a8c0d1e2f3a4b5c6d"
        let v = try store.view(traceID: id)
        #expect(v.oversized == nil)
        #expect(v.spans.map(\.spanID) == ["a1b2c3d4e5f60718", "b2c3d4e5f6071829", "c3d4e5f60718293a", "d4e5f60718293a4b"])
        #expect(v.spans == (try store.spans(traceID: id)))
        #expect(v.envelopeText().hasSuffix(#""oversized":null}}"#))
        let sub = try store.viewSpans(traceID: id, spanIDs: ["d4e5f60718293a4b", "nope", "a1b2c3d4e5f60718"])
        #expect(sub.spans.map(\.spanID) == ["a1b2c3d4e5f60718", "d4e5f60718293a4b"])
        let keys = try objectKeys(Array(sub.envelopeText().utf8), path: ["result"])
        #expect(keys == ["trace_id", "spans", "oversized"])
    }

    @Test("attribute caps: 4096 for view, 16384 for view_spans, Python-style text for non-strings, flat projections dropped")
    func caps() throws {
        let b = SpanBuilder(projectID: "p", agentName: "A")
        let trace = TraceIDs.newTraceID()
        let long = String(repeating: "é/", count: 10_000)  // 20,000 code points
        let list = JSONValue.array((0..<1500).map { .int(Int64($0)) })
        var span = b.span(kind: .tool, name: "function.x", traceID: trace, start: TraceTime.format(unixNanos: 1),
            end: TraceTime.format(unixNanos: 2), attributes: ["output.value": .string(long), "flywheel.list": list, "small": 7])
        span.attributes["llm.input_messages.0.message.role"] = "user"
        span.attributes["llm.output_messages.12.message.content"] = "x"
        span.attributes["llm.input_messages"] = "[]"
        let store = try TraceStore(data: SpanWriter.data([span]))
        let v = try #require(try store.view(traceID: trace).spans.first)
        let capped = try #require(v.attributes["output.value"]?.stringValue)
        #expect(capped.unicodeScalars.count == 4096 + "... [HALO truncated: original 20000 chars]".count)
        #expect(capped.hasPrefix(String(long.prefix(4096))) && capped.hasSuffix("... [HALO truncated: original 20000 chars]"))
        let listText = (0..<1500).map(String.init).joined(separator: ", ")
        let cappedList = try #require(v.attributes["flywheel.list"]?.stringValue)
        #expect(cappedList == "[" + listText.prefix(4095) + "... [HALO truncated: original \(listText.count + 2) chars; non-string attribute serialized for truncation]")
        #expect(v.attributes["small"] == 7)
        #expect(v.attributes["llm.input_messages"] == "[]")
        #expect(v.attributes["llm.input_messages.0.message.role"] == nil)
        #expect(v.attributes["__halo_dropped_flat_projections"]?.stringValue?.hasPrefix("2 llm.input_messages.<i>.* / ") == true)
        #expect(v.attributes["__halo_dropped_flat_projections"]?.stringValue?.contains("(head-capped at ~4KB)") == true)
        let s = try #require(try store.viewSpans(traceID: trace, spanIDs: [span.spanID]).spans.first)
        #expect(s.attributes["output.value"]?.stringValue?.unicodeScalars.count == 16384 + "... [HALO truncated: original 20000 chars]".count)
        #expect(s.attributes["flywheel.list"] == list)  // 7,890 characters: under the 16 KB cap
        #expect(s.attributes["__halo_dropped_flat_projections"]?.stringValue?.contains("~16KB") == true)
    }

    @Test("search reports exact counts and code-point offsets")
    func search() throws {
        let store = try TraceStore(data: try TraceFixtures.data("spec_examples.jsonl"))
        let id = "7d3f1c9a2b4e4f6a8c0d1e2f3a4b5c6d"
        let r = try store.search(traceID: id, pattern: "arr_2026", contextBufferChars: 10, maxMatches: 2)
        #expect(r.matchCount == 3 && r.returnedMatchCount == 2 && r.hasMore)
        let all = try store.search(traceID: id, pattern: "arr_2026")
        #expect(all.matchCount == 3 && !all.hasMore && all.matches.count == 3)
        #expect(all.matches.map(\.spanIndex) == [1, 3, 3])
        let t = try #require(store.traces.first)
        for m in all.matches {
            let raw = Array(store.rawLine(t, m.spanIndex).unicodeScalars)
            #expect(scalarString(raw[m.matchStartChar..<m.matchEndChar]) == "arr_2026")
            #expect(m.matchText == "arr_2026")
            #expect(m.rawJSONLBytes == t.lengths[m.spanIndex])
            let lo = max(0, m.matchStartChar - 100), hi = min(raw.count, m.matchEndChar + 100)
            #expect(m.matchedContext == scalarString(raw[lo..<hi]))
        }
        // The LLM line has a ’ before the match: offsets count code points, not bytes or UTF-16 units.
        let llmLine = store.rawLine(t, 1)
        let byteOffset = llmLine.utf8.count - (llmLine.range(of: "arr_2026").map { llmLine[$0.lowerBound...].utf8.count } ?? 0)
        #expect(all.matches[0].matchStartChar == byteOffset - 2)
        let one = try store.searchSpan(traceID: id, spanID: "d4e5f60718293a4b", pattern: "Error", contextBufferChars: 0)
        #expect(one.spanID == "d4e5f60718293a4b" && one.matchCount == 3)  // status message, output.value, FileNotFoundError
        #expect(one.matches.allSatisfy { $0.matchedContext == "Error" })
        let keys = try objectKeys(Array(one.envelopeText().utf8), path: ["result"])
        #expect(keys == ["trace_id", "span_id", "match_count", "returned_match_count", "has_more", "matches"])
    }

    @Test("oversized views: 3 of 8 long traces, one over the budget by only 86 bytes")
    func oversized() throws {
        let url = TestPaths.scratch("over").appendingPathComponent("over.jsonl")
        try TraceFixtures.generate(url, ["--traces", "8", "--turns", "17"])
        let store = try TraceStore(files: [url])
        var over: [OversizedTraceSummary] = []
        for t in store.traces {
            let v = try store.view(traceID: t.traceID)
            if let o = v.oversized {
                #expect(v.spans.isEmpty)
                over.append(o)
            } else {
                #expect(v.spans.count == t.spanCount)
            }
        }
        #expect(over.count == 3)
        #expect(over.contains { $0.truncatedResponseBytes == 150_086 })
        for o in over {
            #expect(o.responseBytesBudget == 150_000)
            #expect(o.spanResponseBytesMin <= o.spanResponseBytesMedian && o.spanResponseBytesMedian <= o.spanResponseBytesMax)
            #expect(o.topSpanNames.count <= 10 && o.topSpanNames.first.map { $0.count >= 1 } == true)
            #expect(o.recommendation.contains("search_trace"))
        }
    }
}

@Suite("Traces: rendering")
struct TraceRenderTests {
    @Test("render writes HALO's plain-text form and respects the budget")
    func render() throws {
        let store = try TraceStore(data: try TraceFixtures.data("spec_examples.jsonl"))
        let id = "7d3f1c9a2b4e4f6a8c0d1e2f3a4b5c6d"
        let text = try store.render(traceID: id)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines[0] == "trace_id: \(id)" && lines[1] == "spans: 4")
        #expect(lines[2] == "- span_id=a1b2c3d4e5f60718 parent=∅ name=agent.DiligenceAnalyst kind=SPAN_KIND_INTERNAL status=STATUS_CODE_OK")
        #expect(lines.contains("  model=gpt-4.1-mini"))
        #expect(lines.contains("  tokens: input=412 output=58"))
        #expect(lines.filter { $0.hasPrefix("- span_id=") }.count == 4)
        let short = try store.render(traceID: id, budget: 20)
        #expect(short == String(text.prefix(20)) + "... [truncated]")
    }
}
