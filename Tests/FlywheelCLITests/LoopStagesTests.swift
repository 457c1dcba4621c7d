import Flywheel
import Foundation
import GitStore
import Testing
import TestSupport
import FlywheelEvals

/// The loop run stage by stage through the `flywheel` binary, and bad input that must commit nothing.
@Suite("Loop: stages by command, and bad input")
struct LoopStagesTests {
    @Test("cycle start, run, critique, evals generate/run, diagnose, handoff, close: one commit per stage, in order")
    func stepByStep() throws {
        let folder = try LoopTest.example("stages")
        func ok(_ args: [String]) throws -> ProcessResult {
            let r = try flywheel(args, in: folder)
            #expect(r.status == 0, "\(args): exit \(r.status): \(r.stderr)")
            return r
        }
        _ = try ok(["cycle", "start"])
        // Four questions: the example's human feedback is about questions 2, 3 and 4.
        let run = try #require(try json(try ok(["run", "--tasks", "4", "--json"]).stdout) as? [String: Any])
        let traceIDs = try #require(run["trace_ids"] as? [String])
        #expect(traceIDs.count == 4)
        #expect(run["simulation"] as? Bool == true)
        let critique = try #require(try json(try ok(["feedback", "critique", "--feedback", "feedback/cycle-1-human.jsonl", "--json"]).stdout) as? [String: Any])
        #expect((critique["added"] as? [String: Int])?["human"] == 3)
        let generated = try #require(try json(try ok(["evals", "generate", "--json"]).stdout) as? [String: Any])
        let added = try #require(generated["added"] as? [String])
        #expect(!added.isEmpty)

        // The gate: exit 0 when the pass rate meets loop.yaml's threshold, 100 when not.
        let gate = try flywheel(["evals", "run", "-o", "r.json", "--junit", "j.xml"], in: folder)
        #expect(gate.status == 0 || gate.status == 100, "evals run: exit \(gate.status): \(gate.stderr)")
        let results = try LoopTest.object(try String(contentsOf: folder.appendingPathComponent("r.json"), encoding: .utf8))
        let inner = try #require(results["results"] as? [String: Any])
        #expect(inner["version"] as? Int == 3)
        let stats = try #require(inner["stats"] as? [String: Any])
        let passed = stats["successes"] as? Int ?? -1, failed = stats["failures"] as? Int ?? -1, errors = stats["errors"] as? Int ?? -1
        let rows = try #require(inner["results"] as? [[String: Any]])
        #expect(rows.count == passed + failed + errors, "rows vs stats (skipped rows count as errors)")
        #expect(rows.count == added.count)
        let rate = Double(passed) / Double(max(1, passed + failed + errors))
        let threshold = 0.8  // loop.yaml of the example: gate.min_pass_rate
        #expect(try String(contentsOf: folder.appendingPathComponent("loop.yaml"), encoding: .utf8).contains("min_pass_rate: 0.8"))
        #expect(gate.status == (rate >= threshold ? 0 : 100), "pass rate \(rate) vs \(threshold) but exit \(gate.status)")
        for row in rows {
            let meta = (row["testCase"] as? [String: Any])?["metadata"] as? [String: Any]
            #expect(meta?["cycle"] as? Int == 1 || meta?["cycle"] as? String == "1", "row provenance: \(meta ?? [:])")
            #expect(meta?["feedback_id"] is String)
            if let t = meta?["trace_id"] as? String { #expect(traceIDs.contains(t)) }
        }
        let committed = try LoopTest.object(try LoopTest.show(folder, "refs/heads/main", "cycles/0001/cycle.json"))
        let scores = try #require(committed["scores"] as? [String: Any])
        #expect(abs((scores["pass_rate"] as? Double ?? -1) - rate) < 1e-9)
        #expect(scores["gate_passed"] as? Bool == (rate >= threshold))
        // The JUnit XML parses (Python's ElementTree as a peer) and agrees with the JSON.
        let xml = try runTool("python3", ["-c", """
            import sys, xml.etree.ElementTree as ET
            root = ET.parse(sys.argv[1]).getroot()
            cases = root.iter('testcase')
            n = 0; bad = 0
            for c in cases:
                n += 1
                if c.find('failure') is not None or c.find('error') is not None: bad += 1
            print(root.tag, n, bad)
            """, folder.appendingPathComponent("j.xml").path])
        #expect(xml.status == 0, "JUnit XML does not parse: \(xml.stderr)")
        #expect(xml.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "testsuites \(rows.count) \(failed + errors)")

        // Diagnosis: the contract of ARTIFACTS.md, with trace ids of this cycle as evidence.
        let diagnosis = try LoopTest.object(try ok(["diagnose", "--json"]).stdout)
        #expect(diagnosis["cycle"] as? Int == 1)
        #expect((diagnosis["generated_by"] as? String) == "deterministic")
        let modes = try #require(diagnosis["failure_modes"] as? [[String: Any]])
        let recs = try #require(diagnosis["recommendations"] as? [[String: Any]])
        #expect(!modes.isEmpty && !recs.isEmpty)
        for fm in modes {
            #expect((fm["id"] as? String)?.hasPrefix("fm-") == true)
            #expect(["missing requirement", "present but not followed", "implementation or observability defect"].contains(fm["kind"] as? String ?? ""))
            let ids = fm["trace_ids"] as? [String] ?? []
            #expect(ids.allSatisfy(traceIDs.contains), "\(fm["id"] ?? ""): trace ids not of this cycle: \(ids)")
        }
        for (i, rec) in recs.enumerated() {
            #expect((rec["id"] as? String)?.hasPrefix("rec-") == true)
            #expect(rec["rank"] as? Int == i + 1)
            #expect(["prompt", "skills", "tools", "control flow", "routing", "artifact schema", "observability", "evals"].contains(rec["area"] as? String ?? ""))
            #expect(["low", "medium", "high"].contains(rec["confidence"] as? String ?? ""))
        }
        #expect((diagnosis["outcomes"] as? [Any])?.isEmpty == true, "the first cycle has nothing to follow up")

        let handoff = try ok(["handoff"]).stdout
        // It ends with a fenced JSON block of the top priorities, in the diagnosis's order.
        let fence = try #require(handoff.range(of: "```json\n", options: .backwards), "no ```json block")
        let block = handoff[fence.upperBound...]
        let close = try #require(block.range(of: "\n```"))
        #expect(block[close.upperBound...].trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "the JSON block is not last")
        let priorities = try #require(try json(String(block[..<close.lowerBound])) as? [[String: Any]])
        #expect(!priorities.isEmpty)
        #expect(priorities.compactMap { $0["id"] as? String } == recs.prefix(priorities.count).compactMap { $0["id"] as? String })
        #expect(handoff.contains("offline simulation"))
        _ = try ok(["cycle", "close"])

        // The log: one commit per stage, in order, with the trailers git reads too.
        let log = try #require(try json(try ok(["log", "--json"]).stdout) as? [[String: Any]])
        #expect(log.reversed().compactMap { $0["stage"] as? String }
            == ["init", "start", "traces", "feedback", "evals", "results", "diagnosis", "handoff", "close"])
        #expect(log.dropLast().allSatisfy { $0["cycle"] as? Int == 1 })
        let trailers = try LoopTest.trailers(folder)
        #expect(trailers.map(\.stage) == ["init", "start", "traces", "feedback", "evals", "results", "diagnosis", "handoff", "close"])
        #expect(trailers.dropFirst().allSatisfy { $0.cycle == "1" }, "\(trailers)")
        #expect(try LoopTest.git(folder.appendingPathComponent("loop-history"), ["tag", "--list"]).stdout == "cycle-0001\n")
        // After the close, the gate still grades but commits nothing.
        let before = try LoopTest.head(folder)
        let again = try flywheel(["evals", "run", "--cycle", "1"], in: folder)
        #expect(again.status == gate.status)
        #expect(again.stdout.contains("closed"))
        #expect(try LoopTest.head(folder) == before)
        // Re-diagnosing the closed cycle gives what was committed (deterministic) and commits nothing.
        let rediagnosed = try ok(["diagnose", "--cycle", "1", "--json"]).stdout
        #expect(try LoopTest.object(rediagnosed) as NSDictionary == diagnosis as NSDictionary)
        #expect(try LoopTest.head(folder) == before)

        // Play the coding agent: apply the handoff's first machine-applicable change, then `flywheel loop` runs
        // cycle 2 end to end and follows up on it.
        let patched = try #require(recs.first { rec in
            let patch = rec["patch"] as? [String: Any]
            return patch?["file"] as? String == "harness/instructions.md" && patch?["append"] is String
        }, "no recommendation with an instructions.md patch")
        let patch = try #require(patched["patch"] as? [String: Any])
        let instructions = folder.appendingPathComponent("harness/instructions.md")
        var text = try String(contentsOf: instructions, encoding: .utf8)
        text += (text.hasSuffix("\n") ? "" : "\n") + (patch["append"] as? String ?? "")
        try text.write(to: instructions, atomically: true, encoding: .utf8)
        let loopRun = try flywheel(["loop", "--tasks", "4", "--summary", "applied \(patched["id"] ?? "")", "--json"], in: folder)
        let loop = try LoopTest.object(loopRun.stdout)
        #expect(loopRun.status == ((loop["gate_passed"] as? Bool ?? false) ? 0 : 100), "the exit code is the gate's: \(loopRun.stderr)")
        #expect(loop["cycle"] as? Int == 2)
        #expect(loop["tag"] as? String == "cycle-0002")
        #expect(loop["traces"] as? Int == 4)
        #expect((loop["suite_size"] as? Int ?? 0) >= added.count, "the suite is a ratchet")
        let outcome = (loop["outcomes"] as? [String: String])?[patched["id"] as? String ?? ""]
        #expect(outcome != nil && outcome != "pending", "the applied change was not followed up: \(loop["outcomes"] ?? "nil")")
        print("cycle 1 pass rate \(rate), cycle 2 \(loop["pass_rate"] ?? "?"); outcome of \(patched["id"] ?? ""): \(outcome ?? "nil")")
        let diff = try LoopTest.object("{\"files\":" + (try ok(["diff", "1", "2", "--json"]).stdout) + "}")
        let changed = (diff["files"] as? [[String: Any]])?.compactMap { $0["path"] as? String }
        #expect(changed == ["harness/instructions.md"])
        let stages = try LoopTest.trailers(folder).filter { $0.cycle == "2" }.map(\.stage)
        #expect(stages == ["start", "traces", "feedback", "evals", "results", "diagnosis", "handoff", "close"])
        let start = try LoopTest.object(try LoopTest.show(folder, "cycle-0002", "cycles/0002/cycle.json"))
        #expect((start["summary"] as? String)?.hasPrefix("applied rec-") == true)

        // The site renders both cycles from the history alone.
        let site = try ok(["site", "build", "--out", "site"])
        #expect(site.stdout.contains("index.html"))
        for page in ["site/index.html", "site/cycles/0001.html", "site/cycles/0002.html"] {
            #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent(page).path), "\(page) missing")
        }
    }

    @Test("a human note becomes an eval case with its provenance; a prune is recorded and the ratchet honours it")
    func humanNoteAndPrune() throws {
        let folder = try LoopTest.example("prune")
        func ok(_ args: [String]) throws -> ProcessResult {
            let r = try flywheel(args, in: folder)
            #expect(r.status == 0 || (args.first == "loop" && r.status == 100), "\(args): exit \(r.status): \(r.stderr)")
            return r
        }
        _ = try ok(["cycle", "start"])
        let traceIDs = try #require(try json(try ok(["run", "--tasks", "2", "--json"]).stdout) as? [String: Any])["trace_ids"] as? [String]
        let trace = try #require(traceIDs?.last)
        let added = try LoopTest.object(try ok([
            "feedback", "add", "--trace", trace, "--category", "arr-basis", "--severity", "high", "--author", "Reviewer <b>R</b>",
            "--observation", "State the ARR basis (<script>alert(1)</script>).", "--require", "PHRASE-XYZ", "--prohibit", "CLAIM-QQQ", "--json",
        ]).stdout)
        #expect((added["added"] as? [String: Int])?["human"] == 1)
        let feedback = try #require(try LoopTest.show(folder, "refs/heads/main", "cycles/0001/feedback.jsonl"))
        let note = try #require(feedback.split(separator: "\n").compactMap { try? json(String($0)) as? [String: Any] }.first { $0["source"] as? String == "human" })
        let feedbackID = try #require(note["feedback_id"] as? String)
        #expect(note["trace_id"] as? String == trace)
        #expect(note["required_observations"] as? [String] == ["PHRASE-XYZ"])
        let generated = try LoopTest.object(try ok(["evals", "generate", "--json"]).stdout)
        let ids = try #require(generated["added"] as? [String])
        let caseID = try #require(ids.first { $0.hasPrefix(feedbackID) }, "no case from \(feedbackID): \(ids)")
        let cycleEvals = try #require(try LoopTest.show(folder, "refs/heads/main", "cycles/0001/evals.yaml"))
        #expect(cycleEvals.contains("PHRASE-XYZ") && cycleEvals.contains("CLAIM-QQQ"))
        let gate = try flywheel(["evals", "run", "-o", "r.json"], in: folder)
        #expect(gate.status == 100, "the simulated answer does not contain PHRASE-XYZ, so the gate fails")
        let rows = try #require((try LoopTest.object(try String(contentsOf: folder.appendingPathComponent("r.json"), encoding: .utf8))["results"] as? [String: Any])?["results"] as? [[String: Any]])
        let row = try #require(rows.first { (($0["testCase"] as? [String: Any])?["metadata"] as? [String: Any])?["id"] as? String == caseID })
        let meta = try #require((row["testCase"] as? [String: Any])?["metadata"] as? [String: Any])
        #expect(meta["feedback_id"] as? String == feedbackID)
        #expect(meta["trace_id"] as? String == trace)
        #expect(meta["category"] as? String == "arr-basis")
        #expect(row["success"] as? Bool == false)
        for args in [["diagnose"], ["handoff", "--quiet"], ["cycle", "close"]] { _ = try ok(args) }

        // Prune: usage error without a reason, then recorded with it.
        let sizeBefore = try EvalSuite.parse(yaml: try #require(try LoopTest.show(folder, "refs/heads/main", "evals/promptfooconfig.yaml")), file: folder.appendingPathComponent("s.yaml")).tests.count
        let pruned = try ok(["evals", "prune", caseID, "--why", "the ARR basis is now in the task itself"])
        #expect(pruned.stdout.contains(caseID))
        let top = try #require((try json(try ok(["log", "--json", "-l", "1"]).stdout) as? [[String: Any]])?.first)
        #expect(top["stage"] as? String == "prune")
        let message = try LoopTest.git(folder.appendingPathComponent("loop-history"), ["log", "-1", "--format=%B"]).stdout
        #expect(message.contains("the ARR basis is now in the task itself"))
        let suiteText = try #require(try LoopTest.show(folder, "refs/heads/main", "evals/promptfooconfig.yaml"))
        let suite = try EvalSuite.parse(yaml: suiteText, file: folder.appendingPathComponent("s.yaml"))
        #expect(suite.tests.count == sizeBefore - 1)
        #expect(suiteText.contains("the ARR basis is now in the task itself"), "the reason is kept in the suite")
        try LoopTest.expectRefused(["evals", "prune", caseID, "--why", "again"], in: folder, mentions: [caseID])

        // The same note in the next cycle does not bring the pruned case back.
        _ = try ok(["cycle", "start"])
        let run2 = try #require(try json(try ok(["run", "--tasks", "2", "--json"]).stdout) as? [String: Any])
        let trace2 = try #require((run2["trace_ids"] as? [String])?.last)
        _ = try ok(["feedback", "add", "--trace", trace2, "--category", "arr-basis", "--severity", "high", "--author", "Reviewer <b>R</b>",
                    "--observation", "State the ARR basis (<script>alert(1)</script>).", "--require", "PHRASE-XYZ", "--prohibit", "CLAIM-QQQ"])
        let generated2 = try LoopTest.object(try ok(["evals", "generate", "--json"]).stdout)
        #expect(!((generated2["added"] as? [String]) ?? []).contains(caseID), "the pruned case came back")
        let after = try EvalSuite.parse(yaml: try #require(try LoopTest.show(folder, "refs/heads/main", "evals/promptfooconfig.yaml")), file: folder.appendingPathComponent("s.yaml"))
        #expect(!after.tests.contains { $0.raw["metadata"]?["id"]?.stringValue == caseID })
    }

    @Test("evals generate twice in a cycle: the cycle's evals.yaml and evals_added cover both calls")
    func generateTwice() throws {
        let folder = try LoopTest.example("generate-twice")
        #expect(try flywheel(["cycle", "start"], in: folder).status == 0)
        let run = try LoopTest.object(try flywheel(["run", "--tasks", "2", "--json"], in: folder).stdout)
        let trace = try #require((run["trace_ids"] as? [String])?.first)
        #expect(try flywheel(["feedback", "critique"], in: folder).status == 0)
        let first = try #require(try LoopTest.object(try flywheel(["evals", "generate", "--json"], in: folder).stdout)["added"] as? [String])
        #expect(try flywheel(["feedback", "add", "--trace", trace, "--category", "late", "--severity", "low",
                              "--observation", "A late note.", "--require", "LATE-PHRASE"], in: folder).status == 0)
        let second = try #require(try LoopTest.object(try flywheel(["evals", "generate", "--json"], in: folder).stdout)["added"] as? [String])
        #expect(!first.isEmpty && !second.isEmpty)
        let cycleEvals = try #require(try LoopTest.show(folder, "refs/heads/main", "cycles/0001/evals.yaml"))
        for id in first + second { #expect(cycleEvals.contains("id: \(id)"), "\(id) missing from the cycle's evals.yaml") }
        let cycle = try LoopTest.object(try LoopTest.show(folder, "refs/heads/main", "cycles/0001/cycle.json"))
        #expect((cycle["scores"] as? [String: Any])?["evals_added"] as? Int == first.count + second.count)
    }

    @Test("flywheel loop checks what it is given before it starts a cycle")
    func loopPreflight() throws {
        let folder = try LoopTest.example("loop-preflight")
        try LoopTest.expectRefused(["loop", "--tasks", "2", "--feedback", "feedback/nope.jsonl"], in: folder, mentions: ["nope.jsonl"])
        try LoopTest.expectRefused(["loop", "--tasks", "0"], in: folder, status: 2, mentions: ["--tasks"])
        try LoopTest.expectRefused(["loop", "--tasks", "99"], in: folder, mentions: ["--tasks 99"])
        try LoopTest.expectRefused(["loop", "--tasks", "1", "--model", "nosuch"], in: folder, mentions: ["--model", "nosuch"])
        // None of these left a cycle open: a good loop runs right after.
        let r = try flywheel(["loop", "--tasks", "1", "--json"], in: folder)
        #expect(r.status == 0 || r.status == 100, "\(r.stderr)")
        #expect(try LoopTest.object(r.stdout)["cycle"] as? Int == 1)
    }

    @Test("bad input fails with a clear message and commits nothing")
    func badInputCommitsNothing() throws {
        let folder = try LoopTest.example("bad-input")
        #expect(try flywheel(["cycle", "start"], in: folder).status == 0)
        try LoopTest.expectRefused(["run", "--tasks", "0"], in: folder, status: 2, mentions: ["--tasks"])
        try LoopTest.expectRefused(["run", "--tasks", "99"], in: folder, mentions: ["--tasks 99", "questions"])
        try LoopTest.expectRefused(["run", "--tasks", "1", "--model", "nosuch"], in: folder, mentions: ["--model", "nosuch"])
        try LoopTest.expectRefused(["feedback", "critique"], in: folder, mentions: ["no traces"])
        #expect(try flywheel(["run", "--tasks", "2"], in: folder).status == 0)
        // Run again: the cycle holds both tasks, so nothing runs and nothing is committed.
        let before = try LoopTest.head(folder)
        let again = try flywheel(["run", "--tasks", "2"], in: folder)
        #expect(again.status == 0 && again.stdout.contains("2 already recorded"), "\(again.stdout) \(again.stderr)")
        #expect(try LoopTest.head(folder) == before)
        try LoopTest.expectRefused(["evals", "generate"], in: folder, mentions: ["no feedback yet"])

        // Feedback: an unknown trace, a malformed file, and human notes about questions that did not run.
        try LoopTest.expectRefused(
            ["feedback", "add", "--trace", "deadbeefdeadbeefdeadbeefdeadbeef", "--category", "x", "--severity", "low", "--observation", "wrong"],
            in: folder, mentions: ["deadbeefdeadbeefdeadbeefdeadbeef", "not a trace of cycle 1"])
        try LoopTest.expectRefused(
            ["feedback", "add", "--trace", "deadbeef", "--category", "x", "--severity", "dire", "--observation", "wrong"],
            in: folder, status: 2, mentions: ["--severity"])
        let traceIDs = try #require(try LoopTest.show(folder, "refs/heads/main", "cycles/0001/traces.jsonl"))
            .split(separator: "\n").compactMap { (try? json(String($0)) as? [String: Any])?["trace_id"] as? String }
        let good = #"{"trace_id":"\#(traceIDs[0])","source":"human","author":"a","category":"c","severity":"low","observation":"o","evidence":"e"}"#
        try (good + "\n{not json\n").write(to: folder.appendingPathComponent("bad.jsonl"), atomically: true, encoding: .utf8)
        try LoopTest.expectRefused(["feedback", "import", "bad.jsonl"], in: folder, mentions: ["bad.jsonl:2"])
        try LoopTest.expectRefused(["feedback", "critique", "--feedback", "feedback/cycle-1-human.jsonl"], in: folder,
                                   mentions: ["cycle-1-human.jsonl:1", "no run of task 3"])
        // The good line alone goes in (the refusals above did not poison anything).
        try (good + "\n").write(to: folder.appendingPathComponent("good.jsonl"), atomically: true, encoding: .utf8)
        #expect(try flywheel(["feedback", "import", "good.jsonl"], in: folder).status == 0)

        // Suites that do not parse: a file given, and one committed into the history.
        try "description: x\nprompts: [\"{{q}}\"]\ntests:\n  - vars: {q: 1}\n    assert:\n      - type: no-such-assertion\n"
            .write(to: folder.appendingPathComponent("broken.yaml"), atomically: true, encoding: .utf8)
        try LoopTest.expectRefused(["evals", "run", "--suite", "broken.yaml"], in: folder,
                                   mentions: ["broken.yaml:6", "tests[0].assert[0].type", "no-such-assertion"])
        let workspace = try Workspace.resolve(repo: nil, ref: nil, cwd: folder)
        var changes = TreeChanges()
        changes.write(Layout.suite, text: "description: broken on purpose\nprompts: [\"{{question}}\"]\ntests:\n  - vars: {question: q}\n    assert: 7\n")
        try workspace.history.commitStage(.config, cycle: nil, title: "test: a suite that no longer parses") { _ in changes }
        try LoopTest.expectRefused(["evals", "run"], in: folder, mentions: ["promptfooconfig.yaml:5", "assert"])
        try LoopTest.expectRefused(["evals", "generate"], in: folder, mentions: ["promptfooconfig.yaml:5", "assert"])

        // Usage errors.
        try LoopTest.expectRefused(["evals", "prune", "fb-0001-concentration-1"], in: folder, status: 2, mentions: ["--why"])
        try LoopTest.expectRefused(["evals", "run", "--min-pass-rate", "80"], in: folder, status: 2, mentions: ["--min-pass-rate"])

        // A closed cycle takes nothing more.
        #expect(try flywheel(["cycle", "close"], in: folder).status == 0)
        try LoopTest.expectRefused(
            ["feedback", "add", "--trace", traceIDs[0], "--category", "x", "--severity", "low", "--observation", "late"],
            in: folder, mentions: ["no open cycle"])
        try LoopTest.expectRefused(["run", "--tasks", "1"], in: folder, mentions: ["no open cycle"])
        try LoopTest.expectRefused(["handoff"], in: folder, mentions: ["no open cycle"])
        try LoopTest.expectRefused(["cycle", "close"], in: folder, mentions: ["no open cycle"])
    }
}
