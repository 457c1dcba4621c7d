import FlywheelSupport
import FlywheelTraces
import Foundation
import FlywheelEvals

// Pure, Sendable models of what the site shows, parsed leniently from the artifacts (ARTIFACTS.md): a missing
// file means "stage not run yet", a missing or mistyped field falls back to a default.

/// One row of a cycle's gate results as the site shows it: a view of the evals' `EvalRow` (`init(_:)`).
struct SiteEvalRow: Sendable, Hashable {
    enum Status: String, Sendable, CaseIterable { case pass, fail, error, skipped }
    var caseID: String
    var description: String
    var status: Status
    var score: Double?
    var namedScores: [String: Double]
    var category: String
    var traceID: String?
    var feedbackID: String?
    var addedCycle: Int?
    var reason: String
    var output: String
    var latencyMs: Double?
    var testIdx: Int

    /// The anchor of this row on the cycle page.
    var anchor: String { "eval-" + HTML.anchor(caseID) }
}

extension SiteEvalRow {
    /// The display row of a graded row: the stage's case id and task trace, a status in which a skip shows as
    /// skipped whatever its failure reason, and text for every value.
    init(_ row: EvalRow) {
        typealias P = ArtifactParser
        let caseMeta = row.testCase["metadata"]?.objectValue
        let meta = caseMeta ?? row.metadata
        let vars = row.testCase["vars"]?.objectValue ?? row.vars
        let skipped =
            row.metadata["flywheel"]?["status"]?.stringValue == "skipped" || meta["flywheel"]?["status"]?.stringValue == "skipped"
        let status: Status = row.success ? .pass : skipped ? .skipped : (row.failureReason == 2 ? .error : .fail)
        // The evals stage's case id (metadata.id, else its content hash), so matrix rows, diagnosis evidence and
        // the suite name a case the same way; a row without a test case is known by its place.
        let hasCase = row.testCase != .obj([])
        let caseID =
            P.optString(meta["id"]) ?? P.optString(meta["flywheelCaseId"])
            ?? (hasCase ? EvalTestCase.contentHash(row.testCase) : "row-\(row.testIdx)")
        let traceID = row.response?.traceId.flatMap { $0.isEmpty ? nil : $0 }
        self.init(
            caseID: caseID, description: row.description ?? "", status: status, score: row.score,
            namedScores: row.namedScores, category: P.optString(meta["category"]) ?? "uncategorised",
            // The trace the gate actually graded (a case keyed to an earlier cycle's trace is graded on the
            // trace that answered the same question in this cycle), else the one the case names.
            traceID: traceID ?? P.optString(vars["trace_id"]) ?? P.optString(meta["trace_id"]),
            feedbackID: P.optString(meta["feedback_id"]), addedCycle: P.int(meta["cycle"]),
            reason: [row.gradingResult?.reason, row.error].lazy.compactMap { $0 }.first { !$0.isEmpty } ?? "",
            output: P.string(row.response?.output), latencyMs: row.latencyMs, testIdx: row.testIdx)
    }
}

/// One feedback record.
struct FeedbackItem: Sendable, Hashable {
    var id: String
    var traceID: String
    var source: String
    var author: String
    var category: String
    var severity: String
    var observation: String
    var evidence: String
    var required: [String]
    var prohibited: [String]
    var createdAt: String
}

/// A pointer into the record (a trace, a span, an eval row) with a note.
struct SiteEvidence: Sendable, Hashable {
    var traceID: String?
    var spanID: String?
    var evalID: String?
    var note: String
}

struct SiteFailureMode: Sendable, Hashable {
    var id, title, kind, category: String
    var count: Int
    var traceIDs: [String]
    var evalIDs: [String]
    var evidence: [SiteEvidence]
}

struct SiteRecommendation: Sendable, Hashable {
    var id, title, area, change, confidence, effort, validation, impact: String
    var rank: Int
    /// The eval cases the recommendation predicts to fix (`predicted_impact.eval_ids`).
    var predictedEvals: [String] = []
    var patchFile: String?
    var patchAppend: String?
    var evidence: [SiteEvidence]
    var failureModeIDs: [String]
}

struct SiteOutcome: Sendable, Hashable {
    var recommendationID: String
    var fromCycle: Int?
    var implemented: Bool
    var status: String
    var flippedToPass: [String]
    var stillFailing: [String]
    var regressed: [String]
    var note: String
}

struct SiteDiagnosis: Sendable, Hashable {
    var generatedBy: String
    var failureModes: [SiteFailureMode]
    var recommendations: [SiteRecommendation]
    var outcomes: [SiteOutcome]
}

/// What the site shows of a span beside its fields (the traces stage's `Span`; a line HALO would reject is read
/// leniently by `ArtifactParser.traces`).
extension Span {
    var isError: Bool { status.code == "STATUS_CODE_ERROR" }
    var startNs: Int64? { TraceTime.nanoseconds(lenient: startTime) }
    var endNs: Int64? { TraceTime.nanoseconds(lenient: endTime) }
    var service: String { serviceName ?? "" }
    var observationKind: String {
        attributes["openinference.span.kind"]?.stringValue ?? attributes["inference.observation_kind"]?.stringValue ?? ""
    }
    var model: String? {
        for key in ["inference.llm.model_name", "llm.model_name"] {
            if let s = attributes[key]?.stringValue, !s.isEmpty { return s }
        }
        return nil
    }
    var inputTokens: Int { Self.tokens(attributes["inference.llm.input_tokens"]) }
    var outputTokens: Int { Self.tokens(attributes["inference.llm.output_tokens"]) }
    /// A token count, clamped so sums can never overflow (bad input shows as a large number, never a crash).
    static func tokens(_ v: JSONValue?) -> Int { Int(min(max(v?.intValue ?? 0, 0), 1_000_000_000_000)) }
}

/// The spans of one trace in file order.
struct TraceRecord: Sendable, Hashable {
    var id: String
    var spans: [Span]

    var root: Span? { spans.first(where: { $0.parentSpanID.isEmpty }) ?? spans.last }
    var name: String { root?.name ?? id }
    var errorCount: Int { spans.filter(\.isError).count }
    var tokens: Int { spans.reduce(0) { $0 + $1.inputTokens + $1.outputTokens } }
    var startNs: Int64? { spans.compactMap(\.startNs).min() }
    var endNs: Int64? { spans.compactMap(\.endNs).max() }
    var durationMs: Double? {
        guard let s = startNs, let e = endNs else { return nil }
        return Double(e - s) / 1_000_000
    }
    var models: [String] { Array(Set(spans.compactMap(\.model))).sorted() }
    /// The file-name-safe id of this trace's pages.
    var fileID: String { HTML.fileName(id) }
}

// MARK: - Parsing

enum ArtifactParser {
    static func string(_ v: JSONValue?) -> String {
        guard let v else { return "" }
        switch v {
        case .string(let s): return s
        case .null: return ""
        case .int(let i): return String(i)
        case .double(let d): return Format.number(d, digits: 3)
        case .bool(let b): return b ? "true" : "false"
        default: return v.canonicalText
        }
    }

    static func optString(_ v: JSONValue?) -> String? {
        let s = string(v)
        return s.isEmpty ? nil : s
    }

    static func strings(_ v: JSONValue?) -> [String] {
        (v?.arrayValue ?? []).map { string($0) }.filter { !$0.isEmpty }
    }

    static func int(_ v: JSONValue?) -> Int? {
        if let i = v?.intValue { return Int(clamping: i) }
        if let s = v?.stringValue { return Int(s) }
        return nil
    }

    /// The JSON value of every line of a JSONL file that parses (others skipped), read straight from the bytes.
    static func jsonLines(_ data: Data) -> [JSONValue] {
        data.withUnsafeBytes { raw -> [JSONValue] in
            guard let base = raw.baseAddress else { return [] }
            var out: [JSONValue] = []
            var start = 0
            let n = raw.count
            while start < n {
                let rest = UnsafeRawBufferPointer(start: base + start, count: n - start)
                let end = rest.firstIndex(of: 0x0A).map { start + $0 } ?? n
                if end > start, let v = try? JSONValue.parse(bytes: UnsafeRawBufferPointer(start: base + start, count: end - start)) {
                    out.append(v)
                }
                start = end + 1
            }
            return out
        }
    }

    /// Rows of `results.json` (v3, v2 or legacy layouts), read by the evals' own reader in its lenient mode.
    static func results(_ data: Data) -> [SiteEvalRow] {
        guard let file = try? EvalResultsJSON.read(String(decoding: data, as: UTF8.self), lenient: true) else { return [] }
        return file.rows.map(SiteEvalRow.init)
    }

    /// Records of `feedback.jsonl` (bad lines skipped).
    static func feedback(_ data: Data) -> [FeedbackItem] {
        var out: [FeedbackItem] = []
        for v in jsonLines(data) {
            guard v.objectValue != nil else { continue }
            out.append(FeedbackItem(
                id: string(v["feedback_id"]), traceID: string(v["trace_id"]), source: string(v["source"]),
                author: string(v["author"]), category: string(v["category"]), severity: string(v["severity"]),
                observation: string(v["observation"]), evidence: string(v["evidence"]),
                required: strings(v["required_observations"]), prohibited: strings(v["prohibited_claims"]),
                createdAt: string(v["created_at"])))
        }
        return out
    }

    static func evidence(_ v: JSONValue?) -> [SiteEvidence] {
        (v?.arrayValue ?? []).compactMap { e in
            guard e.objectValue != nil else { return nil }
            return SiteEvidence(
                traceID: optString(e["trace_id"]), spanID: optString(e["span_id"]), evalID: optString(e["eval_id"]),
                note: string(e["note"]))
        }
    }

    /// `diagnosis.json`, or nil when it does not parse as an object.
    static func diagnosis(_ data: Data) -> SiteDiagnosis? {
        guard let v = JSONValue.parseOrNil(data), v.objectValue != nil else { return nil }
        let modes = (v["failure_modes"]?.arrayValue ?? []).map { m in
            SiteFailureMode(
                id: string(m["id"]), title: string(m["title"]), kind: string(m["kind"]), category: string(m["category"]),
                count: int(m["count"]) ?? 0, traceIDs: strings(m["trace_ids"]), evalIDs: strings(m["eval_ids"]),
                evidence: evidence(m["evidence"]))
        }
        let recs = (v["recommendations"]?.arrayValue ?? []).enumerated().map { (i, r) in
            SiteRecommendation(
                id: string(r["id"]), title: string(r["title"]), area: string(r["area"]), change: string(r["change"]),
                confidence: string(r["confidence"]), effort: string(r["effort"]), validation: string(r["validation"]),
                impact: string(r["predicted_impact"]?["summary"]), rank: int(r["rank"]) ?? (i + 1),
                predictedEvals: strings(r["predicted_impact"]?["eval_ids"]),
                patchFile: optString(r["patch"]?["file"]), patchAppend: optString(r["patch"]?["append"]),
                evidence: evidence(r["evidence"]), failureModeIDs: strings(r["failure_mode_ids"]))
        }.sorted { ($0.rank, $0.id) < ($1.rank, $1.id) }
        let outcomes = (v["outcomes"]?.arrayValue ?? []).map { o in
            SiteOutcome(
                recommendationID: string(o["recommendation_id"]), fromCycle: int(o["from_cycle"]),
                implemented: o["implemented"]?.boolValue ?? false, status: string(o["status"]),
                flippedToPass: strings(o["flipped_to_pass"]), stillFailing: strings(o["still_failing"]),
                regressed: strings(o["regressed"]), note: string(o["note"]))
        }
        return SiteDiagnosis(
            generatedBy: string(v["generated_by"]), failureModes: modes, recommendations: recs, outcomes: outcomes)
    }

    /// Spans of `traces.jsonl` grouped by trace, traces in order of their first line (bad lines skipped).
    static func traces(_ data: Data) -> [TraceRecord] {
        var order: [String] = []
        var byID: [String: [Span]] = [:]
        for v in jsonLines(data) {
            guard let o = v.objectValue else { continue }
            // A valid HALO span as the traces stage reads it; a line HALO would reject still shows what it has.
            let span = (try? Span(json: v)) ?? Span(
                traceID: string(o["trace_id"]), spanID: string(o["span_id"]), parentSpanID: string(o["parent_span_id"]),
                name: string(o["name"]), kind: string(o["kind"]), startTime: string(o["start_time"]),
                endTime: string(o["end_time"]), status: SpanStatus(code: string(o["status"]?["code"]), message: string(o["status"]?["message"])),
                resourceAttributes: o["resource"]?["attributes"]?.objectValue?.dictionary ?? [:], scope: SpanScope(name: ""),
                attributes: o["attributes"]?.objectValue?.dictionary ?? [:])
            let tid = span.traceID
            if byID[tid] == nil { order.append(tid) }
            byID[tid, default: []].append(span)
        }
        return order.map { TraceRecord(id: $0, spans: byID[$0] ?? []) }
    }

    /// `project` (or `name`) from `loop.yaml`, read line-wise so a broken file never stops the site.
    static func projectName(_ yaml: String?) -> String {
        guard let yaml else { return "Flywheel" }
        for key in ["project", "name"] {
            for line in yaml.split(separator: "\n") where line.hasPrefix(key + ":") {
                var v = line.dropFirst(key.count + 1).trimmingCharacters(in: .whitespaces)
                if v.count >= 2, (v.hasPrefix("\"") && v.hasSuffix("\"")) || (v.hasPrefix("'") && v.hasSuffix("'")) {
                    v = String(v.dropFirst().dropLast())
                }
                if !v.isEmpty { return v }
            }
        }
        return "Flywheel"
    }
}
