import Foundation

/// The eval history matrix (`matrix.html`): every case × the latest cycles (`SiteOptions.window`); each full block of
/// that many cycles also has an archive page (`matrix-0001-0050.html`) that later cycles never change.
enum MatrixPage {
    struct CycleCol: Sendable { var number, href: String }
    struct Block: Sendable, Hashable { var first, last: Int }
    struct ArchiveLink: Sendable { var label, href: String }
    struct CaseRow: Sendable {
        var caseID, anchor, category, added, firstFailed, fixed, flips, latest, cellsHTML, taskHref, task: String
        var hasCategory, flaky, hasTask: Bool
    }
    struct View: Sendable {
        var hasCases: Bool
        var cycles: [CycleCol]
        var cases: [CaseRow]
        var heading: String
        /// Which cycles this page shows, when it does not show them all.
        var scope: String
        var hasScope: Bool
        var archives: [ArchiveLink]
        var hasArchives: Bool
    }

    /// The full blocks of `window` cycle numbers (1…window, window+1…2·window, …) that hold a cycle and whose last
    /// number has been reached.
    static func blocks(_ numbers: [Int], window: Int) -> [Block] {
        guard let last = numbers.last, window > 0 else { return [] }
        var out: [Block] = []
        var k = 0
        while (k + 1) * window <= last {
            let b = Block(first: k * window + 1, last: (k + 1) * window)
            if numbers.contains(where: { $0 >= b.first && $0 <= b.last }) { out.append(b) }
            k += 1
        }
        return out
    }

    static func path(_ block: Block?) -> String {
        block.map { "matrix-\(Layout.cycleName($0.first))-\(Layout.cycleName($0.last)).html" } ?? "matrix.html"
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

    /// The matrix of the cycles `numbers` (the latest ones, or one archive block).
    static func job(reader: SiteReader, numbers: [Int], blocks: [Block], block: Block?) throws -> PageJob {
        // When each case was added: the first suite that lists it, up to the page's last cycle.
        let provenance = try reader.evalProvenance(upTo: block?.last ?? reader.index.cycles.last?.number ?? 0)
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
        let total = reader.index.cycles.count
        // An archive page links to the blocks before it only (it is never rewritten when a later block appears).
        let links = blocks.filter { b in block.map { b.last < $0.first } ?? true }
            .map { ArchiveLink(label: "cycles \($0.first)–\($0.last)", href: path($0)) }
        return PageJob(unitID: "", key: "") { r in
            let path = path(block)
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
            var scope = ""
            if let first = numbers.first, let last = numbers.last {
                if block != nil {
                    scope = "Cycles \(first)–\(last) (an archive page: facts such as flips count these cycles only)."
                } else if numbers.count < total {
                    scope = "The latest \(numbers.count) of \(total) cycles (\(first)–\(last)); facts such as flips count these cycles only."
                }
            }
            let heading = block.map { "Eval history matrix, cycles \($0.first)–\($0.last)" } ?? "Eval history matrix"
            let view = View(
                hasCases: !rows.isEmpty, cycles: cols, cases: rows, heading: heading, scope: scope, hasScope: !scope.isEmpty,
                archives: links, hasArchives: !links.isEmpty)
            let title = block.map { "Eval matrix, cycles \($0.first)–\($0.last)" } ?? "Eval matrix"
            return [(path, r.page(kind: "matrix", path: path, title: title, project: project, view: view))]
        }
    }
}
