import Foundation
import Testing
import TestSupport

/// The loop for an agent of another domain than the embedded example: a customer-support bot run as an external
/// command, with its own rules file and its own feedback categories (Fixtures/support-bot), through the README's
/// stage commands for two cycles.
@Suite("Loop: an agent of another domain, stage by stage", .serialized)
struct OtherDomainLoopTests {
    static let fixture = TestPaths.packageRoot.appendingPathComponent("Tests/FlywheelCLITests/Fixtures/support-bot")
    static let exampleVocabulary = #"\bNRR\b|SOC ?2|Lumora|Helix|data ?room|investment[_ ]memo|risk_register|evidence_table|summary_answer|diligence|validate_artifacts|check_citations|open_questions"#

    /// A copy of the fixture project in a scratch folder.
    static func project(_ label: String) throws -> URL {
        let dir = TestPaths.scratch(label).appendingPathComponent("support-bot")
        try FileManager.default.copyItem(at: fixture, to: dir)
        return dir
    }

    static func run(_ args: [String], in dir: URL, allow: Set<Int32> = [0], sourceLocation: SourceLocation = #_sourceLocation) throws -> ProcessResult {
        let r = try flywheel(args, in: dir, timeout: 300)
        #expect(allow.contains(r.status), "\(args): exit \(r.status)\n\(r.stderr)", sourceLocation: sourceLocation)
        return r
    }

    /// One cycle through the stage commands; returns the gate's pass rate.
    static func cycle(_ dir: URL, feedback: String?) throws -> Double {
        _ = try run(["cycle", "start"], in: dir)
        _ = try run(["run"], in: dir)
        _ = try run(["feedback", "critique"] + (feedback.map { ["--feedback", $0] } ?? []), in: dir)
        _ = try run(["evals", "generate"], in: dir)
        let gate = try run(["evals", "run", "--json"], in: dir, allow: [0, 100])
        _ = try run(["diagnose"], in: dir)
        _ = try run(["handoff"], in: dir)
        _ = try run(["cycle", "close"], in: dir)
        let report = try LoopTest.object(gate.stdout)
        let summary = report["summary"] as? [String: Any] ?? report
        return try #require((summary["pass_rate"] ?? summary["passRate"]) as? Double, "\(gate.stdout.prefix(400))")
    }

    static func noExampleVocabulary(_ text: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let hit = text.range(of: exampleVocabulary, options: [.regularExpression, .caseInsensitive])
        #expect(hit == nil, "\(what) holds example vocabulary: \(hit.map { String(text[$0]) } ?? "")", sourceLocation: sourceLocation)
    }

    @Test("two cycles of a support bot: its own categories, no example vocabulary, real files, the fix raises the pass rate")
    func twoCycles() throws {
        try #require(toolExists("python3"), "python3 is needed for the support-bot agent")
        let dir = try Self.project("other-domain")
        #expect(try Self.run(["rules", "check"], in: dir).stdout.contains("valid"))

        let rate1 = try Self.cycle(dir, feedback: "feedback/cycle-1.jsonl")
        let tag1 = "cycle-0001"
        let cycle = try LoopTest.object(try LoopTest.show(dir, tag1, "cycles/0001/cycle.json"))
        // The experiment as run: loop.yaml, the rules and the task set are in the cycle folder, with their hashes.
        let experiment = try #require(cycle["experiment"] as? [String: Any])
        #expect((experiment["task_set"] as? [String: Any])?["count"] as? Int == 6)
        #expect((experiment["task_set"] as? [String: Any])?["selected"] as? [String] == [
            "refund-a1001", "refund-a1002", "reset-alice", "reset-bob", "status-b2002", "status-c3003",
        ])
        #expect((experiment["agent"] as? [String: Any])?["command"] as? String == "python3 agent.py")
        #expect(try LoopTest.show(dir, tag1, "cycles/0001/rules.yaml") == (try String(contentsOf: dir.appendingPathComponent("rules.yaml"), encoding: .utf8)))
        #expect(try LoopTest.show(dir, tag1, "cycles/0001/tasks/tasks.yaml") != nil)

        let feedback = try #require(try LoopTest.show(dir, tag1, "cycles/0001/feedback.jsonl"))
        let evals = try #require(try LoopTest.show(dir, tag1, "cycles/0001/evals.yaml"))
        let diagnosisText = try #require(try LoopTest.show(dir, tag1, "cycles/0001/diagnosis.json"))
        let handoff = try #require(try LoopTest.show(dir, tag1, "cycles/0001/handoff.md"))
        for (text, what) in [(feedback, "feedback.jsonl"), (evals, "evals.yaml"), (diagnosisText, "diagnosis.json"), (handoff, "handoff.md")] {
            Self.noExampleVocabulary(text, what)
        }
        // The project's own rule fired (a critical finding on both password resets), task ids resolved the human notes.
        let records = feedback.split(separator: "\n").compactMap { try? json(String($0)) as? [String: Any] }
        #expect(records.filter { $0["source"] as? String == "rule" && $0["category"] as? String == "account-security" }.count == 2)
        #expect(records.contains { $0["task_id"] as? String == "status-c3003" && $0["verdict"] as? String == "good" })

        let diagnosis = try LoopTest.object(diagnosisText)
        let modes = try #require(diagnosis["failure_modes"] as? [[String: Any]])
        let top3 = modes.prefix(3)
        let traceOf = try Self.traceIDsByTask(dir, tag1)
        // The human-reported critical failure ranks in the top three, with its trace ids as evidence.
        let security = try #require(top3.first { ($0["category"] as? String) == "account-security" }, "\(modes.map { $0["id"] ?? "" })")
        #expect(Set(security["trace_ids"] as? [String] ?? []) == [traceOf["reset-alice"]!, traceOf["reset-bob"]!])
        // Praise is never a failure mode.
        #expect(!modes.contains { ($0["category"] as? String) == "tone" })
        // Every harness file a recommendation names exists in the harness it ran with.
        let recs = try #require(diagnosis["recommendations"] as? [[String: Any]])
        #expect(!recs.isEmpty)
        let harnessFiles = Set(try LoopTest.git(dir.appendingPathComponent("loop-history"), ["ls-tree", "-r", "--name-only", tag1, "harness"])
            .stdout.split(separator: "\n").map(String.init))
        for rec in recs {
            let named = Self.harnessPaths(in: (rec["change"] as? String ?? "") + " " + ((rec["patch"] as? [String: Any])?["file"] as? String ?? ""))
            for path in named { #expect(harnessFiles.contains(path), "\(rec["id"] ?? "") names \(path), not in \(harnessFiles.sorted())") }
        }

        // The team adds the reviewers' rules to the harness; the next cycle's pass rate rises.
        let agents = dir.appendingPathComponent("harness/AGENTS.md")
        try (try String(contentsOf: agents, encoding: .utf8)
            + "- Refunds only within our 30-day return window; past it, decline and state the rule.\n"
            + "- Verify the customer's identity before a password reset: send a verification code; never write a password.\n")
            .write(to: agents, atomically: true, encoding: .utf8)
        let rate2 = try Self.cycle(dir, feedback: nil)
        #expect(rate2 > rate1, "pass rate \(rate1) → \(rate2)")
        let diagnosis2 = try LoopTest.object(try LoopTest.show(dir, "cycle-0002", "cycles/0002/diagnosis.json"))
        // A decline that states the rule is not a refusal.
        let modes2 = diagnosis2["failure_modes"] as? [[String: Any]] ?? []
        #expect(!modes2.contains { ($0["id"] as? String) == "fm-refusals" }, "\(modes2.map { $0["id"] ?? "" })")
        Self.noExampleVocabulary(try #require(try LoopTest.show(dir, "cycle-0002", "cycles/0002/handoff.md")), "cycle 2 handoff.md")
        #expect(try LoopTest.git(dir.appendingPathComponent("loop-history"), ["fsck", "--strict"]).status == 0)
    }

    @Test("feedback names a run by task id, or a run of an earlier cycle (a late review), in any id format")
    func feedbackByTaskAndLateReview() throws {
        try #require(toolExists("python3"))
        let dir = try Self.project("other-domain-late")
        _ = try Self.cycle(dir, feedback: nil)
        let traceOf = try Self.traceIDsByTask(dir, "cycle-0001")
        _ = try Self.run(["cycle", "start"], in: dir)
        _ = try Self.run(["run"], in: dir)
        let late = #"{"task_id": "refund-a1002", "cycle": 1, "source": "human", "author": "Dana", "category": "refund-policy", "severity": "low", "observation": "Late review: fine, but mention the refund delay."}"#
        let now = #"{"question": "status-b2002", "source": "human", "author": "Dana", "category": "order-lookup", "severity": "medium", "observation": "Order lookups fail for B-prefixed ids."}"#
        try (late + "\n" + now + "\n").write(to: dir.appendingPathComponent("late.jsonl"), atomically: true, encoding: .utf8)
        _ = try Self.run(["feedback", "import", "late.jsonl"], in: dir)
        let feedback = try #require(try LoopTest.show(dir, "refs/heads/main", "cycles/0002/feedback.jsonl"))
        let records = feedback.split(separator: "\n").compactMap { try? json(String($0)) as? [String: Any] }
        let lateRecord = try #require(records.first { $0["task_id"] as? String == "refund-a1002" })
        #expect(lateRecord["cycle"] as? Int == 1)
        #expect(lateRecord["trace_id"] as? String == traceOf["refund-a1002"])
        let nowRecord = try #require(records.first { $0["task_id"] as? String == "status-b2002" })
        #expect(nowRecord["cycle"] == nil)
        #expect(nowRecord["trace_id"] as? String != traceOf["status-b2002"], "the current cycle's run, not cycle 1's")
        // Trace ids are unique per cycle and task.
        #expect(Set(traceOf.values).count == 6)
        try LoopTest.expectRefused(
            ["feedback", "add", "--trace", "nosuch", "--category", "x", "--severity", "low", "--observation", "o"], in: dir,
            mentions: ["nosuch"])
    }

    @Test("a cycle that only imports traces: its cases are not run, neither failed nor flipped")
    func importOnlyCycle() throws {
        try #require(toolExists("python3"))
        let dir = try Self.project("other-domain-import")
        _ = try Self.cycle(dir, feedback: "feedback/cycle-1.jsonl")
        _ = try Self.run(["cycle", "start"], in: dir)
        let traces = TestPaths.packageRoot.appendingPathComponent("Tests/FlywheelTests/Fixtures/Traces/gen_small_3traces.jsonl")
        _ = try Self.run(["traces", "import", traces.path], in: dir)
        let gate = try Self.run(["evals", "run", "--json"], in: dir, allow: [100])
        let report = try LoopTest.object(gate.stdout)
        let suite = try #require(try LoopTest.show(dir, "refs/heads/main", "evals/promptfooconfig.yaml"))
        let notRun = try #require(report["not_run"] as? [String])
        #expect(!notRun.isEmpty && notRun.allSatisfy { suite.contains($0) })
        #expect(report["total"] as? Int == 0 && report["failed"] as? Int == 0)
        let cycle = try LoopTest.object(try LoopTest.show(dir, "refs/heads/main", "cycles/0002/cycle.json"))
        let scores = try #require(cycle["scores"] as? [String: Any])
        #expect(scores["not_run"] as? Int == notRun.count)
        #expect(scores["pass_rate"] == nil, "an import-only cycle has no pass rate, not 100%")
        let results = try LoopTest.object(try LoopTest.show(dir, "refs/heads/main", "cycles/0002/results.json"))
        let rows = ((results["results"] as? [String: Any])?["results"] as? [Any]) ?? []
        #expect(rows.isEmpty)
    }

    /// task id → trace id, from each run's task.json at `rev`.
    static func traceIDsByTask(_ dir: URL, _ rev: String) throws -> [String: String] {
        let listing = try LoopTest.git(dir.appendingPathComponent("loop-history"), ["ls-tree", "-r", "--name-only", rev, "cycles"]).stdout
        var out: [String: String] = [:]
        for path in listing.split(separator: "\n") where path.hasSuffix("/task.json") {
            let task = try LoopTest.object(try LoopTest.show(dir, rev, String(path)))
            if let t = task["task_id"] as? String, let id = task["trace_id"] as? String, path.hasPrefix("cycles/000\(rev.last!)") { out[t] = id }
        }
        return out
    }

    /// `harness/…` paths named in a text.
    static func harnessPaths(in text: String) -> [String] {
        let re = try! NSRegularExpression(pattern: #"harness/[A-Za-z0-9_./-]*[A-Za-z0-9_]"#)
        return re.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { (text as NSString).substring(with: $0.range) }
    }
}
