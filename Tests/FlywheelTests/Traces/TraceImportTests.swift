import Foundation
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelSupport
@testable import FlywheelTraces

@Suite("Traces: import and redaction")
struct TraceImportTests {
    @Test("OTLP/JSON import maps a realistic request to HALO spans")
    func otlpSample() throws {
        let data = try TraceFixtures.data("otlp_sample.json")
        #expect(TraceInputFormat.detect(data) == .otlpJSON)
        let spans = try decodeOTLPJSON(data)
        #expect(spans.count == 3)
        let llm = spans[0], tool = spans[1], root = spans[2]
        #expect(llm.traceID == "5b8efff798038103d269b633813fc60c")
        #expect(llm.spanID == "eee19b7ec3c1b174" && llm.parentSpanID == "eee19b7ec3c1b173")
        #expect(root.parentSpanID == "")
        #expect(llm.kind == "SPAN_KIND_CLIENT" && tool.kind == "SPAN_KIND_INTERNAL" && root.kind == "SPAN_KIND_INTERNAL")
        #expect(llm.startTime == "2026-03-02T14:05:11.204118000Z")
        #expect(root.endTime == "2026-03-02T14:05:19.877420512Z")
        #expect(llm.status.code == "STATUS_CODE_OK" && root.status.code == "STATUS_CODE_UNSET")
        #expect(tool.status == .error("Error running tool (non-fatal)"))
        #expect(llm.scope == SpanScope(name: "openinference.instrumentation.openai", version: "0.1.18"))
        #expect(llm.resourceAttributes["service.name"] == "checkout-agent")
        #expect(llm.resourceAttributes["host.cpu_count"] == 8)
        #expect(llm.attributes["llm.token_count.prompt"] == 412)
        #expect(llm.attributes["llm.token_count.completion"] == 58)
        #expect(llm.attributes["llm.temperature"] == .double(0.2))
        #expect(llm.attributes["llm.stream"] == false)
        #expect(llm.attributes["llm.stop"] == ["\n\n", "END"])
        #expect(llm.attributes["llm.request"] == ["path": "/v1/chat/completions", "retries": 0])
        #expect(root.attributes["empty"] == .null)
        let events = try JSONValue.parse(try #require(tool.attributes["flywheel.otlp.events"]?.stringValue))
        #expect(events.arrayValue?.first?["name"] == "exception")
        #expect(events.arrayValue?.first?["attributes"]?["exception.type"] == "FileNotFoundError")
        #expect(events.arrayValue?.first?["time"] == "2026-03-02T14:05:18.990000000Z")
        let links = try JSONValue.parse(try #require(root.attributes["flywheel.otlp.links"]?.stringValue))
        #expect(links.arrayValue?.first?["span_id"] == "b7ad6b7169203331")
        // Normalized output validates (no errors) and indexes.
        let result = try TraceImporter.importData(data, name: "otlp_sample.json")
        #expect(result.format == .otlpJSON && result.spans == spans)
        #expect(result.report.haloAccepts)
        let store = try TraceStore(data: result.normalizedData)
        let ov = try store.overview()
        #expect(ov.totalSpans == 3 && ov.errorTraceCount == 1 && ov.toolErrorSpanCount == 1)
        #expect(ov.serviceNames == ["checkout-agent"] && ov.modelNames == ["gpt-4.1-mini"])
    }

    @Test("OTLP base64 ids, JSONL of requests, and errors with field paths")
    func otlpVariants() throws {
        let traceB64 = Data((1...16).map { UInt8($0) }).base64EncodedString()
        let spanB64 = Data((1...8).map { UInt8($0 * 3) }).base64EncodedString()
        let req = #"{"resourceSpans":[{"resource":{"attributes":[]},"scopeSpans":[{"scope":{"name":"s"},"spans":[{"traceId":"\#(traceB64)","spanId":"\#(spanB64)","name":"n","kind":"SPAN_KIND_SERVER","startTimeUnixNano":1000,"endTimeUnixNano":"2000","status":{"code":2,"message":"boom"}}]}]}]}"#
        let spans = try decodeOTLPJSON(Data((req + "\n" + req + "\n").utf8))
        #expect(spans.count == 2)
        #expect(spans[0].traceID == "0102030405060708090a0b0c0d0e0f10")
        #expect(spans[0].spanID == "0306090c0f121518")
        #expect(spans[0].kind == "SPAN_KIND_SERVER" && spans[0].status == .error("boom"))
        #expect(spans[0].startTime == "1970-01-01T00:00:00.000001000Z")
        // Ids that are neither hex nor base64 of the right size are kept as they are.
        let odd = req.replacingOccurrences(of: traceB64, with: "my-trace")
        #expect(try decodeOTLPJSON(Data(odd.utf8))[0].traceID == "my-trace")
        // Errors name the field.
        let bad = req.replacingOccurrences(of: #""endTimeUnixNano":"2000""#, with: #""endTimeUnixNano":"soon""#)
        #expect {
            try decodeOTLPJSON(Data(bad.utf8))
        } throws: { e in
            (e as? OTLPDecodingError)?.field == "resourceSpans[0].scopeSpans[0].spans[0].endTimeUnixNano"
        }
        #expect(throws: OTLPDecodingError.self) { try decodeOTLPJSON(Data(#"{"spans":[]}"#.utf8)) }
        #expect(throws: OTLPDecodingError.self) { try decodeOTLPJSON(Data("{".utf8)) }
        #expect {
            try decodeOTLPJSON(Data((req + "\n{\"resourceSpans\":5}\n").utf8))
        } throws: { e in
            (e as? OTLPDecodingError)?.line == 2
        }
    }

    @Test("HALO import refuses invalid input unless told to skip, and reports each dropped line")
    func haloImport() throws {
        let data = try TraceFixtures.data("gen_small_3traces_plus_invalid.jsonl")
        #expect(throws: TraceStoreError.self) { try TraceImporter.importData(data) }
        let r = try TraceImporter.importData(data, skipInvalid: true)
        #expect(r.format == .halo)
        #expect(r.dropped.map(\.line) == [52, 53, 54, 55, 56, 57])
        #expect(r.spans.count == 51)
        let clean = try TraceFixtures.data("gen_small_3traces.jsonl")
        #expect(r.normalizedData == SpanWriter.data(try TraceImporter.importData(clean).spans))
        // Normalizing keeps every value of every span.
        let again = try TraceImporter.importData(r.normalizedData)
        #expect(again.spans == r.spans)
        #expect(again.normalizedData == r.normalizedData)
    }

    static let secrets: [(kind: String, text: String)] = [
        ("api_key", "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abc"),
        ("api_key", "sk-1234567890abcdefghijklmnopqrstuv"),
        ("aws_access_key_id", "AKIAIOSFODNN7EXAMPLE"),
        ("aws_access_key_id", "ASIAY34FZKBOKMUTVV7A"),
        ("github_token", "ghp_16C7e42F292c6912E7710c838347Ae178B4a"),
        ("github_token", "gho_16C7e42F292c6912E7710c838347Ae178B4a"),
        ("github_token", "ghs_16C7e42F292c6912E7710c838347Ae178B4a"),
        ("github_token", "ghu_16C7e42F292c6912E7710c838347Ae178B4a"),
        ("github_token", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV"),
    ]
    static let bearer = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl"
    static let awsSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    static let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7bq0\nc2VjcmV0a2V5\n-----END RSA PRIVATE KEY-----"

    @Test("planted secrets in attributes, messages and tool outputs are gone and counted")
    func redaction() throws {
        let b = SpanBuilder(projectID: "p", agentName: "A")
        let trace = TraceIDs.newTraceID(), root = TraceIDs.newSpanID()
        let t = TraceTime.format(unixNanos: 1_000)
        var planted: [String: Int] = [:]
        var spans: [Span] = []
        for (i, s) in Self.secrets.enumerated() {
            let tool = b.toolSpan(traceID: trace, parentSpanID: root, start: t, end: t, toolName: "env",
                arguments: #"{"key":"\#(s.text)"}"#, output: "token=\(s.text) done")
            let llm = b.llmSpan(traceID: trace, parentSpanID: root, start: t, end: t, provider: "openai", model: "m",
                inputMessages: [.user("my key is \(s.text), keep it safe")], outputMessages: [.assistant("ok")],
                promptTokens: 1, completionTokens: 1, extra: ["flywheel.nested": ["deep": [.string("x \(s.text) y")]]])
            spans += [tool, llm]
            planted[s.kind, default: 0] += 4
            _ = i
        }
        spans.append(b.toolSpan(traceID: trace, parentSpanID: root, start: t, end: t, toolName: "http",
            arguments: #"{"headers":{"Authorization":"Bearer \#(Self.bearer)"}}"#,
            output: "aws_secret_access_key = \(Self.awsSecret)\n\(Self.pem)"))
        planted["bearer_token", default: 0] += 1
        planted["aws_secret_access_key", default: 0] += 1
        planted["private_key", default: 0] += 1
        var named = b.agentSpan(traceID: trace, spanID: root, start: t, end: t)
        named.status = .error("failed with Bearer \(Self.bearer)")
        named.name = "agent.A AKIAIOSFODNN7EXAMPLE"
        spans.append(named)
        planted["bearer_token", default: 0] += 1
        planted["aws_access_key_id", default: 0] += 1
        // Secrets inside the nested JSON of a written file are found too (JSON in JSON).
        let redactor = try Redactor(extraPatterns: [RedactionPattern(kind: "internal_host", pattern: #"[a-z0-9]+\.corp\.example"#)])
        var custom = b.span(kind: .span, name: "custom", traceID: trace, start: t, end: t,
            attributes: ["note": "see db1.corp.example and db2.corp.example"])
        custom.resourceAttributes["host"] = "db3.corp.example"
        spans.append(custom)
        planted["internal_host"] = 3
        let (clean, report) = redactor.redact(spans)
        #expect(report.counts == planted)
        let text = String(decoding: SpanWriter.data(clean), as: UTF8.self)
        for s in Self.secrets { #expect(!text.contains(s.text), "\(s.kind) survived") }
        for s in [Self.bearer, Self.awsSecret, "MIIEpAIBAAKCAQEA7bq0", "corp.example"] { #expect(!text.contains(s)) }
        #expect(text.contains("[REDACTED:api_key]") && text.contains("Bearer [REDACTED:bearer_token]"))
        #expect(text.contains("aws_secret_access_key = [REDACTED:aws_secret_access_key]"))
        #expect(text.contains("[REDACTED:private_key]"))
        #expect(clean.last?.resourceAttributes["host"] == "[REDACTED:internal_host]")
        // Ids, times and non-secret text are untouched; the result still validates.
        #expect(zip(spans, clean).allSatisfy { $0.traceID == $1.traceID && $0.spanID == $1.spanID && $0.startTime == $1.startTime })
        #expect(TraceValidator.validate(data: SpanWriter.data(clean)).haloAccepts)
        #expect(clean[0].attributes["tool.name"] == "env")
        // Plain text with no secrets is returned unchanged.
        let (same, none) = redactor.redact("a harmless sentence about skis and ghosts")
        #expect(same == "a harmless sentence about skis and ghosts" && none.total == 0)
        // Import applies the redactor.
        let imported = try TraceImporter.importData(SpanWriter.data(spans), redactor: redactor)
        #expect(imported.redaction == report)
        #expect(throws: TraceStoreError.self) { try Redactor(extraRegexes: ["("]) }
    }
}
