import Flywheel
import Foundation
import Testing
import TestSupport
import FlywheelEvals

/// `flywheel demo`: three offline cycles, the record in git, the site.
@Suite("Loop: flywheel demo end to end")
struct DemoEndToEndTests {
    @Test("demo: three tagged cycles, a clean repository, a growing suite, a rising pass rate, a verified change, the site")
    func demo() throws {
        let parent = TestPaths.scratch("demo")
        let folder = parent.appendingPathComponent("demo")
        let started = Date()
        let r = try flywheel(["demo", "--dir", folder.path], in: parent, timeout: 300)
        let seconds = Date().timeIntervalSince(started)
        print("flywheel demo: \(String(format: "%.1f", seconds)) s")
        try #require(r.status == 0, "demo failed: \(r.stderr)\n\(r.stdout)")
        #expect(seconds < 120, "the demo took \(seconds) s")
        let repo = folder.appendingPathComponent("loop-history")

        // Tags, and git itself finds nothing wrong with what libgit2 wrote.
        let tags = try LoopTest.git(repo, ["tag", "--list"]).stdout.split(separator: "\n").map(String.init)
        #expect(tags == ["cycle-0001", "cycle-0002", "cycle-0003"])
        let fsck = try LoopTest.git(repo, ["fsck", "--strict", "--no-dangling"])
        #expect(fsck.status == 0, "git fsck: \(fsck.stderr)")
        #expect(!(fsck.stdout + fsck.stderr).lowercased().contains("error"), "git fsck: \(fsck.stdout) \(fsck.stderr)")
        #expect(!(fsck.stdout + fsck.stderr).lowercased().contains("warning"), "git fsck: \(fsck.stdout) \(fsck.stderr)")

        // Scores per cycle, from the tagged cycle.json.
        var passRates: [Double] = []
        var suiteSizes: [Int] = []
        var suiteIDs: [Set<String>] = []
        for n in 1...3 {
            let tag = String(format: "cycle-%04d", n)
            let cycle = try LoopTest.object(try LoopTest.show(folder, tag, String(format: "cycles/%04d/cycle.json", n)))
            #expect(cycle["status"] as? String == "closed")
            let scores = try #require(cycle["scores"] as? [String: Any], "cycle \(n) has no scores")
            let rate = try #require(scores["pass_rate"] as? Double, "cycle \(n) has no scores.pass_rate")
            #expect((0...1).contains(rate))
            passRates.append(rate)
            let suiteText = try #require(try LoopTest.show(folder, tag, "evals/promptfooconfig.yaml"))
            let suite = try EvalSuite.parse(yaml: suiteText, file: repo.appendingPathComponent("evals/promptfooconfig.yaml"))
            suiteSizes.append(suite.tests.count)
            suiteIDs.append(Set(suite.tests.compactMap { $0.raw["metadata"]?["id"]?.stringValue }))
            #expect(scores["suite_size"] as? Int == suite.tests.count, "cycle \(n): suite_size vs the suite at the tag")
        }
        print("pass rates \(passRates), suite sizes \(suiteSizes)")
        #expect(suiteSizes[0] > 0)
        // A ratchet: every case of a cycle is still there in the next, and the suite grew over the three cycles (it
        // need not grow every cycle: the same checks on the same question are one case).
        #expect(suiteIDs[0].isSubset(of: suiteIDs[1]) && suiteIDs[1].isSubset(of: suiteIDs[2]), "a case left the suite")
        #expect(suiteSizes[0] <= suiteSizes[1] && suiteSizes[1] <= suiteSizes[2] && suiteSizes[0] < suiteSizes[2], "the suite is a ratchet: \(suiteSizes)")
        #expect(passRates[2] > passRates[0], "pass rate should rise: \(passRates)")

        // The harness changed between cycles (the demo played the coding agent), as libgit2 and git both see it.
        for (a, b) in [(1, 2), (2, 3)] {
            let d = try flywheel(["diff", "\(a)", "\(b)", "--json"], in: folder)
            #expect(d.status == 0, "\(d.stderr)")
            let files = try #require(try json(d.stdout) as? [[String: Any]])
            #expect(!files.isEmpty, "no harness diff between cycles \(a) and \(b)")
            #expect(files.allSatisfy { ($0["path"] as? String)?.hasPrefix("harness/") == true })
            #expect(files.reduce(0) { $0 + (($1["additions"] as? Int) ?? 0) } > 0)
            let plain = try LoopTest.git(repo, ["diff", "--stat", "cycle-000\(a)", "cycle-000\(b)", "--", "harness/"])
            #expect(!plain.stdout.isEmpty)
        }

        // A recommendation of cycle 1 is verified by a later cycle's outcomes.
        let d1 = try LoopTest.object(try LoopTest.show(folder, "cycle-0001", "cycles/0001/diagnosis.json"))
        let recs1 = Set(try #require(d1["recommendations"] as? [[String: Any]]).compactMap { $0["id"] as? String })
        #expect(!recs1.isEmpty)
        var verified: [String] = []
        for n in 2...3 {
            let d = try LoopTest.object(try LoopTest.show(folder, "cycle-000\(n)", "cycles/000\(n)/diagnosis.json"))
            for o in (d["outcomes"] as? [[String: Any]]) ?? [] where o["status"] as? String == "verified" {
                if let id = o["recommendation_id"] as? String, recs1.contains(id) {
                    verified.append(id)
                    #expect((o["flipped_to_pass"] as? [String])?.isEmpty == false, "a verified outcome names the cases it flipped")
                }
            }
        }
        #expect(!verified.isEmpty, "no recommendation of cycle 1 verified later (recommendations: \(recs1.sorted()))")

        // The site: the printed index links every cycle page, which exists.
        let index = folder.appendingPathComponent("site/index.html")
        #expect(r.stdout.contains("Site: \(index.path)"), "the demo prints the index path: \(r.stdout.suffix(300))")
        let html = try String(contentsOf: index, encoding: .utf8)
        for n in 1...3 {
            let page = String(format: "cycles/%04d.html", n)
            #expect(html.contains("href=\"\(page)\""), "index does not link \(page)")
            #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("site/\(page)").path))
        }

        // The offline model is labelled a simulation in the traces and the handoff of every cycle.
        for n in 1...3 {
            let tag = "cycle-000\(n)"
            let traces = try #require(try LoopTest.show(folder, tag, "cycles/000\(n)/traces.jsonl"))
            #expect(traces.contains("offline simulation"), "cycle \(n) traces lack the simulation label")
            let handoff = try #require(try LoopTest.show(folder, tag, "cycles/000\(n)/handoff.md"))
            #expect(handoff.contains("offline simulation"), "cycle \(n) handoff lacks the simulation label")
        }
    }

    @Test("the loop goes on after the critics stop finding problems: a clean cycle adds no case and still gates")
    func demoPastCleanCycle() throws {
        let parent = TestPaths.scratch("demo-long")
        let folder = parent.appendingPathComponent("demo")
        let r = try flywheel(["demo", "--dir", folder.path, "--cycles", "7"], in: parent, timeout: 300)
        try #require(r.status == 0, "the demo stopped: \(r.stderr)")
        let tags = try LoopTest.git(folder.appendingPathComponent("loop-history"), ["tag", "--list"]).stdout.split(separator: "\n")
        #expect(tags.count == 7)
        var clean: [Int] = []
        for n in 1...7 {
            let tag = String(format: "cycle-%04d", n)
            let feedback = try #require(try LoopTest.show(folder, tag, String(format: "cycles/%04d/feedback.jsonl", n)))
            guard feedback.isEmpty else { continue }
            clean.append(n)
            let evals = try #require(try LoopTest.show(folder, tag, String(format: "cycles/%04d/evals.yaml", n)), "cycle \(n): no evals.yaml")
            #expect(evals.trimmingCharacters(in: .whitespacesAndNewlines) == "[]", "cycle \(n) added cases without feedback: \(evals)")
            let cycle = try LoopTest.object(try LoopTest.show(folder, tag, String(format: "cycles/%04d/cycle.json", n)))
            let scores = try #require(cycle["scores"] as? [String: Any])
            #expect(scores["evals_added"] as? Int == 0)
            #expect(scores["pass_rate"] as? Double != nil, "cycle \(n) was not gated")
            #expect((scores["suite_size"] as? Int ?? 0) > 0, "the suite is kept")
        }
        #expect(!clean.isEmpty, "no cycle of the example came out clean, so this test proves nothing")
        print("cycles without feedback: \(clean)")
    }

    @Test("demo refuses a folder that already holds a loop, changing nothing")
    func demoRefusesExistingLoop() throws {
        let folder = try LoopTest.example("demo-existing")
        let before = try LoopTest.head(folder)
        let r = try flywheel(["demo", "--dir", folder.path, "--cycles", "1"], in: folder.deletingLastPathComponent())
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("already holds a loop"))
        #expect(try LoopTest.head(folder) == before)
    }
}
