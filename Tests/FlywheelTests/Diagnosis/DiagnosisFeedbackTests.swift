import Foundation
import GitStore
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelTraces

/// Diagnosis from feedback and gate results for a non-example agent (a customer-support bot with its own categories
/// and one project topic), ranking, outcome tracking and patches.
@Suite struct DiagnosisFeedbackTests {
    static func fb(_ id: String, _ trace: String, _ category: String, _ severity: FeedbackRecord.Severity, _ observation: String, source: FeedbackRecord.Source = .human) -> FeedbackRecord {
        FeedbackRecord(feedbackID: id, traceID: trace, source: source, author: "support-lead", category: category, severity: severity,
                       observation: observation, createdAt: "2026-09-30T12:00:00Z")
    }

    static let feedback = [
        fb("fb-takeover", "t3", "security", .critical, "The bot changed the account email without verifying identity (account takeover)."),
        fb("fb-refund1", "t1", "refund-policy", .high, "Refund approved 45 days after delivery; the window is 30 days."),
        fb("fb-refund2", "t2", "refund-policy", .high, "Approved a refund outside the return window."),
        fb("fb-tone", "t4", "tone", .low, "A bit curt with the customer.", source: .model),
        fb("fb-tone5", "t5", "tone", .low, "Short, impersonal reply.", source: .rule),
    ]

    static let results = [
        ResultRowFacts(evalID: "fb-refund1-1", traceID: "t1", feedbackID: "fb-refund1", status: .fail),
        ResultRowFacts(evalID: "fb-refund2-1", traceID: "t2", feedbackID: "fb-refund2", status: .fail),
        ResultRowFacts(evalID: "fb-takeover-1", traceID: "t3", feedbackID: "fb-takeover", status: .fail),
        ResultRowFacts(evalID: "fb-tone-1", traceID: "t4", feedbackID: "fb-tone", status: .pass),
        ResultRowFacts(evalID: "fb-tone-2", traceID: "t4", feedbackID: "fb-tone", status: .skipped, reason: "Skipped: no judge"),
        ResultRowFacts(evalID: "gen-1", traceID: "t6", category: "escalation", status: .fail, reason: "Expected output to contain \"ticket\"", metric: "icontains"),
        ResultRowFacts(evalID: "gen-2", traceID: "t7", category: "escalation", status: .fail, reason: "Expected output to contain \"ticket\"", metric: "icontains"),
        ResultRowFacts(evalID: "old-1", traceID: "t1", category: "greeting", status: .pass),
    ]

    static let harnessV1 = HarnessFiles(files: [
        "harness/AGENTS.md": "You are a customer-support agent for an online shop.\n- Be polite.\n",
        "harness/tools.yaml": "tools:\n  - name: lookup_order\n    enabled: true\n  - name: issue_refund\n    enabled: true\n",
        "harness/notes/faq.md": String(repeating: "Shipping takes 3 days.\n", count: 40),
    ])

    /// The project's own topic, as its rules file would give it.
    static let refundTopic = FailureTopic(
        id: "refund-window", title: "Refunds approved outside the return window", category: "refund-policy", categories: ["refund_policy"],
        keywords: ["refund"], severity: .high, hasRule: FailureTopic.ruleCheck(file: "harness/AGENTS.md", substrings: ["refund", "30 days"]),
        recommendation: RecommendationTemplate(
            id: "rec-refund-window", title: "State the refund window", area: .prompt, change: "Add the 30-day refund rule to harness/AGENTS.md.",
            patch: HarnessPatch(file: "harness/AGENTS.md", append: "- Approve refunds only within 30 days of delivery."),
            validation: "Re-run the gate: the refund-policy cases pass."))

    static func diagnose(_ harness: HarnessFiles = harnessV1, feedback: [FeedbackRecord] = feedback, spans: [Span] = []) -> Diagnosis {
        Diagnoser.diagnose(DiagnosisInput(spans: spans, feedback: feedback, results: Self.results, harness: harness, topics: [refundTopic]), cycle: 1)
    }

    @Test func feedbackGroupsByTheProjectsOwnCategoriesAndTopics() throws {
        let d = Self.diagnose()
        let ids = d.failureModes.map(\.id)
        #expect(Set(ids) == ["fm-security", "fm-refund-window", "fm-tone", "fm-eval-escalation-icontains"], "\(ids)")
        // The project topic took both refund records (category spelled with `-` vs `_` alike).
        let refund = try #require(d.failureModes.first { $0.id == "fm-refund-window" })
        #expect(refund.title == "Refunds approved outside the return window")
        #expect(refund.traceIDs == ["t1", "t2"] && refund.evalIDs == ["fb-refund1-1", "fb-refund2-1"])
        #expect(refund.kind == .missingRequirement)
        // A category no topic takes is its own mode, titled from the category and the reviewer's words.
        let security = try #require(d.failureModes.first { $0.id == "fm-security" })
        #expect(security.title == "security: The bot changed the account email without verifying identity (account takeover).")
        #expect(security.traceIDs == ["t3"] && security.feedbackIDs == ["fb-takeover"])
        #expect(security.evidence.contains { $0.quote?.contains("account takeover") == true })
        let secRec = try #require(d.recommendations.first { $0.failureModeIDs == ["fm-security"] })
        #expect(secRec.targetFile == "harness/AGENTS.md" && secRec.patch == nil)
        #expect(secRec.change.contains("`harness/AGENTS.md`") && secRec.change.contains("account takeover"))
        // A passing or skipped eval is not counted as failing.
        #expect(d.failureModes.first { $0.id == "fm-tone" }?.evalIDs == [])
        // Failing eval cases without feedback: grouped by case category and metric.
        let esc = try #require(d.failureModes.first { $0.id == "fm-eval-escalation-icontains" })
        #expect(esc.traceIDs == ["t6", "t7"] && esc.category == "escalation")
        // No recommendation names a file the harness lacks, or a tool it does not declare.
        for r in d.recommendations {
            if let f = r.targetFile { #expect(Self.harnessV1.files[f] != nil, "\(r.id) names \(f)") }
            #expect(!r.change.contains("harness/instructions.md"))
            for tool in r.patch?.enableTools ?? [] { #expect(Self.harnessV1.tools[tool] != nil) }
        }
        #expect(d.recommendations.map(\.rank) == Array(1...d.recommendations.count))
    }

    @Test func praiseNeverBecomesAFailureMode() throws {
        var praise = Self.fb("fb-good", "t9", "refund-policy", .low, "The refund answer is now correct and cites the 30-day window.")
        praise.verdict = .good
        var regression = ResultRowFacts(evalID: "fb-good-1", traceID: "t9", feedbackID: "fb-good", status: .pass)
        let d = Diagnoser.diagnose(DiagnosisInput(spans: [], feedback: [praise], results: [regression], harness: Self.harnessV1, topics: [Self.refundTopic]), cycle: 1)
        #expect(d.failureModes.isEmpty && d.recommendations.isEmpty)
        // Its regression case failing later is a failure (of the case), not praise turned into a mode.
        regression.status = .fail
        let later = Diagnoser.diagnose(DiagnosisInput(spans: [], feedback: [praise], results: [regression], harness: Self.harnessV1, topics: [Self.refundTopic]), cycle: 2)
        #expect(later.failureModes.map(\.id) == ["fm-refund-window"])
        #expect(later.failureModes.first?.feedbackIDs == [] && later.failureModes.first?.evalIDs == ["fb-good-1"])
        #expect(later.failureModes.first?.impact?.confirmation == .model)
    }

    @Test func humanHighFindingsOutrankHeuristicsAndTheFormulaIsRecorded() throws {
        // A heuristic loop on twenty traces outscores the human findings, yet ranks below those of high or critical severity.
        var spans: [Span] = []
        for t in 0..<20 {
            for i in 0..<3 {
                spans.append(Span(
                    traceID: "loop\(t)", spanID: "s\(t)\(i)", parentSpanID: "root", name: "function.lookup_order", kind: "SPAN_KIND_INTERNAL",
                    startTime: "2026-01-01T00:00:0\(i).000000000Z", endTime: "2026-01-01T00:00:0\(i).500000000Z", status: .ok,
                    scope: SpanScope(name: "t"), attributes: ["openinference.span.kind": "TOOL", "input.value": "{\"id\":\"A1\"}"]))
            }
        }
        let d = Self.diagnose(spans: spans)
        let ids = d.failureModes.map(\.id)
        #expect(Array(ids.prefix(2)) == ["fm-refund-window", "fm-security"], "\(ids)")
        #expect(ids.firstIndex(of: "fm-repeated-tool-calls")! < ids.firstIndex(of: "fm-tone")!)
        let loop = try #require(d.failureModes.first { $0.id == "fm-repeated-tool-calls" })
        let security = try #require(d.failureModes.first { $0.id == "fm-security" })
        #expect(loop.impact!.score > security.impact!.score)  // outscored, yet ranked below: tier 1 first
        #expect(security.impact?.tier == 1 && loop.impact?.tier == 0)
        #expect(security.impact?.confirmation == .human && loop.impact?.confirmation == .heuristic)
        // score = 5 (critical) × (1 trace + 2 × 1 failing eval) × 2 (human)
        #expect(security.impact?.score == 30)
        #expect(d.ranking?.formula == Ranking.standardFormula)
        #expect(d.recommendations.prefix(2).map(\.failureModeIDs) == [["fm-refund-window"], ["fm-security"]])
    }

    @Test func ruleInHarnessMeansPresentButNotFollowed() {
        var h = Self.harnessV1
        h.files["harness/AGENTS.md"]! += "- Approve refunds only within 30 days of delivery.\n"
        let d = Self.diagnose(h)
        #expect(d.failureModes.first { $0.id == "fm-refund-window" }?.kind == .presentButNotFollowed)
        #expect(d.failureModes.first { $0.id == "fm-security" }?.kind == .missingRequirement)
    }

    @Test func mainInstructionsFileIsFoundInTheHarness() {
        #expect(Self.harnessV1.mainInstructionsFile == "harness/AGENTS.md")
        #expect(HarnessFiles(files: ["h/CLAUDE.md": "x", "h/big.md": String(repeating: "y", count: 99)]).mainInstructionsFile == "h/CLAUDE.md")
        #expect(HarnessFiles(files: ["h/prompts/system_prompt.txt": "x", "h/big.md": "yy"]).mainInstructionsFile == "h/prompts/system_prompt.txt")
        #expect(HarnessFiles(files: ["h/a.md": "x", "h/big.md": "yyyy", "h/tools.yaml": String(repeating: "z", count: 99)]).mainInstructionsFile == "h/big.md")
        #expect(HarnessFiles(files: ["h/tools.yaml": "a: 1"]).mainInstructionsFile == nil)
        // The caller's instructions file wins; without any, a recommendation names no file.
        let given = Diagnoser.diagnose(DiagnosisInput(spans: [], feedback: [Self.feedback[0]], harness: Self.harnessV1, instructionsFile: "harness/notes/faq.md"), cycle: 1)
        #expect(given.recommendations.first?.targetFile == "harness/notes/faq.md")
        let none = Diagnoser.diagnose(DiagnosisInput(spans: [], feedback: [Self.feedback[0]]), cycle: 1)
        #expect(none.recommendations.first?.targetFile == nil)
        #expect(none.recommendations.first?.change.contains("no instructions file") == true)
    }

    @Test func resultsJSONRows() throws {
        let json = """
            {"evalId":"eval-abc-2026","results":{"version":3,"results":[
              {"testIdx":0,"success":false,"failureReason":1,"error":"Expected output to contain \\"30 days\\"",
               "testCase":{"vars":{"trace_id":"t1"},"metadata":{"id":"fb-refund1-1","feedback_id":"fb-refund1","category":"refund-policy","severity":"high"}}},
              {"testIdx":1,"success":false,"failureReason":2,"error":"Skipped: no judge configured","metadata":{"flywheel":{"status":"skipped"}},
               "testCase":{"metadata":{"id":"fb-refund1-2"}}},
              {"testIdx":2,"success":true,"testCase":{"vars":{"trace_id":"t2"}}}
            ],"stats":{}}}
            """
        let rows = try ResultRowFacts.rows(fromResultsJSON: Data(json.utf8))
        // A case without metadata.id gets the evals stage's content id (the same id the matrix and the suite use).
        #expect(rows.map(\.evalID).prefix(2) == ["fb-refund1-1", "fb-refund1-2"])
        #expect(rows[2].evalID.hasPrefix("t-") && rows[2].evalID.count == 18)
        #expect(rows.map(\.status) == [.fail, .skipped, .pass])
        #expect(rows[0].traceID == "t1" && rows[0].severity == .high && rows[0].reason.contains("30 days"))
        #expect(rows[2].traceID == "t2")
    }

    // MARK: - Outcomes

    static func previous() -> Diagnosis { diagnose() }

    static func refundRec(_ d: Diagnosis) -> Recommendation { d.recommendations.first { $0.id == "rec-refund-window" }! }

    static func diffAppending(_ rec: Recommendation, extra: [String] = []) -> HarnessDiff {
        HarnessDiff(files: [HarnessDiff.File(path: rec.patch!.file, addedLines: [rec.patch!.append!] + extra)])
    }

    static func status(_ outcomes: [Outcome], _ id: String) -> Outcome? { outcomes.first { $0.recommendationID == id } }

    @Test func verifiedWhenPredictedEvalsFlip() throws {
        let prev = Self.previous()
        let rec = Self.refundRec(prev)
        var now = Self.results
        now[0].status = .pass
        now[1].status = .pass
        let outcomes = OutcomeTracker.classify(previous: prev, diff: Self.diffAppending(rec), previousResults: Self.results, currentResults: now)
        let o = try #require(Self.status(outcomes, rec.id))
        #expect(o.implemented && o.status == .verified && !o.attributionUnsure)
        #expect(o.flippedToPass == ["fb-refund1-1", "fb-refund2-1"])
        #expect(o.fromCycle == 1)
        // The security recommendation targets the same file but the diff does not touch its subject.
        let security = try #require(prev.recommendations.first { $0.failureModeIDs == ["fm-security"] })
        #expect(Self.status(outcomes, security.id)?.status == .pending)
        #expect(outcomes.filter { $0.implemented }.count == 1)
    }

    @Test func ineffectiveWhenStillFailing() throws {
        let prev = Self.previous()
        let rec = Self.refundRec(prev)
        var now = Self.results
        now[0].status = .pass  // only one of the two flips
        let o = try #require(Self.status(OutcomeTracker.classify(previous: prev, diff: Self.diffAppending(rec), previousResults: Self.results, currentResults: now), rec.id))
        #expect(o.status == .ineffective)
        #expect(o.flippedToPass == ["fb-refund1-1"] && o.stillFailing == ["fb-refund2-1"])
    }

    @Test func regressedWhenPassingEvalsFail() throws {
        let prev = Self.previous()
        let rec = Self.refundRec(prev)
        var now = Self.results
        now[0].status = .pass
        now[1].status = .pass
        now[3].status = .fail  // fb-tone-1 passed before
        let o = try #require(Self.status(OutcomeTracker.classify(previous: prev, diff: Self.diffAppending(rec), previousResults: Self.results, currentResults: now), rec.id))
        #expect(o.status == .regressed)
        #expect(o.regressed == ["fb-tone-1"])
    }

    @Test func attributionIsUnsureWhenTheDiffDoesMoreThanOneChange() throws {
        let prev = Self.previous()
        let rec = Self.refundRec(prev)
        // The refund rule plus an unrelated edit nobody recommended.
        let stray = OutcomeTracker.classify(previous: prev, diff: Self.diffAppending(rec, extra: ["- Always greet the customer by name."]), previousResults: Self.results, currentResults: Self.results)
        let o = try #require(Self.status(stray, rec.id))
        #expect(o.implemented && o.attributionUnsure)
        #expect(o.note.contains("no recommendation asked") && o.note.contains("harness/AGENTS.md (1 line)"))
        // The refund rule plus the security recommendation's subject: two recommendations implemented at once.
        let security = try #require(prev.recommendations.first { $0.failureModeIDs == ["fm-security"] })
        let both = OutcomeTracker.classify(
            previous: prev, diff: Self.diffAppending(rec, extra: ["- Verify identity before any security-sensitive account change."]),
            previousResults: Self.results, currentResults: Self.results)
        #expect(Self.status(both, security.id)?.implemented == true)
        #expect(both.filter(\.implemented).allSatisfy { $0.attributionUnsure && $0.note.contains("also implemented") })
        // An unrelated change to the instructions implements nothing.
        let unrelated = OutcomeTracker.classify(
            previous: prev, diff: HarnessDiff(files: [HarnessDiff.File(path: "harness/AGENTS.md", addedLines: ["- Use British spelling."])]),
            previousResults: Self.results, currentResults: Self.results)
        #expect(unrelated.allSatisfy { !$0.implemented && $0.status == .pending })
        // The record round-trips the flag.
        var d = prev
        d.outcomes = both
        #expect(try Diagnosis.read(d.encoded()).outcomes == both)
        #expect(d.attributionUnsure)
    }

    @Test func pendingWithoutDiffAndToolPatchImplementation() throws {
        let prev = Self.previous()
        let none = OutcomeTracker.classify(previous: prev, diff: HarnessDiff(), previousResults: Self.results, currentResults: Self.results)
        #expect(none.allSatisfy { $0.status == .pending && !$0.implemented })
        #expect(none.count == prev.recommendations.count)
        // A project topic's tool patch: the added line alone does not name the tool; the new text does.
        let v1 = "tools:\n  - name: lookup_order\n    enabled: true\n  - name: verify_identity\n    enabled: false\n"
        var rec = Self.refundRec(prev)
        rec.patch = HarnessPatch(file: "harness/tools.yaml", enableTools: ["verify_identity"])
        let newText = rec.patch!.apply(to: v1)
        #expect(newText == "tools:\n  - name: lookup_order\n    enabled: true\n  - name: verify_identity\n    enabled: true\n")
        let diff = HarnessDiff(files: [HarnessDiff.File(path: "harness/tools.yaml", addedLines: ["    enabled: true"], newText: newText)])
        #expect(OutcomeTracker.isImplemented(rec, diff: diff))
        let wrong = HarnessDiff(files: [HarnessDiff.File(path: "harness/tools.yaml", addedLines: ["    enabled: true"], newText: v1)])
        #expect(!OutcomeTracker.isImplemented(rec, diff: wrong))
        // A replace patch: implemented when the diff removes `find` and adds `with`.
        rec.patch = HarnessPatch(file: "harness/AGENTS.md", replace: "- Be polite.", with: "- Be polite and state the policy that applies.")
        #expect(rec.patch!.apply(to: "A\n- Be polite.\n") == "A\n- Be polite and state the policy that applies.\n")
        let replaced = HarnessDiff(files: [HarnessDiff.File(path: "harness/AGENTS.md", addedLines: ["- Be polite and state the policy that applies."], removedLines: ["- Be polite."])])
        #expect(OutcomeTracker.isImplemented(rec, diff: replaced))
        #expect(!OutcomeTracker.isImplemented(rec, diff: HarnessDiff(files: [HarnessDiff.File(path: "harness/AGENTS.md", addedLines: ["- Be kind."])])))
        // No predicted evals: verified when its failure modes are gone from the new diagnosis.
        rec.patch = HarnessPatch(file: "harness/tools.yaml", enableTools: ["verify_identity"])
        rec.predictedImpact.evalIDs = []
        let p2 = Diagnosis(cycle: 1, failureModes: [], recommendations: [rec])
        let gone = OutcomeTracker.classify(previous: p2, diff: diff, previousResults: [], currentResults: [], currentFailureModeIDs: [])
        #expect(gone.first?.status == .verified)
        let still = OutcomeTracker.classify(previous: p2, diff: diff, previousResults: [], currentResults: [], currentFailureModeIDs: ["fm-refund-window"])
        #expect(still.first?.status == .ineffective)
        // A change outside the harness (no target file) cannot be observed: pending, and the note says why.
        var outside = rec
        outside.patch = nil
        outside.targetFile = nil
        let o = OutcomeTracker.classify(previous: Diagnosis(cycle: 1, failureModes: [], recommendations: [outside]), diff: diff, previousResults: [], currentResults: [])
        #expect(o.first?.status == .pending && o.first?.note.contains("outside the harness") == true)
    }

    @Test func patchesApply() {
        let p = HarnessPatch(file: "harness/AGENTS.md", append: "- Rule one.")
        #expect(p.apply(to: "Intro") == "Intro\n- Rule one.\n")
        #expect(p.apply(to: p.apply(to: "Intro")) == "Intro\n- Rule one.\n")  // idempotent
        let t = HarnessPatch(file: "harness/tools.yaml", enableTools: ["verify_identity"])
        #expect(t.apply(to: "verify_identity: false\nlookup_order: true\n") == "verify_identity: true\nlookup_order: true\n")
        #expect(t.apply(to: "tools:\n  verify_identity:\n    description: x\n    enabled: false\n") == "tools:\n  verify_identity:\n    description: x\n    enabled: true\n")
        #expect(t.apply(to: "tools:\n  - name: lookup_order\n") == "tools:\n  - name: lookup_order\n  - name: verify_identity\n    enabled: true\n")
        #expect(HarnessFiles(files: ["harness/tools.yaml": t.apply(to: "tools:\n  - name: lookup_order\n")]).tools == ["lookup_order": true, "verify_identity": true])
        let r = HarnessPatch(file: "f", replace: "absent", with: "x")
        #expect(r.apply(to: "keep\n") == "keep\n")
    }
}

@Suite struct HarnessDiffFromGitTests {
    @Test func treeDiffBecomesHarnessDiff() throws {
        let dir = TestPaths.scratch("harness-diff")
        defer { try? FileManager.default.removeItem(at: dir) }
        let repo = try Repository.create(at: dir)
        let v1 = DiagnosisFeedbackTests.harnessV1.files
        let rec = DiagnosisFeedbackTests.refundRec(DiagnosisFeedbackTests.previous())
        var v2 = v1
        v2["harness/AGENTS.md"] = rec.patch!.apply(to: v1["harness/AGENTS.md"]!)
        let t1 = try repo.writeTree(files: v1.mapValues { Data($0.utf8) })
        let t2 = try repo.writeTree(files: v2.mapValues { Data($0.utf8) })
        let diff = HarnessDiff(try repo.diff(from: t1, to: t2), newTexts: v2)
        #expect(diff.files.map(\.path) == ["harness/AGENTS.md"])
        #expect(diff.files[0].addedLines == [rec.patch!.append!])
        #expect(OutcomeTracker.isImplemented(rec, diff: diff))
        let o = OutcomeTracker.classify(previous: DiagnosisFeedbackTests.previous(), diff: diff, previousResults: [], currentResults: [])
        #expect(o.filter(\.implemented).map(\.recommendationID) == [rec.id] && !o.contains { $0.attributionUnsure })
    }
}
