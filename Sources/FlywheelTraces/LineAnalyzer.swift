import FlywheelSupport
import Foundation

/// Validates one JSONL line against HALO's span model and the spec checks, collecting the facts the index needs.
/// Only the fields HALO reads are materialized; everything else is validated and skipped.
final class LineAnalyzer {
    let file: String
    let options: TraceValidationOptions
    /// The attribute keys' hashes of the line being read (the duplicate-key check).
    var seenKeys = SeenKeys()
    /// The last trace id read from a plain string (no escapes): the next line's, when it has the same bytes, is
    /// this string again instead of a new one (spans of a trace are mostly on consecutive lines).
    var lastTraceID = ""
    /// Decoded bytes of keys that had escapes (rare); freed after each line.
    var escapedKeys: [UnsafeMutableBufferPointer<UInt8>] = []
    /// `options.keptAttributes` in an open-addressing table by ``Key/hash`` (the hash every attribute key gets
    /// for the duplicate check; a `Dictionary` lookup hashed each key a second time): `keptSlots[i]` is an index
    /// into the other three arrays or -1. `keptLengths[n]`: some kept key is `n` bytes long (rules most keys out).
    let keeps: Bool
    let keptSlots: [Int32]
    let keptHashes: [UInt64]
    let keptBytes: [[UInt8]]
    let keptIndices: [Int16]
    let keptLengths: [Bool]
    /// The places kept for the line last analyzed (``keptPlaces``), in one buffer reused from line to line: a
    /// per-span array was a heap allocation per line, and its box in the parser's closures cost exclusivity checks.
    /// Reached through a pointer, so writing a place costs no exclusivity check either.
    struct PlaceBuffer {
        var base: UnsafeMutablePointer<KeptField>
        var count: Int
        var capacity: Int
    }
    let places: UnsafeMutablePointer<PlaceBuffer>

    /// The kept places of the line last analyzed (valid until the next `analyze`); empty when nothing is kept or the
    /// line was too long to keep places for.
    var keptPlaces: UnsafeBufferPointer<KeptField> {
        UnsafeBufferPointer(start: places.pointee.base, count: places.pointee.count)
    }

    /// Adds a place to ``keptPlaces``.
    @inline(__always) func appendPlace(_ field: Int16, _ from: Int, _ to: Int) {
        let b = places
        if b.pointee.count == b.pointee.capacity {
            let bigger = UnsafeMutablePointer<KeptField>.allocate(capacity: b.pointee.capacity * 2)
            bigger.moveInitialize(from: b.pointee.base, count: b.pointee.count)
            b.pointee.base.deallocate()
            b.pointee.base = bigger
            b.pointee.capacity *= 2
        }
        (b.pointee.base + b.pointee.count).initialize(to: KeptField(field: field, from: Int32(truncatingIfNeeded: from), to: Int32(truncatingIfNeeded: to)))
        b.pointee.count += 1
    }

    init(file: String, options: TraceValidationOptions) {
        self.file = file
        self.options = options
        places = .allocate(capacity: 1)
        places.initialize(to: PlaceBuffer(base: .allocate(capacity: 64), count: 0, capacity: 64))
        let keys = options.keptAttributes.prefix(Int(Int16.max)).enumerated().filter { $0.element.utf8.count < 256 }
        var size = 16
        while size < keys.count * 4 { size *= 2 }
        var slots = [Int32](repeating: -1, count: size), hashes: [UInt64] = [], bytes: [[UInt8]] = [], indices: [Int16] = []
        var lengths = [Bool](repeating: false, count: 256)
        for (i, k) in keys {
            let b = Array(k.utf8)
            let h = b.withUnsafeBufferPointer { Key(bytes: $0).hash }
            var slot = Self.slot(h, size - 1)
            while slots[slot] >= 0 { slot = (slot + 1) & (size - 1) }
            slots[slot] = Int32(hashes.count)
            hashes.append(h)
            bytes.append(b)
            indices.append(Int16(i))
            lengths[b.count] = true
        }
        keeps = !keys.isEmpty
        keptSlots = slots
        keptHashes = hashes
        keptBytes = bytes
        keptIndices = indices
        keptLengths = lengths
    }

    @inline(__always) static func slot(_ h: UInt64, _ mask: Int) -> Int { Int(truncatingIfNeeded: h ^ (h >> 29) ^ (h >> 47)) & mask }

    /// The index in `options.keptAttributes` of an attribute key whose ``Key/hash`` is `h`, if it is one.
    @inline(__always) func keptField(_ key: Key, hash h: UInt64) -> Int16? {
        let n = key.bytes.count
        guard n < 256, keptLengths[n] else { return nil }
        let mask = keptSlots.count - 1
        var slot = Self.slot(h, mask)
        while true {
            let e = Int(keptSlots[slot])
            if e < 0 { return nil }
            if keptHashes[e] == h, keptBytes[e].count == n, n == 0 || keptBytes[e].withUnsafeBufferPointer({ bytesEqual($0.baseAddress!, key.bytes.baseAddress!, n) }) { return keptIndices[e] }
            slot = (slot + 1) & mask
        }
    }

    /// The interesting attribute values of one span.
    struct Attrs {
        var modelName: JSONValue?
        var llmModelName: JSONValue?
        var agentName: JSONValue?
        var agentID: JSONValue?
        var agentDotID: JSONValue?
        var inputTokens: JSONValue?
        var outputTokens: JSONValue?
        var projectID: JSONValue?
        var spanKind: JSONValue?
        var observationKind: JSONValue?
        var schemaVersion: JSONValue?
        var hasToolName = false
    }

    static let requiredBits = [0, 1, 4, 5, 6, 7, 8, 9, 10, 11]
    static let requiredTop: [String] = ["trace_id", "span_id", "name", "kind", "start_time", "end_time", "status", "resource", "scope", "attributes"]
    static let spanKinds: Set<String> = [
        "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER",
        "SPAN_KIND_CONSUMER",
    ]
    static let statusCodes: Set<String> = ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"]
    static let observationKinds: Set<String> = ["LLM", "TOOL", "AGENT", "CHAIN", "GUARDRAIL", "SPAN"]

    // The three sets above as comparisons (a `Set<String>` lookup hashed the string of every span).
    @inline(__always) static func isSpanKind(_ s: String) -> Bool {
        switch s {
        case "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT", "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_PRODUCER",
            "SPAN_KIND_CONSUMER":
            return true
        default: return false
        }
    }
    @inline(__always) static func isStatusCode(_ s: String) -> Bool {
        switch s {
        case "STATUS_CODE_OK", "STATUS_CODE_UNSET", "STATUS_CODE_ERROR": return true
        default: return false
        }
    }
    @inline(__always) static func isObservationKind(_ s: String) -> Bool {
        switch s {
        case "LLM", "TOOL", "AGENT", "CHAIN", "GUARDRAIL", "SPAN": return true
        default: return false
        }
    }

    deinit {
        freeEscapedKeys()
        seenKeys.free()
        places.pointee.base.deallocate()
        places.deallocate()
    }

    func freeEscapedKeys() {
        for b in escapedKeys { b.deallocate() }
        escapedKeys.removeAll(keepingCapacity: true)
    }

    /// - Parameter notes: counts the per-span notes; only the first ``NoteTally/listed`` of each kind become issues.
    func analyze(
        _ p: UnsafePointer<UInt8>, _ len: Int, line: Int, offset: Int, into problems: inout [TraceIssue],
        notes: inout NoteTally
    ) -> SpanFacts? {
        defer { if !escapedKeys.isEmpty { freeEscapedKeys() } }
        func issue(_ sev: TraceSeverity, _ field: String, _ code: String, _ message: String) -> TraceIssue {
            TraceIssue(file: file, line: line, byteOffset: offset, severity: sev, field: field, code: code, message: message)
        }
        if len >= 3, p[0] == 0xEF, p[1] == 0xBB, p[2] == 0xBF {
            problems.append(issue(.error, "<line>", "bom", "the line starts with a UTF-8 byte order mark (BOM); HALO rejects it"))
            return nil
        }
        if let max = options.maxLineBytes, len > max {
            problems.append(issue(.error, "<line>", "line_too_long", "the line is \(len) bytes, over the limit of \(max)"))
            return nil
        }
        var allSpace = true
        for i in 0..<len {
            let c = p[i]
            if !(c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0C || c == 0x0B) {
                allSpace = false
                break
            }
        }
        if allSpace {
            problems.append(issue(.error, "<line>", "whitespace_line", "a whitespace-only line (\(len) bytes); only exactly-empty lines are skipped"))
            return nil
        }
        var s = JSONScanner(UnsafeRawBufferPointer(start: p, count: len))
        s.maxDepth = options.maxDepth - 1  // the span object itself is not entered
        s.skipWhitespace()
        if s.pos < len, p[s.pos] != UInt8(ascii: "{") {
            do {
                let v = try s.parseDocument()
                problems.append(issue(.error, "<line>", "not_object", "a span must be a JSON object, found \(v.typeName == "array" ? "an array" : "a \(v.typeName)")"))
            } catch let e as JSONScanError {
                problems.append(issue(.error, "<line>", e.message.contains("UTF-8") ? "invalid_utf8" : "invalid_json", "invalid JSON: \(e.description)"))
            } catch {
                problems.append(issue(.error, "<line>", "invalid_json", "invalid JSON"))
            }
            return nil
        }
        var local: [TraceIssue] = []
        var wrong: [TraceIssue] = []
        var wrongNested: [TraceIssue] = []
        var facts = SpanFacts()
        var attrs = Attrs()
        var seen: UInt32 = 0  // bit per known top-level key
        var statusSeen = false, statusMessageSeen = false, scopeVersionSeen = false, statusCodeSeen = false
        var resourceAttrsSeen = false, scopeNameSeen = false
        var topDuplicate = false, nestedDuplicate = false, attrDuplicate = false
        var kind = ""
        var otherTopKeys: [UInt64] = []
        // Places of the kept fields (TraceValidationOptions.keptAttributes), relative to the line's start.
        let keeping = keeps && len <= Int(Int32.max)
        places.pointee.count = 0
        @inline(__always) func keep(_ field: Int16, _ from: Int, _ to: Int) {
            if keeping { appendPlace(field, from, to) }
        }
        do {
            s.pos += 1
            s.skipWhitespace()
            if s.pos < len, p[s.pos] == UInt8(ascii: "}") {
                s.pos += 1
            } else {
                while true {
                    s.skipWhitespace()
                    guard s.pos < len else { throw s.fail("unexpected end of input inside an object (truncated JSON)") }
                    guard p[s.pos] == UInt8(ascii: "\"") else { throw s.fail("expected a string key in an object") }
                    let key = try readKey(&s)
                    try s.expectColon()
                    let k = topKey(key)
                    if k >= 0 {
                        if seen & (1 << k) != 0 { topDuplicate = true }
                        seen |= 1 << k
                    }
                    switch k {
                    case 0:
                        if let same = Self.sameString(&s, lastTraceID) {
                            facts.traceID = same
                        } else {
                            let from = Self.valueStart(&s)
                            facts.traceID = try readString(&s, "trace_id", &local) ?? ""
                            // Plain when the string's bytes are its text (no escapes): then reusable as is.
                            if s.pos - from == facts.traceID.utf8.count + 2 { lastTraceID = facts.traceID }
                        }
                    case 1: facts.spanID = try readText(&s, "span_id", &local)
                    case 2: facts.parentSpanID = try readText(&s, "parent_span_id", &local)
                    case 3:
                        let from = Self.valueStart(&s)
                        _ = try readString(&s, "trace_state", &local)
                        keep(KeptField.traceState, from, s.pos)
                    case 4:
                        let from = Self.valueStart(&s)
                        facts.nameText = try readText(&s, "name", &local)
                        keep(KeptField.name, from, s.pos)
                    case 5:
                        let from = Self.valueStart(&s)
                        if let known = Self.knownSpanKind(&s) {
                            kind = known
                        } else {
                            kind = try readString(&s, "kind", &local) ?? ""
                        }
                        keep(KeptField.kind, from, s.pos)
                    case 6:
                        let from = Self.valueStart(&s)
                        facts.startText = try readText(&s, "start_time", &local)
                        keep(KeptField.startTime, from, s.pos)
                    case 7:
                        let from = Self.valueStart(&s)
                        facts.endText = try readText(&s, "end_time", &local)
                        keep(KeptField.endTime, from, s.pos)
                    case 8:
                        statusSeen = true
                        keep(KeptField.status, s.pos, s.pos)
                        try readObject(&s, "status", &wrong) { s, key in
                            if keyIs(key, "code") {
                                if statusCodeSeen { nestedDuplicate = true }
                                statusCodeSeen = true
                                let from = Self.valueStart(&s)
                                if let known = Self.knownStatusCode(&s) {
                                    facts.statusCode = known
                                } else {
                                    facts.statusCode = try readString(&s, "status.code", &local) ?? ""
                                }
                                keep(KeptField.statusCode, from, s.pos)
                            } else if keyIs(key, "message") {
                                if statusMessageSeen { nestedDuplicate = true }
                                statusMessageSeen = true
                                let from = Self.valueStart(&s)
                                facts.statusMessage = try readString(&s, "status.message", &local) ?? ""
                                keep(KeptField.statusMessage, from, s.pos)
                            } else {
                                local.append(issue(.error, "status.\(keyText(key))", "extra_key", "extra key in status (only code and message are allowed)"))
                                try s.skipValue()
                            }
                        }
                    case 9:
                        try readObject(&s, "resource", &wrong) { s, key in
                            if keyIs(key, "attributes") {
                                if resourceAttrsSeen { nestedDuplicate = true }
                                resourceAttrsSeen = true
                                try readObject(&s, "resource.attributes", &wrongNested, arrayHint: true) { s, key in
                                    if keyIs(key, "service.name") {
                                        if let t = try Self.plainText(&s) {
                                            facts.serviceText = t
                                        } else if case .string(let name) = try s.parseValue() {
                                            facts.serviceText = LineText(decoded: name)
                                        } else {
                                            facts.serviceText = nil
                                        }
                                    } else {
                                        try s.skipValue()
                                    }
                                }
                            } else {
                                local.append(issue(.error, "resource.\(keyText(key))", "extra_key", "extra key in resource (only attributes is allowed)"))
                                try s.skipValue()
                            }
                        }
                    case 10:
                        try readObject(&s, "scope", &wrong) { s, key in
                            if keyIs(key, "name") {
                                if scopeNameSeen { nestedDuplicate = true }
                                scopeNameSeen = true
                                _ = try readString(&s, "scope.name", &local)
                            } else if keyIs(key, "version") {
                                if scopeVersionSeen { nestedDuplicate = true }
                                scopeVersionSeen = true
                                _ = try readString(&s, "scope.version", &local)
                            } else {
                                local.append(issue(.error, "scope.\(keyText(key))", "extra_key", "extra key in scope (only name and version are allowed)"))
                                try s.skipValue()
                            }
                        }
                    case 11:
                        var seenKeys = self.seenKeys
                        seenKeys.reset()
                        defer { self.seenKeys = seenKeys }
                        attrs = Attrs()
                        try readObject(&s, "attributes", &wrong, arrayHint: true) { s, key in
                            let h = key.hash
                            if !seenKeys.insert(h) { attrDuplicate = true }
                            if keeping, let field = keptField(key, hash: h) {
                                let from = Self.valueStart(&s)
                                try readAttribute(&s, key, &attrs)
                                keep(field, from, s.pos)
                            } else {
                                try readAttribute(&s, key, &attrs)
                            }
                        }
                    default:
                        let h = key.hash
                        if otherTopKeys.contains(h) { topDuplicate = true }
                        otherTopKeys.append(h)
                        try s.skipValue()
                    }
                    s.skipWhitespace()
                    guard s.pos < len else { throw s.fail("unexpected end of input inside an object (truncated JSON)") }
                    let c = p[s.pos]
                    s.pos += 1
                    if c == UInt8(ascii: ",") { continue }
                    if c == UInt8(ascii: "}") { break }
                    throw s.fail("expected ',' or '}' in an object", at: s.pos - 1)
                }
            }
            s.skipWhitespace()
            if s.pos < len {
                throw s.fail(p[s.pos] == UInt8(ascii: "{") ? "a second JSON object on the same line" : "extra data after the JSON object")
            }
        } catch let e as JSONScanError {
            let code = e.message.contains("UTF-8") ? "invalid_utf8" : "invalid_json"
            problems.append(issue(.error, "<line>", code, "invalid JSON: \(e.description)"))
            return nil
        } catch {
            problems.append(issue(.error, "<line>", "invalid_json", "invalid JSON"))
            return nil
        }
        if !wrong.isEmpty || !wrongNested.isEmpty { local += wrong + wrongNested }
        // Required keys.
        // Bits of the required keys: all twelve but parent_span_id (2) and trace_state (3).
        if seen & 0b1111_1111_0011 != 0b1111_1111_0011 {
            for (i, name) in Self.requiredTop.enumerated() where seen & (1 << Self.requiredBits[i]) == 0 {
                local.append(issue(.error, name, "missing", "required field \(name) is missing"))
            }
        }
        if seen & (1 << 8) != 0, statusSeen, !statusCodeSeen, !local.contains(where: { $0.field == "status" }) {
            local.append(issue(.error, "status.code", "missing", "required field status.code is missing"))
        }
        if seen & (1 << 9) != 0, !resourceAttrsSeen, !local.contains(where: { $0.field == "resource" }) {
            local.append(issue(.error, "resource.attributes", "missing", "required field resource.attributes is missing"))
        }
        if seen & (1 << 10) != 0, !scopeNameSeen, !local.contains(where: { $0.field == "scope" }) {
            local.append(issue(.error, "scope.name", "missing", "required field scope.name is missing"))
        }
        // Numbers Flywheel computes with must fit: times in 64-bit nanoseconds, token counts below 2^53.
        // (Each time is parsed once here and reused below; no array literal per span.)
        let st = facts.startText.withBytes { TraceTime.parse(utf8: $0) }, et = facts.endText.withBytes { TraceTime.parse(utf8: $0) }
        func outOfRange(_ field: String, _ value: String) {
            local.append(issue(.error, field, "time_out_of_range", "\(field) \(quoted(value)) is outside 1677-09-21 … 2262-04-11, the range of nanoseconds since 1970 in 64 bits"))
        }
        if st == nil, TraceTime.isOutOfRange(facts.startTime) { outOfRange("start_time", facts.startTime) }
        if et == nil, TraceTime.isOutOfRange(facts.endTime) { outOfRange("end_time", facts.endTime) }
        if let st, let et, et.subtractingReportingOverflow(st).overflow {
            local.append(issue(.error, "end_time", "duration_out_of_range", "the span lasts from \(facts.startTime) to \(facts.endTime): longer than 64-bit nanoseconds can hold"))
        }
        func tokenRange(_ key: String, _ v: JSONValue?) {
            if case .int(let i)? = v, i > TraceLimits.maxTokens {
                local.append(issue(.error, "attributes[\"\(key)\"]", "token_out_of_range", "\(key) is \(i), above the limit of \(TraceLimits.maxTokens)"))
            }
        }
        tokenRange("inference.llm.input_tokens", attrs.inputTokens)
        tokenRange("inference.llm.output_tokens", attrs.outputTokens)
        let valid = !local.contains { $0.severity == .error }
        if valid {
            // Spec warnings (HALO accepts the line).
            if seen & (1 << 2) == 0 { local.append(issue(.warning, "parent_span_id", "missing_optional_key", "parent_span_id is missing (defaults to \"\"); Flywheel and HALO's checker expect all 12 keys")) }
            if seen & (1 << 3) == 0 { local.append(issue(.warning, "trace_state", "missing_optional_key", "trace_state is missing (defaults to \"\"); Flywheel and HALO's checker expect all 12 keys")) }
            if !statusMessageSeen { local.append(issue(.warning, "status.message", "missing_optional_key", "status.message is missing (defaults to \"\")")) }
            if !scopeVersionSeen { local.append(issue(.warning, "scope.version", "missing_optional_key", "scope.version is missing (defaults to \"\")")) }
            if !Self.isSpanKind(kind) { local.append(issue(.warning, "kind", "kind_not_otlp", "kind \(quoted(kind)) is not an OTLP SPAN_KIND_* value")) }
            if !Self.isStatusCode(facts.statusCode) {
                local.append(issue(.warning, "status.code", "status_code_not_otlp", "status.code \(quoted(facts.statusCode)) is not STATUS_CODE_OK/ERROR/UNSET; only STATUS_CODE_ERROR counts as an error"))
            }
            if st == nil { local.append(issue(.warning, "start_time", "timestamp_format", "start_time \(quoted(facts.startTime)) is not UTC YYYY-MM-DDTHH:MM:SS.fffffffffZ (9 digits); HALO compares times as strings")) }
            if et == nil { local.append(issue(.warning, "end_time", "timestamp_format", "end_time \(quoted(facts.endTime)) is not UTC YYYY-MM-DDTHH:MM:SS.fffffffffZ (9 digits); HALO compares times as strings")) }
            if let st, let et, et < st { local.append(issue(.warning, "end_time", "end_before_start", "end_time \(facts.endTime) is before start_time \(facts.startTime)")) }
            // Attributes.
            let sv = attrs.schemaVersion
            if !(sv == .int(1) || sv == .bool(true) || sv == .double(1)) {
                local.append(issue(.warning, "attributes[\"inference.export.schema_version\"]", "schema_version", "inference.export.schema_version must be the integer 1, found \(sv.map(describe) ?? "nothing")"))
            }
            if !truthy(attrs.projectID) { local.append(issue(.warning, "attributes[\"inference.project_id\"]", "project_id_missing", "inference.project_id is missing or empty")) }
            let obs = attrs.observationKind?.stringValue
            if obs == nil || !Self.isObservationKind(obs!) {
                local.append(issue(.warning, "attributes[\"inference.observation_kind\"]", "observation_kind_invalid", "inference.observation_kind must be AGENT, LLM, TOOL, CHAIN, GUARDRAIL or SPAN, found \(attrs.observationKind.map(describe) ?? "nothing")"))
            }
            if attrs.spanKind == nil { local.append(issue(.warning, "attributes[\"openinference.span.kind\"]", "span_kind_missing", "openinference.span.kind is missing (tool errors are counted only when it is TOOL)")) }
            for which in 0..<2 {
                let v = which == 0 ? attrs.inputTokens : attrs.outputTokens
                let key = which == 0 ? "inference.llm.input_tokens" : "inference.llm.output_tokens"
                guard let v, v != .null else { continue }
                if case .int(let i) = v {
                    if i < 0 { local.append(issue(.warning, "attributes[\"\(key)\"]", "token_negative", "\(key) is negative (\(i))")) }
                } else {
                    local.append(issue(.warning, "attributes[\"\(key)\"]", "token_not_int", "\(key) is \(v.typeName), not an integer; HALO ignores it in token totals"))
                }
            }
            if obs == "LLM", !truthy(attrs.modelName), !truthy(attrs.llmModelName) {
                local.append(issue(.warning, "attributes[\"inference.llm.model_name\"]", "llm_without_model", "LLM span without inference.llm.model_name / llm.model_name"))
            }
            if obs == "TOOL", !attrs.hasToolName { local.append(issue(.warning, "attributes[\"tool.name\"]", "tool_without_name", "TOOL span without tool.name")) }
            if topDuplicate || nestedDuplicate || attrDuplicate || s.flags.duplicateKey {
                local.append(issue(.warning, attrDuplicate ? "attributes" : "<line>", "duplicate_json_key", "an object repeats a key; the last value wins"))
            }
            if s.flags.nonstandardNumber { local.append(issue(.warning, "<line>", "nonstandard_number", "NaN or Infinity is not standard JSON")) }
            if s.flags.escapedSlash { local.append(issue(.warning, "<line>", "escaped_slash", "\\/ escape: HALO's regex tools search the raw line, so a\\/b misses a/b")) }
            // Notes: counted per kind; only the first of each kind are listed (they are the same on every span).
            if !TraceIDs.isCanonicalTraceID(facts.traceID), notes.count(.traceIDFormat, line: line, offset: offset) {
                local.append(NoteTally.Kind.traceIDFormat.issue(file: file, line: line, offset: offset))
            }
            if !facts.spanID.withBytes(TraceIDs.isCanonicalSpanID(utf8:)), notes.count(.spanIDFormat, line: line, offset: offset) {
                local.append(NoteTally.Kind.spanIDFormat.issue(file: file, line: line, offset: offset))
            }
            if !truthy(attrs.agentName), !truthy(attrs.agentID), !truthy(attrs.agentDotID),
                notes.count(.missingAgentIdentity, line: line, offset: offset)
            {
                local.append(NoteTally.Kind.missingAgentIdentity.issue(file: file, line: line, offset: offset))
            }
        }
        if valid {
            // HALO writes these fields raw into its own sidecar index and reads it back with splitlines(), which
            // also splits at U+2028/U+2029: the index build crashes, whatever escaping the trace file used.
            func check(_ field: StaticString, _ value: String?) {
                guard let value, value.utf8.count >= 3, hasE2(value),
                    value.unicodeScalars.contains(where: { $0 == "\u{2028}" || $0 == "\u{2029}" })
                else { return }
                local.append(issue(.error, "\(field)", "line_separator_in_indexed_field", "U+2028/U+2029 in an indexed field: HALO's sidecar index splits there and its index build fails"))
            }
            // A text whose bytes hold no 0xE2 (the lead byte of both) is not made a string to be looked at.
            func check(_ field: StaticString, _ value: LineText?) {
                guard let value, value.withBytes({ $0.count >= 3 && memchr($0.baseAddress!, 0xE2, $0.count) != nil }) else { return }
                check(field, value.string)
            }
            check("trace_id", facts.traceID)
            check("start_time", facts.startText)
            check("end_time", facts.endText)
            check("resource.attributes[\"service.name\"]", facts.serviceText)
            if attrs.modelName != nil || attrs.llmModelName != nil { check("attributes[\"inference.llm.model_name\"]", modelText(attrs)) }
            if let v = attrs.agentName { check("attributes[\"inference.agent_name\"]", v.stringValue) }
            if attrs.agentID != nil || attrs.agentDotID != nil {
                check("attributes[\"inference.agent_id\"]", attrs.agentID?.stringValue ?? attrs.agentDotID?.stringValue)
            }
            if let v = attrs.projectID { check("attributes[\"inference.project_id\"]", v.stringValue) }
        }
        for var i in local {
            i.line = line
            i.byteOffset = offset
            problems.append(i)
        }
        guard valid, !local.contains(where: { $0.severity == .error }) else { return nil }
        // Facts with HALO's rules.
        facts.isError = facts.statusCode == "STATUS_CODE_ERROR"
        facts.isTool = attrs.spanKind == .string("TOOL")
        let model = truthy(attrs.modelName) ? attrs.modelName : attrs.llmModelName
        if case .string(let m)? = model, !m.isEmpty { facts.modelName = m }
        if case .string(let a)? = attrs.agentName, !a.isEmpty { facts.agentName = a }
        let aid = truthy(attrs.agentID) ? attrs.agentID : attrs.agentDotID
        if case .string(let a)? = aid, !a.isEmpty { facts.agentID = a }
        facts.inputTokens = tokenValue(attrs.inputTokens)
        facts.outputTokens = tokenValue(attrs.outputTokens)
        if case .string(let pid)? = attrs.projectID, !pid.isEmpty { facts.projectID = pid }
        return facts
    }

    // MARK: - Helpers

    /// At a value: when it is the string `lit` written plainly, moves past it; else moves nothing. Literals, not
    /// arrays of them: a static array read per span costs reference counting each time.
    @inline(__always) static func plainLiteral(_ s: inout JSONScanner, _ lit: StaticString) -> Bool {
        let p = s.pos, n = lit.utf8CodeUnitCount
        guard p + n + 1 < s.end, s.base[p + n + 1] == UInt8(ascii: "\""), s.base[p] == UInt8(ascii: "\""),
            bytesEqual(s.base + p + 1, lit.utf8Start, n)
        else { return false }
        s.pos = p + n + 2
        return true
    }

    /// At a value: an OTLP span kind written plainly, moved past and returned as a literal (no new string); else nil.
    @inline(__always) static func knownSpanKind(_ s: inout JSONScanner) -> String? {
        if plainLiteral(&s, "SPAN_KIND_INTERNAL") { return "SPAN_KIND_INTERNAL" }
        if plainLiteral(&s, "SPAN_KIND_CLIENT") { return "SPAN_KIND_CLIENT" }
        if plainLiteral(&s, "SPAN_KIND_SERVER") { return "SPAN_KIND_SERVER" }
        if plainLiteral(&s, "SPAN_KIND_UNSPECIFIED") { return "SPAN_KIND_UNSPECIFIED" }
        if plainLiteral(&s, "SPAN_KIND_PRODUCER") { return "SPAN_KIND_PRODUCER" }
        if plainLiteral(&s, "SPAN_KIND_CONSUMER") { return "SPAN_KIND_CONSUMER" }
        return nil
    }

    /// At a value: an OTLP status code written plainly, moved past and returned as a literal; else nil.
    @inline(__always) static func knownStatusCode(_ s: inout JSONScanner) -> String? {
        if plainLiteral(&s, "STATUS_CODE_OK") { return "STATUS_CODE_OK" }
        if plainLiteral(&s, "STATUS_CODE_UNSET") { return "STATUS_CODE_UNSET" }
        if plainLiteral(&s, "STATUS_CODE_ERROR") { return "STATUS_CODE_ERROR" }
        return nil
    }

    /// At a value: when it is a string with exactly the bytes of `plain` (a string read without escapes), moves
    /// past it and returns `plain`; else moves nothing.
    @inline(__always) static func sameString(_ s: inout JSONScanner, _ plain: String) -> String? {
        s.skipWhitespace()
        let p = s.pos
        var plain = plain
        let n = plain.utf8.count
        guard n > 0, p + n + 1 < s.end, s.base[p] == UInt8(ascii: "\""), s.base[p + n + 1] == UInt8(ascii: "\"") else { return nil }
        let same = plain.withUTF8 { bytesEqual(s.base + p + 1, $0.baseAddress!, n) }
        guard same else { return nil }
        s.pos = p + n + 2
        return plain
    }

    /// Skips whitespace and returns where the value starts.
    @inline(__always) static func valueStart(_ s: inout JSONScanner) -> Int {
        s.skipWhitespace()
        return s.pos
    }

    /// A key's bytes (decoded when it had escapes; valid until the end of the line) and their ``bytesHash(_:_:)``.
    struct Key {
        var bytes: UnsafeBufferPointer<UInt8>
        var hash: UInt64

        init(bytes: UnsafeBufferPointer<UInt8>) {
            self.bytes = bytes
            hash = bytesHash(bytes.baseAddress ?? UnsafePointer(bitPattern: 1)!, bytes.count)
        }

        init(bytes: UnsafeBufferPointer<UInt8>, hash: UInt64) {
            self.bytes = bytes
            self.hash = hash
        }
    }

    /// Reads the key at the scanner (at its `"`) and hashes it as it goes: a key of plain ASCII is read 8 bytes at a
    /// time up to its closing quote, each word mixed into the hash as it is checked (``ByteHash``), so the key's
    /// bytes are read once. Anything else (an escape, a byte past ASCII, the line's last 8 bytes) takes the
    /// scanner's own path, and the hash is taken of the bytes it leaves.
    func readKey(_ s: inout JSONScanner) throws -> Key {
        let open = s.pos
        let start = open + 1
        let base = s.base
        var i = start
        var h = ByteHash.seed
        while s.end - i >= 8 {
            let w = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
            let mask = JSONScanner.stopMask(w)
            if mask != 0 {
                let k = mask.trailingZeroBitCount >> 3
                guard base[i + k] == UInt8(ascii: "\"") else { break }
                if k > 0 { h = ByteHash.mix(h, UInt64(littleEndian: w) & (~0 >> UInt64(64 - 8 * k))) }
                s.pos = i + k + 1
                return Key(bytes: UnsafeBufferPointer(start: base + start, count: i + k - start), hash: ByteHash.finish(h, i + k - start))
            }
            h = ByteHash.mix(h, UInt64(littleEndian: w))
            i += 8
        }
        s.pos = start
        let c = try s.scanPlain()
        if c == UInt8(ascii: "\"") {
            let r = UnsafeBufferPointer(start: base + start, count: s.pos - start)
            s.pos += 1
            return Key(bytes: r)
        }
        s.pos = open
        let text = try s.parseString()
        let buf = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(1, text.utf8.count))
        _ = buf.initialize(from: text.utf8)
        escapedKeys.append(buf)
        return Key(bytes: UnsafeBufferPointer(start: buf.baseAddress, count: text.utf8.count))
    }

    func keyText(_ k: Key) -> String { String(decoding: k.bytes, as: UTF8.self) }

    @inline(__always) func keyIs(_ k: Key, _ lit: StaticString) -> Bool {
        k.bytes.count == lit.utf8CodeUnitCount && (k.bytes.count == 0 || bytesEqual(k.bytes.baseAddress!, lit.utf8Start, k.bytes.count))
    }


    static let topKeys: [StaticString] = [
        "trace_id", "span_id", "parent_span_id", "trace_state", "name", "kind", "start_time", "end_time", "status",
        "resource", "scope", "attributes",
    ]

    /// The index in ``topKeys`` of a top-level key, or -1: by length, then the literals of that length.
    func topKey(_ k: Key) -> Int {
        let b = k.bytes
        guard let p = b.baseAddress else { return -1 }
        @inline(__always) func isKey(_ lit: StaticString) -> Bool { bytesEqual(p, lit.utf8Start, lit.utf8CodeUnitCount) }
        switch b.count {
        case 4: return isKey("name") ? 4 : isKey("kind") ? 5 : -1
        case 5: return isKey("scope") ? 10 : -1
        case 6: return isKey("status") ? 8 : -1
        case 7: return isKey("span_id") ? 1 : -1
        case 8: return isKey("trace_id") ? 0 : isKey("end_time") ? 7 : isKey("resource") ? 9 : -1
        case 10: return isKey("start_time") ? 6 : isKey("attributes") ? 11 : -1
        case 11: return isKey("trace_state") ? 3 : -1
        case 14: return isKey("parent_span_id") ? 2 : -1
        default: return -1
        }
    }

    /// At a value: when it is a string without escapes, moves past it and returns its bytes in the line; else moves
    /// nothing (whitespace aside). Errors inside the string are thrown as ``JSONScanner/parseString()`` throws them.
    @inline(__always) static func plainText(_ s: inout JSONScanner) throws -> LineText? {
        s.skipWhitespace()
        guard s.pos < s.end, s.base[s.pos] == UInt8(ascii: "\"") else { return nil }
        let open = s.pos
        s.pos += 1
        if try s.scanPlain() == UInt8(ascii: "\"") {
            let r = UnsafeBufferPointer(start: s.base + open + 1, count: s.pos - open - 1)
            s.pos += 1
            return LineText(raw: r)
        }
        s.pos = open
        return nil
    }

    /// ``readString(_:_:_:)`` as a ``LineText``: a string without escapes is not copied (`""` for a wrong type).
    func readText(_ s: inout JSONScanner, _ field: String, _ local: inout [TraceIssue]) throws -> LineText {
        if let t = try Self.plainText(&s) { return t }
        return LineText(decoded: try readString(&s, field, &local) ?? "")
    }

    /// Reads a string value; a non-string (including null) is a `wrong_type` error and is skipped.
    func readString(_ s: inout JSONScanner, _ field: String, _ local: inout [TraceIssue]) throws -> String? {
        s.skipWhitespace()
        guard s.pos < s.end else { throw s.fail("unexpected end of input (truncated JSON)") }
        if s.base[s.pos] == UInt8(ascii: "\"") { return try s.parseString() }
        let start = s.pos
        let v = try s.parseValue()
        _ = start
        let what = v == .null ? "null where a string is required" : "expected a string, found \(v.typeName) \(describe(v))"
        local.append(
            TraceIssue(file: file, line: 0, byteOffset: 0, severity: .error, field: field, code: "wrong_type", message: what))
        return nil
    }

    /// Iterates an object value's keys; a non-object is a `wrong_type` error and is skipped.
    func readObject(
        _ s: inout JSONScanner, _ field: String, _ wrong: inout [TraceIssue], arrayHint: Bool = false,
        _ body: (inout JSONScanner, Key) throws -> Void
    ) throws {
        s.skipWhitespace()
        guard s.pos < s.end else { throw s.fail("unexpected end of input (truncated JSON)") }
        guard s.base[s.pos] == UInt8(ascii: "{") else {
            let v = try s.parseValue()
            var what = v == .null ? "null where an object is required" : "expected an object, found \(v.typeName)"
            if arrayHint, v.typeName == "array" { what += " (an OTLP key/value array is not accepted; use a JSON object)" }
            wrong.append(TraceIssue(file: file, line: 0, byteOffset: 0, severity: .error, field: field, code: "wrong_type", message: what))
            return
        }
        try s.enter()
        s.pos += 1
        s.skipWhitespace()
        if s.pos < s.end, s.base[s.pos] == UInt8(ascii: "}") {
            s.pos += 1
            s.depth -= 1
            return
        }
        while true {
            s.skipWhitespace()
            guard s.pos < s.end else { throw s.fail("unexpected end of input inside an object (truncated JSON)") }
            guard s.base[s.pos] == UInt8(ascii: "\"") else { throw s.fail("expected a string key in an object") }
            let key = try readKey(&s)
            try s.expectColon()
            try body(&s, key)
            s.skipWhitespace()
            guard s.pos < s.end else { throw s.fail("unexpected end of input inside an object (truncated JSON)") }
            let c = s.base[s.pos]
            s.pos += 1
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "}") { break }
            throw s.fail("expected ',' or '}' in an object", at: s.pos - 1)
        }
        s.depth -= 1
    }

    func readAttribute(_ s: inout JSONScanner, _ key: Key, _ a: inout Attrs) throws {
        let handled: Bool
        switch key.bytes.count {
        case 8, 9, 14, 18, 20, 23, 24, 26, 27, 31: handled = true
        default: handled = false
        }
        guard handled else {
            try s.skipValue()
            return
        }
        if keyIs(key, "inference.llm.model_name") { a.modelName = try s.parseValue() }
        else if keyIs(key, "llm.model_name") { a.llmModelName = try s.parseValue() }
        else if keyIs(key, "inference.agent_name") { a.agentName = try s.parseValue() }
        else if keyIs(key, "inference.agent_id") { a.agentID = try s.parseValue() }
        else if keyIs(key, "agent.id") { a.agentDotID = try s.parseValue() }
        else if keyIs(key, "inference.llm.input_tokens") { a.inputTokens = try s.parseValue() }
        else if keyIs(key, "inference.llm.output_tokens") { a.outputTokens = try s.parseValue() }
        else if keyIs(key, "inference.project_id") { a.projectID = try s.parseValue() }
        else if keyIs(key, "openinference.span.kind") { a.spanKind = try s.parseValue() }
        else if keyIs(key, "inference.observation_kind") { a.observationKind = try s.parseValue() }
        else if keyIs(key, "inference.export.schema_version") { a.schemaVersion = try s.parseValue() }
        else if keyIs(key, "tool.name") { a.hasToolName = true; try s.skipValue() }
        else { try s.skipValue() }
    }
}

/// The hashes of one object's keys, for the duplicate-key check: an open-addressing table of 256 slots stamped
/// with a generation, so starting the next object clears nothing (a linear search of the hashes so far cost a
/// comparison per key already seen, for every key); past 128 keys the rest go to a `Set`.
struct SeenKeys {
    let hashes: UnsafeMutablePointer<UInt64>
    let stamps: UnsafeMutablePointer<UInt32>
    var stamp: UInt32 = 0
    var count = 0
    var more: Set<UInt64> = []

    init() {
        hashes = .allocate(capacity: 256)
        hashes.initialize(repeating: 0, count: 256)
        stamps = .allocate(capacity: 256)
        stamps.initialize(repeating: 0, count: 256)
    }

    func free() {
        hashes.deallocate()
        stamps.deallocate()
    }

    /// Forgets the keys (a new object).
    mutating func reset() {
        stamp &+= 1
        if stamp == 0 {
            stamps.update(repeating: 0, count: 256)
            stamp = 1
        }
        count = 0
        if !more.isEmpty { more.removeAll() }
    }

    /// Adds `h`; false when it was there already.
    @inline(__always) mutating func insert(_ h: UInt64) -> Bool {
        var slot = Int(truncatingIfNeeded: h ^ (h >> 32)) & 255
        while stamps[slot] == stamp {
            if hashes[slot] == h { return false }
            slot = (slot + 1) & 255
        }
        if count >= 128 { return more.insert(h).inserted }
        stamps[slot] = stamp
        hashes[slot] = h
        count += 1
        return true
    }
}

/// Ranges Flywheel accepts for numbers from outside (a trace file, a request).
public enum TraceLimits {
    /// Largest token count of one span (2^53: exact in a double, summable over millions of spans in Int64).
    public static let maxTokens: Int64 = 1 << 53

    /// Sums clamped to `0 ... Int64.max`: a total of hostile counts saturates instead of trapping.
    public static func adding(_ values: Int64...) -> Int64 {
        var total: Int64 = 0
        for v in values {
            let (t, o) = total.addingReportingOverflow(max(0, v))
            total = o ? .max : t
        }
        return total
    }
}

/// True when the UTF-8 of `s` contains 0xE2 (the lead byte of U+2028/U+2029).
func hasE2(_ s: String) -> Bool {
    var s = s
    return s.withUTF8 { b in b.count > 0 && memchr(b.baseAddress!, 0xE2, b.count) != nil }
}

/// The model name HALO would index (first truthy of the two keys) as text.
func modelText(_ a: LineAnalyzer.Attrs) -> String? {
    (truthy(a.modelName) ? a.modelName : a.llmModelName)?.stringValue
}

/// Python truthiness of an optional JSON value.
func truthy(_ v: JSONValue?) -> Bool {
    switch v {
    case nil, .null?: return false
    case .bool(let b)?: return b
    case .int(let i)?: return i != 0
    case .double(let d)?: return d != 0
    case .string(let s)?: return !s.isEmpty
    case .array(let a)?: return !a.isEmpty
    case .object(let o)?: return !o.isEmpty
    }
}

/// HALO adds a token attribute only when it is a JSON integer (`true` counts as 1).
func tokenValue(_ v: JSONValue?) -> Int64 {
    switch v {
    case .int(let i)?: return i
    case .bool(let b)?: return b ? 1 : 0
    default: return 0
    }
}

func describe(_ v: JSONValue) -> String {
    let t = v.canonicalText
    return t.unicodeScalars.count > 60 ? prefixScalars(t, 60) + "…" : t
}
