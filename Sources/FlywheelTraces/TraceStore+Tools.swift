import FlywheelSupport
import Foundation

// MARK: - HALO's tool surface, by name

extension TraceStore {
    /// HALO's trace tools, as agents call them (the model diagnosis pass and `flywheel mcp`).
    public static let toolNames: Set<String> = [
        "get_dataset_overview", "query_traces", "count_traces", "view_trace", "view_spans", "search_trace", "search_span",
    ]

    /// Runs one of HALO's trace tools with its JSON arguments and returns its envelope text; nil for another name.
    /// - Throws: `TraceStoreError` for a bad argument or an unknown trace/span (its `toolMessage` is the answer to show).
    public func callTool(_ name: String, arguments args: JSONValue) throws -> String? {
        guard Self.toolNames.contains(name) else { return nil }
        let filters = try args["filters"].map { $0.isNull ? TraceFilters() : try TraceFilters(json: $0) } ?? TraceFilters()
        func str(_ k: String) throws -> String {
            guard let s = args[k]?.stringValue else { throw TraceStoreError.invalidArgument(name: k, reason: "\(k) is required (a string)") }
            return s
        }
        func int(_ k: String, _ def: Int) -> Int { args[k]?.intValue.map { Int($0) } ?? def }
        switch name {
        case "get_dataset_overview": return try overview(filters).envelopeText()
        case "query_traces": return try query(filters, limit: int("limit", 50), offset: int("offset", 0)).envelopeText()
        case "count_traces": return try count(filters).envelopeText()
        case "view_trace": return try view(traceID: str("trace_id")).envelopeText()
        case "view_spans":
            return try viewSpans(traceID: str("trace_id"), spanIDs: args["span_ids"]?.arrayValue?.compactMap(\.stringValue) ?? []).envelopeText()
        case "search_trace":
            return try search(
                traceID: str("trace_id"), pattern: str("pattern"), contextBufferChars: int("context_buffer_chars", 100),
                maxMatches: int("max_matches", 50)
            ).envelopeText()
        default:
            return try searchSpan(
                traceID: str("trace_id"), spanID: str("span_id"), pattern: str("pattern"), contextBufferChars: int("context_buffer_chars", 100),
                maxMatches: int("max_matches", 50)
            ).envelopeText()
        }
    }
}
