import Foundation

/// What diagnosis knows about a class of failure: how to recognise it in feedback and eval categories, whether
/// the harness already has a rule for it, and the recommendation that addresses it. The rule texts are phrased
/// so the offline example model recognises them (example-diligence.md, failure modes 1–5).
public struct FailureTopic: Sendable {
    public var id: String
    public var title: String
    public var category: String
    /// Matched (lowercased substring) against a feedback or eval category first, then the observation text.
    public var keywords: [String]
    public var defaultKind: FailureMode.Kind
    public var severity: FeedbackRecord.Severity
    /// True when the harness already contains a rule (or setting) for this topic.
    public var hasRule: @Sendable (HarnessFiles) -> Bool
    public var recommendation: RecommendationTemplate
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
}

public enum FailureCatalog {
    static func lines(_ h: HarnessFiles, _ test: (String) -> Bool) -> Bool { h.ruleLines.contains(where: test) }

    static func instructionsRule(_ text: String) -> HarnessPatch {
        HarnessPatch(file: "harness/instructions.md", append: "- " + text)
    }

    /// The topics, in matching order (the first match wins).
    public static let topics: [FailureTopic] = [
        FailureTopic(
            id: "unvalidated-nrr", title: "Unvalidated NRR estimate reported as a validated metric", category: "unvalidated-metric",
            keywords: ["nrr", "net revenue retention", "unvalidated", "retention"], defaultKind: .missingRequirement, severity: .high,
            hasRule: { h in lines(h) { $0.contains("nrr") && ($0.contains("validat") || $0.contains("cohort")) } },
            recommendation: RecommendationTemplate(
                id: "rec-validated-nrr-prompt", title: "Report only finance-validated NRR", area: .prompt,
                change: "Add a rule to harness/instructions.md: do not report management's NRR estimate as validated; use finance-validated cohort data (customers/cohort_retention.csv, 112%) and label the ~130% figure as an unvalidated estimate.",
                patch: instructionsRule("Do not report management's NRR estimate as validated; use finance-validated cohort data (customers/cohort_retention.csv) and call the estimate unvalidated."),
                effort: .small, validation: "Re-run the gate: the NRR eval cases (icontains 112%, not-icontains the 130% claims) pass and the rule critic reports no unvalidated-metric finding.")),
        FailureTopic(
            id: "concentration-parent-account", title: "Customer concentration judged by legal entity instead of parent account",
            category: "concentration-by-entity", keywords: ["concentration", "parent account", "legal entity", "helix"],
            defaultKind: .missingRequirement, severity: .high,
            hasRule: { h in lines(h) { $0.contains("parent account") } },
            recommendation: RecommendationTemplate(
                id: "rec-parent-account-concentration-prompt", title: "Measure concentration by parent account", area: .prompt,
                change: "Add a rule to harness/instructions.md: measure customer concentration by parent account, rolling up legal entities (customers/customers.csv parent_account), and name the largest parent account and its share of ARR.",
                patch: instructionsRule("Measure customer concentration by parent account, rolling up legal entities, and name the largest parent account with its share of ARR."),
                effort: .small, validation: "Re-run the gate: the concentration cases (Helix Group, 31%) pass; answers no longer say \"no customer above 15%\".")),
        FailureTopic(
            id: "soc2-precision", title: "SOC 2 status overstated (Type I only, Type II pending)", category: "security-overstatement",
            keywords: ["soc 2", "soc2", "security-overstatement", "type ii", "certification", "security"],
            defaultKind: .missingRequirement, severity: .high,
            hasRule: { h in lines(h) { $0.contains("soc 2") && $0.contains("type i") } },
            recommendation: RecommendationTemplate(
                id: "rec-soc2-status-prompt", title: "State SOC 2 status precisely", area: .prompt,
                change: "Add a rule to harness/instructions.md: state SOC 2 status precisely — Type I report issued, Type II pending (security/security_overview.md); never call SOC 2 complete or fully compliant.",
                patch: instructionsRule("State SOC 2 status precisely: Type I report issued, Type II pending; never call SOC 2 complete or fully compliant."),
                effort: .small, validation: "Re-run the gate: the SOC 2 cases (Type I, Type II, not-icontains \"SOC 2 complete\") pass.")),
        FailureTopic(
            id: "citations", title: "Citations to files or quotes that do not exist", category: "citation-invalid",
            keywords: ["citation", "quote", "cite"], defaultKind: .missingRequirement, severity: .high,
            hasRule: { h in h.tools["check_citations"] == true },
            recommendation: RecommendationTemplate(
                id: "rec-enable-check-citations-tools", title: "Enable check_citations", area: .tools,
                change: "Enable the check_citations tool in harness/tools.yaml so the agent verifies that every cited path exists and every quote appears in it before finishing.",
                patch: HarnessPatch(file: "harness/tools.yaml", enableTools: ["check_citations"]),
                effort: .small, validation: "Re-run: the rule critic reports no citation-invalid findings; traces show check_citations calls.")),
        FailureTopic(
            id: "artifacts", title: "Required artifacts missing or malformed", category: "artifact-missing",
            keywords: ["artifact", "risk_register", "evidence_table", "malformed"], defaultKind: .missingRequirement, severity: .high,
            hasRule: { h in h.tools["validate_artifacts"] == true },
            recommendation: RecommendationTemplate(
                id: "rec-enable-validate-artifacts-tools", title: "Enable validate_artifacts", area: .tools,
                change: "Enable the validate_artifacts tool in harness/tools.yaml so the agent checks that all six artifacts exist and parse before finishing.",
                patch: HarnessPatch(file: "harness/tools.yaml", enableTools: ["validate_artifacts"]),
                effort: .small, validation: "Re-run: every outputs/<trace_id>/ holds the six artifacts and the rule critic reports no artifact-missing or artifact-malformed finding.")),
        FailureTopic(
            id: "structured-over-narrative", title: "Narrative figures reported where structured exports disagree",
            category: "narrative-over-structured", keywords: ["narrative", "structured", "arr", "pipeline", "board deck", "52.0"],
            defaultKind: .missingRequirement, severity: .high,
            hasRule: { h in
                lines(h) {
                    ($0.contains("structured export") || $0.contains("structured data") || $0.contains("exports over"))
                        && ($0.contains("prefer") || $0.contains("precedence") || $0.contains(" over "))
                }
            },
            recommendation: RecommendationTemplate(
                id: "rec-prefer-structured-exports-prompt", title: "Prefer structured exports over narratives", area: .prompt,
                change: "Add a rule to harness/instructions.md: prefer structured exports over narrative documents when figures disagree; report the structured figure (e.g. ARR $46.9M from financials/arr_by_month.csv, 2.1x pipeline coverage) and label narrative figures ($52.0M, 4x) as unverified claims.",
                patch: instructionsRule("Prefer structured exports over narrative documents when figures disagree: report the structured figure and label the narrative figure as an unverified claim."),
                effort: .small, validation: "Re-run the gate: the ARR and pipeline cases (icontains 46.9M / 2.1x, not-icontains the narrative figures) pass.")),
    ]

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
            change: "Add a rule to harness/instructions.md: do not refuse questions about the data room; answer from the evidence, and when evidence is missing say what is missing and list it in open_questions.md.",
            patch: instructionsRule("Do not refuse questions about the data room: answer from the evidence, and when evidence is missing say what is missing and add it to open_questions.md."),
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

    /// The topic a category (then an observation) belongs to.
    static func topic(category: String, observation: String) -> FailureTopic {
        let c = category.lowercased()
        if let t = topics.first(where: { $0.keywords.contains(where: { matches(c, $0) }) }) { return t }
        let o = observation.lowercased()
        if let t = topics.first(where: { $0.keywords.contains(where: { matches(o, $0) }) }) { return t }
        return generic(category: category, observation: observation)
    }
}
