import Foundation
import GitStore
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelExample
@testable import FlywheelTraces

/// Diagnosis from feedback and gate results with the example's topics (its rules file), outcome tracking, and patches.
@Suite struct ExampleDiagnosisTests {
    static let rules = try! ProjectRules.parse(ExampleScaffold.text("rules.yaml"), file: "rules.yaml")

    static func fb(_ id: String, _ trace: String, _ category: String, _ severity: FeedbackRecord.Severity, _ observation: String, source: FeedbackRecord.Source = .human) -> FeedbackRecord {
        FeedbackRecord(feedbackID: id, traceID: trace, source: source, author: "finance-lead", category: category, severity: severity,
                       observation: observation, createdAt: "2026-09-30T12:00:00Z")
    }

    static let feedback = [
        fb("fb-conc", "t3", "concentration", .high, "The parent-account rollup matters more than legal-entity concentration."),
        fb("fb-nrr", "t2", "metric-validation", .high, "Management's NRR estimate must not become an official metric."),
        fb("fb-soc", "t4", "security", .medium, "\"SOC 2 complete\" is too vague when the evidence supports Type I only."),
        fb("fb-arr", "t1", "narrative-over-structured", .high, "ARR $52.0M quoted from the board deck.", source: .rule),
        fb("fb-arr5", "t5", "narrative-over-structured", .high, "ARR $52.0M quoted from the board deck.", source: .rule),
        fb("fb-art", "t5", "artifact-missing", .high, "Missing open_questions.md", source: .rule),
    ]

    static let results = [
        ResultRowFacts(evalID: "fb-arr-1", traceID: "t1", feedbackID: "fb-arr", status: .fail),
        ResultRowFacts(evalID: "fb-arr5-1", traceID: "t5", feedbackID: "fb-arr5", status: .fail),
        ResultRowFacts(evalID: "fb-nrr-1", traceID: "t2", feedbackID: "fb-nrr", status: .fail),
        ResultRowFacts(evalID: "fb-conc-1", traceID: "t3", feedbackID: "fb-conc", status: .fail),
        ResultRowFacts(evalID: "fb-soc-1", traceID: "t4", feedbackID: "fb-soc", status: .pass),
        ResultRowFacts(evalID: "fb-soc-2", traceID: "t4", feedbackID: "fb-soc", status: .skipped, reason: "Skipped: no judge"),
        ResultRowFacts(evalID: "old-1", traceID: "t1", category: "tone", status: .pass),
    ]

    static let harnessV1 = HarnessFiles(files: [
        "harness/instructions.md": "You are a diligence analyst.\n- Cite every figure.\n",
        "harness/tools.yaml": "tools:\n  - name: read_file\n    enabled: true\n  - name: validate_artifacts\n    enabled: false\n",
    ])

    @Test func feedbackAndEvalsMapToTheExampleRecommendations() throws {
        let d = Diagnoser.diagnose(DiagnosisInput(spans: [], feedback: Self.feedback, results: Self.results, harness: Self.harnessV1, topics: Self.rules.failureTopics), cycle: 1)
        let ids = d.failureModes.map(\.id)
        // Human-reported high-severity findings rank first (tier 1, ties by id); then the rule critic's narrative mode
        // (2 traces, 2 failing evals, high).
        #expect(Array(ids.prefix(3)) == ["fm-concentration-parent-account", "fm-unvalidated-nrr", "fm-structured-over-narrative"])
        #expect(Set(ids) == ["fm-structured-over-narrative", "fm-unvalidated-nrr", "fm-concentration-parent-account", "fm-soc2-precision", "fm-artifacts"])
        let narrative = try #require(d.failureModes.first { $0.id == "fm-structured-over-narrative" })
        #expect(narrative.evalIDs == ["fb-arr-1", "fb-arr5-1"])
        #expect(narrative.feedbackIDs == ["fb-arr", "fb-arr5"])
        #expect(narrative.kind == .missingRequirement)
        // a passing or skipped eval is not counted as failing
        #expect(d.failureModes.first { $0.id == "fm-soc2-precision" }?.evalIDs == [])
        #expect(d.recommendations.first?.id == "rec-parent-account-concentration-prompt")
        let top = try #require(d.recommendations.first { $0.id == "rec-prefer-structured-exports-prompt" })
        #expect(top.rank == 3)
        #expect(top.patch?.file == "harness/instructions.md")
        #expect(top.patch?.append?.contains("Prefer structured exports over narrative documents when figures disagree") == true)
        #expect(top.predictedImpact.evalIDs == ["fb-arr-1", "fb-arr5-1"])
        #expect(top.confidence == .high)
        let nrr = try #require(d.recommendations.first { $0.id == "rec-validated-nrr-prompt" })
        #expect(nrr.patch?.append?.contains("Do not report management's NRR estimate as validated; use finance-validated cohort data") == true)
        #expect(d.recommendations.first { $0.id == "rec-parent-account-concentration-prompt" }?.patch?.append?.contains("Measure customer concentration by parent account, rolling up legal entities") == true)
        #expect(d.recommendations.first { $0.id == "rec-soc2-status-prompt" }?.patch?.append?.contains("State SOC 2 status precisely: Type I report issued, Type II pending") == true)
        #expect(d.recommendations.first { $0.id == "rec-enable-validate-artifacts-tools" }?.patch?.enableTools == ["validate_artifacts"])
        #expect(d.recommendations.map(\.rank) == Array(1...d.recommendations.count))
    }

    @Test func ruleInHarnessMeansPresentButNotFollowed() {
        var h = Self.harnessV1
        h.files["harness/instructions.md"]! += "- Prefer structured exports over narrative documents when figures disagree.\n"
        h.files["harness/tools.yaml"] = "tools:\n  - name: validate_artifacts\n    enabled: true\n"
        let d = Diagnoser.diagnose(DiagnosisInput(spans: [], feedback: Self.feedback, results: Self.results, harness: h, topics: Self.rules.failureTopics), cycle: 2)
        #expect(d.failureModes.first { $0.id == "fm-structured-over-narrative" }?.kind == .presentButNotFollowed)
        #expect(d.failureModes.first { $0.id == "fm-artifacts" }?.kind == .presentButNotFollowed)
        #expect(d.failureModes.first { $0.id == "fm-unvalidated-nrr" }?.kind == .missingRequirement)
    }

    @Test func resultsJSONRows() throws {
        let json = """
            {"evalId":"eval-abc-2026","results":{"version":3,"results":[
              {"testIdx":0,"success":false,"failureReason":1,"error":"Expected output to contain \\"46.9M\\"",
               "testCase":{"vars":{"trace_id":"t1"},"metadata":{"id":"fb-arr-1","feedback_id":"fb-arr","category":"narrative-over-structured","severity":"high"}}},
              {"testIdx":1,"success":false,"failureReason":2,"error":"Skipped: no judge configured","metadata":{"flywheel":{"status":"skipped"}},
               "testCase":{"metadata":{"id":"fb-arr-2"}}},
              {"testIdx":2,"success":true,"testCase":{"vars":{"trace_id":"t2"}}}
            ],"stats":{}}}
            """
        let rows = try ResultRowFacts.rows(fromResultsJSON: Data(json.utf8))
        // A case without metadata.id gets the evals stage's content id (the same id the matrix and the suite use).
        #expect(rows.map(\.evalID).prefix(2) == ["fb-arr-1", "fb-arr-2"])
        #expect(rows[2].evalID.hasPrefix("t-") && rows[2].evalID.count == 18)
        #expect(rows.map(\.status) == [.fail, .skipped, .pass])
        #expect(rows[0].traceID == "t1" && rows[0].severity == .high && rows[0].reason.contains("46.9M"))
        #expect(rows[2].traceID == "t2")
    }

    // MARK: - Outcomes

    static func previous() -> Diagnosis {
        Diagnoser.diagnose(DiagnosisInput(spans: [], feedback: Self.feedback, results: Self.results, harness: Self.harnessV1, topics: Self.rules.failureTopics), cycle: 1)
    }

    static func diffAppending(_ rec: Recommendation) -> HarnessDiff {
        HarnessDiff(files: [HarnessDiff.File(path: rec.patch!.file, addedLines: [rec.patch!.append!])])
    }

    static func status(_ outcomes: [Outcome], _ id: String) -> Outcome? { outcomes.first { $0.recommendationID == id } }

    @Test func verifiedWhenPredictedEvalsFlip() throws {
        let prev = Self.previous()
        let top = try #require(prev.recommendations.first { $0.id == "rec-prefer-structured-exports-prompt" })
        var now = Self.results
        now[0].status = .pass
        now[1].status = .pass
        let outcomes = OutcomeTracker.classify(previous: prev, diff: Self.diffAppending(top), previousResults: Self.results, currentResults: now)
        let o = try #require(Self.status(outcomes, top.id))
        #expect(o.implemented && o.status == .verified)
        #expect(o.flippedToPass == ["fb-arr-1", "fb-arr5-1"])
        #expect(o.fromCycle == 1)
        // the other prompt recommendations were not implemented: the same file changed, but not with their text
        #expect(Self.status(outcomes, "rec-validated-nrr-prompt")?.status == .pending)
        #expect(Self.status(outcomes, "rec-enable-validate-artifacts-tools")?.status == .pending)
    }

    @Test func ineffectiveWhenStillFailing() throws {
        let prev = Self.previous()
        let top = try #require(prev.recommendations.first { $0.id == "rec-prefer-structured-exports-prompt" })
        var now = Self.results
        now[0].status = .pass  // only one of the two flips
        let o = try #require(Self.status(OutcomeTracker.classify(previous: prev, diff: Self.diffAppending(top), previousResults: Self.results, currentResults: now), top.id))
        #expect(o.status == .ineffective)
        #expect(o.flippedToPass == ["fb-arr-1"] && o.stillFailing == ["fb-arr5-1"])
    }

    @Test func regressedWhenPassingEvalsFail() throws {
        let prev = Self.previous()
        let top = try #require(prev.recommendations.first { $0.id == "rec-prefer-structured-exports-prompt" })
        var now = Self.results
        now[0].status = .pass
        now[1].status = .pass
        now[4].status = .fail  // fb-soc-1 passed before
        let o = try #require(Self.status(OutcomeTracker.classify(previous: prev, diff: Self.diffAppending(top), previousResults: Self.results, currentResults: now), top.id))
        #expect(o.status == .regressed)
        #expect(o.regressed == ["fb-soc-1"])
    }

    @Test func pendingWithoutDiffAndToolPatchImplementation() throws {
        let prev = Self.previous()
        let none = OutcomeTracker.classify(previous: prev, diff: HarnessDiff(), previousResults: Self.results, currentResults: Self.results)
        #expect(none.allSatisfy { $0.status == .pending && !$0.implemented })
        #expect(none.count == prev.recommendations.count)
        // enabling validate_artifacts: the added line alone does not name the tool; the new text does
        let rec = try #require(prev.recommendations.first { $0.id == "rec-enable-validate-artifacts-tools" })
        let newText = rec.patch!.apply(to: Self.harnessV1.files["harness/tools.yaml"]!)
        #expect(newText == "tools:\n  - name: read_file\n    enabled: true\n  - name: validate_artifacts\n    enabled: true\n")
        let diff = HarnessDiff(files: [HarnessDiff.File(path: "harness/tools.yaml", addedLines: ["    enabled: true"], newText: newText)])
        #expect(OutcomeTracker.isImplemented(rec, diff: diff))
        let wrong = HarnessDiff(files: [HarnessDiff.File(path: "harness/tools.yaml", addedLines: ["    enabled: true"], newText: Self.harnessV1.files["harness/tools.yaml"]!)])
        #expect(!OutcomeTracker.isImplemented(rec, diff: wrong))
        // no predicted evals: verified when its failure modes are gone from the new diagnosis
        var traceOnly = rec
        traceOnly.predictedImpact.evalIDs = []
        let p2 = Diagnosis(cycle: 1, failureModes: [], recommendations: [traceOnly])
        let gone = OutcomeTracker.classify(previous: p2, diff: diff, previousResults: [], currentResults: [], currentFailureModeIDs: [])
        #expect(gone.first?.status == .verified)
        let still = OutcomeTracker.classify(previous: p2, diff: diff, previousResults: [], currentResults: [], currentFailureModeIDs: ["fm-artifacts"])
        #expect(still.first?.status == .ineffective)
    }

    @Test func patchesApply() {
        let p = HarnessPatch(file: "harness/instructions.md", append: "- Rule one.")
        #expect(p.apply(to: "Intro") == "Intro\n- Rule one.\n")
        #expect(p.apply(to: p.apply(to: "Intro")) == "Intro\n- Rule one.\n")  // idempotent
        let t = HarnessPatch(file: "harness/tools.yaml", enableTools: ["check_citations"])
        #expect(t.apply(to: "check_citations: false\nread_file: true\n") == "check_citations: true\nread_file: true\n")
        #expect(t.apply(to: "tools:\n  check_citations:\n    description: x\n    enabled: false\n") == "tools:\n  check_citations:\n    description: x\n    enabled: true\n")
        #expect(t.apply(to: "tools:\n  - name: read_file\n") == "tools:\n  - name: read_file\n  - name: check_citations\n    enabled: true\n")
        #expect(HarnessFiles(files: ["harness/tools.yaml": t.apply(to: "tools:\n  - name: read_file\n")]).tools == ["read_file": true, "check_citations": true])
    }
}


@Suite struct HarnessDiffFromGitTests {
    @Test func treeDiffBecomesHarnessDiff() throws {
        let dir = TestPaths.scratch("harness-diff")
        defer { try? FileManager.default.removeItem(at: dir) }
        let repo = try Repository.create(at: dir)
        let v1 = ExampleDiagnosisTests.harnessV1.files
        let rec = try #require(ExampleDiagnosisTests.previous().recommendations.first { $0.id == "rec-validated-nrr-prompt" })
        var v2 = v1
        v2["harness/instructions.md"] = rec.patch!.apply(to: v1["harness/instructions.md"]!)
        let t1 = try repo.writeTree(files: v1.mapValues { Data($0.utf8) })
        let t2 = try repo.writeTree(files: v2.mapValues { Data($0.utf8) })
        let diff = HarnessDiff(try repo.diff(from: t1, to: t2))
        #expect(diff.files.map(\.path) == ["harness/instructions.md"])
        #expect(diff.files[0].addedLines == [rec.patch!.append!])
        #expect(OutcomeTracker.isImplemented(rec, diff: diff))
    }
}
