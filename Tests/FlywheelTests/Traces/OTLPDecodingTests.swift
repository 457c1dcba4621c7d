import Foundation
import Inflate
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelTraces

enum OTLPFixtures {
    static let dir = TestPaths.packageRoot.appendingPathComponent("Tests/FlywheelTests/Fixtures/OTLP")
    static func data(_ name: String) throws -> Data { try Data(contentsOf: dir.appendingPathComponent(name)) }
}

/// The per-trace overview row HALO's index would show for `spans`.
func overview(_ spans: [Span]) throws -> [IndexedTrace] {
    try TraceStore(data: SpanWriter.data(spans)).traces
}

@Suite("OTLP: encodings, log records, semantic conventions, range checks")
struct OTLPDecodingTests {
    @Test("gzip, zlib deflate and raw deflate expand to the same protobuf bytes; a bomb stops at the limit")
    func inflate() throws {
        let plain = try OTLPFixtures.data("genai_traces.binpb")
        #expect(try Inflater.decompress(try OTLPFixtures.data("genai_traces.binpb.gz"), format: .gzip, maxOutput: 1 << 20) == plain)
        #expect(try Inflater.decompress(try OTLPFixtures.data("genai_traces.binpb.zlib"), format: .deflate, maxOutput: 1 << 20) == plain)
        #expect(try Inflater.decompress(try OTLPFixtures.data("genai_traces.binpb.rawdeflate"), format: .deflate, maxOutput: 1 << 20) == plain)
        #expect(throws: InflateError.tooLarge(limit: plain.count - 1)) {
            try Inflater.decompress(try OTLPFixtures.data("genai_traces.binpb.gz"), format: .gzip, maxOutput: plain.count - 1)
        }
        let bomb = try OTLPFixtures.data("bomb_64MiB.gz")
        #expect(throws: OTLPPayloadError.self) { try OTLPPayload.decompress(bomb, contentEncoding: "gzip", maxBytes: 16 << 20) }
        do {
            _ = try OTLPPayload.decompress(bomb, contentEncoding: "gzip", maxBytes: 16 << 20)
        } catch {
            #expect(error.status == 413)
        }
        let truncated = try OTLPFixtures.data("genai_traces.binpb.gz").prefix(100)
        do {
            _ = try OTLPPayload.decompress(Data(truncated), contentEncoding: "gzip", maxBytes: 1 << 20)
            Issue.record("a truncated gzip body was accepted")
        } catch {
            #expect(error.status == 400)
        }
        do {
            _ = try OTLPPayload.decompress(plain, contentEncoding: "br", maxBytes: 1 << 20)
            Issue.record("brotli was accepted")
        } catch {
            #expect(error.status == 415)
        }
    }

    @Test("protobuf traces with GenAI conventions: ids, names, times, status kept; tokens, models, agents, tool errors filled")
    func genAIProtobuf() throws {
        let spans = try decodeOTLPProtobuf(try OTLPFixtures.data("genai_traces.binpb"))
        #expect(spans.count == 4)
        let root = try #require(spans.first { $0.parentSpanID.isEmpty })
        #expect(root.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(root.spanID == "00f067aa0ba902b7")
        #expect(root.startTime == "2025-12-06T00:00:00.000000000Z")
        #expect(root.endTime == "2025-12-06T00:00:04.000000000Z")
        #expect(root.status.code == "STATUS_CODE_OK")
        #expect(root.resourceAttributes["service.name"] == .string("support-bot"))
        #expect(root.attributes["inference.observation_kind"] == .string("AGENT"))
        #expect(root.attributes["inference.agent_name"] == .string("support_bot"))
        #expect(root.attributes["inference.agent_id"] == .string("agent-7"))
        let chat = try #require(spans.first { $0.spanID == "00f067aa0ba902b8" })
        #expect(chat.kind == "SPAN_KIND_CLIENT")
        #expect(chat.attributes["inference.llm.model_name"] == .string("gpt-4.1-mini-2025-04-14"))
        #expect(chat.attributes["inference.llm.input_tokens"] == .int(812))
        #expect(chat.attributes["gen_ai.usage.input_tokens"] == .int(812), "originals are kept")
        #expect(chat.attributes["gen_ai.request.temperature"] == .double(0.2))
        let tool = try #require(spans.first { $0.spanID == "00f067aa0ba902b9" })
        #expect(tool.status == .error("order A-1009 not found"))
        #expect(tool.attributes["openinference.span.kind"] == .string("TOOL"))
        #expect(tool.attributes["tool.name"] == .string("lookup_order"))
        #expect(tool.attributes["input.value"] == .string(#"{"order_id":"A-1009"}"#))

        let t = try #require(try overview(spans).first)
        #expect(t.inputTokens == 812 + 950)
        #expect(t.outputTokens == 97 + 120)
        #expect(Set(t.modelNames) == ["gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"])
        #expect(t.agentNames == ["support_bot"])
        #expect(t.toolErrorSpanCount == 1)
    }

    @Test("every encoding of the same request gives the same spans (protobuf, gzip, zlib, raw deflate)")
    func encodingsAgree() throws {
        let plain = try decodeOTLPProtobuf(try OTLPFixtures.data("genai_traces.binpb"))
        for (file, coding) in [("genai_traces.binpb.gz", "gzip"), ("genai_traces.binpb.zlib", "deflate"), ("genai_traces.binpb.rawdeflate", "deflate")] {
            let body = try OTLPPayload.decompress(try OTLPFixtures.data(file), contentEncoding: coding, maxBytes: 1 << 20)
            #expect(try OTLPPayload.decode(body, encoding: .protobuf, signal: .traces) == plain, "\(file)")
        }
        let json = try OTLPPayload.decompress(try OTLPFixtures.data("openinference_traces.json.gz"), contentEncoding: "gzip", maxBytes: 1 << 20)
        #expect(try OTLPPayload.decode(json, encoding: .json, signal: .traces) == decodeOTLPJSON(try OTLPFixtures.data("openinference_traces.json")))
        #expect(throws: OTLPDecodingError.self) { try OTLPPayload.decode(json, encoding: .json, signal: .logs) }
    }

    @Test("OpenInference attributes (llm.*, agent.name, tool.name) fill the overview")
    func openInference() throws {
        let spans = try decodeOTLPJSON(try OTLPFixtures.data("openinference_traces.json"))
        #expect(spans.count == 3)
        let llm = try #require(spans.first { $0.name == "ChatCompletion" })
        #expect(llm.attributes["inference.observation_kind"] == .string("LLM"))
        #expect(llm.attributes["inference.llm.output_tokens"] == .int(210))
        let t = try #require(try overview(spans).first)
        #expect(t.inputTokens == 1320)
        #expect(t.outputTokens == 210)
        #expect(t.modelNames == ["claude-sonnet-4-5"])
        #expect(t.agentNames == ["travel_planner"])
        #expect(t.toolErrorSpanCount == 1)
    }

    @Test("Codex log records (protobuf) become one trace: AGENT root with the prompt, LLM spans with tokens, TOOL spans with outcome")
    func codexLogs() throws {
        let spans = try decodeOTLPProtobuf(try OTLPFixtures.data("codex_logs.binpb"), logs: true)
        #expect(Set(spans.map(\.traceID)).count == 1)
        let root = try #require(spans.first { $0.parentSpanID.isEmpty })
        #expect(spans.filter { $0.parentSpanID.isEmpty }.count == 1)
        #expect(root.name == "codex.conversation")
        #expect(root.attributes["input.value"] == .string("Fix the failing test in parser_test.go"))
        #expect(root.attributes["inference.observation_kind"] == .string("AGENT"))
        #expect(root.attributes["inference.agent_name"] == .string("codex_cli_rs"))
        #expect(root.attributes["reasoning_effort"] == .string("medium"))
        #expect(spans.filter { $0.parentSpanID != root.spanID && !$0.parentSpanID.isEmpty }.isEmpty)
        #expect(!spans.contains { $0.attributes["event.kind"] == .string("response.output_text.delta") }, "streaming deltas are left out")

        let requests = spans.filter { $0.name == "codex.api_request" }
        #expect(requests.count == 2)
        let first = try #require(requests.first { $0.status.code != "STATUS_CODE_ERROR" })
        #expect(first.endTime == "2025-12-06T01:00:02.010000000Z")
        #expect(first.startTime == "2025-12-06T01:00:00.010000000Z", "duration_ms 2000 before the record time")
        #expect(requests.contains { $0.status == .error("upstream overloaded") })

        let response = try #require(spans.first { $0.name == "codex.response" })
        #expect(response.attributes["inference.observation_kind"] == .string("LLM"))
        #expect(response.attributes["inference.llm.model_name"] == .string("gpt-5-codex"))
        #expect(response.attributes["inference.llm.input_tokens"] == .int(5210))
        #expect(response.attributes["inference.llm.output_tokens"] == .int(388))
        #expect(response.attributes["inference.llm.cached_input_tokens"] == .int(4096))
        #expect(response.attributes["inference.llm.reasoning_output_tokens"] == .int(192))

        let shell = try #require(spans.first { $0.attributes["tool.name"] == .string("shell") && $0.name == "tool.shell" })
        #expect(shell.status.code == "STATUS_CODE_ERROR")
        #expect(shell.status.message.contains("FAIL: TestParse"))
        #expect(shell.attributes["input.value"] == .string(#"{"command":["go","test","./..."]}"#))
        #expect(shell.attributes["openinference.span.kind"] == .string("TOOL"))
        #expect(shell.startTime == "2025-12-06T01:00:06.300000000Z")
        let patch = try #require(spans.first { $0.name == "tool.apply_patch" })
        #expect(patch.status == .ok)

        let t = try #require(try overview(spans).first)
        #expect(t.inputTokens == 5210)
        #expect(t.outputTokens == 388)
        #expect(t.modelNames == ["gpt-5-codex"])
        #expect(t.agentNames == ["codex_cli_rs"])
        #expect(t.toolErrorSpanCount == 1)
        #expect(t.rootSpanName == "codex.conversation")
        #expect(t.missingAgentIdentityCount == 0, "the session's agent is every span's agent")
        // The same request decodes to the same ids (an exporter retry is de-duplicated).
        #expect(try decodeOTLPProtobuf(try OTLPFixtures.data("codex_logs.binpb"), logs: true) == spans)
    }

    @Test("Codex log records in OTLP/JSON land in the same conversation trace as the protobuf ones")
    func codexLogsJSON() throws {
        let spans = try decodeOTLPJSON(try OTLPFixtures.data("codex_logs.json"))
        let pb = try decodeOTLPProtobuf(try OTLPFixtures.data("codex_logs.binpb"), logs: true)
        #expect(Set(spans.map(\.traceID)) == Set(pb.map(\.traceID)), "grouped by conversation.id")
        #expect(spans.first { $0.parentSpanID.isEmpty }?.spanID == pb.first { $0.parentSpanID.isEmpty }?.spanID)
        let t = try #require(try overview(spans).first)
        #expect(t.inputTokens == 5210)
        #expect(t.toolErrorSpanCount == 1)
    }

    @Test("log records with trace ids become child spans of their span; severity ERROR is an error status")
    func logsWithTraceIDs() throws {
        let doc = #"""
            {"resourceLogs":[{"scopeLogs":[{"logRecords":[
             {"timeUnixNano":"1764979200500000000","severityNumber":17,"body":{"stringValue":"db timeout"},
              "traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7",
              "attributes":[{"key":"event.name","value":{"stringValue":"db.error"}}]}]}]}]}
            """#
        let spans = try decodeOTLPJSON(Data(doc.utf8))
        #expect(spans.count == 1)
        #expect(spans[0].traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(spans[0].parentSpanID == "00f067aa0ba902b7")
        #expect(spans[0].name == "db.error")
        #expect(spans[0].status == .error("db timeout"))
        #expect(spans[0].attributes["log.body"] == .string("db timeout"))
    }

    @Test("numbers out of range get an error naming the span and field, never a trap")
    func hostileNumbers() throws {
        let cases: [(String, String, String)] = [
            ("hostile_time_1e19.json", "spans[0].startTimeUnixNano", "out of range"),
            ("hostile_int_1e300.json", "attributes[0].value.intValue", "int64 range"),
            ("hostile_tokens_int64max.json", "attributes[\"gen_ai.usage.input_tokens\"]", "out of range"),
        ]
        for (file, field, words) in cases {
            do {
                _ = try decodeOTLPJSON(try OTLPFixtures.data(file))
                Issue.record("\(file) was accepted")
            } catch let e as OTLPDecodingError {
                #expect(e.field.hasSuffix(field), "\(file): \(e.field)")
                #expect(e.message.contains(words), "\(file): \(e.message)")
                #expect(e.message.contains("4444444444444444"), "names the span: \(e.message)")
            }
        }
        // Negative times, a time past 2262 as a string, and a 1e300 double time.
        for t in [#""-5""#, #""18446744073709551615""#, "1e300", "-1.5"] {
            let doc = #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"4444444444444444","name":"x","startTimeUnixNano":"#
                + t + #","endTimeUnixNano":"1"}]}]}]}"#
            #expect(throws: OTLPDecodingError.self, "\(t)") { try decodeOTLPJSON(Data(doc.utf8)) }
        }
        // The largest time is fine (2262).
        let max = #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"4444444444444444","name":"x","startTimeUnixNano":"9223372036854775807","endTimeUnixNano":"9223372036854775807"}]}]}]}"#
        #expect(try decodeOTLPJSON(Data(max.utf8)).first?.startTime.hasPrefix("2262-04-11") == true)
    }

    @Test("traces import reads protobuf, gzip and log payloads from files (format detected)")
    func importFiles() throws {
        #expect(TraceInputFormat.detect(try OTLPFixtures.data("genai_traces.binpb")) == .otlpProtobuf)
        #expect(TraceInputFormat.detect(try OTLPFixtures.data("genai_traces.binpb.gz")) == .otlpProtobuf)
        #expect(TraceInputFormat.detect(try OTLPFixtures.data("openinference_traces.json.gz")) == .otlpJSON)
        #expect(TraceInputFormat.detect(try OTLPFixtures.data("codex_logs.json")) == .otlpJSON)
        let gz = try TraceImporter.importData(try OTLPFixtures.data("genai_traces.binpb.gz"))
        #expect(gz.spans.count == 4)
        #expect(gz.report.errors.isEmpty)
        let logs = try TraceImporter.importData(try OTLPFixtures.data("codex_logs.binpb"))
        #expect(logs.format == .otlpProtobuf)
        #expect(logs.spans.contains { $0.name == "codex.response" })
        #expect(logs.report.errors.isEmpty, "\(logs.report.errors)")
        #expect(throws: TraceStoreError.self) { try TraceImporter.importData(try OTLPFixtures.data("hostile_time_1e19.json")) }
    }
}
