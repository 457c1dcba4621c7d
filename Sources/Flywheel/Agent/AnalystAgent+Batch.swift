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
    /// Runs the agent over `questions`, one run each, in order. Run `i` gets trace id
    /// `traceID(seed: seed, index: i + 1)` and writes its artifacts to `outputsRoot/<trace_id>/`; its spans are
    /// appended to the batch's traces.
    /// - Parameters:
    ///   - questions: the task set.
    ///   - seed: the batch seed (trace ids, span ids, and the model's seed when it uses the request's).
    ///   - outputsRoot: the `outputs/` folder.
    ///   - projectID: `inference.project_id` of the spans.
    ///   - serviceName: `service.name` of the spans.
    ///   - clock: time source (a `SteppingAgentClock` makes the traces byte-for-byte reproducible).
    public func runBatch(
        questions: [String], seed: UInt64, outputsRoot: URL, projectID: String = "lumora-diligence",
        serviceName: String = "diligence-analyst", clock: any AgentClock = SystemAgentClock()
    ) -> AgentBatchResult {
        var runs: [AgentRunResult] = []
        var traces = Data()
        var agent = self
        if agent.seed == nil { agent.seed = seed }
        for (i, question) in questions.enumerated() {
            let traceID = Self.traceID(seed: seed, index: i + 1)
            let tracer = HALOTracer(projectID: projectID, serviceName: serviceName, seed: seed)
            let r = agent.run(
                question: question, traceID: traceID, outputDirectory: outputsRoot.appendingPathComponent(traceID),
                tracer: tracer, clock: clock)
            traces.append(tracer.jsonl)
            runs.append(r)
        }
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
        if let rule = mode.instructionRule {
            let url = folder.appendingPathComponent("instructions.md")
            var text = try String(contentsOf: url, encoding: .utf8)
            guard !text.contains(rule) else { return [] }
            if !text.contains("## Evidence rules") {
                if !text.hasSuffix("\n") { text += "\n" }
                text += "## Evidence rules\n\n"
            }
            if !text.hasSuffix("\n") { text += "\n" }
            text += rule + "\n"
            try writeText(text, to: url)
            return ["instructions.md"]
        }
        let url = folder.appendingPathComponent("tools.yaml")
        let text = try String(contentsOf: url, encoding: .utf8)
        let h = try Harness.parse(instructions: "", toolsYAML: text, outputYAML: "artifacts: []\n", modelYAML: "model: x\n")
        var enabled = Set(h.tools.filter(\.enabled).map(\.name.rawValue))
        let before = enabled
        enabled.formUnion(mode.toolsToEnable)
        guard enabled != before else { return [] }
        try writeText(toolsYAML(enabled: enabled), to: url)
        return ["tools.yaml"]
    }
}
