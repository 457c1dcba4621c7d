import FlywheelSupport
import Foundation

/// One feedback record (a line of `feedback.jsonl`), keyed to a trace. Human reviewers, the LLM critic and the
/// deterministic rule critic all produce this shape; eval generation compiles it into Promptfoo tests.
public struct FeedbackRecord: Sendable, Hashable, Codable {
    /// Who produced the record.
    public enum Source: String, Sendable, Hashable, Codable, CaseIterable { case human, model, rule }

    /// How bad the observed problem is.
    public enum Severity: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
        case low, medium, high, critical

        /// Weight used by diagnosis ranking: low 1, medium 2, high 3, critical 5.
        public var weight: Double {
            switch self {
            case .low: return 1
            case .medium: return 2
            case .high: return 3
            case .critical: return 5
            }
        }

        public static func < (a: Severity, b: Severity) -> Bool { a.weight < b.weight }
    }

    /// A reviewer's overall judgement of the run: `bad` (a problem; the default) or `good` (behaviour to keep, never a
    /// failure mode; it may become a regression case).
    public enum Verdict: String, Sendable, Hashable, Codable, CaseIterable { case good, bad }

    public var feedbackID: String
    public var traceID: String
    /// The task the run answered (when the feedback named it, or the run's task.json says).
    public var taskID: String?
    /// The cycle the feedback is about, when it is not the cycle it was filed in (a late review of an earlier run).
    public var cycle: Int?
    /// nil: a finding (as `bad`).
    public var verdict: Verdict?
    public var source: Source
    public var author: String
    public var category: String
    public var severity: Severity
    public var observation: String
    public var evidence: String
    public var requiredObservations: [String]
    public var prohibitedClaims: [String]
    /// ISO-8601 UTC, e.g. `2026-09-30T12:00:00Z`.
    public var createdAt: String

    public init(
        feedbackID: String? = nil, traceID: String, source: Source, author: String, category: String, severity: Severity,
        observation: String, evidence: String = "", requiredObservations: [String] = [], prohibitedClaims: [String] = [],
        createdAt: String, taskID: String? = nil, cycle: Int? = nil, verdict: Verdict? = nil
    ) {
        self.feedbackID = ""
        self.traceID = traceID
        self.taskID = taskID
        self.cycle = cycle
        self.verdict = verdict
        self.source = source
        self.author = author
        self.category = category
        self.severity = severity
        self.observation = observation
        self.evidence = evidence
        self.requiredObservations = requiredObservations
        self.prohibitedClaims = prohibitedClaims
        self.createdAt = createdAt
        self.feedbackID = feedbackID ?? stableID
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case feedbackID = "feedback_id", traceID = "trace_id", source, author, category, severity, observation, evidence
        case requiredObservations = "required_observations", prohibitedClaims = "prohibited_claims"
        case createdAt = "created_at", taskID = "task_id", cycle, verdict
    }

    /// True for a record that reports a problem (any verdict but `good`).
    public var isProblem: Bool { verdict != .good }

    /// A content-derived id, `fb-<12 hex of SHA-256>` over every field except the id and the time, so the same
    /// finding gets the same id on every run.
    public var stableID: String {
        let parts: [JSONValue] = [
            .string(traceID), .string(source.rawValue), .string(author), .string(category), .string(severity.rawValue),
            .string(observation), .string(evidence), .array(requiredObservations.map { .string($0) }),
            .array(prohibitedClaims.map { .string($0) }),
        ]
        // Fields added later enter the hash only when set, so earlier records keep their ids.
        var extra: [JSONValue] = []
        if let verdict { extra.append(.string("verdict:" + verdict.rawValue)) }
        if let cycle { extra.append(.string("cycle:\(cycle)")) }
        if !extra.isEmpty { return "fb-" + StableHash.short(JSONValue.array(parts + extra).canonicalText) }
        return "fb-" + StableHash.short(JSONValue.array(parts).canonicalText)
    }

    /// The record as a JSON object (snake_case keys).
    public var jsonValue: JSONValue {
        var o: [String: JSONValue] = [
            "feedback_id": .string(feedbackID), "trace_id": .string(traceID), "source": .string(source.rawValue),
            "author": .string(author), "category": .string(category), "severity": .string(severity.rawValue),
            "observation": .string(observation), "evidence": .string(evidence),
            "required_observations": .array(requiredObservations.map { .string($0) }),
            "prohibited_claims": .array(prohibitedClaims.map { .string($0) }), "created_at": .string(createdAt),
        ]
        if let taskID { o["task_id"] = .string(taskID) }
        if let cycle { o["cycle"] = .int(Int64(cycle)) }
        if let verdict { o["verdict"] = .string(verdict.rawValue) }
        return .object(o)
    }

    /// One compact JSON line with sorted keys (no trailing newline).
    public var jsonLine: String { jsonValue.canonicalText }
}

// MARK: - Errors

/// One problem in a feedback file, naming the file, the 1-based line and the field.
public struct FeedbackIssue: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    /// The field (`severity`, `required_observations[1]`, …) or `<line>` for the whole line.
    public var field: String
    public var message: String

    public init(file: String, line: Int, field: String, message: String) {
        self.file = file
        self.line = line
        self.field = field
        self.message = message
    }

    public var description: String { "\(file):\(line): \(field): \(message)" }
}

/// A feedback file that did not validate: every problem found, in file order.
public struct FeedbackValidationError: Error, Sendable, CustomStringConvertible {
    public var issues: [FeedbackIssue]
    public init(issues: [FeedbackIssue]) { self.issues = issues }
    public var description: String { issues.map(\.description).joined(separator: "\n") }
}
