import Flywheel
import FlywheelSupport
import Foundation

/// The runs of a task set and their traces.
public struct AgentBatchResult: Sendable {
    /// One result per question, in order.
    public var runs: [AgentRunResult]
    /// HALO JSONL of every run (each run's spans, root last), ready to be the cycle's `traces.jsonl`.
    public var traces: Data
    /// Trace ids in question order (`traceIDs[i]` is question `i + 1`'s run).
    public var traceIDs: [String] { runs.map(\.traceID) }
}

// MARK: - Task sets

extension AnalystAgent {
    /// Runs the agent over `questions` (ids `q01`, `q02`, …); see `runBatch(tasks:seed:outputsRoot:projectID:serviceName:clock:)`.
    public func runBatch(
        questions: [String], seed: UInt64, outputsRoot: URL, projectID: String = "lumora-diligence",
        serviceName: String = "diligence-analyst", clock: any AgentClock = SystemAgentClock()
    ) -> AgentBatchResult {
        let tasks = questions.enumerated().map { AgentTask(id: String(format: "q%02d", $0.offset + 1), question: $0.element) }
        return runBatch(tasks: tasks, seed: seed, outputsRoot: outputsRoot, projectID: projectID, serviceName: serviceName, clock: clock)
    }

    /// Runs the agent over `tasks`, one run each, in order. Run `i` gets trace id
    /// `traceID(seed: seed, index: i + 1)` and writes its artifacts to `outputsRoot/<trace_id>/`, plus
    /// `final_answer.md` (the final answer, when there is one) and `task.json` (`{"question","question_id","trace_id"}`);
    /// its spans are appended to the batch's traces.
    /// - Parameters:
    ///   - tasks: the task set.
    ///   - seed: the batch seed (trace ids, span ids, and the model's seed through `ChatRequest.seed` when the
    ///     agent has none). Use a different seed per cycle so runs vary from cycle to cycle.
    ///   - outputsRoot: the `outputs/` folder.
    ///   - projectID: `inference.project_id` of the spans.
    ///   - serviceName: `service.name` of the spans.
    ///   - clock: time source (a `SteppingAgentClock` makes the traces byte-for-byte reproducible).
    public func runBatch(
        tasks: [AgentTask], traceIDs: [String]? = nil, seed: UInt64, outputsRoot: URL, projectID: String = "lumora-diligence",
        serviceName: String = "diligence-analyst", clock: any AgentClock = SystemAgentClock(),
        progress: (_ done: Int, _ total: Int, _ task: AgentTask) -> Void = { _, _, _ in }
    ) -> AgentBatchResult {
        var runs: [AgentRunResult] = []
        var traces = Data()
        var agent = self
        if agent.seed == nil { agent.seed = seed }
        for (i, task) in tasks.enumerated() {
            progress(i, tasks.count, task)
            let traceID = traceIDs?[i] ?? Self.traceID(seed: seed, index: i + 1)
            let dir = outputsRoot.appendingPathComponent(traceID)
            let tracer = HALOTracer(projectID: projectID, serviceName: serviceName, seed: seed)
            let r = agent.run(question: task.question, traceID: traceID, outputDirectory: dir, tracer: tracer, clock: clock)
            if let answer = r.finalAnswer { try? Data((answer + "\n").utf8).write(to: dir.appendingPathComponent("final_answer.md")) }
            let meta: JSONValue = ["task_id": .string(task.id), "question": .string(task.question), "trace_id": .string(traceID)]
            try? Data((meta.canonicalText + "\n").utf8).write(to: dir.appendingPathComponent("task.json"))
            traces.append(tracer.jsonl)
            runs.append(r)
        }
        if let last = tasks.last { progress(tasks.count, tasks.count, last) }
        return AgentBatchResult(runs: runs, traces: traces)
    }
}

// MARK: - Feedback keyed by question, and applying a fix

extension ExampleScaffold {
    /// Fills in `trace_id` of feedback records keyed by `question` (1-based index into `traceIDs`).
    /// Records that already have a non-empty `trace_id`, or whose question has no run, are returned unchanged.
    /// - Parameters:
    ///   - jsonl: feedback records, one JSON object per line (blank lines skipped).
    ///   - traceIDs: trace ids in question order.
    /// - Returns: the records as JSONL (compact, keys sorted, one per line).
    /// - Throws: `HarnessError` naming the line when a line is not a JSON object.
    public static func assignTraceIDs(toFeedbackJSONL jsonl: String, traceIDs: [String]) throws(HarnessError) -> String {
        var out = ""
        for (i, line) in jsonl.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { continue }
            guard let value = try? JSONValue.parse(String(line)), var object = value.objectValue else {
                throw HarnessError(file: feedbackPath, line: i + 1, field: nil, reason: "not a JSON object")
            }
            let existing = object["trace_id"]?.stringValue ?? ""
            if existing.isEmpty, let q = object["question"]?.intValue, q >= 1, Int(q) <= traceIDs.count {
                object["trace_id"] = .string(traceIDs[Int(q) - 1])
            }
            out += JSONValue.object(object).canonicalText + "\n"
        }
        return out
    }

    /// Applies the concrete harness change that removes `mode` to the harness folder: appends the mode's rule to
    /// `instructions.md` (modes 1–4), or enables `check_citations` and `validate_artifacts` in `tools.yaml`
    /// (mode 5). Applying a change twice changes nothing the second time.
    /// - Returns: the files changed (relative to the harness folder).
    /// - Throws: file-system errors, or `HarnessError` when tools.yaml does not parse.
    @discardableResult
    public static func applyFix(for mode: ExampleFailureMode, toHarness folder: URL) throws -> [String] {
        // The same mechanism the demo uses to play the coding agent: a harness patch.
        let patch = mode.instructionRule.map { HarnessPatch(file: "harness/instructions.md", append: $0) }
            ?? HarnessPatch(file: "harness/tools.yaml", enableTools: mode.toolsToEnable.sorted())
        let name = String(patch.file.dropFirst("harness/".count))
        let url = folder.appendingPathComponent(name)
        let before = try String(contentsOf: url, encoding: .utf8)
        let after = patch.apply(to: before)
        guard after != before else { return [] }
        try writeText(after, to: url)
        return [name]
    }
}
