import Foundation

/// Every recommendation across the history (`recommendations.html`): proposed (cycle, rank, predicted impact),
/// implemented (the next cycle's harness and its diff), outcome (verified / ineffective / regressed / pending, actual
/// against predicted), and a note when the outcome cannot be attributed to this recommendation alone.
enum RecommendationsPage {
    struct Row: Sendable {
        var anchor, cycle, cycleHref, rank, title, area, predicted, implemented, diffHref, harness, status, statusClass: String
        var actual, note, attribution, outcomeHref: String
        var hasDiff, hasHarness, hasAttribution, hasNote, hasOutcomeHref: Bool
    }
    struct View: Sendable { var hasRows: Bool; var rows: [Row]; var counts: String }

    struct Inputs: Sendable {
        var project: String
        var cycles: [Cycle]
        var diagnoses: [Int: SiteDiagnosis]
        var harnessTrees: [Int: String]
        var pairs: Set<String>
    }

    static func job(reader: SiteReader) throws -> PageJob {
        var diagnoses: [Int: SiteDiagnosis] = [:]
        var trees: [Int: String] = [:]
        // Every cycle's recommendations and outcomes from one cached ledger (a new cycle adds its own).
        for (n, v) in try reader.ledger("ledger-diagnosis", version: "diagnosis-1", { $0.diagnosisJSON }) {
            // A damaged entry is read again from the cycle.
            if let d = try CycleSummary.diagnosis(json: v) ?? reader.summary(n).diagnosis { diagnoses[n] = d }
        }
        for e in reader.index.cycles { if let t = e.harnessTree { trees[e.number] = t } }
        let numbers = reader.index.cycles.map(\.number)
        let inputs = Inputs(
            project: reader.index.project, cycles: reader.index.cycles.map(\.cycle), diagnoses: diagnoses, harnessTrees: trees,
            pairs: Set(DiffPage.pairs(numbers).map { "\($0.0)-\($0.1)" }))
        return PageJob(unitID: "", key: "") { r in
            let path = "recommendations.html"
            let view = makeView(inputs)
            return [(path, r.page(kind: "recommendations", path: path, title: "Recommendations", project: inputs.project, view: view))]
        }
    }

    static func makeView(_ i: Inputs) -> View {
        let numbers = i.cycles.map(\.number)
        let byNumber = Dictionary(i.cycles.map { ($0.number, $0) }, uniquingKeysWith: { a, _ in a })
        func previous(_ m: Int) -> Int? { numbers.last { $0 < m } }
        /// (proposing cycle, recommendation id) → (judging cycle, outcome).
        var outcomes: [String: (Int, SiteOutcome)] = [:]
        /// (proposing cycle, judging cycle) → ids of the implemented recommendations.
        var implementedTogether: [String: [String]] = [:]
        for m in numbers {
            for o in i.diagnoses[m]?.outcomes ?? [] {
                guard let from = o.fromCycle ?? previous(m) else { continue }
                let key = "\(from)|\(o.recommendationID)"
                if outcomes[key] == nil { outcomes[key] = (m, o) }
                if o.implemented { implementedTogether["\(from)|\(m)", default: []].append(o.recommendationID) }
            }
        }
        var rows: [Row] = []
        var counts: [String: Int] = [:]
        var used = Set<String>()
        for n in numbers {
            guard let d = i.diagnoses[n] else { continue }
            let titles = Dictionary(d.recommendations.map { ($0.id, $0.title) }, uniquingKeysWith: { a, _ in a })
            for rec in d.recommendations {
                var anchor = "rec-\(n)-" + HTML.anchor(rec.id)
                var k = 2
                while !used.insert(anchor).inserted { anchor = "rec-\(n)-" + HTML.anchor(rec.id) + "-\(k)"; k += 1 }
                var predicted = rec.impact
                if !rec.predictedEvals.isEmpty {
                    predicted += (predicted.isEmpty ? "" : " ") + "(\(rec.predictedEvals.count) eval(s) predicted to pass: "
                        + rec.predictedEvals.joined(separator: ", ") + ")"
                }
                if predicted.isEmpty { predicted = "–" }
                let cycleHref = SitePaths.cycle(n) + "#rec-" + HTML.anchor(rec.id)
                var row = Row(
                    anchor: anchor, cycle: String(n), cycleHref: cycleHref, rank: String(rec.rank), title: rec.title, area: rec.area,
                    predicted: predicted, implemented: "–", diffHref: "", harness: "", status: "", statusClass: "other", actual: "",
                    note: "", attribution: "", outcomeHref: "", hasDiff: false, hasHarness: false, hasAttribution: false,
                    hasNote: false, hasOutcomeHref: false)
                if let (m, o) = outcomes["\(n)|\(rec.id)"] {
                    row.status = o.status.isEmpty ? "unknown" : o.status
                    row.statusClass = ["verified", "ineffective", "regressed", "pending"].contains(o.status) ? o.status : "other"
                    row.implemented = o.implemented ? "yes, in cycle \(m)" : "not in cycle \(m)'s harness"
                    if i.pairs.contains("\(n)-\(m)") {
                        row.diffHref = SitePaths.diff(n, m)
                        row.hasDiff = true
                    }
                    if o.implemented, let c = byNumber[m] {
                        row.harness = c.sourceCommit.map { "commit " + CyclePage.shortID($0) }
                            ?? i.harnessTrees[m].map { "harness tree " + CyclePage.shortID($0) } ?? ""
                        row.hasHarness = !row.harness.isEmpty
                    }
                    var actual: [String] = []
                    if !rec.predictedEvals.isEmpty {
                        let passing = rec.predictedEvals.filter { !o.stillFailing.contains($0) }.count
                        actual.append("\(passing) of \(rec.predictedEvals.count) predicted eval(s) pass")
                    } else if !o.flippedToPass.isEmpty {
                        actual.append("\(o.flippedToPass.count) eval(s) flipped to pass")
                    }
                    if !o.regressed.isEmpty { actual.append("\(o.regressed.count) regressed: " + o.regressed.joined(separator: ", ")) }
                    let a = byNumber[n]?.scores.passRate, b = byNumber[m]?.scores.passRate
                    if a != nil || b != nil {
                        actual.append("pass rate \(Format.percent(a)) → \(Format.percent(b))"
                            + (a != nil && b != nil ? " (\(Format.deltaPoints(a, b)))" : ""))
                    }
                    row.actual = actual.joined(separator: "; ")
                    row.note = o.note
                    row.hasNote = !o.note.isEmpty
                    row.outcomeHref = SitePaths.cycle(m)
                    row.hasOutcomeHref = true
                    // Recommendations implemented in the same harness change share one measurement.
                    let together = (implementedTogether["\(n)|\(m)"] ?? []).filter { $0 != rec.id }
                    if o.implemented, !together.isEmpty {
                        row.attribution = "Attribution unsure: implemented together with "
                            + together.map { titles[$0] ?? $0 }.joined(separator: ", ") + "; the outcome is shared."
                        row.hasAttribution = true
                    }
                } else {
                    let later = numbers.contains { $0 > n }
                    row.status = "pending"
                    row.statusClass = "pending"
                    row.implemented = later ? "no outcome recorded" : "awaiting the next cycle"
                }
                counts[row.status, default: 0] += 1
                rows.append(row)
            }
        }
        let summary = counts.keys.sorted().map { "\(counts[$0]!) \($0)" }.joined(separator: ", ")
        return View(hasRows: !rows.isEmpty, rows: rows, counts: "\(rows.count) recommendation(s)" + (summary.isEmpty ? "" : ": " + summary))
    }
}
