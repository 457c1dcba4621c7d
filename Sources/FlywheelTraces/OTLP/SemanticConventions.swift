import FlywheelSupport
import Foundation

/// Fills HALO's `inference.*` fields and observation kinds from the semantic conventions other tools write, so
/// overview, query and diagnosis see tokens, models, agents and tool errors. The original attributes are kept; a
/// field already set is never overwritten.
///
/// | HALO field | filled from (first present) |
/// |---|---|
/// | `inference.observation_kind`, `openinference.span.kind` | `openinference.span.kind`; `gen_ai.operation.name` (`chat`, `text_completion`, `generate_content`, `embeddings` → LLM; `execute_tool` → TOOL; `invoke_agent`, `create_agent` → AGENT); else a tool name → TOOL, a model → LLM, an agent name → AGENT |
/// | `inference.llm.model_name` | `gen_ai.response.model`, `gen_ai.request.model`, `llm.model_name`, `model` (Codex) |
/// | `inference.llm.input_tokens` | `gen_ai.usage.input_tokens`, `gen_ai.usage.prompt_tokens`, `llm.token_count.prompt`, `input_token_count` (Codex) |
/// | `inference.llm.output_tokens` | `gen_ai.usage.output_tokens`, `gen_ai.usage.completion_tokens`, `llm.token_count.completion`, `output_token_count` (Codex) |
/// | `inference.llm.cached_input_tokens` | `gen_ai.usage.cache_read.input_tokens`, `llm.token_count.prompt_details.cache_read`, `cached_token_count` |
/// | `inference.llm.reasoning_output_tokens` | `gen_ai.usage.reasoning.output_tokens`, `llm.token_count.completion_details.reasoning`, `reasoning_token_count` |
/// | `inference.agent_name` | `gen_ai.agent.name`, `agent.name` |
/// | `inference.agent_id` | `gen_ai.agent.id` |
/// | `tool.name`, `input.value`, `output.value` | `gen_ai.tool.name`; `gen_ai.tool.call.arguments`; `gen_ai.tool.call.result` |
/// | `status` ERROR | a TOOL or LLM span whose status is unset but has `error.type` |
public enum SemanticConventions {
    /// The largest token count accepted on a span (10^12): anything larger is a bad number, not usage, and would
    /// overflow totals.
    public static let maxTokens: Int64 = 1_000_000_000_000

    static let inputTokenKeys = ["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt", "input_token_count"]
    static let outputTokenKeys = [
        "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion", "output_token_count",
    ]
    static let cachedTokenKeys = ["gen_ai.usage.cache_read.input_tokens", "llm.token_count.prompt_details.cache_read", "cached_token_count"]
    static let reasoningTokenKeys = [
        "gen_ai.usage.reasoning.output_tokens", "llm.token_count.completion_details.reasoning", "reasoning_token_count",
    ]
    /// Every attribute read as a token count (range-checked).
    static let allTokenKeys: [String] =
        inputTokenKeys + outputTokenKeys + cachedTokenKeys + reasoningTokenKeys + [
            "llm.token_count.total", "gen_ai.usage.total_tokens", "tool_token_count", "inference.llm.input_tokens",
            "inference.llm.output_tokens", "inference.llm.cached_input_tokens", "inference.llm.reasoning_output_tokens",
        ]

    /// Applies the mapping to `span`.
    /// - Throws: ``OTLPDecodingError`` naming the span and the attribute when a token count is negative, over
    ///   ``maxTokens`` or not an integer.
    public static func apply(to span: inout Span, path: String, line: Int) throws {
        var a = span.attributes
        var tokens: [String: Int64] = [:]
        for key in allTokenKeys {
            guard let v = a[key] else { continue }
            let n: Int64?
            switch v {
            case .int(let i): n = i
            case .double(let d) where d.rounded() == d && abs(d) < 9.2e18: n = Int64(d)
            case .double(let d):
                throw error(span, path, line, key, "\(d) is not a whole number of tokens")
            case .string(let s) where Int64(s) != nil: n = Int64(s)
            case .string(let s) where !s.isEmpty && s.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }):
                throw error(span, path, line, key, "\(s.prefix(40)) is out of range (0…\(maxTokens))")
            default: n = nil  // not a number: left as it is, not counted
            }
            guard let n else { continue }
            guard n >= 0, n <= maxTokens else {
                throw error(span, path, line, key, "\(n) is out of range for a token count (0…\(maxTokens))")
            }
            tokens[key] = n
        }
        func set(_ key: String, _ value: JSONValue?) {
            guard let value, a[key] == nil || a[key] == .null || a[key] == .string("") else { return }
            a[key] = value
        }
        func firstString(_ keys: [String]) -> JSONValue? {
            for k in keys { if let s = a[k]?.stringValue, !s.isEmpty { return .string(s) } }
            return nil
        }
        func firstTokens(_ keys: [String]) -> JSONValue? {
            for k in keys { if let n = tokens[k] { return .int(n) } }
            return nil
        }
        let model = firstString(["gen_ai.response.model", "gen_ai.request.model", "llm.model_name", "model"])
        let toolName = firstString(["gen_ai.tool.name", "tool.name"])
        let agentName = firstString(["gen_ai.agent.name", "agent.name"])

        // Observation kind.
        if a["inference.observation_kind"]?.stringValue == nil {
            var kind: String?
            if let k = a["openinference.span.kind"]?.stringValue?.uppercased() {
                switch k {
                case "LLM", "TOOL", "AGENT", "CHAIN", "GUARDRAIL": kind = k
                default: kind = "SPAN"
                }
            } else if let op = a["gen_ai.operation.name"]?.stringValue {
                switch op {
                case "chat", "text_completion", "generate_content", "embeddings": kind = "LLM"
                case "execute_tool": kind = "TOOL"
                case "invoke_agent", "create_agent": kind = "AGENT"
                default: kind = nil
                }
            }
            if kind == nil {
                if toolName != nil {
                    kind = "TOOL"
                } else if model != nil, tokens.isEmpty == false || a["gen_ai.system"] != nil || a["gen_ai.provider.name"] != nil || a["llm.model_name"] != nil
                    || a["gen_ai.request.model"] != nil || a["gen_ai.response.model"] != nil
                {
                    kind = "LLM"
                } else if a["gen_ai.agent.name"] != nil || a["agent.name"] != nil {
                    kind = "AGENT"
                }
            }
            if let kind {
                a["inference.observation_kind"] = .string(kind)
                set("openinference.span.kind", .string(kind == "SPAN" ? "CHAIN" : kind))
            }
        }
        let kind = a["inference.observation_kind"]?.stringValue
        if kind == "LLM" || a["inference.llm.model_name"] != nil { set("inference.llm.model_name", model) }
        set("inference.llm.input_tokens", firstTokens(inputTokenKeys))
        set("inference.llm.output_tokens", firstTokens(outputTokenKeys))
        set("inference.llm.cached_input_tokens", firstTokens(cachedTokenKeys))
        set("inference.llm.reasoning_output_tokens", firstTokens(reasoningTokenKeys))
        set("inference.agent_name", agentName)
        set("inference.agent_id", firstString(["gen_ai.agent.id"]))
        if kind == "TOOL" {
            set("tool.name", toolName)
            set("input.value", a["gen_ai.tool.call.arguments"])
            set("output.value", a["gen_ai.tool.call.result"])
        }
        if kind == "TOOL" || kind == "LLM", span.status.code == "STATUS_CODE_UNSET", let et = a["error.type"]?.stringValue, !et.isEmpty {
            span.status = .error(et)
        }
        span.attributes = a
    }

    static func error(_ span: Span, _ path: String, _ line: Int, _ key: String, _ message: String) -> OTLPDecodingError {
        OTLPDecodingError(
            line: line, field: "\(path).attributes[\"\(key)\"]",
            message: "\(message) (span \"\(span.name.prefix(80))\" spanId \(span.spanID.prefix(40)))")
    }
}
