import FlywheelSupport
import FlywheelTraces
import Foundation

/// What the detectors ask of every span, worked out once while the span is built: its kind, whether it failed, and
/// which of the attributes diagnosis reads it has (one bit per ``DiagnosisLoading/keptKeys`` entry). The detectors
/// test these bits before looking an attribute up by its key, so the many spans without a given attribute cost no
/// string hashing; the attribute values themselves are still read from the span (`Span.attributes`).
struct SpanRecord: Sendable, Equatable {
    /// `Span.observationKindForDiagnosis`.
    var kind: String
    /// `Span.isErrorSpan`.
    var isError: Bool
    /// Bit `i` is set when `attributes[DiagnosisLoading.keptKeys[i]] != nil`.
    var present: UInt64

    @inline(__always) func has(_ bit: UInt64) -> Bool { present & bit != 0 }

    init(kind: String, isError: Bool, present: UInt64) {
        self.kind = kind
        self.isError = isError
        self.present = present
    }

    /// The record of any span (from spans given whole, e.g. `Diagnoser.diagnose(spans:)`).
    init(_ span: Span) {
        self.init(span, present: Self.presentBits(span.attributes))
    }

    /// The record of a span whose present attributes are already known.
    init(_ span: Span, present: UInt64) {
        kind = span.observationKindForDiagnosis(present: present)
        isError = span.isErrorSpan
        self.present = present
    }

    /// The bits of the kept keys among `attributes`' keys.
    static func presentBits(_ attributes: [String: JSONValue]) -> UInt64 {
        var bits: UInt64 = 0
        if attributes.count <= DiagnosisLoading.keptKeys.count {
            for key in attributes.keys { if let i = index[key] { bits |= 1 << UInt64(i) } }
        } else {
            for (i, key) in DiagnosisLoading.keptKeys.enumerated() where attributes[key] != nil { bits |= 1 << UInt64(i) }
        }
        return bits
    }

    static let index: [String: Int] = Dictionary(uniqueKeysWithValues: DiagnosisLoading.keptKeys.enumerated().map { ($1, $0) })

    /// The bit of a kept key (every key the detectors test is kept: checked when the table is built).
    static func bit(_ key: String) -> UInt64 {
        guard let i = index[key] else { preconditionFailure("\(key) is not kept for diagnosis") }
        return 1 << UInt64(i)
    }

    static func bits(_ keys: [String]) -> UInt64 { keys.reduce(0) { $0 | bit($1) } }

    static let spanKind = bit("openinference.span.kind"), observationKind = bit("inference.observation_kind")
    static let toolName = bit("tool.name"), agentTools = bit("agent.tools")
    static let inputValue = bit("input.value"), outputValue = bit("output.value"), outputMessages = bit("llm.output_messages")
    static let errorType = bit("error.type")
    static let stopReason = bit("agent.stop_reason"), outcome = bit("agent.outcome")
    static let handoffTo = bit("agent.handoff.to")
    static let guardrailName = bit("guardrail.name"), guardrailTriggered = bit("guardrail.triggered")
    static let finishReason = bit("llm.finish_reason"), genAIFinishReason = bit("gen_ai.response.finish_reason")
    static let genAIFinishReasons = bit("gen_ai.response.finish_reasons"), contextWindow = bits(Diagnoser.contextWindowKeys)
    /// What `Diagnoser.checkTruncation` reads.
    static let truncation = bits(
        ["llm.finish_reason", "gen_ai.response.finish_reason", "gen_ai.response.finish_reasons", "llm.output_messages"] + Diagnoser.contextWindowKeys)
    /// The token counts `Diagnoser.taskRunFigures` adds up.
    static let tokens = bits(["inference.llm.input_tokens", "llm.token_count.prompt", "inference.llm.output_tokens"])
    static let inputTokens = bit("inference.llm.input_tokens"), promptTokens = bit("llm.token_count.prompt")
    static let outputTokens = bit("inference.llm.output_tokens"), completionTokens = bit("llm.token_count.completion")
    static let task = bits(Diagnoser.taskKeys)
}

extension Span {
    /// ``observationKindForDiagnosis`` of a span whose present kept attributes are `present` (no lookup of an
    /// attribute that is not there).
    func observationKindForDiagnosis(present: UInt64) -> String {
        Self.observationKindForDiagnosis(name: name, attributes: attributes, present: present)
    }

    /// ``observationKindForDiagnosis`` of a span named `name` with `attributes`, before the span is made (of its
    /// attributes, only the present kept ones, `present`, are looked up).
    static func observationKindForDiagnosis(name: String, attributes: [String: JSONValue], present: UInt64 = ~0) -> String {
        if present & SpanRecord.spanKind != 0, let k = attributes["openinference.span.kind"]?.stringValue, !k.isEmpty { return Self.upper(k) }
        if present & SpanRecord.observationKind != 0, let k = attributes["inference.observation_kind"]?.stringValue, !k.isEmpty { return Self.upper(k) }
        if name.hasPrefix("function.") { return "TOOL" }
        if name.hasPrefix("agent.") { return "AGENT" }
        if name.hasPrefix("generation.") || name.hasPrefix("response.") { return "LLM" }
        if name.hasPrefix("guardrail.") { return "GUARDRAIL" }
        return "CHAIN"
    }

    /// ``toolName(kind:)`` of the span `record` describes.
    func toolName(_ record: SpanRecord) -> String? {
        guard record.kind == "TOOL" else { return nil }
        if record.has(SpanRecord.toolName), let n = attributes["tool.name"]?.stringValue, !n.isEmpty { return n }
        return name.hasPrefix("function.") ? String(name.dropFirst("function.".count)) : name
    }

    /// ``inputValueText`` of the span `record` describes.
    func inputValueText(_ record: SpanRecord) -> String? {
        record.has(SpanRecord.inputValue) ? attributes["input.value"]?.stringValue : nil
    }
}
