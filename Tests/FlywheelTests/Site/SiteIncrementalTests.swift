@testable import Flywheel
@testable import FlywheelSupport
import Foundation
import Testing
import TestSupport

/// The incremental build against a full one: same bytes, whatever the cache holds; the cross-cycle pages come from
/// the cycles' cached summaries; a task page keeps the cost of a new cycle flat.
@Suite("Site incremental builds")
struct SiteIncrementalTests {
    /// Every site file (not the manifest or the build cache), path → bytes.
    static func files(_ out: URL) throws -> [String: Data] {
        var out2: [String: Data] = [:]
        let fm = FileManager.default
        for p in try fm.subpathsOfDirectory(atPath: out.path) {
            if p == SiteBuilder.manifestName || p.hasPrefix(SiteCache.folder) { continue }
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: out.appendingPathComponent(p).path, isDirectory: &isDir), !isDir.boolValue else { continue }
            out2[p] = fm.contents(atPath: out.appendingPathComponent(p).path)
        }
        return out2
    }

    static func expectSame(_ a: URL, _ b: URL, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let fa = try files(a), fb = try files(b)
        #expect(fa.keys.sorted() == fb.keys.sorted(), "file lists differ", sourceLocation: sourceLocation)
        var differing: [String] = []
        for (p, d) in fa where fb[p] != d { differing.append(p) }
        #expect(differing.isEmpty, "differ: \(differing.sorted().prefix(10))", sourceLocation: sourceLocation)
    }

    @Test("a build after each new cycle is byte-identical to a full build (support bot: tasks dropped, cases not run)")
    func incrementalEqualsFull() throws {
        let dir = TestPaths.scratch("site-incr-eq")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try SupportFixture.make(in: dir)
        let inc = dir.appendingPathComponent("inc"), full = dir.appendingPathComponent("full")
        // Cycle by cycle into one folder (each build reads the previous build's manifest and summaries).
        for n in 1...3 {
            let r = try SiteBuilder.build(history: f.history, options: SiteOptions(outputDirectory: inc, atCycle: n))
            #expect(r.pagesWritten > 0)
        }
        _ = try SiteBuilder.build(history: f.history, options: SiteOptions(outputDirectory: full, incremental: false))
        try Self.expectSame(inc, full)
        // The summaries of every cycle are in the build cache.
        for n in 1...3 {
            #expect(FileManager.default.fileExists(atPath: inc.appendingPathComponent("\(SiteCache.folder)/summary-000\(n).json").path))
        }
    }

    @Test("a damaged or foreign build cache is recomputed, never trusted: the output stays identical to a full build")
    func damagedCache() throws {
        let dir = TestPaths.scratch("site-incr-cache")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try SiteFixture.standard(in: dir, cycles: 2)
        let inc = dir.appendingPathComponent("inc"), full = dir.appendingPathComponent("full")
        _ = try SiteBuilder.build(history: f.history, options: SiteOptions(outputDirectory: inc))
        let cache = inc.appendingPathComponent(SiteCache.folder)
        let names = try FileManager.default.contentsOfDirectory(atPath: cache.path).sorted()
        #expect(names.contains("summary-0001.json") && names.contains("diff-stats.json"))
        // Summary 1: right key, garbage value; summary 2: a foreign key; the diff figures: a wrong figure, foreign key.
        let s1 = try Data(contentsOf: cache.appendingPathComponent("summary-0001.json"))
        let key1 = s1.prefix(while: { $0 != 0x0A })
        try (key1 + Data("\n{\"rows\":[[1,2]]".utf8)).write(to: cache.appendingPathComponent("summary-0001.json"))
        try Data("summary-2|0000\n{\"rows\":[],\"evals\":[],\"tasks\":[],\"diagnosis\":null}".utf8)
            .write(to: cache.appendingPathComponent("summary-0002.json"))
        try Data("other\n{}".utf8).write(to: cache.appendingPathComponent("diff-stats.json"))
        _ = try f.addCycle(3)
        _ = try SiteBuilder.build(history: f.history, options: SiteOptions(outputDirectory: inc))
        _ = try SiteBuilder.build(history: f.history, options: SiteOptions(outputDirectory: full, incremental: false))
        try Self.expectSame(inc, full)
        // The matrix still shows cycles 1 and 2 (read again from the history, not from the bad summaries).
        let matrix = try String(contentsOf: inc.appendingPathComponent("matrix.html"), encoding: .utf8)
        #expect(matrix.contains("in cycle 1") && matrix.contains("in cycle 2"))
    }

    @Test("the matrix shows the latest `window` cycles; full blocks get archive pages that later cycles never rewrite; cycle by cycle equals a full build")
    func matrixWindowAndArchives() throws {
        let dir = TestPaths.scratch("site-matrix-window")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try SiteFixture.standard(in: dir, cycles: 5)
        let inc = dir.appendingPathComponent("inc"), full = dir.appendingPathComponent("full")
        var written: [Int: [String]] = [:]
        for n in 1...5 {
            written[n] = try SiteBuilder.build(history: f.history, options: SiteOptions(outputDirectory: inc, atCycle: n, window: 2)).written
        }
        _ = try SiteBuilder.build(history: f.history, options: SiteOptions(outputDirectory: full, incremental: false, window: 2))
        try Self.expectSame(inc, full)
        // Block 1–2 is written by the build that adds cycle 2, block 3–4 by cycle 4; neither again.
        #expect(written[2]?.contains("matrix-0001-0002.html") == true)
        #expect(written[4]?.contains("matrix-0003-0004.html") == true)
        for n in [3, 4, 5] { #expect(written[n]?.contains("matrix-0001-0002.html") == false, "block 1–2 rewritten at \(n)") }
        #expect(written[5]?.contains("matrix-0003-0004.html") == false)
        #expect(!FileManager.default.fileExists(atPath: full.appendingPathComponent("matrix-0005-0006.html").path))
        // The main page: cycles 4 and 5 only, linking both archives; an archive: its own cycles, linking earlier blocks.
        let main = try String(contentsOf: full.appendingPathComponent("matrix.html"), encoding: .utf8)
        #expect(main.contains("in cycle 5") && main.contains("in cycle 4") && !main.contains("in cycle 3"))
        #expect(main.contains("href=\"matrix-0001-0002.html\"") && main.contains("href=\"matrix-0003-0004.html\""))
        #expect(main.contains("The latest 2 of 5 cycles"))
        let second = try String(contentsOf: full.appendingPathComponent("matrix-0003-0004.html"), encoding: .utf8)
        #expect(second.contains("in cycle 3") && second.contains("in cycle 4") && !second.contains("in cycle 5") && !second.contains("in cycle 2"))
        #expect(second.contains("href=\"matrix-0001-0002.html\""))
        // The overview's table: the latest 2 cycles; the earlier ones are links.
        let overview = try String(contentsOf: full.appendingPathComponent("index.html"), encoding: .utf8)
        #expect(overview.contains("<tr id=\"cycle-5\">") && overview.contains("<tr id=\"cycle-4\">") && !overview.contains("<tr id=\"cycle-3\">"))
        #expect(overview.contains("Earlier cycles: <a href=\"cycles/0003.html\">3</a> <a href=\"cycles/0002.html\">2</a> <a href=\"cycles/0001.html\">1</a>"))
        // The diff index the same way: the latest 2 cycles' diffs, a written-once archive per full block.
        #expect(written[2]?.contains("diffs-0001-0002.html") == true && written[4]?.contains("diffs-0003-0004.html") == true)
        for n in [3, 4, 5] { #expect(written[n]?.contains("diffs-0001-0002.html") == false, "diff block 1–2 rewritten at \(n)") }
        let diffs = try String(contentsOf: full.appendingPathComponent("diffs.html"), encoding: .utf8)
        #expect(diffs.contains("cycle 4 → 5") && diffs.contains("cycle 3 → 4") && diffs.contains("cycle 1 → 5"))
        #expect(!diffs.contains("cycle 2 → 3") && !diffs.contains("cycle 1 → 3"))
        #expect(diffs.contains("href=\"diffs-0001-0002.html\"") && diffs.contains("href=\"diffs-0003-0004.html\""))
        let diffArchive = try String(contentsOf: full.appendingPathComponent("diffs-0003-0004.html"), encoding: .utf8)
        #expect(diffArchive.contains("cycle 2 → 3") && diffArchive.contains("cycle 1 → 4") && !diffArchive.contains("cycle 4 → 5"))
        #expect(diffArchive.contains("href=\"diffs-0001-0002.html\"") && !diffArchive.contains("href=\"diffs-0003-0004.html\""))
        // With the default window the same history has one matrix page listing every cycle.
        let one = dir.appendingPathComponent("one")
        let r = try SiteBuilder.build(history: f.history, options: SiteOptions(outputDirectory: one))
        #expect(!r.written.contains { $0.hasPrefix("matrix-") || $0.hasPrefix("diffs-") })
        let all = try String(contentsOf: one.appendingPathComponent("matrix.html"), encoding: .utf8)
        #expect((1...5).allSatisfy { all.contains("in cycle \($0)") } && !all.contains("Earlier cycles"))
        let fullOverview = try String(contentsOf: one.appendingPathComponent("index.html"), encoding: .utf8)
        #expect((1...5).allSatisfy { fullOverview.contains("<tr id=\"cycle-\($0)\">") } && !fullOverview.contains("Earlier cycles"))
    }

    /// A coding-agent history of `cycles` cycles, one task (`fix-login`) per cycle and a second task in even cycles.
    static func codingHistory(in dir: URL, cycles: Int) throws -> LoopHistory {
        let h = LoopHistory(repository: dir.appendingPathComponent("history.git"))
        try h.initialize(files: ["loop.yaml": Data("project: coding agent\n".utf8), "harness/AGENTS.md": Data("Run the tests.\n".utf8)])
        for n in 1...cycles { try addCodingCycle(h, n) }
        return h
    }

    static func addCodingCycle(_ h: LoopHistory, _ n: Int) throws {
        _ = try h.startCycle(harness: ["AGENTS.md": Data("Run the tests.\nRule \(n).\n".utf8)],
                             now: Date(timeIntervalSince1970: SiteFixture.epoch + Double(n) * 86_400))
        var files: [String: Data] = [:]
        var lines = ""
        for (i, task) in ["fix-login", "add-cache"].enumerated() where i == 0 || n % 2 == 0 {
            let tid = String(format: "%028x%04x", n, i)
            lines += JSONValue.object([
                "trace_id": .string(tid), "span_id": .string(String(format: "%012x%04x", n, i)), "parent_span_id": "", "trace_state": "",
                "name": "agent.Coder", "kind": "SPAN_KIND_INTERNAL", "start_time": "2026-05-28T20:26:40.000000000Z",
                "end_time": "2026-05-28T20:26:41.000000000Z", "status": .object(["code": "STATUS_CODE_OK", "message": ""]),
                "resource": .object(["attributes": .object(["service.name": "coder"])]), "scope": .object(["name": "t", "version": ""]),
                "attributes": .object(["inference.observation_kind": "AGENT"]),
            ]).canonicalText + "\n"
            files["outputs/\(tid)/task.json"] = Data("{\"task_id\":\"\(task)\",\"question\":\"Task \(task)\"}\n".utf8)
            files["outputs/\(tid)/final_answer.md"] = Data("Patch for \(task), attempt \(n).\n".utf8)
        }
        files["traces.jsonl"] = Data(lines.utf8)
        try h.commitToOpenCycle(.traces, files: files)
        _ = try h.closeCycle(now: Date(timeIntervalSince1970: SiteFixture.epoch + Double(n) * 86_400 + 3600))
    }

    @Test("a task page shows every cycle in its summary and the latest cycles in full; run texts are one file per cycle")
    func taskWindow() throws {
        let dir = TestPaths.scratch("site-task-window")
        defer { try? FileManager.default.removeItem(at: dir) }
        let total = TaskPage.recentCycles + 3
        let h = try Self.codingHistory(in: dir, cycles: total)
        let out = dir.appendingPathComponent("site"), full = dir.appendingPathComponent("full")
        _ = try SiteBuilder.build(history: h, options: SiteOptions(outputDirectory: out))
        let page = try String(contentsOf: out.appendingPathComponent("tasks/fix-login.html"), encoding: .utf8)
        let first = total - TaskPage.recentCycles + 1
        for n in 1...total {
            let inFull = page.contains("id=\"cycle-\(n)\"")
            #expect(inFull == (n >= first), "cycle \(n)")
            // Every cycle is in the summary: recent ones link to their section, older ones to their cycle page.
            #expect(page.contains(n >= first ? "href=\"#cycle-\(n)\"" : "href=\"../cycles/\(Layout.cycleName(n)).html\">Cycle \(n)<"))
        }
        #expect(page.contains("Cycles up to \(first - 1) are in the summary above"))
        #expect(page.contains("Patch for fix-login, attempt \(total)."))
        #expect(!page.contains("attempt 1."), "older runs are not inlined")
        let data = try ViewsTests.dataJSON(try String(contentsOf: out.appendingPathComponent("tasks/fix-login.data.js"), encoding: .utf8))
        #expect(data["runs"]?.arrayValue?.count == total)
        let c1 = try ViewsTests.dataJSON(try String(contentsOf: out.appendingPathComponent("tasks/fix-login/0001.js"), encoding: .utf8))
        #expect(c1["runs"]?.arrayValue?.first?["files"]?["final_answer.md"]?.stringValue == "Patch for fix-login, attempt 1.\n")
        // The second task ran in even cycles only.
        let other = try String(contentsOf: out.appendingPathComponent("tasks/add-cache.html"), encoding: .utf8)
        #expect(other.contains("id=\"cycle-\(total - 1)\"") && !other.contains("id=\"cycle-\(total)\""))
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("tasks/add-cache/0001.js").path))

        // One more cycle: older cycles' run files stay as they were; the result equals a full build.
        try Self.addCodingCycle(h, total + 1)
        let r = try SiteBuilder.build(history: h, options: SiteOptions(outputDirectory: out))
        #expect(r.written.contains("tasks/fix-login/\(Layout.cycleName(total + 1)).js"))
        #expect(!r.written.contains { $0.hasPrefix("tasks/fix-login/") && $0 != "tasks/fix-login/\(Layout.cycleName(total + 1)).js" })
        #expect(!r.written.contains { $0.hasPrefix("traces/0001/") || $0.hasPrefix("cycles/0001") || $0.hasPrefix("compare/0001") })
        _ = try SiteBuilder.build(history: h, options: SiteOptions(outputDirectory: full, incremental: false))
        try Self.expectSame(out, full)
    }

    @Test("a task page beyond the window: its summary and diff cover the latest window cycles it ran in; the task catalog is folded forward, and a damaged one is made again")
    func taskPageWindowAndCatalog() throws {
        let dir = TestPaths.scratch("site-task-ledger")
        defer { try? FileManager.default.removeItem(at: dir) }
        let window = 4
        let h = try Self.codingHistory(in: dir, cycles: 6)
        let out = dir.appendingPathComponent("site"), full = dir.appendingPathComponent("full")
        for n in 1...6 { _ = try SiteBuilder.build(history: h, options: SiteOptions(outputDirectory: out, atCycle: n, window: window)) }
        let page = try String(contentsOf: out.appendingPathComponent("tasks/fix-login.html"), encoding: .utf8)
        // Cycles 3–6 in the summary, 1–2 not (they are on their cycle pages).
        for n in 1...6 { #expect(page.contains("#cycle-\(n)\"") == (n >= 3), "cycle \(n)") }
        #expect(page.contains("The task ran in 6 cycles; this page covers the latest 4 (from cycle 3)"))
        let data = try ViewsTests.dataJSON(try String(contentsOf: out.appendingPathComponent("tasks/fix-login.data.js"), encoding: .utf8))
        #expect(data["runs"]?.arrayValue?.compactMap { $0["cycle"]?.intValue } == [3, 4, 5, 6])
        // add-cache ran in cycles 2, 4, 6: within the window it keeps all three.
        let other = try ViewsTests.dataJSON(try String(contentsOf: out.appendingPathComponent("tasks/add-cache.data.js"), encoding: .utf8))
        #expect(other["runs"]?.arrayValue?.compactMap { $0["cycle"]?.intValue } == [2, 4, 6])
        let index = try String(contentsOf: out.appendingPathComponent("tasks.html"), encoding: .utf8)
        #expect(index.contains("1–6 (6 cycles)") && index.contains("2, 4, 6"))
        // The task catalog (a key line, then the catalog) was folded forward cycle by cycle: it covers all 6 cycles.
        let catalogURL = out.appendingPathComponent("\(SiteCache.folder)/task-catalog.json")
        let text = try String(contentsOf: catalogURL, encoding: .utf8)
        let keyLine = String(text.prefix(while: { $0 != "\n" }))
        let catalog = try #require(JSONValue.parseOrNil(String(text.dropFirst(keyLine.count + 1))))
        #expect(catalog["cycles"]?.intValue == 6)
        #expect(catalog["tasks"]?.arrayValue?.compactMap { $0.arrayValue?.first?.stringValue } == ["add-cache", "fix-login"])
        // One more cycle over a damaged catalog (right key, garbage value): still what a full build makes, and the
        // catalog is made again, now of 7 cycles.
        try Data((keyLine + "\n[[1]]").utf8).write(to: catalogURL)
        try Self.addCodingCycle(h, 7)
        _ = try SiteBuilder.build(history: h, options: SiteOptions(outputDirectory: out, window: window))
        _ = try SiteBuilder.build(history: h, options: SiteOptions(outputDirectory: full, incremental: false, window: window))
        try Self.expectSame(out, full)
        let after = try String(contentsOf: catalogURL, encoding: .utf8)
        #expect(JSONValue.parseOrNil(String(after.drop(while: { $0 != "\n" }).dropFirst()))?["cycles"]?.intValue == 7)
    }

    @Test("the manifest keeps a cycle's units in their own shard: unchanged cycles are kept without reading it, a missing file of one is rebuilt")
    func manifestShards() throws {
        let dir = TestPaths.scratch("site-manifest-shards")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try SiteFixture.standard(in: dir, cycles: 3)
        let out = dir.appendingPathComponent("site"), full = dir.appendingPathComponent("full")
        _ = try SiteBuilder.build(history: f.history, options: SiteOptions(outputDirectory: out))
        let manifest = try #require(JSONValue.parseOrNil(try Data(contentsOf: out.appendingPathComponent(SiteBuilder.manifestName))))
        #expect(manifest["groups"]?.objectValue?.keys.sorted() == ["0001", "0002", "0003"])
        #expect(manifest["units"]?.objectValue?.keys.contains { $0.hasPrefix("traces-") || $0.hasPrefix("cycle-") } == false)
        let shard = try #require(JSONValue.parseOrNil(try Data(contentsOf: Manifest.shardURL(out, "0002"))))
        #expect(shard["traces-0002"]?["files"]?.arrayValue?.isEmpty == false && shard["cycle-0002"] != nil)
        // Nothing changed: nothing written. A removed page of cycle 2 (its group's first file): cycle 2 only is rebuilt.
        #expect(try SiteBuilder.build(history: f.history, options: SiteOptions(outputDirectory: out)).written.isEmpty)
        let probe = try #require(manifest["groups"]?["0002"]?.arrayValue?[1].stringValue)
        try FileManager.default.removeItem(at: out.appendingPathComponent(probe))
        let again = try SiteBuilder.build(history: f.history, options: SiteOptions(outputDirectory: out)).written
        #expect(again.contains(probe))
        #expect(!again.contains { $0.hasPrefix("traces/0001/") || $0.hasPrefix("traces/0003/") || $0 == "cycles/0001.html" })
        _ = try SiteBuilder.build(history: f.history, options: SiteOptions(outputDirectory: full, incremental: false))
        try Self.expectSame(out, full)
    }
    @Test("the cycle-folder cache grows by one record per new cycle; a record cut short is read from git again and the file rewritten")
    func folderIndexAppends() throws {
        let dir = TestPaths.scratch("site-folder-index")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try SiteFixture.standard(in: dir, cycles: 2)
        let out = dir.appendingPathComponent("site"), full = dir.appendingPathComponent("full")
        let idx = out.appendingPathComponent(SiteCache.folder).appendingPathComponent(FolderIndexCache.name)
        _ = try SiteBuilder.build(history: f.history, options: SiteOptions(outputDirectory: out))
        let two = try Data(contentsOf: idx)
        #expect(FolderIndexCache(SiteCache(output: out)).records.count == 2)
        // One more cycle: the two records stay byte for byte, one is appended.
        _ = try f.addCycle(3)
        _ = try SiteBuilder.build(history: f.history, options: SiteOptions(outputDirectory: out))
        let three = try Data(contentsOf: idx)
        #expect(three.count > two.count && three.prefix(two.count) == two)
        #expect(FolderIndexCache(SiteCache(output: out)).records.count == 3)
        // A build stopped while appending: the last record is cut short (and garbage follows).
        try (three.prefix(three.count - 20) + Data("zz 1 2\nno tab\n".utf8)).write(to: idx)
        #expect(FolderIndexCache(SiteCache(output: out)).records.count == 2)
        _ = try f.addCycle(4)
        _ = try SiteBuilder.build(history: f.history, options: SiteOptions(outputDirectory: out))
        #expect(FolderIndexCache(SiteCache(output: out)).records.count == 4)
        let rewritten = try Data(contentsOf: idx)
        #expect(rewritten.starts(with: FolderIndexCache.header) && rewritten.range(of: Data("no tab".utf8)) == nil)
        _ = try SiteBuilder.build(history: f.history, options: SiteOptions(outputDirectory: full, incremental: false))
        try Self.expectSame(out, full)
    }
}
