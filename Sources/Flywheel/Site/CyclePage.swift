import FlywheelTraces
import Foundation
import GitStore

/// One page per cycle (`cycles/NNNN.html`).
enum CyclePage {
    struct ModelView: Sendable { var stage, model: String }
    struct Figure: Sendable { var label, value, previousValue, delta, deltaClass: String; var hasPrevious: Bool }
    struct Flip: Sendable { var caseID, anchor, from, to: String }
    struct Metric: Sendable { var name, mean, count: String }
    struct Row: Sendable {
        var caseID, anchor, status, score, category, metricText, metricKey, traceHref, traceLabel, added, reason: String
        var description, taskHref, task: String
        var hasDescription, hasTrace, hasTask: Bool
    }
    struct TraceRow: Sendable {
        var id, href, name, spans, errors, duration, tokens, models, taskHref, task: String
        var hasErrors, hasTask: Bool
    }
    struct FeedbackView: Sendable {
        var anchor, category, severity, severityClass, source, author, createdAt, observation, evidence, traceHref, traceLabel: String
        var required, prohibited: [String]
        var hasTrace, hasEvidence, hasRequired, hasProhibited: Bool
    }
    struct ModeView: Sendable { var anchor, title, kind, category, count, evidenceHTML: String }
    struct RecView: Sendable {
        var anchor, rank, title, area, confidence, effort, change, patchFile, patchAppend, impact, validation, evidenceHTML: String
        var hasPatch, hasImpact, hasValidation: Bool
    }
    struct OutcomeView: Sendable {
        var title, href, fromCycle, implemented, status, statusClass, flipped, stillFailing, regressed, note: String
        var hasHref: Bool
    }
    struct View: Sendable {
        var number, status, statusClass, startedAt, closedAt, harnessTree, sourceCommit, summary: String
        var simulated, hasSourceCommit, hasSummary, hasPrevious: Bool
        var models: [ModelView]
        var previous, previousHref, diffHref: String
        var figures: [Figure]
        var hasFlips: Bool
        var flips: [Flip]
        var harnessDiff: String
        var hasEvals: Bool
        var evalCounts: String
        var hasMetrics: Bool
        var metrics: [Metric]
        var rows: [Row]
        var hasTraces: Bool
        var traces: [TraceRow]
        var hasTracesSkipped: Bool
        var tracesSkipped: [String]
        var hasFeedback: Bool
        var feedback: [FeedbackView]
        var hasFeedbackSkipped: Bool
        var feedbackSkipped: [String]
        var hasDiagnosis: Bool
        var hasDiagnosisSkipped: Bool
        var diagnosisSkipped: [String]
        var generatedBy: String
        var hasFailureModes: Bool
        var failureModes: [ModeView]
        var hasRecommendations: Bool
        var recommendations: [RecView]
        var hasOutcomes: Bool
        var outcomes: [OutcomeView]
        var hasHandoff: Bool
        var handoffHTML: String
    }

    /// Everything the page needs, read in the synchronous step.
    struct Inputs: Sendable {
        var project: String
        var cycle: Cycle
        var previous: Cycle?
        var rows: [SiteEvalRow]?
        var previousRows: [SiteEvalRow]?
        var traces: [TraceSummary]
        /// The parts of `traces.jsonl`, `feedback.jsonl` and `diagnosis.json` their readers left out, as they do not read.
        var tracesSkipped: [String] = []
        var feedback: [FeedbackRecord]?
        var feedbackSkipped: [String] = []
        var diagnosis: SiteDiagnosis?
        var diagnosisSkipped: [String] = []
        var previousDiagnosis: SiteDiagnosis?
        var handoff: String?
        var harnessDiff: TreeDiff
        /// Trace id → task id (the task pages).
        var tasks: [String: String] = [:]
    }

    /// What the cycle page lists of a trace (no span bodies).
    struct TraceSummary: Sendable {
        var id, name: String
        var spans, errors, tokens: Int
        var durationMs: Double?
        var models: [String]
        init(_ t: TraceRecord) {
            id = t.id
            name = t.name
            spans = t.spans.count
            errors = t.errorCount
            tokens = t.tokens
            durationMs = t.durationMs
            models = t.models
        }
    }

    static func job(reader: SiteReader, number: Int) throws -> PageJob {
        guard let e = reader.index.entry(number) else { throw HistoryError.noSuchCycle(number) }
        let prev = reader.index.previous(of: number)
        let inputs = Inputs(
            project: reader.index.project, cycle: e.cycle, previous: prev?.cycle, rows: try reader.results(number),
            previousRows: try prev.flatMap { try reader.results($0.number) },
            traces: try reader.traces(number).map(TraceSummary.init), tracesSkipped: try reader.tracesRead(number).skipped, feedback: try reader.feedback(number),
            feedbackSkipped: try reader.feedbackRead(number)?.skipped ?? [], diagnosis: try reader.diagnosis(number),
            diagnosisSkipped: try reader.diagnosisRead(number)?.skipped ?? [], previousDiagnosis: try prev.flatMap { try reader.diagnosis($0.number) },
            handoff: try reader.handoff(number),
            harnessDiff: prev == nil ? TreeDiff(files: []) : try reader.harnessDiff(prev?.harnessTree, e.harnessTree),
            tasks: try reader.taskMap(number))
        return PageJob(unitID: "", key: "") { r in
            let path = SitePaths.cycle(number)
            let view = makeView(inputs, path: path, markdown: r.markdown)
            let crumbs = [Crumb(label: "Overview", href: "../index.html"), Crumb(label: "Cycle \(number)", href: "")]
            return [(path, r.page(kind: "cycle", path: path, title: "Cycle \(number)", project: inputs.project, view: view, crumbs: crumbs))]
        }
    }

    static func isSimulated(_ c: Cycle) -> Bool {
        c.models.values.contains { $0.lowercased().contains("offline") || $0.lowercased().contains("simulat") }
    }

    /// Links for evidence items: trace page (with span anchor) and eval row anchor.
    static func evidenceHTML(_ items: [EvidenceRef], cycle: Int, traceIDs: Set<String>, caseIDs: Set<String>, path: String) -> String {
        guard !items.isEmpty else { return "" }
        var out = "<ul class=\"evidence\">"
        for ev in items {
            var links: [String] = []
            if !ev.traceID.isEmpty {
                let t = ev.traceID
                var href = SitePaths.rel(SitePaths.trace(cycle, t), from: path)
                if let s = ev.spanID { href += "#span-" + HTML.anchor(s) }
                let label = "trace " + shortID(t) + (ev.spanID.map { " · span " + shortID($0) } ?? "")
                links.append(traceIDs.contains(t) ? HTML.link(href, label) : HTML.escape(label))
            }
            if let c = ev.evalID {
                links.append(caseIDs.contains(c) ? HTML.link("#eval-" + HTML.anchor(c), "eval " + c) : HTML.escape("eval " + c))
            }
            out += "<li>" + links.joined(separator: " · ") + (ev.note.isEmpty ? "" : " — " + HTML.escape(ev.note)) + "</li>"
        }
        return out + "</ul>"
    }

    static func shortID(_ id: String) -> String { id.count > 12 ? String(id.prefix(8)) + "…" : id }

    static func makeView(_ i: Inputs, path: String, markdown: any MarkdownRendering) -> View {
        let c = i.cycle, s = c.scores, p = i.previous?.scores
        let n = c.number
        let hasPrev = i.previous != nil
        let traceIDs = Set(i.traces.map(\.id))
        let caseIDs = Set((i.rows ?? []).map(\.caseID))
        func fig(_ label: String, _ f: (CycleScores) -> Double?, _ fmt: (Double?) -> String, rate: Bool = false, higherIsBetter: Bool? = true, digits: Int = 2, unit: String = "") -> Figure {
            let a = p.flatMap(f), b = f(s)
            var delta = rate ? Format.deltaPoints(a, b) : Format.delta(a, b, digits: digits)
            if !unit.isEmpty, !delta.isEmpty { delta += unit }
            var cls = ""
            if let a, let b, abs(b - a) > 1e-9, let higherIsBetter { cls = ((b > a) == higherIsBetter) ? "better" : "worse" }
            return Figure(label: label, value: fmt(b), previousValue: fmt(a), delta: delta, deltaClass: cls, hasPrevious: hasPrev)
        }
        let dbl: (Int?) -> Double? = { $0.map(Double.init) }
        var figures = [
            fig("Pass rate", \.passRate, Format.percent, rate: true),
            fig("Mean score", \.meanScore, { Format.number($0) }),
            fig("Passed", { dbl($0.passed) }, { Format.int($0.map { Int($0) }) }, digits: 0),
            fig("Failed", { dbl($0.failed) }, { Format.int($0.map { Int($0) }) }, higherIsBetter: false, digits: 0),
            fig("Errors", { dbl($0.errors) }, { Format.int($0.map { Int($0) }) }, higherIsBetter: false, digits: 0),
            fig("Skipped", { dbl($0.skipped) }, { Format.int($0.map { Int($0) }) }, higherIsBetter: false, digits: 0),
            fig("Suite size", { dbl($0.suiteSize) }, { Format.int($0.map { Int($0) }) }, higherIsBetter: nil, digits: 0),
            fig("Evals added", { dbl($0.evalsAdded) }, { Format.int($0.map { Int($0) }) }, higherIsBetter: nil, digits: 0),
            fig("Traces", { dbl($0.traces) }, { Format.int($0.map { Int($0) }) }, higherIsBetter: nil, digits: 0),
            fig("Spans", { dbl($0.spans) }, { Format.int($0.map { Int($0) }) }, higherIsBetter: nil, digits: 0),
            fig("Tool errors", { dbl($0.toolErrors) }, { Format.int($0.map { Int($0) }) }, higherIsBetter: false, digits: 0),
            fig("Tokens", { dbl($0.tokens) }, { Format.int($0.map { Int($0) }) }, higherIsBetter: false, digits: 0),
            fig("Cost", \.costUSD, Format.cost, higherIsBetter: false, digits: 4, unit: " USD"),
            fig("Latency", \.latencyMs, Format.ms, higherIsBetter: false, digits: 0, unit: " ms"),
        ]
        for name in Set((s.metrics ?? [:]).keys).union((p?.metrics ?? [:]).keys).sorted() {
            figures.append(fig("Metric: \(name)", { $0.metrics?[name] }, { Format.number($0) }))
        }
        // Figures no stage has filled in either cycle are left out.
        figures = figures.filter { $0.value != "–" || ($0.hasPrevious && $0.previousValue != "–") }
        var flips: [Flip] = []
        if let rows = i.rows, let prevRows = i.previousRows {
            let before = Dictionary(prevRows.map { ($0.caseID, $0.status) }, uniquingKeysWith: { a, _ in a })
            for r in rows.sorted(by: { $0.caseID < $1.caseID }) {
                if let b = before[r.caseID], b != r.status {
                    flips.append(Flip(caseID: r.caseID, anchor: r.anchor, from: b.rawValue, to: r.status.rawValue))
                }
            }
        }
        // Eval rows and metrics.
        let rows = (i.rows ?? []).sorted { ($0.testIdx, $0.caseID) < ($1.testIdx, $1.caseID) }
        var metricSums: [String: (Double, Int)] = [:]
        for r in rows { for (k, v) in r.namedScores { metricSums[k, default: (0, 0)].0 += v; metricSums[k, default: (0, 0)].1 += 1 } }
        let metrics = metricSums.keys.sorted().map { k in
            Metric(name: k, mean: Format.number(metricSums[k]!.0 / Double(metricSums[k]!.1)), count: String(metricSums[k]!.1))
        }
        var usedAnchors = Set<String>()
        func unique(_ a: String) -> String {
            var candidate = a
            var k = 2
            while !usedAnchors.insert(candidate).inserted { candidate = "\(a)-\(k)"; k += 1 }
            return candidate
        }
        let rowViews = rows.map { r -> Row in
            let traceKnown = r.traceID.map { traceIDs.contains($0) } ?? false
            let task = r.traceID.flatMap { i.tasks[$0] }
            return Row(
                caseID: r.caseID, anchor: unique(r.anchor), status: r.status.rawValue, score: Format.number(r.score),
                category: r.category,
                metricText: r.namedScores.keys.sorted().map { "\($0) \(Format.number(r.namedScores[$0]))" }.joined(separator: ", "),
                metricKey: r.namedScores.keys.sorted().first ?? "none",
                traceHref: r.traceID.map { SitePaths.rel(SitePaths.trace(n, $0), from: path) } ?? "",
                traceLabel: r.traceID.map(shortID) ?? "–", added: r.addedCycle.map { "cycle \($0)" } ?? "–",
                reason: String(r.reason.prefix(600)), description: r.description == r.caseID ? "" : r.description,
                taskHref: task.map { SitePaths.rel(SitePaths.task($0), from: path) } ?? "", task: task ?? "",
                hasDescription: !r.description.isEmpty && r.description != r.caseID, hasTrace: traceKnown, hasTask: task != nil)
        }
        let counts = Dictionary(grouping: rows, by: \.status).mapValues(\.count)
        let evalCounts = "\(rows.count) rows: " + SiteEvalRow.Status.allCases.map { "\(counts[$0] ?? 0) \($0.rawValue)" }.joined(separator: ", ")
        // Traces.
        let traceRows = i.traces.map { t in
            let task = i.tasks[t.id]
            return TraceRow(
                id: t.id, href: SitePaths.rel(SitePaths.trace(n, t.id), from: path), name: t.name, spans: Format.int(t.spans),
                errors: Format.int(t.errors), duration: Format.ms(t.durationMs), tokens: Format.int(t.tokens),
                models: t.models.joined(separator: ", "), taskHref: task.map { SitePaths.rel(SitePaths.task($0), from: path) } ?? "",
                task: task ?? "", hasErrors: t.errors > 0, hasTask: task != nil)
        }
        // Feedback.
        let feedback = (i.feedback ?? []).map { f in
            FeedbackView(
                anchor: unique("feedback-" + HTML.anchor(f.feedbackID)), category: f.category, severity: f.severity.rawValue,
                severityClass: f.severity.rawValue, source: f.source.rawValue, author: f.author, createdAt: f.createdAt,
                observation: f.observation, evidence: f.evidence,
                traceHref: SitePaths.rel(SitePaths.trace(n, f.traceID), from: path), traceLabel: shortID(f.traceID),
                required: f.requiredObservations, prohibited: f.prohibitedClaims, hasTrace: traceIDs.contains(f.traceID),
                hasEvidence: !f.evidence.isEmpty, hasRequired: !f.requiredObservations.isEmpty, hasProhibited: !f.prohibitedClaims.isEmpty)
        }
        // Diagnosis.
        let d = i.diagnosis
        let modes = (d?.failureModes ?? []).map { m in
            var ev = m.evidence
            if ev.isEmpty {
                ev = m.traceIDs.map { EvidenceRef(traceID: $0, note: "") } + m.evalIDs.map { EvidenceRef(traceID: "", evalID: $0, note: "") }
            }
            return ModeView(
                anchor: unique("fm-" + HTML.anchor(m.id)), title: m.title, kind: m.kind.rawValue, category: m.category, count: String(m.count),
                evidenceHTML: evidenceHTML(ev, cycle: n, traceIDs: traceIDs, caseIDs: caseIDs, path: path))
        }
        let recs = (d?.recommendations ?? []).map { r in
            RecView(
                anchor: unique("rec-" + HTML.anchor(r.id)), rank: String(r.rank), title: r.title, area: r.area,
                confidence: r.confidence, effort: r.effort, change: r.change, patchFile: r.patchFile ?? "",
                patchAppend: r.patchAppend ?? "", impact: r.impact, validation: r.validation,
                evidenceHTML: evidenceHTML(r.evidence, cycle: n, traceIDs: traceIDs, caseIDs: caseIDs, path: path),
                hasPatch: r.patchFile != nil, hasImpact: !r.impact.isEmpty, hasValidation: !r.validation.isEmpty)
        }
        let prevRecs = Dictionary((i.previousDiagnosis?.recommendations ?? []).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let outcomes = (d?.outcomes ?? []).map { o in
            let rec = prevRecs[o.recommendationID]
            let from = o.fromCycle ?? i.previous?.number
            let href = (rec != nil && from != nil && from == i.previous?.number)
                ? SitePaths.rel(SitePaths.cycle(from!), from: path) + "#rec-" + HTML.anchor(o.recommendationID) : ""
            return OutcomeView(
                title: rec?.title ?? o.recommendationID, href: href, fromCycle: from.map(String.init) ?? "–",
                implemented: o.implemented ? "yes" : "no", status: o.status,
                statusClass: ["verified", "ineffective", "regressed", "pending"].contains(o.status) ? o.status : "other",
                flipped: o.flippedToPass.joined(separator: ", "), stillFailing: o.stillFailing.joined(separator: ", "),
                regressed: o.regressed.joined(separator: ", "), note: o.note, hasHref: !href.isEmpty)
        }
        let models = c.models.keys.sorted().map { ModelView(stage: $0, model: c.models[$0] ?? "") }
        let prevN = i.previous?.number ?? 0
        return View(
            number: String(n), status: c.status.rawValue, statusClass: c.status == .closed ? "closed" : "open",
            startedAt: c.startedAt, closedAt: c.closedAt ?? "–", harnessTree: c.harnessTree ?? "–",
            sourceCommit: c.sourceCommit ?? "", summary: c.summary ?? "", simulated: isSimulated(c),
            hasSourceCommit: c.sourceCommit != nil, hasSummary: !(c.summary ?? "").isEmpty, hasPrevious: hasPrev,
            models: models, previous: String(prevN), previousHref: hasPrev ? SitePaths.rel(SitePaths.cycle(prevN), from: path) : "",
            diffHref: hasPrev ? SitePaths.rel(SitePaths.diff(prevN, n), from: path) : "", figures: figures,
            hasFlips: !flips.isEmpty, flips: flips,
            harnessDiff: hasPrev
                ? DiffHTML.render(i.harnessDiff, id: "harness", emptyText: "The harness did not change since cycle \(prevN).")
                : "<p class=\"placeholder\">The first cycle: nothing to compare with.</p>",
            hasEvals: i.rows != nil, evalCounts: evalCounts, hasMetrics: !metrics.isEmpty, metrics: metrics, rows: rowViews,
            hasTraces: !traceRows.isEmpty, traces: traceRows,
            hasTracesSkipped: !i.tracesSkipped.isEmpty, tracesSkipped: i.tracesSkipped, hasFeedback: !feedback.isEmpty, feedback: feedback,
            hasFeedbackSkipped: !i.feedbackSkipped.isEmpty, feedbackSkipped: i.feedbackSkipped, hasDiagnosis: d != nil,
            hasDiagnosisSkipped: !i.diagnosisSkipped.isEmpty, diagnosisSkipped: i.diagnosisSkipped, generatedBy: d?.generatedBy ?? "", hasFailureModes: !modes.isEmpty, failureModes: modes,
            hasRecommendations: !recs.isEmpty, recommendations: recs, hasOutcomes: !outcomes.isEmpty, outcomes: outcomes,
            hasHandoff: i.handoff != nil, handoffHTML: i.handoff.map { markdown.html($0, idPrefix: "md-") } ?? "")
    }
}

