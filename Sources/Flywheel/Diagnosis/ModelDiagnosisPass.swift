import Foundation

/// The optional LLM pass of diagnosis (`models.diagnosis` in loop.yaml): a tool-calling loop in which the model
/// explores the traces through the same surface as `flywheel traces …` (HALO's tools over a `TraceStore`) and
/// reports failure modes the deterministic analysis missed. Every reported claim is checked against the traces
/// (the trace ids and span ids exist, each quote appears in its span) before it is kept; rejected reports go back to
/// the model as tool errors and are listed in `Result.rejected`.
///
/// Limits follow HALO's: a maximum number of model turns, and every tool response capped.
public struct ModelDiagnosisPass: Sendable {
    public var model: any ChatModel
    /// The provider-side model name put in requests.
    public var modelName: String
    /// Model calls allowed.
    public var maxTurns: Int
    /// Tool responses longer than this (characters) are cut with a note.
    public var maxToolResultChars: Int
    /// Reports kept at most.
    public var maxFailureModes: Int

    public init(model: any ChatModel, modelName: String? = nil, maxTurns: Int = 16, maxToolResultChars: Int = 20_000, maxFailureModes: Int = 8) {
        self.model = model
        self.modelName = modelName ?? model.id
        self.maxTurns = maxTurns
        self.maxToolResultChars = maxToolResultChars
        self.maxFailureModes = maxFailureModes
    }

    /// What the pass found.
    public struct Result: Sendable {
        public var failureModes: [FailureMode]
        public var recommendations: [Recommendation]
        /// Why reports (or tool calls) were refused.
        public var rejected: [String]
        public var turns: Int
        public var toolCalls: Int
        /// The model's final answer (its report), when it gave one.
        public var answer: String?
    }

    // MARK: - Tools

    static func object(_ properties: [String: JSONValue], required: [String]) -> JSONValue {
        ["type": "object", "properties": .object(properties), "required": .array(required.map { .string($0) }), "additionalProperties": false]
    }

    static let filtersSchema: JSONValue = [
        "type": "object",
        "description": "All optional, ANDed: has_errors, model_names, service_names, agent_names, project_id, start_time_gte, end_time_lte, regex_pattern.",
    ]

    /// The tool definitions offered to the model.
    public static let tools: [ToolDefinition] = [
        ToolDefinition(name: "get_dataset_overview", description: "Totals, names, error counts and the error taxonomy of the traces (optionally filtered).",
                       parameters: object(["filters": filtersSchema], required: [])),
        ToolDefinition(name: "query_traces", description: "Trace summaries (id, span count, errors, agents, tokens), paged.",
                       parameters: object(["filters": filtersSchema, "limit": ["type": "integer"], "offset": ["type": "integer"]], required: [])),
        ToolDefinition(name: "count_traces", description: "How many traces match the filters.", parameters: object(["filters": filtersSchema], required: [])),
        ToolDefinition(name: "view_trace", description: "Every span of one trace (attributes capped at 4096 characters).",
                       parameters: object(["trace_id": ["type": "string"]], required: ["trace_id"])),
        ToolDefinition(name: "view_spans", description: "Selected spans of one trace (attributes capped at 16384 characters).",
                       parameters: object(["trace_id": ["type": "string"], "span_ids": ["type": "array", "items": ["type": "string"]]], required: ["trace_id", "span_ids"])),
        ToolDefinition(name: "search_trace", description: "Regex search over the raw span lines of one trace.",
                       parameters: object(["trace_id": ["type": "string"], "pattern": ["type": "string"], "context_buffer_chars": ["type": "integer"], "max_matches": ["type": "integer"]], required: ["trace_id", "pattern"])),
        ToolDefinition(name: "search_span", description: "Regex search inside one span.",
                       parameters: object(["trace_id": ["type": "string"], "span_id": ["type": "string"], "pattern": ["type": "string"], "context_buffer_chars": ["type": "integer"], "max_matches": ["type": "integer"]], required: ["trace_id", "span_id", "pattern"])),
        ToolDefinition(
            name: "report_failure_mode",
            description: "Report one failure mode with evidence. Each evidence item names a trace, a span in it, and a quote copied verbatim from that span; unverifiable reports are refused.",
            parameters: object([
                "title": ["type": "string"], "category": ["type": "string"],
                "kind": ["type": "string", "enum": ["missing requirement", "present but not followed", "implementation or observability defect"]],
                "evidence": ["type": "array", "items": object(["trace_id": ["type": "string"], "span_id": ["type": "string"], "quote": ["type": "string"]], required: ["trace_id", "span_id", "quote"])],
                "recommendation": object([
                    "title": ["type": "string"], "change": ["type": "string"],
                    "area": ["type": "string", "enum": .array(Recommendation.Area.allCases.map { .string($0.rawValue) })],
                ], required: ["title", "area", "change"]),
            ], required: ["title", "category", "kind", "evidence"])),
        ToolDefinition(name: "final_answer", description: "Finish with a short Markdown report of what you found.",
                       parameters: object(["answer": ["type": "string"]], required: ["answer"])),
    ]

    // MARK: - Loop

    /// Runs the loop over `store`, telling the model what the deterministic analysis already found.
    /// - Throws: only when a model call fails.
    public func run(store: TraceStore, deterministic: Diagnosis) throws -> Result {
        let known = deterministic.failureModes.prefix(12).map { "- \($0.id): \($0.title) (\($0.traceIDs.count) traces)" }.joined(separator: "\n")
        let system = """
            You diagnose an AI agent's failures from its traces (HALO span JSONL). Explore with the trace tools, find \
            failure modes that matter for the agent's task, and report each with report_failure_mode: give evidence as \
            (trace_id, span_id, quote) where the quote is copied verbatim from that span. Do not report modes already \
            found by the deterministic analysis. Finish with final_answer.
            """
        let user = "Failure modes already found:\n" + (known.isEmpty ? "(none)" : known) + "\n\nStart with get_dataset_overview."
        var messages: [ChatMessage] = [.system(system), .user(user)]
        var state = State(existingIDs: Set(deterministic.failureModes.map(\.id)))
        var turns = 0, calls = 0
        var answer: String?
        loop: while turns < maxTurns {
            turns += 1
            let response = try model.complete(
                ChatRequest(model: modelName, messages: messages, tools: Self.tools, toolChoice: .auto, temperature: 0))
            messages.append(response.message)
            if response.message.toolCalls.isEmpty {
                answer = response.message.content
                break
            }
            var finished = false
            for call in response.message.toolCalls {
                calls += 1
                let output: String
                if call.name == "final_answer" {
                    answer = (try? JSONValue.parse(call.arguments))?["answer"]?.stringValue ?? ""
                    output = "{\"result\":\"done\"}"
                    finished = true
                } else {
                    output = execute(call, store: store, state: &state)
                }
                messages.append(.tool(callID: call.id, name: call.name, content: cap(output)))
            }
            if finished { break loop }
        }
        if turns >= maxTurns && answer == nil { state.rejected.append("stopped after \(maxTurns) turns (max turns)") }
        return Result(failureModes: state.modes, recommendations: state.recommendations, rejected: state.rejected, turns: turns, toolCalls: calls, answer: answer)
    }

    struct State {
        var existingIDs: Set<String>
        var modes: [FailureMode] = []
        var recommendations: [Recommendation] = []
        var rejected: [String] = []
    }

    func cap(_ text: String) -> String {
        guard text.count > maxToolResultChars else { return text }
        return String(text.prefix(maxToolResultChars)) + "\n... [truncated: \(text.count) characters; narrow the request with search_trace or view_spans]"
    }

    static func toolError(_ message: String) -> String { "An error occurred while running the tool. Please try again. Error: \(message)" }

    func execute(_ call: ToolCall, store: TraceStore, state: inout State) -> String {
        guard let args = try? JSONValue.parse(call.arguments.isEmpty ? "{}" : call.arguments), args.objectValue != nil else {
            return Self.toolError("arguments are not a JSON object")
        }
        do {
            let filters = try args["filters"].map { $0.isNull ? TraceFilters() : try TraceFilters(json: $0) } ?? TraceFilters()
            func str(_ k: String) throws -> String {
                guard let s = args[k]?.stringValue else { throw TraceStoreError.invalidArgument(name: k, reason: "\(k) is required (a string)") }
                return s
            }
            func int(_ k: String, _ def: Int) -> Int { args[k]?.intValue.map { Int($0) } ?? def }
            switch call.name {
            case "get_dataset_overview": return try store.overview(filters).envelopeText()
            case "query_traces": return try store.query(filters, limit: int("limit", 50), offset: int("offset", 0)).envelopeText()
            case "count_traces": return try store.count(filters).envelopeText()
            case "view_trace": return try store.view(traceID: str("trace_id")).envelopeText()
            case "view_spans":
                return try store.viewSpans(traceID: str("trace_id"), spanIDs: args["span_ids"]?.arrayValue?.compactMap(\.stringValue) ?? []).envelopeText()
            case "search_trace":
                return try store.search(traceID: str("trace_id"), pattern: str("pattern"), contextBufferChars: int("context_buffer_chars", 100), maxMatches: int("max_matches", 50)).envelopeText()
            case "search_span":
                return try store.searchSpan(traceID: str("trace_id"), spanID: str("span_id"), pattern: str("pattern"), contextBufferChars: int("context_buffer_chars", 100), maxMatches: int("max_matches", 50)).envelopeText()
            case "report_failure_mode":
                return report(args, store: store, state: &state)
            default:
                return Self.toolError("unknown tool \(call.name)")
            }
        } catch let error as TraceStoreError {
            return error.toolMessage
        } catch {
            return Self.toolError("\(error)")
        }
    }

    /// Verifies a report and keeps it, or explains the refusal.
    func report(_ args: JSONValue, store: TraceStore, state: inout State) -> String {
        func refuse(_ why: String) -> String {
            state.rejected.append("report \"\(args["title"]?.stringValue ?? "?")\": \(why)")
            return Self.toolError("report refused: \(why)")
        }
        guard state.modes.count < maxFailureModes else { return refuse("at most \(maxFailureModes) reports") }
        guard let title = args["title"]?.stringValue, !title.trimmingCharacters(in: .whitespaces).isEmpty else { return refuse("title is required") }
        let category = args["category"]?.stringValue ?? "model-finding"
        guard let kind = args["kind"]?.stringValue.flatMap(FailureMode.Kind.init(rawValue:)) else { return refuse("kind must be one of the three kinds") }
        guard let evidence = args["evidence"]?.arrayValue, !evidence.isEmpty else { return refuse("evidence is required") }
        var refs: [EvidenceRef] = []
        var traceIDs: [String] = [], spanIDs: [String] = []
        for (i, e) in evidence.enumerated() {
            guard let traceID = e["trace_id"]?.stringValue, let spanID = e["span_id"]?.stringValue, let quote = e["quote"]?.stringValue else {
                return refuse("evidence[\(i)] needs trace_id, span_id and quote")
            }
            guard let spans = try? store.spans(traceID: traceID) else { return refuse("evidence[\(i)]: unknown trace \(traceID)") }
            guard let span = spans.first(where: { $0.spanID == spanID }) else { return refuse("evidence[\(i)]: no span \(spanID) in trace \(traceID)") }
            let q = normalizedForQuote(quote)
            guard q.count >= 3 else { return refuse("evidence[\(i)]: the quote is too short") }
            guard Self.spanText(span).contains(q) else { return refuse("evidence[\(i)]: quote not found in span \(spanID)") }
            refs.append(EvidenceRef(traceID: traceID, spanID: spanID, note: "model: \"\(RuleCritic.clip(quote, 160))\""))
            if !traceIDs.contains(traceID) { traceIDs.append(traceID) }
            if !spanIDs.contains(spanID) { spanIDs.append(spanID) }
        }
        let id = "fm-model-" + slugify(title, max: 40)
        guard !state.existingIDs.contains(id) else { return refuse("already reported (\(id))") }
        var recommendation: Recommendation?
        if let r = args["recommendation"], !r.isNull {
            guard let rt = r["title"]?.stringValue, let change = r["change"]?.stringValue, !change.isEmpty,
                let area = r["area"]?.stringValue.flatMap(Recommendation.Area.init(rawValue:))
            else { return refuse("recommendation needs title, a known area and change") }
            recommendation = Recommendation(
                id: "rec-model-" + slugify(title, max: 40) + "-" + slugify(area.rawValue), rank: 0, title: rt, area: area, change: change,
                patch: nil, predictedImpact: PredictedImpact(evalIDs: [], traceIDs: traceIDs, summary: "Proposed by \(model.id) from \(traceIDs.count) trace(s); unverified by evals."),
                confidence: .low, effort: .medium, evidence: refs, validation: "Re-run and check that the quoted behaviour no longer appears in the traces.",
                failureModeIDs: [id])
        }
        state.existingIDs.insert(id)
        state.modes.append(FailureMode(id: id, title: title, kind: kind, category: category, count: refs.count, traceIDs: traceIDs, spanIDs: spanIDs, evidence: refs))
        if let recommendation { state.recommendations.append(recommendation) }
        return "{\"result\":{\"recorded\":\"\(id)\"}}"
    }

    /// The span's text a quote may come from: its compact JSON line and every string attribute, normalised.
    static func spanText(_ span: Span) -> String {
        var parts = [span.jsonLine, span.name, span.status.message]
        for k in span.attributes.keys.sorted(by: byteOrder) { if let s = span.attributes[k]?.stringValue { parts.append(s) } }
        return normalizedForQuote(parts.joined(separator: "\n"))
    }

    /// The deterministic diagnosis with the pass's findings appended (ranked after the deterministic ones) and
    /// `generated_by` = `deterministic+model:<id>`.
    public static func merge(_ d: Diagnosis, _ r: Result, modelID: String) -> Diagnosis {
        var out = d
        out.generatedBy = "deterministic+model:\(modelID)"
        out.failureModes += r.failureModes
        var next = (d.recommendations.map(\.rank).max() ?? 0) + 1
        for var rec in r.recommendations where !out.recommendations.contains(where: { $0.id == rec.id }) {
            rec.rank = next
            next += 1
            out.recommendations.append(rec)
        }
        return out
    }
}
