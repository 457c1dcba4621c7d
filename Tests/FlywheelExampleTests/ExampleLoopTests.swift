import Foundation
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelExample
@testable import FlywheelSupport
@testable import FlywheelTraces

/// The analysis stages on the embedded example, end to end: the offline analyst runs the v1 harness, the rule
/// critic and the shipped human feedback become evals, diagnosis ranks recommendations, the top one is applied as
/// its patch, and the next run shows the outcome.
@Suite struct ExampleLoopTests {
    struct Cycle {
        var traceIDs: [String]
        var spans: [Span]
        var runs: [RunArtifacts]
    }

    static func run(harness folder: URL, dataRoom: URL, outputs: URL) throws -> Cycle {
        let harness = try Harness.load(from: folder)
        let agent = AnalystAgent(harness: harness, dataRoom: dataRoom, model: OfflineExampleModel(seed: 3), seed: 11)
        let questions = ExampleScaffold.questions.prefix(5).map(\.question)
        let batch = agent.runBatch(questions: Array(questions), seed: 11, outputsRoot: outputs)
        let runs = zip(batch.runs, questions).map { r, q in
            var files = r.artifacts.mapValues { String(decoding: $0, as: UTF8.self) }
            files["final_answer.md"] = r.finalAnswer
            return RunArtifacts(traceID: r.traceID, question: q, files: files)
        }
        return Cycle(traceIDs: batch.traceIDs, spans: try TraceStore(data: batch.traces).allSpans(), runs: runs)
    }

    /// A minimal grader for the deterministic assertions eval generation emits (the gate itself is the evals stage).
    static func grade(_ test: JSONValue, _ runs: [RunArtifacts]) -> ResultRowFacts {
        let trace = test["vars"]?["trace_id"]?.stringValue ?? ""
        let run = runs.first { $0.traceID == trace }
        let output = ((run?.files["summary_answer.md"] ?? "") + "\n" + (run?.files["final_answer.md"] ?? "")).lowercased()
        var pass = true
        var skipped = false
        for a in test["assert"]?.arrayValue ?? [] {
            switch a["type"]?.stringValue {
            case "icontains": pass = pass && output.contains(a["value"]!.stringValue!.lowercased())
            case "not-icontains": pass = pass && !output.contains(a["value"]!.stringValue!.lowercased())
            case "icontains-any": pass = pass && a["value"]!.arrayValue!.contains { output.contains($0.stringValue!.lowercased()) }
            default: skipped = true
            }
        }
        let m = test["metadata"]
        return ResultRowFacts(
            evalID: m?["id"]?.stringValue ?? "", traceID: trace, feedbackID: m?["feedback_id"]?.stringValue,
            category: m?["category"]?.stringValue, status: skipped ? .skipped : pass ? .pass : .fail)
    }

    @Test func topRecommendationFixesItsFailureMode() throws {
        let root = TestPaths.scratch("loopstages-example")
        defer { try? FileManager.default.removeItem(at: root) }
        try ExampleScaffold.write(to: root)
        let harnessDir = root.appendingPathComponent("harness")
        let dataRoomDir = root.appendingPathComponent("dataroom")
        let room = try SourceFolder.load(from: dataRoomDir)
        #expect(room.text(at: "financials/arr_by_month.csv") != nil)
        let rules = try ProjectRules.load(root.appendingPathComponent("rules.yaml"))

        // Cycle 1
        let c1 = try Self.run(harness: harnessDir, dataRoom: dataRoomDir, outputs: root.appendingPathComponent("c1"))
        let critic = RuleCritic(rules: rules, sources: room, createdAt: "2026-10-06T00:00:00Z")
        let ruleFeedback = critic.critique(runs: c1.runs)
        let byQuestion = Dictionary(uniqueKeysWithValues: c1.traceIDs.enumerated().map { (String($0.offset + 1), $0.element) })
        let human = try FeedbackParser.load(
            Data(ExampleScaffold.cycle1FeedbackJSONL().utf8), file: ExampleScaffold.feedbackPath, knownTraceIDs: Set(c1.traceIDs),
            traceIDsByQuestion: byQuestion)
        #expect(human.count == 3)
        let feedback = FeedbackStore.merge(human, ruleFeedback)
        let categories = Set(ruleFeedback.map(\.category))
        #expect(categories.isSuperset(of: ["narrative-over-structured", "unvalidated-metric", "concentration-by-entity", "security-overstatement"]), "\(categories)")

        let tests = EvalRatchet.merge(existing: [], candidates: EvalCompiler(cycle: 1).compile(feedback, questions: Dictionary(uniqueKeysWithValues: c1.runs.map { ($0.traceID, $0.question ?? "") }))).tests
        let results1 = tests.map { Self.grade($0, c1.runs) }
        #expect(results1.contains { $0.status == .fail })

        let harness1 = try HarnessFiles.load(from: harnessDir)
        let d1 = Diagnoser.diagnose(DiagnosisInput(
            spans: c1.spans, feedback: feedback, results: results1, harness: harness1, requiredArtifacts: rules.requiredArtifacts,
            topics: rules.failureTopics), cycle: 1)
        // v1 has none of the four rules: each is a missing requirement (v1 mentions "structured or narrative" kinds only)
        #expect(d1.failureModes.filter { ["narrative-over-structured", "unvalidated-metric", "concentration-by-entity", "security-overstatement"].contains($0.category) }
            .allSatisfy { $0.kind == .missingRequirement })
        let top = try #require(d1.recommendations.first)
        let patch = try #require(top.patch, "top recommendation \(top.id) has no patch")
        let handoff = HandoffWriter.render(HandoffContext(cycle: 1, diagnosis: d1, feedback: feedback, agentModel: OfflineExampleModel(seed: 1).label, agentIsSimulation: true))
        #expect(handoff.contains(top.id))

        // The demo plays the coding agent: apply exactly the top patch.
        let target = root.appendingPathComponent(patch.file)
        let before = try String(contentsOf: target, encoding: .utf8)
        let after = patch.apply(to: before)
        try after.write(to: target, atomically: true, encoding: .utf8)
        let added = after.split(separator: "\n").map(String.init).filter { !before.contains($0) }
        let diff = HarnessDiff(files: [HarnessDiff.File(path: patch.file, addedLines: added, newText: after)])

        // Cycle 2 with the same suite (the ratchet keeps it).
        let c2 = try Self.run(harness: harnessDir, dataRoom: dataRoomDir, outputs: root.appendingPathComponent("c2"))
        // same questions, new trace ids: re-key the suite's cases by question order, as the loop does per cycle
        let remap = Dictionary(uniqueKeysWithValues: zip(c1.traceIDs, c2.traceIDs))
        let results2 = tests.map { t -> ResultRowFacts in
            var t2 = t
            if case .object(var o) = t, case .object(var vars)? = o["vars"], let old = vars["trace_id"]?.stringValue {
                vars["trace_id"] = .string(remap[old] ?? old)
                o["vars"] = .object(vars)
                t2 = .object(o)
            }
            return Self.grade(t2, c2.runs)
        }
        let outcomes = OutcomeTracker.classify(previous: d1, diff: diff, previousResults: results1, currentResults: results2)
        let topOutcome = try #require(outcomes.first { $0.recommendationID == top.id })
        #expect(topOutcome.implemented)
        #expect(topOutcome.status == .verified, "\(topOutcome)")
        #expect(!topOutcome.flippedToPass.isEmpty)
        #expect(outcomes.filter { $0.recommendationID != top.id }.allSatisfy { $0.status == .pending || $0.status == .regressed })
        // the rule critic no longer reports the fixed mode's category
        let fixedCategories = Set(d1.failureModes.filter { top.failureModeIDs.contains($0.id) }.map(\.category))
        let ruleFeedback2 = critic.critique(runs: c2.runs)
        #expect(Set(ruleFeedback2.map(\.category)).isDisjoint(with: fixedCategories), "\(fixedCategories)")
    }
}
