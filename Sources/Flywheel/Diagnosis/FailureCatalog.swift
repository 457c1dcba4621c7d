import FlywheelSupport
import FlywheelTraces
import Foundation

/// What diagnosis knows about a class of failure: how to recognise it in feedback and eval categories, whether
/// the harness already has a rule for it, and the recommendation that addresses it.
///
/// The core holds only generic topics (trace detectors, error clusters, one topic per feedback or eval category).
/// A project's own topics come from its rules file: the caller maps each rule to a `FailureTopic` and passes them in
/// `DiagnosisInput.topics`; they are matched before the generic grouping, in order.
public struct FailureTopic: Sendable {
    public var id: String
    public var title: String
    public var category: String
    /// Feedback or eval categories this topic owns (compared case-insensitively, `-`, `_` and space alike).
    public var categories: [String]
    /// Matched (lowercased substring; four characters or fewer as a whole word) against a feedback or eval category
    /// first, then the observation text.
    public var keywords: [String]
    public var defaultKind: FailureMode.Kind
    public var severity: FeedbackRecord.Severity
    /// True when the harness already contains a rule (or setting) for this topic.
    public var hasRule: @Sendable (HarnessFiles) -> Bool
    public var recommendation: RecommendationTemplate

    public init(
        id: String, title: String, category: String, categories: [String] = [], keywords: [String] = [],
        defaultKind: FailureMode.Kind = .missingRequirement, severity: FeedbackRecord.Severity = .medium,
        hasRule: @escaping @Sendable (HarnessFiles) -> Bool = { _ in false }, recommendation: RecommendationTemplate
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

    /// A `hasRule` check: some line of `file` (or, when nil, of any harness file but the tools file) contains every
    /// one of `substrings` (case-insensitive). An empty list never matches.
    public static func ruleCheck(file: String?, substrings: [String]) -> @Sendable (HarnessFiles) -> Bool {
        let needles = substrings.map { normalizedForQuote($0) }.filter { !$0.isEmpty }
        return { h in
            guard !needles.isEmpty else { return false }
            let lines: [String]
            if let file {
                guard let text = h.files[file] else { return false }
                lines = text.split(separator: "\n").map { normalizedForQuote(String($0)) }
            } else {
                lines = h.ruleLines
            }
            return lines.contains { line in needles.allSatisfy { line.contains($0) } }
        }
    }

    /// A `hasRule` check: the tool is declared and enabled in the harness's tools file.
    public static func toolEnabled(_ tool: String) -> @Sendable (HarnessFiles) -> Bool { { $0.tools[tool] == true } }

    /// Whether a feedback or eval record with this category (then observation) belongs to the topic.
    public func matches(category: String, observation: String) -> Bool {
        if categories.contains(where: { FailureCatalog.sameCategory($0, category) }) { return true }
        let c = category.lowercased()
        if keywords.contains(where: { FailureCatalog.matches(c, $0.lowercased()) }) { return true }
        let o = observation.lowercased()
        return keywords.contains(where: { FailureCatalog.matches(o, $0.lowercased()) })
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
    /// The harness file the change goes into (defaults to the patch's file).
    public var targetFile: String?

    public init(
        id: String, title: String, area: Recommendation.Area, change: String, patch: HarnessPatch? = nil, effort: Recommendation.Effort = .small,
        validation: String, targetFile: String? = nil
    ) {
        self.id = id
        self.title = title
        self.area = area
        self.change = change
        self.patch = patch
        self.effort = effort
        self.validation = validation
        self.targetFile = targetFile ?? patch?.file
    }
}

/// The harness files a generic recommendation may name: the main instructions file and the tools file, when the
/// harness has them, and the tools it declares. Nothing else is named, so no recommendation invents a file or a
/// tool.
public struct HarnessLayout: Sendable, Hashable {
    public var instructionsFile: String?
    public var toolsFile: String?
    public var declaredTools: [String: Bool]

    public init(instructionsFile: String? = nil, toolsFile: String? = nil, declaredTools: [String: Bool] = [:]) {
        self.instructionsFile = instructionsFile
        self.toolsFile = toolsFile
        self.declaredTools = declaredTools
    }

    /// From the harness files, with the caller's instructions file (e.g. declared in loop.yaml) taking precedence.
    public init(_ harness: HarnessFiles, instructionsFile: String? = nil) {
        self.instructionsFile = instructionsFile ?? harness.mainInstructionsFile
        self.toolsFile = harness.files.keys.filter { $0.hasSuffix("tools.yaml") || $0.hasSuffix("tools.yml") || $0.hasSuffix("tools.json") }
            .sorted(by: byteOrder).first
        self.declaredTools = harness.tools
    }

    /// `` `harness/AGENTS.md` `` or, without one, a description that names no file.
    var instructionsName: String { instructionsFile.map { "`\($0)`" } ?? "the agent's instructions (the harness has no instructions file Flywheel could find)" }
    var toolsName: String { toolsFile.map { "`\($0)`" } ?? "the agent's tool definitions" }

    /// A patch appending `rule` to the instructions file, or nil when there is none.
    func instructionsRule(_ rule: String) -> HarnessPatch? { instructionsFile.map { HarnessPatch(file: $0, append: "- " + rule) } }
}

extension HarnessFiles {
    /// The agent's main instructions file: a file named like instructions / AGENTS.md / CLAUDE.md / a system prompt
    /// (in that order of preference), else the largest Markdown file; nil when the harness has neither.
    public var mainInstructionsFile: String? {
        func base(_ p: String) -> String { (p as NSString).lastPathComponent.lowercased() }
        let keys = files.keys.sorted(by: byteOrder)
        let preferences: [(String) -> Bool] = [
            { base($0).hasPrefix("instructions") },
            { base($0) == "agents.md" },
            { base($0) == "claude.md" },
            { let b = base($0).replacingOccurrences(of: "_", with: " ").replacingOccurrences(of: "-", with: " ")
              return b.contains("system prompt") || b.hasPrefix("system.") || b.hasPrefix("prompt.") },
            { base($0).contains("instructions") },
        ]
        for test in preferences { if let hit = keys.first(where: test) { return hit } }
        return keys.filter { $0.lowercased().hasSuffix(".md") }
            .max { a, b in files[a]!.utf8.count != files[b]!.utf8.count ? files[a]!.utf8.count < files[b]!.utf8.count : byteOrder(b, a) }
    }
}

/// The generic topics of the core: one per trace detector, per error cluster and per feedback or eval category.
/// Every recommendation names only files and tools of the project's own harness (`HarnessLayout`).
public enum FailureCatalog {
    static func lines(_ h: HarnessFiles, _ test: (String) -> Bool) -> Bool { h.ruleLines.contains(where: test) }

    static func loop(_ l: HarnessLayout) -> FailureTopic {
        FailureTopic(
            id: "repeated-tool-calls", title: "Repeated identical tool calls (loops)", category: "loop",
            defaultKind: .missingRequirement, severity: .medium,
            hasRule: { h in lines(h) { $0.contains("identical tool call") || ($0.contains("repeat") && $0.contains("tool call")) } },
            recommendation: RecommendationTemplate(
                id: "rec-repeated-tool-calls-control-flow", title: "Stop repeating identical tool calls", area: .controlFlow,
                change: "Add a rule to \(l.instructionsName): never repeat an identical tool call; reuse the earlier result, and after two identical calls change approach or finish. If the loop persists, add a guard in the agent loop that rejects a third identical call.",
                patch: l.instructionsRule("Never repeat an identical tool call: reuse the earlier result, and after two identical calls change approach or finish."),
                validation: "Re-run: no trace has the same tool called with the same arguments three times.", targetFile: l.instructionsFile))
    }

    static func refusal(_ l: HarnessLayout) -> FailureTopic {
        FailureTopic(
            id: "refusals", title: "Final answers decline without answering or giving a reason", category: "refusal",
            defaultKind: .missingRequirement, severity: .high,
            hasRule: { h in lines(h) { $0.contains("decline") && ($0.contains("rule") || $0.contains("policy")) } },
            recommendation: RecommendationTemplate(
                id: "rec-refusals-prompt", title: "Answer, or state the rule when declining", area: .prompt,
                change: "Add a rule to \(l.instructionsName): answer the question from the information available; when a request must be declined, state the rule or policy that applies; when information is missing, say what is missing.",
                patch: l.instructionsRule("Answer from the information available. When you must decline, state the rule or policy that applies; when information is missing, say what is missing."),
                validation: "Re-run: no final answer declines without an answer or a stated reason.", targetFile: l.instructionsFile))
    }

    static func maxTurns(_ l: HarnessLayout) -> FailureTopic {
        FailureTopic(
            id: "max-turns", title: "Runs exhausted the turn limit", category: "max-turns",
            defaultKind: .implementationDefect, severity: .high,
            hasRule: { h in lines(h) { $0.contains("budget your turns") } },
            recommendation: RecommendationTemplate(
                id: "rec-max-turns-control-flow", title: "Finish within the turn budget", area: .controlFlow,
                change: "Tell the agent in \(l.instructionsName) to budget its turns (gather what it needs first, produce the answer before exploring further); if runs still stop at the limit, raise the agent's turn limit in its configuration.",
                patch: l.instructionsRule("Budget your turns: gather what you need first and produce the answer before exploring further."),
                validation: "Re-run: no agent span ends with a turn-limit stop reason.", targetFile: l.instructionsFile))
    }

    static func unknownTool(_ l: HarnessLayout, offered: [String]) -> FailureTopic {
        let list = offered.isEmpty ? nil : offered.joined(separator: ", ")
        return FailureTopic(
            id: "unknown-tools", title: "Calls to unknown (hallucinated) tools", category: "unknown-tool",
            defaultKind: .missingRequirement, severity: .high,
            hasRule: { h in lines(h) { $0.contains("never invent tool") || $0.contains("only call the tools") } },
            recommendation: RecommendationTemplate(
                id: "rec-unknown-tools-tools", title: "Stop calls to tools that do not exist", area: .tools,
                change: "Add a rule to \(l.instructionsName) " + (list.map { "listing the available tools (\($0)) and " } ?? "") + "forbidding invented tool names; if a called tool is genuinely needed, implement it and declare it in \(l.toolsName).",
                patch: l.instructionsRule("Only call the tools you are given" + (list.map { " (\($0))" } ?? "") + "; never invent tool names."),
                validation: "Re-run: no tool span names a tool outside the offered set and no \"unknown tool\" errors remain.", targetFile: l.instructionsFile))
    }

    static func missingArtifacts(_ l: HarnessLayout, required: [String]) -> FailureTopic {
        FailureTopic(
            id: "missing-artifacts", title: "Required outputs missing", category: "artifact-missing",
            defaultKind: .missingRequirement, severity: .high,
            hasRule: { h in lines(h) { line in required.count > 0 && required.allSatisfy { line.contains($0.lowercased()) } } },
            recommendation: RecommendationTemplate(
                id: "rec-missing-artifacts-prompt", title: "Write every required output before finishing", area: .artifactSchema,
                change: "Add a rule to \(l.instructionsName): before finishing, write every required output (\(required.joined(separator: ", "))) and check that each exists.",
                patch: l.instructionsRule("Before finishing, write every required output (\(required.joined(separator: ", "))) and check that each one exists."),
                validation: "Re-run: every run leaves all required outputs.", targetFile: l.instructionsFile))
    }

    /// A cluster of tool (or span) errors with one root cause.
    static func errorCluster(_ l: HarnessLayout, _ c: ErrorCluster) -> FailureTopic {
        let subject = c.isTool ? "the \(c.source) tool" : "the \(c.source) step"
        let area: Recommendation.Area
        let change: String
        var patch: HarnessPatch?
        var target: String?
        switch c.errorClass {
        case .limit:
            area = .tools
            change = "Calls to \(subject) exceed a limit it enforces (\(c.exampleText)). State the limit in the tool's schema and description in \(l.toolsName) (e.g. a maximum on the parameter) so the model sees it, or make the tool clamp or page the value instead of failing."
            target = l.toolsFile
        case .notFound:
            area = .tools
            change = "Calls to \(subject) ask for things that do not exist (\(c.exampleText)). Have the tool return the valid choices in its error, and tell the agent in \(l.instructionsName) to look up valid values before calling it."
            patch = l.instructionsRule("Before calling \(c.source), look up valid values; do not guess identifiers or names.")
            target = l.instructionsFile
        case .timeout:
            area = .tools
            change = "\(subject.prefix(1).uppercased() + subject.dropFirst()) times out (\(c.exampleText)). Fix the tool's implementation (a smaller unit of work per call, paging, a longer timeout where the backend is slow) and return a clear, retryable error."
        case .permission:
            area = .tools
            change = "\(subject.prefix(1).uppercased() + subject.dropFirst()) is refused access (\(c.exampleText)). Give the tool the access it needs, or remove the inaccessible operation from its description in \(l.toolsName) so the agent stops attempting it."
            target = l.toolsFile
        case .other:
            area = .tools
            change = "Fix or guard \(subject): calls fail with \"\(c.exampleText)\". Make the tool handle this case or return an actionable error, and describe valid inputs in \(l.toolsName)."
        }
        let retries = c.maxConsecutiveFailures >= 3 ? " (retried up to \(c.maxConsecutiveFailures)× in one trace)" : ""
        return FailureTopic(
            id: "\(c.isTool ? "tool" : "span")-error-\(c.slug)", title: "\(c.source) \(c.errorClass.verb)" + retries,
            category: c.errorClass.category, defaultKind: .implementationDefect, severity: .medium,
            recommendation: RecommendationTemplate(
                id: "rec-\(c.isTool ? "tool" : "span")-error-\(c.slug)-tools", title: "Fix \(c.source): \(c.errorClass.short)", area: area,
                change: change, patch: patch, effort: .medium,
                validation: "Re-run and check `flywheel traces query --has-errors`: no \(c.source) error spans of this kind (\(c.templates.count) message template\(c.templates.count == 1 ? "" : "s")).",
                targetFile: target))
    }

    static func contextOverflow(_ l: HarnessLayout) -> FailureTopic {
        FailureTopic(
            id: "context-overflow", title: "Context window overflow (provider rejects or truncates the request)", category: "context-overflow",
            defaultKind: .implementationDefect, severity: .high,
            recommendation: RecommendationTemplate(
                id: "rec-context-overflow-control-flow", title: "Keep requests within the model's context window", area: .controlFlow,
                change: "Requests reach the model's context limit. In the agent loop, cap what tool results put into the conversation (truncate or summarise large outputs, page through long documents) and drop or summarise old turns; tell the agent in \(l.instructionsName) to request narrow slices of large data.",
                patch: l.instructionsRule("Request narrow slices of large data (filters, pages, line ranges) instead of whole documents."),
                effort: .medium, validation: "Re-run: no context-length errors and no model output stopped for length.", targetFile: l.instructionsFile))
    }

    static func rateLimit(_ l: HarnessLayout) -> FailureTopic {
        FailureTopic(
            id: "rate-limits", title: "Rate limits hit and calls retried", category: "rate-limit",
            defaultKind: .implementationDefect, severity: .medium,
            recommendation: RecommendationTemplate(
                id: "rec-rate-limits-control-flow", title: "Back off on rate limits", area: .controlFlow,
                change: "Calls are rejected for rate limits and retried at once. Retry with exponential backoff and jitter, honour retry-after, cap the retries, and lower the agent's request concurrency.",
                effort: .medium, validation: "Re-run: no rate-limit errors, and no trace retries the same call three times."))
    }

    static func invalidToolArguments(_ l: HarnessLayout) -> FailureTopic {
        FailureTopic(
            id: "invalid-tool-arguments", title: "Tool calls with invalid JSON arguments", category: "invalid-tool-arguments",
            defaultKind: .implementationDefect, severity: .medium,
            recommendation: RecommendationTemplate(
                id: "rec-invalid-tool-arguments-tools", title: "Make tool arguments valid JSON", area: .tools,
                change: "The model emits tool arguments that are not valid JSON. Use strict (schema-constrained) tool calling for the tools in \(l.toolsName), simplify deeply nested parameters, and return the parse error to the model so it can correct the call.",
                effort: .medium, validation: "Re-run: every tool call's arguments parse as JSON.", targetFile: l.toolsFile))
    }

    static func emptyAnswer(_ l: HarnessLayout) -> FailureTopic {
        FailureTopic(
            id: "empty-final-answer", title: "Empty or missing final answer", category: "empty-answer",
            defaultKind: .implementationDefect, severity: .high,
            hasRule: { h in lines(h) { $0.contains("final answer") && ($0.contains("always") || $0.contains("never empty") || $0.contains("must")) } },
            recommendation: RecommendationTemplate(
                id: "rec-empty-final-answer-control-flow", title: "Always end with a final answer", area: .controlFlow,
                change: "Runs end without a final answer. Add a rule to \(l.instructionsName) that every run ends with a non-empty answer, and make the agent loop treat an empty final message as an error (ask the model again once).",
                patch: l.instructionsRule("Always end with a non-empty final answer, even when the task could not be completed: then say what is missing."),
                validation: "Re-run: every trace ends with a non-empty final answer.", targetFile: l.instructionsFile))
    }

    static func handoffLoop(_ l: HarnessLayout) -> FailureTopic {
        FailureTopic(
            id: "handoff-loops", title: "Agents hand the task back and forth (handoff loop)", category: "handoff-loop",
            defaultKind: .missingRequirement, severity: .medium,
            recommendation: RecommendationTemplate(
                id: "rec-handoff-loops-routing", title: "Break handoff loops", area: .routing,
                change: "Agents hand the same task back and forth. Make each agent's handoff condition exclusive (state in its instructions which requests it keeps), and add a limit on handoffs per run in the agent loop.",
                effort: .medium, validation: "Re-run: no trace hands off to the same agent more than twice."))
    }

    static func guardrail(_ l: HarnessLayout, name: String) -> FailureTopic {
        let slug = slugify(name, max: 32)
        return FailureTopic(
            id: "guardrail-\(slug)", title: "Guardrail \(name) tripped", category: "guardrail",
            defaultKind: .presentButNotFollowed, severity: .medium,
            recommendation: RecommendationTemplate(
                id: "rec-guardrail-\(slug)-control-flow", title: "Review guardrail \(name)", area: .controlFlow,
                change: "The \(name) guardrail stops runs. Read the evidence: if the trips are false positives, narrow the guardrail; if they are real, tell the agent in \(l.instructionsName) what the guardrail forbids so it avoids the behaviour.",
                effort: .small, validation: "Re-run: the \(name) guardrail trips only on inputs that should be blocked."))
    }

    static func outlier(_ l: HarnessLayout, metric: String) -> FailureTopic {
        FailureTopic(
            id: "\(metric)-outliers", title: metric == "latency" ? "Latency outliers (runs far slower than their task's typical run)" : "Token outliers (runs using far more tokens than their task's typical run)",
            category: "\(metric)-outlier", defaultKind: .implementationDefect, severity: .low,
            recommendation: RecommendationTemplate(
                id: "rec-\(metric)-outliers-control-flow", title: metric == "latency" ? "Find what makes the slow runs slow" : "Find what makes the expensive runs expensive", area: .controlFlow,
                change: "Compare the outlier traces with typical runs of the same task (`flywheel traces view`): look for extra turns, large tool outputs or slow tools, and cap them in the agent loop.",
                effort: .medium, validation: "Re-run: no run takes more than three times its task's median \(metric == "latency" ? "duration" : "tokens")."))
    }

    /// A mode for one feedback or eval category no project topic took: titled from the category and the reviewers'
    /// own words.
    static func category(_ l: HarnessLayout, category: String, words: String, source: String) -> FailureTopic {
        let slug = slugify(category, max: 40)
        let phrase = category.lowercased().replacingOccurrences(of: "-", with: " ").replacingOccurrences(of: "_", with: " ")
        let title = "\(category): \(Excerpt.clip(Excerpt.oneLine(words), 100))"
        return FailureTopic(
            id: slug.isEmpty ? "uncategorized" : slug, title: title, category: category,
            defaultKind: .missingRequirement, severity: .medium,
            hasRule: { h in phrase.count > 3 && lines(h) { $0.contains(phrase) } },
            recommendation: RecommendationTemplate(
                id: "rec-\(slug.isEmpty ? "uncategorized" : slug)-prompt", title: "Address the \(category) \(source)", area: .prompt,
                change: "Add a rule to \(l.instructionsName) that addresses the \(category) \(source): \(Excerpt.clip(Excerpt.oneLine(words), 200))",
                validation: "Re-run the gate: the \(category) eval cases pass.", targetFile: l.instructionsFile))
    }

    /// Category names compared case-insensitively, `-`, `_` and space alike.
    static func sameCategory(_ a: String, _ b: String) -> Bool {
        func key(_ s: String) -> String { s.lowercased().replacingOccurrences(of: "_", with: "-").replacingOccurrences(of: " ", with: "-") }
        return key(a) == key(b)
    }

    /// The project topic a category (then an observation) belongs to, in the topics' order: first a topic owning
    /// the category, then one whose keywords match the category, then the observation.
    static func projectTopic(category: String, observation: String, topics: [FailureTopic]) -> FailureTopic? {
        if let t = topics.first(where: { $0.categories.contains(where: { sameCategory($0, category) }) }) { return t }
        let c = category.lowercased()
        if let t = topics.first(where: { $0.keywords.contains(where: { matches(c, $0.lowercased()) }) }) { return t }
        let o = observation.lowercased()
        return topics.first(where: { $0.keywords.contains(where: { matches(o, $0.lowercased()) }) })
    }

    /// Substring match; keywords of four characters or fewer must stand as a word (`arr` is not `carry`).
    static func matches(_ text: String, _ keyword: String) -> Bool {
        guard !keyword.isEmpty else { return false }
        guard keyword.count <= 4 else { return text.contains(keyword) }
        let escaped = NSRegularExpression.escapedPattern(for: keyword)
        return text.range(of: "(^|[^a-z0-9])\(escaped)($|[^a-z0-9])", options: .regularExpression) != nil
    }
}
