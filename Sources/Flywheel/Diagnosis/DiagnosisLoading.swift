import FlywheelSupport
import FlywheelTraces
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Fast loading of spans for diagnosis: straight from a `TraceStore`'s memory-mapped lines, in parallel per trace,
/// leaving out the attributes diagnosis never reads (the prompt messages sent to the model and the flat per-message
/// projections), which are most of a trace file's bytes. A store scanned with ``scanOptions`` kept the places of the
/// values diagnosis reads, and only those bytes are decoded; any other store's lines are read whole.
enum DiagnosisLoading {
    /// The attributes diagnosis reads; every other attribute (prompt messages, flat per-message copies, model
    /// parameters, …) is skipped without being decoded.
    static let wanted = Set<String>([
        "openinference.span.kind", "inference.observation_kind", "tool.name", "agent.tools", "agent.stop_reason", "agent.outcome",
        "agent.final_output", "error.type", "exception.type", "exception.message", "error.message", "llm.finish_reason",
        "gen_ai.response.finish_reason", "gen_ai.response.finish_reasons", "inference.llm.input_tokens", "inference.llm.output_tokens",
        "llm.token_count.prompt", "llm.token_count.completion", "agent.handoff.from", "agent.handoff.to", "inference.agent_name",
        "guardrail.name", "guardrail.triggered",
    ] + Diagnoser.contextWindowKeys + Diagnoser.taskKeys)

    /// Large text attributes decoded only on the spans that need them: `input.value` (tool spans), `output.value`
    /// (agent spans and failed spans) and `llm.output_messages` (model spans).
    static let lazy: Set<String> = ["input.value", "output.value", "llm.output_messages"]

    /// The wanted and lazy keys in a fixed order: the attributes a store built with ``scanOptions`` keeps the places
    /// of, so spans are read from those places alone instead of scanning each line a second time.
    static let keptKeys: [String] = wanted.union(lazy).sorted()

    /// The attributes whose every use in diagnosis reads the span's record instead (its kind, its token counts):
    /// a lean span (``spanAndRecord(_:kept:traceID:spanID:parentID:lazyOutput:lean:)``) leaves them out of its
    /// attributes, except the token counts of a span that states its context window (`Diagnoser.checkTruncation`
    /// reads them there). Most spans then keep two or three attributes instead of seven or eight.
    static let recordOnly = Set(["openinference.span.kind", "inference.observation_kind"] + tokenKeys)
    /// The token counts in the order of ``SpanRecord/TokenValues``' members (input, prompt, output, completion).
    static let tokenKeys = ["inference.llm.input_tokens", "llm.token_count.prompt", "inference.llm.output_tokens", "llm.token_count.completion"]

    /// What `spanAndRecord` does with kept attribute `i`, one byte per key (read once per span: each static read in
    /// the loop over a span's places was a `swift_once` check and a retain): ``Role``.
    static let keptRoles: [UInt8] = keptKeys.map { key in
        var r: UInt8 = 0
        if lazy.contains(key) { r |= Role.lazy }
        if recordOnly.contains(key) { r |= Role.recordOnly }
        if key == "openinference.span.kind" { r |= Role.spanKind }
        if key == "inference.observation_kind" { r |= Role.observationKind }
        if let t = tokenKeys.firstIndex(of: key) { r |= UInt8(t + 1) << Role.tokenShift }
        return r
    }

    enum Role {
        static let lazy: UInt8 = 1, recordOnly: UInt8 = 2, spanKind: UInt8 = 4, observationKind: UInt8 = 8
        /// Bits 4–6: 1 + the index in ``tokenKeys`` (0: not a token count).
        static let tokenShift: UInt8 = 4
    }

    /// Makes `span` (described by `record`) lean: leaves out of its attributes what ``recordOnly`` names (the token
    /// counts kept where the span states its context window), and its start and end time texts where the record
    /// holds them exactly (``SpanRecord/startOrdered``: `TraceTime.format` of the nanoseconds gives the text back;
    /// ``SpanRecord/startText(_:)``).
    static func makeLean(_ span: inout Span, _ record: SpanRecord) {
        let keepTokens = record.has(SpanRecord.contextWindow)
        for key in recordOnly where !(keepTokens && tokenKeys.contains(key)) { span.attributes[key] = nil }
        if record.startOrdered { span.startTime = "" }
        if record.endOrdered { span.endTime = "" }
    }

    /// A start or end time at the scanner: its text, its nanoseconds and whether they order as the text. A lean
    /// span's canonical time (a plain 30-byte string) is read from its bytes, without making the text (`""`).
    @inline(__always) static func timeValue(_ sc: inout JSONScanner, lean: Bool) throws -> (text: String, time: (nanos: Int64, ordered: Bool)) {
        sc.skipWhitespace()
        let p = sc.pos
        if lean, sc.end - p >= 32, sc.base[p] == UInt8(ascii: "\""), sc.base[p + 31] == UInt8(ascii: "\"") {
            let raw = UnsafeBufferPointer(start: sc.base + p + 1, count: 30)
            if !raw.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") }), let ns = TraceTime.nanoseconds(lenientUTF8: raw),
                SpanRecord.isCanonical(raw)
            {
                sc.pos = p + 32
                return ("", (ns, true))
            }
        }
        let text = try stringValue(&sc)
        return (text, SpanRecord.time(text))
    }

    /// Validation options (the defaults) under which the scan keeps the places of what diagnosis reads.
    static var scanOptions: TraceValidationOptions {
        var o = TraceValidationOptions()
        o.keptAttributes = keptKeys
        return o
    }

    /// One span from the places its scan kept (``IndexedTrace/keptFields``, in line order): the same span as
    /// ``span(_:traceID:spanID:parentID:)`` gives for the line, without reading the bytes between those places.
    static func span(_ line: UnsafeRawBufferPointer, kept: [KeptField], traceID: String, spanID: String, parentID: String) throws -> Span {
        try kept.withUnsafeBufferPointer { try spanAndRecord(line, kept: $0, traceID: traceID, spanID: spanID, parentID: parentID).span }
    }

    /// ``span(_:kept:traceID:spanID:parentID:)`` with its ``SpanRecord``, whose attribute bits are set as the
    /// attributes are read (no key is hashed twice).
    /// - Parameter lazyOutput: leave out a model span's `llm.output_messages` when its text cannot hold what
    ///   `Diagnoser.checkTruncation` looks for in it (``mayHoldFinishReason(_:)``); its place is returned as `pending`.
    static func spanAndRecord(
        _ line: UnsafeRawBufferPointer, kept: UnsafeBufferPointer<KeptField>, traceID: String, spanID: String, parentID: String, lazyOutput: Bool = false,
        lean: Bool = false
    ) throws -> (span: Span, record: SpanRecord, pending: Range<Int>?) {
        var present: UInt64 = 0
        var name = "", kind = "", start = "", end = "", traceState = ""
        var startTime: (nanos: Int64, ordered: Bool) = (SpanRecord.noTime, false), endTime = startTime
        var code: String?, message: String?
        let keys = keptKeys, roles = keptRoles
        // Sized once for the attributes the span may keep (growing from empty reallocated and rehashed 3–4 times; a
        // fixed size was twice what a lean span needs).
        var size = 0
        for f in kept {
            let i = Int(f.field)
            if i >= 0, i < keys.count, !(lean && roles[i] & Role.recordOnly != 0) { size += 1 }
        }
        var attributes = [String: JSONValue](minimumCapacity: size)
        var deferred: [(key: String, bit: UInt64, from: Int, to: Int)] = []
        var tokens = SpanRecord.TokenValues()
        // The values the kind is read from (the last of repeated keys, as in the attributes).
        var spanKind: JSONValue?, observationKind: JSONValue?
        // One scanner over the line, moved to each place (a value of the validated line ends where its place ends).
        var sc = JSONScanner(line)
        for f in kept {
            sc.pos = Int(f.from)
            switch f.field {
            case KeptField.name: name = try stringValue(&sc)
            case KeptField.kind: kind = try internedValue(&sc, spanKinds)
            case KeptField.startTime: (start, startTime) = try timeValue(&sc, lean: lean)
            case KeptField.endTime: (end, endTime) = try timeValue(&sc, lean: lean)
            case KeptField.traceState: traceState = try stringValue(&sc)
            case KeptField.status:
                code = nil
                message = nil
            case KeptField.statusCode:
                sc.skipWhitespace()
                code = !sc.atEnd && sc.peek() == UInt8(ascii: "\"") ? try internedValue(&sc, statusCodes) : try sc.parseValue().stringValue
            case KeptField.statusMessage: message = try sc.parseValue().stringValue
            default:
                let i = Int(f.field)
                guard i >= 0, i < keys.count else { continue }
                let role = roles[i]
                if role & Role.lazy != 0 {
                    deferred.append((keys[i], 1 << UInt64(i), Int(f.from), Int(f.to)))
                } else {
                    let value = try sc.parseValue()
                    present |= 1 << UInt64(i)
                    // The kind and token counts go into the record as they are read (a repeated key: the last wins,
                    // as in the attributes).
                    if role & ~(Role.lazy | Role.recordOnly) != 0 {
                        tokens.set(Int(role >> Role.tokenShift), value)
                        if role & Role.spanKind != 0 { spanKind = value } else if role & Role.observationKind != 0 { observationKind = value }
                    }
                    if !(lean && role & Role.recordOnly != 0) { attributes[keys[i]] = value }
                }
            }
        }
        let status = SpanStatus(code: code ?? "STATUS_CODE_UNSET", message: message ?? "")
        // The kind reads only non-lazy attributes: it is the same before and after the lazy ones are added, which
        // are added before the span is made (added after, they copied its attribute dictionary).
        let observed = Span.observationKindForDiagnosis(name: name, spanKind: spanKind, observationKind: observationKind)
        let isError = status.code == "STATUS_CODE_ERROR"
        let pending = try addDeferred(deferred, line, to: &attributes, kind: observed, isError: isError, lazyOutput: lazyOutput)
        for d in deferred where attributes[d.key] != nil { present |= d.bit }
        // A lean span that states its context window keeps its token counts (what `checkTruncation` reads there).
        if lean, present & SpanRecord.contextWindow != 0 {
            for (key, value) in zip(tokenKeys, [tokens.input, tokens.prompt, tokens.output, tokens.completion]) where value != nil {
                attributes[key] = value
            }
        }
        let result = Span(
            traceID: traceID, spanID: spanID, parentSpanID: parentID, traceState: traceState, name: name, kind: kind, startTime: start,
            endTime: end, status: status, scope: SpanScope(name: ""), attributes: attributes)
        return (result, SpanRecord(kind: observed, isError: isError, present: present, start: startTime, end: endTime, tokens: tokens), pending)
    }

    /// Decodes the lazy attributes `deferred` (places in `line`) that diagnosis reads on this kind of span: the model's
    /// output messages of a model span, the arguments of a tool span, the output of an agent span (its answer) or of a
    /// failed span (its error). A tool's output when it succeeded, often its largest attribute, is never read.
    /// - Parameters: kind: the span's `observationKindForDiagnosis`; isError: whether it failed.
    /// - Parameter lazyOutput: a model span's output messages that ``mayHoldFinishReason(_:)`` rules out are left
    ///   out, and their place returned (``decodeLastAnswers(_:_:_:pending:line:)`` decodes those a trace's answer
    ///   needs).
    static func addDeferred(
        _ deferred: [(key: String, bit: UInt64, from: Int, to: Int)], _ line: UnsafeRawBufferPointer, to attributes: inout [String: JSONValue], kind observed: String,
        isError: Bool, lazyOutput: Bool = false
    ) throws -> Range<Int>? {
        guard !deferred.isEmpty else { return nil }
        var pending: Range<Int>?
        for d in deferred {
            let needed: Bool
            switch d.key {
            case "llm.output_messages": needed = observed == "LLM"
            case "input.value": needed = observed == "TOOL"
            default: needed = observed == "AGENT" || isError
            }
            guard needed else { continue }
            let raw = UnsafeRawBufferPointer(rebasing: line[d.from..<d.to])
            if lazyOutput, d.key == "llm.output_messages", !mayHoldFinishReason(raw) {
                // A repeated key: the last one wins, as when decoded.
                attributes["llm.output_messages"] = nil
                pending = d.from..<d.to
                continue
            }
            if d.key == "llm.output_messages" { pending = nil }
            var sub = JSONScanner(raw)
            attributes[d.key] = try sub.parseValue()
        }
        return pending
    }

    /// Whether the JSON value `raw` (a model span's `llm.output_messages`), decoded, may contain `finish_reason` (all
    /// that `Diagnoser.checkTruncation` looks for in it): false only when its bytes hold neither `finish_reason`
    /// nor a `\u` escape (outside an escape, each of those letters is its own byte; `\_` is no JSON escape).
    static func mayHoldFinishReason(_ raw: UnsafeRawBufferPointer) -> Bool {
        guard let p = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return false }
        let n = raw.count
        var i = 0
        while i < n {
            let c = p[i]
            if c == UInt8(ascii: "\\") {
                if i + 1 < n, p[i + 1] == UInt8(ascii: "u") { return true }
                i += 2
                continue
            }
            if c == UInt8(ascii: "_"), i >= 6, i + 7 <= n, memcmp(p + i - 6, "finish_reason", 13) == 0 { return true }
            i += 1
        }
        return false
    }

    /// Decodes the output messages left out of model spans (`pending[i]`, a place in span `i`'s line) that
    /// `Diagnoser.lastAssistantMessage` reads: model spans from the last to end back, up to the first whose
    /// messages parse and hold an assistant message (where it stops). A span before that one is never read for its
    /// messages, so the diagnosis is the same as with every span's messages decoded.
    static func decodeLastAnswers(
        _ spans: inout [Span], _ records: inout [SpanRecord], pending: [Range<Int>?], line: (Int, (UnsafeRawBufferPointer) throws -> Void) throws -> Void
    ) throws {
        let llm = spans.withUnsafeBufferPointer { s in
            records.withUnsafeBufferPointer { r in Diagnoser.endOrder(r.indices.filter { r[$0].kind == "LLM" }, s, r) }
        }
        for i in llm.reversed() {
            if let place = pending[i] {
                var value: JSONValue?
                try line(i) { l in
                    var sc = JSONScanner(UnsafeRawBufferPointer(rebasing: l[place]))
                    value = try sc.parseValue()
                }
                spans[i].attributes["llm.output_messages"] = value
                records[i].present |= SpanRecord.outputMessages
            }
            guard let text = spans[i].attributes["llm.output_messages"]?.stringValue, let messages = parseJSON(text)?.arrayValue else { continue }
            if messages.contains(where: { $0["role"]?.stringValue == "assistant" }) { return }
        }
    }

    /// One span from its JSONL line with only the attributes diagnosis reads. Falls back to the full decoder on
    /// anything unusual (the line was validated when the store was built).
    /// - Parameters: knownTraceID, knownSpanID, knownParentID: the values of those keys as the store's scan decoded
    ///   them (the same parser, the last of repeated keys winning), shared instead of decoded again.
    static func span(
        _ line: UnsafeRawBufferPointer, traceID knownTraceID: String? = nil, spanID knownSpanID: String? = nil, parentID knownParentID: String? = nil
    ) throws -> Span {
        try spanAndPending(line, traceID: knownTraceID, spanID: knownSpanID, parentID: knownParentID).span
    }

    /// ``span(_:traceID:spanID:parentID:)``; with `lazyOutput`, a model span's output messages are left out as by
    /// ``spanAndRecord(_:kept:traceID:spanID:parentID:lazyOutput:)`` (their place is `pending`).
    static func spanAndPending(
        _ line: UnsafeRawBufferPointer, traceID knownTraceID: String? = nil, spanID knownSpanID: String? = nil, parentID knownParentID: String? = nil,
        lazyOutput: Bool = false
    ) throws -> (span: Span, pending: Range<Int>?) {
        var sc = JSONScanner(line)
        sc.skipWhitespace()
        guard !sc.atEnd, sc.peek() == UInt8(ascii: "{") else { return (try Span(line: line), nil) }
        sc.pos += 1
        var traceID = "", spanID = "", parent = "", traceState = "", name = "", kind = ""
        var start = "", end = ""
        var status = SpanStatus.unset
        // Sized once for the wanted attributes a span usually has (growing from empty reallocated and rehashed 3–4 times).
        var attributes = [String: JSONValue](minimumCapacity: 12)
        var deferred: [(key: String, bit: UInt64, from: Int, to: Int)] = []
        sc.skipWhitespace()
        if !sc.atEnd, sc.peek() == UInt8(ascii: "}") { return (try Span(line: line), nil) }
        /// The id the scan already decoded (the value is skipped), else the value read here.
        func known(_ id: String?) throws -> String {
            guard let id else { return try stringValue(&sc) }
            try sc.skipValidatedValue()
            return id
        }
        while true {
            sc.skipWhitespace()
            guard !sc.atEnd, sc.peek() == UInt8(ascii: "\"") else { return (try Span(line: line), nil) }
            let key = try sc.parseString()
            try sc.expectColon()
            switch key {
            // The store's ids are these very values, already decoded: share their strings.
            case "trace_id": traceID = try known(knownTraceID)
            case "span_id": spanID = try known(knownSpanID)
            case "parent_span_id": parent = try known(knownParentID)
            case "trace_state": traceState = try stringValue(&sc)
            case "name": name = try stringValue(&sc)
            case "kind": kind = try internedValue(&sc, spanKinds)
            case "start_time": start = try stringValue(&sc)
            case "end_time": end = try stringValue(&sc)
            case "status":
                status = try statusValue(&sc)
            case "attributes":
                sc.skipWhitespace()
                guard !sc.atEnd, sc.peek() == UInt8(ascii: "{") else {
                    try sc.skipValidatedValue()
                    break
                }
                sc.pos += 1
                sc.skipWhitespace()
                if !sc.atEnd, sc.peek() == UInt8(ascii: "}") {
                    sc.pos += 1
                    break
                }
                while true {
                    sc.skipWhitespace()
                    // Most keys are neither wanted nor lazy: they are matched on their raw bytes, without a String.
                    let k: String?
                    var isWanted = false, isLazy = false
                    switch try rawKey(&sc) {
                    case .skip: k = nil
                    case .known(let name, let w):
                        k = name
                        isWanted = w
                        isLazy = !w
                    case .escaped:
                        let name = try sc.parseString()
                        k = name
                        isWanted = wanted.contains(name)
                        isLazy = !isWanted && lazy.contains(name)
                    }
                    try sc.expectColon()
                    if let k, isWanted {
                        attributes[k] = try sc.parseValue()
                    } else if let k, isLazy {
                        sc.skipWhitespace()
                        let from = sc.pos
                        try sc.skipValidatedValue()
                        deferred.append((k, SpanRecord.bit(k), from, sc.pos))
                    } else {
                        try sc.skipValidatedValue()
                    }
                    sc.skipWhitespace()
                    guard !sc.atEnd else { return (try Span(line: line), nil) }
                    let c = sc.peek()
                    sc.pos += 1
                    if c == UInt8(ascii: ",") { continue }
                    if c == UInt8(ascii: "}") { break }
                    return (try Span(line: line), nil)
                }
            default:
                try sc.skipValidatedValue()  // resource, scope and extra keys are not read by diagnosis
            }
            sc.skipWhitespace()
            guard !sc.atEnd else { return (try Span(line: line), nil) }
            let c = sc.peek()
            sc.pos += 1
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "}") { break }
            return (try Span(line: line), nil)
        }
        let observed = Span.observationKindForDiagnosis(name: name, attributes: attributes)
        let pending = try addDeferred(deferred, line, to: &attributes, kind: observed, isError: status.code == "STATUS_CODE_ERROR", lazyOutput: lazyOutput)
        let result = Span(
            traceID: traceID, spanID: spanID, parentSpanID: parent, traceState: traceState, name: name, kind: kind, startTime: start,
            endTime: end, status: status, scope: SpanScope(name: ""), attributes: attributes)
        return (result, pending)
    }

    enum RawKey {
        /// Neither wanted nor lazy (the scanner is past the key).
        case skip
        /// A wanted (`true`) or lazy (`false`) key (the scanner is past the key).
        case known(String, wanted: Bool)
        /// The key has escapes: the scanner is still at its opening quote (parse it as a string).
        case escaped
    }

    /// The wanted and lazy keys by a hash of their bytes.
    static let keyTable: [UInt64: [(bytes: [UInt8], name: String, wanted: Bool)]] = {
        var t: [UInt64: [(bytes: [UInt8], name: String, wanted: Bool)]] = [:]
        for k in wanted.union(lazy) {
            let b = Array(k.utf8)
            let h = b.withUnsafeBufferPointer { keyHash($0.baseAddress!, $0.count) }
            t[h, default: []].append((b, k, wanted.contains(k)))
        }
        return t
    }()
    /// `keyLengths[n]`: some wanted or lazy key is `n` bytes long (most keys are ruled out by their length alone).
    static let keyLengths: [Bool] = {
        var t = [Bool](repeating: false, count: 256)
        for k in wanted.union(lazy) where k.utf8.count < 256 { t[k.utf8.count] = true }
        return t
    }()

    @inline(__always) static func keyHash(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 { bytesHash(p, n) }

    /// Reads an object key at the scanner (which is at its opening quote) and says whether diagnosis reads it.
    static func rawKey(_ sc: inout JSONScanner) throws -> RawKey {
        guard !sc.atEnd, sc.peek() == UInt8(ascii: "\"") else { throw sc.fail("expected a string key") }
        let open = sc.pos
        sc.pos += 1
        let start = sc.pos
        guard try sc.scanPlain() == UInt8(ascii: "\"") else {
            sc.pos = open
            return .escaped
        }
        let n = sc.pos - start
        let p = sc.base + start
        sc.pos += 1
        guard n < 256, keyLengths[n], let candidates = keyTable[keyHash(p, n)] else { return .skip }
        for c in candidates where c.bytes.count == n && memcmp(c.bytes, p, n) == 0 { return .known(c.name, wanted: c.wanted) }
        return .skip
    }

    /// What `SpanStatus(code: v["code"]?.stringValue ?? "STATUS_CODE_UNSET", message: v["message"]?.stringValue ?? "")`
    /// gives for the status value `v`, read without building it (the last of repeated keys wins, as when decoded).
    static func statusValue(_ sc: inout JSONScanner) throws -> SpanStatus {
        sc.skipWhitespace()
        guard !sc.atEnd, sc.peek() == UInt8(ascii: "{") else {
            try sc.skipValidatedValue()
            return SpanStatus(code: "STATUS_CODE_UNSET", message: "")
        }
        var code: String?, message: String?
        sc.pos += 1
        sc.skipWhitespace()
        if !sc.atEnd, sc.peek() == UInt8(ascii: "}") {
            sc.pos += 1
        } else {
            while true {
                sc.skipWhitespace()
                let key = try sc.parseString()
                try sc.expectColon()
                sc.skipWhitespace()
                if key == "code" {
                    code = !sc.atEnd && sc.peek() == UInt8(ascii: "\"") ? try internedValue(&sc, statusCodes) : try sc.parseValue().stringValue
                } else if key == "message" {
                    message = try sc.parseValue().stringValue
                } else {
                    try sc.skipValidatedValue()
                }
                sc.skipWhitespace()
                guard !sc.atEnd else { throw sc.fail("unexpected end of input inside an object (truncated JSON)") }
                let c = sc.peek()
                sc.pos += 1
                if c == UInt8(ascii: ",") { continue }
                if c == UInt8(ascii: "}") { break }
                throw sc.fail("expected ',' or '}' in an object", at: sc.pos - 1)
            }
        }
        return SpanStatus(code: code ?? "STATUS_CODE_UNSET", message: message ?? "")
    }

    /// The values of `kind` and `status.code` a span almost always has, shared instead of allocated per span.
    static let spanKinds: [(bytes: [UInt8], value: String)] = [
        "SPAN_KIND_INTERNAL", "SPAN_KIND_CLIENT", "SPAN_KIND_SERVER", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER", "SPAN_KIND_UNSPECIFIED",
    ].map { (Array("\"\($0)\"".utf8), $0) }
    static let statusCodes: [(bytes: [UInt8], value: String)] = ["STATUS_CODE_OK", "STATUS_CODE_ERROR", "STATUS_CODE_UNSET"]
        .map { (Array("\"\($0)\"".utf8), $0) }

    /// ``stringValue(_:)``, returning the shared string when the raw value is one of `table` (quotes included).
    @inline(__always) static func internedValue(_ sc: inout JSONScanner, _ table: [(bytes: [UInt8], value: String)]) throws -> String {
        sc.skipWhitespace()
        let rest = sc.end - sc.pos
        for t in table where t.bytes.count <= rest && memcmp(t.bytes, sc.base + sc.pos, t.bytes.count) == 0 {
            sc.pos += t.bytes.count
            return t.value
        }
        return try stringValue(&sc)
    }

    @inline(__always) static func stringValue(_ sc: inout JSONScanner) throws -> String {
        sc.skipWhitespace()
        if !sc.atEnd, sc.peek() == UInt8(ascii: "\"") { return try sc.parseString() }
        return try sc.parseValue().stringValue ?? ""
    }

    /// Every trace of the store with its spans (file order), decoded in parallel.
    static func traces(_ store: TraceStore) throws -> [(id: String, spans: [Span])] {
        try tracesAndRecords(store).traces
    }

    /// ``traces(_:)`` with each span's ``SpanRecord`` (`records[t][i]` describes span `i` of trace `t`).
    /// - Parameter lean: leave out of the spans' attributes what their records hold (``recordOnly``): for the
    ///   detectors, which read those from the records.
    static func tracesAndRecords(_ store: TraceStore, lean: Bool = false) throws -> (traces: [(id: String, spans: [Span])], records: [[SpanRecord]]) {
        let traces = store.traces
        let n = traces.count
        guard n > 0 else { return ([], []) }
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8))
        let chunk = (n + workers * 4 - 1) / (workers * 4)
        let chunks = (n + chunk - 1) / chunk
        let useKept = store.keptAttributes == keptKeys
        nonisolated(unsafe) var parts = [([(id: String, spans: [Span])], [[SpanRecord]])?](repeating: nil, count: chunks)
        nonisolated(unsafe) var failure: (any Error)?
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            var out: [(id: String, spans: [Span])] = []
            var outRecords: [[SpanRecord]] = []
            do {
                for t in traces[(c * chunk)..<min(n, (c + 1) * chunk)] {
                    var spans: [Span] = []
                    spans.reserveCapacity(t.spanCount)
                    var records: [SpanRecord] = []
                    records.reserveCapacity(t.spanCount)
                    // The places the scan kept when it was asked for exactly these keys; else each line is read whole.
                    let useTrace = useKept && t.keptEnds.count == t.spanCount
                    var pending = [Range<Int>?](repeating: nil, count: t.spanCount)
                    var anyPending = false
                    // The trace's file bytes once, its lines cut from them (a `withLine` call per span cost a closure
                    // and a `Data.withUnsafeBytes` each).
                    try store.withSourceBytes(t) { bytes in
                        try t.keptPlaces.withUnsafeBufferPointer { places in
                            for i in 0..<t.spanCount {
                                let line = UnsafeRawBufferPointer(rebasing: bytes[t.offsets[i]..<(t.offsets[i] + t.lengths[i])])
                                let (s, r, p) = try {
                                    if useTrace {
                                        let range = t.keptRange(i)
                                        if !range.isEmpty {
                                            return try spanAndRecord(
                                                line, kept: UnsafeBufferPointer(rebasing: places[range]), traceID: t.traceID, spanID: t.spanIDs[i],
                                                parentID: t.parentIDs[i], lazyOutput: true, lean: lean)
                                        }
                                    }
                                    var (s, p) = try spanAndPending(line, traceID: t.traceID, spanID: t.spanIDs[i], parentID: t.parentIDs[i], lazyOutput: true)
                                    let r = SpanRecord(s)
                                    if lean { makeLean(&s, r) }
                                    return (s, r, p)
                                }()
                                spans.append(s)
                                records.append(r)
                                if let p {
                                    pending[i] = p
                                    anyPending = true
                                }
                            }
                        }
                    }
                    if anyPending {
                        try decodeLastAnswers(&spans, &records, pending: pending) { i, body in try store.withLine(t, i, body) }
                    }
                    out.append((t.traceID, spans))
                    outRecords.append(records)
                }
                lock.lock()
                parts[c] = (out, outRecords)
                lock.unlock()
            } catch {
                lock.lock()
                failure = error
                lock.unlock()
            }
        }
        if let failure { throw failure }
        return (parts.flatMap { $0?.0 ?? [] }, parts.flatMap { $0?.1 ?? [] })
    }

    /// Frees the spans of `traces` on all cores (freeing every span's strings and dictionaries was serial time at the
    /// end of each diagnosis).
    static func release(_ traces: inout [(id: String, spans: [Span])]) {
        let n = traces.count
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8))
        guard n >= 64, workers > 1 else {
            traces = []
            return
        }
        traces.withUnsafeMutableBufferPointer { buf in
            nonisolated(unsafe) let b = buf
            let chunks = workers * 4
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                for i in (n * c / chunks)..<(n * (c + 1) / chunks) { b[i].spans = [] }
            }
        }
        traces = []
    }

    /// Whether `hay` contains the bytes of `needle`. The bytes are found by the needle's second byte (`memchr`),
    /// not its first: the needles are JSON texts that open with a quote, and model output has a quote every few
    /// bytes, each one a `memcmp`.
    static func contains(_ hay: String, _ needle: StaticString) -> Bool {
        var h = hay
        return h.withUTF8 { hb in
            needle.withUTF8Buffer { nb in
                guard nb.count > 0, hb.count >= nb.count, let hp = hb.baseAddress, let np = nb.baseAddress else { return false }
                let k = nb.count > 1 ? 1 : 0
                let anchor = Int32(np[k])
                var i = 0
                let last = hb.count - nb.count
                while i <= last {
                    guard let hit = memchr(hp + i + k, anchor, last - i + 1) else { return false }
                    let at = UnsafePointer<UInt8>(hit.assumingMemoryBound(to: UInt8.self)) - hp - k
                    if memcmp(hp + at, np, nb.count) == 0 { return true }
                    i = at + 1
                }
                return false
            }
        }
    }

    static let whitespace = CharacterSet.whitespacesAndNewlines

    /// `text.trimmingCharacters(in: .whitespacesAndNewlines)`, without Foundation's bridging when there is nothing
    /// to trim (the usual case: tool arguments of every tool span are trimmed).
    static func trimmed(_ text: String) -> String {
        // The usual case, decided on the first and last bytes: both ASCII and not white space (any other byte opens
        // or ends a scalar that is checked as before).
        if let first = text.utf8.first, let last = text.utf8.last, first < 0x80, last < 0x80, !isASCIISpace(first), !isASCIISpace(last) { return text }
        guard let first = text.unicodeScalars.first, let last = text.unicodeScalars.last else { return text }
        if !whitespace.contains(first) && !whitespace.contains(last) { return text }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Whether the ASCII byte `c` is in `whitespacesAndNewlines` (tab, line feed, vertical tab, form feed, carriage
    /// return, space).
    @inline(__always) static func isASCIISpace(_ c: UInt8) -> Bool { c == 0x20 || (c >= 0x09 && c <= 0x0D) }

    /// Whether `text.trimmingCharacters(in: .whitespacesAndNewlines)` is empty, without building it.
    static func isBlank(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { whitespace.contains($0) }
    }

    /// JSON text as diagnosis reads model output messages and tool lists: the byte scanner's value, nil when the
    /// text is not JSON or holds `NaN`/`Infinity` or a number too large for a Double (RFC 8259 JSON only, as
    /// Foundation's JSONDecoder read it before). A repeated key keeps the last value.
    static func parseJSON(_ text: String) -> JSONValue? {
        var t = text
        return t.withUTF8 { buf in
            var sc = JSONScanner(UnsafeRawBufferPointer(buf))
            guard let v = try? sc.parseDocument(), !sc.flags.nonstandardNumber, allFinite(v) else { return nil }
            return v
        }
    }

    static func allFinite(_ v: JSONValue) -> Bool {
        switch v {
        case .double(let d): return d.isFinite
        case .array(let a): return a.allSatisfy(allFinite)
        case .object(let o): return o.values.allSatisfy(allFinite)
        default: return true
        }
    }

    /// Whether `text` is one valid JSON value.
    static func isValidJSON(_ text: String) -> Bool {
        var t = text
        return t.withUTF8 { buf in
            var sc = JSONScanner(UnsafeRawBufferPointer(buf))
            do {
                try sc.skipValue()
                sc.skipWhitespace()
                return sc.atEnd
            } catch { return false }
        }
    }
}
