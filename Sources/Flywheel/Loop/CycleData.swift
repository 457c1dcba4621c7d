import FlywheelSupport
import FlywheelTraces
import Foundation
import GitStore
import FlywheelModels

/// Everything a cycle holds, read from the history in one synchronous step (values only).
public struct CycleData: Sendable {
    public var cycle: Cycle
    /// The revision it was read at (the cycle's tag when closed, else the ref).
    public var revision: String
    /// `traces.jsonl` bytes (empty when the stage has not run).
    public var traces: Data
    /// `outputs/<trace_id>/<file>` → text, keyed by trace id (also when the folder has the id's safe name).
    public var outputs: [String: [String: String]]
    public var feedback: [FeedbackRecord]
    /// `results.json` bytes, when the gate ran.
    public var results: Data?
    public var diagnosis: Diagnosis?
    public var handoff: String?
    /// `harness/` files at this revision, path (relative to harness/) → text.
    public var harness: [String: String]

    /// The harness as diagnosis and prompts read it (paths with their `harness/` prefix).
    public var harnessFiles: HarnessFiles {
        HarnessFiles(files: Dictionary(uniqueKeysWithValues: harness.map { ("\(Layout.harness)/\($0.key)", $0.value) }))
    }

    /// Trace ids with their question, from each run's `task.json` (or the root span's input).
    public var questions: [String: String] {
        var out: [String: String] = [:]
        for (trace, files) in outputs {
            if let task = files["task.json"], let v = try? JSONValue.parse(task), let q = v["question"]?.stringValue { out[trace] = q }
        }
        return out
    }

    /// Trace id → task id, from each run's `task.json` (`task_id`, or `question_id` of histories written before it).
    public var taskIDs: [String: String] { Self.taskIDs(outputs) }

    static func taskIDs(_ outputs: [String: [String: String]]) -> [String: String] {
        var out: [String: String] = [:]
        for (trace, files) in outputs {
            guard let task = files[RunFiles.task], let v = try? JSONValue.parse(task) else { continue }
            if let id = v["task_id"]?.stringValue ?? v["question_id"]?.stringValue { out[trace] = id }
        }
        return out
    }

    /// The project's rules as this cycle ran them (its snapshot), none when the cycle has no rules file.
    public var rules: ProjectRules

    /// The cycle's runs in trace-file order, with their task ids.
    public func runOrder() throws -> [(traceID: String, taskID: String?)] {
        try Self.runOrder(traces: traces, taskIDs: taskIDs)
    }

    static func runOrder(traces: Data, taskIDs: [String: String]) throws -> [(traceID: String, taskID: String?)] {
        guard !traces.isEmpty else { return [] }
        return try TraceStore(data: traces).traces.map { ($0.traceID, taskIDs[$0.traceID]) }
    }

    /// The spans (validated when committed; a damaged file is an error naming the cycle).
    public func spans() throws -> [Span] {
        guard !traces.isEmpty else { return [] }
        do {
            return try TraceStore(data: traces, name: Layout.cycleFile(cycle.number, Layout.CycleFile.traces)).allSpans()
        } catch {
            throw StageError("traces", "\(Layout.cycleFile(cycle.number, Layout.CycleFile.traces)): \(error)")
        }
    }

    /// The run artifacts the critics read.
    public var runs: [RunArtifacts] {
        let q = questions, tasks = taskIDs
        var calls: [String: [RunArtifacts.ToolCall]] = [:]
        for s in (try? spans()) ?? [] where s.isToolSpan {
            calls[s.traceID, default: []].append(
                RunArtifacts.ToolCall(name: s.toolNameForDiagnosis ?? s.name, input: s.inputValueText ?? "", failed: s.isErrorSpan, spanID: s.spanID))
        }
        return outputs.keys.sorted().map {
            RunArtifacts(traceID: $0, question: q[$0], taskID: tasks[$0], files: outputs[$0] ?? [:], toolCalls: calls[$0] ?? [])
        }
    }

    /// Result rows for diagnosis and outcome tracking.
    public func resultRows() throws -> [ResultRowFacts] {
        guard let results else { return [] }
        return try ResultRowFacts.rows(fromResultsJSON: results)
    }

    /// The large parts of a cycle, which a stage that does not need them leaves unread (they are then empty).
    public struct Parts: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        public static let traces = Parts(rawValue: 1)
        public static let outputs = Parts(rawValue: 2)
        public static let harness = Parts(rawValue: 4)
        public static let all: Parts = [.traces, .outputs, .harness]
    }

    /// Reads cycle `number` at `revision` (default: where the cycle's state lives). `cycle.json`, feedback, results,
    /// diagnosis, handoff and rules are always read; traces, outputs and harness when `parts` names them.
    public static func read(_ history: LoopHistory, cycle number: Int, revision: String? = nil, parts: Parts = .all) throws -> CycleData {
        let rev = try revision ?? history.revision(ofCycle: number)
        let snap = try history.snapshot(at: rev)
        guard let cycle = try snap.cycles().first(where: { $0.number == number }) else { throw HistoryError.noSuchCycle(number) }
        let outputs = parts.contains(.outputs) ? try readOutputs(snap, cycle: number) : [:]
        let feedback = try readFeedback(snap, cycle: number)
        var diagnosis: Diagnosis?
        if let data = try snap.cycleFile(number, Layout.CycleFile.diagnosis) {
            do { diagnosis = try Diagnosis.read(data) } catch {
                throw HistoryError.corrupt(path: Layout.cycleFile(number, Layout.CycleFile.diagnosis), reason: describeDecodingError(error))
            }
        }
        var rules = ProjectRules.none
        if let data = try snap.cycleFile(number, Layout.CycleFile.rules) {
            let name = Layout.cycleFile(number, Layout.CycleFile.rules)
            do { rules = try ProjectRules.parse(String(decoding: data, as: UTF8.self), file: name) } catch {
                throw HistoryError.corrupt(path: name, reason: "\(error)")
            }
        }
        return CycleData(
            cycle: cycle, revision: rev,
            traces: parts.contains(.traces) ? try snap.cycleFile(number, Layout.CycleFile.traces) ?? Data() : Data(), outputs: outputs,
            feedback: feedback, results: try snap.cycleFile(number, Layout.CycleFile.results), diagnosis: diagnosis,
            handoff: try snap.cycleFile(number, Layout.CycleFile.handoff).map { String(decoding: $0, as: UTF8.self) },
            harness: parts.contains(.harness) ? try snap.texts(under: Layout.harness) : [:], rules: rules)
    }

    /// `outputs/<trace_id>/<file>` of cycle `number`, keyed by trace id; `only` limits the files read to those names.
    static func readOutputs(_ snap: HistorySnapshot, cycle number: Int, only: Set<String>? = nil) throws -> [String: [String: String]] {
        let prefix = "\(Layout.cycleFolder(number))/\(Layout.CycleFile.outputs)"
        var outputs: [String: [String: String]] = [:]
        for (path, id) in try snap.fileIDs(under: prefix) {
            let parts = path.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2, only?.contains(parts[1]) ?? true else { continue }
            outputs[parts[0], default: [:]][parts[1]] = String(decoding: try snap.blob(id, path: "\(prefix)/\(path)"), as: UTF8.self)
        }
        // A folder whose trace id git would not accept as a name is filed under its safe form (SafeName); its task.json
        // names the trace. Keyed by trace id from here on (only when the id maps back to that very folder).
        for (folder, files) in outputs {
            guard let task = files[RunFiles.task], let id = (try? JSONValue.parse(task))?["trace_id"]?.stringValue,
                id != folder, SafeName.treeName(id) == folder, outputs[id] == nil
            else { continue }
            outputs[id] = files
            outputs[folder] = nil
        }
        return outputs
    }

    static func readFeedback(_ snap: HistorySnapshot, cycle number: Int) throws -> [FeedbackRecord] {
        guard let data = try snap.cycleFile(number, Layout.CycleFile.feedback) else { return [] }
        return try FeedbackStore.decode(data, file: Layout.cycleFile(number, Layout.CycleFile.feedback))
    }
}

/// What feedback filed later may name in one cycle, read without the cycle's other artifacts (outputs other than
/// `task.json`, harness, results, diagnosis): its runs in trace-file order with their task ids, and its feedback.
struct CycleRuns: Sendable {
    var cycle: Int
    var runs: [(traceID: String, taskID: String?)]
    /// The cycle's feedback; nil when its feedback.jsonl cannot be read (a damaged earlier file must not sink a stage
    /// that only consults it).
    var feedback: [FeedbackRecord]?

    /// The runs of a cycle whose whole data is already read.
    init(_ data: CycleData) throws {
        cycle = data.cycle.number
        runs = try data.runOrder()
        feedback = data.feedback
    }

    /// Reads cycle `number` at `revision` (default: where the cycle's state lives).
    init(_ history: LoopHistory, cycle number: Int, revision: String? = nil) throws {
        let snap = try history.snapshot(at: try revision ?? history.revision(ofCycle: number))
        let tasks = try CycleData.readOutputs(snap, cycle: number, only: [RunFiles.task])
        cycle = number
        runs = try CycleData.runOrder(traces: try snap.cycleFile(number, Layout.CycleFile.traces) ?? Data(), taskIDs: CycleData.taskIDs(tasks))
        feedback = try? CycleData.readFeedback(snap, cycle: number)
    }
}
