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
    /// The span's start and end times in nanoseconds since 1970 (`TraceTime.nanoseconds(lenient:)`), parsed once
    /// while the span is read; ``noTime`` when the text is not such a time.
    var startNanos: Int64
    var endNanos: Int64
    /// Whether the start (end) time text orders as its nanoseconds do: a canonical time
    /// `YYYY-MM-DDTHH:MM:SS.fffffffffZ` of a real date (so two such texts compare as strings as their
    /// nanoseconds compare as numbers, and are equal only when those are). Sorting by time compares the numbers
    /// when every span of the trace has this, else the texts.
    var startOrdered: Bool
    var endOrdered: Bool

    /// The span's input and output token counts as `Diagnoser.taskRunFigures` reads them
    /// (`inference.llm.input_tokens`, else `llm.token_count.prompt`; `inference.llm.output_tokens`, else
    /// `llm.token_count.completion`; each the first that is a number; both nil when the span has none of the first
    /// three), taken while the span is read.
    var inputTokens: Double?
    var outputTokens: Double?

    static let noTime = Int64.min

    @inline(__always) func has(_ bit: UInt64) -> Bool { present & bit != 0 }

    init(kind: String, isError: Bool, present: UInt64, startTime: String, endTime: String, tokens: TokenValues) {
        self.init(kind: kind, isError: isError, present: present, start: Self.time(startTime), end: Self.time(endTime), tokens: tokens)
    }

    /// - Parameters: start, end: ``time(_:)`` of the span's start and end texts.
    init(kind: String, isError: Bool, present: UInt64, start: (nanos: Int64, ordered: Bool), end: (nanos: Int64, ordered: Bool), tokens: TokenValues) {
        self.kind = kind
        self.isError = isError
        self.present = present
        (startNanos, startOrdered) = start
        (endNanos, endOrdered) = end
        // A span with none of the first three is not read for its counts (a completion count alone is not).
        if tokens.input != nil || tokens.prompt != nil || tokens.output != nil {
            inputTokens = tokens.input?.doubleValue ?? tokens.prompt?.doubleValue
            outputTokens = tokens.output?.doubleValue ?? tokens.completion?.doubleValue
        }
    }

    /// The values of the four token attributes a span has (nil: absent).
    struct TokenValues {
        var input: JSONValue?, prompt: JSONValue?, output: JSONValue?, completion: JSONValue?

        /// The value of ``DiagnosisLoading/tokenKeys`` `[slot - 1]` is `value` (slot 0: none of them).
        @inline(__always) mutating func set(_ slot: Int, _ value: JSONValue) {
            switch slot {
            case 1: input = value
            case 2: prompt = value
            case 3: output = value
            case 4: completion = value
            default: break
            }
        }

        init() {}

        init(_ attributes: [String: JSONValue], present: UInt64) {
            func value(_ bit: UInt64, _ key: String) -> JSONValue? { present & bit != 0 ? attributes[key] : nil }
            input = value(SpanRecord.inputTokens, "inference.llm.input_tokens")
            prompt = value(SpanRecord.promptTokens, "llm.token_count.prompt")
            output = value(SpanRecord.outputTokens, "inference.llm.output_tokens")
            completion = value(SpanRecord.completionTokens, "llm.token_count.completion")
        }
    }


    /// `TraceTime.nanoseconds(lenient:)` of `text` (``noTime`` for nil), and whether the text is a canonical time
    /// whose string order is the order of those nanoseconds.
    static func time(_ text: String) -> (nanos: Int64, ordered: Bool) {
        var t = text
        return t.withUTF8 { u in
            guard let ns = TraceTime.nanoseconds(lenientUTF8: u) else { return (noTime, false) }
            return (ns, isCanonical(u))
        }
    }

    /// Whether `u` is `YYYY-MM-DDTHH:MM:SS.fffffffffZ` with a day that exists in its month and a second below 60 (the
    /// lenient parser's nanoseconds of such texts grow strictly with the text: no two texts share a value, and no
    /// later text has a smaller one). The caller checked that the lenient parser read it.
    static func isCanonical(_ u: UnsafeBufferPointer<UInt8>) -> Bool {
        guard u.count == 30, u[10] == UInt8(ascii: "T"), u[19] == UInt8(ascii: "."), u[29] == UInt8(ascii: "Z") else { return false }
        for i in 20..<29 where !(u[i] >= 0x30 && u[i] <= 0x39) { return false }
        func num(_ r: Range<Int>) -> Int { r.reduce(0) { $0 * 10 + Int(u[$1] - 0x30) } }
        let y = num(0..<4), m = num(5..<7), d = num(8..<10)
        guard num(17..<19) < 60 else { return false }
        let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
        let days = m == 2 ? (leap ? 29 : 28) : (m == 4 || m == 6 || m == 9 || m == 11) ? 30 : 31
        return d <= days
    }

    /// The start (end) time text of the span this record describes, also where a lean span left it out
    /// (`DiagnosisLoading.makeLean`: an ordered time is the canonical text of its nanoseconds).
    func startText(_ span: Span) -> String { startOrdered ? TraceTime.format(unixNanos: startNanos) : span.startTime }
    func endText(_ span: Span) -> String { endOrdered ? TraceTime.format(unixNanos: endNanos) : span.endTime }

    /// Seconds since 1970 of a time in nanoseconds (whole seconds and the fraction apart, as a Double cannot hold
    /// nanoseconds since 1970 exactly); nil for ``noTime``.
    static func seconds(_ nanos: Int64) -> Double? {
        nanos == noTime ? nil : Double(nanos / 1_000_000_000) + Double(nanos % 1_000_000_000) / 1e9
    }

    /// The record of any span (from spans given whole, e.g. `Diagnoser.diagnose(spans:)`).
    init(_ span: Span) {
        self.init(span, present: Self.presentBits(span.attributes))
    }

    /// The record of a span whose present attributes are already known.
    init(_ span: Span, present: UInt64) {
        self.init(
            kind: span.observationKindForDiagnosis(present: present), isError: span.isErrorSpan, present: present, startTime: span.startTime,
            endTime: span.endTime, tokens: TokenValues(span.attributes, present: present))
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
        observationKindForDiagnosis(
            name: name, spanKind: present & SpanRecord.spanKind != 0 ? attributes["openinference.span.kind"] : nil,
            observationKind: present & SpanRecord.observationKind != 0 ? attributes["inference.observation_kind"] : nil)
    }

    /// ``observationKindForDiagnosis`` of a span named `name` whose `openinference.span.kind` and
    /// `inference.observation_kind` attributes are these values (nil: absent).
    static func observationKindForDiagnosis(name: String, spanKind: JSONValue?, observationKind: JSONValue?) -> String {
        if let k = spanKind?.stringValue, !k.isEmpty { return Self.upper(k) }
        if let k = observationKind?.stringValue, !k.isEmpty { return Self.upper(k) }
        if name.hasPrefix("function.") { return "TOOL" }
        if name.hasPrefix("agent.") { return "AGENT" }
        if name.hasPrefix("generation.") || name.hasPrefix("response.") { return "LLM" }
        if name.hasPrefix("guardrail.") { return "GUARDRAIL" }
        return "CHAIN"
    }

    /// ``toolName(kind:)`` of the span `record` describes. Inlined: called on a span in a buffer (`spans[i]`), a
    /// function call took a copy of the whole span first (a retain and release of its every field).
    @inline(__always) func toolName(_ record: SpanRecord) -> String? { Self.toolName(name: name, attributes: attributes, record) }

    /// ``toolName(_:)`` of a span with this name and these attributes: what the detectors call with the two fields
    /// of a span in a buffer (each field read in place; a method called on `spans[i]` copied the whole span first,
    /// a retain and release of its every field).
    @inline(__always) static func toolName(name: String, attributes: [String: JSONValue], _ record: SpanRecord) -> String? {
        guard record.kind == "TOOL" else { return nil }
        if record.has(SpanRecord.toolName), let n = attributes["tool.name"]?.stringValue, !n.isEmpty { return n }
        return name.hasPrefix("function.") ? String(name.dropFirst("function.".count)) : name
    }

    /// ``inputValueText`` of the span `record` describes.
    @inline(__always) func inputValueText(_ record: SpanRecord) -> String? { Self.inputValueText(attributes, record) }

    /// ``inputValueText(_:)`` of a span with these attributes (see ``toolName(name:attributes:_:)``).
    @inline(__always) static func inputValueText(_ attributes: [String: JSONValue], _ record: SpanRecord) -> String? {
        record.has(SpanRecord.inputValue) ? attributes["input.value"]?.stringValue : nil
    }
}
