import FlywheelSupport
import FlywheelTraces
import Foundation
import FlywheelEvals

// Pure, Sendable views of what the site shows, built from the domain values that each artifact's own reader gives in
// its lenient mode (`SiteReader`): a missing file means "stage not run yet"; a part that does not read is left out and
// named on the cycle page.

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
            meta["id"]?.displayTextOrNil ?? meta["flywheelCaseId"]?.displayTextOrNil
            ?? (hasCase ? EvalTestCase.contentHash(row.testCase) : "row-\(row.testIdx)")
        let traceID = row.response?.traceId.flatMap { $0.isEmpty ? nil : $0 }
        self.init(
            caseID: caseID, description: row.description ?? "", status: status, score: row.score,
            namedScores: row.namedScores, category: meta["category"]?.displayTextOrNil ?? "uncategorised",
            // The trace the gate actually graded (a case keyed to an earlier cycle's trace is graded on the
            // trace that answered the same question in this cycle), else the one the case names.
            traceID: traceID ?? vars["trace_id"]?.displayTextOrNil ?? meta["trace_id"]?.displayTextOrNil,
            feedbackID: meta["feedback_id"]?.displayTextOrNil, addedCycle: meta["cycle"]?.looseInt,
            reason: [row.gradingResult?.reason, row.error].lazy.compactMap { $0 }.first { !$0.isEmpty } ?? "",
            output: row.response?.output.displayText ?? "", latencyMs: row.latencyMs, testIdx: row.testIdx)
    }
}

struct SiteRecommendation: Sendable, Hashable {
    var id, title, area, change, confidence, effort, validation, impact: String
    var rank: Int
    /// The eval cases the recommendation predicts to fix (`predicted_impact.eval_ids`).
    var predictedEvals: [String] = []
    var patchFile: String?
    var patchAppend: String?
    var evidence: [EvidenceRef]
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

/// What the site shows of a diagnosis: its failure modes as they are, its recommendations and outcomes as display
/// rows (text for every value, recommendations in rank order), the form the site's diagnosis ledger keeps per cycle.
struct SiteDiagnosis: Sendable, Hashable {
    var generatedBy: String
    var failureModes: [FailureMode]
    var recommendations: [SiteRecommendation]
    var outcomes: [SiteOutcome]
}

extension SiteDiagnosis {
    init(_ d: Diagnosis) {
        self.init(
            generatedBy: d.generatedBy, failureModes: d.failureModes,
            recommendations: d.recommendations.map { r in
                SiteRecommendation(
                    id: r.id, title: r.title, area: r.area.rawValue, change: r.change, confidence: r.confidence.rawValue,
                    effort: r.effort.rawValue, validation: r.validation, impact: r.predictedImpact.summary, rank: r.rank,
                    predictedEvals: r.predictedImpact.evalIDs, patchFile: r.patch?.file, patchAppend: r.patch?.append,
                    evidence: r.evidence, failureModeIDs: r.failureModeIDs)
            }.sorted { ($0.rank, $0.id) < ($1.rank, $1.id) },
            outcomes: d.outcomes.map { o in
                SiteOutcome(
                    recommendationID: o.recommendationID, fromCycle: o.fromCycle, implemented: o.implemented, status: o.status.rawValue,
                    flippedToPass: o.flippedToPass, stillFailing: o.stillFailing, regressed: o.regressed, note: o.note)
            })
    }
}

/// What the site shows of a span beside its fields (the traces stage's `Span`).
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

// MARK: - Display text

extension JSONValue {
    /// A value as the site prints it: a string as it is, null as nothing, a number without locale formatting, any
    /// other value as its JSON text.
    var displayText: String {
        switch self {
        case .string(let s): return s
        case .null: return ""
        case .int(let i): return String(i)
        case .double(let d): return Format.number(d, digits: 3)
        case .bool(let b): return b ? "true" : "false"
        default: return canonicalText
        }
    }

    /// `displayText`, nil when it is empty.
    var displayTextOrNil: String? {
        let s = displayText
        return s.isEmpty ? nil : s
    }

    /// A whole number, also when written as text (`"3"`), clamped to `Int`.
    var looseInt: Int? {
        if let i = intValue { return Int(clamping: i) }
        return stringValue.flatMap { Int($0) }
    }
}
