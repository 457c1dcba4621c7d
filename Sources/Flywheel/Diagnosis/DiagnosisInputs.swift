import FlywheelSupport
import FlywheelTraces
import Foundation
import FlywheelEvals

// MARK: - What diagnosis reads from a span

extension Span {
    /// `AGENT`, `LLM`, `TOOL`, `CHAIN`, … from `openinference.span.kind` (else `inference.observation_kind`, else
    /// the name's prefix).
    var observationKindForDiagnosis: String {
        if let k = attributes["openinference.span.kind"]?.stringValue, !k.isEmpty { return Self.upper(k) }
        if let k = attributes["inference.observation_kind"]?.stringValue, !k.isEmpty { return Self.upper(k) }
        if name.hasPrefix("function.") { return "TOOL" }
        if name.hasPrefix("agent.") { return "AGENT" }
        if name.hasPrefix("generation.") || name.hasPrefix("response.") { return "LLM" }
        if name.hasPrefix("guardrail.") { return "GUARDRAIL" }
        return "CHAIN"
    }

    /// `k.uppercased()`, without building a new string when `k` has no lowercase ASCII letter or non-ASCII byte
    /// (the usual `LLM`, `TOOL`, …: the detectors ask for the kind of every span many times).
    static func upper(_ k: String) -> String {
        k.utf8.allSatisfy({ $0 < 0x80 && !($0 >= 0x61 && $0 <= 0x7A) }) ? k : k.uppercased()
    }

    var isToolSpan: Bool { observationKindForDiagnosis == "TOOL" }
    /// Only the exact `STATUS_CODE_ERROR` counts (spec §2).
    var isErrorSpan: Bool { status.code == "STATUS_CODE_ERROR" }

    /// `tool.name`, else the name after `function.` (tool spans only).
    var toolNameForDiagnosis: String? { toolName(kind: observationKindForDiagnosis) }

    /// ``toolNameForDiagnosis`` of a span whose `observationKindForDiagnosis` is `kind`.
    func toolName(kind: String) -> String? {
        guard kind == "TOOL" else { return nil }
        if let n = attributes["tool.name"]?.stringValue, !n.isEmpty { return n }
        return name.hasPrefix("function.") ? String(name.dropFirst("function.".count)) : name
    }

    var inputValueText: String? { attributes["input.value"]?.stringValue }
    var outputValueText: String? { attributes["output.value"]?.stringValue }
}

/// Reads spans for diagnosis through the traces stage's `TraceStore` (HALO's acceptance rules).
public enum DiagnosisTraces {
    /// Every span of a HALO JSONL file, or of every `*.jsonl` file of a folder, in file order.
    /// - Throws: `TraceStoreError` (e.g. `invalidDataset` with the validation report) when HALO would reject a file.
    public static func spans(at url: URL) throws -> [Span] {
        var isDir: ObjCBool = false
        let files: [URL]
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), isDir.boolValue {
            files = try TraceStore.jsonlFiles(in: url)
        } else {
            files = [url]
        }
        return try TraceStore(files: files).allSpans()
    }
}

/// One row of gate results, reduced to what diagnosis and outcome tracking need.
public struct ResultRowFacts: Sendable, Hashable, Codable {
    public enum Status: String, Sendable, Hashable, Codable { case pass, fail, error, skipped }
    /// `metadata.id` of the test.
    public var evalID: String
    public var traceID: String?
    public var feedbackID: String?
    public var category: String?
    public var severity: FeedbackRecord.Severity?
    public var status: Status
    public var reason: String
    /// The metric (or assertion type) of the first failing assertion, when the results say.
    public var metric: String?

    public init(
        evalID: String, traceID: String? = nil, feedbackID: String? = nil, category: String? = nil,
        severity: FeedbackRecord.Severity? = nil, status: Status, reason: String = "", metric: String? = nil
    ) {
        self.evalID = evalID
        self.traceID = traceID
        self.feedbackID = feedbackID
        self.category = category
        self.severity = severity
        self.status = status
        self.reason = reason
        self.metric = metric
    }

    public var passed: Bool { status == .pass }
    /// Failed or errored for a reason other than a skip (a skipped rubric is not evidence of a failure mode).
    public var failedForReal: Bool { status == .fail || status == .error }

    /// Reads the rows of a Promptfoo results JSON (v3, v2 or legacy): provenance from `testCase.metadata` (else the
    /// row's `metadata`), `vars.trace_id` as a fallback trace id. Rows without an id get `row-<testIdx>`.
    public static func rows(fromResultsJSON data: Data) throws -> [ResultRowFacts] {
        // One reader of results files for the whole loop (version 3, version 2 and the legacy shape).
        let file = try EvalResultsJSON.read(String(decoding: data, as: UTF8.self))
        return file.rows.map { row in
            let meta = row.testCase["metadata"]?.objectValue ?? row.metadata
            let error = row.error ?? ""
            let status: Status
            switch row.status {
            case .passed: status = .pass
            case .failed: status = .fail
            case .error: status = .error
            case .skipped: status = .skipped
            }
            return ResultRowFacts(
                evalID: row.testId,
                traceID: meta["trace_id"]?.stringValue ?? row.testCase["vars"]?["trace_id"]?.stringValue ?? row.vars["trace_id"]?.stringValue,
                feedbackID: meta["feedback_id"]?.stringValue, category: meta["category"]?.stringValue,
                severity: meta["severity"]?.stringValue.flatMap(FeedbackRecord.Severity.init(rawValue:)), status: status,
                reason: error.isEmpty ? (row.gradingResult?.reason ?? "") : error,
                metric: (row.gradingResult?.componentResults ?? []).first { !$0.pass && !$0.skipped }?.assertion.map { $0.metric ?? $0.type })
        }
    }
}

/// The harness files as the cycle ran them, by path (`harness/instructions.md`, `harness/tools.yaml`, …).
public struct HarnessFiles: Sendable, Hashable {
    public var files: [String: String]
    public init(files: [String: String] = [:]) { self.files = files }

    public var isEmpty: Bool { files.isEmpty }

    /// Reads every file under `directory` as `<prefix>/<relative path>` (prefix `harness`).
    public static func load(from directory: URL, prefix: String = "harness") throws -> HarnessFiles {
        let room = try SourceFolder.load(from: directory)
        return HarnessFiles(files: Dictionary(uniqueKeysWithValues: room.files.map { ("\(prefix)/\($0.key)", $0.value) }))
    }

    /// Every line of every file except tools.yaml, lowercased (rules are looked up here).
    var ruleLines: [String] {
        files.filter { !$0.key.hasSuffix("tools.yaml") }.sorted { byteOrder($0.key, $1.key) }
            .flatMap { $0.value.split(separator: "\n").map { normalizedForQuote(String($0)) } }
    }

    /// Tool names declared in `tools.yaml` and whether each is enabled. Accepts a list of `{name, enabled}` under
    /// `tools:` (or at top level), or a mapping `name: {enabled: bool}` / `name: bool`. A tool without `enabled`
    /// counts as enabled.
    public var tools: [String: Bool] {
        guard let text = files.first(where: { $0.key.hasSuffix("tools.yaml") })?.value, let v = try? EvalTestsYAML.parse(text) else { return [:] }
        let root = v["tools"] ?? v
        var out: [String: Bool] = [:]
        if let list = root.arrayValue {
            for item in list {
                if let name = item["name"]?.stringValue { out[name] = item["enabled"]?.boolValue ?? true } else if let name = item.stringValue { out[name] = true }
            }
        } else if let map = root.objectValue {
            for (name, spec) in map { out[name] = spec.boolValue ?? spec["enabled"]?.boolValue ?? true }
        }
        return out
    }
}

/// Everything deterministic diagnosis looks at. Only `spans` is required; the rest sharpens the result.
public struct DiagnosisInput: Sendable {
    public var spans: [Span]
    public var feedback: [FeedbackRecord]
    public var results: [ResultRowFacts]
    public var harness: HarnessFiles
    /// trace id → the artifact names present in `outputs/<trace_id>/`. When absent for a trace, presence is inferred
    /// from successful `write_artifact` tool spans.
    public var artifacts: [String: Set<String>]
    /// The artifacts the project's rules require of every run (empty: no missing-artifact detector).
    public var requiredArtifacts: [String]
    /// The project's own topics (from its rules file), matched in order before a category becomes a topic of its
    /// own.
    public var topics: [FailureTopic]
    /// Tools the agent was offered; when nil: the union of `agent.tools` span attributes and the enabled tools of
    /// `harness/tools.yaml`.
    public var offeredTools: Set<String>?
    /// The harness's main instructions file (e.g. declared in loop.yaml); when nil it is found in the harness
    /// (`HarnessFiles.mainInstructionsFile`).
    public var instructionsFile: String?
    /// Regular expressions (case-insensitive) of answers that decline by the project's rules: such an answer is not
    /// a refusal.
    public var expectedDeclines: [String]
    /// Task id → the figures of the task's runs in earlier cycles (their diagnoses' `task_runs`), so a run can be an
    /// outlier against its task's own history even when the cycle ran the task once.
    public var taskHistory: [String: TaskRunFigures] = [:]

    public init(
        spans: [Span], feedback: [FeedbackRecord] = [], results: [ResultRowFacts] = [], harness: HarnessFiles = HarnessFiles(),
        artifacts: [String: Set<String>] = [:], requiredArtifacts: [String] = [], topics: [FailureTopic] = [],
        expectedDeclines: [String] = [], offeredTools: Set<String>? = nil, instructionsFile: String? = nil
    ) {
        self.topics = topics
        self.instructionsFile = instructionsFile
        self.expectedDeclines = expectedDeclines
        self.spans = spans
        self.feedback = feedback
        self.results = results
        self.harness = harness
        self.artifacts = artifacts
        self.requiredArtifacts = requiredArtifacts
        self.offeredTools = offeredTools
    }
}
