import Flywheel
import Foundation
import Testing
import TestSupport
import FlywheelEvals

/// Several `flywheel` processes writing one history at once: each writer's work survives or is refused, never lost.
@Suite("Loop: concurrent writers")
struct LoopConcurrencyTests {
    /// Runs every argument list as its own `flywheel` process, all at once; results in the same order.
    static func together(_ runs: [[String]], in folder: URL, folders: [URL]? = nil) -> [ProcessResult?] {
        final class Box: @unchecked Sendable {
            let lock = NSLock()
            var results: [ProcessResult?]
            init(_ n: Int) { results = Array(repeating: nil, count: n) }
        }
        let box = Box(runs.count)
        DispatchQueue.concurrentPerform(iterations: runs.count) { i in
            let r = try? flywheel(runs[i], in: folders?[i] ?? folder)
            box.lock.withLock { box.results[i] = r }
        }
        return box.results
    }

    @Test("reviewers adding feedback at the same moment keep every note")
    func concurrentFeedback() throws {
        let folder = try LoopTest.example("concurrent-feedback")
        #expect(try flywheel(["cycle", "start"], in: folder).status == 0)
        let run = try LoopTest.object(try flywheel(["run", "--tasks", "2", "--json"], in: folder).stdout)
        let trace = try #require((run["trace_ids"] as? [String])?.first)
        let n = 6
        let results = Self.together((1...n).map {
            ["feedback", "add", "--trace", trace, "--category", "note-\($0)", "--severity", "low", "--observation", "Reviewer note \($0)."]
        }, in: folder)
        for (i, r) in results.enumerated() { #expect(r?.status == 0, "writer \(i + 1): \(r?.stderr ?? "did not run")") }
        let feedback = try #require(try LoopTest.show(folder, "refs/heads/main", "cycles/0001/feedback.jsonl"))
        let categories = Set(feedback.split(separator: "\n").compactMap { (try? json(String($0)) as? [String: Any])?["category"] as? String })
        #expect(categories == Set((1...n).map { "note-\($0)" }), "lost notes: \(categories.sorted())")
        #expect(try LoopTest.trailers(folder).filter { $0.stage == "feedback" }.count == n)
    }

    @Test("two runs of one cycle at once merge: every task once, outputs and traces agree")
    func concurrentRuns() throws {
        let folder = try LoopTest.example("concurrent-run")
        // A slow external agent, so both runs are past their start before either commits.
        try ("import time\ntime.sleep(1.5)\n" + RunExternalAgentTests.agent)
            .write(to: folder.appendingPathComponent("slow.py"), atomically: true, encoding: .utf8)
        #expect(try flywheel(["cycle", "start"], in: folder).status == 0)
        let results = Self.together([
            ["run", "--agent-cmd", "python3 slow.py", "--tasks", "3", "--seed", "1"],
            ["run", "--agent-cmd", "python3 slow.py", "--tasks", "2", "--seed", "2"],
        ], in: folder)
        let statuses = results.map { $0?.status }
        #expect(statuses == [0, 0], "exits \(statuses): \(results.map { $0?.stderr ?? "" })")
        let traces = try #require(try LoopTest.show(folder, "refs/heads/main", "cycles/0001/traces.jsonl"))
        let roots = traces.split(separator: "\n").compactMap { try? json(String($0)) as? [String: Any] }
            .filter { ($0["parent_span_id"] as? String ?? "").isEmpty }
        let tasks = roots.compactMap { ($0["attributes"] as? [String: Any])?["flywheel.task.id"] as? String }
        #expect(tasks == ["q01", "q02", "q03"], "a task twice or missing: \(tasks)")
        let ids = Set(roots.compactMap { $0["trace_id"] as? String })
        let files = try LoopTest.git(folder.appendingPathComponent("loop-history"), ["ls-tree", "-r", "--name-only", "refs/heads/main", "cycles/0001/outputs"])
            .stdout.split(separator: "\n").map { String($0.split(separator: "/")[3]) }
        #expect(Set(files) == ids)
        #expect(try LoopTest.git(folder.appendingPathComponent("loop-history"), ["fsck", "--strict"]).status == 0)
    }

    @Test("concurrent prunes: every prune that reports success is in the suite's ledger and its case is gone")
    func concurrentPrunes() throws {
        let folder = try LoopTest.example("concurrent-prune")
        let loop = try flywheel(["loop", "--tasks", "4", "--feedback", "feedback/cycle-1-human.jsonl"], in: folder)
        try #require(loop.status == 0 || loop.status == 100, "\(loop.stderr)")  // 100: the gate failed, the cycle is recorded
        let suiteFile = folder.appendingPathComponent("s.yaml")
        let before = try EvalSuite.parse(yaml: try #require(try LoopTest.show(folder, "refs/heads/main", "evals/promptfooconfig.yaml")), file: suiteFile)
        let ids = before.tests.compactMap { $0.raw["metadata"]?["id"]?.stringValue }.prefix(5)
        try #require(ids.count == 5)
        let results = Self.together(ids.map { ["evals", "prune", $0, "--why", "reason for \($0)"] }, in: folder)
        var pruned: Set<String> = []
        for (id, r) in zip(ids, results) {
            let r = try #require(r)
            if r.status == 0 { pruned.insert(id) } else {
                #expect(r.status == 1 && r.stderr.contains("changed while pruning"), "\(id): \(r.stderr)")
            }
        }
        #expect(!pruned.isEmpty)
        let text = try #require(try LoopTest.show(folder, "refs/heads/main", "evals/promptfooconfig.yaml"))
        let after = try EvalSuite.parse(yaml: text, file: suiteFile)
        let left = Set(after.tests.compactMap { $0.raw["metadata"]?["id"]?.stringValue })
        #expect(after.tests.count == before.tests.count - pruned.count, "pruned \(pruned.sorted()) but the suite has \(after.tests.count) of \(before.tests.count)")
        for id in ids {
            #expect(left.contains(id) != pruned.contains(id), "\(id): reported \(pruned.contains(id) ? "pruned" : "refused") but is \(left.contains(id) ? "in" : "not in") the suite")
            #expect(text.contains("reason for \(id)") == pruned.contains(id), "\(id): ledger disagrees")
        }
        #expect(try LoopTest.trailers(folder).filter { $0.stage == "prune" }.count == pruned.count)
    }
}
