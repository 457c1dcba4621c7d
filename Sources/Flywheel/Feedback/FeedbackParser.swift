import FlywheelSupport
import Foundation

/// Reads and validates feedback: JSONL (one object per line) or a JSON array of objects.
///
/// Required fields: `trace_id`, `source`, `author`, `category`, `severity`, `observation`. Optional:
/// `feedback_id` (a stable content hash when absent), `evidence` (string, or an array of strings joined with
/// `; `), `required_observations`, `prohibited_claims` (arrays of strings), `created_at` (ISO-8601 UTC; the
/// caller's default when absent). Unknown fields are errors (they are usually typos such as `severty`).
///
/// Feedback written before the run may name the task instead of the trace: `"trace_id": null` (or absent) with
/// `"question": <id>` is resolved through `traceIDsByQuestion` (question id as text → trace id); the `question`
/// field itself is not stored.
public enum FeedbackParser {
    /// The result of a lenient parse: the records that validated, and every problem.
    public struct Result: Sendable {
        public var records: [FeedbackRecord]
        public var issues: [FeedbackIssue]
    }

    /// Parses and validates, collecting every problem.
    /// - Parameters:
    ///   - data: the file's bytes.
    ///   - file: the name used in messages.
    ///   - knownTraceIDs: when given, a `trace_id` not in the set is an error.
    ///   - defaultCreatedAt: the time given to records without `created_at`.
    public static func parse(
        _ data: Data, file: String, knownTraceIDs: Set<String>? = nil, defaultCreatedAt: String = "1970-01-01T00:00:00Z",
        traceIDsByQuestion: [String: String] = [:], targets: FeedbackTargets? = nil, lenient: Bool = false
    ) -> Result {
        guard let text = String(data: data, encoding: .utf8) else {
            return Result(records: [], issues: [FeedbackIssue(file: file, line: 1, field: "<file>", message: "not valid UTF-8")])
        }
        var records: [FeedbackRecord] = []
        var issues: [FeedbackIssue] = []
        let items: [(line: Int, text: String)]
        let trimmed = text.drop { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\u{FEFF}" }
        if trimmed.first == "[" {
            switch splitArray(text) {
            case .success(let elements): items = elements
            case .failure(let issue):
                return Result(records: [], issues: [FeedbackIssue(file: file, line: issue.line, field: "<file>", message: issue.message)])
            }
        } else {
            var lines: [(Int, String)] = []
            for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = raw.hasSuffix("\r") ? String(raw.dropLast()) : String(raw)
                if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
                lines.append((i + 1, line))
            }
            items = lines
        }
        for (line, itemText) in items {
            let value: JSONValue
            do {
                value = try JSONValue.parse(itemText)
            } catch {
                issues.append(FeedbackIssue(file: file, line: line, field: "<line>", message: "malformed JSON"))
                continue
            }
            switch validate(
                value, file: file, line: line, knownTraceIDs: knownTraceIDs, defaultCreatedAt: defaultCreatedAt,
                traceIDsByQuestion: traceIDsByQuestion, targets: targets, lenient: lenient)
            {
            case .success(let record): records.append(record)
            case .failure(let error): issues.append(contentsOf: error.issues)
            }
        }
        return Result(records: records, issues: issues)
    }

    /// Parses and validates; throws every problem when there is any (nothing half-valid is returned).
    public static func load(
        _ data: Data, file: String, knownTraceIDs: Set<String>? = nil, defaultCreatedAt: String = "1970-01-01T00:00:00Z",
        traceIDsByQuestion: [String: String] = [:], targets: FeedbackTargets? = nil
    ) throws(FeedbackValidationError) -> [FeedbackRecord] {
        let result = parse(
            data, file: file, knownTraceIDs: knownTraceIDs, defaultCreatedAt: defaultCreatedAt, traceIDsByQuestion: traceIDsByQuestion,
            targets: targets)
        if !result.issues.isEmpty { throw FeedbackValidationError(issues: result.issues) }
        return result.records
    }

    /// Validates one JSON object as a feedback record. `lenient` (reading a stored file of an older or newer
    /// Flywheel) lets fields this version does not know pass unread; every other rule holds.
    public static func validate(
        _ value: JSONValue, file: String, line: Int, knownTraceIDs: Set<String>? = nil,
        defaultCreatedAt: String = "1970-01-01T00:00:00Z", traceIDsByQuestion: [String: String] = [:], targets: FeedbackTargets? = nil,
        lenient: Bool = false
    ) -> Swift.Result<FeedbackRecord, FeedbackValidationError> {
        var issues: [FeedbackIssue] = []
        func issue(_ field: String, _ message: String) {
            issues.append(FeedbackIssue(file: file, line: line, field: field, message: message))
        }
        guard let object = value.objectValue else {
            issue("<line>", "expected a JSON object")
            return .failure(FeedbackValidationError(issues: issues))
        }
        let allowed = Set(FeedbackRecord.CodingKeys.allCases.map(\.rawValue) + ["question"])
        for key in object.keys.sorted(by: byteOrder) where !lenient && !allowed.contains(key) {
            issue(key, "unknown field (allowed: \(allowed.sorted(by: byteOrder).joined(separator: ", ")))")
        }
        func string(_ key: String, required: Bool) -> String? {
            guard let v = object[key], !v.isNull else {
                if required { issue(key, "missing required field") }
                return nil
            }
            guard let s = v.stringValue else {
                issue(key, "must be a string")
                return nil
            }
            if required && s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                issue(key, "must not be empty")
                return nil
            }
            return s
        }
        func strings(_ key: String) -> [String] {
            guard let v = object[key], !v.isNull else { return [] }
            guard let array = v.arrayValue else {
                issue(key, "must be an array of strings")
                return []
            }
            var out: [String] = []
            for (i, element) in array.enumerated() {
                if let s = element.stringValue, !s.trimmingCharacters(in: .whitespaces).isEmpty {
                    out.append(s)
                } else {
                    issue("\(key)[\(i)]", "must be a non-empty string")
                }
            }
            return out
        }
        let feedbackID = string("feedback_id", required: false)
        var aboutCycle: Int?
        if let c = object["cycle"], !c.isNull {
            if let n = c.intValue, n >= 1 { aboutCycle = Int(n) } else { issue("cycle", "must be a cycle number (1, 2, …)") }
        }
        var taskID = string("task_id", required: false)
        var traceID: String?
        let hasTrace = object["trace_id"].map { !$0.isNull } ?? false
        if !hasTrace, let q = object["question"], !q.isNull {
            // `question` names the task: its id in any format, or (legacy) its 1-based position in the task set.
            let key = q.intValue.map { String($0) } ?? q.stringValue ?? q.canonicalText
            if let mapped = targets?.trace(forTask: key, cycle: aboutCycle) ?? traceIDsByQuestion[key] {
                traceID = mapped
                taskID = taskID ?? targets?.taskOfTrace[mapped] ?? (q.stringValue.flatMap { targets?.trace(forTask: $0, cycle: aboutCycle) != nil ? $0 : nil })
            } else {
                issue("question", "no run of task \(key) in \(aboutCycle.map { "cycle \($0)" } ?? "this cycle") (trace_id is null)")
            }
        } else if !hasTrace, let t = taskID {
            if let mapped = targets?.trace(forTask: t, cycle: aboutCycle) {
                traceID = mapped
            } else {
                issue("task_id", "no run of task \"\(t)\" in \(aboutCycle.map { "cycle \($0)" } ?? "this cycle")")
            }
        } else {
            traceID = string("trace_id", required: true)
        }
        if let id = traceID {
            if let targets {
                if let owner = targets.traces[id] {
                    if let aboutCycle, aboutCycle != owner {
                        issue("cycle", "trace \(id) belongs to cycle \(owner), not \(aboutCycle)")
                    }
                    if owner != targets.cycle { aboutCycle = owner }
                    if taskID == nil { taskID = targets.taskOfTrace[id] }
                } else {
                    issue("trace_id", "unknown trace id \"\(id)\" (not a trace of this cycle or an earlier one)")
                }
            } else if let knownTraceIDs, !knownTraceIDs.contains(id) {
                issue("trace_id", "unknown trace id \"\(id)\" (not in this cycle's traces)")
            }
        }
        if aboutCycle == targets?.cycle { aboutCycle = nil }
        var verdict: FeedbackRecord.Verdict?
        if let v = string("verdict", required: false) {
            verdict = FeedbackRecord.Verdict(rawValue: v.lowercased())
            if verdict == nil { issue("verdict", "unknown verdict \"\(v)\" (expected good or bad)") }
        }
        let sourceText = string("source", required: true)
        let source = sourceText.flatMap(FeedbackRecord.Source.init(rawValue:))
        if let sourceText, source == nil {
            issue("source", "unknown source \"\(sourceText)\" (expected human, model or rule)")
        }
        let author = string("author", required: true)
        let category = string("category", required: true)
        // Praise needs no severity.
        let severityText = verdict == .good && object["severity"] == nil ? "low" : string("severity", required: true)
        let severity = severityText.flatMap(FeedbackRecord.Severity.init(rawValue:))
        if let severityText, severity == nil {
            issue("severity", "unknown severity \"\(severityText)\" (expected low, medium, high or critical)")
        }
        let observation = string("observation", required: true)
        var evidence = ""
        if let v = object["evidence"], !v.isNull {
            if let s = v.stringValue {
                evidence = s
            } else if let a = v.arrayValue, a.allSatisfy({ $0.stringValue != nil }) {
                evidence = a.compactMap(\.stringValue).joined(separator: "; ")
            } else {
                issue("evidence", "must be a string or an array of strings")
            }
        }
        let required = strings("required_observations")
        let prohibited = strings("prohibited_claims")
        var createdAt = defaultCreatedAt
        if let c = string("created_at", required: false) {
            if isISO8601UTC(c) { createdAt = c } else { issue("created_at", "must be an ISO-8601 UTC time such as 2026-09-30T12:00:00Z") }
        }
        if let feedbackID, feedbackID.trimmingCharacters(in: .whitespaces).isEmpty {
            issue("feedback_id", "must not be empty when given")
        }
        guard issues.isEmpty, let traceID, let source, let author, let category, let severity, let observation else {
            return .failure(FeedbackValidationError(issues: issues))
        }
        return .success(
            FeedbackRecord(
                feedbackID: feedbackID, traceID: traceID, source: source, author: author, category: category,
                severity: severity, observation: observation, evidence: evidence, requiredObservations: required,
                prohibitedClaims: prohibited, createdAt: createdAt, taskID: taskID, cycle: aboutCycle, verdict: verdict))
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`.
    static func isISO8601UTC(_ s: String) -> Bool {
        s.range(of: #"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$"#, options: .regularExpression) != nil
    }

    struct SplitIssue: Error { var line: Int; var message: String }

    /// Splits a top-level JSON array into element texts with their starting line numbers.
    static func splitArray(_ text: String) -> Swift.Result<[(line: Int, text: String)], SplitIssue> {
        let bytes = Array(text.utf8)
        var i = 0, line = 1
        while i < bytes.count, bytes[i] != UInt8(ascii: "[") {
            if bytes[i] == UInt8(ascii: "\n") { line += 1 }
            i += 1
        }
        i += 1
        var elements: [(Int, String)] = []
        var depth = 0, inString = false, escape = false
        var start: Int? = nil, startLine = line
        var closed = false
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\n") { line += 1 }
            if inString {
                if escape { escape = false } else if b == UInt8(ascii: "\\") { escape = true } else if b == UInt8(ascii: "\"") { inString = false }
                i += 1
                continue
            }
            switch b {
            case UInt8(ascii: "\""):
                inString = true
                if start == nil { start = i; startLine = line }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                if start == nil { start = i; startLine = line }
                depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if depth == 0 {
                    if let s = start {
                        elements.append((startLine, String(decoding: bytes[s..<i], as: UTF8.self)))
                        start = nil
                    }
                    closed = true
                } else {
                    depth -= 1
                }
            case UInt8(ascii: ","):
                if depth == 0 {
                    guard let s = start else { return .failure(SplitIssue(line: line, message: "malformed JSON array (empty element)")) }
                    elements.append((startLine, String(decoding: bytes[s..<i], as: UTF8.self)))
                    start = nil
                }
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"): break
            default:
                if start == nil { start = i; startLine = line }
            }
            if closed { break }
            i += 1
        }
        if !closed { return .failure(SplitIssue(line: line, message: "malformed JSON array (not closed)")) }
        return .success(elements)
    }
}

/// The runs feedback may name, for resolving `task_id` / `question` to a trace and accepting late reviews.
public struct FeedbackTargets: Sendable, Hashable {
    /// The cycle feedback is filed in (the open cycle).
    public var cycle: Int
    /// Trace id → the cycle it belongs to (this cycle and earlier ones).
    public var traces: [String: Int]
    /// Cycle → task id → trace id.
    public var tasks: [Int: [String: String]]
    /// Cycle → 1-based position in the run's task order (as text) → trace id (legacy `question: N`).
    public var positions: [Int: [String: String]]
    /// Trace id → task id.
    public var taskOfTrace: [String: String]

    public init(cycle: Int, traces: [String: Int] = [:], tasks: [Int: [String: String]] = [:], positions: [Int: [String: String]] = [:], taskOfTrace: [String: String] = [:]) {
        self.cycle = cycle
        self.traces = traces
        self.tasks = tasks
        self.positions = positions
        self.taskOfTrace = taskOfTrace
    }

    /// The trace of `task` (a task id, else a 1-based position) in `cycle` (default: this cycle).
    public func trace(forTask task: String, cycle: Int? = nil) -> String? {
        let c = cycle ?? self.cycle
        return tasks[c]?[task] ?? positions[c]?[task]
    }

    /// Adds one cycle's runs: trace id → task id, in run order.
    public mutating func add(cycle: Int, runs: [(traceID: String, taskID: String?)]) {
        for (i, run) in runs.enumerated() {
            traces[run.traceID] = cycle
            positions[cycle, default: [:]][String(i + 1)] = run.traceID
            if let t = run.taskID {
                tasks[cycle, default: [:]][t] = run.traceID
                taskOfTrace[run.traceID] = t
            }
        }
    }
}
