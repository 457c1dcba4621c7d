import FlywheelSupport
import Foundation

// Results of the exploration surface (spec §5). Each is Codable with HALO's snake_case field names, and renders
// as JSON with HALO's field order (the ordered writer) through `haloJSON` / `envelopeText(pretty:)`.

extension JSONValue {
    static func strings(_ a: [String]) -> JSONValue { .array(a.map { .string($0) }) }
    package static func integer<I: BinaryInteger>(_ i: I) -> JSONValue { .int(Int64(i)) }
}

/// A result of the exploration surface that renders in HALO's field order.
public protocol HALOResult: Sendable, Codable {
    /// The result in HALO's field order.
    var haloJSON: JSONValue { get }
}

extension HALOResult {
    /// `{"result": …}` as HALO's tools return it, compact or pretty.
    public func envelopeText(pretty: Bool = false) -> String {
        JSONValue.obj([("result", haloJSON)]).orderedText(indent: pretty ? 2 : 0)
    }
}

/// Filters of overview/query/count (all optional, ANDed; the regex is applied last over raw span lines).
public struct TraceFilters: Sendable, Hashable, Codable {
    public var hasErrors: Bool?
    public var modelNames: [String]?
    public var serviceNames: [String]?
    public var agentNames: [String]?
    public var projectID: String?
    /// Keep traces whose start time is ≥ this (compared as strings, by code point).
    public var startTimeGte: String?
    /// Keep traces whose end time is ≤ this.
    public var endTimeLte: String?
    /// Keep traces with any raw span line matching this regex (unanchored, no flags).
    public var regexPattern: String?

    public init(
        hasErrors: Bool? = nil, modelNames: [String]? = nil, serviceNames: [String]? = nil, agentNames: [String]? = nil,
        projectID: String? = nil, startTimeGte: String? = nil, endTimeLte: String? = nil, regexPattern: String? = nil
    ) {
        self.hasErrors = hasErrors
        self.modelNames = modelNames
        self.serviceNames = serviceNames
        self.agentNames = agentNames
        self.projectID = projectID
        self.startTimeGte = startTimeGte
        self.endTimeLte = endTimeLte
        self.regexPattern = regexPattern
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case hasErrors = "has_errors", modelNames = "model_names", serviceNames = "service_names"
        case agentNames = "agent_names", projectID = "project_id", startTimeGte = "start_time_gte"
        case endTimeLte = "end_time_lte", regexPattern = "regex_pattern"
    }

    /// Parses `--filters JSON`: an object with HALO's keys; unknown keys and wrong types are errors.
    public init(json: JSONValue) throws {
        guard case .object(let o) = json else {
            throw TraceStoreError.invalidArgument(name: "filters", reason: "filters must be a JSON object")
        }
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        if let bad = o.keys.sorted().first(where: { !known.contains($0) }) {
            throw TraceStoreError.invalidArgument(name: "filters.\(bad)", reason: "unknown filter key \(bad)")
        }
        func str(_ k: String) throws -> String? {
            switch o[k] {
            case nil, .null?: return nil
            case .string(let s)?: return s
            default: throw TraceStoreError.invalidArgument(name: "filters.\(k)", reason: "expected a string")
            }
        }
        func list(_ k: String) throws -> [String]? {
            switch o[k] {
            case nil, .null?: return nil
            case .array(let a)?:
                return try a.map {
                    guard case .string(let s) = $0 else {
                        throw TraceStoreError.invalidArgument(name: "filters.\(k)", reason: "expected a list of strings")
                    }
                    return s
                }
            default: throw TraceStoreError.invalidArgument(name: "filters.\(k)", reason: "expected a list of strings")
            }
        }
        var hasErrors: Bool?
        switch o["has_errors"] {
        case nil, .null?: hasErrors = nil
        case .bool(let b)?: hasErrors = b
        default: throw TraceStoreError.invalidArgument(name: "filters.has_errors", reason: "expected true or false")
        }
        self.init(
            hasErrors: hasErrors, modelNames: try list("model_names"), serviceNames: try list("service_names"),
            agentNames: try list("agent_names"), projectID: try str("project_id"),
            startTimeGte: try str("start_time_gte"), endTimeLte: try str("end_time_lte"),
            regexPattern: try str("regex_pattern"))
    }
}

/// One trace as `query` lists it.
public struct TraceSummary: HALOResult, Hashable {
    public var traceID: String
    public var spanCount: Int
    public var startTime: String
    public var endTime: String
    public var hasErrors: Bool
    public var serviceNames: [String]
    public var modelNames: [String]
    public var totalInputTokens: Int64
    public var totalOutputTokens: Int64
    public var agentNames: [String]
    public var agentIDs: [String]
    public var missingParentCount: Int
    public var missingAgentIdentityCount: Int
    public var projectIDMismatchCount: Int
    public var otelErrorSpanCount: Int
    public var toolErrorSpanCount: Int
    public var rawJSONLBytes: Int

    enum CodingKeys: String, CodingKey {
        case traceID = "trace_id", spanCount = "span_count", startTime = "start_time", endTime = "end_time"
        case hasErrors = "has_errors", serviceNames = "service_names", modelNames = "model_names"
        case totalInputTokens = "total_input_tokens", totalOutputTokens = "total_output_tokens"
        case agentNames = "agent_names", agentIDs = "agent_ids", missingParentCount = "missing_parent_count"
        case missingAgentIdentityCount = "missing_agent_identity_count"
        case projectIDMismatchCount = "project_id_mismatch_count", otelErrorSpanCount = "otel_error_span_count"
        case toolErrorSpanCount = "tool_error_span_count", rawJSONLBytes = "raw_jsonl_bytes"
    }

    public var haloJSON: JSONValue {
        .obj([
            ("trace_id", .string(traceID)), ("span_count", .integer(spanCount)), ("start_time", .string(startTime)),
            ("end_time", .string(endTime)), ("has_errors", .bool(hasErrors)), ("service_names", .strings(serviceNames)),
            ("model_names", .strings(modelNames)), ("total_input_tokens", .integer(totalInputTokens)),
            ("total_output_tokens", .integer(totalOutputTokens)), ("agent_names", .strings(agentNames)),
            ("agent_ids", .strings(agentIDs)), ("missing_parent_count", .integer(missingParentCount)),
            ("missing_agent_identity_count", .integer(missingAgentIdentityCount)),
            ("project_id_mismatch_count", .integer(projectIDMismatchCount)),
            ("otel_error_span_count", .integer(otelErrorSpanCount)), ("tool_error_span_count", .integer(toolErrorSpanCount)),
            ("raw_jsonl_bytes", .integer(rawJSONLBytes)),
        ])
    }
}

/// `query` result: a page of summaries and the total before paging.
public struct TraceQueryResult: HALOResult, Hashable {
    public var traces: [TraceSummary]
    public var total: Int
    public var haloJSON: JSONValue { .obj([("traces", .array(traces.map(\.haloJSON))), ("total", .integer(total))]) }
}

/// `count` result.
public struct TraceCountResult: HALOResult, Hashable {
    public var total: Int
    public var haloJSON: JSONValue { .obj([("total", .integer(total))]) }
}

/// One error signature of the overview's taxonomy.
public struct ErrorTaxonomyGroup: HALOResult, Hashable {
    public var spanName: String
    public var statusMessage: String
    public var errorSpanCount: Int
    public var traceCount: Int
    public var exampleTraceIDs: [String]

    enum CodingKeys: String, CodingKey {
        case spanName = "span_name", statusMessage = "status_message", errorSpanCount = "error_span_count"
        case traceCount = "trace_count", exampleTraceIDs = "example_trace_ids"
    }

    public var haloJSON: JSONValue {
        .obj([
            ("span_name", .string(spanName)), ("status_message", .string(statusMessage)),
            ("error_span_count", .integer(errorSpanCount)), ("trace_count", .integer(traceCount)),
            ("example_trace_ids", .strings(exampleTraceIDs)),
        ])
    }
}

/// `overview` result: a rollup of the filtered traces.
public struct DatasetOverview: HALOResult, Hashable {
    public var totalTraces: Int
    public var totalSpans: Int
    public var earliestStartTime: String
    public var latestEndTime: String
    public var serviceNames: [String]
    public var modelNames: [String]
    public var agentNames: [String]
    public var agentIDs: [String]
    public var errorTraceCount: Int
    public var missingParentCount: Int
    public var missingAgentIdentityCount: Int
    public var projectIDMismatchCount: Int
    public var otelErrorSpanCount: Int
    public var toolErrorSpanCount: Int
    public var errorTaxonomy: [ErrorTaxonomyGroup]
    public var totalInputTokens: Int64
    public var totalOutputTokens: Int64
    public var rawJSONLBytes: Int
    public var sampleTraceIDs: [String]

    enum CodingKeys: String, CodingKey {
        case totalTraces = "total_traces", totalSpans = "total_spans", earliestStartTime = "earliest_start_time"
        case latestEndTime = "latest_end_time", serviceNames = "service_names", modelNames = "model_names"
        case agentNames = "agent_names", agentIDs = "agent_ids", errorTraceCount = "error_trace_count"
        case missingParentCount = "missing_parent_count", missingAgentIdentityCount = "missing_agent_identity_count"
        case projectIDMismatchCount = "project_id_mismatch_count", otelErrorSpanCount = "otel_error_span_count"
        case toolErrorSpanCount = "tool_error_span_count", errorTaxonomy = "error_taxonomy"
        case totalInputTokens = "total_input_tokens", totalOutputTokens = "total_output_tokens"
        case rawJSONLBytes = "raw_jsonl_bytes", sampleTraceIDs = "sample_trace_ids"
    }

    public var haloJSON: JSONValue {
        .obj([
            ("total_traces", .integer(totalTraces)), ("total_spans", .integer(totalSpans)),
            ("earliest_start_time", .string(earliestStartTime)), ("latest_end_time", .string(latestEndTime)),
            ("service_names", .strings(serviceNames)), ("model_names", .strings(modelNames)),
            ("agent_names", .strings(agentNames)), ("agent_ids", .strings(agentIDs)),
            ("error_trace_count", .integer(errorTraceCount)), ("missing_parent_count", .integer(missingParentCount)),
            ("missing_agent_identity_count", .integer(missingAgentIdentityCount)),
            ("project_id_mismatch_count", .integer(projectIDMismatchCount)),
            ("otel_error_span_count", .integer(otelErrorSpanCount)), ("tool_error_span_count", .integer(toolErrorSpanCount)),
            ("error_taxonomy", .array(errorTaxonomy.map(\.haloJSON))), ("total_input_tokens", .integer(totalInputTokens)),
            ("total_output_tokens", .integer(totalOutputTokens)), ("raw_jsonl_bytes", .integer(rawJSONLBytes)),
            ("sample_trace_ids", .strings(sampleTraceIDs)),
        ])
    }
}

/// A span name and how often it occurs (encoded as `[name, count]`).
public struct SpanNameCount: Sendable, Hashable, Codable {
    public var name: String
    public var count: Int
    public init(name: String, count: Int) {
        self.name = name
        self.count = count
    }
    public init(from decoder: any Decoder) throws {
        var c = try decoder.unkeyedContainer()
        name = try c.decode(String.self)
        count = try c.decode(Int.self)
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.unkeyedContainer()
        try c.encode(name)
        try c.encode(count)
    }
}

/// Returned instead of spans when a view would exceed the 150,000-byte budget.
public struct OversizedTraceSummary: HALOResult, Hashable {
    public var traceID: String
    public var spanCount: Int
    public var truncatedResponseBytes: Int
    public var responseBytesBudget: Int
    public var spanResponseBytesMin: Int
    public var spanResponseBytesMedian: Int
    public var spanResponseBytesMax: Int
    public var topSpanNames: [SpanNameCount]
    public var errorSpanCount: Int
    public var recommendation: String

    enum CodingKeys: String, CodingKey {
        case traceID = "trace_id", spanCount = "span_count", truncatedResponseBytes = "truncated_response_bytes"
        case responseBytesBudget = "response_bytes_budget", spanResponseBytesMin = "span_response_bytes_min"
        case spanResponseBytesMedian = "span_response_bytes_median", spanResponseBytesMax = "span_response_bytes_max"
        case topSpanNames = "top_span_names", errorSpanCount = "error_span_count", recommendation
    }

    public var haloJSON: JSONValue {
        .obj([
            ("trace_id", .string(traceID)), ("span_count", .integer(spanCount)),
            ("truncated_response_bytes", .integer(truncatedResponseBytes)),
            ("response_bytes_budget", .integer(responseBytesBudget)),
            ("span_response_bytes_min", .integer(spanResponseBytesMin)),
            ("span_response_bytes_median", .integer(spanResponseBytesMedian)),
            ("span_response_bytes_max", .integer(spanResponseBytesMax)),
            ("top_span_names", .array(topSpanNames.map { .array([.string($0.name), .integer($0.count)]) })),
            ("error_span_count", .integer(errorSpanCount)), ("recommendation", .string(recommendation)),
        ])
    }
}

/// `view` result: the (attribute-capped) spans of a trace in file order, or `oversized`.
public struct TraceView: HALOResult, Hashable {
    public var traceID: String
    public var spans: [Span]
    public var oversized: OversizedTraceSummary?

    enum CodingKeys: String, CodingKey { case traceID = "trace_id", spans, oversized }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(traceID, forKey: .traceID)
        try c.encode(spans, forKey: .spans)
        try c.encode(oversized, forKey: .oversized)  // null kept
    }

    public var haloJSON: JSONValue {
        .obj([
            ("trace_id", .string(traceID)), ("spans", .array(spans.map(\.haloJSON))),
            ("oversized", oversized?.haloJSON ?? .null),
        ])
    }
}

extension Span {
    /// The span in HALO's view shape: the §2 keys in order (defaults filled in), then extra keys sorted.
    public var haloJSON: JSONValue {
        var m: [(String, JSONValue)] = [
            ("trace_id", .string(traceID)), ("span_id", .string(spanID)), ("parent_span_id", .string(parentSpanID)),
            ("trace_state", .string(traceState)), ("name", .string(name)), ("kind", .string(kind)),
            ("start_time", .string(startTime)), ("end_time", .string(endTime)),
            ("status", .obj([("code", .string(status.code)), ("message", .string(status.message))])),
            ("resource", .obj([("attributes", .object(resourceAttributes))])),
            ("scope", .obj([("name", .string(scope.name)), ("version", .string(scope.version))])),
            ("attributes", .object(attributes)),
        ]
        for k in extra.keys.sorted(by: JSONValue.utf8Less) { m.append((k, extra[k]!.keysSorted)) }
        return .obj(m)
    }
}

/// One regex match inside a span's raw line; offsets count code points.
public struct SpanMatchRecord: HALOResult, Hashable {
    public var traceID: String
    public var spanID: String
    public var spanIndex: Int
    public var spanName: String
    public var kind: String
    public var statusCode: String
    public var parentSpanID: String
    public var rawJSONLBytes: Int
    public var matchText: String
    public var matchedContext: String
    public var matchStartChar: Int
    public var matchEndChar: Int

    enum CodingKeys: String, CodingKey {
        case traceID = "trace_id", spanID = "span_id", spanIndex = "span_index", spanName = "span_name", kind
        case statusCode = "status_code", parentSpanID = "parent_span_id", rawJSONLBytes = "raw_jsonl_bytes"
        case matchText = "match_text", matchedContext = "matched_context", matchStartChar = "match_start_char"
        case matchEndChar = "match_end_char"
    }

    public var haloJSON: JSONValue {
        .obj([
            ("trace_id", .string(traceID)), ("span_id", .string(spanID)), ("span_index", .integer(spanIndex)),
            ("span_name", .string(spanName)), ("kind", .string(kind)), ("status_code", .string(statusCode)),
            ("parent_span_id", .string(parentSpanID)), ("raw_jsonl_bytes", .integer(rawJSONLBytes)),
            ("match_text", .string(matchText)), ("matched_context", .string(matchedContext)),
            ("match_start_char", .integer(matchStartChar)), ("match_end_char", .integer(matchEndChar)),
        ])
    }
}

/// `search` result (`span_id` is set for a one-span search and then follows `trace_id`).
public struct TraceSearchResult: HALOResult, Hashable {
    public var traceID: String
    public var spanID: String?
    public var matchCount: Int
    public var returnedMatchCount: Int
    public var hasMore: Bool
    public var matches: [SpanMatchRecord]

    enum CodingKeys: String, CodingKey {
        case traceID = "trace_id", spanID = "span_id", matchCount = "match_count"
        case returnedMatchCount = "returned_match_count", hasMore = "has_more", matches
    }

    public var haloJSON: JSONValue {
        var m: [(String, JSONValue)] = [("trace_id", .string(traceID))]
        if let spanID { m.append(("span_id", .string(spanID))) }
        m += [
            ("match_count", .integer(matchCount)), ("returned_match_count", .integer(returnedMatchCount)),
            ("has_more", .bool(hasMore)), ("matches", .array(matches.map(\.haloJSON))),
        ]
        return .obj(m)
    }
}

/// Per-trace index row (Codable) for callers that want the one-pass index itself.
public struct TraceIndexRow: Sendable, Hashable, Codable {
    public var traceID: String
    public var file: String
    public var firstLine: Int
    public var spanCount: Int
    public var errorSpanCount: Int
    public var toolErrorSpanCount: Int
    public var startTime: String
    public var endTime: String
    /// End minus start in nanoseconds, when both are 9-digit timestamps.
    public var durationNanos: Int64?
    public var modelNames: [String]
    public var agentNames: [String]
    public var serviceNames: [String]
    public var inputTokens: Int64
    public var outputTokens: Int64
    public var rootSpanName: String?
    public var projectID: String?

    enum CodingKeys: String, CodingKey {
        case traceID = "trace_id", file, firstLine = "first_line", spanCount = "span_count"
        case errorSpanCount = "error_span_count", toolErrorSpanCount = "tool_error_span_count"
        case startTime = "start_time", endTime = "end_time", durationNanos = "duration_ns", modelNames = "model_names"
        case agentNames = "agent_names", serviceNames = "service_names", inputTokens = "input_tokens"
        case outputTokens = "output_tokens", rootSpanName = "root_span_name", projectID = "project_id"
    }
}

/// Errors of the exploration surface (spec §5): CLI prints `{"error":{"code","message"}}`, a model sees
/// ``toolMessage``.
public enum TraceStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    case unknownTrace(String)
    case unknownSpan(traceID: String, spanID: String)
    case badRegex(pattern: String, reason: String)
    case outOfRange(name: String, value: Int, range: String)
    case invalidArgument(name: String, reason: String)
    case invalidDataset(TraceValidationReport)
    case unreadable(path: String, reason: String)

    /// Stable error code.
    public var code: String {
        switch self {
        case .unknownTrace: return "unknown_trace"
        case .unknownSpan: return "unknown_span"
        case .badRegex: return "bad_regex"
        case .outOfRange: return "out_of_range"
        case .invalidArgument: return "invalid_argument"
        case .invalidDataset: return "invalid_dataset"
        case .unreadable: return "unreadable"
        }
    }

    public var message: String {
        switch self {
        case .unknownTrace(let id): return "unknown trace_id \(id)"
        case .unknownSpan(let t, let s): return "span_id=\(s) not found in trace_id=\(t)"
        case .badRegex(let p, let r): return "invalid regex pattern \(quoted(p)): \(r)"
        case .outOfRange(let n, let v, let r): return "\(n)=\(v) is out of range (\(r))"
        case .invalidArgument(let n, let r): return "\(n): \(r)"
        case .invalidDataset(let report):
            let errs = report.errors
            let first = errs.first.map { " first: \($0.description)" } ?? ""
            return "invalid dataset: \(errs.count) error(s);\(first)"
        case .unreadable(let p, let r): return "cannot read \(p): \(r)"
        }
    }

    public var description: String { message }

    /// The message a model sees when a tool call fails.
    public var toolMessage: String { "An error occurred while running the tool. Please try again. Error: \(message)" }

    /// `{"error":{"code","message"}}`.
    public var errorJSON: String {
        JSONValue.obj([("error", .obj([("code", .string(code)), ("message", .string(message))]))]).orderedText()
    }
}
