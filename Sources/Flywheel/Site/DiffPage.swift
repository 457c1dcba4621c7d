import FlywheelSupport
import Foundation
import GitStore

/// Harness and handoff diffs between cycles (`diffs.html`, `diffs/AAAA-BBBB.html`).
enum DiffPage {
    struct Link: Sendable { var from, to, href, stat: String }
    struct IndexView: Sendable {
        var hasConsecutive, hasFromFirst: Bool
        var consecutive, fromFirst: [Link]
    }
    struct View: Sendable { var from, to, fromHref, toHref, fromTag, toTag, harnessHTML, handoffHTML: String }

    /// Every consecutive pair, and each cycle against the first (when not already consecutive).
    static func pairs(_ numbers: [Int]) -> [(Int, Int)] {
        var out: [(Int, Int)] = []
        for i in numbers.indices.dropFirst() { out.append((numbers[i - 1], numbers[i])) }
        if let first = numbers.first { for n in numbers.dropFirst(2) { out.append((first, n)) } }
        return out
    }

    static func indexJob(reader: SiteReader) throws -> PageJob {
        let numbers = reader.index.cycles.map(\.number)
        var stats: [String: String] = [:]
        // Each pair's figure is kept in the build cache under its two harness trees (a diff per pair on every build
        // would grow with the history).
        let cached = reader.cache.get("diff-stats", key: "diff-stats-1")?.objectValue?.dictionary ?? [:]
        var store: [String: JSONValue] = [:]
        for (a, b) in pairs(numbers) {
            let ta = reader.index.entry(a)?.harnessTree, tb = reader.index.entry(b)?.harnessTree
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
        if store != cached { reader.cache.put("diff-stats", key: "diff-stats-1", value: .object(store)) }
        let project = reader.index.project
        let statsByPair = stats
        return PageJob(unitID: "", key: "") { r in
            func link(_ p: (Int, Int)) -> Link {
                Link(from: String(p.0), to: String(p.1), href: SitePaths.diff(p.0, p.1), stat: statsByPair["\(p.0)-\(p.1)"] ?? "")
            }
            let all = pairs(numbers)
            let consecutive = all.prefix(max(0, numbers.count - 1)).map(link)
            let fromFirst = all.dropFirst(max(0, numbers.count - 1)).map(link)
            let view = IndexView(
                hasConsecutive: !consecutive.isEmpty, hasFromFirst: !fromFirst.isEmpty, consecutive: Array(consecutive),
                fromFirst: Array(fromFirst))
            return [("diffs.html", r.page(kind: "diffs", path: "diffs.html", title: "Diffs", project: project, view: view))]
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
