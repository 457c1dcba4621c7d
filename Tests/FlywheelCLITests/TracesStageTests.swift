import Flywheel
import FlywheelTraces
import Foundation
import Testing
import TestSupport

@Suite("Traces: TraceStage library")
struct TracesStageTests {
    func span(_ trace: String, _ id: String, name: String = "step") -> Span {
        Span(
            traceID: trace, spanID: id, name: name, kind: "SPAN_KIND_INTERNAL",
            startTime: "2026-05-01T09:00:00.000000000Z", endTime: "2026-05-01T09:00:01.000000000Z",
            status: SpanStatus(code: "STATUS_CODE_OK"), resourceAttributes: ["service.name": .string("s")],
            scope: SpanScope(name: "t"))
    }

    @Test("prepare: mixed HALO and OTLP files in the order given; a trace split across HALO files is an error")
    func prepare() throws {
        let dir = TestPaths.scratch("stage-prepare")
        let a = dir.appendingPathComponent("a.jsonl"), b = dir.appendingPathComponent("b.jsonl")
        let t1 = "11111111111111111111111111111111", t2 = "22222222222222222222222222222222"
        try SpanWriter.data([span(t1, "1111111111111111"), span(t1, "1111111111111112")]).write(to: a)
        try SpanWriter.data([span(t2, "2222222222222221")]).write(to: b)
        let otlp = URL(fileURLWithPath: TraceFixtures.otlp)
        let p = try TraceStage.prepare(files: [a, otlp, b], redactor: try TraceStage.redactor(config: nil))
        let otlpSpans = try decodeOTLPJSON(Data(contentsOf: otlp))
        #expect(p.spans.count == 3 + otlpSpans.count)
        #expect(p.report.files.map(\.format) == [.halo, .otlpJSON, .halo])
        #expect(p.traceIDs.first == t1 && p.traceIDs.last == t2)
        #expect(p.data == SpanWriter.data(p.spans))
        #expect(p.report.redactions["api_key"] == 1)

        try SpanWriter.data([span(t1, "1111111111111113")]).write(to: b)
        #expect {
            try TraceStage.prepare(files: [a, b], redactor: nil)
        } throws: { error in
            guard case TraceStageError.invalidInput(let issues) = error else { return false }
            return issues.contains { $0.code == "duplicate_trace_across_files" }
        }
        #expect(throws: TraceStageError.noInput) { try TraceStage.prepare(files: [], redactor: nil) }
    }

    @Test("commit: refuses a trace already in the cycle; the receiver's policy appends to it and skips known spans")
    func commitPolicies() throws {
        let history = try openCycleHistory("stage-commit")
        let t = "33333333333333333333333333333333"
        let first = try TraceStage.prepare(spans: [span(t, "3333333333333331")], label: "a", redactor: nil)
        let r1 = try TraceStage.commit(first, to: history)
        #expect(r1.cycle == 1 && r1.spansAdded == 1 && r1.commit != nil)
        let more = try TraceStage.prepare(
            spans: [span(t, "3333333333333331"), span(t, "3333333333333332")], label: "b", redactor: nil)
        #expect(throws: TraceStageError.traceAlreadyInCycle(cycle: 1, traceIDs: [t])) {
            try TraceStage.commit(more, to: history)
        }
        let r2 = try TraceStage.commit(more, to: history, policy: .appendSkippingDuplicateSpans)
        #expect(r2.spansAdded == 1 && r2.spansSkipped == 1 && r2.totalSpans == 2 && r2.totalTraces == 1)
        let r3 = try TraceStage.commit(more, to: history, policy: .appendSkippingDuplicateSpans)
        #expect(r3.commit == nil && r3.spansAdded == 0)
        let data = try #require(try TraceStage.tracesData(cycle: 1, history: history))
        #expect(data == SpanWriter.data([span(t, "3333333333333331"), span(t, "3333333333333332")]))
        #expect(try history.log().filter { $0.stage == "traces" }.count == 2)
    }

    /// A HALO file whose lines are not in the writer's format (keys out of order, spaces), one span holding a secret.
    func unnormalizedFile(_ dir: URL, traces: Int, spansPerTrace: Int, prefix: String = "4") throws -> URL {
        var text = ""
        for t in 0..<traces {
            let trace = String(repeating: prefix, count: 24) + String(format: "%08x", t)
            for s in 0..<spansPerTrace {
                let secret = t == 1 && s == 0 ? " key sk-abcdefghijklmnopqrstuvwx" : ""
                text += """
                    { "span_id": "\(String(format: "%016x", t * 100 + s))", "trace_id": "\(trace)", "name": "tool.call",                     "kind": "SPAN_KIND_INTERNAL", "start_time": "2026-05-01T09:00:0\(s % 10).000000000Z",                     "end_time": "2026-05-01T09:00:0\(s % 10).500000000Z", "status": {"message": "", "code": "STATUS_CODE_OK"},                     "resource": {"attributes": {"service.name": "support-bot"}}, "scope": {"version": "", "name": "t"},                     "attributes": {"z.last": 1, "tool.name": "lookup\\/order", "input.value": "order \(t)-\(s)\(secret)"}}

                    """
            }
        }
        let url = dir.appendingPathComponent("unnormalized-\(prefix).jsonl")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    @Test("importFiles streams in batches on all cores and commits exactly what prepare + commit commit; fsck --strict clean")
    func streamingImportMatchesInMemory() throws {
        let streamed = try openCycleHistory("stage-stream-import")
        let inMemory = try openCycleHistory("stage-stream-import-reference")
        let dir = TestPaths.scratch("stage-stream-import-files")
        let file = try unnormalizedFile(dir, traces: 12, spansPerTrace: 7)
        let redactor = try TraceStage.redactor(config: nil)
        // A tiny batch size: many batches, each split between the cores.
        let outcome = try TraceStage.importFiles([file], redactor: redactor, into: streamed, batchBytes: 1500)
        let prepared = try TraceStage.prepare(files: [file], redactor: redactor)
        let reference = try TraceStage.commit(prepared, to: inMemory)
        let stored = try #require(try TraceStage.tracesData(cycle: 1, history: streamed))
        #expect(stored == prepared.data)
        #expect(stored != (try Data(contentsOf: file)))  // normalized, not copied
        #expect(!String(decoding: stored, as: UTF8.self).contains("sk-abcdefghijklmnopqrstuvwx"))
        #expect(outcome.report == prepared.report)
        #expect(outcome.report.redactions["api_key"] == 1)
        #expect(outcome.commit.spansAdded == 84 && outcome.commit.totalSpans == 84 && outcome.commit.totalTraces == 12)
        #expect(outcome.commit.totalSpans == reference.totalSpans && outcome.commit.totalTraces == reference.totalTraces)
        let figures = try streamed.snapshot().cycleFile(1, Layout.CycleFile.cycle)
        let referenceFigures = try inMemory.snapshot().cycleFile(1, Layout.CycleFile.cycle)
        let scores = { (d: Data?) in (try? JSONSerialization.jsonObject(with: d ?? Data())) as? [String: Any] }
        #expect(NSDictionary(dictionary: scores(figures)?["scores"] as? [String: Any] ?? ["missing": 1])
            == NSDictionary(dictionary: scores(referenceFigures)?["scores"] as? [String: Any] ?? ["other": 1]))
        let fsck = try runTool("git", ["--git-dir", streamed.repository.path, "fsck", "--strict"])
        #expect(fsck.status == 0, "\(fsck.stdout)\(fsck.stderr)")

        // The same traces again: refused, nothing committed.
        let commits = try traceCommits(streamed)
        #expect(throws: TraceStageError.self) { try TraceStage.importFiles([file], redactor: redactor, into: streamed) }
        #expect(try traceCommits(streamed) == commits)
        // New traces are appended after the cycle's existing spans.
        let more = try unnormalizedFile(dir, traces: 3, spansPerTrace: 2, prefix: "5")
        let second = try TraceStage.importFiles([more], redactor: redactor, into: streamed, batchBytes: 400)
        #expect(second.commit.spansAdded == 6 && second.commit.totalSpans == 90 && second.commit.totalTraces == 15)
        let merged = try #require(try TraceStage.tracesData(cycle: 1, history: streamed))
        #expect(merged == stored + (try TraceStage.prepare(files: [more], redactor: redactor)).data)
        #expect(try runTool("git", ["--git-dir", streamed.repository.path, "fsck", "--strict"]).status == 0)

        // Invalid input: every error with file and line, nothing committed.
        let bad = dir.appendingPathComponent("bad.jsonl")
        try (String(decoding: try Data(contentsOf: more), as: UTF8.self) + "{\"trace_id\": 7}\n").write(to: bad, atomically: true, encoding: .utf8)
        #expect {
            try TraceStage.importFiles([bad], redactor: redactor, into: streamed)
        } throws: { error in
            guard case TraceStageError.invalidInput(let issues) = error else { return false }
            return issues.contains { $0.file == bad.path && $0.line == 7 }
        }
        #expect(try traceCommits(streamed) == commits + 1)
    }

    @Test("importFiles spooling its output past the memory budget stores the same blob as in memory; fsck --strict clean")
    func streamingImportSpillsToDisk() throws {
        let dir = TestPaths.scratch("stage-stream-import-spill")
        let file = try unnormalizedFile(dir, traces: 20, spansPerTrace: 5)
        let redactor = try TraceStage.redactor(config: nil)
        let prepared = try TraceStage.prepare(files: [file], redactor: redactor)
        for budget in [0, 3000] {
            let history = try openCycleHistory("stage-stream-import-spill-\(budget)")
            let outcome = try TraceStage.importFiles([file], redactor: redactor, into: history, batchBytes: 1200, memoryBytes: budget)
            #expect(try TraceStage.tracesData(cycle: 1, history: history) == prepared.data, "budget \(budget)")
            #expect(outcome.report == prepared.report)
            #expect(outcome.commit.spansAdded == 100 && outcome.commit.totalTraces == 20)
            let fsck = try runTool("git", ["--git-dir", history.repository.path, "fsck", "--strict"])
            #expect(fsck.status == 0, "\(fsck.stdout)\(fsck.stderr)")
        }
    }

    @Test("importFiles opens the object stream from predicted lengths; a prediction the output contradicts drops it and the spooled path stores the same blob (fsck --strict clean, no temporary object left)")
    func streamingImportPredictsOrFallsBack() throws {
        let dir = TestPaths.scratch("stage-stream-import-predict")
        let redactor = try TraceStage.redactor(config: nil)
        // Spans whose lengths are predicted (spaces, unsorted keys) and some that are normalized to find theirs (a
        // `\/` escape, a secret).
        let file = try unnormalizedFile(dir, traces: 9, spansPerTrace: 6)
        let predicted = try openCycleHistory("stage-stream-import-predicted")
        let outcome = try TraceStage.importFiles([file], redactor: redactor, into: predicted, batchBytes: 900)
        #expect(!outcome.timings.fallback)
        #expect(outcome.timings.store == 0, "stored while normalizing")
        let prepared = try TraceStage.prepare(files: [file], redactor: redactor)
        #expect(try TraceStage.tracesData(cycle: 1, history: predicted) == prepared.data)
        #expect(outcome.report == prepared.report)
        // Two files make one blob, in the order given.
        let other = try unnormalizedFile(dir, traces: 4, spansPerTrace: 3, prefix: "6")
        let both = try openCycleHistory("stage-stream-import-predicted-two")
        let two = try TraceStage.importFiles([other, file], redactor: redactor, into: both, batchBytes: 700)
        #expect(!two.timings.fallback)
        let preparedTwo = try TraceStage.prepare(files: [other, file], redactor: redactor)
        #expect(try TraceStage.tracesData(cycle: 1, history: both) == preparedTwo.data)
        #expect(two.report == preparedTwo.report && two.commit.totalSpans == 66)

        // A repeated key (a warning; the last value wins): the line's length is predicted from the input, which the
        // written line contradicts.
        let repeated = dir.appendingPathComponent("repeated.jsonl")
        let line = #"{"trace_id":"77777777777777777777777777777777","span_id":"7777777777777777","parent_span_id":"","trace_state":"","name":"n","kind":"SPAN_KIND_INTERNAL","start_time":"2026-05-01T09:00:00.000000000Z","end_time":"2026-05-01T09:00:01.000000000Z","status":{"code":"STATUS_CODE_OK","message":""},"resource":{"attributes":{"service.name":"svc"}},"scope":{"name":"sc","version":""},"attributes":{"k":"first value","k":"2"}}"#
        try (String(decoding: try Data(contentsOf: file), as: UTF8.self) + line + "\n").write(to: repeated, atomically: true, encoding: .utf8)
        let reference = try TraceStage.prepare(files: [repeated], redactor: redactor)
        // In memory, and spooled to disk past a budget of nothing.
        for budget in [TraceStage.importMemoryBytes, 0] {
            let history = try openCycleHistory("stage-stream-import-fallback-\(budget)")
            let fallback = try TraceStage.importFiles([repeated], redactor: redactor, into: history, batchBytes: 900, memoryBytes: budget)
            #expect(fallback.timings.fallback)
            #expect((fallback.timings.spooledBytes > 0) == (budget == 0))
            let stored = try #require(try TraceStage.tracesData(cycle: 1, history: history))
            #expect(stored == reference.data)
            #expect(String(decoding: stored, as: UTF8.self).contains(#""attributes":{"k":"2"}}"#))
            #expect(fallback.report == reference.report)
            let fsck = try runTool("git", ["--git-dir", history.repository.path, "fsck", "--strict"])
            #expect(fsck.status == 0, "\(fsck.stdout)\(fsck.stderr)")
            // The dropped stream left no temporary file behind in the object database.
            let objects = history.repository.appendingPathComponent("objects")
            let leftovers = (FileManager.default.enumerator(atPath: objects.path)?.allObjects as? [String] ?? []).filter { $0.contains("tmp") }
            #expect(leftovers.isEmpty, "\(leftovers)")
        }
    }

    @Test("a streaming source gives its pages back behind the scan and reads them again when asked")
    func streamingSourceReleasesPages() throws {
        let dir = TestPaths.scratch("stage-stream-source")
        let file = try unnormalizedFile(dir, traces: 5, spansPerTrace: 3)
        let source = try TraceSource(streaming: file)
        #expect(source.releasablePages)
        let streamed = try TraceStore(sources: [source])
        let mapped = try TraceStore(files: [file])
        #expect(streamed.indexRows() == mapped.indexRows())
        source.releasePages(0..<source.data.count)
        #expect(try streamed.allSpans() == (try mapped.allSpans()))
        // Bytes in memory are never released (only a file mapping is).
        let memory = TraceSource(name: "m", data: try Data(contentsOf: file))
        #expect(!memory.releasablePages)
        memory.releasePages(0..<memory.data.count)
        #expect(memory.data == (try Data(contentsOf: file)))
    }
}
