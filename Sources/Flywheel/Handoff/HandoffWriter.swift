import FlywheelSupport
import Foundation

/// What the handoff is written from.
public struct HandoffContext: Sendable {
    public var cycle: Int
    public var diagnosis: Diagnosis
    /// This cycle's scores (pass rate as a fraction, gate verdict, threshold).
    public var scores: CycleScores
    /// The previous cycle's scores, when there is one.
    public var previousScores: CycleScores?
    /// This cycle's feedback (for insights by source).
    public var feedback: [FeedbackRecord]
    /// The agent model's label (e.g. `flywheel-example-model (offline simulation)`).
    public var agentModel: String?
    /// True when the agent model is the offline simulation.
    public var agentIsSimulation: Bool

    public init(
        cycle: Int, diagnosis: Diagnosis, scores: CycleScores = CycleScores(), previousScores: CycleScores? = nil,
        feedback: [FeedbackRecord] = [], agentModel: String? = nil, agentIsSimulation: Bool = false
    ) {
        self.cycle = cycle
        self.diagnosis = diagnosis
        self.scores = scores
        self.previousScores = previousScores
        self.feedback = feedback
        self.agentModel = agentModel
        self.agentIsSimulation = agentIsSimulation
    }
}

/// Renders `handoff.md`: the brief a coding agent (Codex, Claude Code) acts on. Deterministic: the same context
/// gives the same bytes.
public enum HandoffWriter {
    /// Agent model labels containing this word are simulations (a program's offline model), said so in the handoff.
    public static let simulationMarker = "simulation"
    /// How many recommendations the "top" sections and the JSON block carry.
    public static let topCount = 3

    /// The Markdown document, ending with a fenced ```json block of the top priorities.
    public static func render(_ ctx: HandoffContext) -> String {
        let d = ctx.diagnosis
        let recs = d.recommendations.sorted { $0.rank < $1.rank }
        let top = Array(recs.prefix(topCount))
        var md = "# Flywheel handoff — cycle \(ctx.cycle)\n\n"

        if ctx.agentIsSimulation {
            md += "> **Note:** the agent model of this cycle is **\(ctx.agentModel ?? "a simulation")**. Its answers are simulated by a deterministic offline model; the loop, traces, evals and diagnosis are real.\n\n"
        } else if let model = ctx.agentModel {
            md += "Agent model: `\(model)`.\n\n"
        }

        // Executive summary
        md += "## Executive summary\n\n"
        md += "- **Gate:** " + gateLine(ctx.scores) + "\n"
        md += "- **Change since last cycle:** " + changeLine(ctx.scores, ctx.previousScores) + "\n"
        md += "- **Diagnosis:** \(d.failureModes.count) failure mode\(plural(d.failureModes.count)), \(recs.count) recommendation\(plural(recs.count)) (\(d.generatedBy)).\n"
        if let first = d.failureModes.first {
            md += "- **Biggest problem:** \(cell(first.title)) (`\(first.id)`, \(first.traceIDs.count) trace\(plural(first.traceIDs.count)), \(first.evalIDs.count) failing eval\(plural(first.evalIDs.count))).\n"
        }
        let verified = d.outcomes.filter { $0.status == .verified }.count
        if !d.outcomes.isEmpty {
            md += "- **Previous recommendations:** \(verified) verified, \(d.outcomes.filter { $0.status == .ineffective }.count) ineffective, \(d.outcomes.filter { $0.status == .regressed }.count) regressed, \(d.outcomes.filter { $0.status == .pending }.count) pending.\n"
            if d.attributionUnsure {
                md += "- **Attribution unsure:** the harness diff since the previous cycle made more than one change (or changed what no recommendation asked), so these outcomes cannot be pinned on a single change. One change per cycle is the loop's rule.\n"
            }
        }
        md += "\n"

        // Instruction
        md += "## What to do\n\n"
        if let first = top.first {
            md += "Implement **exactly one change**: recommendation #1, **\(cell(first.title))** (`\(first.id)`). Then re-run the gate (`flywheel loop`, or `flywheel run` followed by `flywheel evals run`) and compare the results with this cycle before making any other change.\n\n"
            if let patch = first.patch { md += "Machine-applicable patch for `\(patch.file)`:\n\n" + patchBlock(patch) + "\n" }
        } else {
            md += "No recommendation this cycle. Implement no change; re-run the gate to confirm the result is stable.\n\n"
        }

        // Top three
        md += "## Top \(topCount) changes\n\n"
        if top.isEmpty { md += "None.\n\n" }
        for r in top {
            md += "\(r.rank). **\(cell(r.title))** (`\(r.id)`, \(r.area.rawValue)) — \(cell(r.change))\n   - Validation: \(cell(r.validation))\n"
        }
        if !top.isEmpty { md += "\n" }

        // Ranked table
        md += "## Ranked recommendations\n\n"
        md += "| Rank | Recommendation | Impact | Confidence | Effort | Evidence | Validation |\n"
        md += "|---:|---|---|---|---|---|---|\n"
        for r in recs {
            var seenRefs = Set<String>()
            let ev = r.evidence.map { e in [e.traceID, e.spanID, e.evalID].compactMap { $0 }.filter { !$0.isEmpty }.map { "`\($0)`" }.joined(separator: " ") }
                .filter { !$0.isEmpty && seenRefs.insert($0).inserted }.prefix(3).joined(separator: "; ")
            md += "| \(r.rank) | \(cell(r.title)) (`\(r.id)`) | \(cell(r.predictedImpact.summary)) | \(r.confidence.rawValue) | \(r.effort.rawValue) | \(ev.isEmpty ? "—" : ev) | \(cell(r.validation)) |\n"
        }
        if recs.isEmpty { md += "| — | none | — | — | — | — | — |\n" }
        md += "\n"

        // Failure modes
        md += "## Failure modes\n\n"
        if d.failureModes.isEmpty { md += "None found.\n\n" }
        if let ranking = d.ranking, !d.failureModes.isEmpty {
            let weights = FeedbackRecord.Severity.allCases.map { "\($0.rawValue) \(number(ranking.severityWeights[$0.rawValue] ?? $0.weight))" }.joined(separator: ", ")
            let factors = ["human", "model", "heuristic"].map { "\($0) \(number(ranking.confirmationFactors[$0] ?? 1))" }.joined(separator: ", ")
            md += "Ranked by impact: \(cell(ranking.formula)). Severity weights: \(weights); confirmation factors: \(factors).\n\n"
            md += "| # | Failure mode | Traces | Failing evals | Severity (weight) | Confirmation (factor) | Tier | Score |\n"
            md += "|---:|---|---:|---:|---|---|---:|---:|\n"
            for (i, fm) in d.failureModes.enumerated() {
                guard let x = fm.impact else {
                    md += "| \(i + 1) | `\(fm.id)` | \(fm.traceIDs.count) | \(fm.evalIDs.count) | — | — | — | — |\n"
                    continue
                }
                md += "| \(i + 1) | `\(fm.id)` | \(x.traces) | \(x.failingEvals) | \(x.severity.rawValue) (\(number(x.severityWeight))) | \(x.confirmation.rawValue) (\(number(x.confirmationFactor))) | \(x.tier) | \(number(x.score)) |\n"
            }
            md += "\n"
        }
        for (i, fm) in d.failureModes.enumerated() {
            md += "### \(i + 1). \(cell(fm.title)) (`\(fm.id)`)\n\n"
            md += "- Kind: \(fm.kind.rawValue); category: `\(fm.category)`; count: \(fm.count)"
            if let share = fm.traceShare { md += "; \(String(format: "%.1f", share * 100))% of traces" }
            md += "\n"
            if let x = fm.impact {
                md += "- Impact: \(number(x.severityWeight)) × (\(x.traces) + 2 × \(x.failingEvals)) × \(number(x.confirmationFactor)) = \(number(x.score))" + (x.tier > 0 ? " (tier 1: human-reported, \(x.severity.rawValue))" : "") + "\n"
            }
            if let templates = fm.templates, !templates.isEmpty {
                md += "- Message templates:\n"
                for t in templates.prefix(6) { md += "  - \(t.count)× `\(code(t.template))` — e.g. \(cell(t.example))\n" }
                if templates.count > 6 { md += "  - … and \(templates.count - 6) more\n" }
            }
            md += "- Traces: \(ids(fm.traceIDs))\n"
            md += "- Spans: \(ids(fm.spanIDs))\n"
            md += "- Evals: \(ids(fm.evalIDs))\n"
            md += "- Feedback: \(ids(fm.feedbackIDs))\n"
            if !fm.evidence.isEmpty {
                md += "- Evidence:\n"
                for e in fm.evidence.prefix(5) {
                    let where_ = [("trace", e.traceID), ("span", e.spanID), ("eval", e.evalID)].compactMap { k, v in v.flatMap { $0.isEmpty ? nil : "\(k) `\($0)`" } }.joined(separator: ", ")
                    md += "  - \(where_.isEmpty ? "" : where_ + ": ")\(cell(e.note))\n"
                }
                if fm.evidence.count > 5 { md += "  - … and \(fm.evidence.count - 5) more\n" }
            }
            md += "\n"
        }

        // By area
        md += "## Recommendations by area\n\n"
        for area in Recommendation.Area.allCases {
            md += "### \(area.heading)\n\n"
            let inArea = recs.filter { $0.area == area }
            if inArea.isEmpty { md += "No recommendation in this area.\n\n"; continue }
            for r in inArea {
                md += "#### \(r.rank). \(cell(r.title)) (`\(r.id)`)\n\n"
                md += "- Change: \(cell(r.change))\n"
                md += "- Predicted impact: \(cell(r.predictedImpact.summary)) Evals: \(ids(r.predictedImpact.evalIDs)). Traces: \(ids(r.predictedImpact.traceIDs)).\n"
                md += "- Confidence: \(r.confidence.rawValue); effort: \(r.effort.rawValue)\n"
                md += "- Failure modes: \(ids(r.failureModeIDs))\n"
                md += "- Validation: \(cell(r.validation))\n"
                if let patch = r.patch { md += "- Patch (`\(patch.file)`):\n\n" + patchBlock(patch, indent: "  ") }
                md += "\n"
            }
        }

        // Insights by source
        md += "## Insights by feedback source\n\n"
        for source in FeedbackRecord.Source.allCases {
            let records = FeedbackStore.sorted(ctx.feedback.filter { $0.source == source })
            md += "### \(source.rawValue.capitalized)\n\n"
            if records.isEmpty { md += "No \(source.rawValue) feedback this cycle.\n\n"; continue }
            var byCategory: [String: Int] = [:]
            for r in records { byCategory[r.category, default: 0] += 1 }
            let cats = byCategory.sorted { $0.value != $1.value ? $0.value > $1.value : byteOrder($0.key, $1.key) }
                .map { "`\($0.key)` (\($0.value))" }.joined(separator: ", ")
            let authors = Set(records.map(\.author)).sorted(by: byteOrder).map { "`\($0)`" }.joined(separator: ", ")
            md += "\(records.count) record\(plural(records.count)) from \(authors). Categories: \(cats).\n\n"
            for r in records.sorted(by: { $0.severity != $1.severity ? $0.severity > $1.severity : byteOrder($0.feedbackID, $1.feedbackID) }).prefix(3) {
                md += "- [\(r.severity.rawValue)] \(cell(r.observation)) (trace `\(r.traceID)`, `\(r.feedbackID)`)\n"
            }
            md += "\n"
        }

        // Outcomes
        md += "## Outcomes of the previous cycle's recommendations\n\n"
        if d.outcomes.isEmpty {
            md += "No previous recommendations to track.\n\n"
        } else {
            md += "| Recommendation | From cycle | Implemented | Status | Flipped to pass | Still failing | Regressed | Note |\n"
            md += "|---|---:|---|---|---|---|---|---|\n"
            for o in d.outcomes {
                md += "| `\(o.recommendationID)` | \(o.fromCycle) | \(o.implemented ? (o.attributionUnsure ? "yes (attribution unsure)" : "yes") : "no") | \(o.status.rawValue) | \(ids(o.flippedToPass)) | \(ids(o.stillFailing)) | \(ids(o.regressed)) | \(cell(o.note)) |\n"
            }
            md += "\n"
        }

        // JSON
        md += "## Top priorities (machine-readable)\n\n```json\n" + priorityJSON(top) + "\n```\n"
        return md
    }

    /// The JSON of the top priorities: an array of {id, title, area, change, validation, patch}.
    public static func priorityJSON(_ recs: [Recommendation]) -> String {
        struct Priority: Encodable {
            var rank: Int
            var id, title, area, change, validation: String
            var patch: HarnessPatch?
        }
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let items = recs.map { Priority(rank: $0.rank, id: $0.id, title: $0.title, area: $0.area.rawValue, change: $0.change, validation: $0.validation, patch: $0.patch) }
        let data = (try? e.encode(items)) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func gateLine(_ s: CycleScores) -> String {
        let verdict = s.gatePassed.map { $0 ? "PASSED" : "FAILED" } ?? "not run"
        var line = "**\(verdict)**"
        if let rate = s.passRate {
            line += " — pass rate \(percent(rate))"
            if let min = s.minPassRate { line += " (threshold \(percent(min)))" }
        }
        if let passed = s.passed, let total = s.total {
            line += "; \(passed)/\(total) cases passed"
            let extra = [s.failed.map { "\($0) failed" }, s.errors.map { "\($0) errors" }, s.skipped.map { "\($0) skipped" }].compactMap { $0 }
            if !extra.isEmpty { line += " (\(extra.joined(separator: ", ")))" }
        }
        return line + "."
    }

    static func changeLine(_ now: CycleScores, _ before: CycleScores?) -> String {
        guard let before else { return "first cycle (no previous results)." }
        guard let a = before.passRate, let b = now.passRate else { return "not comparable (a pass rate is missing)." }
        let delta = (b - a) * 100
        let sign = delta > 0.0005 ? "+" : ""
        var s = "pass rate \(percent(a)) → \(percent(b)) (\(sign)\(String(format: "%.1f", delta)) pp)"
        if let sa = before.suiteSize, let sb = now.suiteSize { s += "; suite \(sa) → \(sb) cases" }
        return s + "."
    }

    /// A number without a trailing `.0` (`3`, `1.5`, `30`).
    static func number(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(format: "%.2f", v).replacingOccurrences(of: #"0+$"#, with: "", options: .regularExpression)
    }

    /// Text for an inline code span: one line, no backticks.
    static func code(_ text: String) -> String { cell(text).replacingOccurrences(of: "`", with: "'") }

    static func percent(_ fraction: Double) -> String { String(format: "%.1f%%", fraction * 100) }
    static func plural(_ n: Int) -> String { n == 1 ? "" : "s" }

    /// Untrusted text made safe for a table cell / list item: one line, pipes escaped.
    static func cell(_ text: String) -> String {
        text.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
            .replacingOccurrences(of: "|", with: "\\|").trimmingCharacters(in: .whitespaces)
    }

    static func ids(_ list: [String], max: Int = 12) -> String {
        if list.isEmpty { return "—" }
        var s = list.prefix(max).map { "`\($0)`" }.joined(separator: ", ")
        if list.count > max { s += " … and \(list.count - max) more" }
        return s
    }

    static func patchBlock(_ p: HarnessPatch, indent: String = "") -> String {
        var body = ""
        var lang = p.file.hasSuffix(".yaml") || p.file.hasSuffix(".yml") ? "yaml" : "markdown"
        if let find = p.replace, !find.isEmpty {
            // A replacement reads best as a diff; an append in the same patch becomes added lines.
            lang = "diff"
            body += find.split(separator: "\n", omittingEmptySubsequences: false).map { "-" + $0 + "\n" }.joined()
            body += (p.with ?? "").split(separator: "\n", omittingEmptySubsequences: false).map { "+" + $0 + "\n" }.joined()
            if let a = p.append { body += a.split(separator: "\n").map { "+" + $0 + "\n" }.joined() }
        } else if let a = p.append {
            body += a.hasSuffix("\n") ? a : a + "\n"
        }
        if let tools = p.enableTools, !tools.isEmpty { body += tools.map { "# enable tool: \($0)\n" }.joined() }
        let fence = body.contains("```") ? "~~~~" : "```"
        return indent + fence + lang + "\n" + body.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { indent + $0 }.joined(separator: "\n") + "\n" + indent + fence + "\n"
    }
}
