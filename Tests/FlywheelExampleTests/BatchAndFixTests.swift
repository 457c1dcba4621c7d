import Foundation
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelExample
@testable import FlywheelSupport
@testable import FlywheelTraces

@Suite("Example batches, feedback keying and harness fixes")
struct BatchAndFixTests {
    func questions(_ n: Int) -> [String] { ExampleScaffold.questions.prefix(n).map(\.question) }

    @Test func batchWritesOutputsPerTraceAndOneTraceFile() throws {
        let root = TestPaths.scratch("batch")
        let agent = AnalystAgent(harness: ExampleHarness.v1, dataRoom: dataRoomFolder, model: OfflineExampleModel(seed: 2))
        let clock = { SteppingAgentClock(start: Date(timeIntervalSince1970: 1_790_000_000)) }
        let b = agent.runBatch(questions: questions(5), seed: 2, outputsRoot: root.appendingPathComponent("outputs"), clock: clock())
        #expect(b.runs.count == 5)
        #expect(b.runs.map(\.question) == questions(5))
        #expect(b.traceIDs == (1...5).map { AnalystAgent.traceID(seed: 2, index: $0) })
        for r in b.runs {
            let dir = root.appendingPathComponent("outputs/\(r.traceID)")
            for (path, data) in r.artifacts { #expect(FileManager.default.contents(atPath: dir.appendingPathComponent(path).path) == data) }
            #expect(try String(contentsOf: dir.appendingPathComponent("final_answer.md"), encoding: .utf8) == (r.finalAnswer ?? "") + "\n")
            let task = try JSONValue.parse(Data(contentsOf: dir.appendingPathComponent("task.json")))
            #expect(task["trace_id"] == .string(r.traceID))
            #expect(task["question"] == .string(r.question))
        }
        let spans = try String(decoding: b.traces, as: UTF8.self).split(separator: "\n").map { try Span(line: String($0)) }
        #expect(Set(spans.map(\.traceID)) == Set(b.traceIDs))
        #expect(spans.filter { $0.parentSpanID.isEmpty }.count == 5)
        #expect(TraceValidator.validate(data: b.traces).issues.filter { $0.severity != .note }.isEmpty)
        let again = agent.runBatch(questions: questions(5), seed: 2, outputsRoot: TestPaths.scratch("batch2"), clock: clock())
        #expect(again.traces == b.traces)
    }

    @Test func feedbackIsKeyedToTheTraceOfItsQuestion() throws {
        let ids = (1...5).map { AnalystAgent.traceID(seed: 1, index: $0) }
        let text = try ExampleScaffold.assignTraceIDs(toFeedbackJSONL: ExampleScaffold.cycle1FeedbackJSONL(), traceIDs: ids)
        let records = try text.split(separator: "\n").map { try JSONValue.parse(String($0)) }
        #expect(records.map { $0["trace_id"]?.stringValue } == [ids[2], ids[1], ids[3]])
        #expect(throws: HarnessError.self) { try ExampleScaffold.assignTraceIDs(toFeedbackJSONL: "{}\nnot json\n", traceIDs: ids) }
        // Already keyed records and out-of-range questions stay as they are.
        let kept = try ExampleScaffold.assignTraceIDs(toFeedbackJSONL: #"{"question":2,"trace_id":"x"}"# + "\n" + #"{"question":9}"#, traceIDs: ids)
        #expect(kept == #"{"question":2,"trace_id":"x"}"# + "\n" + #"{"question":9}"# + "\n")
    }

    @Test func applyingTheFixesClearsEveryFailureMode() throws {
        let folder = TestPaths.scratch("fix")
        try ExampleScaffold.write(to: folder)
        let harnessDir = folder.appendingPathComponent("harness")
        #expect(try ExampleScaffold.applyFix(for: .legalEntityConcentration, toHarness: harnessDir) == ["instructions.md"])
        #expect(try ExampleScaffold.applyFix(for: .legalEntityConcentration, toHarness: harnessDir).isEmpty)
        for mode in [ExampleFailureMode.unvalidatedNRR, .soc2Overstated, .narrativeOverExport] {
            try ExampleScaffold.applyFix(for: mode, toHarness: harnessDir)
        }
        #expect(try ExampleScaffold.applyFix(for: .brokenArtifacts, toHarness: harnessDir) == ["tools.yaml"])
        let fixed = try Harness.load(from: harnessDir)
        #expect(ExampleRules.addressed(in: fixed.instructions) == [.narrativeOverExport, .unvalidatedNRR, .legalEntityConcentration, .soc2Overstated])
        #expect(fixed.enabledTools.count == 6)
        for seed in UInt64(1)...6 {
            for q in 1...5 {
                let r = runExample(question: q, seed: seed, harness: fixed)
                if q <= 4 { #expect(!showsFailureMode(question: q, answer: r.finalAnswer ?? ""), "seed \(seed) q\(q)") }
                #expect(!hasBrokenArtifacts(r))
                #expect(r.outcome.outcome == "success")
            }
        }
    }
}
