import FlywheelSupport
import Foundation

/// Values an earlier build computed, kept in the output folder (`.flywheel-site/`) with the key of their inputs, so a
/// build after one more cycle reads each older cycle's compact summary instead of its full artifacts. A value whose
/// key does not match (another history, an edited cycle, a new format) is recomputed; a damaged file is ignored.
struct SiteCache: @unchecked Sendable {
    static let folder = ".flywheel-site"
    let dir: URL?

    init(output: URL?) {
        dir = output?.appendingPathComponent(Self.folder, isDirectory: true)
        if let dir { try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) }
    }

    private func url(_ name: String) -> URL? { dir?.appendingPathComponent(name + ".json") }

    /// The value stored under `name` when it was made from `key`.
    func get(_ name: String, key: String) -> JSONValue? {
        guard let url = url(name), let data = FileManager.default.contents(atPath: url.path),
            let nl = data.firstIndex(of: 0x0A), String(decoding: data[data.startIndex..<nl], as: UTF8.self) == key
        else { return nil }
        return JSONValue.parseOrNil(Data(data[(nl + 1)...]))
    }

    /// Stores `value` under `name` (best effort: a cache that cannot be written only costs time next build).
    func put(_ name: String, key: String, value: JSONValue) {
        guard let url = url(name) else { return }
        var data = Data((key + "\n").utf8)
        data.append(Data(value.canonicalText.utf8))
        try? data.write(to: url, options: .atomic)
    }
}

/// What the cross-cycle pages (matrix, tasks, recommendations, diffs) need of one cycle, small and derived from the
/// cycle folder alone (its key is the folder's tree id).
struct CycleSummary: Sendable {
    /// Bumped whenever the summary's content changes.
    static let version = "summary-3"

    struct Row: Sendable, Hashable {
        var caseID: String
        var status: SiteEvalRow.Status
        var category: String
        var addedCycle: Int?
        /// The task of the run the row graded (through this cycle's `task.json` files).
        var task: String?
    }
    struct Run: Sendable, Hashable {
        var trace: String
        var hasTrace: Bool
        /// The run's artifact names (not `task.json`), answer first.
        var files: [String]
    }
    struct TaskEntry: Sendable, Hashable {
        var id: String
        var question: String
        /// Worst status of the rows that graded this task's runs (`none` without one).
        var status: String
        var runs: [Run]
    }

    var rows: [Row] = []
    /// Case ids `evals.yaml` of this cycle lists, in file order.
    var evalsListed: [String] = []
    /// Tasks that ran in this cycle, in id order.
    var tasks: [TaskEntry] = []
    var diagnosis: SiteDiagnosis?

    // MARK: Reading

    static func make(reader: SiteReader, number n: Int) throws -> CycleSummary {
        var s = CycleSummary()
        let map = try reader.taskMap(n)
        let results = try reader.results(n) ?? []
        for r in results {
            s.rows.append(Row(caseID: r.caseID, status: r.status, category: r.category, addedCycle: r.addedCycle,
                              task: r.traceID.flatMap { map[$0] }))
        }
        s.evalsListed = try reader.evalsListed(n)
        if !map.isEmpty {
            let outputs = try reader.runOutputs(n)
            // Which runs have a trace page: the trace ids of traces.jsonl (parsed once per cycle, for its trace pages).
            let traceIDs = Set(try reader.traces(n).map(\.id))
            var byTask: [String: TaskEntry] = [:]
            for (trace, task) in map.sorted(by: { ($0.value, $0.key) < ($1.value, $1.key) }) {
                var t = byTask[task] ?? TaskEntry(id: task, question: "", status: "none", runs: [])
                let files = outputs[trace] ?? [:]
                if let data = files[RunFiles.task], let v = JSONValue.parseOrNil(data), let q = v["question"]?.stringValue, !q.isEmpty {
                    t.question = q
                }
                let names = TaskPage.orderedFiles(files.filter { $0.key != RunFiles.task })
                t.runs.append(Run(trace: trace, hasTrace: traceIDs.contains(trace), files: names))
                byTask[task] = t
            }
            var rowsByTask: [String: [SiteEvalRow]] = [:]
            for r in results { if let t = r.traceID.flatMap({ map[$0] }) { rowsByTask[t, default: []].append(r) } }
            for (id, var t) in byTask {
                t.status = TaskPage.status(rowsByTask[id] ?? [])
                byTask[id] = t
            }
            s.tasks = byTask.keys.sorted().map { byTask[$0]! }
        }
        s.diagnosis = try reader.diagnosis(n)
        return s
    }

    // MARK: Encoding (compact arrays; decoded leniently: a damaged value only means a recompute)

    var json: JSONValue {
        func opt(_ s: String?) -> JSONValue { s.map { .string($0) } ?? .null }
        func optInt(_ i: Int?) -> JSONValue { i.map { .int(Int64($0)) } ?? .null }
        func strings(_ a: [String]) -> JSONValue { .array(a.map { .string($0) }) }
        let rows: [JSONValue] = rows.map {
            .array([.string($0.caseID), .string($0.status.rawValue), .string($0.category), optInt($0.addedCycle), opt($0.task)])
        }
        return .object(["rows": .array(rows), "evals": strings(evalsListed), "tasks": tasksJSON, "diagnosis": diagnosisJSON])
    }

    var tasksJSON: JSONValue {
        func strings(_ a: [String]) -> JSONValue { .array(a.map { .string($0) }) }
        return .array(tasks.map { t in
            .array([.string(t.id), .string(t.question), .string(t.status),
                    .array(t.runs.map { .array([.string($0.trace), .bool($0.hasTrace), strings($0.files)]) })])
        })
    }

    var diagnosisJSON: JSONValue {
        func optInt(_ i: Int?) -> JSONValue { i.map { .int(Int64($0)) } ?? .null }
        func strings(_ a: [String]) -> JSONValue { .array(a.map { .string($0) }) }
        var diag: JSONValue = .null
        if let d = diagnosis {
            diag = .object([
                "g": .string(d.generatedBy),
                "r": .array(d.recommendations.map { r in
                    .array([.string(r.id), .string(r.title), .string(r.area), .string(r.impact), .int(Int64(r.rank)), strings(r.predictedEvals)])
                }),
                "o": .array(d.outcomes.map { o in
                    .array([.string(o.recommendationID), optInt(o.fromCycle), .bool(o.implemented), .string(o.status),
                            strings(o.flippedToPass), strings(o.stillFailing), strings(o.regressed), .string(o.note)])
                }),
            ])
        }
        return diag
    }

    init() {}

    init?(json v: JSONValue) {
        func s(_ v: JSONValue?) -> String? { v?.stringValue }
        func i(_ v: JSONValue?) -> Int? { v?.intValue.map { Int(clamping: $0) } }
        func strs(_ v: JSONValue?) -> [String]? { v?.arrayValue?.compactMap(\.stringValue) }
        guard let rows = v["rows"]?.arrayValue, let evals = strs(v["evals"]), let tasks = v["tasks"]?.arrayValue else { return nil }
        for r in rows {
            guard let a = r.arrayValue, a.count == 5, let id = s(a[0]), let st = s(a[1]).flatMap(SiteEvalRow.Status.init(rawValue:)),
                let cat = s(a[2])
            else { return nil }
            self.rows.append(Row(caseID: id, status: st, category: cat, addedCycle: i(a[3]), task: s(a[4])))
        }
        evalsListed = evals
        guard let decodedTasks = Self.tasks(json: .array(tasks)), let decodedDiagnosis = Self.diagnosis(json: v["diagnosis"]) else { return nil }
        self.tasks = decodedTasks
        diagnosis = decodedDiagnosis
    }

    /// The tasks of `tasksJSON` (nil when damaged).
    static func tasks(json v: JSONValue) -> [TaskEntry]? {
        func s(_ v: JSONValue?) -> String? { v?.stringValue }
        func strs(_ v: JSONValue?) -> [String]? { v?.arrayValue?.compactMap(\.stringValue) }
        guard let tasks = v.arrayValue else { return nil }
        var out: [TaskEntry] = []
        for t in tasks {
            guard let a = t.arrayValue, a.count == 4, let id = s(a[0]), let q = s(a[1]), let st = s(a[2]), let runs = a[3].arrayValue
            else { return nil }
            var entry = TaskEntry(id: id, question: q, status: st, runs: [])
            for r in runs {
                guard let ra = r.arrayValue, ra.count == 3, let trace = s(ra[0]), let has = ra[1].boolValue, let files = strs(ra[2])
                else { return nil }
                entry.runs.append(Run(trace: trace, hasTrace: has, files: files))
            }
            out.append(entry)
        }
        return out
    }

    /// The diagnosis of `diagnosisJSON`: `.some(nil)` without one, nil when damaged.
    static func diagnosis(json v: JSONValue?) -> SiteDiagnosis?? {
        func s(_ v: JSONValue?) -> String? { v?.stringValue }
        func i(_ v: JSONValue?) -> Int? { v?.intValue.map { Int(clamping: $0) } }
        func strs(_ v: JSONValue?) -> [String]? { v?.arrayValue?.compactMap(\.stringValue) }
        var diagnosis: SiteDiagnosis?
        if let d = v, d.objectValue != nil {
            var recs: [SiteRecommendation] = []
            for r in d["r"]?.arrayValue ?? [] {
                guard let a = r.arrayValue, a.count == 6 else { return nil }
                recs.append(SiteRecommendation(
                    id: s(a[0]) ?? "", title: s(a[1]) ?? "", area: s(a[2]) ?? "", change: "", confidence: "", effort: "",
                    validation: "", impact: s(a[3]) ?? "", rank: i(a[4]) ?? 0, predictedEvals: strs(a[5]) ?? [], patchFile: nil,
                    patchAppend: nil, evidence: [], failureModeIDs: []))
            }
            var outcomes: [SiteOutcome] = []
            for o in d["o"]?.arrayValue ?? [] {
                guard let a = o.arrayValue, a.count == 8 else { return nil }
                outcomes.append(SiteOutcome(
                    recommendationID: s(a[0]) ?? "", fromCycle: i(a[1]), implemented: a[2].boolValue ?? false, status: s(a[3]) ?? "",
                    flippedToPass: strs(a[4]) ?? [], stillFailing: strs(a[5]) ?? [], regressed: strs(a[6]) ?? [], note: s(a[7]) ?? ""))
            }
            diagnosis = SiteDiagnosis(generatedBy: s(d["g"]) ?? "", failureModes: [], recommendations: recs, outcomes: outcomes)
        }
        return .some(diagnosis)
    }
}

extension SiteReader {
    /// Case ids listed by cycle `n`'s `evals.yaml` (metadata.id), in file order; empty without the file or when it
    /// does not load (the evals stage reports that file).
    func evalsListed(_ n: Int) throws -> [String] {
        guard index.entry(n)?.files[Layout.CycleFile.evals] != nil, let data = try data(n, Layout.CycleFile.evals) else { return [] }
        return EvalRatchet.caseIDs(inCycleEvals: String(decoding: data, as: UTF8.self), file: Layout.cycleFile(n, Layout.CycleFile.evals))
    }

    /// One compact value per cycle of the history (`make` of the cycle's summary), in cycle order, kept in one cache
    /// file (`.flywheel-site/<name>.jsonl`: a key line, then a line per cycle, its folder and its value): the leading
    /// lines whose cycle folders are unchanged are taken from it, only the cycles after them are summarised, and
    /// their lines are appended, so a page that lists every cycle costs one file read and one new summary after one
    /// more cycle, not a summary read (or a rewrite of the ledger) per cycle.
    ///
    /// `wanted`: only the kept lines of these cycles are parsed (the others come back as `null`), so a page that shows
    /// the latest cycles reads the ledger without parsing every older cycle's value.
    func ledger(
        _ name: String, version: String, wanted: ((Int) -> Bool)? = nil, _ make: (CycleSummary) -> JSONValue
    ) throws -> [(number: Int, value: JSONValue)] {
        let key = version + "|" + CycleSummary.version
        let chain = index.cycles.map { "\($0.number):\($0.folderID)" }
        var items: [JSONValue] = []
        var keptBytes = 0
        let url = cache.dir?.appendingPathComponent(name + ".jsonl")
        if let url, let data = FileManager.default.contents(atPath: url.path) {
            let lines = data.split(separator: 0x0A, omittingEmptySubsequences: false)
            if let first = lines.first, String(decoding: first, as: UTF8.self) == key {
                keptBytes = first.count + 1
                for line in lines.dropFirst() {
                    guard items.count < chain.count, let tab = line.firstIndex(of: 0x09),
                        String(decoding: line[line.startIndex..<tab], as: UTF8.self) == chain[items.count]
                    else { break }
                    let v: JSONValue
                    if let wanted, !wanted(index.cycles[items.count].number) {
                        v = .null
                    } else {
                        guard let parsed = JSONValue.parseOrNil(Data(line[(tab + 1)...])) else { break }
                        v = parsed
                    }
                    items.append(v)
                    keptBytes += line.count + 1
                }
            }
        }
        let reused = items.count
        var appended = Data()
        for (i, e) in index.cycles.enumerated().dropFirst(reused) {
            let v = make(try summary(e.number))
            items.append(v)
            appended.append(Data((chain[i] + "\t" + v.canonicalText + "\n").utf8))
        }
        if let url, !appended.isEmpty || keptBytes == 0 {
            // Keep the lines still valid and append the new ones (a rewrite only when the file had to be cut).
            let fm = FileManager.default
            if keptBytes > 0, let h = try? FileHandle(forWritingTo: url) {
                try? h.truncate(atOffset: UInt64(keptBytes))
                _ = try? h.seekToEnd()
                try? h.write(contentsOf: appended)
                try? h.close()
            } else {
                var all = Data((key + "\n").utf8)
                for (i, v) in items.enumerated() { all.append(Data((chain[i] + "\t" + v.canonicalText + "\n").utf8)) }
                if let dir = cache.dir { try? fm.createDirectory(at: dir, withIntermediateDirectories: true) }
                try? all.write(to: url, options: .atomic)
            }
        }
        return zip(index.cycles, items).map { ($0.number, $1) }
    }

    /// The summary of cycle `n`: from the build cache when its folder is unchanged, else read and stored.
    func summary(_ n: Int) throws -> CycleSummary {
        if let s = summaries[n] { return s }
        guard let e = index.entry(n) else { throw HistoryError.noSuchCycle(n) }
        let name = "summary-" + Layout.cycleName(n)
        let key = CycleSummary.version + "|" + e.folderID
        if let v = cache.get(name, key: key), let s = CycleSummary(json: v) {
            summaries[n] = s
            return s
        }
        let s = try CycleSummary.make(reader: self, number: n)
        cache.put(name, key: key, value: s.json)
        summaries[n] = s
        return s
    }
}
