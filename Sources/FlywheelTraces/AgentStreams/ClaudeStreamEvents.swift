import FlywheelSupport
import Foundation

/// `claude -p --output-format stream-json --verbose` → HALO: Claude Code prints one JSON message per line: a
/// `system` `init` message (session id, model, tools), `assistant` messages (content blocks `text`, `thinking`,
/// `tool_use`, with `usage`), `user` messages carrying `tool_result` blocks, and a final `result` message
/// (`result`, `is_error`, `num_turns`, `total_cost_usd`, `usage`).
///
/// | Claude Code message | HALO span |
/// |---|---|
/// | the run | AGENT root `agent.<name>`: `input.value` = the task, `output.value` = `result` (else the last text), `claude.session_id`, `agent.cost_usd` = `total_cost_usd`, `claude.num_turns`, token totals; ERROR when `is_error`, a non-`success` subtype or a non-zero exit |
/// | `assistant` message (events with one `message.id` are one message) | LLM span `generation.<model>` from the previous event's arrival to its own: `inference.llm.input_tokens` = `input_tokens` + `cache_creation_input_tokens` + `cache_read_input_tokens`, `cached_input_tokens` = `cache_read_input_tokens`, `output_tokens`; its text and tool calls as `llm.output_messages` |
/// | `tool_use` block … `tool_result` block (same id) | TOOL `function.<name>`: `input.value` = the `input` JSON, `output.value` = the result text; ERROR when `is_error` |
///
/// A `tool_use` never answered ends with the stream, as an ERROR. Sub-agent messages (`parent_tool_use_id` set)
/// are children of that tool's span.
public struct ClaudeStreamConverter: AgentStreamConverter {
    let context: AgentStreamContext
    var ids: StreamSpanIDs
    let rootID: String
    var spans: [Span] = []
    var problems: [String] = []
    var lineNumber = 0
    var firstArrival: Int64?
    var lastArrival: Int64 = 0
    var sessionID: String?
    var model: String?
    var tools: [String]?
    var lastText: String?
    var result: [String: JSONValue]?

    struct OpenMessage {
        var id: String
        var spanID: String
        var parent: String
        var start: Int64
        var end: Int64
        var model: String
        var blocks: [JSONValue] = []
        var usage: [String: JSONValue] = [:]
    }
    var message: OpenMessage?
    struct OpenTool {
        var spanID: String
        var parent: String
        var name: String
        var input: String
        var start: Int64
    }
    var openTools: [String: OpenTool] = [:]
    var toolOrder: [String] = []

    public init(_ context: AgentStreamContext) {
        self.context = context
        var ids = StreamSpanIDs(context.traceID)
        rootID = ids.next()
        self.ids = ids
    }

    public mutating func feed(_ line: String, at nanos: Int64) {
        guard let o = acceptLine(line, at: nanos) else { return }
        let previous = lastArrival == 0 ? nanos : lastArrival
        defer { lastArrival = max(lastArrival, nanos) }
        let parentTool = o["parent_tool_use_id"]?.stringValue
        let parent = parentTool.flatMap { openTools[$0]?.spanID } ?? rootID
        switch o["type"]?.stringValue ?? "" {
        case "system":
            if o["subtype"]?.stringValue == "init" {
                sessionID = o["session_id"]?.stringValue ?? sessionID
                model = o["model"]?.stringValue ?? model
                tools = o["tools"]?.arrayValue?.compactMap(\.stringValue)
            }
        case "assistant":
            guard let m = o["message"]?.objectValue else {
                problems.append("line \(lineNumber): assistant without a message")
                return
            }
            let id = m["id"]?.stringValue ?? "line-\(lineNumber)"
            if message?.id != id {
                closeMessage()
                message = OpenMessage(
                    id: id, spanID: ids.next(), parent: parent, start: previous, end: nanos,
                    model: m["model"]?.stringValue ?? model ?? context.model ?? "claude")
            }
            message!.end = nanos
            if let u = m["usage"]?.objectValue { message!.usage = u.dictionary }
            for block in m["content"]?.arrayValue ?? [] {
                message!.blocks.append(block)
                guard let b = block.objectValue else { continue }
                switch b["type"]?.stringValue {
                case "text":
                    if let t = b["text"]?.stringValue, parentTool == nil { lastText = t }
                case "tool_use":
                    let toolID = b["id"]?.stringValue ?? "tool-\(lineNumber)"
                    let input = b["input"].map { $0.stringValue ?? $0.canonicalText } ?? ""
                    openTools[toolID] = OpenTool(spanID: ids.next(), parent: parent, name: b["name"]?.stringValue ?? "tool", input: input, start: nanos)
                    toolOrder.append(toolID)
                default: break
                }
            }
        case "user":
            closeMessage()
            for block in o["message"]?.objectValue?["content"]?.arrayValue ?? [] {
                guard let b = block.objectValue, b["type"]?.stringValue == "tool_result", let toolID = b["tool_use_id"]?.stringValue else { continue }
                let output = Self.text(of: b["content"])
                let isError = b["is_error"]?.boolValue == true
                closeTool(toolID, end: nanos, output: output, error: isError ? String(output.prefix(200)) : nil)
            }
        case "result":
            closeMessage()
            result = o
            sessionID = o["session_id"]?.stringValue ?? sessionID
        default:
            problems.append("line \(lineNumber): unknown message type \(quoted(String((o["type"]?.stringValue ?? "none").prefix(40))))")
        }
    }

    static func text(of content: JSONValue?) -> String {
        switch content {
        case .string(let s)?: return s
        case .array(let parts)?:
            return parts.compactMap { p -> String? in
                guard let o = p.objectValue else { return nil }
                return o["text"]?.stringValue ?? (o["type"]?.stringValue == "image" ? "[image]" : nil)
            }.joined(separator: "\n")
        case nil, .null?: return ""
        case let other?: return other.canonicalText
        }
    }

    mutating func closeMessage() {
        guard let m = message else { return }
        message = nil
        let u = m.usage
        let fresh = u["input_tokens"]?.tokenCount ?? 0
        let created = u["cache_creation_input_tokens"]?.tokenCount ?? 0
        let read = u["cache_read_input_tokens"]?.tokenCount ?? 0
        let output = u["output_tokens"]?.tokenCount ?? 0
        let input = fresh + created + read
        var toolCalls: [JSONValue] = []
        var texts: [String] = []
        for b in m.blocks {
            guard let o = b.objectValue else { continue }
            switch o["type"]?.stringValue {
            case "text": if let t = o["text"]?.stringValue { texts.append(t) }
            case "tool_use":
                toolCalls.append(.object([
                    "id": o["id"] ?? .null, "type": "function",
                    "function": .object(["name": o["name"] ?? .null, "arguments": .string(o["input"]?.canonicalText ?? "{}")]),
                ]))
            default: break
            }
        }
        var out: [String: JSONValue] = ["role": "assistant", "content": texts.isEmpty ? .null : .string(texts.joined(separator: "\n"))]
        if !toolCalls.isEmpty { out["tool_calls"] = .array(toolCalls) }
        let a: [String: JSONValue] = [
            "llm.provider": "anthropic", "llm.model_name": .string(m.model), "inference.llm.model_name": .string(m.model),
            "inference.llm.input_tokens": .int(input), "inference.llm.output_tokens": .int(output),
            "inference.llm.cached_input_tokens": .int(read), "llm.token_count.prompt": .int(input),
            "llm.token_count.completion": .int(output), "llm.token_count.total": .int(input + output),
            "llm.output_messages": .string(JSONValue.array([.object(out)]).canonicalText), "claude.message_id": .string(m.id),
        ]
        spans.append(
            context.builder.span(
                kind: .llm, name: "generation.\(m.model)", traceID: context.traceID, spanID: m.spanID, parentSpanID: m.parent,
                start: TraceTime.format(unixNanos: m.start), end: TraceTime.format(unixNanos: m.end), attributes: a))
    }

    mutating func closeTool(_ id: String, end: Int64, output: String, error: String?) {
        guard let t = openTools.removeValue(forKey: id) else { return }
        var a: [String: JSONValue] = ["tool.name": .string(t.name), "input.value": .string(t.input), "claude.tool_use_id": .string(id)]
        if !output.isEmpty { a["output.value"] = .string(output) }
        spans.append(
            context.builder.span(
                kind: .tool, name: "function.\(t.name)", traceID: context.traceID, spanID: t.spanID, parentSpanID: t.parent,
                start: TraceTime.format(unixNanos: t.start), end: TraceTime.format(unixNanos: max(end, t.start)),
                status: error.map { .error($0.isEmpty ? "tool error" : $0) } ?? .ok, attributes: a))
    }

    public mutating func finish(at nanos: Int64, exitStatus: Int32?) -> AgentStreamResult {
        let end = max(nanos, lastArrival)
        closeMessage()
        for id in toolOrder where openTools[id] != nil {
            closeTool(id, end: end, output: "", error: "no tool_result before the agent exited")
        }
        var failure: String?
        let answer = result?["result"]?.stringValue ?? lastText
        if let r = result {
            let subtype = r["subtype"]?.stringValue ?? "success"
            if r["is_error"]?.boolValue == true || subtype != "success" {
                failure = "Claude Code ended with \(subtype)" + (r["result"]?.stringValue).map { ": \($0.prefix(200))" }.orEmpty
            }
        } else {
            failure = "no result message"
        }
        if let exitStatus, exitStatus != 0 { failure = failure ?? "the agent exited with status \(exitStatus)" }
        var extra: [String: JSONValue] = ["input.value": .string(context.task)]
        if let answer { extra["output.value"] = .string(answer) }
        if let sessionID { extra["claude.session_id"] = .string(sessionID) }
        if let model { extra["claude.model"] = .string(model) }
        if let cost = result?["total_cost_usd"]?.doubleValue, cost.isFinite, cost >= 0 { extra["agent.cost_usd"] = .double(cost) }
        if let turns = result?["num_turns"]?.intValue { extra["claude.num_turns"] = .int(turns) }
        if let u = result?["usage"]?.objectValue {
            let input = (u["input_tokens"]?.tokenCount ?? 0) + (u["cache_creation_input_tokens"]?.tokenCount ?? 0)
                + (u["cache_read_input_tokens"]?.tokenCount ?? 0)
            extra["flywheel.total_input_tokens"] = .int(input)
            extra["flywheel.total_output_tokens"] = .int(u["output_tokens"]?.tokenCount ?? 0)
        }
        let root = context.builder.agentSpan(
            traceID: context.traceID, spanID: rootID, start: TraceTime.format(unixNanos: firstArrival ?? end),
            end: TraceTime.format(unixNanos: end), status: failure.map { .error($0) } ?? .ok, tools: tools,
            outcome: failure == nil ? "completed" : "failed", extra: extra)
        return AgentStreamResult(spans: spans + [root], finalAnswer: answer, problems: problems)
    }
}

extension Optional where Wrapped == String {
    var orEmpty: String { self ?? "" }
}

extension ClaudeStreamConverter: StreamLineBookkeeping {}
