import FlywheelSupport
import Foundation

/// Compiles feedback records into Promptfoo test objects (as `JSONValue` objects, ready for `evals.yaml` and the
/// suite's `tests:`).
///
/// Per record, up to two tests:
/// - `fb-<id>-1`, deterministic: each required observation becomes `icontains` (alternatives written `a|b` become
///   `icontains-any`, and `/pattern/` becomes `regex`), each prohibited claim `not-icontains`. Emitted only when
///   the record has at least one of them.
/// - `fb-<id>-2`, an `llm-rubric` built from the observation (and the required / prohibited lists). Kept apart so
///   a run without a judge (rubric skipped, an ERROR row) does not hide the deterministic verdict.
///
/// `<id>` is the feedback id without a leading `fb-` (so `fb-7c1e…` gives `fb-7c1e…-1`, not `fb-fb-…`).
/// Provenance goes in `metadata`: id, feedback_id, trace_id, cycle, category, severity, source;
/// `vars`: trace_id and question.
public struct EvalCompiler: Sendable {
    public var cycle: Int
    /// Whether to emit the `llm-rubric` test.
    public var includeRubric: Bool

    public init(cycle: Int, includeRubric: Bool = true) {
        self.cycle = cycle
        self.includeRubric = includeRubric
    }

    /// The tests of many records, in record order (records sorted by feedback id), deduplicated by id.
    /// - Parameter questions: trace id → the task's question.
    public func compile(_ records: [FeedbackRecord], questions: [String: String] = [:]) -> [JSONValue] {
        var seen = Set<String>()
        return records.sorted { byteOrder($0.feedbackID, $1.feedbackID) }
            .flatMap { compile($0, question: questions[$0.traceID]) }
            .filter { seen.insert(EvalRatchet.id(of: $0) ?? "").inserted }
    }

    /// The tests of one record.
    public func compile(_ record: FeedbackRecord, question: String?) -> [JSONValue] {
        let base = Self.idStem(record.feedbackID)
        var tests: [JSONValue] = []
        let deterministic = Self.deterministicAssertions(record)
        if !deterministic.isEmpty {
            tests.append(test(record, id: "\(base)-1", question: question, assertions: deterministic, kind: "deterministic"))
        }
        if includeRubric {
            tests.append(test(record, id: "\(base)-2", question: question, assertions: [Self.rubric(record)], kind: "rubric"))
        }
        return tests
    }

    /// `fb-<feedback id without fb- prefix>`.
    public static func idStem(_ feedbackID: String) -> String {
        "fb-" + (feedbackID.hasPrefix("fb-") ? String(feedbackID.dropFirst(3)) : feedbackID)
    }

    func test(_ record: FeedbackRecord, id: String, question: String?, assertions: [JSONValue], kind: String) -> JSONValue {
        var vars: [String: JSONValue] = ["trace_id": .string(record.traceID)]
        if let question { vars["question"] = .string(question) }
        let metadata: [String: JSONValue] = [
            "id": .string(id), "feedback_id": .string(record.feedbackID), "trace_id": .string(record.traceID),
            "cycle": .int(Int64(cycle)), "category": .string(record.category), "severity": .string(record.severity.rawValue),
            "source": .string(record.source.rawValue), "kind": .string(record.verdict == .good ? "regression-\(kind)" : kind),
        ]
        return .object([
            "description": .string((record.verdict == .good ? "[keep: \(record.category)] " : "[\(record.category)] ") + Excerpt.clip(record.observation, 100)),
            "vars": .object(vars), "assert": .array(assertions), "metadata": .object(metadata),
        ])
    }

    /// The deterministic assertions of a record.
    public static func deterministicAssertions(_ record: FeedbackRecord) -> [JSONValue] {
        var out: [JSONValue] = []
        for required in record.requiredObservations {
            let text = required.trimmingCharacters(in: .whitespaces)
            if text.count > 2, text.hasPrefix("/"), text.hasSuffix("/") {
                out.append(["type": "regex", "value": .string(String(text.dropFirst().dropLast()))])
                continue
            }
            let alternatives = text.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            if alternatives.count > 1 {
                out.append(["type": "icontains-any", "value": .array(alternatives.map { .string($0) })])
            } else if let only = alternatives.first {
                out.append(["type": "icontains", "value": .string(only)])
            }
        }
        for claim in record.prohibitedClaims {
            let text = claim.trimmingCharacters(in: .whitespaces)
            if !text.isEmpty { out.append(["type": "not-icontains", "value": .string(text)]) }
        }
        return out
    }

    /// The `llm-rubric` assertion of a record. A `good` verdict becomes a regression check: the answer keeps what
    /// the reviewer praised.
    public static func rubric(_ record: FeedbackRecord) -> JSONValue {
        if record.verdict == .good {
            var text = "Reviewer praised this behaviour (\(record.category)); the answer must keep it: \(record.observation)"
            if !record.requiredObservations.isEmpty { text += "\nThe answer states: " + record.requiredObservations.joined(separator: "; ") }
            if !record.prohibitedClaims.isEmpty { text += "\nThe answer does not claim: " + record.prohibitedClaims.joined(separator: "; ") }
            text += "\nPass only if the answer still shows the praised behaviour."
            return ["type": "llm-rubric", "value": .string(text)]
        }
        var text = "Reviewer finding to check (\(record.category), \(record.severity.rawValue)): \(record.observation)"
        if !record.requiredObservations.isEmpty {
            text += "\nA correct answer states: " + record.requiredObservations.joined(separator: "; ")
        }
        if !record.prohibitedClaims.isEmpty {
            text += "\nA correct answer does not claim: " + record.prohibitedClaims.joined(separator: "; ")
        }
        text += "\nPass only if the answer avoids the problem described."
        return ["type": "llm-rubric", "value": .string(text)]
    }
}
