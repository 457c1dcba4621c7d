import Foundation

/// The deterministic critic that always runs: checks a run's artifacts against the data room and the harness's
/// output contract, flags narrative figures that contradict structured exports, and flags claims earlier
/// feedback prohibited. Every finding is a `FeedbackRecord` with `source: rule`, author `flywheel-rule-critic`.
public struct RuleCritic: Sendable {
    /// The author written on every finding.
    public static let author = "flywheel-rule-critic"
    /// The six artifacts of the example.
    public static let defaultRequiredArtifacts = [
        "summary_answer.md", "investment_memo.md", "risk_register.json", "open_questions.md", "citations.json",
        "evidence_table.csv",
    ]
    /// Artifacts that hold the answer's prose (checked for narrative figures and prohibited claims).
    public static let answerArtifacts = ["summary_answer.md", "investment_memo.md", "final_answer.md"]

    public var rules: [NarrativeConflictRule]
    public var requiredArtifacts: [String]
    /// The `created_at` of every finding (pass the cycle's time; deterministic).
    public var createdAt: String

    public init(
        rules: [NarrativeConflictRule] = NarrativeConflictRule.lumoraDefaults,
        requiredArtifacts: [String] = RuleCritic.defaultRequiredArtifacts, createdAt: String
    ) {
        self.rules = rules
        self.requiredArtifacts = requiredArtifacts
        self.createdAt = createdAt
    }

    /// Critiques several runs; findings in run order (runs sorted by trace id), deduplicated by id.
    public func critique(runs: [RunArtifacts], dataRoom: DataRoom, earlierFeedback: [FeedbackRecord] = []) -> [FeedbackRecord] {
        FeedbackStore.dedupe(runs.sorted { byteOrder($0.traceID, $1.traceID) }.flatMap {
            critique(run: $0, dataRoom: dataRoom, earlierFeedback: earlierFeedback)
        })
    }

    /// Critiques one run. Checks, in order: required artifacts present and non-empty; `risk_register.json`,
    /// `citations.json` and `evidence_table.csv` well-formed; citations point to data-room files that contain the
    /// quote; narrative figures contradicted by structured exports; prohibited claims of earlier feedback.
    public func critique(run: RunArtifacts, dataRoom: DataRoom, earlierFeedback: [FeedbackRecord] = []) -> [FeedbackRecord] {
        var findings: [FeedbackRecord] = []
        func add(
            _ category: String, _ severity: FeedbackRecord.Severity, _ observation: String, _ evidence: String,
            required: [String] = [], prohibited: [String] = []
        ) {
            findings.append(
                FeedbackRecord(
                    traceID: run.traceID, source: .rule, author: Self.author, category: category, severity: severity,
                    observation: observation, evidence: evidence, requiredObservations: required,
                    prohibitedClaims: prohibited, createdAt: createdAt))
        }

        // 1. Presence.
        let missing = requiredArtifacts.filter { (run.files[$0] ?? "").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
        if !missing.isEmpty {
            add(
                "artifact-missing", .high,
                "The run is missing \(missing.count) of the \(requiredArtifacts.count) required artifacts: \(missing.joined(separator: ", ")).",
                "outputs/\(run.traceID)/ lacks (or has empty) \(missing.joined(separator: ", "))")
        }

        // 2. risk_register.json
        if let text = run.files["risk_register.json"], !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            for problem in checkRiskRegister(text, dataRoom: dataRoom) {
                add(problem.category, problem.severity, problem.observation, "risk_register.json: " + problem.evidence)
            }
        }
        // 3. citations.json
        if let text = run.files["citations.json"], !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            for problem in checkCitations(text, dataRoom: dataRoom) {
                add(problem.category, problem.severity, problem.observation, "citations.json: " + problem.evidence)
            }
        }
        // 4. evidence_table.csv
        if let text = run.files["evidence_table.csv"], !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            for problem in checkEvidenceTable(text, dataRoom: dataRoom) {
                add(problem.category, problem.severity, problem.observation, "evidence_table.csv: " + problem.evidence)
            }
        }
        // 5. Narrative conflicts.
        for rule in rules {
            guard let pattern = try? NSRegularExpression(pattern: rule.pattern, options: [.caseInsensitive]),
                let truth = try? NSRegularExpression(pattern: rule.truthPattern, options: [.caseInsensitive])
            else { continue }
            for name in Self.answerArtifacts {
                guard let text = run.files[name] else { continue }
                let range = NSRange(text.startIndex..., in: text)
                // The rules' regexes come from files: each match gets the time limit (a timeout counts as no match).
                guard case .some(let found) = RegexSafety.firstMatch(pattern, in: text, range: range), let match = found,
                    case .some(nil) = RegexSafety.firstMatch(truth, in: text, range: range)
                else { continue }
                let quoted = Self.excerpt(text, around: match.range)
                add(
                    rule.category, rule.severity, rule.observation,
                    "\(name): \"\(quoted)\" (narrative: \(rule.narrativeSources.joined(separator: ", "))); structured truth: \(rule.structuredTruth) (\(rule.truthSource)) [rule \(rule.id)]",
                    required: rule.requiredObservations, prohibited: rule.prohibitedClaims)
                break
            }
        }
        // 6. Prohibited claims from earlier feedback.
        var seenClaims = Set<String>()
        for record in earlierFeedback.sorted(by: { byteOrder($0.feedbackID, $1.feedbackID) }) {
            for claim in record.prohibitedClaims {
                let key = normalizedForQuote(claim)
                guard !key.isEmpty, !seenClaims.contains(key) else { continue }
                for name in Self.answerArtifacts {
                    guard let text = run.files[name], normalizedForQuote(text).contains(key) else { continue }
                    seenClaims.insert(key)
                    add(
                        record.category, record.severity,
                        "The answer makes a claim earlier feedback prohibited: \"\(claim)\".",
                        "\(name) contains \"\(claim)\" (prohibited by \(record.feedbackID))",
                        required: record.requiredObservations, prohibited: [claim])
                    break
                }
            }
        }
        return FeedbackStore.dedupe(findings)
    }

    struct Problem {
        var category: String
        var severity: FeedbackRecord.Severity
        var observation: String
        var evidence: String
    }

    func checkRiskRegister(_ text: String, dataRoom: DataRoom) -> [Problem] {
        guard let value = try? JSONValue.parse(text) else {
            return [Problem(category: "artifact-malformed", severity: .high, observation: "risk_register.json is not valid JSON.", evidence: "not valid JSON")]
        }
        guard let items = value.arrayValue else {
            return [Problem(category: "artifact-malformed", severity: .high, observation: "risk_register.json must be an array of {risk, severity, evidence:[path]}.", evidence: "top level is not an array")]
        }
        var problems: [Problem] = []
        var badShape: [String] = []
        var badPaths: [String] = []
        for (i, item) in items.enumerated() {
            guard item.objectValue != nil else { badShape.append("[\(i)] is not an object"); continue }
            if (item["risk"]?.stringValue ?? "").isEmpty { badShape.append("[\(i)].risk missing") }
            if (item["severity"]?.stringValue ?? "").isEmpty { badShape.append("[\(i)].severity missing") }
            guard let evidence = item["evidence"]?.arrayValue else { badShape.append("[\(i)].evidence is not an array of paths"); continue }
            for (j, e) in evidence.enumerated() {
                guard let path = e.stringValue else { badShape.append("[\(i)].evidence[\(j)] is not a string"); continue }
                if dataRoom.text(at: path) == nil { badPaths.append("[\(i)].evidence[\(j)] \(path)") }
            }
        }
        if items.isEmpty { badShape.append("the register is empty") }
        if !badShape.isEmpty {
            problems.append(Problem(category: "artifact-malformed", severity: .high, observation: "risk_register.json does not follow the schema {risk, severity, evidence:[path]}.", evidence: badShape.joined(separator: "; ")))
        }
        if !badPaths.isEmpty {
            problems.append(Problem(category: "citation-invalid", severity: .high, observation: "risk_register.json cites evidence files that do not exist in the data room.", evidence: badPaths.joined(separator: "; ")))
        }
        return problems
    }

    func checkCitations(_ text: String, dataRoom: DataRoom) -> [Problem] {
        guard let value = try? JSONValue.parse(text) else {
            return [Problem(category: "artifact-malformed", severity: .high, observation: "citations.json is not valid JSON.", evidence: "not valid JSON")]
        }
        guard let items = value.arrayValue else {
            return [Problem(category: "artifact-malformed", severity: .high, observation: "citations.json must be an array of {claim, path, quote}.", evidence: "top level is not an array")]
        }
        var badShape: [String] = []
        var badPaths: [String] = []
        var badQuotes: [String] = []
        for (i, item) in items.enumerated() {
            guard let path = item["path"]?.stringValue, let quote = item["quote"]?.stringValue, item["claim"]?.stringValue != nil else {
                badShape.append("[\(i)] lacks claim, path or quote")
                continue
            }
            guard let source = dataRoom.text(at: path) else {
                badPaths.append("[\(i)] \(path)")
                continue
            }
            let q = normalizedForQuote(quote)
            if q.isEmpty || !normalizedForQuote(source).contains(q) {
                badQuotes.append("[\(i)] \"\(Self.clip(quote, 120))\" not found in \(path)")
            }
        }
        var problems: [Problem] = []
        if !badShape.isEmpty {
            problems.append(Problem(category: "artifact-malformed", severity: .high, observation: "citations.json does not follow the schema {claim, path, quote}.", evidence: badShape.joined(separator: "; ")))
        }
        if !badPaths.isEmpty {
            problems.append(Problem(category: "citation-invalid", severity: .high, observation: "Citations point to files that do not exist in the data room.", evidence: "path not found: " + badPaths.joined(separator: "; ")))
        }
        if !badQuotes.isEmpty {
            problems.append(Problem(category: "citation-invalid", severity: .high, observation: "Cited quotes do not appear in the cited files.", evidence: badQuotes.joined(separator: "; ")))
        }
        return problems
    }

    func checkEvidenceTable(_ text: String, dataRoom: DataRoom) -> [Problem] {
        let rows = parseCSV(text).filter { !($0.count == 1 && $0[0].isEmpty) }
        guard let header = rows.first else { return [] }
        let trimmedHeader = header.map { $0.trimmingCharacters(in: .whitespaces) }
        guard trimmedHeader == ["claim", "source_path", "source_kind"] else {
            return [Problem(category: "artifact-malformed", severity: .medium, observation: "evidence_table.csv must have the header claim,source_path,source_kind.", evidence: "header is \(trimmedHeader.joined(separator: ","))")]
        }
        var badRows: [String] = []
        var badPaths: [String] = []
        for (i, row) in rows.dropFirst().enumerated() {
            let line = i + 2
            guard row.count == 3 else { badRows.append("line \(line) has \(row.count) fields"); continue }
            let path = row[1].trimmingCharacters(in: .whitespaces), kind = row[2].trimmingCharacters(in: .whitespaces)
            if kind != "structured" && kind != "narrative" { badRows.append("line \(line) source_kind \"\(kind)\"") }
            if dataRoom.text(at: path) == nil {
                badPaths.append("line \(line) \(path)")
            } else if let actual = dataRoom.kinds[path], actual != kind, kind == "structured" || kind == "narrative" {
                badRows.append("line \(line) labels \(path) \(kind), the manifest says \(actual)")
            }
        }
        var problems: [Problem] = []
        if !badRows.isEmpty {
            problems.append(Problem(category: "artifact-malformed", severity: .medium, observation: "evidence_table.csv has malformed rows.", evidence: badRows.joined(separator: "; ")))
        }
        if !badPaths.isEmpty {
            problems.append(Problem(category: "citation-invalid", severity: .high, observation: "evidence_table.csv cites files that do not exist in the data room.", evidence: badPaths.joined(separator: "; ")))
        }
        return problems
    }

    static func excerpt(_ text: String, around range: NSRange, radius: Int = 60) -> String {
        let ns = text as NSString
        let start = max(0, range.location - radius), end = min(ns.length, range.location + range.length + radius)
        let s = ns.substring(with: NSRange(location: start, length: end - start))
        return s.replacingOccurrences(of: "\n", with: " ").trimmingCharacters(in: .whitespaces)
    }

    static func clip(_ s: String, _ n: Int) -> String { s.count <= n ? s : String(s.prefix(n)) + "…" }
}
