import FlywheelSupport
import Foundation

/// HALO's exploration surface over one dataset (one or more JSONL files, or bytes in memory), spec §5.
///
/// Built in one pass that validates every line and indexes every trace. Spans are re-read from the (memory-mapped)
/// bytes only for view and search. Thread-safe: all state is immutable after `init`.
public final class TraceStore: Sendable {
    /// Per-call response budget of view (bytes).
    public static let responseBytesBudget = 150_000
    /// Attribute cap of `view` (code points).
    public static let viewTraceAttributeCap = 4096
    /// Attribute cap of `viewSpans` (code points).
    public static let viewSpansAttributeCap = 16384

    /// The dataset's sources in load order.
    public let sources: [TraceSource]
    /// Every trace in order of first appearance (file order, then line order).
    public let traces: [IndexedTrace]
    /// The validation report of the one pass.
    public let validation: TraceValidationReport
    let traceIndex: [String: Int]
    /// The attributes whose places the scan kept (``IndexedTrace/keptFields``).
    public let keptAttributes: [String]
    /// Per source, its span lines planned for import while they were scanned, in file order, when the scan was asked
    /// to (``TraceValidationOptions/importPlan``); else empty arrays (or none). Lines of traces the dataset left out
    /// (a trace id an earlier file has, an error) are still listed.
    package let importPlans: [[PlannedLine]]

    /// Indexes `sources`; throws ``TraceStoreError/invalidDataset(_:)`` when HALO would reject any file, unless
    /// `skipInvalid` (then invalid lines are left out, as `--skip-invalid` does).
    public init(sources: [TraceSource], options: TraceValidationOptions = .init(), skipInvalid: Bool = false) throws {
        let scan = TraceDatasetScan.scan(sources, options: options)
        if !skipInvalid, !scan.report.haloAccepts { throw TraceStoreError.invalidDataset(scan.report) }
        self.sources = sources
        self.traces = scan.traces
        self.traceIndex = scan.traceIndex
        self.validation = scan.report
        self.keptAttributes = options.keptAttributes
        self.importPlans = scan.plans
    }

    /// Indexes the files of a dataset (memory-mapped; `*.engine-index.jsonl` sidecars should not be passed).
    public convenience init(files: [URL], options: TraceValidationOptions = .init(), skipInvalid: Bool = false) throws {
        try self.init(sources: files.map { try TraceSource(url: $0) }, options: options, skipInvalid: skipInvalid)
    }

    /// Indexes in-memory JSONL bytes (e.g. a cycle's `traces.jsonl` read from git).
    public convenience init(data: Data, name: String = "traces.jsonl", options: TraceValidationOptions = .init(), skipInvalid: Bool = false) throws {
        try self.init(sources: [TraceSource(name: name, data: data)], options: options, skipInvalid: skipInvalid)
    }

    /// The `*.jsonl` files directly inside `directory`, sorted, skipping HALO's `*.engine-index.jsonl` sidecars.
    public static func jsonlFiles(in directory: URL) throws -> [URL] {
        try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "jsonl" && !$0.lastPathComponent.hasSuffix(".engine-index.jsonl") }
            .sorted { JSONValue.utf8Less($0.lastPathComponent, $1.lastPathComponent) }
    }

    // MARK: - Raw access

    /// Calls `body` with the raw bytes of span `i` of `trace` (without `\n`).
    package func withLine<R>(_ trace: IndexedTrace, _ i: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try sources[trace.source].data.withUnsafeBytes { buf in
            try body(UnsafeRawBufferPointer(rebasing: buf[trace.offsets[i]..<(trace.offsets[i] + trace.lengths[i])]))
        }
    }

    /// The bytes of the file that holds `trace`'s lines (span `i`'s line is `trace.lengths[i]` bytes at
    /// `trace.offsets[i]`): for reading every line of a trace with one call instead of one per line.
    package func withSourceBytes<R>(_ trace: IndexedTrace, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try sources[trace.source].data.withUnsafeBytes(body)
    }

    /// The raw line of span `i` as text (invalid UTF-8 replaced, as HALO decodes it).
    func rawLine(_ trace: IndexedTrace, _ i: Int) -> String {
        withLine(trace, i) { String(decoding: $0, as: UTF8.self) }
    }

    /// The parsed span `i` of `trace`.
    public func span(_ trace: IndexedTrace, at i: Int) throws -> Span {
        try withLine(trace, i) { try Span(line: $0) }
    }

    /// All spans of a trace in file order, uncapped.
    public func spans(traceID: String) throws -> [Span] {
        let t = try trace(traceID)
        return try (0..<t.spanCount).map { try span(t, at: $0) }
    }

    /// Every span of the dataset in file order (uncapped), e.g. for import or rewrite.
    public func allSpans() throws -> [Span] {
        var rows: [(Int, Int, Span)] = []
        for t in traces {
            for i in 0..<t.spanCount { rows.append((t.source, t.offsets[i], try span(t, at: i))) }
        }
        return rows.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map(\.2)
    }

    func trace(_ id: String) throws -> IndexedTrace {
        guard let i = traceIndex[id] else { throw TraceStoreError.unknownTrace(id) }
        return traces[i]
    }

    // MARK: - Index rows

    /// The one-pass index: one row per trace in first-appearance order.
    public func indexRows() -> [TraceIndexRow] {
        traces.map { t in
            TraceIndexRow(
                traceID: t.traceID, file: sources[t.source].name, firstLine: t.firstLine, spanCount: t.spanCount,
                errorSpanCount: t.otelErrorSpanCount, toolErrorSpanCount: t.toolErrorSpanCount,
                startTime: t.startTime, endTime: t.endTime, durationNanos: t.durationNanos,
                modelNames: t.modelNames.sorted(by: codePointLess), agentNames: t.agentNames.sorted(by: codePointLess),
                serviceNames: t.serviceNames.sorted(by: codePointLess), inputTokens: t.inputTokens,
                outputTokens: t.outputTokens, rootSpanName: t.rootSpanName, projectID: t.projectID)
        }
    }

    // MARK: - Filters

    func apply(_ f: TraceFilters) throws -> [IndexedTrace] {
        // No filter: the index itself (filtering copied every trace, a reference count per field).
        if f.hasErrors == nil, f.modelNames == nil, f.serviceNames == nil, f.agentNames == nil, f.projectID == nil,
            f.startTimeGte == nil, f.endTimeLte == nil, f.regexPattern == nil
        {
            return traces
        }
        let rows = traces.filter { t in
            if let h = f.hasErrors, t.hasErrors != h { return false }
            if let m = f.modelNames, !m.contains(where: t.modelNames.contains) { return false }
            if let s = f.serviceNames, !s.contains(where: t.serviceNames.contains) { return false }
            if let a = f.agentNames, !a.contains(where: t.agentNames.contains) { return false }
            if let p = f.projectID, t.projectID != p { return false }
            if let s = f.startTimeGte, codePointLess(t.startTime, s) { return false }
            if let e = f.endTimeLte, codePointLess(e, t.endTime) { return false }
            return true
        }
        guard let pattern = f.regexPattern else { return rows }
        let matcher = try RawMatcher(pattern)
        return rows.filter { t in
            (0..<t.spanCount).contains { i in withLine(t, i) { matcher.matches($0) } }
        }
    }

    // MARK: - Tools

    /// `get_dataset_overview`.
    public func overview(_ filters: TraceFilters = .init()) throws -> DatasetOverview {
        let rows = try apply(filters)
        guard !rows.isEmpty else {
            return DatasetOverview(
                totalTraces: 0, totalSpans: 0, earliestStartTime: "", latestEndTime: "", serviceNames: [],
                modelNames: [], agentNames: [], agentIDs: [], errorTraceCount: 0, missingParentCount: 0,
                missingAgentIdentityCount: 0, projectIDMismatchCount: 0, otelErrorSpanCount: 0, toolErrorSpanCount: 0,
                errorTaxonomy: [], totalInputTokens: 0, totalOutputTokens: 0, rawJSONLBytes: 0, sampleTraceIDs: [])
        }
        // One pass reading the rows' fields in place (a pass per figure copied each row, whole, many times).
        var services = Set<String>(), models = Set<String>(), agents = Set<String>(), ids = Set<String>()
        var earliest = rows[0].startTime, latest = rows[0].endTime
        var spans = 0, errorTraces = 0, missingParents = 0, missingAgents = 0, mismatches = 0, otelErrors = 0, toolErrors = 0
        var rawBytes = 0
        var inputTokens: Int64 = 0, outputTokens: Int64 = 0
        for i in rows.indices {
            for s in rows[i].serviceNames { services.insert(s) }
            for s in rows[i].modelNames { models.insert(s) }
            for s in rows[i].agentNames { agents.insert(s) }
            for s in rows[i].agentIDs { ids.insert(s) }
            if codePointLess(rows[i].startTime, earliest) { earliest = rows[i].startTime }
            if codePointLess(latest, rows[i].endTime) { latest = rows[i].endTime }
            spans += rows[i].spanCount
            if rows[i].hasErrors { errorTraces += 1 }
            missingParents += rows[i].missingParentCount
            missingAgents += rows[i].missingAgentIdentityCount
            mismatches += rows[i].projectIDMismatchCount
            otelErrors += rows[i].otelErrorSpanCount
            toolErrors += rows[i].toolErrorSpanCount
            inputTokens &+= rows[i].inputTokens
            outputTokens &+= rows[i].outputTokens
            for n in rows[i].lengths { rawBytes += n }
        }
        return DatasetOverview(
            totalTraces: rows.count, totalSpans: spans, earliestStartTime: earliest,
            latestEndTime: latest, serviceNames: services.sorted(by: codePointLess),
            modelNames: models.sorted(by: codePointLess), agentNames: agents.sorted(by: codePointLess),
            agentIDs: ids.sorted(by: codePointLess), errorTraceCount: errorTraces,
            missingParentCount: missingParents, missingAgentIdentityCount: missingAgents,
            projectIDMismatchCount: mismatches, otelErrorSpanCount: otelErrors,
            toolErrorSpanCount: toolErrors, errorTaxonomy: taxonomy(rows),
            totalInputTokens: inputTokens, totalOutputTokens: outputTokens,
            rawJSONLBytes: rawBytes, sampleTraceIDs: rows.prefix(20).map(\.traceID))
    }

    func taxonomy(_ rows: [IndexedTrace]) -> [ErrorTaxonomyGroup] {
        struct Group {
            var name: String
            var message: String
            var count = 0
            var traces = Set<String>()
        }
        var groups: [Group] = []
        var index: [IndexedTrace.ErrorSignature: Int] = [:]
        var taken = 0
        for ri in rows.indices where rows[ri].hasErrors {
            if taken == 2000 { break }
            taken += 1
            let traceID = rows[ri].traceID
            for sig in rows[ri].errorSignatures {
                let i: Int
                if let j = index[sig] {
                    i = j
                } else {
                    i = groups.count
                    index[sig] = i
                    groups.append(Group(name: sig.spanName, message: sig.message))
                }
                groups[i].count += 1
                groups[i].traces.insert(traceID)
            }
        }
        // Stable sort by count, descending (ties keep first-seen order).
        let sorted = groups.enumerated().sorted { a, b in
            a.element.count != b.element.count ? a.element.count > b.element.count : a.offset < b.offset
        }.map(\.element)
        return sorted.prefix(20).map { g in
            ErrorTaxonomyGroup(
                spanName: g.name, statusMessage: g.message, errorSpanCount: g.count, traceCount: g.traces.count,
                exampleTraceIDs: Array(g.traces.sorted(by: codePointLess).prefix(3)))
        }
    }

    func summary(_ t: IndexedTrace) -> TraceSummary {
        TraceSummary(
            traceID: t.traceID, spanCount: t.spanCount, startTime: t.startTime, endTime: t.endTime,
            hasErrors: t.hasErrors, serviceNames: t.serviceNames.sorted(by: codePointLess),
            modelNames: t.modelNames.sorted(by: codePointLess), totalInputTokens: t.inputTokens,
            totalOutputTokens: t.outputTokens, agentNames: t.agentNames.sorted(by: codePointLess),
            agentIDs: t.agentIDs.sorted(by: codePointLess), missingParentCount: t.missingParentCount,
            missingAgentIdentityCount: t.missingAgentIdentityCount, projectIDMismatchCount: t.projectIDMismatchCount,
            otelErrorSpanCount: t.otelErrorSpanCount, toolErrorSpanCount: t.toolErrorSpanCount,
            rawJSONLBytes: t.rawJSONLBytes)
    }

    /// `query_traces`: `limit` 1–500 (default 50), `offset` ≥ 0; `total` is counted before paging.
    public func query(_ filters: TraceFilters = .init(), limit: Int = 50, offset: Int = 0) throws -> TraceQueryResult {
        guard (1...500).contains(limit) else { throw TraceStoreError.outOfRange(name: "limit", value: limit, range: "1–500") }
        guard offset >= 0 else { throw TraceStoreError.outOfRange(name: "offset", value: offset, range: "≥ 0") }
        let rows = try apply(filters)
        let page = offset < rows.count ? Array(rows[offset..<min(rows.count, offset + limit)]) : []
        return TraceQueryResult(traces: page.map(summary), total: rows.count)
    }

    /// `count_traces`.
    public func count(_ filters: TraceFilters = .init()) throws -> TraceCountResult {
        TraceCountResult(total: try apply(filters).count)
    }

    /// `view_trace`: every span, attributes capped at 4096 code points; `oversized` over 150,000 bytes.
    public func view(traceID: String) throws -> TraceView {
        let t = try trace(traceID)
        let spans = try (0..<t.spanCount).map { try span(t, at: $0).capped(at: Self.viewTraceAttributeCap) }
        return budgeted(traceID: traceID, spans: spans, tool: "view_trace")
    }

    /// `view_spans`: the named spans (1–200 ids) in file order, attributes capped at 16384; unknown ids skipped.
    public func viewSpans(traceID: String, spanIDs: [String]) throws -> TraceView {
        guard (1...200).contains(spanIDs.count) else {
            throw TraceStoreError.outOfRange(name: "span_ids", value: spanIDs.count, range: "1–200 ids")
        }
        let t = try trace(traceID)
        let wanted = Set(spanIDs)
        let spans = try (0..<t.spanCount).filter { wanted.contains(t.spanIDs[$0]) }.map {
            try span(t, at: $0).capped(at: Self.viewSpansAttributeCap)
        }
        return budgeted(traceID: traceID, spans: spans, tool: "view_spans")
    }

    func budgeted(traceID: String, spans: [Span], tool: String) -> TraceView {
        let sizes = spans.map { haloJSONSize($0.jsonValue) }
        let total = sizes.reduce(0, +)
        guard total > Self.responseBytesBudget else { return TraceView(traceID: traceID, spans: spans, oversized: nil) }
        let sorted = sizes.sorted()
        var counts: [String: Int] = [:]
        var order: [String] = []
        for s in spans {
            if counts[s.name] == nil { order.append(s.name) }
            counts[s.name, default: 0] += 1
        }
        let top = order.enumerated().sorted { a, b in
            counts[a.element]! != counts[b.element]! ? counts[a.element]! > counts[b.element]! : a.offset < b.offset
        }.prefix(10).map { SpanNameCount(name: $0.element, count: counts[$0.element]!) }
        let recommendation: String
        if tool == "view_spans" {
            recommendation =
                "The selected spans exceed the per-call view budget (\(groupedThousands(total)) bytes > \(groupedThousands(Self.responseBytesBudget))). "
                + "Do not retry view_spans with the same set. Instead: (1) call search_span(trace_id, span_id, regex_pattern) "
                + "on individual large spans (look at span_response_bytes_max below) to extract only the regex matches you "
                + "need; or (2) call view_spans with a smaller subset of span_ids."
        } else {
            recommendation =
                "This trace exceeds the per-call view budget (\(groupedThousands(total)) bytes > \(groupedThousands(Self.responseBytesBudget))). "
                + "Do not retry view_trace. Instead: (1) call search_trace(trace_id, regex_pattern) with a specific regex "
                + "(error string, tool name, attribute key) to surface the spans you actually need; or (2) call "
                + "view_spans(trace_id, span_ids=[...]) with specific span ids you've already seen in search_trace results. "
                + "If a single span surfaces as too large, use search_span(trace_id, span_id, regex_pattern) to extract "
                + "matches from inside that span. The top_span_names below give a sense of what's in the trace."
        }
        return TraceView(
            traceID: traceID, spans: [],
            oversized: OversizedTraceSummary(
                traceID: traceID, spanCount: spans.count, truncatedResponseBytes: total,
                responseBytesBudget: Self.responseBytesBudget, spanResponseBytesMin: sorted.first ?? 0,
                spanResponseBytesMedian: sorted.isEmpty ? 0 : sorted[sorted.count / 2],
                spanResponseBytesMax: sorted.last ?? 0, topSpanNames: top,
                errorSpanCount: spans.filter { $0.status.code == "STATUS_CODE_ERROR" }.count,
                recommendation: recommendation))
    }

    /// `search_trace`: regex over each raw span line; offsets and context in code points.
    public func search(traceID: String, pattern: String, contextBufferChars: Int = 100, maxMatches: Int = 50) throws
        -> TraceSearchResult
    {
        try searchImpl(traceID: traceID, spanID: nil, pattern: pattern, context: contextBufferChars, maxMatches: maxMatches)
    }

    /// `search_span`: the same inside one span.
    public func searchSpan(
        traceID: String, spanID: String, pattern: String, contextBufferChars: Int = 100, maxMatches: Int = 50
    ) throws -> TraceSearchResult {
        try searchImpl(traceID: traceID, spanID: spanID, pattern: pattern, context: contextBufferChars, maxMatches: maxMatches)
    }

    func searchImpl(traceID: String, spanID: String?, pattern: String, context: Int, maxMatches: Int) throws
        -> TraceSearchResult
    {
        guard (0...2000).contains(context) else {
            throw TraceStoreError.outOfRange(name: "context_buffer_chars", value: context, range: "0–2000")
        }
        guard (1...500).contains(maxMatches) else {
            throw TraceStoreError.outOfRange(name: "max_matches", value: maxMatches, range: "1–500")
        }
        let t = try trace(traceID)
        let regex = try compileRegex(pattern)
        var indices = Array(0..<t.spanCount)
        if let spanID {
            guard let i = t.spanIDs.firstIndex(of: spanID) else {
                throw TraceStoreError.unknownSpan(traceID: traceID, spanID: spanID)
            }
            indices = [i]
        }
        var matches: [SpanMatchRecord] = []
        var count = 0
        for i in indices {
            let raw = rawLine(t, i)
            let ns = raw as NSString
            let found = regex.matches(in: raw, range: NSRange(location: 0, length: ns.length))
            if found.isEmpty { continue }
            let sp = try span(t, at: i)
            let scalars = Array(raw.unicodeScalars)
            let map = utf16ToScalarMap(raw)
            for m in found {
                count += 1
                guard matches.count < maxMatches else { continue }
                let start = map(m.range.location), end = map(m.range.location + m.range.length)
                let cs = max(0, start - context), ce = min(scalars.count, end + context)
                matches.append(
                    SpanMatchRecord(
                        traceID: traceID, spanID: sp.spanID, spanIndex: i, spanName: sp.name, kind: sp.kind,
                        statusCode: sp.status.code, parentSpanID: sp.parentSpanID, rawJSONLBytes: t.lengths[i],
                        matchText: scalarString(scalars[start..<end]), matchedContext: scalarString(scalars[cs..<ce]),
                        matchStartChar: start, matchEndChar: end))
            }
        }
        return TraceSearchResult(
            traceID: traceID, spanID: spanID, matchCount: count, returnedMatchCount: matches.count,
            hasMore: count > matches.count, matches: matches)
    }
}

// MARK: - Regex helpers

func compileRegex(_ pattern: String) throws -> NSRegularExpression {
    do {
        return try NSRegularExpression(pattern: pattern, options: [])
    } catch {
        throw TraceStoreError.badRegex(pattern: pattern, reason: "the pattern does not compile")
    }
}

/// Matches a regex against raw line bytes; literal patterns use a byte search.
struct RawMatcher {
    let literal: [UInt8]?
    let regex: NSRegularExpression?

    init(_ pattern: String) throws {
        let meta = Set(".^$*+?()[]{}|\\".unicodeScalars)
        if !pattern.isEmpty, !pattern.unicodeScalars.contains(where: meta.contains) {
            literal = Array(pattern.utf8)
            regex = nil
        } else {
            literal = nil
            regex = try compileRegex(pattern)
        }
    }

    func matches(_ line: UnsafeRawBufferPointer) -> Bool {
        if let literal {
            guard line.count >= literal.count, let b = line.baseAddress else { return false }
            return literal.withUnsafeBytes { l in byteSearch(b, line.count, l.baseAddress!, l.count) }
        }
        let s = String(decoding: line, as: UTF8.self)
        return regex!.firstMatch(in: s, range: NSRange(location: 0, length: (s as NSString).length)) != nil
    }
}

/// Maps UTF-16 offsets of `s` to Unicode scalar offsets.
func utf16ToScalarMap(_ s: String) -> (Int) -> Int {
    if s.utf8.allSatisfy({ $0 < 0x80 }) { return { $0 } }
    var table = [Int]()
    table.reserveCapacity(s.utf16.count + 1)
    var si = 0
    for u in s.unicodeScalars {
        table.append(si)
        if u.value > 0xFFFF { table.append(si) }
        si += 1
    }
    table.append(si)
    return { table[min($0, table.count - 1)] }
}

func scalarString(_ s: ArraySlice<Unicode.Scalar>) -> String {
    var v = String.UnicodeScalarView()
    v.append(contentsOf: s)
    return String(v)
}

func groupedThousands(_ n: Int) -> String {
    let s = String(n)
    var out = ""
    for (i, c) in s.enumerated() {
        if i > 0, (s.count - i) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return out
}

// MARK: - Caps and sizes

extension Span {
    static let flatProjection = try! NSRegularExpression(pattern: "^(?:llm\\.(?:input|output)_messages|mcp\\.tools)\\.\\d+\\.")

    /// A copy with HALO's attribute caps: strings over `cap` code points are cut with a marker, non-strings whose
    /// Python-style JSON is over `cap` become a cut string, flat message projections are dropped.
    public func capped(at cap: Int) -> Span {
        var out = self
        var attrs: [String: JSONValue] = [:]
        var dropped = 0
        for (k, v) in attributes {
            if k.hasPrefix("llm.") || k.hasPrefix("mcp."),
                Span.flatProjection.firstMatch(in: k, range: NSRange(location: 0, length: (k as NSString).length)) != nil
            {
                dropped += 1
                continue
            }
            attrs[k] = capValue(v, cap)
        }
        if dropped > 0 {
            attrs["__halo_dropped_flat_projections"] = .string(
                "\(dropped) llm.input_messages.<i>.* / llm.output_messages.<i>.* / mcp.tools.<i>.* projection keys dropped to keep span size bounded. The JSON-blob attributes llm.input_messages / llm.output_messages / mcp.tools.listed (head-capped at ~\(cap / 1024)KB) carry the same content."
            )
        }
        out.attributes = attrs
        return out
    }
}

func capValue(_ v: JSONValue, _ cap: Int) -> JSONValue {
    if case .string(let s) = v {
        let n = s.unicodeScalars.count
        if n <= cap { return v }
        return .string(prefixScalars(s, cap) + "... [HALO truncated: original \(n) chars]")
    }
    var text = ""
    pythonJSON(v, &text)
    let n = text.unicodeScalars.count
    if n <= cap { return v }
    return .string(prefixScalars(text, cap) + "... [HALO truncated: original \(n) chars; non-string attribute serialized for truncation]")
}

/// Python's `json.dumps(v, ensure_ascii=False)` (", " and ": " separators).
func pythonJSON(_ v: JSONValue, _ out: inout String) {
    switch v {
    case .null: out += "null"
    case .bool(let b): out += b ? "true" : "false"
    case .int(let i): out += String(i)
    case .double(let d):
        if d.isNaN { out += "NaN" } else if d.isInfinite { out += d > 0 ? "Infinity" : "-Infinity" } else { out += JSONValue.format(d) }
    case .string(let s): pythonString(s, &out)
    case .array(let a):
        out += "["
        for (i, x) in a.enumerated() {
            if i > 0 { out += ", " }
            pythonJSON(x, &out)
        }
        out += "]"
    case .object(let o):
        out += "{"
        for (i, k) in o.keys.sorted(by: JSONValue.utf8Less).enumerated() {
            if i > 0 { out += ", " }
            pythonString(k, &out)
            out += ": "
            pythonJSON(o[k]!, &out)
        }
        out += "}"
    }
}

/// A JSON string literal as Python's `json.dumps(ensure_ascii=False)` writes it.
func pythonString(_ s: String, _ out: inout String) { JSONValue.writeString(s, to: &out, escapeLineSeparators: false) }

/// UTF-8 size of `v` serialized compactly as HALO's pydantic does (raw UTF-8, U+2028/9 not escaped).
func haloJSONSize(_ v: JSONValue) -> Int {
    switch v {
    case .null: return 4
    case .bool(let b): return b ? 4 : 5
    case .int(let i): return String(i).utf8.count
    case .double(let d): return JSONValue.format(d).utf8.count
    case .string(let s): return haloStringSize(s)
    case .array(let a): return 2 + max(0, a.count - 1) + a.reduce(0) { $0 + haloJSONSize($1) }
    case .object(let o):
        return 2 + max(0, o.count - 1) + o.reduce(0) { $0 + haloStringSize($1.key) + 1 + haloJSONSize($1.value) }
    }
}

func haloStringSize(_ s: String) -> Int {
    var n = 2
    for b in s.utf8 {
        switch b {
        case 0x22, 0x5C, 0x0A, 0x0D, 0x09, 0x08, 0x0C: n += 2
        case 0..<0x20: n += 6
        default: n += 1
        }
    }
    return n
}

/// True when `needle` occurs in `hay` (memchr for the first byte, then memcmp).
func byteSearch(_ hay: UnsafeRawPointer, _ n: Int, _ needle: UnsafeRawPointer, _ m: Int) -> Bool {
    guard m > 0 else { return true }
    let first = Int32(needle.load(as: UInt8.self))
    var p = hay
    var left = n
    while left >= m, let hit = memchr(p, first, left - m + 1) {
        let hp = UnsafeRawPointer(hit)
        if memcmp(hp, needle, m) == 0 { return true }
        left -= hp - p + 1
        p = hp + 1
    }
    return false
}

// MARK: - Rendering for synthesize_traces

extension TraceStore {
    /// A trace as plain text, as HALO's `render_trace` writes it for `synthesize_traces`: ids, name, kind, status,
    /// times, model and tokens per span (from `view`, so an oversized trace renders with 0 spans), cut at `budget`
    /// code points with `... [truncated]`.
    public func render(traceID: String, budget: Int = 8000) throws -> String {
        let view = try view(traceID: traceID)
        var lines = ["trace_id: \(traceID)", "spans: \(view.spans.count)"]
        for s in view.spans {
            lines.append(
                "- span_id=\(s.spanID) parent=\(s.parentSpanID.isEmpty ? "∅" : s.parentSpanID) name=\(s.name) kind=\(s.kind) status=\(s.status.code)")
            lines.append("  start=\(s.startTime) end=\(s.endTime)")
            let a = s.attributes["inference.llm.model_name"]
            let model = truthy(a) ? a : s.attributes["llm.model_name"]
            if truthy(model), let model { lines.append("  model=\(pythonStr(model))") }
            let i = s.attributes["inference.llm.input_tokens"], o = s.attributes["inference.llm.output_tokens"]
            if (i != nil && i != .null) || (o != nil && o != .null) {
                lines.append("  tokens: input=\(i.map(pythonStr) ?? "None") output=\(o.map(pythonStr) ?? "None")")
            }
        }
        let text = lines.joined(separator: "\n")
        return text.unicodeScalars.count > budget ? prefixScalars(text, budget) + "... [truncated]" : text
    }
}

/// Python's `str()` of a JSON value (approximately, for containers).
func pythonStr(_ v: JSONValue) -> String {
    switch v {
    case .null: return "None"
    case .bool(let b): return b ? "True" : "False"
    case .int(let i): return String(i)
    case .double(let d): return JSONValue.format(d)
    case .string(let s): return s
    default:
        var out = ""
        pythonJSON(v, &out)
        return out
    }
}
