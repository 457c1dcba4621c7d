import Foundation

/// Every unit of the site with the key of the git objects it is built from. A key changes exactly when an input
/// of that unit changes, so adding a cycle re-renders that cycle, the overview, the matrix, the diff index, the
/// search index, the task pages, the compare page and the recommendation timeline, and leaves older cycles' pages,
/// trace pages and compare data alone.
struct SitePlan {
    var units: [SiteUnit] = []
    /// Per cycle (folder name), the key of its group of units (page, trace pages, search, compare and run-text data):
    /// made from exactly what those units' keys are made from, so a kept group's unit keys are never computed.
    var groupKeys: [String: String] = [:]

    init(index: HistoryIndex, renderer: PageRenderer, window: Int = 50) {
        let common = [renderer.fingerprint, index.loopID, renderer.baseURL ?? "", index.project].joined(separator: "|")
        func key(_ parts: [String]) -> String { SiteHash.hex(([common] + parts).joined(separator: "|")) }
        let cycleJSONs = index.cycles.map { "\($0.number):\($0.id(Layout.CycleFile.cycle))" }

        units.append(SiteUnit(id: "overview", key: key(["overview", String(window)] + cycleJSONs)) { reader in
            OverviewPage.job(index: reader.index, window: window)
        })
        for (i, e) in index.cycles.enumerated() {
            let prev = i > 0 ? index.cycles[i - 1] : nil
            let n = e.number
            // Everything the five keys below read: the folder (its files' ids), the harness trees, the cycle before.
            groupKeys[Layout.cycleName(n)] = key([
                "group", e.folderID, prev?.folderID ?? "-", e.harnessTree ?? "-", prev?.harnessTree ?? "-",
                String(prev?.number ?? 0), String(n),
            ])
            units.append(SiteUnit(
                id: "cycle-\(Layout.cycleName(n))",
                key: key(["cycle", e.folderID, prev?.folderID ?? "-", e.harnessTree ?? "-", prev?.harnessTree ?? "-",
                    String(prev?.number ?? 0)])
            ) { reader in try CyclePage.job(reader: reader, number: n) })
            units.append(SiteUnit(
                id: "traces-\(Layout.cycleName(n))",
                key: key(["traces", e.id(Layout.CycleFile.traces), e.id(Layout.CycleFile.outputs),
                    e.id(Layout.CycleFile.feedback), e.id(Layout.CycleFile.cycle), String(n)])
            ) { reader in try TracePage.job(reader: reader, number: n) })
            units.append(SiteUnit(id: "search-\(Layout.cycleName(n))", key: key(["search-shard", e.folderID, String(n)])) {
                reader in try SearchPage.shardJob(reader: reader, number: n)
            })
            // The cycle's comparison data (next to its other units: the cycle's artifacts are read once).
            units.append(SiteUnit(
                id: "compare-\(Layout.cycleName(n))", key: key(["compare-shard", e.folderID, e.harnessTree ?? "-", String(n)])
            ) { reader in try ComparePage.shardJob(reader: reader, number: n) })
            // The cycle's run texts per task, for the task pages' diff (task ids and texts both come from outputs/).
            units.append(SiteUnit(id: "taskruns-\(Layout.cycleName(n))",
                                  key: key(["task-runs", e.id(Layout.CycleFile.outputs), String(n)])) {
                reader in try TaskPage.runsJob(reader: reader, number: n)
            })
        }
        // The matrix links each case to its task page (the task of the run it graded: outputs/<trace>/task.json). It
        // shows the latest `window` cycles; each full block of `window` cycles has its own archive page, whose key
        // holds only that block's inputs (and the suite files before it, for when a case was added), so it never
        // changes again once written.
        func results(_ e: HistoryIndex.CycleEntry) -> String {
            "\(e.number):\(e.id(Layout.CycleFile.results)):\(e.id(Layout.CycleFile.evals)):\(e.id(Layout.CycleFile.outputs)):\(e.id(Layout.CycleFile.cycle))"
        }
        func suites(upTo n: Int) -> [String] {
            index.cycles.filter { $0.number <= n && $0.files[Layout.CycleFile.evals] != nil }.map { "\($0.number):\($0.id(Layout.CycleFile.evals))" }
        }
        let blocks = MatrixPage.blocks(index.cycles.map(\.number), window: window)
        let shown = Array(index.cycles.suffix(window))
        let lastNumber = index.cycles.last?.number ?? 0
        units.append(SiteUnit(
            id: "matrix",
            key: key(["matrix"] + shown.map(results) + ["suites"] + suites(upTo: lastNumber) + ["blocks"] + blocks.map { "\($0.first)-\($0.last)" })
        ) { reader in
            try MatrixPage.job(reader: reader, numbers: shown.map(\.number), blocks: blocks, block: nil)
        })
        for b in blocks {
            let inBlock = index.cycles.filter { $0.number >= b.first && $0.number <= b.last }
            units.append(SiteUnit(
                id: "matrix-\(Layout.cycleName(b.first))-\(Layout.cycleName(b.last))",
                key: key(["matrix-block"] + inBlock.map(results) + ["suites"] + suites(upTo: b.last))
            ) { reader in
                try MatrixPage.job(reader: reader, numbers: inBlock.map(\.number), blocks: blocks, block: b)
            })
        }
        let pairs = DiffPage.pairs(index.cycles.map(\.number))
        // The diff index lists the latest `window` cycles' diffs; each full block has an archive page (as the matrix).
        units.append(SiteUnit(
            id: "diffs",
            key: key(["diffs", String(window)] + DiffPage.keyInputs(index, window: window, block: nil) + ["blocks"]
                + blocks.map { "\($0.first)-\($0.last)" })
        ) { reader in
            try DiffPage.indexJob(reader: reader, window: window, blocks: blocks, block: nil)
        })
        for b in blocks {
            units.append(SiteUnit(
                id: "diffs-\(Layout.cycleName(b.first))-\(Layout.cycleName(b.last))",
                key: key(["diffs-block"] + DiffPage.keyInputs(index, window: window, block: b))
            ) { reader in
                try DiffPage.indexJob(reader: reader, window: window, blocks: blocks, block: b)
            })
        }
        for (a, b) in pairs {
            guard let ea = index.entry(a), let eb = index.entry(b) else { continue }
            units.append(SiteUnit(
                id: "diff-\(Layout.cycleName(a))-\(Layout.cycleName(b))",
                key: key(["diff", ea.harnessTree ?? "-", eb.harnessTree ?? "-", ea.id(Layout.CycleFile.handoff),
                    eb.id(Layout.CycleFile.handoff), String(a), String(b)])
            ) { reader in try DiffPage.job(reader: reader, from: a, to: b) })
        }
        units.append(SiteUnit(id: "search", key: key(["search"] + cycleJSONs)) { reader in
            SearchPage.job(index: reader.index)
        })
        // Task pages read every cycle's summary (runs, statuses) and the recent cycles' runs, results and feedback.
        // (In a build of a cycle or two the builder prepares them first: see `SiteBuilder`.)
        let taskInputs = index.cycles.map {
            [String($0.number), $0.id(Layout.CycleFile.outputs), $0.id(Layout.CycleFile.results),
                $0.id(Layout.CycleFile.feedback), $0.id(Layout.CycleFile.traces)].joined(separator: ":")
        }
        // A task page's cycle sections are cached per cycle under the renderer (templates, Markdown renderer).
        let sectionKey = [renderer.fingerprint, String(describing: type(of: renderer.markdown))].joined(separator: "|")
        units.append(SiteUnit(id: "tasks", key: key(["tasks", String(window)] + taskInputs)) { reader in
            try TaskPage.job(reader: reader, sectionKey: sectionKey, window: window)
        })
        // The compare page lists the cycles; each cycle's comparison data is its own unit.
        units.append(SiteUnit(id: "compare", key: key(["compare"] + index.cycles.map { String($0.number) })) { reader in
            ComparePage.job(index: reader.index)
        })
        // The latest `window` cycles' recommendations, and an archive page per full block (the block and the cycle
        // after it: its key never changes once that cycle exists).
        let numbers = index.cycles.map(\.number)
        let recBlocks = blocks.map { "\($0.first)-\($0.last)" }
        func recInputs(_ block: MatrixPage.Block?) -> [String] {
            let wanted = Set(RecommendationsPage.inputCycles(numbers, window: window, block: block))
            return index.cycles.filter { wanted.contains($0.number) }.map {
                "\($0.number):\($0.folderID):\($0.harnessTree ?? "-")"
            }
        }
        units.append(SiteUnit(
            id: "recommendations", key: key(["recommendations", String(window), String(index.cycles.count)] + recInputs(nil) + ["blocks"] + recBlocks)
        ) { reader in
            try RecommendationsPage.job(reader: reader, window: window, blocks: blocks, block: nil)
        })
        for b in blocks {
            units.append(SiteUnit(
                id: "recommendations-\(Layout.cycleName(b.first))-\(Layout.cycleName(b.last))",
                key: key(["recommendations-block"] + recInputs(b))
            ) { reader in
                try RecommendationsPage.job(reader: reader, window: window, blocks: blocks, block: b)
            })
        }
    }
}
