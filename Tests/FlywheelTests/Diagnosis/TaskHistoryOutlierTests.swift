import Foundation
import GitStore
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelTraces

/// Latency and token outliers against a task's own history: a travel-booking agent (not the example) runs each task
/// once per cycle, so only earlier cycles' runs of the same task can show that one run is far off.
@Suite("Diagnosis: outliers against the task's own history")
struct TaskHistoryOutlierTests {
    static let tasks = ["book-flight", "find-hotel", "cancel-booking"]

    /// One trace per task: an AGENT root naming its task, one LLM span with tokens, one tool span. `slow` and
    /// `heavy` pick the task whose run takes 60 s instead of about 3 s, or spends 40,000 tokens instead of about 1,200.
    static func traces(cycle: Int, slow: String? = nil, heavy: String? = nil) -> Data {
        var lines: [String] = []
        for (i, task) in tasks.enumerated() {
            let traceID = String(format: "%08x%024x", cycle, i + 1)
            let base = 1_780_000_000.0 + Double(cycle * 1000 + i * 100)
            let seconds = task == slow ? 60.0 : 3.0 + Double((cycle + i) % 3) * 0.2
            let tokens: Int64 = task == heavy ? 40_000 : 1_100 + Int64((cycle * 7 + i * 13) % 150)
            func time(_ t: Double) -> String { ISO8601.string(Date(timeIntervalSince1970: t)) }
            let root = Span(
                traceID: traceID, spanID: String(format: "%016x", i * 10 + 1), name: "agent.travel", kind: "SPAN_KIND_INTERNAL",
                startTime: time(base), endTime: time(base + seconds), status: .ok, resourceAttributes: ["service.name": "travel-agent"],
                scope: SpanScope(name: "t", version: "1"),
                attributes: ["openinference.span.kind": "AGENT", TraceIdentity.taskAttribute: .string(task)])
            let llm = Span(
                traceID: traceID, spanID: String(format: "%016x", i * 10 + 2), parentSpanID: root.spanID, name: "generation.plan",
                kind: "SPAN_KIND_CLIENT", startTime: time(base + 0.1), endTime: time(base + 1), status: .ok,
                resourceAttributes: ["service.name": "travel-agent"], scope: SpanScope(name: "t", version: "1"),
                attributes: ["openinference.span.kind": "LLM", "inference.llm.input_tokens": .int(tokens - 100), "inference.llm.output_tokens": 100])
            let tool = Span(
                traceID: traceID, spanID: String(format: "%016x", i * 10 + 3), parentSpanID: root.spanID, name: "function.search_flights",
                kind: "SPAN_KIND_INTERNAL", startTime: time(base + 1), endTime: time(base + seconds - 0.1), status: .ok,
                resourceAttributes: ["service.name": "travel-agent"], scope: SpanScope(name: "t", version: "1"),
                attributes: ["openinference.span.kind": "TOOL", "tool.name": "search_flights"])
            lines += [root.jsonLine, llm.jsonLine, tool.jsonLine]
        }
        return Data((lines.joined(separator: "\n") + "\n").utf8)
    }

    func context() throws -> LoopContext {
        let folder = TestPaths.scratch("task-history")
        let history = LoopHistory(repository: folder.appendingPathComponent("history"))
        try history.initialize(files: ["loop.yaml": Data("project: travel\n".utf8)])
        let config = try LoopConfig.parse("project: travel\n", file: "loop.yaml")
        return LoopContext(workspace: Workspace(folder: folder, config: config, history: history), environment: [:])
    }

    /// Runs cycles with the given traces through the diagnosis stage and returns the last cycle's diagnosis.
    func diagnoseCycles(_ ctx: LoopContext, _ traces: [Data]) throws -> Diagnosis {
        var last: Diagnosis?
        for data in traces {
            _ = try ctx.history.startCycle(harness: ["instructions.md": Data("Book travel for the user.\n".utf8)])
            try ctx.history.commitToOpenCycle(.traces, files: [Layout.CycleFile.traces: data])
            last = try AnalysisStages.diagnose(ctx).diagnosis
            _ = try ctx.history.closeCycle()
        }
        return try #require(last)
    }

    @Test("a task run once per cycle is an outlier against its earlier cycles' runs, with its true trace id")
    func slowRunAgainstHistory() throws {
        let ctx = try context()
        let normal = (1...5).map { Self.traces(cycle: $0) }
        let diagnosis = try diagnoseCycles(ctx, normal + [Self.traces(cycle: 6, slow: "find-hotel", heavy: "cancel-booking")])
        let latency = try #require(diagnosis.failureModes.first { $0.id == "fm-latency-outliers" })
        #expect(latency.traceIDs == [String(format: "%08x%024x", 6, 2)])
        #expect(latency.evidence.first?.note.contains("task find-hotel: 60.0s") == true)
        #expect(latency.evidence.first?.note.contains("5 in earlier cycles") == true)
        let tokens = try #require(diagnosis.failureModes.first { $0.id == "fm-tokens-outliers" })
        #expect(tokens.traceIDs == [String(format: "%08x%024x", 6, 3)])
        // The figures this cycle adds to the history are recorded in diagnosis.json.
        let recorded = try #require(diagnosis.taskRuns?["find-hotel"])
        #expect(recorded.latency == [60])
        #expect(try Diagnosis.read(diagnosis.encoded()).taskRuns == diagnosis.taskRuns)
        let committed = try ctx.history.snapshot().text("cycles/0006/diagnosis.json")
        #expect(committed?.contains("\"task_runs\"") == true)
    }

    @Test("without earlier cycles the same slow run is not an outlier (one run is no baseline), and steady cycles flag nothing")
    func noHistoryNoOutlier() throws {
        let alone = try diagnoseCycles(try context(), [Self.traces(cycle: 1, slow: "find-hotel")])
        #expect(!alone.failureModes.contains { $0.category.hasSuffix("-outlier") })
        let steady = try diagnoseCycles(try context(), (1...7).map { Self.traces(cycle: $0) })
        #expect(!steady.failureModes.contains { $0.category.hasSuffix("-outlier") })
        #expect(steady.taskRuns?.keys.sorted() == Self.tasks.sorted())
    }

    @Test("an earlier cycle whose diagnosis.json is damaged is left out of the baselines, with a message; the diagnosis still runs")
    func damagedEarlierDiagnosis() throws {
        final class Said: @unchecked Sendable { var lines: [String] = []; let lock = NSLock() }
        let said = Said()
        let plain = try context()
        let ctx = LoopContext(workspace: plain.workspace, environment: [:], progress: { line in said.lock.lock(); said.lines.append(line); said.lock.unlock() })
        _ = try diagnoseCycles(ctx, (1...5).map { Self.traces(cycle: $0) })
        // Cycle 6 carries a damaged diagnosis.json (as a hand edit or a bad merge might leave it).
        _ = try ctx.history.startCycle(harness: ["instructions.md": Data("Book travel for the user.\n".utf8)])
        try ctx.history.commitToOpenCycle(.traces, files: [Layout.CycleFile.traces: Self.traces(cycle: 6)])
        try ctx.history.commitToOpenCycle(.diagnosis, files: [Layout.CycleFile.diagnosis: Data("{\"cycle\": ".utf8)])
        _ = try ctx.history.closeCycle()
        let d = try diagnoseCycles(ctx, [Self.traces(cycle: 7, slow: "find-hotel")])
        let latency = try #require(d.failureModes.first { $0.id == "fm-latency-outliers" })
        #expect(latency.evidence.first?.note.contains("5 in earlier cycles") == true, "cycle 6's runs are not counted")
        #expect(said.lines.contains { $0.contains("cycles/0006/diagnosis.json is unreadable") }, "\(said.lines)")
        #expect(said.lines.contains { $0.contains("outcomes of cycle 6's recommendations are not tracked") && $0.contains("cycles/0006/diagnosis.json") })
        #expect(d.outcomes.isEmpty)
    }

    @Test("runs of other tasks are not a baseline: a task new in this cycle is not compared with the others' history")
    func otherTasksAreNoBaseline() {
        var history: [String: TaskRunFigures] = [:]
        for task in Self.tasks { history[task] = TaskRunFigures(latency: [3, 3, 3, 3, 3], tokens: [1000, 1000, 1000, 1000, 1000]) }
        let runs = [Diagnoser.RunFacts(id: "t1", root: "r1", task: "new-task", latency: 90, tokens: 50_000)]
        var b = Diagnoser.Builder(harness: HarnessFiles())
        Diagnoser.detectOutliers(runs, history: history, layout: HarnessLayout(HarnessFiles(), instructionsFile: nil), into: &b)
        #expect(b.build(cycle: 1).failureModes.isEmpty)
        var b2 = Diagnoser.Builder(harness: HarnessFiles())
        let sameTask = [Diagnoser.RunFacts(id: "t1", root: "r1", task: "book-flight", latency: 90, tokens: 50_000)]
        Diagnoser.detectOutliers(sameTask, history: history, layout: HarnessLayout(HarnessFiles(), instructionsFile: nil), into: &b2)
        #expect(Set(b2.build(cycle: 1).failureModes.map(\.id)) == ["fm-latency-outliers", "fm-tokens-outliers"])
    }
}
