import Foundation
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelTraces

enum StreamFixtures {
    static let dir = TestPaths.packageRoot.appendingPathComponent("Tests/FlywheelTests/Fixtures/AgentStreams")
    /// The lines of a recorded stream, arriving one second apart from `t0`.
    static func lines(_ name: String, t0: Int64 = 1_764_990_000_000_000_000) throws -> [(String, Int64)] {
        let text = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast(text.hasSuffix("\n") ? 1 : 0)
            .enumerated().map { (String($1), t0 + Int64($0) * 1_000_000_000) }
    }
    static let traceID = "0123456789abcdef0123456789abcdef"
    static func context(model: String? = nil) -> AgentStreamContext {
        AgentStreamContext(
            traceID: traceID, task: "Fix the failing test",
            builder: SpanBuilder(projectID: "coding-agent", agentName: "coder"), model: model)
    }
}

@Suite("Agent streams: codex exec --json and claude stream-json become HALO traces")
struct AgentStreamTests {
    @Test("Codex: a turn is an LLM span with tokens; commands, MCP calls, web search and file changes are TOOL spans; failures are errors")
    func codex() throws {
        var c = try #require(AgentOutputFormat.codexJSON.converter(StreamFixtures.context(model: "gpt-5-codex")))
        let lines = try StreamFixtures.lines("codex_exec.jsonl")
        let r = c.convert(lines, end: lines.last!.1 + 500_000_000)
        #expect(r.problems.isEmpty, "\(r.problems)")
        #expect(r.finalAnswer == "Fixed the off-by-one in parser.go: tokens are counted from 1. `go test ./...` passes.")
        let root = try #require(r.spans.last)
        #expect(root.parentSpanID.isEmpty)
        #expect(root.attributes["inference.observation_kind"] == .string("AGENT"))
        #expect(root.attributes["input.value"] == .string("Fix the failing test"))
        #expect(root.attributes["output.value"] == .string(r.finalAnswer!))
        #expect(root.attributes["codex.thread_id"] == .string("0199a213-81c0-7800-8aa1-bbab2a035a53"))
        #expect(root.status == .ok)
        #expect(r.spans.allSatisfy { $0.traceID == StreamFixtures.traceID })
        #expect(Set(r.spans.map(\.spanID)).count == r.spans.count)

        let llm = r.spans.filter { $0.attributes["inference.observation_kind"] == .string("LLM") }
        #expect(llm.count == 1)
        #expect(llm[0].attributes["inference.llm.input_tokens"] == .int(24763))
        #expect(llm[0].attributes["inference.llm.output_tokens"] == .int(1122))
        #expect(llm[0].attributes["inference.llm.cached_input_tokens"] == .int(24448))
        #expect(llm[0].attributes["inference.llm.model_name"] == .string("gpt-5-codex"))
        #expect(llm[0].attributes["codex.reasoning"]?.stringValue?.contains("Finding the failing test") == true)
        #expect(llm[0].startTime == TraceTime.format(unixNanos: lines[1].1), "the turn starts at turn.started's arrival")
        #expect(llm[0].endTime == TraceTime.format(unixNanos: lines[13].1))

        let tools = r.spans.filter { $0.attributes["inference.observation_kind"] == .string("TOOL") }
        #expect(tools.map { $0.attributes["tool.name"]?.stringValue ?? "" } == ["shell", "search_docs", "web_search", "apply_patch", "shell"])
        let failed = tools[0]
        #expect(failed.status == .error("exit code 1"))
        #expect(failed.attributes["output.value"]?.stringValue?.contains("FAIL: TestParse") == true)
        #expect(failed.attributes["input.value"] == .string("bash -lc 'go test ./...'"))
        #expect(failed.startTime == TraceTime.format(unixNanos: lines[3].1))
        #expect(failed.endTime == TraceTime.format(unixNanos: lines[4].1))
        #expect(tools[1].attributes["mcp.server"] == .string("docs"))
        #expect(tools[1].attributes["input.value"] == .string(#"{"query":"tokenizer off-by-one"}"#))
        #expect(tools[1].attributes["output.value"]?.stringValue?.contains("counted from 1") == true)
        #expect(tools[4].status == .ok)

        // What HALO's overview sees.
        let t = try #require(try TraceStore(data: SpanWriter.data(r.spans)).traces.first)
        #expect(t.inputTokens == 24763)
        #expect(t.outputTokens == 1122)
        #expect(t.modelNames == ["gpt-5-codex"])
        #expect(t.agentNames == ["coder"])
        #expect(t.toolErrorSpanCount == 1)
        #expect(TraceValidator.validate(data: SpanWriter.data(r.spans), name: "codex").errors.isEmpty)
    }

    @Test("Codex: a declined command, a command cut off, a non-JSON line and turn.failed")
    func codexFailed() throws {
        var c = CodexEventConverter(StreamFixtures.context())
        let lines = try StreamFixtures.lines("codex_exec_failed.jsonl")
        let r = c.convert(lines, end: lines.last!.1 + 1, exitStatus: 1)
        #expect(r.problems.count == 1)
        #expect(r.problems.first?.hasPrefix("line 6: not JSON") == true)
        #expect(r.finalAnswer == nil)
        let root = try #require(r.spans.last)
        #expect(root.status == .error("stream disconnected before completion"))
        let tools = r.spans.filter { $0.attributes["tool.name"] == .string("shell") }
        #expect(tools.count == 2)
        #expect(tools.contains { $0.status == .error("command declined") })
        #expect(tools.contains { $0.status.message.contains("did not complete") })
        let llm = try #require(r.spans.first { $0.attributes["inference.observation_kind"] == .string("LLM") })
        #expect(llm.status == .error("stream disconnected before completion"))
        #expect(llm.attributes["inference.llm.model_name"] == .string("codex"), "no model in the stream or the context")
        #expect(try TraceStore(data: SpanWriter.data(r.spans)).traces.first?.toolErrorSpanCount == 2)
    }

    @Test("Claude Code: one LLM span per assistant message (split events merged), tool_use/tool_result pairs as TOOL spans, cost and answer")
    func claude() throws {
        var c = try #require(AgentOutputFormat.claudeStreamJSON.converter(StreamFixtures.context()))
        let lines = try StreamFixtures.lines("claude_stream.jsonl")
        let r = c.convert(lines, end: lines.last!.1)
        #expect(r.problems.isEmpty, "\(r.problems)")
        #expect(r.finalAnswer == "Fixed `isoWeek` in src/date.js to use ISO-8601 week numbers; the failing test now passes.")
        let root = try #require(r.spans.last)
        #expect(root.status == .ok)
        #expect(root.attributes["agent.cost_usd"] == .double(0.0612))
        #expect(root.attributes["claude.session_id"] == .string("3f1c9a2b-4e4f-4a8c-9d1e-2f3a4b5c6d7e"))
        #expect(root.attributes["claude.num_turns"] == .int(4))
        #expect(root.attributes["flywheel.total_output_tokens"] == .int(393))
        #expect(root.attributes["agent.tools"]?.stringValue?.contains("WebSearch") == true)

        let llm = r.spans.filter { $0.attributes["inference.observation_kind"] == .string("LLM") }
        #expect(llm.count == 4, "msg_01A arrives as two events and is one message")
        let first = llm[0]
        #expect(first.attributes["inference.llm.input_tokens"] == .int(4 + 5210 + 11980))
        #expect(first.attributes["inference.llm.cached_input_tokens"] == .int(11980))
        #expect(first.attributes["inference.llm.output_tokens"] == .int(118), "the last usage of the message")
        #expect(first.attributes["inference.llm.model_name"] == .string("claude-sonnet-4-5-20250929"))
        #expect(first.attributes["llm.output_messages"]?.stringValue?.contains("toolu_01X") == true)
        #expect(first.startTime == TraceTime.format(unixNanos: lines[0].1))
        #expect(first.endTime == TraceTime.format(unixNanos: lines[2].1))

        let tools = r.spans.filter { $0.attributes["inference.observation_kind"] == .string("TOOL") }
        #expect(tools.map { $0.attributes["tool.name"]?.stringValue ?? "" } == ["Bash", "Read", "Edit"])
        #expect(tools[0].status.code == "STATUS_CODE_ERROR")
        #expect(tools[0].status.message.contains("1 failed"))
        #expect(tools[0].attributes["input.value"] == .string(#"{"command":"npm test","description":"Run the test suite"}"#))
        #expect(tools[0].startTime == TraceTime.format(unixNanos: lines[2].1))
        #expect(tools[0].endTime == TraceTime.format(unixNanos: lines[3].1))
        #expect(tools[1].attributes["output.value"]?.stringValue?.contains("isoWeek") == true)
        #expect(tools[2].status == .ok)

        let t = try #require(try TraceStore(data: SpanWriter.data(r.spans)).traces.first)
        #expect(t.inputTokens == (4 + 5210 + 11980) + (6 + 310 + 17190) + (6 + 220 + 17500) + (4 + 180 + 17720))
        #expect(t.outputTokens == 118 + 74 + 160 + 41)
        #expect(t.modelNames == ["claude-sonnet-4-5-20250929"])
        #expect(t.toolErrorSpanCount == 1)
        #expect(TraceValidator.validate(data: SpanWriter.data(r.spans), name: "claude").errors.isEmpty)
    }

    @Test("Claude Code: error_max_turns fails the root; an unanswered tool_use is an error span")
    func claudeMaxTurns() throws {
        var c = ClaudeStreamConverter(StreamFixtures.context())
        let lines = try StreamFixtures.lines("claude_stream_max_turns.jsonl")
        let r = c.convert(lines, end: lines.last!.1 + 10)
        let root = try #require(r.spans.last)
        #expect(root.status.code == "STATUS_CODE_ERROR")
        #expect(root.status.message.contains("error_max_turns"))
        let tool = try #require(r.spans.first { $0.attributes["tool.name"] == .string("Bash") })
        #expect(tool.status == .error("no tool_result before the agent exited"))
        #expect(r.finalAnswer == nil)
    }

    @Test("an empty or garbage stream still gives a valid AGENT root, never a crash")
    func garbage() throws {
        for format in [AgentOutputFormat.codexJSON, .claudeStreamJSON] {
            var c = try #require(format.converter(StreamFixtures.context()))
            c.feed("\u{1B}[31mnot json", at: 10)
            c.feed("[1,2,3]", at: 20)
            c.feed(#"{"type":"turn.completed","usage":{"input_tokens":1e300,"output_tokens":-5}}"#, at: 30)
            let r = c.finish(at: 40, exitStatus: nil)
            #expect(r.spans.last?.parentSpanID == "")
            #expect(r.problems.count >= 2)
            #expect(TraceValidator.validate(data: SpanWriter.data(r.spans), name: format.rawValue).errors.isEmpty)
        }
    }
}
