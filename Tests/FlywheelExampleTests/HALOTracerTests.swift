import Foundation
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelExample
@testable import FlywheelSupport
@testable import FlywheelTraces

/// Runs the offline analyst over questions `qs` with a seeded HALO tracer and a stepping clock; returns the
/// JSONL of all runs and the results.
func tracedRuns(_ qs: [Int], seed: UInt64, harness: Harness = ExampleHarness.v1) -> (Data, [AgentRunResult]) {
    var data = Data()
    var results: [AgentRunResult] = []
    let clock = SteppingAgentClock(start: Date(timeIntervalSince1970: 1_790_000_000), step: 0.125)
    for q in qs {
        let tracer = HALOTracer(projectID: "lumora-diligence", serviceName: "diligence-analyst", seed: seed)
        let r = runExample(question: q, seed: seed, harness: harness, tracer: tracer, clock: clock)
        data.append(tracer.jsonl)
        results.append(r)
    }
    return (data, results)
}

@Suite("HALO tracer")
struct HALOTracerTests {
    @Test func spansHaveTheHALOShape() throws {
        // Find a seed whose first question has a tool error, so the trace carries one.
        let seed = try #require((UInt64(1)...30).first { !runExample(question: 1, seed: $0).toolErrors.isEmpty })
        let (data, results) = tracedRuns([1], seed: seed)
        let r = results[0]
        let spans = try String(decoding: data, as: UTF8.self).split(separator: "\n").map { try Span(line: String($0)) }
        #expect(spans.count == 1 + r.turns + r.toolCalls.count)
        let root = try #require(spans.last)
        #expect(root.name == "agent.DiligenceAnalyst")
        #expect(root.parentSpanID == "")
        #expect(root.traceID == r.traceID)
        #expect(root.status == .ok)
        #expect(root.attributes["agent.outcome"] == .string(r.outcome.outcome))
        #expect(root.attributes["agent.stop_reason"] == "final_answer")
        #expect(root.attributes["output.value"] == .string(r.finalAnswer ?? ""))
        #expect(root.attributes["flywheel.model_label"] == "flywheel-example-model (offline simulation)")
        for s in spans {
            #expect(TraceIDs.isCanonicalTraceID(s.traceID))
            #expect(TraceIDs.isCanonicalSpanID(s.spanID))
            #expect(s.traceID == r.traceID)
            #expect(s.attributes["inference.export.schema_version"] == 1)
            #expect(s.attributes["inference.project_id"] == "lumora-diligence")
            #expect(s.resourceAttributes["service.name"] == "diligence-analyst")
            #expect(s.attributes["inference.agent_name"] == "DiligenceAnalyst")
            #expect(s.attributes["inference.agent_id"] == "diligence-analyst")
            #expect(TraceTime.isCanonical(s.startTime) && TraceTime.isCanonical(s.endTime))
            #expect(s.startTime <= s.endTime)
            if s.spanID != root.spanID { #expect(s.parentSpanID == root.spanID) }
        }
        #expect(Set(spans.map(\.spanID)).count == spans.count)
        let llm = spans.filter { $0.attributes["openinference.span.kind"] == "LLM" }
        #expect(llm.count == r.turns)
        for s in llm {
            #expect(s.name == "generation.flywheel-example-model (offline simulation)")
            #expect(s.kind == "SPAN_KIND_CLIENT")
            let input = try JSONValue.parse(try #require(s.attributes["llm.input_messages"]?.stringValue))
            #expect(input.arrayValue?.first?["role"] == "system")
            let output = try JSONValue.parse(try #require(s.attributes["llm.output_messages"]?.stringValue))
            #expect(output.arrayValue?.count == 1)
            let inTok = try #require(s.attributes["inference.llm.input_tokens"]?.intValue)
            #expect(inTok > 0 && s.attributes["llm.token_count.prompt"]?.intValue == inTok)
            #expect(s.attributes["llm.token_count.total"]?.intValue == inTok + (s.attributes["llm.token_count.completion"]?.intValue ?? -1))
        }
        let tools = spans.filter { $0.attributes["openinference.span.kind"] == "TOOL" }
        #expect(tools.map { $0.attributes["tool.name"]?.stringValue ?? "" } == r.toolCalls.map(\.call.name))
        let failed = tools.filter { $0.status.code == "STATUS_CODE_ERROR" }
        #expect(failed.count == r.toolErrors.count && !failed.isEmpty)
        for f in failed {
            #expect(f.status.message == "Error running tool (non-fatal)")
            #expect(f.attributes["error.type"] == "FileNotFoundError")
            #expect(f.attributes["output.value"]?.stringValue?.hasPrefix("An error occurred while running the tool. Please try again. Error: ") == true)
        }
        // Flywheel's validator (the spec's rules) finds nothing to complain about beyond notes.
        let report = TraceValidator.validate(data: data)
        #expect(report.issues.filter { $0.severity != .note }.isEmpty, "\(report.issues)")
    }

    @Test func sameSeedAndClockGiveIdenticalBytes() {
        let (a, _) = tracedRuns([1, 2, 3], seed: 9)
        let (b, _) = tracedRuns([1, 2, 3], seed: 9)
        #expect(a == b)
        let (c, _) = tracedRuns([1, 2, 3], seed: 10)
        #expect(a != c)
    }

    @Test func exhaustedRunsAreErrorRoots() throws {
        var h = ExampleHarness.v1
        h.maxTurns = 2
        let (data, _) = tracedRuns([4], seed: 1, harness: h)
        let root = try Span(line: String(String(decoding: data, as: UTF8.self).split(separator: "\n").last!))
        #expect(root.status.code == "STATUS_CODE_ERROR")
        #expect(root.status.message.hasPrefix("MaxTurnsExceeded"))
        #expect(root.attributes["agent.stop_reason"] == "max_turns")
        #expect(root.attributes["output.value"] == nil)
    }

    /// Peer check against HALO's own parser (venv made by `Tests/scripts/halo-venv.sh`; skipped, with the reason,
    /// when PyPI cannot be reached).
    @Test(.enabled(if: (HALOVenv.folder != nil), "HALO venv unavailable (no PyPI); see Tests/scripts/halo-venv.sh"))
    func haloIndexesTheTraces() throws {
        let venv = HALOVenv.python!
        let script = HALOVenv.indexCheckScript
        let (data, results) = tracedRuns([1, 2, 3, 4, 5], seed: 4)
        let file = TestPaths.scratch("halo").appendingPathComponent("traces.jsonl")
        try data.write(to: file)
        let r = try runProcess(venv, [script.path, file.path, "--json", "--strict"], timeout: 120)
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        let json = try JSONValue.parse(r.stdout)
        #expect(json["verdict"] == "OK")
        #expect(json["spec_warnings"] == .object([:]))
        let overview = try #require(json["overview"])
        #expect(overview["total_traces"] == 5)
        #expect(overview["model_names"] == ["flywheel-example-model (offline simulation)"])
        #expect(overview["agent_names"] == ["DiligenceAnalyst"])
        #expect(overview["missing_parent_count"] == 0)
        #expect(overview["tool_error_span_count"]?.intValue == Int64(results.reduce(0) { $0 + $1.toolErrors.count }))
        #expect(overview["total_input_tokens"]?.intValue == Int64(results.reduce(0) { $0 + $1.usage.promptTokens }))
        #expect(overview["total_output_tokens"]?.intValue == Int64(results.reduce(0) { $0 + $1.usage.completionTokens }))
    }
}
