import FlywheelSupport
import FlywheelTraces
import Foundation
import GitStore

/// One task's run as it goes into a cycle: its spans and its files under `outputs/<trace id>/`.
public struct TaskRecord: Sendable {
    public var taskID: String
    public var traceID: String
    public var spans: [Span]
    /// Path relative to `outputs/<trace id>/` → bytes.
    public var outputs: [String: Data]
    public var failed: Bool

    public init(taskID: String, traceID: String, spans: [Span], outputs: [String: Data], failed: Bool) {
        self.taskID = taskID
        self.traceID = traceID
        self.spans = spans
        self.outputs = outputs
        self.failed = failed
    }
}

/// How runs merge into a cycle: traces and outputs are a union, a task is never there twice, and `traces.jsonl`
/// lists the runs in task-set order. Local runs (`flywheel run`, several at once), shards of one cycle, and
/// `flywheel push` re-applying a clone's run onto a moved remote all merge through here, so the result does not
/// depend on who came first or how many tasks ran at once.
public enum RunMerge {
    /// What a merge writes and what the cycle then holds.
    public struct Merged: Sendable {
        /// Files relative to the cycle folder.
        public var files: [String: Data]
        /// Removals (full repository paths): outputs of runs replaced with `--rerun`.
        public var extra: TreeChanges
        /// Task ids merged in by this call.
        public var added: [String]
        /// Task ids left out because the cycle already had them.
        public var skipped: [String]
        /// The cycle's runs after the merge, in file order.
        public var traceIDs: [String]
        public var taskIDs: [String]
        public var spans: Int
        public var toolErrors: Int
        public var tokens: Int
        public var meanLatencyMs: Double?
        /// Task ids whose run failed.
        public var failedTasks: [String]
    }

    /// The runs of cycle `number` at `snap`: spans per trace (file order) and each trace's task id.
    static func existing(_ snap: HistorySnapshot, cycle number: Int) throws -> (order: [String], spans: [String: [Span]], tasks: [String: String]) {
        var order: [String] = []
        var spans: [String: [Span]] = [:]
        if let data = try snap.cycleFile(number, Layout.CycleFile.traces), !data.isEmpty {
            let imported: TraceImportResult
            do {
                imported = try TraceImporter.importData(data, name: Layout.cycleFile(number, Layout.CycleFile.traces), format: .halo)
            } catch {
                throw HistoryError.corrupt(path: Layout.cycleFile(number, Layout.CycleFile.traces), reason: "\(error)")
            }
            for s in imported.spans {
                if spans[s.traceID] == nil { order.append(s.traceID) }
                spans[s.traceID, default: []].append(s)
            }
        }
        var tasks: [String: String] = [:]
        let folder = Layout.cycleFile(number, Layout.CycleFile.outputs)
        for id in order {
            guard let data = try snap.file("\(folder)/\(SafeName.treeName(id))/\(RunFiles.task)"), let v = try? JSONValue.parse(String(decoding: data, as: UTF8.self)),
                  let task = v["task_id"]?.stringValue ?? v["question_id"]?.stringValue else {
                // A run without task.json (e.g. traces imported by hand) is named by its root span's task attribute.
                if let task = spans[id]?.first(where: { $0.parentSpanID.isEmpty })?.attributes[TraceIdentity.taskAttribute]?.stringValue {
                    tasks[id] = task
                }
                continue
            }
            tasks[id] = task
        }
        return (order, spans, tasks)
    }

    /// Merges `incoming` into cycle `number` as it is at `snap`.
    /// - Parameters:
    ///   - replace: a task the cycle already holds is replaced by the incoming run (`--rerun`); otherwise it is kept
    ///     and the incoming run left out.
    ///   - taskOrder: the task set's ids in order (runs of other tasks go last, in the order they were).
    public static func merge(_ snap: HistorySnapshot, cycle number: Int, incoming: [TaskRecord], replace: Bool, taskOrder: [String]) throws -> Merged {
        var (order, spans, tasks) = try existing(snap, cycle: number)
        var extra = TreeChanges()
        var files: [String: Data] = [:]
        var added: [String] = [], skipped: [String] = []
        let outputsFolder = Layout.cycleFile(number, Layout.CycleFile.outputs)
        for record in incoming {
            let holders = order.filter { tasks[$0] == record.taskID || $0 == record.traceID }
            if !holders.isEmpty {
                guard replace else {
                    skipped.append(record.taskID)
                    continue
                }
                for old in holders {
                    order.removeAll { $0 == old }
                    spans[old] = nil
                    tasks[old] = nil
                    extra.remove("\(outputsFolder)/\(SafeName.treeName(old))")
                }
            }
            order.append(record.traceID)
            spans[record.traceID] = record.spans
            tasks[record.traceID] = record.taskID
            for (path, data) in record.outputs { files["\(Layout.CycleFile.outputs)/\(SafeName.treeName(record.traceID))/\(path)"] = data }
            added.append(record.taskID)
        }
        // Task-set order, so the file is the same whoever ran which task first.
        let position = Dictionary(taskOrder.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { a, _ in a })
        let before = Dictionary(order.enumerated().map { ($0.element, $0.offset) }, uniquingKeysWith: { a, _ in a })
        order.sort { a, b in
            let pa = tasks[a].flatMap { position[$0] } ?? Int.max, pb = tasks[b].flatMap { position[$0] } ?? Int.max
            return pa != pb ? pa < pb : before[a]! < before[b]!
        }
        // A replaced run's folder is removed only when the new run does not write the same folder.
        for id in order { extra.removals.remove("\(outputsFolder)/\(SafeName.treeName(id))") }
        let all = order.flatMap { spans[$0] ?? [] }
        let data = SpanWriter.data(all)
        files[Layout.CycleFile.traces] = data
        let store = try TraceStore(data: data)
        let durations = store.traces.compactMap(\.durationNanos).map { Double($0) / 1e6 }
        let failed = order.filter { id in
            spans[id]?.contains { $0.parentSpanID.isEmpty && $0.attributes[TraceIdentity.failedAttribute] == .bool(true) } ?? false
        }
        return Merged(
            files: files, extra: extra, added: added, skipped: skipped, traceIDs: order, taskIDs: order.compactMap { tasks[$0] },
            spans: store.traces.reduce(0) { $0 + $1.spanCount }, toolErrors: store.traces.reduce(0) { $0 + $1.toolErrorSpanCount },
            tokens: Int(store.traces.reduce(Int64(0)) { TraceLimits.adding($0, $1.inputTokens, $1.outputTokens) }),
            meanLatencyMs: durations.isEmpty ? nil : durations.reduce(0, +) / Double(durations.count),
            failedTasks: failed.compactMap { tasks[$0] })
    }

    /// Records the merged figures in `cycle.json`.
    static func update(_ c: inout Cycle, _ m: Merged) {
        c.scores.traces = m.traceIDs.count
        c.scores.spans = m.spans
        c.scores.toolErrors = m.toolErrors
        if m.tokens > 0 || c.scores.tokens == nil { c.scores.tokens = m.tokens }
        c.scores.latencyMs = m.meanLatencyMs
        c.scores.failedTasks = m.failedTasks.count
        if c.experiment == nil { c.experiment = Experiment() }
        if c.experiment?.taskSet == nil { c.experiment?.taskSet = Experiment.TaskSetRecord(file: "", sha256: "", count: 0) }
        c.experiment?.taskSet?.selected = m.taskIDs
    }
}
