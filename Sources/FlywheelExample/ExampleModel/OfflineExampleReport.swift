import Flywheel
import FlywheelSupport
import FlywheelTraces
import Foundation

// The offline example model's "reading" and "writing": figures computed from the file contents it received
// through tool results, and the six artifacts built from them (with the simulated judgement errors).

/// Figures the offline model computes from the files it has read.
struct OfflineAnalysis {
    let read: [String: String]
    let kinds: [String: String]

    init(read: [String: String], kinds: [String: String]) {
        self.read = read
        self.kinds = kinds
    }

    func has(_ path: String) -> Bool { read[path] != nil }

    /// The first line of `path` containing `needle`, trimmed (and without a leading list marker): a verbatim
    /// substring of the file, usable as a citation quote.
    func quote(_ path: String, containing needle: String) -> String? {
        guard let text = read[path] else { return nil }
        for line in text.split(separator: "\n") where line.contains(needle) {
            var s = line.trimmingCharacters(in: .whitespaces)
            if s.hasPrefix("- ") { s.removeFirst(2) }
            return s
        }
        return nil
    }

    func csvRows(_ path: String) -> [[String: String]] {
        guard let text = read[path], let records = try? CSVRecords.read(text), let header = records.first?.fields else { return [] }
        return records.dropFirst().map { r in
            var row: [String: String] = [:]
            for (i, h) in header.enumerated() where i < r.fields.count { row[h] = r.fields[i] }
            return row
        }
    }

    func csvLine(_ path: String, startingWith prefix: String) -> String? {
        read[path]?.split(separator: "\n").first { $0.hasPrefix(prefix) }.map(String.init)
    }

    // MARK: ARR

    var arrRows: [(month: String, arr: Int, churn: Int, contraction: Int)] {
        csvRows("financials/arr_by_month.csv").compactMap { r in
            guard let m = r["month"], let a = Int(r["arr_usd"] ?? "") else { return nil }
            return (m, a, Int(r["churn"] ?? "") ?? 0, Int(r["contraction"] ?? "") ?? 0)
        }
    }

    // MARK: NRR

    var cohortTotals: (start: Int, after: Int)? {
        let rows = csvRows("customers/cohort_retention.csv")
        guard !rows.isEmpty else { return nil }
        let s = rows.reduce(0) { $0 + (Int($1["starting_arr"] ?? "") ?? 0) }
        let a = rows.reduce(0) { $0 + (Int($1["arr_after_12m"] ?? "") ?? 0) }
        return s > 0 ? (s, a) : nil
    }

    // MARK: Concentration

    struct Concentration {
        var total: Int
        var topEntity: String
        var topEntityARR: Int
        var topParent: String
        var topParentARR: Int
        var topParentEntities: Int
    }

    var concentration: Concentration? {
        let rows = csvRows("customers/customers.csv").compactMap { r -> (String, String, Int)? in
            guard let e = r["legal_entity"], let p = r["parent_account"], let a = Int(r["arr_usd"] ?? "") else { return nil }
            return (e, p, a)
        }
        guard !rows.isEmpty else { return nil }
        let total = rows.reduce(0) { $0 + $1.2 }
        let top = rows.max { $0.2 < $1.2 }!
        var parents: [String: (Int, Int)] = [:]
        for r in rows { parents[r.1, default: (0, 0)].0 += r.2; parents[r.1, default: (0, 0)].1 += 1 }
        let topParent = parents.max { $0.value.0 < $1.value.0 || ($0.value.0 == $1.value.0 && $0.key > $1.key) }!
        return Concentration(
            total: total, topEntity: top.0, topEntityARR: top.2, topParent: topParent.key, topParentARR: topParent.value.0,
            topParentEntities: topParent.value.1)
    }

    // MARK: Pipeline

    var pipeline: (quarter: String, weighted: Double, unweighted: Int)? {
        let rows = csvRows("sales/pipeline.csv")
        guard let quarter = rows.compactMap({ $0["close_quarter"] }).min() else { return nil }
        var weighted = 0.0
        var unweighted = 0
        for r in rows where r["close_quarter"] == quarter {
            let amount = Int(r["amount"] ?? "") ?? 0
            unweighted += amount
            weighted += Double(amount) * (Double(r["probability"] ?? "") ?? 0)
        }
        return (quarter, weighted, unweighted)
    }

    /// The quarter's target from the pipeline notes (`$3.0M`).
    var pipelineTarget: Int? {
        quote("sales/pipeline_notes.md", containing: "target").flatMap(OfflineMoney.first)
    }

    // MARK: Q&A log

    var unansweredQuestions: [(id: String, question: String)] {
        guard let text = read["notes/qa_log.md"] else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 3, cells[0].hasPrefix("Q-"), cells[2] == "unanswered" else { return nil }
            return (cells[0], cells[1])
        }
    }
}

/// OfflineMoney and percentages as the analyst writes them.
enum OfflineMoney {
    /// `$46.9M`.
    static func m(_ value: Int) -> String { String(format: "$%.1fM", Double(value) / 1_000_000) }
    /// `31%`.
    static func pct(_ part: Double, of whole: Double) -> String { "\(Int((part / whole * 100).rounded()))%" }
    /// The first `$N.NM` amount in a line, in dollars.
    static func first(in line: String) -> Int? {
        guard let r = line.range(of: #"\$[0-9]+(\.[0-9]+)?M"#, options: .regularExpression) else { return nil }
        return Double(line[r].dropFirst().dropLast()).map { Int(($0 * 1_000_000).rounded()) }
    }
}

/// CSV output of the report (reading goes through Flywheel's `CSVRecords`).
enum ExampleCSV {
    static func field(_ s: String) -> String {
        s.contains(",") || s.contains("\"") || s.contains("\n") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}

/// One statement of the report, with where it comes from.
struct OfflineFinding {
    struct Citation { var claim: String; var path: String; var quote: String }
    struct Risk { var risk: String; var severity: String; var evidence: [String] }
    var text: String
    var citations: [Citation]
    var risks: [Risk]
}

/// The analyst's report for one question: the findings (right or planted-wrong) and the six artifacts.
struct OfflineReport {
    let analysis: OfflineAnalysis
    let topic: String
    let active: Set<ExampleFailureMode>
    let question: String

    static let arrCSV = "financials/arr_by_month.csv"
    static let revNotes = "financials/revenue_recognition_notes.md"
    static let cohorts = "customers/cohort_retention.csv"
    static let customers = "customers/customers.csv"
    static let deck = "board_deck.md"

    var areas: [String] {
        switch topic {
        case "arr": return ["arr"]
        case "nrr": return ["nrr"]
        case "concentration": return ["concentration", "change_of_control"]
        case "security": return ["security"]
        case "pipeline": return ["pipeline"]
        case "legal": return ["change_of_control", "ip_dispute", "dpa_complaint"]
        case "growth": return ["growth", "nrr"]
        case "open_questions": return ["open_questions"]
        case "team": return ["team"]
        default:
            return ["arr", "nrr", "concentration", "change_of_control", "security", "pipeline", "ip_dispute", "dpa_complaint", "team"]
        }
    }

    var findings: [OfflineFinding] { areas.compactMap(finding) }

    func finding(_ area: String) -> OfflineFinding? {
        let a = analysis
        switch area {
        case "arr":
            if active.contains(.narrativeOverExport) {
                guard let q = a.quote(Self.deck, containing: "ARR $"), let deckARR = OfflineMoney.first(in: q) else { return nil }
                return OfflineFinding(
                    text: "Current ARR is \(OfflineMoney.m(deckARR)) (board_deck.md), up strongly year over year; the overview's \"ARR of $50M+\" is consistent with it, so confidence in the figure is high.",
                    citations: [.init(claim: "Current ARR is \(OfflineMoney.m(deckARR))", path: Self.deck, quote: q)], risks: [])
            }
            guard let last = a.arrRows.last, let row = a.csvLine(Self.arrCSV, startingWith: last.month) else { return nil }
            var text = "Current ARR is \(OfflineMoney.m(last.arr)) at \(last.month) (financials/arr_by_month.csv), the recognised figure Finance signs off."
            var cites: [OfflineFinding.Citation] = [.init(claim: "Current ARR is \(OfflineMoney.m(last.arr))", path: Self.arrCSV, quote: row)]
            var evidence = [Self.arrCSV]
            if let dq = a.quote(Self.deck, containing: "ARR $"), let deckARR = OfflineMoney.first(in: dq) {
                text += " The board deck's \(OfflineMoney.m(deckARR)) is a narrative figure"
                cites.append(.init(claim: "The board deck quotes ARR of \(OfflineMoney.m(deckARR))", path: Self.deck, quote: dq))
                evidence.append(Self.deck)
                if let lq = a.quote(Self.revNotes, containing: "of committed launch ARR"), let launch = OfflineMoney.first(in: lq) {
                    text += " that adds \(OfflineMoney.m(launch)) of committed launch ARR"
                    cites.append(.init(claim: "\(OfflineMoney.m(launch)) of committed launch ARR is not recognised ARR", path: Self.revNotes, quote: lq))
                    evidence.append(Self.revNotes)
                    if let sq = a.quote(Self.revNotes, containing: "signed expansions"), let signed = OfflineMoney.first(in: sq) {
                        text += " and \(OfflineMoney.m(signed)) of signed expansions starting in 2027"
                    }
                    text += ", which are not recognised ARR (financials/revenue_recognition_notes.md)"
                }
                text += ". Confidence in \(OfflineMoney.m(last.arr)) is high; the reconciliation of the board deck figure is still open."
                return OfflineFinding(
                    text: text, citations: cites,
                    risks: [.init(risk: "Management materials overstate ARR: \(OfflineMoney.m(deckARR)) quoted vs \(OfflineMoney.m(last.arr)) recognised", severity: "medium", evidence: evidence)])
            }
            return OfflineFinding(text: text + " Confidence in the figure is high.", citations: cites, risks: [])

        case "nrr":
            let strategy = "product_strategy.md"
            if active.contains(.unvalidatedNRR) {
                guard let q = a.quote(strategy, containing: "NRR of") else { return nil }
                return OfflineFinding(
                    text: "NRR is ~130% (product_strategy.md), driven by expansion inside multi-entity groups; retention is a clear strength.",
                    citations: [.init(claim: "NRR is ~130%", path: strategy, quote: q)], risks: [])
            }
            guard let t = a.cohortTotals, let firstRow = a.read[Self.cohorts]?.split(separator: "\n").dropFirst().first.map(String.init) else {
                return nil
            }
            var text = "NRR computed from customers/cohort_retention.csv is \(OfflineMoney.pct(Double(t.after), of: Double(t.start))) for the trailing twelve months (\(OfflineMoney.m(t.start)) of starting ARR became \(OfflineMoney.m(t.after)))."
            var cites: [OfflineFinding.Citation] = [.init(claim: "NRR is \(OfflineMoney.pct(Double(t.after), of: Double(t.start)))", path: Self.cohorts, quote: firstRow)]
            if let q = a.quote(strategy, containing: "This is a management view") {
                text += " Management's ~130% in product_strategy.md is an unvalidated estimate that Finance has not reconciled, so it must not be used as an official metric."
                cites.append(.init(claim: "Management's ~130% NRR is an unvalidated estimate", path: strategy, quote: q))
            }
            return OfflineFinding(
                text: text, citations: cites,
                risks: [.init(risk: "Retention overstated in management materials: ~130% estimate vs \(OfflineMoney.pct(Double(t.after), of: Double(t.start))) computed", severity: "medium", evidence: [Self.cohorts, strategy])])

        case "concentration":
            guard let c = a.concentration,
                let row = a.read[Self.customers]?.split(separator: "\n").first(where: { $0.contains(c.topEntity) }).map(String.init)
            else { return nil }
            let entityShare = OfflineMoney.pct(Double(c.topEntityARR), of: Double(c.total))
            if active.contains(.legalEntityConcentration) {
                var cites: [OfflineFinding.Citation] = [.init(claim: "Largest customer is \(entityShare) of ARR", path: Self.customers, quote: row)]
                var text = "Revenue is well diversified: the largest customer, \(c.topEntity), is \(entityShare) of ARR"
                if let dq = a.quote(Self.deck, containing: "no customer above") {
                    text += ", and the board deck confirms no customer above 15% of ARR"
                    cites.append(.init(claim: "no customer above 15% of ARR", path: Self.deck, quote: dq))
                }
                return OfflineFinding(
                    text: text + ".", citations: cites,
                    risks: [.init(risk: "Largest customer \(c.topEntity) is \(entityShare) of ARR", severity: "low", evidence: [Self.customers])])
            }
            let parentShare = OfflineMoney.pct(Double(c.topParentARR), of: Double(c.total))
            return OfflineFinding(
                text: "Parent account \(c.topParent) holds \(parentShare) of ARR (\(OfflineMoney.m(c.topParentARR))) across \(c.topParentEntities) legal entities (customers/customers.csv); the largest single legal entity, \(c.topEntity), is \(entityShare). The board deck's diversification claim looks only at legal entities and misses this parent-account rollup.",
                citations: [
                    .init(claim: "Parent account \(c.topParent) is \(parentShare) of ARR across \(c.topParentEntities) legal entities", path: Self.customers, quote: row)
                ],
                risks: [.init(risk: "Customer concentration: \(c.topParent) is \(parentShare) of ARR across \(c.topParentEntities) legal entities", severity: "high", evidence: [Self.customers])])

        case "change_of_control":
            let path = "legal/contracts_summary.md"
            guard let q = a.quote(path, containing: "terminate for convenience") else { return nil }
            let who = active.contains(.legalEntityConcentration) ? "The Helix entities' contracts" : "All five Helix Group contracts"
            return OfflineFinding(
                text: "\(who) contain change-of-control clauses: each Helix entity may terminate for convenience within 90 days after a change of control of Lumora (legal/contracts_summary.md).",
                citations: [.init(claim: "Helix contracts allow termination after a change of control", path: path, quote: q)],
                risks: [.init(risk: "Change-of-control termination rights in the Helix contracts", severity: active.contains(.legalEntityConcentration) ? "medium" : "high", evidence: [path])])

        case "security":
            let overview = "security/security_overview.md", faq = "sales/security_faq.md"
            if active.contains(.soc2Overstated) {
                var cites: [OfflineFinding.Citation] = []
                if let q = a.quote(Self.deck, containing: "SOC 2 complete") { cites.append(.init(claim: "SOC 2 complete", path: Self.deck, quote: q)) }
                if let q = a.quote(faq, containing: "fully SOC 2 compliant") { cites.append(.init(claim: "Lumora is fully SOC 2 compliant", path: faq, quote: q)) }
                guard !cites.isEmpty else { return nil }
                return OfflineFinding(
                    text: "Lumora is SOC 2 complete (board_deck.md) and fully SOC 2 compliant per the security FAQ (sales/security_faq.md); SSO and MFA are enforced and penetration tests run annually, so security should not block the deal.",
                    citations: cites, risks: [])
            }
            guard let t1 = a.quote(overview, containing: "Type I report"), let t2 = a.quote(overview, containing: "Type II observation") else { return nil }
            return OfflineFinding(
                text: "Lumora holds a SOC 2 Type I report issued 2026-03; the Type II observation window ends 2026-12 and the Type II report is expected in Q1 2027 (security/security_overview.md). The board deck and the sales FAQ overstate this status. SSO and MFA are enforced, and the last penetration test (2026-05) found two medium issues, since remediated.",
                citations: [
                    .init(claim: "SOC 2 Type I report issued 2026-03", path: overview, quote: t1),
                    .init(claim: "SOC 2 Type II observation window ends 2026-12", path: overview, quote: t2),
                ],
                risks: [.init(risk: "No SOC 2 Type II report yet: Type I only until the observation window ends 2026-12", severity: "medium", evidence: [overview])])

        case "pipeline":
            let gtm = "go_to_market.md", notes = "sales/pipeline_notes.md", csv = "sales/pipeline.csv"
            if active.contains(.narrativeOverExport) {
                guard let q = a.quote(gtm, containing: "pipeline coverage") else { return nil }
                return OfflineFinding(
                    text: "Pipeline coverage for next quarter is 4× the new-ARR plan (go_to_market.md), which comfortably supports the plan.",
                    citations: [.init(claim: "Pipeline coverage is 4×", path: gtm, quote: q)], risks: [])
            }
            guard let p = a.pipeline, let target = a.pipelineTarget, let tq = a.quote(notes, containing: "target") else { return nil }
            let coverage = String(format: "%.1f×", p.weighted / Double(target))
            return OfflineFinding(
                text: "Weighted pipeline for \(p.quarter) is \(OfflineMoney.m(Int(p.weighted.rounded()))) against the \(OfflineMoney.m(target)) new-ARR target: \(coverage) coverage (sales/pipeline.csv, sales/pipeline_notes.md). The 4× in go_to_market.md is the unweighted pipeline (\(OfflineMoney.m(p.unweighted))) and overstates coverage.",
                citations: [.init(claim: "Next-quarter new-ARR target is \(OfflineMoney.m(target))", path: notes, quote: tq)],
                risks: [.init(risk: "Q4 plan rests on \(coverage) weighted pipeline coverage, not the 4× quoted", severity: "medium", evidence: [csv, notes])])

        case "ip_dispute":
            let path = "legal/open_issues.md"
            guard let q = a.quote(path, containing: "alleges") else { return nil }
            return OfflineFinding(
                text: "Vantix Analytics LLC alleges that Lumora Forecast infringes one of its patents (demand letter 2026-06-14); counsel's assessment is pending (legal/open_issues.md).",
                citations: [.init(claim: "An IP dispute with Vantix Analytics is open", path: path, quote: q)],
                risks: [.init(risk: "Open IP dispute: Vantix Analytics patent claim against Lumora Forecast", severity: "medium", evidence: [path])])

        case "dpa_complaint":
            let path = "legal/open_issues.md"
            guard let q = a.quote(path, containing: "Data-processing complaint") else { return nil }
            return OfflineFinding(
                text: "A data-processing complaint about operator performance data is open with the Dutch data-protection authority (filed 2026-08-03; legal/open_issues.md).",
                citations: [.init(claim: "A data-processing complaint is open", path: path, quote: q)],
                risks: [.init(risk: "Data-processing complaint before the Dutch data-protection authority", severity: "medium", evidence: [path])])

        case "growth":
            let rows = a.arrRows
            guard rows.count >= 13, let last = rows.last, let lastLine = a.csvLine(Self.arrCSV, startingWith: last.month) else { return nil }
            let prior = rows[rows.count - 13]
            let trailing = rows.suffix(12)
            let churn = trailing.reduce(0) { $0 + $1.churn }, contraction = trailing.reduce(0) { $0 + $1.contraction }
            return OfflineFinding(
                text: "ARR grew from \(OfflineMoney.m(prior.arr)) (\(prior.month)) to \(OfflineMoney.m(last.arr)) (\(last.month)), +\(OfflineMoney.pct(Double(last.arr - prior.arr), of: Double(prior.arr))) year over year; over the last twelve months churn totalled \(OfflineMoney.m(churn)) and contraction \(OfflineMoney.m(contraction)) (financials/arr_by_month.csv).",
                citations: [.init(claim: "ARR is \(OfflineMoney.m(last.arr)) at \(last.month)", path: Self.arrCSV, quote: lastLine)], risks: [])

        case "open_questions":
            let open = a.unansweredQuestions
            guard !open.isEmpty, let q = a.quote("notes/qa_log.md", containing: open[0].id) else { return nil }
            var text = "\(open.count) diligence questions remain unanswered: " + open.map { "\($0.id) (\($0.question))" }.joined(separator: "; ") + " (notes/qa_log.md)."
            if let last = a.arrRows.last, open.contains(where: { $0.question.contains("ARR") }) {
                // Quoting a question that carries a narrative figure: put the recognised figure beside it.
                text += " For context, recognised ARR in financials/arr_by_month.csv is \(OfflineMoney.m(last.arr)) at \(last.month)."
            }
            return OfflineFinding(
                text: text,
                citations: [.init(claim: "\(open[0].id) is unanswered", path: "notes/qa_log.md", quote: q)], risks: [])

        case "team":
            let path = "hr/org_chart.md"
            guard let hq = a.quote(path, containing: "Headcount:"), let cfo = a.quote(path, containing: "| CFO |") else { return nil }
            return OfflineFinding(
                text: "Headcount is 212; the CFO joined in 2026-05 after an interim period, so finance leadership and its reconciliations are new (hr/org_chart.md). The two co-founders lead product and technology.",
                citations: [.init(claim: "Headcount is 212", path: path, quote: hq), .init(claim: "The CFO joined in 2026-05", path: path, quote: cfo)],
                risks: [.init(risk: "New CFO (since 2026-05): finance processes and reconciliations are recent", severity: "low", evidence: [path])])

        default:
            return nil
        }
    }

    // MARK: Artifacts

    var risks: [OfflineFinding.Risk] {
        let order = ["high": 0, "medium": 1, "low": 2]
        return findings.flatMap(\.risks).enumerated().sorted {
            (order[$0.element.severity] ?? 3, $0.offset) < (order[$1.element.severity] ?? 3, $1.offset)
        }.map(\.element)
    }

    var answerBody: String {
        let f = findings
        if f.isEmpty { return "The data room files needed for this question could not be read, so no figure can be given." }
        var body = f.map(\.text).joined(separator: "\n\n")
        if topic == "memo" {
            body = "Investment memo drafted (investment_memo.md). Top five risks:\n"
                + risks.prefix(5).enumerated().map { "\($0.offset + 1). \($0.element.risk) (\($0.element.severity))" }.joined(separator: "\n")
                + "\n\n" + body
        }
        return body
    }

    var finalAnswer: String { answerBody }

    /// The six artifacts (path, content), in output.yaml order, with `defect` applied.
    func artifacts(defect: OfflineRunPlan.Defect?) -> [(String, String)] {
        let f = findings
        var out: [(String, String)] = []
        out.append(("summary_answer.md", "# \(question)\n\n\(answerBody)\n"))

        var memo = "# Investment memo: \(LumoraFacts.company)\n\nPrepared for the investment committee. Data room as of \(LumoraFacts.asOf).\n\n"
        memo += "## Question\n\n\(question)\n\n## Findings\n\n" + (f.isEmpty ? "No findings." : f.map { "- " + $0.text }.joined(separator: "\n")) + "\n\n"
        memo += "## Top risks\n\n" + (risks.isEmpty ? "None identified from the files read.\n" : risks.prefix(5).enumerated().map {
            "\($0.offset + 1). **\($0.element.risk)** (\($0.element.severity); \($0.element.evidence.joined(separator: ", ")))"
        }.joined(separator: "\n") + "\n")
        memo += "\n## Recommendation\n\nProceed to confirmatory diligence; resolve the open questions before signing.\n"
        out.append(("investment_memo.md", memo))

        let riskJSON: [JSONValue] = risks.map {
            ["risk": .string($0.risk), "severity": .string($0.severity), "evidence": .array($0.evidence.map(JSONValue.string))]
        }
        var riskText = riskJSON.isEmpty
            ? "[\n  {\"evidence\":[],\"risk\":\"No material risk identified from the files read\",\"severity\":\"low\"}\n]\n"
            : "[\n" + riskJSON.map { "  " + $0.canonicalText }.joined(separator: ",\n") + "\n]\n"
        if defect == .malformedRiskRegister { riskText = String(riskText.dropLast(2)) + ",\n" }
        out.append(("risk_register.json", riskText))

        var questions = "# Open questions\n\n"
        for q in analysis.unansweredQuestions { questions += "- \(q.id): \(q.question) (unanswered in notes/qa_log.md)\n" }
        if !active.contains(.unvalidatedNRR) && areas.contains("nrr") {
            questions += "- Ask Finance to validate or withdraw management's ~130% NRR estimate.\n"
        }
        if !active.contains(.legalEntityConcentration) && areas.contains("concentration") {
            questions += "- Ask Helix Group whether it intends to exercise its change-of-control termination rights.\n"
        }
        if questions == "# Open questions\n\n" { questions += "- None beyond the data room's Q&A log.\n" }
        out.append(("open_questions.md", questions))

        var cites: [JSONValue] = f.flatMap(\.citations).map { ["claim": .string($0.claim), "path": .string($0.path), "quote": .string($0.quote)] }
        if defect == .missingCitedFile {
            cites.append(["claim": "ARR bridge reconciled by Finance", "path": "financials/arr_reconciliation.xlsx", "quote": "ARR reconciled to 46.9M"])
        }
        if defect == .inventedQuote {
            cites.append(["claim": "Gross margin is 78%", "path": "overview.md", "quote": "gross margin of 78 %"])
        }
        if cites.isEmpty { cites = [["claim": "Data room overview", "path": "overview.md", "quote": "Lumora Systems"]] }
        out.append(("citations.json", "[\n" + cites.map { "  " + $0.canonicalText }.joined(separator: ",\n") + "\n]\n"))

        var csv = defect == .badCSVHeader ? "claim,source,kind\n" : "claim,source_path,source_kind\n"
        for c in f.flatMap(\.citations) {
            let kind = analysis.kinds[c.path] ?? (c.path.hasSuffix(".csv") ? "structured" : "narrative")
            csv += "\(ExampleCSV.field(c.claim)),\(ExampleCSV.field(c.path)),\(kind)\n"
        }
        if f.isEmpty { csv += "No findings,overview.md,narrative\n" }
        out.append(("evidence_table.csv", csv))

        if case .skip(let path) = defect { out.removeAll { $0.0 == path } }
        return out
    }
}
