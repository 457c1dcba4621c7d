import Foundation
import Testing

@testable import Flywheel
@testable import FlywheelExample

/// The rule critic driven by the example's rules file (Resources/example/rules.yaml).
@Suite struct ExampleRuleCriticTests {
    static let room = SourceFolder(
        files: [
            "financials/arr_by_month.csv": "month,arr_usd\n2026-08,46350000\n2026-09,46900000\n",
            "board_deck.md": "# Board deck\nARR $52.0M. SOC 2 complete. No customer above 15 %.\n",
            "security/security_overview.md": "SOC 2 Type I report issued 2026-03; Type II observation window ends 2026-12.\n",
            "customers/customers.csv": "customer_id,legal_entity,parent_account\n1,Helix Labs,Helix Group\n",
        ], name: "dataroom")

    static let rules = try! ProjectRules.parse(ExampleScaffold.text("rules.yaml"), file: "rules.yaml")

    static func goodFiles() -> [String: String] {
        [
            "summary_answer.md": "Current ARR is $46.9M (financials/arr_by_month.csv); the board deck's $52.0M counts launch ARR.\n",
            "investment_memo.md": "# Memo\nSOC 2: Type I report issued, Type II pending.\n",
            "open_questions.md": "- Launch ARR recognition?\n",
            "risk_register.json": #"[{"risk":"Helix concentration","severity":"high","evidence":["customers/customers.csv"]}]"#,
            "citations.json": #"[{"claim":"ARR","path":"financials/arr_by_month.csv","quote":"2026-09,46900000"}]"#,
            "evidence_table.csv": "claim,source_path,source_kind\nARR 46.9M,financials/arr_by_month.csv,structured\n",
        ]
    }

    static let critic = RuleCritic(rules: rules, sources: room, createdAt: "2026-09-30T12:00:00Z")

    static func run(_ change: (inout [String: String]) -> Void) -> [FeedbackRecord] {
        var files = goodFiles()
        change(&files)
        return critic.critique(run: RunArtifacts(traceID: "t1", files: files))
    }

    @Test func cleanRunHasNoFindings() {
        #expect(Self.run { _ in }.isEmpty)
    }

    @Test func badCitationPath() {
        let f = Self.run { $0["citations.json"] = #"[{"claim":"ARR","path":"financials/arr_2026.csv","quote":"46900000"}]"# }
        #expect(f.count == 1)
        #expect(f[0].category == "citation-invalid")
        #expect(f[0].evidence.contains("financials/arr_2026.csv"))
        #expect(f[0].source == .rule && f[0].author == "flywheel-rule-critic" && f[0].traceID == "t1")
    }

    @Test func quoteNotInFile() {
        let f = Self.run { $0["citations.json"] = #"[{"claim":"ARR","path":"board_deck.md","quote":"ARR of $60M"}]"# }
        #expect(f.map(\.category) == ["citation-invalid"])
        #expect(f[0].observation.contains("do not appear"))
        // whitespace and case differences are not a mismatch
        #expect(Self.run { $0["citations.json"] = #"[{"claim":"x","path":"board_deck.md","quote":"soc 2   COMPLETE."}]"# }.isEmpty)
    }

    @Test func missingArtifact() {
        let f = Self.run { $0["open_questions.md"] = nil; $0["investment_memo.md"] = "  \n" }
        #expect(f.map(\.category) == ["artifact-missing"])
        #expect(f[0].observation.contains("open_questions.md") && f[0].observation.contains("investment_memo.md"))
    }

    @Test func malformedJSONAndCSV() {
        let f = Self.run {
            $0["risk_register.json"] = "[{\"risk\": \"x\",}"
            $0["evidence_table.csv"] = "claim,path\nx,y\n"
        }
        #expect(f.map(\.category).sorted() == ["artifact-malformed", "artifact-malformed"])
        let shape = Self.run { $0["risk_register.json"] = #"[{"risk":"x","severity":"high","evidence":"board_deck.md"}]"# }
        #expect(shape.map(\.category) == ["artifact-malformed"])
        let path = Self.run { $0["evidence_table.csv"] = "claim,source_path,source_kind\nARR,board_2026.md,structured\n" }
        #expect(path.map(\.category) == ["citation-invalid"])
    }

    @Test func narrativeFigureQuoted() {
        let f = Self.run { $0["summary_answer.md"] = "Lumora's ARR is $52.0M, and SOC 2 is complete.\n" }
        #expect(Set(f.map(\.category)) == ["narrative-over-structured", "security-overstatement"])
        let arr = try! #require(f.first { $0.category == "narrative-over-structured" })
        #expect(arr.evidence.contains("financials/arr_by_month.csv"))
        #expect(arr.evidence.contains("$52.0M"))
        #expect(arr.requiredObservations == ["46.9M|46,900,000|46.9 million"])
        #expect(arr.severity == .high)
        // The same figure reported as a narrative claim beside the structured truth is fine (goodFiles does that).
    }

    @Test func ruleTableIsDataDriven() throws {
        let custom = RuleCritic(
            rules: try ProjectRules.parse("""
                critic:
                  - id: headcount
                    category: narrative-over-structured
                    severity: low
                    when: {matches: '\\b250 employees', lacks: '212'}
                    observation: Headcount from narrative.
                """, file: "custom.yaml"),
            createdAt: "2026-09-30T12:00:00Z")
        var files = Self.goodFiles()
        files["final_answer.md"] = "Lumora has 250 employees and ARR $52.0M."
        let f = custom.critique(run: RunArtifacts(traceID: "t", files: files))
        #expect(f.map(\.severity) == [.low])  // only the custom rule, not the example's ARR rule
    }

    @Test func prohibitedClaimsFromEarlierFeedback() {
        let earlier = FeedbackRecord(
            traceID: "old", source: .human, author: "finance-lead", category: "concentration", severity: .high,
            observation: "Use parent accounts.", prohibitedClaims: ["largest customer is only 12%"], createdAt: "2026-09-01T00:00:00Z")
        var files = Self.goodFiles()
        files["investment_memo.md"] = "Concentration is low: the largest customer is only 12% of ARR (31% by parent is ignored)."
        let f = Self.critic.critique(run: RunArtifacts(traceID: "t2", files: files), earlierFeedback: [earlier])
        #expect(f.count == 1)
        #expect(f[0].category == "concentration")
        #expect(f[0].prohibitedClaims == ["largest customer is only 12%"])
        #expect(f[0].evidence.contains(earlier.feedbackID))
    }

    @Test func deterministicIDs() {
        let a = Self.run { $0["summary_answer.md"] = "ARR is $52.0M." }
        let b = Self.run { $0["summary_answer.md"] = "ARR is $52.0M." }
        #expect(a == b)
        #expect(Set(a.map(\.feedbackID)).count == a.count)
    }

    /// The offline example model's failing phrasings (agent branch) are caught; its corrected phrasings are not.
    @Test func examplePhrasings() {
        let failing = [
            ("NRR is ~130% (product_strategy.md), driven by expansion inside multi-entity groups.", "unvalidated-metric"),
            ("Pipeline coverage for next quarter is 4× the new-ARR plan (go_to_market.md).", "narrative-over-structured"),
            ("Lumora is SOC 2 complete (board_deck.md) and fully SOC 2 compliant per the security FAQ.", "security-overstatement"),
            ("The largest legal entity is 12% of ARR, and the board deck confirms no customer above 15% of ARR.", "concentration-by-entity"),
            ("Current ARR is $52.0M (board_deck.md); the overview's \"ARR of $50M+\" is consistent with it.", "narrative-over-structured"),
        ]
        for (text, category) in failing {
            let f = Self.run { $0["summary_answer.md"] = text }
            #expect(f.map(\.category) == [category], "\(text)")
        }
        let fixed = [
            "NRR is 112.0% from the cohort export. Management's ~130% in product_strategy.md is an unvalidated estimate.",
            "Weighted pipeline is 2.1× coverage (sales/pipeline.csv). The 4× in go_to_market.md is the unweighted pipeline.",
            "Lumora holds a SOC 2 Type I report issued 2026-03; the Type II observation window ends 2026-12.",
            "Helix Group is 31% of ARR by parent account; the board deck's \"no customer above 15%\" ignores the rollup.",
        ]
        for text in fixed { #expect(Self.run { $0["summary_answer.md"] = text }.isEmpty, "\(text)") }
    }
}
