import Foundation
import GitStore
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelTraces

/// The feedback stage in process (no binary): a customer-support agent (not the example) over two cycles. The stage
/// reads the open cycle once and earlier cycles' runs and feedback only, then commits once.
@Suite("Loop: the feedback stage in process")
struct FeedbackStageTests {
    static let tasks = ["refund-late-order", "reset-password"]

    static func traceID(cycle: Int, _ i: Int) -> String { String(format: "%08x%024x", cycle, i + 1) }

    /// One AGENT span per task, and each run's task.json and final answer.
    static func cycleFiles(cycle: Int, answers: [String]) -> [String: Data] {
        var lines: [String] = []
        var files: [String: Data] = [:]
        for (i, task) in tasks.enumerated() {
            let id = traceID(cycle: cycle, i)
            let start = 1_780_000_000.0 + Double(cycle * 1000 + i * 10)
            let span = Span(
                traceID: id, spanID: String(format: "%016x", i + 1), name: "agent.support", kind: "SPAN_KIND_INTERNAL",
                startTime: ISO8601.string(Date(timeIntervalSince1970: start)), endTime: ISO8601.string(Date(timeIntervalSince1970: start + 2)),
                status: .ok, resourceAttributes: ["service.name": "support-bot"], scope: SpanScope(name: "s", version: "1"),
                attributes: ["openinference.span.kind": "AGENT", TraceIdentity.taskAttribute: .string(task)])
            lines.append(span.jsonLine)
            files["outputs/\(id)/task.json"] = Data(#"{"question":"help","task_id":"\#(task)","trace_id":"\#(id)"}"#.utf8)
            files["outputs/\(id)/\(RunFiles.finalAnswer)"] = Data(answers[i].utf8)
        }
        files[Layout.CycleFile.traces] = Data((lines.joined(separator: "\n") + "\n").utf8)
        return files
    }

    func context() throws -> LoopContext {
        let folder = TestPaths.scratch("feedback-stage")
        let history = LoopHistory(repository: folder.appendingPathComponent("history"))
        try history.initialize(files: ["loop.yaml": Data("project: support\n".utf8)])
        let config = try LoopConfig.parse("project: support\n", file: "loop.yaml")
        return LoopContext(
            workspace: Workspace(folder: folder, config: config, history: history), environment: [:],
            now: { Date(timeIntervalSince1970: 1_790_000_000) })
    }

    func startCycle(_ ctx: LoopContext, _ number: Int, answers: [String]) throws {
        _ = try ctx.history.startCycle(harness: ["instructions.md": Data("Answer support tickets.\n".utf8)])
        try ctx.history.commitToOpenCycle(.traces, files: Self.cycleFiles(cycle: number, answers: answers))
    }

    @Test("a claim earlier feedback prohibited is caught in the next cycle; human notes may name an earlier run by task id")
    func earlierCyclesAreConsulted() throws {
        let ctx = try context()
        try startCycle(ctx, 1, answers: ["Refund approved without a manager.", "Use the reset link."])
        let review = FeedbackRecord(
            traceID: Self.traceID(cycle: 1, 0), source: .human, author: "lead", category: "policy", severity: .high,
            observation: "Refunds over 30 days need a manager.", prohibitedClaims: ["refund approved without a manager"],
            createdAt: ctx.timestamp)
        _ = try FeedbackStage.commit(ctx, records: [review], note: "Review.")
        _ = try ctx.history.closeCycle()

        try startCycle(ctx, 2, answers: ["Sorry: refund approved without a manager.", "Use the reset link."])
        let human = TestPaths.scratch("feedback-stage-files").appendingPathComponent("late.jsonl")
        try Data(#"{"source":"human","task_id":"reset-password","cycle":1,"category":"tone","severity":"low","observation":"Curt reply.","author":"qa"}"#.utf8 + [0x0A])
            .write(to: human)
        let report = try FeedbackStage.critique(ctx, humanFiles: [human])
        let bytes = try ctx.history.snapshot().file("cycles/0002/feedback.jsonl")
        let committed = try FeedbackStore.decode(try #require(bytes), file: "feedback.jsonl")
        let flagged = committed.filter { $0.source == .rule && $0.category == "policy" }
        #expect(flagged.map(\.traceID) == [Self.traceID(cycle: 2, 0)], "the prohibited claim of cycle 1's feedback")
        #expect(flagged.first?.evidence.contains("prohibited by \(review.feedbackID)") == true)
        let late = try #require(committed.first { $0.author == "qa" })
        #expect(late.traceID == Self.traceID(cycle: 1, 1), "task id + cycle name the earlier run")
        #expect(report.added["human"] == 1)
        #expect(report.total == committed.count)
    }

    @Test("a record naming no run of the cycle or an earlier one is refused and nothing is committed")
    func unknownTraceIsRefused() throws {
        let ctx = try context()
        try startCycle(ctx, 1, answers: ["a", "b"])
        let before = try ctx.history.snapshot().commit
        let stray = FeedbackRecord(
            traceID: "ffffffffffffffffffffffffffffffff", source: .human, author: "qa", category: "tone", severity: .low,
            observation: "?", createdAt: ctx.timestamp)
        #expect(throws: StageError.self) { try FeedbackStage.commit(ctx, records: [stray], note: "x") }
        #expect(try ctx.history.snapshot().commit == before)
    }

    @Test("an earlier cycle whose feedback.jsonl is damaged adds no prohibited claims but does not sink the stage")
    func damagedEarlierFeedback() throws {
        let ctx = try context()
        try startCycle(ctx, 1, answers: ["a", "b"])
        try ctx.history.commitToOpenCycle(.feedback, files: [Layout.CycleFile.feedback: Data("{not json\n".utf8)])
        _ = try ctx.history.closeCycle()
        try startCycle(ctx, 2, answers: ["a", "b"])
        let history = try FeedbackHistory.read(ctx)
        #expect(history.earlierFeedback.isEmpty)
        #expect(history.targets.traces[Self.traceID(cycle: 1, 0)] == 1)
        #expect(history.targets.trace(forTask: "reset-password", cycle: 1) == Self.traceID(cycle: 1, 1))
        let report = try FeedbackStage.critique(ctx)
        #expect(report.cycle == 2)
    }
}
