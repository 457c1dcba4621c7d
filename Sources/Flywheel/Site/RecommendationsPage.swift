import Foundation

/// The recommendations of the history (`recommendations.html`): proposed (cycle, rank, predicted impact),
/// implemented (the next cycle's harness and its diff), outcome (verified / ineffective / regressed / pending, actual
/// against predicted), and a note when the outcome cannot be attributed to this recommendation alone. The page lists
/// the recommendations of the latest `window` cycles; each full block of `window` cycles has an archive page
/// (`recommendations-0001-0050.html`) with the outcomes judged up to the cycle after the block (where the outcome
/// tracker records them), which later cycles never change, so adding a cycle costs the same at cycle 50 and 500.
enum RecommendationsPage {
    struct Row: Sendable {
        var anchor, cycle, cycleHref, rank, title, area, predicted, implemented, diffHref, harness, status, statusClass: String
        var actual, note, attribution, outcomeHref: String
        var hasDiff, hasHarness, hasAttribution, hasNote, hasOutcomeHref: Bool
    }
    struct View: Sendable {
        var hasRows: Bool; var rows: [Row]; var counts: String
        var heading, scope: String
        var hasScope: Bool
        /// What the page says without a row.
        var empty: String
        var archives: [MatrixPage.ArchiveLink]
        var hasArchives: Bool
    }

    struct Inputs: Sendable {
        var project: String
        var cycles: [Cycle]
        var diagnoses: [Int: SiteDiagnosis]
        var harnessTrees: [Int: String]
        var pairs: Set<String>
        /// Only the recommendations proposed in these cycles are listed (all when nil).
        var proposedIn: ClosedRange<Int>? = nil
    }

    static func path(_ block: MatrixPage.Block?) -> String {
        block.map { "recommendations-\(Layout.cycleName($0.first))-\(Layout.cycleName($0.last)).html" } ?? "recommendations.html"
    }

    /// The cycles a page reads: the latest `window` cycles (`block` nil), or the block and the cycle after it.
    static func inputCycles(_ numbers: [Int], window: Int, block: MatrixPage.Block?) -> [Int] {
        guard let b = block else { return Array(numbers.suffix(window)) }
        let next = numbers.first { $0 > b.last }
        return numbers.filter { ($0 >= b.first && $0 <= b.last) || $0 == next }
    }

    static func job(reader: SiteReader, window: Int, blocks: [MatrixPage.Block], block: MatrixPage.Block?) throws -> PageJob {
        let numbers = reader.index.cycles.map(\.number)
        let wanted = Set(inputCycles(numbers, window: window, block: block))
        var diagnoses: [Int: SiteDiagnosis] = [:]
        var trees: [Int: String] = [:]
        // The cycles' recommendations and outcomes from one cached ledger (a new cycle adds its own); only the lines
        // of the cycles this page shows are parsed.
        for (n, v) in try reader.ledger("ledger-diagnosis", version: "diagnosis-2", wanted: wanted.contains, { $0.diagnosisJSON })
        where wanted.contains(n) {
            // A damaged entry is read again from the cycle.
            if let d = try CycleSummary.diagnosis(json: v) ?? reader.summary(n).diagnosis { diagnoses[n] = d }
        }
        for e in reader.index.cycles where wanted.contains(e.number) { if let t = e.harnessTree { trees[e.number] = t } }
        let shown = numbers.filter { n in wanted.contains(n) && (block.map { n <= $0.last } ?? true) }
        let inputs = Inputs(
            project: reader.index.project, cycles: reader.index.cycles.filter { wanted.contains($0.number) }.map(\.cycle),
            diagnoses: diagnoses, harnessTrees: trees,
            pairs: Set(DiffPage.pairs(numbers).filter { wanted.contains($0.0) }.map { "\($0.0)-\($0.1)" }),
            proposedIn: shown.first.map { $0...(shown.last ?? $0) })
        let total = numbers.count
        // An archive page links to the blocks before it only (it is never rewritten when a later block appears).
        let links = blocks.filter { b in block.map { b.last < $0.first } ?? true }
            .map { MatrixPage.ArchiveLink(label: "cycles \($0.first)–\($0.last)", href: path($0)) }
        return PageJob(unitID: "", key: "") { r in
            let path = path(block)
            var view = makeView(inputs)
            view.archives = links
            view.hasArchives = !links.isEmpty
            if let first = shown.first, let last = shown.last {
                if let b = block {
                    view.heading = "Recommendations, cycles \(b.first)–\(b.last)"
                    view.scope = "Recommendations proposed in cycles \(first)–\(last) (an archive page: outcomes as judged up to the cycle after them)."
                } else if shown.count < total {
                    view.scope = "Recommendations proposed in the latest \(shown.count) of \(total) cycles (\(first)–\(last))."
                }
                view.hasScope = !view.scope.isEmpty
                if view.hasScope { view.empty = "No recommendation was proposed in these cycles." }
            }
            let title = block.map { "Recommendations, cycles \($0.first)–\($0.last)" } ?? "Recommendations"
            return [(path, r.page(kind: "recommendations", path: path, title: title, project: inputs.project, view: view))]
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
        for n in numbers where i.proposedIn.map({ $0.contains(n) }) ?? true {
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
        return View(
            hasRows: !rows.isEmpty, rows: rows, counts: "\(rows.count) recommendation(s)" + (summary.isEmpty ? "" : ": " + summary),
            heading: "Recommendations", scope: "", hasScope: false, empty: "No diagnosis has recommended anything yet.", archives: [],
            hasArchives: false)
    }
}
