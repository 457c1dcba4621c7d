import FlywheelEvals
import FlywheelSupport
import FlywheelTraces
import Foundation
import GitStore

/// The synchronous read step: holds the snapshot (and its C handles) and parses artifacts once each.
final class SiteReader {
    let snap: HistorySnapshot
    let index: HistoryIndex
    private var resultsCache: [Int: [SiteEvalRow]?] = [:]
    private var tracesCache: [Int: Read<[TraceRecord]>] = [:]
    private var feedbackCache: [Int: Read<[FeedbackRecord]>?] = [:]
    private var diagnosisCache: [Int: Read<SiteDiagnosis?>?] = [:]
    private var taskMapCache: [Int: [String: String]] = [:]
    private var outputsCache: [Int: [String: [String: Data]]] = [:]
    /// Values of earlier builds (cycle summaries, diff figures).
    let cache: SiteCache
    var summaries: [Int: CycleSummary] = [:]

    /// Per-cycle parse caches hold the two latest cycles asked for (a cycle page also reads the one before it), so
    /// a large history is never held in memory at once.
    private static func bounded<V>(_ cache: inout [Int: V], _ n: Int, _ v: V) {
        if cache.count >= 2 { cache = cache.filter { $0.key == n - 1 || $0.key == n + 1 } }
        cache[n] = v
    }

    init(snapshot: HistorySnapshot, atCycle: Int?, cache: SiteCache = SiteCache(output: nil)) throws {
        snap = snapshot
        self.cache = cache
        let loopText = try snapshot.text(Layout.loopConfig)
        let project = LoopConfig.projectName(lenient: loopText, file: Layout.loopConfig)
        let loopID = try snapshot.treeID(of: Layout.loopConfig)?.hex ?? "-"
        let tipHarness = try snapshot.treeID(of: Layout.harness)?.hex
        var entries: [HistoryIndex.CycleEntry] = []
        for (c, folder, files) in try Self.cycleFolders(snapshot, atCycle: atCycle, cache: cache) {
            entries.append(.init(cycle: c, folderID: folder, files: files, harnessTree: c.harnessTree))
        }
        // The latest cycle without a recorded harness tree shows the history's current harness.
        if let last = entries.indices.last, entries[last].harnessTree == nil { entries[last].harnessTree = tipHarness }
        index = HistoryIndex(project: project, loopID: loopID, cycles: entries)
    }

    /// Every cycle (up to `atCycle`) with its folder's tree id and its files' ids, in number order. The cycle
    /// folders are listed from the `cycles` tree; a folder whose tree id the build cache knows (`FolderIndexCache`:
    /// folder id → file ids and `cycle.json` text) is taken from it, the others are read (their tree and `cycle.json`
    /// blob) and appended to it, so a build after one more cycle reads one folder and writes one record.
    static func cycleFolders(
        _ snapshot: HistorySnapshot, atCycle: Int?, cache: SiteCache
    ) throws -> [(Cycle, String, [String: String])] {
        guard let root = try snapshot.treeID(of: Layout.cycles) else { return [] }
        var folders: [(Int, ObjectID)] = []
        for e in try snapshot.entries(ofTree: root) where e.kind == .tree {
            guard let n = Int(e.name), atCycle.map({ n <= $0 }) ?? true else { continue }
            folders.append((n, e.id))
        }
        folders.sort { $0.0 < $1.0 }
        let cached = FolderIndexCache(cache)
        var found: [(n: Int, record: FolderIndexCache.Record)] = []
        var added: [FolderIndexCache.Record] = []
        for (n, id) in folders {
            if let r = cached.records[id.hex] { found.append((n, r)); continue }
            var files: [String: String] = [:]
            var blob: ObjectID?
            for e in try snapshot.entries(ofTree: id) {
                files[e.name] = e.id.hex
                if e.name == Layout.CycleFile.cycle, e.kind == .blob { blob = e.id }
            }
            // A folder without `cycle.json` is not a cycle (as `HistorySnapshot.cycles`).
            guard let blob else { continue }
            let text = try snapshot.blob(blob, path: Layout.cycleFile(n, Layout.CycleFile.cycle))
            let r = FolderIndexCache.Record(folder: id.hex, files: files, cycleJSON: text)
            found.append((n, r))
            added.append(r)
        }
        cached.append(added, keeping: Set(folders.map(\.1.hex)))
        // Once the folders come from the cache, decoding is most of this step: it is spread over the cores.
        let decoded = found.concurrentMap { f in
            Result { try Cycle.decode(f.record.cycleJSON, path: Layout.cycleFile(f.n, Layout.CycleFile.cycle)) }
        }
        var out: [(Cycle, String, [String: String])] = []
        for (f, c) in zip(found, decoded) { out.append((try c.get(), f.record.folder, f.record.files)) }
        out.sort { $0.0.number < $1.0.number }
        return out
    }

    func data(_ n: Int, _ name: String) throws -> Data? { try snap.cycleFile(n, name) }

    func results(_ n: Int) throws -> [SiteEvalRow]? {
        if let cached = resultsCache[n] { return cached }
        // The evals' own reader in its lenient mode (a file that is no JSON object has no rows).
        let v = try data(n, Layout.CycleFile.results).map { data in
            ((try? EvalResultsJSON.read(String(decoding: data, as: UTF8.self), lenient: true))?.rows ?? []).map(SiteEvalRow.init)
        }
        Self.bounded(&resultsCache, n, v)
        return v
    }

    /// What the domain's reader made of an artifact in its lenient mode: the value, and a line for each part of the
    /// file it left out (the cycle page lists them, so a damaged record is shown as damaged, never silently dropped).
    struct Read<Value: Sendable>: Sendable {
        var value: Value
        var skipped: [String]
    }

    /// The records of cycle `n`'s `feedback.jsonl` as the feedback store reads it (lenient: a line that does not read
    /// is left out and named), nil when the stage has not run.
    func feedbackRead(_ n: Int) throws -> Read<[FeedbackRecord]>? {
        if let cached = feedbackCache[n] { return cached }
        let name = Layout.cycleFile(n, Layout.CycleFile.feedback)
        let v = try data(n, Layout.CycleFile.feedback).map { data in
            let r = FeedbackStore.read(lenient: data, file: name)
            return Read(value: r.records, skipped: r.issues.map { "line \($0.line): \($0.field): \($0.message)" })
        }
        Self.bounded(&feedbackCache, n, v)
        return v
    }

    func feedback(_ n: Int) throws -> [FeedbackRecord]? { try feedbackRead(n)?.value }

    /// Cycle `n`'s `diagnosis.json` as diagnosis reads it (lenient: a part that does not read is left out and named;
    /// the value is nil when the file is no JSON object), nil when the stage has not run.
    func diagnosisRead(_ n: Int) throws -> Read<SiteDiagnosis?>? {
        if let cached = diagnosisCache[n] { return cached }
        let v = try data(n, Layout.CycleFile.diagnosis).map { data in
            var skipped: [String] = []
            let d = Diagnosis.read(lenient: data, skipped: &skipped)
            return Read(value: d.map(SiteDiagnosis.init), skipped: skipped)
        }
        Self.bounded(&diagnosisCache, n, v)
        return v
    }

    func diagnosis(_ n: Int) throws -> SiteDiagnosis? { try diagnosisRead(n)?.value ?? nil }

    /// Cycle `n`'s spans grouped by trace (traces in order of their first line), each line read by the traces stage's
    /// span reader (`SpanLines`: a line that is not a span is left out and named).
    func tracesRead(_ n: Int) throws -> Read<[TraceRecord]> {
        if let cached = tracesCache[n] { return cached }
        var v = Read<[TraceRecord]>(value: [], skipped: [])
        if let data = try data(n, Layout.CycleFile.traces) {
            let lines = SpanLines(data)
            v = Read(value: lines.byTrace.map { TraceRecord(id: $0.traceID, spans: $0.spans) }, skipped: lines.skipped.map(\.description))
        }
        // Units of a cycle are prepared one after the other: keep only the latest cycle's spans in memory.
        tracesCache.removeAll()
        tracesCache[n] = v
        return v
    }

    func traces(_ n: Int) throws -> [TraceRecord] { try tracesRead(n).value }

    /// Case id → the cycle whose `evals.yaml` added it (provenance of the suite's ratchet), over the cycles up to
    /// `upTo`. The map of the latest build is kept in the build cache with the suites it was made from: when those are
    /// the first ones of this history, only the newer suites are read (a build after one more cycle reads one).
    func evalProvenance(upTo: Int) throws -> [String: Int] {
        let suites = index.cycles.filter { $0.number <= upTo && $0.files[Layout.CycleFile.evals] != nil }
        let chain = suites.map { "\($0.number):\($0.id(Layout.CycleFile.evals))" }
        var out: [String: Int] = [:]
        var done = 0
        let cached = cache.get("provenance", key: "provenance-1")
        if let old = cached?["suites"]?.arrayValue?.compactMap(\.stringValue), old.count <= chain.count,
            Array(chain.prefix(old.count)) == old, let map = cached?["map"]?.objectValue
        {
            for (id, n) in map { if let n = n.intValue { out[id] = Int(n) } }
            done = old.count
        }
        for e in suites.dropFirst(done) {
            for id in try summary(e.number).evalsListed where out[id] == nil { out[id] = e.number }
        }
        if done < chain.count, upTo >= (index.cycles.last?.number ?? 0) {
            cache.put("provenance", key: "provenance-1", value: .object([
                "suites": .array(chain.map { .string($0) }), "map": .object(out.mapValues { .int(Int64($0)) }),
            ]))
        }
        return out
    }

    /// Trace id → task id of cycle `n`'s runs, from each `outputs/<trace_id>/task.json` (`task_id`, or `question_id`
    /// of older histories); only the task files are read.
    func taskMap(_ n: Int) throws -> [String: String] {
        if let cached = taskMapCache[n] { return cached }
        var out: [String: String] = [:]
        for (trace, files) in try runOutputs(n) {
            guard let data = files[RunFiles.task], let v = JSONValue.parseOrNil(data),
                let id = v["task_id"]?.stringValue ?? v["question_id"]?.stringValue, !id.isEmpty
            else { continue }
            out[trace] = id
        }
        Self.bounded(&taskMapCache, n, out)
        return out
    }

    /// Every run's output files of cycle `n`: trace id → (file path → bytes). Read once per cycle (the trace pages,
    /// the cycle's summary, task run texts and compare data all use it).
    func runOutputs(_ n: Int) throws -> [String: [String: Data]] {
        if let cached = outputsCache[n] { return cached }
        var out: [String: [String: Data]] = [:]
        for (path, data) in try snap.files(under: Layout.cycleFile(n, Layout.CycleFile.outputs)) {
            let parts = path.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            out[parts[0], default: [:]][parts[1]] = data
        }
        Self.bounded(&outputsCache, n, out)
        return out
    }

    /// The files of a harness tree (path relative to `harness/` → bytes); empty without a tree.
    func harnessFiles(_ tree: String?) throws -> [String: Data] {
        guard let tree, let id = ObjectID(hex: tree) else { return [:] }
        return try snap.files(inTree: id, what: "harness tree")
    }

    func handoff(_ n: Int) throws -> String? {
        try data(n, Layout.CycleFile.handoff).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The output artifacts of one trace (`outputs/<trace_id>/…`), path → bytes.
    func outputs(_ n: Int, traceID: String) throws -> [String: Data] {
        try runOutputs(n)[SafeName.treeName(traceID)] ?? [:]
    }

    /// The harness diff between two cycles' harness trees (libgit2's diff).
    func harnessDiff(_ a: String?, _ b: String?) throws -> TreeDiff {
        guard a != nil || b != nil else { return TreeDiff(files: []) }
        return try snap.diff(from: a.flatMap(ObjectID.init(hex:)), to: b.flatMap(ObjectID.init(hex:)), what: "harness trees")
    }

    /// The diff of `handoff.md` between two cycle folders (libgit2's diff over the two folder trees).
    func handoffDiff(_ a: Int, _ b: Int) throws -> TreeDiff {
        let ta = index.entry(a).flatMap { ObjectID(hex: $0.folderID) }
        let tb = index.entry(b).flatMap { ObjectID(hex: $0.folderID) }
        guard ta != nil || tb != nil else { return TreeDiff(files: []) }
        return try snap.diff(from: ta, to: tb, paths: [Layout.CycleFile.handoff], what: "handoffs")
    }
}
