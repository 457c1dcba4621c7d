import FlywheelSupport
import Foundation

/// What a project knows about its own domain, as data (the project's rules file, `rules.yaml` by default; loop.yaml
/// `rules:` names another). Allure's `categories.json` is the model: rules a team edits, matched in order. The core
/// knows no domain; a project without a rules file gets the generic analyses only.
///
/// ```yaml
/// answer: reply.md                   # the artifact the gate grades (default final_answer.md)
/// artifacts:                         # what every run must leave under outputs/<trace_id>/
///   - path: reply.md
///   - path: ticket.json
///     format: json                   # text | markdown | json | csv
///     schema: {type: array}          # JSON Schema (draft-07) for json; `header: [a, b]` for csv
/// sources:                           # where citations must point (a folder of the working folder)
///   folder: docs
///   citations:
///     - {artifact: citations.json, path_field: path, quote_field: quote}
///     - {artifact: evidence.csv, path_column: source}
/// critic:                            # checks on every run, in order
///   - id: refund-window
///     category: policy
///     severity: high
///     when: {matches: "refund (approved|issued)", lacks: "within 30 days", in: [final_answer.md]}
///     observation: The answer approves a refund without checking the window.
/// expected_declines: ["past our \\d+-day return window"]
/// topics:                            # how a category becomes a failure mode and a harness change
///   - id: refund-policy
///     categories: [policy]
///     keywords: [refund]
///     title: Refunds approved outside the policy window
///     severity: high
///     has_rule: {file: harness/AGENTS.md, all: [refund, window]}
///     recommendation:
///       id: rec-refund-window
///       title: State the refund window
///       area: prompt
///       change: Add the 30-day refund rule to harness/AGENTS.md.
///       patch: {file: harness/AGENTS.md, append: "- Refunds only within 30 days of delivery."}
///       validation: Re-run the gate; the policy cases pass.
/// ```
public struct ProjectRules: Sendable, Hashable {
    /// The artifact holding the run's answer, graded by the gate (default `final_answer.md`).
    public var answer: String?
    public var artifacts: [ArtifactRule]
    public var sources: SourcesRule?
    public var critic: [CriticRule]
    /// Patterns of answers that decline by rule (not refusals).
    public var expectedDeclines: [String]
    public var topics: [TopicRule]

    public init(
        answer: String? = nil, artifacts: [ArtifactRule] = [], sources: SourcesRule? = nil, critic: [CriticRule] = [],
        expectedDeclines: [String] = [], topics: [TopicRule] = []
    ) {
        self.answer = answer
        self.artifacts = artifacts
        self.sources = sources
        self.critic = critic
        self.expectedDeclines = expectedDeclines
        self.topics = topics
    }

    /// No rules: the generic analyses only.
    public static let none = ProjectRules()

    /// The default file name in the working folder.
    public static let defaultFile = "rules.yaml"

    /// The file the gate grades and the critic reads as the answer.
    public var answerFile: String { answer ?? RunFiles.finalAnswer }

    /// The artifacts a run must leave, by path.
    public var requiredArtifacts: [String] { artifacts.filter(\.required).map(\.path) }

    /// The topics as diagnosis uses them (in order: the first match wins).
    public var failureTopics: [FailureTopic] { topics.map(\.failureTopic) }
}

/// Files Flywheel itself writes into every run's output folder.
public enum RunFiles {
    /// The agent's final answer (from its trace or stdout), when it gave one.
    public static let finalAnswer = "final_answer.md"
    /// The task: `{task_id, question, trace_id}`.
    public static let task = "task.json"
}

/// An artifact every run must leave.
public struct ArtifactRule: Sendable, Hashable {
    public enum Format: String, Sendable, Hashable, CaseIterable { case text, markdown, json, csv }
    public var path: String
    public var format: Format
    /// A JSON Schema (draft-07) the artifact must satisfy (json only).
    public var schema: JSONValue?
    /// Keys each item (or the object) must have (json only; shorthand for a schema).
    public var requiredKeys: [String]
    /// The exact header row (csv only).
    public var header: [String]
    /// False for an artifact checked when present but not required.
    public var required: Bool

    public init(
        path: String, format: Format = .text, schema: JSONValue? = nil, requiredKeys: [String] = [], header: [String] = [],
        required: Bool = true
    ) {
        self.path = path
        self.format = format
        self.schema = schema
        self.requiredKeys = requiredKeys
        self.header = header
        self.required = required
    }
}

/// A folder of sources the agent cites, and where its artifacts cite them.
public struct SourcesRule: Sendable, Hashable {
    /// A folder of the working folder (relative path).
    public var folder: String
    public var citations: [CitationRule]

    public init(folder: String, citations: [CitationRule]) {
        self.folder = folder
        self.citations = citations
    }
}

/// Where one artifact cites sources: a JSON field of each item (`path_field`, a string or a list of strings), with an
/// optional quote that must occur in the cited file, or a CSV column.
public struct CitationRule: Sendable, Hashable {
    public var artifact: String
    public var pathField: String?
    public var quoteField: String?
    public var pathColumn: String?

    public init(artifact: String, pathField: String? = nil, quoteField: String? = nil, pathColumn: String? = nil) {
        self.artifact = artifact
        self.pathField = pathField
        self.quoteField = quoteField
        self.pathColumn = pathColumn
    }
}

/// A check the rule critic runs on every run: when its condition holds, a finding with its category, severity and
/// observation.
public struct CriticRule: Sendable, Hashable {
    public var id: String
    public var category: String
    public var severity: FeedbackRecord.Severity
    public var when: Condition
    public var observation: String
    /// Extra evidence text added to the finding.
    public var evidence: String?
    public var requiredObservations: [String]
    public var prohibitedClaims: [String]

    public init(
        id: String, category: String, severity: FeedbackRecord.Severity, when: Condition, observation: String, evidence: String? = nil,
        requiredObservations: [String] = [], prohibitedClaims: [String] = []
    ) {
        self.id = id
        self.category = category
        self.severity = severity
        self.when = when
        self.observation = observation
        self.evidence = evidence
        self.requiredObservations = requiredObservations
        self.prohibitedClaims = prohibitedClaims
    }

    /// What a rule matches on. Text conditions are ICU regular expressions, case-insensitive, checked per file: the
    /// rule fires on the first file of `in` where `matches` matches and `lacks` does not. Tool conditions look at the
    /// run's TOOL spans. All given parts must hold.
    public struct Condition: Sendable, Hashable {
        public var matches: String?
        public var lacks: String?
        /// The files checked (default: the answer file and `final_answer.md`).
        public var files: [String]
        /// A tool the run called (with `toolError`, a call that failed; with `toolInputMatches`, a call whose input matches).
        public var tool: String?
        public var toolError: Bool
        public var toolInputMatches: String?
        /// A tool the run never called.
        public var toolNotCalled: String?

        public init(
            matches: String? = nil, lacks: String? = nil, files: [String] = [], tool: String? = nil, toolError: Bool = false,
            toolInputMatches: String? = nil, toolNotCalled: String? = nil
        ) {
            self.matches = matches
            self.lacks = lacks
            self.files = files
            self.tool = tool
            self.toolError = toolError
            self.toolInputMatches = toolInputMatches
            self.toolNotCalled = toolNotCalled
        }
    }
}

/// How a feedback or eval category maps onto a failure mode and the harness change that addresses it.
public struct TopicRule: Sendable, Hashable {
    public var id: String
    /// Categories this topic owns (compared case-insensitively, `-` and `_` alike).
    public var categories: [String]
    /// Words matched against the category, then the observation (a word of four letters or fewer must stand alone).
    public var keywords: [String]
    public var title: String
    public var severity: FeedbackRecord.Severity
    public var kind: FailureMode.Kind
    /// The harness already has the rule when every one of `all` occurs on one line of `file`.
    public var hasRule: HasRule?
    public var recommendation: RecommendationTemplate

    public struct HasRule: Sendable, Hashable {
        public var file: String
        public var all: [String]
        public init(file: String, all: [String]) {
            self.file = file
            self.all = all
        }

        /// True when a line of `file` (or of any harness file when `file` is `*`) holds every one of `all`.
        public func holds(in harness: HarnessFiles) -> Bool {
            let needles = all.map { normalizedForQuote($0) }
            let texts = file == "*" ? Array(harness.files.values) : [harness.files[file]].compactMap { $0 }
            for text in texts {
                for line in text.split(separator: "\n") {
                    let l = normalizedForQuote(String(line))
                    if needles.allSatisfy({ l.contains($0) }) { return true }
                }
            }
            return false
        }
    }

    public init(
        id: String, categories: [String], keywords: [String] = [], title: String, severity: FeedbackRecord.Severity,
        kind: FailureMode.Kind = .missingRequirement, hasRule: HasRule? = nil, recommendation: RecommendationTemplate
    ) {
        self.id = id
        self.categories = categories
        self.keywords = keywords
        self.title = title
        self.severity = severity
        self.kind = kind
        self.hasRule = hasRule
        self.recommendation = recommendation
    }

    /// The topic as diagnosis matches it.
    public var failureTopic: FailureTopic {
        let check = hasRule
        return FailureTopic(
            id: id, title: title, category: categories.first ?? id, categories: categories, keywords: keywords, defaultKind: kind,
            severity: severity, hasRule: { h in check?.holds(in: h) ?? false }, recommendation: recommendation)
    }
}
