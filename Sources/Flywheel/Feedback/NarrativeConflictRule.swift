import Foundation

/// One entry of the rule critic's data-driven table: a narrative figure that an answer must not present as fact
/// when a structured export says otherwise.
///
/// A run is flagged when `pattern` matches one of its answer artifacts and `truthPattern` does not match anywhere
/// in that same artifact (an answer that quotes the narrative figure *and* reports the structured truth is
/// treating the narrative as a claim, which is allowed). Patterns are ICU regular expressions, matched
/// case-insensitively.
public struct NarrativeConflictRule: Sendable, Hashable, Codable {
    public var id: String
    public var category: String
    public var severity: FeedbackRecord.Severity
    /// The narrative figure, e.g. `\$\s?52(\.0)?\s?(M|million)`.
    public var pattern: String
    /// What the structured export says, in words (`Sep 2026 ARR = $46.9M`).
    public var structuredTruth: String
    /// The structured source of the truth (`financials/arr_by_month.csv`).
    public var truthSource: String
    /// A pattern showing the answer reports the truth (`46[.,]9`).
    public var truthPattern: String
    /// Narrative files the figure comes from.
    public var narrativeSources: [String]
    /// The finding's observation text.
    public var observation: String
    public var requiredObservations: [String]
    public var prohibitedClaims: [String]

    public init(
        id: String, category: String, severity: FeedbackRecord.Severity, pattern: String, structuredTruth: String,
        truthSource: String, truthPattern: String, narrativeSources: [String], observation: String,
        requiredObservations: [String], prohibitedClaims: [String]
    ) {
        self.id = id
        self.category = category
        self.severity = severity
        self.pattern = pattern
        self.structuredTruth = structuredTruth
        self.truthSource = truthSource
        self.truthPattern = truthPattern
        self.narrativeSources = narrativeSources
        self.observation = observation
        self.requiredObservations = requiredObservations
        self.prohibitedClaims = prohibitedClaims
    }

    enum CodingKeys: String, CodingKey {
        case id, category, severity, pattern
        case structuredTruth = "structured_truth", truthSource = "truth_source", truthPattern = "truth_pattern"
        case narrativeSources = "narrative_sources", observation
        case requiredObservations = "required_observations", prohibitedClaims = "prohibited_claims"
    }

    /// The table for the Lumora example (example-diligence.md): ARR, NRR, concentration, SOC 2, pipeline.
    public static let lumoraDefaults: [NarrativeConflictRule] = [
        NarrativeConflictRule(
            id: "arr-narrative-figure", category: "narrative-over-structured", severity: .high,
            pattern: #"\$\s?52(\.0)?\s?(m\b|mm\b|million)|52,000,000|\$\s?50\s?(m|million)\s?\+|\$\s?50\s?(m|million) or more"#,
            structuredTruth: "September 2026 ARR is $46.9M in the ARR export; the $52.0M / $50M+ narrative figures count unrecognised launch ARR",
            truthSource: "financials/arr_by_month.csv", truthPattern: #"46[.,]9"#,
            narrativeSources: ["board_deck.md", "overview.md"],
            observation: "The answer reports a narrative ARR figure ($52.0M / $50M+) where the structured ARR export says $46.9M.",
            requiredObservations: ["46.9M|46,900,000|46.9 million"],
            prohibitedClaims: ["ARR of $52.0M", "ARR is $52.0M", "ARR of $50M+"]),
        NarrativeConflictRule(
            id: "nrr-unvalidated-estimate", category: "unvalidated-metric", severity: .high,
            pattern: #"(~|≈|about |approximately |roughly )?\b130\s?%"#,
            structuredTruth: "Trailing-12-month NRR computed from the cohort export is 112%; ~130% is an unvalidated management estimate",
            truthSource: "customers/cohort_retention.csv", truthPattern: #"\b112(\.\d+)?\s?%"#,
            narrativeSources: ["product_strategy.md"],
            observation: "The answer reports management's ~130% NRR estimate as if finance had validated it; the cohort export gives 112%.",
            requiredObservations: ["112%|112 %"],
            prohibitedClaims: ["NRR is 130%", "NRR of 130%", "NRR of ~130%", "validated NRR of 130%"]),
        NarrativeConflictRule(
            id: "concentration-by-legal-entity", category: "concentration-by-entity", severity: .high,
            pattern: #"no (single )?customer (is |accounts for |represents |exceeds |is above |above |over |more than )+15\s?%|largest customer[^.\n]{0,60}\b12\s?%|no customer above 15"#,
            structuredTruth: "Rolled up by parent account, Helix Group is 31% of ARR across five legal entities (largest legal entity 12%)",
            truthSource: "customers/customers.csv", truthPattern: #"\b31(\.\d+)?\s?%"#,
            narrativeSources: ["board_deck.md"],
            observation: "The answer judges concentration by legal entity (12%, \"no customer above 15%\") instead of by parent account (Helix Group 31%).",
            requiredObservations: ["Helix Group", "31%|31 %"],
            prohibitedClaims: ["no customer above 15%", "no customer accounts for more than 15%"]),
        NarrativeConflictRule(
            id: "soc2-overstated", category: "security-overstatement", severity: .high,
            pattern: #"soc\s?2 (certification |audit )?(is )?(complete|completed|fully compliant)|fully soc\s?2[- ]compliant|soc\s?2[- ]compliant"#,
            structuredTruth: "Only a SOC 2 Type I report was issued (2026-03); the Type II observation window ends 2026-12",
            truthSource: "security/security_overview.md", truthPattern: #"type\s?(i|1)\b"#,
            narrativeSources: ["board_deck.md", "sales/security_faq.md"],
            observation: "The answer says SOC 2 is complete / fully compliant; the evidence supports a Type I report only, with Type II pending.",
            requiredObservations: ["Type I", "Type II"],
            prohibitedClaims: ["SOC 2 complete", "fully SOC 2 compliant"]),
        NarrativeConflictRule(
            id: "pipeline-coverage-narrative", category: "narrative-over-structured", severity: .medium,
            pattern: #"(pipeline|coverage)[^.\n]{0,40}\b4(\.0)?\s?(x|×)|\b4(\.0)?\s?(x|×)[^.\n]{0,20}(pipeline|coverage)"#,
            structuredTruth: "Weighted pipeline coverage from the pipeline export is 2.1x next-quarter target",
            truthSource: "sales/pipeline.csv", truthPattern: #"2\.1\s?(x|×)"#,
            narrativeSources: ["go_to_market.md"],
            observation: "The answer repeats the narrative 4x pipeline coverage; the pipeline export gives 2.1x weighted coverage.",
            requiredObservations: ["2.1x|2.1×"],
            prohibitedClaims: ["4x pipeline coverage", "4× pipeline coverage"]),
    ]
}
