import FlywheelSupport
import FlywheelTraces
import Foundation
import FlywheelModels

/// The optional LLM pass of diagnosis (`models.diagnosis` in loop.yaml): a tool-calling loop in which the model
/// explores the traces through the same surface as `flywheel traces …` (HALO's tools over a `TraceStore`) and
/// reports failure modes the deterministic analysis missed. Like HALO's engine starting from its overview, it starts
/// from the deterministic clusters (ids, titles, shares of traces, message templates and evidence) and may merge
/// clusters that share a root cause or split one that mixes causes. Every claim is checked against the traces (the
/// trace ids and span ids exist, each quote appears in its span; a split's evidence lies in the cluster's traces)
/// before it is kept; rejected reports go back to the model as tool errors and are listed in `Result.rejected`. The
/// prompt names no domain: what it knows of the agent comes from the traces and the clusters.
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
        /// Deterministic clusters the model merged (verified: every id exists).
        public var merges: [Merge] = []
        /// Deterministic clusters the model split (verified: every part's evidence is quoted from the cluster's traces).
        public var splits: [Split] = []
    }

    /// Clusters that share one root cause.
    public struct Merge: Sendable, Hashable {
        public var ids: [String]
        public var title: String
        public var reason: String
    }

    /// A cluster that mixes causes, and its parts.
    public struct Split: Sendable, Hashable {
        public struct Part: Sendable, Hashable {
            public var title: String
            public var evidence: [EvidenceRef]
        }
        public var id: String
        public var parts: [Part]
        public var reason: String
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
        ToolDefinition(
            name: "merge_failure_modes",
            description: "Merge clusters of the deterministic analysis (two or more ids from the list you were given) that share one root cause.",
            parameters: object([
                "ids": ["type": "array", "items": ["type": "string"]], "title": ["type": "string"], "reason": ["type": "string"],
            ], required: ["ids", "title", "reason"])),
        ToolDefinition(
            name: "split_failure_mode",
            description: "Split one cluster of the deterministic analysis that mixes root causes into parts; each part gives evidence (trace_id, span_id, verbatim quote) from the cluster's own traces.",
            parameters: object([
                "id": ["type": "string"], "reason": ["type": "string"],
                "parts": ["type": "array", "items": object([
                    "title": ["type": "string"],
                    "evidence": ["type": "array", "items": object(["trace_id": ["type": "string"], "span_id": ["type": "string"], "quote": ["type": "string"]], required: ["trace_id", "span_id", "quote"])],
                ], required: ["title", "evidence"])],
            ], required: ["id", "parts", "reason"])),
        ToolDefinition(name: "final_answer", description: "Finish with a short Markdown report of what you found.",
                       parameters: object(["answer": ["type": "string"]], required: ["answer"])),
    ]

    // MARK: - Loop

    /// Runs the loop over `store`, telling the model what the deterministic analysis already found.
    /// - Throws: only when a model call fails.
    public func run(store: TraceStore, deterministic: Diagnosis) throws -> Result {
        var messages: [ChatMessage] = [.system(Self.systemPrompt), .user(Self.userPrompt(deterministic))]
        var state = State(existingIDs: Set(deterministic.failureModes.map(\.id)), clusters: deterministic.failureModes)
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
        return Result(
            failureModes: state.modes, recommendations: state.recommendations, rejected: state.rejected, turns: turns, toolCalls: calls, answer: answer,
            merges: state.merges, splits: state.splits)
    }

    /// The system prompt: the task and the rules of evidence, with no domain words (the agent's domain is whatever
    /// its traces show).
    public static let systemPrompt = """
        You diagnose an AI agent's failures from its traces (HALO span JSONL). A deterministic analysis has already \
        clustered the errors and problems it could detect; you are given its clusters. Start from them: check them with \
        the trace tools, merge clusters that share one root cause (merge_failure_modes), split a cluster that mixes \
        causes (split_failure_mode), and report failure modes the clusters miss (report_failure_mode). Every claim needs \
        evidence as (trace_id, span_id, quote) with the quote copied verbatim from that span. Finish with final_answer.
        """

    /// The user prompt: the deterministic clusters with their numbers, templates and evidence.
    public static func userPrompt(_ d: Diagnosis) -> String {
        var lines: [String] = []
        for fm in d.failureModes.prefix(12) {
            var line = "- \(fm.id): \(fm.title) — \(fm.traceIDs.count) trace(s)"
            if let share = fm.traceShare { line += " (\(String(format: "%.1f", share * 100))% of traces)" }
            if let x = fm.impact { line += ", impact \(x.score)" }
            lines.append(line)
            for t in (fm.templates ?? []).prefix(3) { lines.append("    template ×\(t.count): \(Excerpt.clip(t.template, 120))") }
            for e in fm.evidence.prefix(2) where !e.traceID.isEmpty {
                lines.append("    evidence: trace \(e.traceID)" + (e.spanID.map { ", span \($0)" } ?? "") + ": \(Excerpt.clip(Excerpt.oneLine(e.quote ?? e.note), 160))")
            }
        }
        return "Clusters of the deterministic analysis (most important first):\n" + (lines.isEmpty ? "(none)" : lines.joined(separator: "\n"))
            + "\n\nStart with get_dataset_overview."
    }

    struct State {
        var existingIDs: Set<String>
        var clusters: [FailureMode] = []
        var modes: [FailureMode] = []
        var recommendations: [Recommendation] = []
        var rejected: [String] = []
        var merges: [Merge] = []
        var splits: [Split] = []
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
            if let answer = try store.callTool(call.name, arguments: args) { return answer }
            switch call.name {
            case "report_failure_mode":
                return report(args, store: store, state: &state)
            case "merge_failure_modes":
                return mergeRequest(args, state: &state)
            case "split_failure_mode":
                return splitRequest(args, store: store, state: &state)
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
            switch Self.verify(e, "evidence[\(i)]", store: store) {
            case .failure(let r): return refuse(r.why)
            case .success(let ref):
                refs.append(ref)
                if !traceIDs.contains(ref.traceID) { traceIDs.append(ref.traceID) }
                if let s = ref.spanID, !spanIDs.contains(s) { spanIDs.append(s) }
            }
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

    /// Checks one evidence item against the traces: the trace and span exist and the quote occurs in the span.
    struct Refusal: Error { var why: String }

    static func verify(_ e: JSONValue, _ label: String, store: TraceStore) -> Swift.Result<EvidenceRef, Refusal> {
        guard let traceID = e["trace_id"]?.stringValue, let spanID = e["span_id"]?.stringValue, let quote = e["quote"]?.stringValue else {
            return .failure(Refusal(why: "\(label) needs trace_id, span_id and quote"))
        }
        guard let spans = try? store.spans(traceID: traceID) else { return .failure(Refusal(why: "\(label): unknown trace \(traceID)")) }
        guard let span = spans.first(where: { $0.spanID == spanID }) else { return .failure(Refusal(why: "\(label): no span \(spanID) in trace \(traceID)")) }
        let q = normalizedForQuote(quote)
        guard q.count >= 3 else { return .failure(Refusal(why: "\(label): the quote is too short")) }
        guard spanText(span).contains(q) else { return .failure(Refusal(why: "\(label): quote not found in span \(spanID)")) }
        return .success(EvidenceRef(traceID: traceID, spanID: spanID, note: "model: \"\(Excerpt.clip(quote, 160))\"", quote: quote))
    }

    func mergeRequest(_ args: JSONValue, state: inout State) -> String {
        func refuse(_ why: String) -> String {
            state.rejected.append("merge: \(why)")
            return Self.toolError("merge refused: \(why)")
        }
        let ids = args["ids"]?.arrayValue?.compactMap(\.stringValue) ?? []
        guard Set(ids).count >= 2 else { return refuse("give two or more cluster ids") }
        let known = Set(state.clusters.map(\.id))
        if let bad = ids.first(where: { !known.contains($0) }) { return refuse("unknown cluster \(bad)") }
        let taken = Set(state.merges.flatMap(\.ids) + state.splits.map(\.id))
        if let used = ids.first(where: { taken.contains($0) }) { return refuse("\(used) is already merged or split") }
        guard let title = args["title"]?.stringValue, !title.trimmingCharacters(in: .whitespaces).isEmpty else { return refuse("title is required") }
        var unique: [String] = []
        for id in ids where !unique.contains(id) { unique.append(id) }
        state.merges.append(Merge(ids: unique, title: title, reason: args["reason"]?.stringValue ?? ""))
        return "{\"result\":{\"merged\":\"\(Self.mergedID(title))\"}}"
    }

    func splitRequest(_ args: JSONValue, store: TraceStore, state: inout State) -> String {
        func refuse(_ why: String) -> String {
            state.rejected.append("split: \(why)")
            return Self.toolError("split refused: \(why)")
        }
        guard let id = args["id"]?.stringValue, let cluster = state.clusters.first(where: { $0.id == id }) else { return refuse("unknown cluster id") }
        if state.merges.contains(where: { $0.ids.contains(id) }) || state.splits.contains(where: { $0.id == id }) { return refuse("\(id) is already merged or split") }
        let parts = args["parts"]?.arrayValue ?? []
        guard parts.count >= 2 else { return refuse("give two or more parts") }
        let traces = Set(cluster.traceIDs)
        var out: [Split.Part] = []
        for (i, p) in parts.enumerated() {
            guard let title = p["title"]?.stringValue, !title.isEmpty else { return refuse("parts[\(i)] needs a title") }
            let evidence = p["evidence"]?.arrayValue ?? []
            guard !evidence.isEmpty else { return refuse("parts[\(i)] needs evidence") }
            var refs: [EvidenceRef] = []
            for (j, e) in evidence.enumerated() {
                switch Self.verify(e, "parts[\(i)].evidence[\(j)]", store: store) {
                case .failure(let r): return refuse(r.why)
                case .success(let ref):
                    guard traces.contains(ref.traceID) else { return refuse("parts[\(i)].evidence[\(j)]: trace \(ref.traceID) is not in \(id)") }
                    refs.append(ref)
                }
            }
            out.append(Split.Part(title: title, evidence: refs))
        }
        state.splits.append(Split(id: id, parts: out, reason: args["reason"]?.stringValue ?? ""))
        return "{\"result\":{\"split\":\"\(id)\",\"parts\":\(out.count)}}"
    }

    static func mergedID(_ title: String) -> String { "fm-merged-" + slugify(title, max: 40) }

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
        out.failureModes = restructure(d.failureModes, merges: r.merges, splits: r.splits, recommendations: &out.recommendations)
        out.failureModes += r.failureModes
        var next = (d.recommendations.map(\.rank).max() ?? 0) + 1
        for var rec in r.recommendations where !out.recommendations.contains(where: { $0.id == rec.id }) {
            rec.rank = next
            next += 1
            out.recommendations.append(rec)
        }
        return out
    }

    /// Applies verified merges and splits to the deterministic modes (re-ranked by impact) and points recommendations
    /// at the new ids.
    static func restructure(_ modes: [FailureMode], merges: [Merge], splits: [Split], recommendations: inout [Recommendation]) -> [FailureMode] {
        guard !merges.isEmpty || !splits.isEmpty else { return modes }
        var out = modes
        var renamed: [String: [String]] = [:]
        for m in merges {
            let parts = out.filter { m.ids.contains($0.id) }
            guard parts.count >= 2 else { continue }
            let id = mergedID(m.title)
            func union(_ k: KeyPath<FailureMode, [String]>) -> [String] {
                var seen = Set<String>(), list: [String] = []
                for p in parts { for v in p[keyPath: k] where seen.insert(v).inserted { list.append(v) } }
                return list
            }
            let severity = parts.compactMap { $0.impact?.severity }.max() ?? .medium
            let confirmation = parts.compactMap { $0.impact?.confirmation }.max() ?? .heuristic
            let traces = union(\.traceIDs), evals = union(\.evalIDs)
            var share: Double?
            if let p = parts.first(where: { $0.traceShare != nil && !$0.traceIDs.isEmpty }), let s = p.traceShare {
                let total = Double(p.traceIDs.count) / s
                share = (Double(traces.count) / total * 1000).rounded() / 1000
            }
            let merged = FailureMode(
                id: id, title: m.title, kind: parts[0].kind, category: parts[0].category, count: parts.map(\.count).reduce(0, +), traceIDs: traces,
                spanIDs: union(\.spanIDs), evalIDs: evals, feedbackIDs: union(\.feedbackIDs),
                evidence: Array(parts.flatMap(\.evidence).prefix(Diagnoser.maxEvidencePerMode)) + [EvidenceRef(traceID: "", note: "model merged \(m.ids.joined(separator: ", ")): \(m.reason)")],
                impact: Impact(traces: traces.count, failingEvals: evals.count, severity: severity, confirmation: confirmation),
                templates: parts.compactMap(\.templates).flatMap { $0 }.nilIfEmpty, traceShare: share)
            out.removeAll { m.ids.contains($0.id) }
            out.append(merged)
            for old in m.ids { renamed[old] = [id] }
        }
        for s in splits {
            guard let i = out.firstIndex(where: { $0.id == s.id }) else { continue }
            let original = out[i]
            var newIDs: [String] = []
            var assigned = Set<String>()
            var parts: [FailureMode] = []
            for p in s.parts {
                let id = original.id + "--" + slugify(p.title, max: 32)
                var traces: [String] = []
                for e in p.evidence where !traces.contains(e.traceID) { traces.append(e.traceID) }
                assigned.formUnion(traces)
                let severity = original.impact?.severity ?? .medium
                parts.append(FailureMode(
                    id: id, title: p.title, kind: original.kind, category: original.category, count: p.evidence.count, traceIDs: traces,
                    spanIDs: p.evidence.compactMap(\.spanID), evidence: p.evidence,
                    impact: Impact(traces: traces.count, failingEvals: 0, severity: severity, confirmation: max(original.impact?.confirmation ?? .heuristic, .model))))
                newIDs.append(id)
            }
            var rest = original
            rest.traceIDs = original.traceIDs.filter { !assigned.contains($0) }
            rest.evidence = original.evidence.filter { !assigned.contains($0.traceID) }
            out.remove(at: i)
            out += parts
            if !rest.traceIDs.isEmpty {
                rest.impact = rest.impact.map { Impact(traces: rest.traceIDs.count, failingEvals: $0.failingEvals, severity: $0.severity, confirmation: $0.confirmation) }
                out.append(rest)
                newIDs.append(rest.id)
            }
            renamed[s.id] = newIDs
        }
        out.sort { a, b in
            guard let x = a.impact, let y = b.impact else { return a.impact != nil }
            return Impact.ranksBefore(x, y) ?? byteOrder(a.id, b.id)
        }
        for i in recommendations.indices {
            var ids: [String] = []
            for id in recommendations[i].failureModeIDs { for n in renamed[id] ?? [id] where !ids.contains(n) { ids.append(n) } }
            recommendations[i].failureModeIDs = ids
        }
        return out
    }
}

extension Array {
    var nilIfEmpty: [Element]? { isEmpty ? nil : self }
}
