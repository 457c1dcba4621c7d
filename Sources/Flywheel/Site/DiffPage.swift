import FlywheelSupport
import Foundation
import GitStore

/// Harness and handoff diffs between cycles (`diffs.html`, `diffs/AAAA-BBBB.html`).
enum DiffPage {
    struct Link: Sendable { var from, to, href, stat: String }
    struct IndexView: Sendable {
        var hasConsecutive, hasFromFirst: Bool
        var consecutive, fromFirst: [Link]
        var heading, scope: String
        var hasScope: Bool
        var archives: [MatrixPage.ArchiveLink]
        var hasArchives: Bool
    }
    struct View: Sendable { var from, to, fromHref, toHref, fromTag, toTag, harnessHTML, handoffHTML: String }

    /// Every consecutive pair, and each cycle against the first (when not already consecutive).
    static func pairs(_ numbers: [Int]) -> [(Int, Int)] {
        var out: [(Int, Int)] = []
        for i in numbers.indices.dropFirst() { out.append((numbers[i - 1], numbers[i])) }
        if let first = numbers.first { for n in numbers.dropFirst(2) { out.append((first, n)) } }
        return out
    }

    static func indexPath(_ block: MatrixPage.Block?) -> String {
        block.map { "diffs-\(Layout.cycleName($0.first))-\(Layout.cycleName($0.last)).html" } ?? "diffs.html"
    }

    /// The cycles whose diffs (against the cycle before and against the first) a diff index lists: the latest
    /// `window` (`block` nil), or the cycles of a full block of `window` for its archive page, which later cycles
    /// never change, so adding a cycle costs the same at cycle 50 and 500.
    static func listed(_ numbers: [Int], window: Int, block: MatrixPage.Block?) -> [Int] {
        guard let b = block else { return Array(numbers.suffix(window)) }
        return numbers.filter { $0 >= b.first && $0 <= b.last }
    }

    /// The pairs an index lists, consecutive first, then against the first cycle.
    static func pairs(_ numbers: [Int], listing: [Int]) -> (consecutive: [(Int, Int)], fromFirst: [(Int, Int)]) {
        let wanted = Set(listing)
        let all = pairs(numbers)
        let consecutive = all.prefix(max(0, numbers.count - 1)).filter { wanted.contains($0.1) }
        let fromFirst = all.dropFirst(max(0, numbers.count - 1)).filter { wanted.contains($0.1) }
        return (Array(consecutive), Array(fromFirst))
    }

    /// The harness trees an index's figures depend on, for its key.
    static func keyInputs(_ index: HistoryIndex, window: Int, block: MatrixPage.Block?) -> [String] {
        let numbers = index.cycles.map(\.number)
        let trees = Dictionary(index.cycles.map { ($0.number, $0.harnessTree ?? "-") }, uniquingKeysWith: { a, _ in a })
        let (c, f) = pairs(numbers, listing: listed(numbers, window: window, block: block))
        return (c + f).map { "\($0.0):\(trees[$0.0] ?? "-")-\($0.1):\(trees[$0.1] ?? "-")" }
    }

    static func indexJob(reader: SiteReader, window: Int, blocks: [MatrixPage.Block], block: MatrixPage.Block?) throws -> PageJob {
        let numbers = reader.index.cycles.map(\.number)
        let trees = Dictionary(reader.index.cycles.map { ($0.number, $0.harnessTree) }, uniquingKeysWith: { a, _ in a })
        let listing = listed(numbers, window: window, block: block)
        let (consecutive, fromFirst) = pairs(numbers, listing: listing)
        var stats: [String: String] = [:]
        // Each pair's figure is kept in the build cache under its two harness trees; the cache holds the latest
        // page's figures only (an archive page is written once).
        let cached = reader.cache.get("diff-stats", key: "diff-stats-1")?.objectValue?.dictionary ?? [:]
        var store: [String: JSONValue] = [:]
        for (a, b) in consecutive + fromFirst {
            let ta = trees[a] ?? nil, tb = trees[b] ?? nil
            let treeKey = (ta ?? "-") + ":" + (tb ?? "-")
            let stat: String
            if let s = cached[treeKey]?.stringValue {
                stat = s
            } else {
                let d = try reader.harnessDiff(ta, tb)
                stat = d.isEmpty ? "no harness change" : "\(d.files.count) file(s), +\(d.additions) −\(d.deletions)"
            }
            stats["\(a)-\(b)"] = stat
            store[treeKey] = .string(stat)
        }
        if block == nil, store != cached { reader.cache.put("diff-stats", key: "diff-stats-1", value: .object(store)) }
        let project = reader.index.project
        let statsByPair = stats
        // An archive page links to the blocks before it only (it is never rewritten when a later block appears).
        let links = blocks.filter { b in block.map { b.last < $0.first } ?? true }
            .map { MatrixPage.ArchiveLink(label: "cycles \($0.first)–\($0.last)", href: indexPath($0)) }
        let scope: String
        if let b = block {
            scope = "Diffs into cycles \(b.first)–\(b.last)."
        } else if listing.count < numbers.count, let first = listing.first, let last = listing.last {
            scope = "Diffs into the latest \(listing.count) of \(numbers.count) cycles (\(first)–\(last))."
        } else {
            scope = ""
        }
        return PageJob(unitID: "", key: "") { r in
            let path = indexPath(block)
            func link(_ p: (Int, Int)) -> Link {
                Link(from: String(p.0), to: String(p.1), href: SitePaths.diff(p.0, p.1), stat: statsByPair["\(p.0)-\(p.1)"] ?? "")
            }
            let view = IndexView(
                hasConsecutive: !consecutive.isEmpty, hasFromFirst: !fromFirst.isEmpty, consecutive: consecutive.map(link),
                fromFirst: fromFirst.map(link), heading: block.map { "Diffs, cycles \($0.first)–\($0.last)" } ?? "Diffs",
                scope: scope, hasScope: !scope.isEmpty, archives: links, hasArchives: !links.isEmpty)
            return [(path, r.page(kind: "diffs", path: path, title: view.heading, project: project, view: view))]
        }
    }

    static func job(reader: SiteReader, from a: Int, to b: Int) throws -> PageJob {
        let harness = try reader.harnessDiff(reader.index.entry(a)?.harnessTree, reader.index.entry(b)?.harnessTree)
        let handoff = try reader.handoffDiff(a, b)
        let hasA = reader.index.entry(a)?.files[Layout.CycleFile.handoff] != nil
        let hasB = reader.index.entry(b)?.files[Layout.CycleFile.handoff] != nil
        let project = reader.index.project
        return PageJob(unitID: "", key: "") { r in
            let path = SitePaths.diff(a, b)
            let handoffEmpty = !hasA && !hasB ? "Neither cycle has a handoff yet." : "The handoff did not change."
            let view = View(
                from: String(a), to: String(b), fromHref: SitePaths.rel(SitePaths.cycle(a), from: path),
                toHref: SitePaths.rel(SitePaths.cycle(b), from: path), fromTag: Layout.cycleTag(a), toTag: Layout.cycleTag(b),
                harnessHTML: DiffHTML.render(harness, id: "harness", emptyText: "The harness did not change."),
                handoffHTML: DiffHTML.render(handoff, id: "handoff", emptyText: handoffEmpty))
            let crumbs = [
                Crumb(label: "Overview", href: "../index.html"), Crumb(label: "Diffs", href: "../diffs.html"),
                Crumb(label: "Cycle \(a) → \(b)", href: ""),
            ]
            return [(path, r.page(kind: "diff", path: path, title: "Diff \(a) → \(b)", project: project, view: view, crumbs: crumbs))]
        }
    }
}
