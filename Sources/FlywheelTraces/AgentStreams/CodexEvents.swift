import FlywheelSupport
import Foundation

/// `codex exec --json` → HALO: Codex CLI prints one JSON event per line (`thread.started`, `turn.started`,
/// `item.started` / `item.updated` / `item.completed`, `turn.completed` with `usage`, `turn.failed`, `error`).
///
/// | Codex event | HALO span |
/// |---|---|
/// | the run | AGENT root `agent.<name>`: `input.value` = the task, `output.value` = the final message, `codex.thread_id`, token totals; ERROR on `turn.failed`, `error` or a non-zero exit |
/// | `turn.started` … `turn.completed` | LLM span `generation.<model>` per turn: `inference.llm.input_tokens` / `output_tokens` / `cached_input_tokens` from `usage`, the turn's agent messages as `llm.output_messages`, reasoning as `codex.reasoning`; ERROR on `turn.failed` |
/// | item `command_execution` | TOOL `function.shell`: `input.value` = `command`, `output.value` = `aggregated_output`, `process.exit_code`; ERROR when `failed`, `declined` or the exit code is not 0 |
/// | item `mcp_tool_call` | TOOL `function.<tool>`: `mcp.server`, `input.value` = `arguments`, `output.value` = `result`; ERROR with `error.message` |
/// | item `web_search` | TOOL `function.web_search`: `input.value` = `query` |
/// | item `file_change` | TOOL `function.apply_patch`: `input.value` = the changes (path, kind); ERROR when `failed` |
/// | item `agent_message` | the turn's output; the last one is the final answer |
/// | item `error` | a SPAN `codex.error` with ERROR status |
///
/// Each span starts at its `item.started` arrival (or, without one, at the previous event) and ends at its
/// `item.completed` arrival; an item never completed ends with the stream, as an ERROR.
public struct CodexEventConverter: AgentStreamConverter {
    let context: AgentStreamContext
    var ids: StreamSpanIDs
    let rootID: String
    var spans: [Span] = []
    var problems: [String] = []
    var lineNumber = 0
    var firstArrival: Int64?
    var lastArrival: Int64 = 0
    var threadID: String?
    var finalAnswer: String?
    var failure: String?
    var turnStart: Int64?
    var turnMessages: [String] = []
    var turnReasoning: [String] = []
    var turnIndex = 0
    var started: [String: (Int64, [String: JSONValue])] = [:]
    var totals = (input: Int64(0), cached: Int64(0), output: Int64(0))

    public init(_ context: AgentStreamContext) {
        self.context = context
        var ids = StreamSpanIDs(context.traceID)
        rootID = ids.next()
        self.ids = ids
    }

    public mutating func feed(_ line: String, at nanos: Int64) {
        guard let o = acceptLine(line, at: nanos) else { return }
        defer { lastArrival = max(lastArrival, nanos) }
        let type = o["type"]?.stringValue ?? ""
        switch type {
        case "thread.started":
            threadID = o["thread_id"]?.stringValue
        case "turn.started":
            turnStart = nanos
            turnMessages = []
            turnReasoning = []
        case "turn.completed":
            endTurn(at: nanos, usage: o["usage"]?.objectValue?.dictionary ?? [:], error: nil)
        case "turn.failed":
            let message = o["error"]?.objectValue?["message"]?.stringValue ?? "turn failed"
            failure = message
            endTurn(at: nanos, usage: [:], error: message)
        case "error":
            failure = o["message"]?.stringValue ?? "error"
        case "item.started":
            if let item = o["item"]?.objectValue?.dictionary, let id = item["id"]?.stringValue { started[id] = (nanos, item) }
        case "item.updated":
            break
        case "item.completed":
            guard let item = o["item"]?.objectValue?.dictionary else {
                problems.append("line \(lineNumber): item.completed without an item")
                return
            }
            let id = item["id"]?.stringValue ?? ""
            let start = started.removeValue(forKey: id)?.0 ?? lastArrival
            complete(item, start: min(start, nanos), end: nanos, incomplete: false)
        default:
            problems.append("line \(lineNumber): unknown event type \(quoted(String(type.prefix(40))))")
        }
    }

    mutating func endTurn(at nanos: Int64, usage: [String: JSONValue], error: String?) {
        turnIndex += 1
        let start = turnStart ?? firstArrival ?? nanos
        let input = usage["input_tokens"]?.tokenCount ?? 0
        let cached = usage["cached_input_tokens"]?.tokenCount ?? 0
        let output = usage["output_tokens"]?.tokenCount ?? 0
        totals.input += input
        totals.cached += cached
        totals.output += output
        let model = context.model ?? "codex"
        var a: [String: JSONValue] = [
            "llm.provider": "openai", "llm.model_name": .string(model), "inference.llm.model_name": .string(model),
            "inference.llm.input_tokens": .int(input), "inference.llm.output_tokens": .int(output),
            "llm.token_count.prompt": .int(input), "llm.token_count.completion": .int(output),
            "llm.token_count.total": .int(input + output), "codex.turn": .int(Int64(turnIndex)),
        ]
        if usage["cached_input_tokens"] != nil { a["inference.llm.cached_input_tokens"] = .int(cached) }
        if !turnMessages.isEmpty {
            a["llm.output_messages"] = .string(
                JSONValue.array(turnMessages.map { .object(["role": "assistant", "content": .string($0)]) }).canonicalText)
        }
        if !turnReasoning.isEmpty { a["codex.reasoning"] = .string(turnReasoning.joined(separator: "\n\n")) }
        spans.append(
            context.builder.span(
                kind: .llm, name: "generation.\(model)", traceID: context.traceID, spanID: ids.next(), parentSpanID: rootID,
                start: TraceTime.format(unixNanos: start), end: TraceTime.format(unixNanos: nanos),
                status: error.map { .error($0) } ?? .ok, attributes: a))
        turnStart = nil
    }

    mutating func complete(_ item: [String: JSONValue], start: Int64, end: Int64, incomplete: Bool) {
        let type = item["type"]?.stringValue ?? ""
        let status = item["status"]?.stringValue ?? ""
        func tool(_ name: String, input: String, output: String, error: String?, extra: [String: JSONValue] = [:]) {
            var a: [String: JSONValue] = ["tool.name": .string(name), "input.value": .string(input), "codex.item_type": .string(type)]
            if !output.isEmpty { a["output.value"] = .string(output) }
            a.merge(extra) { _, new in new }
            if let id = item["id"]?.stringValue { a["codex.item_id"] = .string(id) }
            spans.append(
                context.builder.span(
                    kind: .tool, name: "function.\(name)", traceID: context.traceID, spanID: ids.next(), parentSpanID: rootID,
                    start: TraceTime.format(unixNanos: start), end: TraceTime.format(unixNanos: end),
                    status: error.map { .error($0) } ?? .ok, attributes: a))
        }
        let unfinished = incomplete ? "did not complete before the agent exited" : nil
        switch type {
        case "agent_message":
            if let text = item["text"]?.stringValue {
                turnMessages.append(text)
                finalAnswer = text
            }
        case "reasoning":
            if let text = item["text"]?.stringValue { turnReasoning.append(text) }
        case "command_execution":
            let exit = item["exit_code"]?.intValue
            var error = unfinished
            if status == "failed" || status == "declined" || (exit != nil && exit != 0) {
                error = status == "declined" ? "command declined" : "exit code \(exit.map(String.init) ?? "unknown")"
            }
            tool(
                "shell", input: item["command"]?.stringValue ?? "", output: item["aggregated_output"]?.stringValue ?? "",
                error: error, extra: exit.map { ["process.exit_code": .int($0)] } ?? [:])
        case "mcp_tool_call":
            let name = item["tool"]?.stringValue ?? "mcp_tool"
            let args = item["arguments"].map { $0.stringValue ?? $0.canonicalText } ?? ""
            let result = item["result"].flatMap { $0 == .null ? nil : $0.canonicalText } ?? ""
            var error = item["error"]?.objectValue?["message"]?.stringValue ?? unfinished
            if error == nil, status == "failed" { error = "MCP tool call failed" }
            tool(name, input: args, output: result, error: error, extra: ["mcp.server": .string(item["server"]?.stringValue ?? "")])
        case "web_search":
            tool("web_search", input: item["query"]?.stringValue ?? "", output: "", error: unfinished)
        case "file_change":
            let changes = item["changes"] ?? .array([])
            tool("apply_patch", input: changes.canonicalText, output: status, error: status == "failed" ? "patch failed" : unfinished)
        case "collab_tool_call":
            let name = item["tool"]?.stringValue ?? "collab"
            tool(name, input: item["prompt"]?.stringValue ?? "", output: "", error: status == "failed" ? "collab tool call failed" : unfinished)
        case "error":
            spans.append(
                context.builder.span(
                    kind: .span, name: "codex.error", traceID: context.traceID, spanID: ids.next(), parentSpanID: rootID,
                    start: TraceTime.format(unixNanos: start), end: TraceTime.format(unixNanos: end),
                    status: .error(item["message"]?.stringValue ?? "error")))
        default:
            break  // todo_list, plan: progress, not work
        }
    }

    public mutating func finish(at nanos: Int64, exitStatus: Int32?) -> AgentStreamResult {
        let end = max(nanos, lastArrival)
        for (id, (start, item)) in started.sorted(by: { $0.value.0 < $1.value.0 }) {
            _ = id
            complete(item, start: start, end: end, incomplete: true)
        }
        started = [:]
        if turnStart != nil { endTurn(at: end, usage: [:], error: "the turn did not complete") }
        if failure == nil, let exitStatus, exitStatus != 0 { failure = "the agent exited with status \(exitStatus)" }
        var extra: [String: JSONValue] = ["input.value": .string(context.task)]
        if let finalAnswer { extra["output.value"] = .string(finalAnswer) }
        if let threadID { extra["codex.thread_id"] = .string(threadID) }
        extra["flywheel.total_input_tokens"] = .int(totals.input)
        extra["flywheel.total_output_tokens"] = .int(totals.output)
        extra["flywheel.total_cached_input_tokens"] = .int(totals.cached)
        let root = context.builder.agentSpan(
            traceID: context.traceID, spanID: rootID, start: TraceTime.format(unixNanos: firstArrival ?? end),
            end: TraceTime.format(unixNanos: end), status: failure.map { .error($0) } ?? .ok,
            outcome: failure == nil ? "completed" : "failed", extra: extra)
        return AgentStreamResult(spans: spans + [root], finalAnswer: finalAnswer, problems: problems)
    }
}

extension CodexEventConverter: StreamLineBookkeeping {}
