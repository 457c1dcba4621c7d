import Foundation
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelTraces

/// Numbers from outside (HALO JSONL): times outside 64-bit nanoseconds, spans longer than that, token counts near
/// Int64.max. Each is one clear error at its file, line and field; `validate` and `import` agree; nothing traps.
@Suite("Hostile input: numbers in HALO traces")
struct HostileNumbersTests {
    /// A valid HALO span line with the given times and token counts.
    static func line(trace: String = "0123456789abcdef0123456789abcdef", span: String = "0123456789abcdef",
                     start: String = "2026-01-01T00:00:00.000000000Z", end: String = "2026-01-01T00:00:01.000000000Z",
                     tokens: String = "12") -> String {
        #"{"trace_id":"\#(trace)","span_id":"\#(span)","parent_span_id":"","trace_state":"","name":"llm","kind":"SPAN_KIND_CLIENT","start_time":"\#(start)","end_time":"\#(end)","status":{"code":"STATUS_CODE_OK","message":""},"resource":{"attributes":{"service.name":"svc"}},"scope":{"name":"s","version":"1"},"attributes":{"inference.export.schema_version":1,"inference.project_id":"p","inference.observation_kind":"LLM","openinference.span.kind":"LLM","inference.llm.model_name":"m","inference.llm.input_tokens":\#(tokens),"inference.llm.output_tokens":3,"inference.agent_name":"a"}}"#
    }

    /// (case, bad line, field, code)
    static let cases: [(String, String, String, String)] = [
        ("a start after 2262", line(start: "2300-01-01T00:00:00.000000000Z", end: "2300-01-01T00:00:01.000000000Z"), "start_time", "time_out_of_range"),
        ("an end after 2262", line(end: "9999-12-31T23:59:59.999999999Z"), "end_time", "time_out_of_range"),
        ("a start before 1678", line(start: "1600-01-01T00:00:00.000000000Z"), "start_time", "time_out_of_range"),
        ("a span from 1678 to 2262", line(start: "1678-01-01T00:00:00.000000000Z", end: "2262-01-01T00:00:00.000000000Z"), "end_time", "duration_out_of_range"),
        ("Int64.max input tokens", line(tokens: "9223372036854775807"), "attributes[\"inference.llm.input_tokens\"]", "token_out_of_range"),
        ("tokens of 1e300", line(tokens: "1e300"), "attributes[\"inference.llm.input_tokens\"]", "token_not_int"),
    ]

    @Test("validate names the file, line and field; import refuses the same line; --skip-invalid keeps the rest", arguments: cases)
    func outOfRange(_ name: String, _ bad: String, _ field: String, _ code: String) throws {
        let good = Self.line(trace: "fedcba9876543210fedcba9876543210", span: "1111111111111111")
        let data = Data((good + "\n" + bad + "\n").utf8)
        let report = TraceValidator.validate(data: data, name: "hostile.jsonl")
        let issue = try #require(report.issues.first { $0.code == code }, "\(name): \(report.issues)")
        #expect(issue.file == "hostile.jsonl" && issue.line == 2 && issue.field == field)
        if issue.severity == .error {
            #expect(!report.ok)
            do {
                _ = try TraceImporter.importData(data, name: "hostile.jsonl", format: .halo)
                Issue.record("\(name): import accepted what validate refused")
            } catch let TraceStoreError.invalidDataset(r) {
                #expect(r.errors.contains { $0.line == 2 && $0.field == field && $0.code == code })
            }
            let kept = try TraceImporter.importData(data, name: "hostile.jsonl", format: .halo, skipInvalid: true)
            #expect(kept.spans.count == 1 && Set(kept.dropped.map(\.line)) == [2])
        } else {
            // A warning: both accept it, and the totals do not trap.
            let imported = try TraceImporter.importData(data, name: "hostile.jsonl", format: .halo)
            #expect(imported.spans.count == 2)
            let store = try TraceStore(data: imported.normalizedData)
            #expect(store.traces.count == 2)
        }
    }

    @Test("timestamps at the edges of 64-bit nanoseconds parse, one nanosecond beyond does not, and nothing traps")
    func edges() {
        #expect(TraceTime.parse("2262-04-11T23:47:16.854775807Z") == Int64.max)
        #expect(TraceTime.parse("2262-04-11T23:47:16.854775808Z") == nil)
        #expect(TraceTime.isOutOfRange("2262-04-11T23:47:16.854775808Z"))
        #expect(TraceTime.parse("1677-09-21T00:12:43.145224192Z") == Int64.min)
        #expect(TraceTime.parse("1677-09-21T00:12:43.145224191Z") == nil)
        #expect(!TraceTime.isOutOfRange("2026-13-01T00:00:00.000000000Z"))  // a bad month is a format problem
        #expect(TraceTime.duration(from: "1677-09-21T00:12:43.145224192Z", to: "2262-04-11T23:47:16.854775807Z") == nil)
        #expect(TraceLimits.adding(.max, .max, -5) == .max)
        #expect(TraceLimits.adding(2, 3) == 5)
        // Dates from the environment (SOURCE_DATE_EPOCH) or an agent's clock are clamped to the representable range.
        #expect(TraceTime.format(Date(timeIntervalSince1970: 1e300)).hasPrefix("2262-04-11T23:47:16"))
        #expect(TraceTime.format(Date(timeIntervalSince1970: -5)) == "1970-01-01T00:00:00.000000000Z")
        #expect(TraceTime.format(Date(timeIntervalSince1970: .nan)) == "1970-01-01T00:00:00.000000000Z")
        #expect(TraceTime.format(Date(timeIntervalSince1970: 1.5)) == "1970-01-01T00:00:01.500000000Z")
    }
}
