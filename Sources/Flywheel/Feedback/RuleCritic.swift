import FlywheelSupport
import Foundation

/// The deterministic critic that always runs. It knows no domain: what it checks comes from the project's rules
/// (`ProjectRules`): the artifacts a run must leave and their shape, the sources citations must point to, and the
/// project's critic rules on answers, artifacts and tool calls. One generic check needs no rules: claims earlier
/// feedback prohibited must not come back. Every finding is a `FeedbackRecord` with `source: rule`, author
/// `flywheel-rule-critic`.
public struct RuleCritic: Sendable {
    /// The author written on every finding.
    public static let author = "flywheel-rule-critic"

    public var rules: ProjectRules
    /// The sources citations are checked against (loaded from `rules.sources.folder`; nil when the project has none).
    public var sources: SourceFolder?
    /// The `created_at` of every finding (pass the cycle's time; deterministic).
    public var createdAt: String

    public init(rules: ProjectRules, sources: SourceFolder? = nil, createdAt: String) {
        self.rules = rules
        self.sources = sources
        self.createdAt = createdAt
    }

    /// The files a text rule reads when it names none: the answer file and `final_answer.md`.
    var answerFiles: [String] { [rules.answerFile, RunFiles.finalAnswer].uniqued() }
    /// The files holding prose a claim can appear in: the answer files and the project's text and Markdown artifacts.
    var proseFiles: [String] {
        (answerFiles + rules.artifacts.filter { $0.format == .markdown || $0.format == .text }.map(\.path)).uniqued()
    }

    /// Critiques several runs; findings in run order (runs sorted by trace id), deduplicated by id.
    public func critique(runs: [RunArtifacts], earlierFeedback: [FeedbackRecord] = []) -> [FeedbackRecord] {
        FeedbackStore.dedupe(runs.sorted { byteOrder($0.traceID, $1.traceID) }.flatMap {
            critique(run: $0, earlierFeedback: earlierFeedback)
        })
    }

    /// Critiques one run. Checks, in order: required artifacts present and non-empty; artifacts well-formed (JSON
    /// Schema, required keys, CSV header); citations point to source files that contain the quote; the project's
    /// critic rules; prohibited claims of earlier feedback (in the answer and the text artifacts).
    public func critique(run: RunArtifacts, earlierFeedback: [FeedbackRecord] = []) -> [FeedbackRecord] {
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
        func nonEmpty(_ name: String) -> String? {
            guard let t = run.files[name], !t.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return nil }
            return t
        }

        // 1. Presence.
        let required = rules.requiredArtifacts
        let missing = required.filter { nonEmpty($0) == nil }
        if !missing.isEmpty {
            add(
                "artifact-missing", .high,
                "The run is missing \(missing.count) of the \(required.count) required artifacts: \(missing.joined(separator: ", ")).",
                "outputs/\(run.traceID)/ lacks (or has empty) \(missing.joined(separator: ", "))")
        }
        // 2. Shape.
        for artifact in rules.artifacts {
            guard let text = nonEmpty(artifact.path) else { continue }
            for problem in ArtifactChecks.shapeProblems(artifact, text) {
                add("artifact-malformed", .high, "\(artifact.path) is malformed: \(problem.observation)", "\(artifact.path): \(problem.evidence)")
            }
        }
        // 3. Citations.
        if let sourcesRule = rules.sources, let sources {
            for citation in sourcesRule.citations {
                guard let text = nonEmpty(citation.artifact) else { continue }
                let found = ArtifactChecks.citationProblems(citation, text, sources: sources)
                if !found.badPaths.isEmpty {
                    add(
                        "citation-invalid", .high, "\(citation.artifact) cites files that do not exist in \(sourcesRule.folder)/.",
                        "\(citation.artifact): path not found: " + found.badPaths.joined(separator: "; "))
                }
                if !found.badQuotes.isEmpty {
                    add(
                        "citation-invalid", .high, "Quotes in \(citation.artifact) do not appear in the cited files.",
                        "\(citation.artifact): " + found.badQuotes.joined(separator: "; "))
                }
            }
        }
        // 4. The project's critic rules.
        for rule in rules.critic {
            guard let hit = evaluate(rule.when, on: run) else { continue }
            let evidence = [hit, rule.evidence.map { "\($0)" }, "[rule \(rule.id)]"].compactMap { $0 }.joined(separator: " ")
            add(rule.category, rule.severity, rule.observation, evidence, required: rule.requiredObservations, prohibited: rule.prohibitedClaims)
        }
        // 5. Prohibited claims from earlier feedback (unless a rule above already reported that category on this run).
        var seenClaims = Set<String>()
        let reported = Set(findings.map(\.category))
        for record in earlierFeedback.sorted(by: { byteOrder($0.feedbackID, $1.feedbackID) })
        where record.verdict != .good && record.traceID != run.traceID && !reported.contains(record.category) {
            for claim in record.prohibitedClaims {
                let key = normalizedForQuote(claim)
                guard !key.isEmpty, !seenClaims.contains(key) else { continue }
                for name in proseFiles {
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

    /// The evidence text when `condition` holds for the run, else nil.
    func evaluate(_ condition: CriticRule.Condition, on run: RunArtifacts) -> String? {
        var parts: [String] = []
        if condition.matches != nil || condition.lacks != nil {
            let files = condition.files.isEmpty ? answerFiles : condition.files
            var hit: String?
            for name in files {
                guard let text = run.files[name] else { continue }
                let range = NSRange(text.startIndex..., in: text)
                var quote: String?
                if let p = condition.matches {
                    // The rules' regexes run under the match time limit (a timeout counts as no match).
                    guard let re = try? NSRegularExpression(pattern: p, options: [.caseInsensitive]),
                        case .some(let found) = RegexSafety.firstMatch(re, in: text, range: range), let m = found
                    else { continue }
                    quote = Self.excerpt(text, around: m.range)
                }
                if let p = condition.lacks {
                    guard let re = try? NSRegularExpression(pattern: p, options: [.caseInsensitive]),
                        case .some(nil) = RegexSafety.firstMatch(re, in: text, range: range)
                    else { continue }
                }
                hit = quote.map { "\(name): \"\($0)\"" } ?? "\(name) lacks /\(condition.lacks ?? "")/"
                break
            }
            guard let hit else { return nil }
            parts.append(hit)
        }
        if let tool = condition.tool {
            let inputPattern = condition.toolInputMatches.flatMap { try? NSRegularExpression(pattern: $0, options: [.caseInsensitive]) }
            let call = run.toolCalls.first { c in
                guard c.name == tool, !condition.toolError || c.failed else { return false }
                guard let inputPattern else { return true }
                if case .some(let m?) = RegexSafety.firstMatch(inputPattern, in: c.input, range: NSRange(c.input.startIndex..., in: c.input)) { return m.range.location != NSNotFound }
                return false
            }
            guard let call else { return nil }
            parts.append("tool \(tool)\(call.failed ? " failed" : " called") (span \(call.spanID)): \(Excerpt.clip(call.input, 120))")
        }
        if let tool = condition.toolNotCalled {
            guard !run.toolCalls.contains(where: { $0.name == tool }) else { return nil }
            parts.append("tool \(tool) never called")
        }
        return parts.joined(separator: "; ")
    }

    static func excerpt(_ text: String, around range: NSRange, radius: Int = 60) -> String {
        let ns = text as NSString
        let start = max(0, range.location - radius), end = min(ns.length, range.location + range.length + radius)
        let s = ns.substring(with: NSRange(location: start, length: end - start))
        return s.replacingOccurrences(of: "\n", with: " ").trimmingCharacters(in: .whitespaces)
    }

}

/// Shape and citation checks of one artifact, as the project's rules describe it.
enum ArtifactChecks {
    struct Problem {
        var observation: String
        var evidence: String
    }

    static func shapeProblems(_ rule: ArtifactRule, _ text: String) -> [Problem] {
        switch rule.format {
        case .text, .markdown:
            return []
        case .json:
            guard let value = try? JSONValue.parse(text) else { return [Problem(observation: "not valid JSON.", evidence: "not valid JSON")] }
            var problems: [Problem] = []
            if let schema = rule.schema, let validator = try? JSONSchemaValidator(schema: schema.keysSorted),
                let failure = validator.validate(value.keysSorted)
            {
                problems.append(Problem(observation: "it does not match its schema (\(failure.description)).", evidence: failure.description))
            }
            if !rule.requiredKeys.isEmpty {
                let items = value.arrayValue ?? [value]
                var bad: [String] = []
                for (i, item) in items.enumerated() {
                    let missing = rule.requiredKeys.filter { item[$0] == nil }
                    if !missing.isEmpty { bad.append((value.arrayValue == nil ? "" : "[\(i)] ") + "lacks " + missing.joined(separator: ", ")) }
                }
                if !bad.isEmpty {
                    problems.append(Problem(observation: "items lack required keys (\(rule.requiredKeys.joined(separator: ", "))).", evidence: bad.prefix(10).joined(separator: "; ")))
                }
            }
            return problems
        case .csv:
            guard !rule.header.isEmpty else { return [] }
            let rows: [CSVRecords.Record]
            do { rows = try CSVRecords.read(text) } catch let e as CSVRecords.Failure {
                return [Problem(observation: "is not valid CSV.", evidence: e.description)]
            } catch { return [Problem(observation: "is not valid CSV.", evidence: "\(error)")] }
            guard let header = rows.first?.fields.map({ $0.trimmingCharacters(in: .whitespaces) }) else { return [] }
            guard header == rule.header else {
                return [Problem(observation: "its header must be \(rule.header.joined(separator: ",")).", evidence: "header is \(header.joined(separator: ","))")]
            }
            let bad = rows.dropFirst().filter { $0.fields.count != header.count }.map { "line \($0.line) has \($0.fields.count) fields" }
            return bad.isEmpty ? [] : [Problem(observation: "rows do not have \(header.count) fields.", evidence: bad.prefix(10).joined(separator: "; "))]
        }
    }

    /// Cited paths that do not exist in `sources`, and quotes that do not occur in the cited file.
    static func citationProblems(_ rule: CitationRule, _ text: String, sources: SourceFolder) -> (badPaths: [String], badQuotes: [String]) {
        var badPaths: [String] = [], badQuotes: [String] = []
        if let column = rule.pathColumn {
            // Text that is not CSV is the format check's finding, not a citation problem.
            let rows = (try? CSVRecords.read(text)) ?? []
            guard let header = rows.first?.fields.map({ $0.trimmingCharacters(in: .whitespaces) }), let index = header.firstIndex(of: column) else {
                return ([], [])
            }
            for row in rows.dropFirst() where index < row.fields.count {
                let path = row.fields[index].trimmingCharacters(in: .whitespaces)
                if !path.isEmpty, sources.text(at: path) == nil { badPaths.append("line \(row.line) \(path)") }
            }
            return (badPaths, badQuotes)
        }
        guard let field = rule.pathField, let value = try? JSONValue.parse(text) else { return ([], []) }
        for (i, item) in (value.arrayValue ?? [value]).enumerated() {
            let cited = item[field]
            let paths = cited?.arrayValue?.compactMap(\.stringValue) ?? [cited?.stringValue].compactMap { $0 }
            for path in paths {
                guard let source = sources.text(at: path) else {
                    badPaths.append("[\(i)] \(path)")
                    continue
                }
                if let quoteField = rule.quoteField, let quote = item[quoteField]?.stringValue {
                    let q = normalizedForQuote(quote)
                    if q.isEmpty || !normalizedForQuote(source).contains(q) {
                        badQuotes.append("[\(i)] \"\(Excerpt.clip(quote, 120))\" not found in \(path)")
                    }
                }
            }
        }
        return (badPaths, badQuotes)
    }
}
