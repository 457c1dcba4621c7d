import Foundation

/// The eval history matrix (`matrix.html`): every case × every cycle.
enum MatrixPage {
    struct CycleCol: Sendable { var number, href: String }
    struct CaseRow: Sendable {
        var caseID, anchor, category, added, firstFailed, fixed, flips, latest, cellsHTML, taskHref, task: String
        var hasCategory, flaky, hasTask: Bool
    }
    struct View: Sendable {
        var hasCases: Bool
        var cycles: [CycleCol]
        var cases: [CaseRow]
    }

    /// One case's history: status per cycle.
    struct History: Sendable, Hashable {
        var statuses: [Int: SiteEvalRow.Status]
        var addedCycle: Int?
        var category: String
    }

    /// Facts about a case's history over `cycles` (in order).
    struct Facts: Sendable, Hashable {
        var added: Int?
        var firstFailed: Int?
        var fixed: Int?
        var flips: Int
        /// Cycles where the status changed from the previous cycle the case ran in.
        var flipCycles: [Int: Int]
    }

    static func facts(_ h: History, cycles: [Int]) -> Facts {
        var prev: (Int, SiteEvalRow.Status)?
        var first: Int?, fixed: Int?, flips = 0
        var flipCycles: [Int: Int] = [:]
        var seen: Int?
        for c in cycles {
            guard let s = h.statuses[c] else { continue }
            if seen == nil { seen = c }
            let failing = s == .fail || s == .error
            if failing && first == nil { first = c }
            if let (pc, ps) = prev, ps != s {
                flips += 1
                flipCycles[c] = pc
                let wasFailing = ps == .fail || ps == .error
                if wasFailing && s == .pass { fixed = c }
                if failing { fixed = nil }
            }
            prev = (c, s)
        }
        return Facts(added: h.addedCycle ?? seen, firstFailed: first, fixed: fixed, flips: flips, flipCycles: flipCycles)
    }

    static func job(reader: SiteReader) throws -> PageJob {
        let numbers = reader.index.cycles.map(\.number)
        let provenance = try reader.evalProvenance()
        var histories: [String: History] = [:]
        var taskOf: [String: String] = [:]
        for n in numbers {
            // The cycle's compact summary (cached between builds), not its results file.
            for r in try reader.summary(n).rows {
                // The task of the run the case graded, the latest cycle's wins.
                if let t = r.task { taskOf[r.caseID] = t }
                var h = histories[r.caseID] ?? History(statuses: [:], addedCycle: nil, category: r.category)
                if h.statuses[n] == nil || r.status != .pass { h.statuses[n] = r.status }
                if h.addedCycle == nil { h.addedCycle = provenance[r.caseID] ?? r.addedCycle }
                histories[r.caseID] = h
            }
        }
        let project = reader.index.project
        let byCase = histories
        let caseTasks = taskOf
        return PageJob(unitID: "", key: "") { r in
            let path = "matrix.html"
            var previousCycle: [Int: Int] = [:]
            for (a, b) in zip(numbers, numbers.dropFirst()) { previousCycle[b] = a }
            let cols = numbers.map { CycleCol(number: String($0), href: SitePaths.cycle($0)) }
            let ordered = byCase.keys.sorted { a, b in
                let fa = facts(byCase[a]!, cycles: numbers).added ?? 0, fb = facts(byCase[b]!, cycles: numbers).added ?? 0
                return fa != fb ? fa < fb : a < b
            }
            let rows = ordered.map { id -> CaseRow in
                let h = byCase[id]!
                let f = facts(h, cycles: numbers)
                var cells = ""
                for n in numbers {
                    guard let s = h.statuses[n] else { cells += "<td class=\"cell none\"><span class=\"visually-hidden\">not run</span></td>"; continue }
                    let label = "\(s.rawValue) in cycle \(n)"
                    let mark: String
                    switch s { case .pass: mark = "✓"; case .fail: mark = "✗"; case .error: mark = "!"; case .skipped: mark = "–" }
                    if let from = f.flipCycles[n], let before = previousCycle[n] {
                        // The flip links to that cycle's own harness diff (against the cycle just before it).
                        let title = "\(label) (was \(h.statuses[from]!.rawValue) in cycle \(from)); harness diff \(before) → \(n)"
                        cells += "<td class=\"cell st-\(s.rawValue) flip\"><a href=\"\(SitePaths.diff(before, n))\" title=\"\(HTML.escape(title))\" aria-label=\"\(HTML.escape(title))\">\(mark)</a></td>"
                    } else {
                        cells += "<td class=\"cell st-\(s.rawValue)\" title=\"\(HTML.escape(label))\"><span aria-label=\"\(HTML.escape(label))\">\(mark)</span></td>"
                    }
                }
                let latest = numbers.last.flatMap { h.statuses[$0] }?.rawValue ?? "none"
                return CaseRow(
                    caseID: id, anchor: "case-" + HTML.anchor(id), category: h.category,
                    added: f.added.map { "cycle \($0)" } ?? "–", firstFailed: f.firstFailed.map { "cycle \($0)" } ?? "–",
                    fixed: f.fixed.map { "cycle \($0)" } ?? "–", flips: String(f.flips), latest: latest, cellsHTML: cells,
                    taskHref: caseTasks[id].map(SitePaths.task) ?? "", task: caseTasks[id] ?? "",
                    hasCategory: !h.category.isEmpty, flaky: f.flips > 1, hasTask: caseTasks[id] != nil)
            }
            let view = View(hasCases: !rows.isEmpty, cycles: cols, cases: rows)
            return [(path, r.page(kind: "matrix", path: path, title: "Eval matrix", project: project, view: view))]
        }
    }
}
