import Foundation
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelSupport

@Suite struct HandoffWriterTests {
    static func context(simulation: Bool = true) -> HandoffContext {
        var d = DiagnosisFeedbackTests.previous()
        d.cycle = 2
        d.outcomes = [Outcome(recommendationID: "rec-refund-window", fromCycle: 1, implemented: true, status: .verified, flippedToPass: ["fb-refund1-1"], note: "Implemented; all 1 predicted eval(s) pass.")]
        var scores = CycleScores()
        scores.passRate = 0.6
        scores.gatePassed = false
        scores.minPassRate = 0.8
        scores.passed = 3
        scores.total = 5
        scores.failed = 2
        var before = CycleScores()
        before.passRate = 0.4
        return HandoffContext(
            cycle: 2, diagnosis: d, scores: scores, previousScores: before, feedback: DiagnosisFeedbackTests.feedback,
            agentModel: simulation ? "support-sim (offline simulation)" : "openai:gpt-4.1-mini", agentIsSimulation: simulation)
    }

    @Test func hasEveryRequiredSection() throws {
        let md = HandoffWriter.render(Self.context())
        try? md.write(to: TestPaths.testOutput.appendingPathComponent("handoff-sample.md"), atomically: true, encoding: .utf8)
        for heading in [
            "## Executive summary", "## What to do", "## Top 3 changes", "## Ranked recommendations", "## Failure modes",
            "## Recommendations by area", "### Prompt", "### Skills", "### Tools", "### Control flow", "### Routing",
            "### Artifact schema", "### Observability", "### Evals", "## Insights by feedback source", "### Human", "### Model",
            "### Rule", "## Outcomes of the previous cycle's recommendations", "## Top priorities (machine-readable)",
        ] {
            #expect(md.contains("\n" + heading + "\n"), "missing \(heading)")
        }
        #expect(md.contains("**FAILED** — pass rate 60.0% (threshold 80.0%); 3/5 cases passed (2 failed)"))
        #expect(md.contains("pass rate 40.0% → 60.0% (+20.0 pp)"))
        #expect(md.contains("Implement **exactly one change**"))
        #expect(md.contains("re-run the gate"))
        #expect(md.contains("support-sim (offline simulation)"))
        #expect(md.contains("| Rank | Recommendation | Impact | Confidence | Effort | Evidence | Validation |"))
        #expect(md.contains("`rec-refund-window` | 1 | yes | verified"))
        #expect(md.contains("`fm-security`"))
        #expect(md.contains("`fb-refund1-1`"))
        // The ranking formula and each mode's numbers.
        #expect(md.contains("Ranked by impact: score = severity_weight × (traces + 2 × failing_evals) × confirmation_factor"))
        #expect(md.contains("| 2 | `fm-security` | 1 | 1 | critical (5) | human (2) | 1 | 30 |"), "\(md)")
        #expect(md.contains("- Impact: 5 × (1 + 2 × 1) × 2 = 30 (tier 1: human-reported, critical)"))
        #expect(!md.contains("Attribution unsure"))
        #expect(md.hasSuffix("```\n"))
    }

    @Test func jsonBlockParses() throws {
        let md = HandoffWriter.render(Self.context())
        let start = try #require(md.range(of: "```json\n", options: .backwards))
        let end = try #require(md.range(of: "\n```", range: start.upperBound..<md.endIndex))
        let json = try JSONValue.parse(String(md[start.upperBound..<end.lowerBound]))
        let items = try #require(json.arrayValue)
        #expect(items.count == 3)
        let d = Self.context().diagnosis
        #expect(items.map { $0["id"]?.stringValue } == d.recommendations.prefix(3).map(\.id))
        for item in items {
            for key in ["id", "title", "area", "change", "validation"] { #expect(item[key]?.stringValue?.isEmpty == false, "\(key)") }
        }
        #expect(items[0]["patch"]?["file"] == "harness/AGENTS.md")
    }

    @Test func deterministicAndLabelsRealModels() {
        #expect(HandoffWriter.render(Self.context()) == HandoffWriter.render(Self.context()))
        let real = HandoffWriter.render(Self.context(simulation: false))
        #expect(!real.contains("offline simulation"))
        #expect(real.contains("`openai:gpt-4.1-mini`"))
    }

    @Test func saysWhenAttributionIsUnsureAndShowsTemplatesAndReplacePatches() {
        var ctx = Self.context()
        ctx.diagnosis.outcomes[0].attributionUnsure = true
        ctx.diagnosis.failureModes[0].templates = [ErrorTemplate(template: "parameter <q> must be <= <n>", count: 3, example: "parameter 'limit' must be <= 25")]
        ctx.diagnosis.recommendations[0].patch = HarnessPatch(file: "harness/AGENTS.md", replace: "- Be polite.", with: "- Be polite; state the policy.")
        let md = HandoffWriter.render(ctx)
        #expect(md.contains("**Attribution unsure:**"))
        #expect(md.contains("| yes (attribution unsure) | verified |"))
        #expect(md.contains("  - 3× `parameter <q> must be <= <n>` — e.g. parameter 'limit' must be <= 25"))
        #expect(md.contains("```diff\n-- Be polite.\n+- Be polite; state the policy.\n```"))
    }

    @Test func untrustedTextCannotBreakTheTable() {
        var ctx = Self.context()
        ctx.diagnosis.recommendations[0].title = "evil | title\nwith newline"
        let md = HandoffWriter.render(ctx)
        #expect(md.contains("evil \\| title with newline"))
        let emptyCtx = HandoffContext(cycle: 1, diagnosis: Diagnosis(cycle: 1, failureModes: [], recommendations: []))
        let empty = HandoffWriter.render(emptyCtx)
        #expect(empty.contains("No recommendation this cycle"))
        #expect(empty.contains("first cycle"))
        #expect(empty.contains("```json\n[\n\n]\n```") || empty.contains("```json\n[]\n```"))
    }
}
