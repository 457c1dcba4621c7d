import Foundation

/// What diagnosis knows about a class of failure: how to recognise it in feedback and eval categories, whether
/// the harness already has a rule for it, and the recommendation that addresses it. The core holds only generic
/// topics (trace-level detectors); a project's own come from its rules file (`TopicRule`).
public struct FailureTopic: Sendable {
    public var id: String
    public var title: String
    public var category: String
    /// Categories this topic owns (compared case-insensitively, `-` and `_` alike).
    public var categories: [String]
    /// Matched (lowercased substring) against a feedback or eval category first, then the observation text.
    public var keywords: [String]
    public var defaultKind: FailureMode.Kind
    public var severity: FeedbackRecord.Severity
    /// True when the harness already contains a rule (or setting) for this topic.
    public var hasRule: @Sendable (HarnessFiles) -> Bool
    public var recommendation: RecommendationTemplate

    public init(
        id: String, title: String, category: String, categories: [String] = [], keywords: [String], defaultKind: FailureMode.Kind,
        severity: FeedbackRecord.Severity, hasRule: @escaping @Sendable (HarnessFiles) -> Bool, recommendation: RecommendationTemplate
    ) {
        self.id = id
        self.title = title
        self.category = category
        self.categories = categories
        self.keywords = keywords
        self.defaultKind = defaultKind
        self.severity = severity
        self.hasRule = hasRule
        self.recommendation = recommendation
    }
}

/// The fixed parts of a recommendation.
public struct RecommendationTemplate: Sendable, Hashable {
    public var id: String
    public var title: String
    public var area: Recommendation.Area
    public var change: String
    public var patch: HarnessPatch?
    public var effort: Recommendation.Effort
    public var validation: String

    public init(
        id: String, title: String, area: Recommendation.Area, change: String, patch: HarnessPatch?, effort: Recommendation.Effort,
        validation: String
    ) {
        self.id = id
        self.title = title
        self.area = area
        self.change = change
        self.patch = patch
        self.effort = effort
        self.validation = validation
    }
}

public enum FailureCatalog {
    static func lines(_ h: HarnessFiles, _ test: (String) -> Bool) -> Bool { h.ruleLines.contains(where: test) }

    static func instructionsRule(_ text: String) -> HarnessPatch {
        HarnessPatch(file: "harness/instructions.md", append: "- " + text)
    }

    /// A topic for runs that did not leave the artifacts the project's rules require.
    static let missingArtifacts = FailureTopic(
        id: "artifacts", title: "Required artifacts missing", category: "artifact-missing", keywords: [],
        defaultKind: .missingRequirement, severity: .high, hasRule: { _ in false },
        recommendation: RecommendationTemplate(
            id: "rec-required-artifacts-prompt", title: "Leave every required artifact", area: .prompt,
            change: "Tell the agent which artifacts every run must leave (the project's rules list them) and to check they exist before finishing.",
            patch: nil, effort: .small, validation: "Re-run: every run leaves the required artifacts and the rule critic reports no artifact-missing finding."))

    /// Topics of trace-level detectors.
    static let loop = FailureTopic(
        id: "repeated-tool-calls", title: "Repeated identical tool calls (loops)", category: "loop", keywords: [],
        defaultKind: .missingRequirement, severity: .medium,
        hasRule: { h in lines(h) { $0.contains("identical tool call") || ($0.contains("repeat") && $0.contains("tool call")) } },
        recommendation: RecommendationTemplate(
            id: "rec-repeated-tool-calls-control-flow", title: "Stop repeating identical tool calls", area: .controlFlow,
            change: "Add a rule to harness/instructions.md: never repeat an identical tool call; reuse the earlier result, and after two identical calls change approach or finish. Consider a loop guard in the agent loop that rejects a third identical call.",
            patch: instructionsRule("Never repeat an identical tool call: reuse the earlier result, and after two identical calls change approach or finish."),
            effort: .small, validation: "Re-run: no trace has the same tool called with the same arguments three times (diagnosis shows no fm-repeated-tool-calls)."))

    static let refusal = FailureTopic(
        id: "refusals", title: "Refusals in final answers", category: "refusal", keywords: [],
        defaultKind: .missingRequirement, severity: .high,
        hasRule: { h in lines(h) { $0.contains("refuse") } },
        recommendation: RecommendationTemplate(
            id: "rec-refusals-prompt", title: "Answer instead of refusing", area: .prompt,
            change: "Add a rule to harness/instructions.md: do not refuse tasks within your scope; answer from the evidence you have, and when something is missing say what is missing. When a rule forbids the request, decline by stating the rule.",
            patch: instructionsRule("Do not refuse tasks within your scope: answer from the evidence you have, and when something is missing say what is missing; when a rule forbids the request, decline by stating the rule."),
            effort: .small, validation: "Re-run: no final answer matches a refusal pattern; the affected questions get answers with citations."))

    static let maxTurns = FailureTopic(
        id: "max-turns", title: "Runs exhausted the turn limit", category: "max-turns", keywords: [],
        defaultKind: .implementationDefect, severity: .high,
        hasRule: { h in lines(h) { $0.contains("budget your turns") } },
        recommendation: RecommendationTemplate(
            id: "rec-max-turns-control-flow", title: "Finish within the turn budget", area: .controlFlow,
            change: "Tell the agent to budget its turns (read the structured exports first, write all required artifacts before exploring further) and, if runs still stop at the limit, raise max_turns in harness/model.yaml.",
            patch: instructionsRule("Budget your turns: read the structured exports first and write all required artifacts before exploring further."),
            effort: .small, validation: "Re-run: no agent span ends with stop reason max_turns; all artifacts are written."))

    static func unknownTool(offered: [String]) -> FailureTopic {
        let list = offered.isEmpty ? "the tools in harness/tools.yaml" : offered.joined(separator: ", ")
        return FailureTopic(
            id: "unknown-tools", title: "Calls to unknown (hallucinated) tools", category: "unknown-tool", keywords: [],
            defaultKind: .missingRequirement, severity: .high,
            hasRule: { h in lines(h) { $0.contains("never invent tool") || $0.contains("only call the tools") } },
            recommendation: RecommendationTemplate(
                id: "rec-unknown-tools-tools", title: "Stop calls to tools that do not exist", area: .tools,
                change: "Add a rule to harness/instructions.md listing the available tools (\(list)) and forbidding invented tool names; if a called tool is genuinely needed, implement and enable it in harness/tools.yaml.",
                patch: instructionsRule("Only call the tools you are given (\(list)); never invent tool names."),
                effort: .small, validation: "Re-run: no TOOL span names a tool outside the offered set and no \"unknown tool\" errors remain."))
    }

    static func toolError(tool: String, normalized: String, slug: String) -> FailureTopic {
        FailureTopic(
            id: "tool-error-\(slug)", title: "\(tool) fails: \(normalized)", category: "tool-error", keywords: [],
            defaultKind: .implementationDefect, severity: .medium, hasRule: { _ in false },
            recommendation: RecommendationTemplate(
                id: "rec-tool-error-\(slug)-tools", title: "Fix \(tool) errors (\(RuleCritic.clip(normalized, 60)))", area: .tools,
                change: "Fix or guard the \(tool) tool: calls fail with \"\(normalized)\". Make the tool handle this case or return an actionable error, and tell the agent how to avoid it (e.g. list files before reading them).",
                patch: nil, effort: .medium,
                validation: "Re-run and check `flywheel traces query --has-errors`: no \(tool) ERROR spans with this message."))
    }

    /// A topic for a feedback / eval category nothing else matched.
    static func generic(category: String, observation: String) -> FailureTopic {
        let slug = slugify(category, max: 40)
        let words = category.lowercased().replacingOccurrences(of: "-", with: " ").replacingOccurrences(of: "_", with: " ")
        return FailureTopic(
            id: slug, title: "Feedback: \(category)", category: category, keywords: [], defaultKind: .missingRequirement, severity: .medium,
            hasRule: { h in words.count > 3 && lines(h) { $0.contains(words) } },
            recommendation: RecommendationTemplate(
                id: "rec-\(slug)-prompt", title: "Address \(category)", area: .prompt,
                change: "Add a harness rule that addresses the \(category) feedback: \(RuleCritic.clip(observation, 200))",
                patch: nil, effort: .small, validation: "Re-run the gate: the \(category) eval cases pass."))
    }

    /// Substring match; keywords of four characters or fewer must stand as a word (`arr` is not `carry`).
    static func matches(_ text: String, _ keyword: String) -> Bool {
        guard keyword.count <= 4 else { return text.contains(keyword) }
        let escaped = NSRegularExpression.escapedPattern(for: keyword)
        return text.range(of: "(^|[^a-z0-9])\(escaped)($|[^a-z0-9])", options: .regularExpression) != nil
    }

    /// Category names compared case-insensitively, `-` and `_` alike.
    static func sameCategory(_ a: String, _ b: String) -> Bool {
        func key(_ s: String) -> String { s.lowercased().replacingOccurrences(of: "_", with: "-").replacingOccurrences(of: " ", with: "-") }
        return key(a) == key(b)
    }

    /// The topic a category (then an observation) belongs to: the project's topics first (by category, then by
    /// keyword on the category, then on the observation), else a topic of the category itself.
    static func topic(category: String, observation: String, topics: [FailureTopic]) -> FailureTopic {
        if let t = topics.first(where: { $0.categories.contains(where: { sameCategory($0, category) }) }) { return t }
        let c = category.lowercased()
        if let t = topics.first(where: { $0.keywords.contains(where: { matches(c, $0) }) }) { return t }
        let o = observation.lowercased()
        if let t = topics.first(where: { $0.keywords.contains(where: { matches(o, $0) }) }) { return t }
        return generic(category: category, observation: observation)
    }
}
