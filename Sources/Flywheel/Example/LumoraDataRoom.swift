import Foundation

/// The planted figures of the embedded diligence example (see specs/example-diligence.md). The generated
/// data room is built so that these hold exactly; tests recompute them from the generated files.
public enum LumoraFacts {
    /// Company name.
    public static let company = "Lumora Systems, Inc."
    /// The example's "today".
    public static let asOf = "2026-09-30"
    /// Recognised ARR at 2026-09 (financials/arr_by_month.csv), US dollars.
    public static let arrSep2026 = 46_900_000
    /// ARR at 2025-09, the start of the trailing twelve months.
    public static let arrSep2025 = 36_500_000
    /// "Committed launch ARR" that is not recognised ARR.
    public static let launchARR = 3_100_000
    /// Signed expansions starting in 2027, also not recognised ARR.
    public static let signedFutureARR = 2_000_000
    /// The board deck's ARR figure (recognised + launch + signed future).
    public static let boardDeckARR = 52_000_000
    /// The largest legal entity's ARR (12 % of ARR).
    public static let largestEntityARR = 5_628_000
    /// Helix Group's ARR across its five legal entities (31 % of ARR).
    public static let helixGroupARR = 14_539_000
    /// Number of Helix legal entities.
    public static let helixEntityCount = 5
    /// Trailing-twelve-month NRR from customers/cohort_retention.csv, percent.
    public static let nrrPercent = 112
    /// Management's unvalidated NRR estimate, percent.
    public static let managementNRRPercent = 130
    /// Next quarter (close_quarter value in sales/pipeline.csv).
    public static let nextQuarter = "2026-Q4"
    /// New-ARR target of the next quarter, US dollars (stated in sales/pipeline_notes.md).
    public static let nextQuarterTarget = 3_000_000
    /// Weighted pipeline of the next quarter (sum of amount × probability), US dollars: 2.1× the target.
    public static let weightedNextQuarterPipeline = 6_300_000
    /// Unweighted pipeline of the next quarter: the "4×" management quotes.
    public static let unweightedNextQuarterPipeline = 12_000_000
    /// Headcount in hr/org_chart.md.
    public static let headcount = 212
}

/// Generates the Lumora data room: every file of the spec, byte for byte the same on every run.
public enum LumoraDataRoom {
    /// Kind of a data-room file: structured exports win over narratives when they disagree.
    public enum Kind: String, Sendable, Codable { case structured, narrative }

    /// One generated file.
    public struct File: Sendable {
        /// Path relative to the data room root (forward slashes).
        public let path: String
        /// Structured export or narrative.
        public let kind: Kind
        /// The file's text (UTF-8).
        public let contents: String
    }

    /// All data-room files (without manifest.json), sorted by path.
    public static func files() -> [File] {
        var out: [File] = [
            File(path: "financials/arr_by_month.csv", kind: .structured, contents: arrByMonthCSV()),
            File(path: "financials/revenue_recognition_notes.md", kind: .narrative, contents: revenueRecognitionNotes),
            File(path: "customers/customers.csv", kind: .structured, contents: customersCSV()),
            File(path: "customers/cohort_retention.csv", kind: .structured, contents: cohortRetentionCSV()),
            File(path: "sales/pipeline.csv", kind: .structured, contents: pipelineCSV()),
            File(path: "overview.md", kind: .narrative, contents: overview),
            File(path: "product_strategy.md", kind: .narrative, contents: productStrategy),
            File(path: "go_to_market.md", kind: .narrative, contents: goToMarket),
            File(path: "board_deck.md", kind: .narrative, contents: boardDeck),
            File(path: "legal/contracts_summary.md", kind: .narrative, contents: contractsSummary),
            File(path: "legal/open_issues.md", kind: .narrative, contents: openIssues),
            File(path: "security/security_overview.md", kind: .narrative, contents: securityOverview),
            File(path: "sales/security_faq.md", kind: .narrative, contents: securityFAQ),
            File(path: "hr/org_chart.md", kind: .narrative, contents: orgChart),
            File(path: "sales/pipeline_notes.md", kind: .narrative, contents: pipelineNotes),
            File(path: "notes/qa_log.md", kind: .narrative, contents: qaLog),
        ]
        out.sort { $0.path < $1.path }
        return out
    }

    /// `manifest.json`: every file with its kind, size and sha256 (keys sorted, two-space indent, final newline).
    public static func manifestJSON(for files: [File]) -> String {
        var s = "{\n  \"as_of\": \"\(LumoraFacts.asOf)\",\n  \"company\": \"\(LumoraFacts.company)\",\n  \"files\": [\n"
        for (i, f) in files.enumerated() {
            let data = Data(f.contents.utf8)
            s += "    {\"bytes\": \(data.count), \"kind\": \"\(f.kind.rawValue)\", \"path\": \"\(f.path)\", "
            s += "\"sha256\": \"\(SHA256.hex(data))\"}"
            s += i == files.count - 1 ? "\n" : ",\n"
        }
        s += "  ]\n}\n"
        return s
    }

    /// The sha256 (64 lowercase hex digits) of `data`.
    public static func sha256Hex(_ data: Data) -> String { SHA256.hex(data) }

    /// Writes every file and `manifest.json` under `folder` (created if needed).
    /// - Throws: file-system errors.
    public static func write(to folder: URL) throws {
        let files = files()
        for f in files { try ExampleScaffold.writeText(f.contents, to: folder.appendingPathComponent(f.path)) }
        try ExampleScaffold.writeText(manifestJSON(for: files), to: folder.appendingPathComponent("manifest.json"))
    }
}

// MARK: - Structured exports

extension LumoraDataRoom {
    static let monthNames = ["2024-10", "2024-11", "2024-12"] + (1...12).map { String(format: "2025-%02d", $0) }
        + (1...9).map { String(format: "2026-%02d", $0) }

    /// One month of the ARR bridge.
    struct ARRMonth {
        var month: String
        var arr: Int
        var new: Int
        var expansion: Int
        var contraction: Int
        var churn: Int
    }

    /// Two fiscal years of monthly ARR bridges: 29.9M → 36.5M (Sep 2025) → 46.9M (Sep 2026), with the
    /// trailing year's net expansion exactly 12 % of the Sep 2025 ARR (so the bridge agrees with the cohorts).
    static func arrMonths() -> [ARRMonth] {
        var months: [ARRMonth] = []
        var arr = 29_900_000
        // (target net expansion, target new, expansion base) per year.
        let years = [(3_300_000, 3_300_000, 380_000, 220_000), (4_380_000, 6_020_000, 470_000, 445_000)]
        for (y, (netTarget, newTarget, expBase, newBase)) in years.enumerated() {
            var rows: [ARRMonth] = []
            for i in 0..<12 {
                let contraction = 60_000 + 5_000 * (i % 3)
                let churn = 80_000 + 10_000 * (i % 4)
                rows.append(
                    ARRMonth(
                        month: monthNames[y * 12 + i], arr: 0, new: newBase + 10_000 * i,
                        expansion: expBase + 10_000 * i, contraction: contraction, churn: churn))
            }
            let net = rows.reduce(0) { $0 + $1.expansion - $1.contraction - $1.churn }
            rows[11].expansion += netTarget - net
            rows[11].new += newTarget - rows.reduce(0) { $0 + $1.new }
            for i in 0..<12 {
                arr += rows[i].new + rows[i].expansion - rows[i].contraction - rows[i].churn
                rows[i].arr = arr
            }
            months += rows
        }
        return months
    }

    static func arrByMonthCSV() -> String {
        var s = "month,arr_usd,new,expansion,contraction,churn\n"
        for m in arrMonths() {
            s += "\(m.month),\(m.arr),\(m.new),\(m.expansion),\(m.contraction),\(m.churn)\n"
        }
        return s
    }

    static func cohortRetentionCSV() -> String {
        let rows: [(String, Int, Int)] = [
            ("2019", 4_200_000, 4_410_000), ("2020", 5_600_000, 6_104_000), ("2021", 7_100_000, 7_952_000),
            ("2022", 8_300_000, 9_379_000), ("2023", 6_400_000, 7_360_000), ("2024", 3_500_000, 3_990_000),
            ("2025", 1_400_000, 1_685_000),
        ]
        var s = "cohort,starting_arr,arr_after_12m\n"
        for r in rows { s += "\(r.0),\(r.1),\(r.2)\n" }
        return s
    }

    /// One customer row.
    struct Customer {
        var id: String
        var legalEntity: String
        var parent: String
        var arr: Int
        var start: String
        var renewal: String
        var region: String
    }

    static func customers() -> [Customer] {
        let helix: [(String, Int, String, String)] = [
            ("Helix Manufacturing GmbH", 5_628_000, "2019-04-01", "EMEA"),
            ("Helix Logistics B.V.", 3_100_000, "2020-07-01", "EMEA"),
            ("Helix Health Inc.", 2_511_000, "2021-02-01", "NA"),
            ("Helix Retail Ltd", 1_900_000, "2022-05-01", "EMEA"),
            ("Helix Energy Pte. Ltd.", 1_400_000, "2023-09-01", "APAC"),
        ]
        let stems = [
            "Aster", "Brightline", "Cobalt", "Driftwood", "Ember", "Fjord", "Granite", "Harbor", "Ironclad",
            "Juniper", "Kestrel", "Lattice", "Meridian", "Nimbus", "Orchid", "Pinnacle", "Quarry", "Redwood",
            "Summit", "Tidewater", "Umber", "Vantage",
        ]
        let trades = [" Analytics", " Foods", " Freight", " Insurance", " Media", " Robotics"]
        let legal = [(" Inc.", "NA"), (" GmbH", "EMEA"), (" Ltd", "EMEA"), (" Pty Ltd", "APAC"), (" LLC", "NA")]
        var rng = SeededGenerator(seed: 20_260_930)
        var others: [(entity: String, parent: String, raw: Int, region: String)] = []
        for i in 0..<41 {
            let stem = stems[i % stems.count]
            let trade = trades[(i / stems.count + i) % trades.count]
            let (suffix, region) = legal[Int(rng.next() % UInt64(legal.count))]
            others.append((stem + trade + suffix, stem + trade, 200 + Int(rng.next() % 1_400), region))
        }
        // Two more multi-entity parents, so a parent rollup is more than renaming.
        others.append(("Northwind Foods Inc.", "Northwind Holdings", 900, "NA"))
        others.append(("Northwind Freight LLC", "Northwind Holdings", 700, "NA"))
        others.append(("Northwind Foods Canada Ltd.", "Northwind Holdings", 400, "NA"))
        // Scale the others to exactly the ARR not held by Helix, in whole thousands.
        let target = LumoraFacts.arrSep2026 - LumoraFacts.helixGroupARR
        let rawSum = others.reduce(0) { $0 + $1.raw }
        var amounts = others.map { $0.raw * (target / 1_000) / rawSum * 1_000 }
        amounts[0] += target - amounts.reduce(0, +)
        var all: [(String, String, Int, String, String)] = []
        for (i, o) in others.enumerated() {
            let year = 2019 + Int(rng.next() % 7)
            let month = 1 + Int(rng.next() % 12)
            all.append((o.entity, o.parent, amounts[i], String(format: "%04d-%02d-01", year, month), o.region))
        }
        // Helix entities sit at fixed places in the list.
        let helixSlots = [6, 12, 20, 33, 41]
        for (slot, h) in zip(helixSlots, helix) { all.insert((h.0, "Helix Group", h.1, h.2, h.3), at: slot) }
        return all.enumerated().map { i, c in
            let startMonth = Int(c.3.dropFirst(5).prefix(2))!
            let renewalYear = startMonth > 9 ? 2026 : 2027
            return Customer(
                id: String(format: "C%03d", i + 1), legalEntity: c.0, parent: c.1, arr: c.2, start: c.3,
                renewal: String(format: "%04d-%02d-01", renewalYear, startMonth), region: c.4)
        }
    }

    static func customersCSV() -> String {
        var s = "customer_id,legal_entity,parent_account,arr_usd,start_date,renewal_date,region\n"
        for c in customers() {
            s += "\(c.id),\(csvField(c.legalEntity)),\(csvField(c.parent)),\(c.arr),\(c.start),\(c.renewal),\(c.region)\n"
        }
        return s
    }

    static func pipelineCSV() -> String {
        let rows: [(String, String, Int, String, String)] = [
            ("OPP-2101 Helix Energy platform expansion", "Proposal", 2_000_000, "2026-Q4", "0.75"),
            ("OPP-2102 Summit Insurance new logo", "Commit", 1_600_000, "2026-Q4", "0.90"),
            ("OPP-2103 Meridian Media multi-region rollout", "Solution", 1_387_500, "2026-Q4", "0.50"),
            ("OPP-2104 Quarry Robotics new logo", "Qualification", 1_200_000, "2026-Q4", "0.25"),
            ("OPP-2105 Northwind Freight analytics add-on", "Solution", 1_000_000, "2026-Q4", "0.50"),
            ("OPP-2106 Cobalt Foods renewal uplift", "Proposal", 900_000, "2026-Q4", "0.75"),
            ("OPP-2107 Vantage Freight new logo", "Discovery", 800_000, "2026-Q4", "0.10"),
            ("OPP-2108 Orchid Analytics expansion", "Qualification", 800_000, "2026-Q4", "0.25"),
            ("OPP-2109 Ember Media new logo", "Solution", 700_000, "2026-Q4", "0.50"),
            ("OPP-2110 Tidewater Insurance new logo", "Discovery", 600_000, "2026-Q4", "0.10"),
            ("OPP-2111 Granite Analytics seat expansion", "Commit", 500_000, "2026-Q4", "0.90"),
            ("OPP-2112 Kestrel Robotics pilot conversion", "Discovery", 512_500, "2026-Q4", "0.10"),
            ("OPP-2201 Helix Retail APAC rollout", "Discovery", 1_800_000, "2027-Q1", "0.10"),
            ("OPP-2202 Pinnacle Foods new logo", "Qualification", 1_100_000, "2027-Q1", "0.25"),
            ("OPP-2203 Redwood Freight expansion", "Solution", 900_000, "2027-Q1", "0.50"),
            ("OPP-2204 Fjord Media new logo", "Discovery", 750_000, "2027-Q1", "0.10"),
            ("OPP-2301 Lattice Insurance new logo", "Discovery", 1_250_000, "2027-Q2", "0.10"),
        ]
        var s = "opportunity,stage,amount,close_quarter,probability\n"
        for r in rows { s += "\(csvField(r.0)),\(r.1),\(r.2),\(r.3),\(r.4)\n" }
        return s
    }

    static func csvField(_ s: String) -> String {
        s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}

// MARK: - Narratives

extension LumoraDataRoom {
    static let revenueRecognitionNotes = """
        # Revenue recognition notes (Finance, prepared for diligence)

        Prepared by the Finance team, 2026-10-02. Figures as of 2026-09-30.

        ## Recognised ARR

        Recognised ARR is the annualised value of live subscriptions billed under signed contracts, as exported
        monthly in `financials/arr_by_month.csv`. Recognised ARR at 2026-09-30 is $46,900,000.

        ## Launch-stage contracts

        Some enterprise contracts are signed before the customer goes live. Sales reports these as
        "committed launch ARR". As of 2026-09-30 there is $3.1M of committed launch ARR. Committed launch ARR
        is not recognised ARR: it is excluded from the ARR export until the subscription starts billing, and
        Finance does not include it in any ARR figure it signs off.

        In addition, $2.0M of signed expansions start billing in Q1 2027; these are also excluded from
        recognised ARR.

        ## Retention

        Finance computes net revenue retention from `customers/cohort_retention.csv` (ARR of each start-year
        cohort at 2025-09-30 and the same customers' ARR at 2026-09-30). Finance has not reviewed any other
        retention figure.

        ## Known differences

        Management presentations sometimes quote ARR including launch-stage contracts. Finance's reconciliation
        of the board deck figure is still in progress (see the Q&A log).

        """

    static let overview = """
        # Lumora Systems, Inc. — company overview

        Lumora Systems builds an operations-analytics platform for mid-market and enterprise manufacturers,
        logistics providers and retailers. Founded in 2018, headquartered in Austin, Texas, with offices in
        Amsterdam and Singapore.

        ## At a glance

        - ARR of $50M+ and growing more than 25 % year over year
        - Nearly 50 enterprise customers across North America, EMEA and APAC
        - 212 employees
        - Best-in-class retention and an expanding platform footprint

        ## Products

        - **Lumora Core**: real-time operations dashboards over ERP and MES data.
        - **Lumora Forecast**: demand and capacity forecasting.
        - **Lumora Connect**: integrations marketplace (launched 2025).

        ## Why now

        Management believes the company is at an inflection point: the Connect marketplace is driving
        multi-entity expansion, and the launch pipeline is the strongest in company history.

        """

    static let productStrategy = """
        # Product strategy and roadmap (management)

        ## Where we are

        Customers adopt Lumora Core first and expand into Forecast within 18 months. Multi-entity groups roll
        the platform out subsidiary by subsidiary.

        ## Retention

        Expansion inside existing groups is our growth engine: we estimate NRR of ~130 % for the installed base,
        based on the expansion opportunities sales has identified. This is a management view and has not been
        reconciled with Finance.

        ## Roadmap 2027

        1. Forecast 2.0 with scenario planning (H1 2027).
        2. Connect partner program: 40 certified integrations by end of 2027.
        3. EU data residency (Frankfurt region), required by two EMEA prospects.

        ## Risks we track

        - Dependence on a small number of multi-entity groups for expansion.
        - Competition from ERP vendors bundling basic analytics.

        """

    static let goToMarket = """
        # Go-to-market (management)

        ## Sales motion

        Enterprise field sales (14 account executives) supported by solution engineering; a land-and-expand
        motion inside multi-entity groups. Average sales cycle: 5 months for a new logo, 2 months for expansion.

        ## Pipeline

        We enter Q4 2026 with 4× pipeline coverage of the quarter's new-ARR plan, the strongest position we have
        had. Marketing-sourced pipeline grew 40 % year over year.

        ## Channels

        - Direct sales in North America and EMEA.
        - Two reseller partners in APAC.

        ## Pricing

        Platform fee plus per-site pricing; multi-year contracts carry a 7 % discount.

        """

    static let boardDeck = """
        # Board update — Q3 2026 (management presentation)

        ## Highlights

        - ARR $52.0M, up 42 % year over year
        - SOC 2 complete — enterprise security reviews no longer a blocker
        - Healthy, diversified revenue: no customer above 15 % of ARR
        - NRR ~130 %

        ## Q3 in numbers

        | metric | Q3 2026 |
        |---|---|
        | ARR | $52.0M |
        | Customers | 49 |
        | Headcount | 212 |

        ## Outlook

        Q4 new-ARR plan of $3.0M with 4× pipeline coverage. We expect to exit 2026 above $55M ARR.

        Note: ARR on this page includes committed launch ARR and signed expansions starting in 2027.

        """

    static let contractsSummary = """
        # Contracts summary (outside counsel)

        Reviewed: master subscription agreements of the top 20 customers by ARR, as of 2026-09-30.

        ## Standard terms

        - Annual or multi-year subscriptions, invoiced annually in advance.
        - Liability capped at 12 months of fees; mutual confidentiality.

        ## Change of control

        The master agreements with Helix Group entities (Helix Manufacturing GmbH, Helix Logistics B.V.,
        Helix Health Inc., Helix Retail Ltd and Helix Energy Pte. Ltd.) contain change-of-control clauses:
        each Helix entity may terminate for convenience within 90 days after a change of control of Lumora.
        Together these contracts represent Helix Group's entire relationship with Lumora.

        No other top-20 contract contains a change-of-control termination right.

        ## Assignment

        Contracts may be assigned to an acquirer of substantially all assets with notice, except the Helix
        agreements, which require consent.

        """

    static let openIssues = """
        # Open legal issues

        1. **IP dispute.** Vantix Analytics LLC alleges that Lumora Forecast infringes one of its patents on
           demand-sensing models (demand letter received 2026-06-14). No lawsuit has been filed. Counsel's
           assessment is pending.
        2. **Data-processing complaint.** A former employee of an EMEA customer filed a complaint with the Dutch
           data-protection authority about the processing of operator performance data (filed 2026-08-03).
           The authority has requested information; Lumora responded on 2026-09-12.

        No other litigation is pending or threatened to management's knowledge.

        """

    static let securityOverview = """
        # Security overview (Security team)

        ## Certifications

        - SOC 2 Type I report issued 2026-03 (auditor: Calder & Finch LLP), covering security and availability.
        - SOC 2 Type II observation window ends 2026-12; the Type II report is expected in Q1 2027.
        - ISO 27001: not started.

        ## Controls

        - SSO and MFA enforced for all employees; quarterly access reviews since 2026-04.
        - Annual third-party penetration test (last: 2026-05); two medium findings remediated.
        - Customer data encrypted at rest (AES-256) and in transit (TLS 1.2+).

        ## Known gaps

        - Vendor risk management process formalised only in 2026-07.
        - No EU data residency yet (on the 2027 roadmap).

        """

    static let securityFAQ = """
        # Security FAQ (for prospects)

        **Is Lumora SOC 2 compliant?**
        Yes. Lumora is fully SOC 2 compliant and shares its report under NDA.

        **Do you support SSO?**
        Yes, SAML 2.0 and OIDC.

        **Where is data hosted?**
        AWS us-east-1 and eu-west-1.

        **Do you perform penetration tests?**
        Yes, annually, by an independent firm.

        """

    static let orgChart = """
        # Organisation (HR)

        Headcount: 212 (as of 2026-09-30).

        | role | name | since |
        |---|---|---|
        | CEO and co-founder | Maya Okafor | 2018-02 |
        | CTO and co-founder | Jonas Lindqvist | 2018-02 |
        | CFO | Priya Raman | 2026-05 |
        | CRO | Daniel Ortiz | 2023-01 |
        | VP Engineering | Hana Sato | 2021-09 |
        | Head of Security | Lukas Brenner | 2025-11 |

        The CFO joined in 2026-05; the previous CFO left in 2026-01 and the controller acted as interim CFO.

        Headcount by function: Engineering 96, Sales and marketing 58, Customer success 31, G&A 27.

        """

    static let pipelineNotes = """
        # Pipeline notes (sales operations)

        Q4 2026 new-ARR target (board plan): $3.0M.

        Stage probabilities used for weighting: Discovery 10 %, Qualification 25 %, Solution 50 %,
        Proposal 75 %, Commit 90 %.

        Commentary:
        - The Helix Energy expansion is the largest Q4 deal; procurement has asked about the acquisition.
        - Two Discovery-stage new logos were added in September after a trade show; qualification pending.
        - Slippage from Q3 into Q4 was $1.1M.

        """

    static let qaLog = """
        # Diligence Q&A log

        | id | question | status | answer |
        |---|---|---|---|
        | Q-01 | Provide monthly ARR for the last 24 months. | answered | See financials/arr_by_month.csv. |
        | Q-02 | Provide the customer list with parent accounts. | answered | See customers/customers.csv. |
        | Q-03 | Provide cohort retention data. | answered | See customers/cohort_retention.csv. |
        | Q-04 | Reconcile the board deck ARR ($52.0M) to the ARR export. | unanswered | Finance reconciliation in progress. |
        | Q-05 | Provide the SOC 2 report and any exceptions noted. | answered | Type I report shared under NDA. |
        | Q-06 | Provide counsel's assessment of the Vantix patent claim. | unanswered | Awaiting outside counsel. |
        | Q-07 | Confirm headcount and open roles. | answered | See hr/org_chart.md. |

        """
}
