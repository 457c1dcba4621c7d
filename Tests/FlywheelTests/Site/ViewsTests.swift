@testable import Flywheel
@testable import FlywheelSupport
import Foundation
import Testing
import TestSupport

/// The cross-cycle views: task pages, the compare page, the recommendation timeline (a support-bot history).
@Suite("Site cross-cycle views")
struct ViewsTests {
    static func build(_ f: SupportFixture, out: URL) throws -> SiteReport {
        try SiteBuilder.build(history: f.history, options: SiteOptions(outputDirectory: out))
    }

    static func read(_ out: URL, _ path: String) throws -> String {
        try String(contentsOf: out.appendingPathComponent(path), encoding: .utf8)
    }

    /// The JSON inside a `… = JSON.parse("…");` or `callback(JSON.parse("…"));` data file.
    static func dataJSON(_ js: String) throws -> JSONValue {
        let start = try #require(js.range(of: "JSON.parse("))
        let end = try #require(js.range(of: "\")", options: .backwards))
        let literal = try JSONValue.parse(String(js[start.upperBound..<end.upperBound].dropLast()))
        return try JSONValue.parse(try #require(literal.stringValue))
    }

    @Test("a task page shows the task in every cycle: answers, eval results with reasons, feedback, trace links")
    func taskPage() throws {
        let dir = TestPaths.scratch("views-task")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try SupportFixture.make(in: dir)
        let out = dir.appendingPathComponent("site")
        let report = try Self.build(f, out: out)
        let hashed = HTML.fileName("refund/3 ünïcode")
        #expect(hashed.hasPrefix("h"))
        #expect(report.written.contains("tasks/ticket-1.html"))
        #expect(report.written.contains("tasks/\(hashed).html"))
        #expect(report.written.contains("tasks/ticket-1.data.js"))
        let page = try Self.read(out, "tasks/ticket-1.html")
        for n in 1...3 { #expect(page.contains("id=\"cycle-\(n)\""), "cycle \(n) missing") }
        #expect(page.contains("Hi Dana,"))
        #expect(page.contains("no greeting"))
        #expect(page.contains("Greet the customer by name."))
        #expect(page.contains("href=\"../traces/0001/\(f.traceID(1, 0)).html\""))
        #expect(page.contains("href=\"../cycles/0002.html#eval-greet\""))
        #expect(page.contains("<select class=\"diff-a\""))
        // The data file lists every run for the in-page diff; each cycle's run texts are in their own file.
        let data = try Self.dataJSON(try Self.read(out, "tasks/ticket-1.data.js"))
        let runs = try #require(data["runs"]?.arrayValue)
        #expect(runs.map { $0["cycle"]?.intValue } == [1, 2, 3])
        #expect(data["dir"]?.stringValue == "ticket-1")
        #expect(runs[1]["order"]?.arrayValue?.first?.stringValue == "final_answer.md")
        #expect(runs[0]["files"] == nil, "run texts are not in the index")
        let cycle1JS = try Self.read(out, "tasks/ticket-1/0001.js")
        #expect(cycle1JS.hasPrefix("window.FLYWHEEL_TASK_RUNS(JSON.parse("))
        let cycle1 = try Self.dataJSON(cycle1JS)
        #expect(cycle1["cycle"]?.intValue == 1 && cycle1["task"]?.stringValue == "ticket-1")
        let run1 = try #require(cycle1["runs"]?.arrayValue?.first)
        #expect(run1["trace"]?.stringValue == runs[0]["trace"]?.stringValue)
        #expect(run1["files"]?["final_answer.md"]?.stringValue == "Your order shipped.\nTracking: 123.\n")
        // The dropped task has pages for the cycles it ran in only.
        let third = try Self.read(out, "tasks/\(hashed).html")
        #expect(third.contains("id=\"cycle-2\"") && !third.contains("id=\"cycle-3\""))
        // The index, the matrix and the cycle page link to the task pages.
        #expect(try Self.read(out, "tasks.html").contains("href=\"tasks/\(hashed).html\""))
        #expect(try Self.read(out, "matrix.html").contains("href=\"tasks/ticket-1.html\""))
        #expect(try Self.read(out, "cycles/0002.html").contains("href=\"../tasks/ticket-2.html\""))
    }

    @Test("compare data: one file per cycle with its graded cases, answers, failure modes, harness and task set")
    func compareData() throws {
        let dir = TestPaths.scratch("views-compare")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try SupportFixture.make(in: dir)
        let out = dir.appendingPathComponent("site")
        _ = try Self.build(f, out: out)
        let page = try Self.read(out, "compare.html")
        #expect(page.contains("<select id=\"compare-a\" aria-label=\"Cycle A\"><option value=\"1\">Cycle 1</option><option value=\"2\" selected>"))
        #expect(page.contains("<option value=\"3\" selected>Cycle 3</option></select></label></div>"))
        // The page loads the two cycles it compares on demand, not every cycle's file.
        #expect(page.contains("src=\"compare-index.js\""))
        #expect(!page.contains("src=\"compare/0003.js\""))
        let c3 = try Self.dataJSON(try Self.read(out, "compare/0003.js"))
        #expect(c3["rows"]?["escalate"] == nil, "a case with no row stays out (not run)")
        #expect(c3["rows"]?["refund"]?["s"]?.stringValue == "pass")
        #expect(c3["task_set"]?["changed"]?.boolValue == true)
        #expect(c3["scores"]?["not_run"]?.intValue == 1)
        #expect(c3["answers"]?["ticket-2"]?.stringValue?.hasPrefix("Refunds are accepted within 30 days.") == true)
        #expect(c3["answers"]?["ticket-2"]?.stringValue?.contains("── reply.json ──") == true)
        #expect(c3["harness"]?["prompt.md"]?.stringValue?.contains("Quote the refund policy") == true)
        let c2 = try Self.dataJSON(try Self.read(out, "compare/0002.js"))
        #expect(c2["modes"]?["fm-no-policy"]?.stringValue == "No refund policy")
        #expect(c2["task_files"]?["refund/3 ünïcode"]?.stringValue == HTML.fileName("refund/3 ünïcode"))
        let index = try Self.read(out, "compare-index.js")
        #expect(index.contains("\"1-3\""))
    }

    @Test("recommendation timeline: proposed, implemented with its diff, outcome, actual vs predicted, attribution")
    func recommendations() throws {
        let dir = TestPaths.scratch("views-recs")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try SupportFixture.make(in: dir)
        let out = dir.appendingPathComponent("site")
        _ = try Self.build(f, out: out)
        let page = try Self.read(out, "recommendations.html")
        #expect(page.contains("3 recommendation(s): 2 regressed, 1 verified"))
        let greet = try #require(page.components(separatedBy: "<tr id=\"rec-1-rec-greet\"").dropFirst().first?.components(separatedBy: "</tr>").first)
        #expect(greet.contains("cycle 1</a>, rank 1"))
        #expect(greet.contains("greet passes (1 eval(s) predicted to pass: greet)"))
        #expect(greet.contains("yes, in cycle 2"))
        #expect(greet.contains("href=\"diffs/0001-0002.html\""))
        #expect(greet.contains("commit 00000000…"))
        #expect(greet.contains("st-regressed"))
        #expect(greet.contains("1 of 1 predicted eval(s) pass; 1 regressed: refund; pass rate 33.3% → 33.3% (±0.0 pp)"))
        #expect(greet.contains("Attribution unsure: implemented together with Friendly tone"))
        let refund = try #require(page.components(separatedBy: "<tr id=\"rec-2-rec-refund\"").dropFirst().first?.components(separatedBy: "</tr>").first)
        #expect(refund.contains("st-verified"))
        #expect(!refund.contains("Attribution unsure"))
        #expect(refund.contains("pass rate 33.3% → 100.0% (+66.7 pp)"))
    }

    @Test("recommendations beyond the window: the page lists the latest cycles', full blocks get archive pages with their outcomes that later cycles never rewrite")
    func recommendationArchives() throws {
        let dir = TestPaths.scratch("views-rec-archives")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try SupportFixture.make(in: dir)
        let inc = dir.appendingPathComponent("inc"), full = dir.appendingPathComponent("full")
        var written: [Int: [String]] = [:]
        for n in 1...3 {
            written[n] = try SiteBuilder.build(history: f.history, options: SiteOptions(outputDirectory: inc, atCycle: n, window: 1)).written
        }
        _ = try SiteBuilder.build(history: f.history, options: SiteOptions(outputDirectory: full, incremental: false, window: 1))
        try SiteIncrementalTests.expectSame(inc, full)
        // Block 1 is written with cycle 1, again when cycle 2 (which judges its recommendations) arrives, never after.
        #expect(written[1]?.contains("recommendations-0001-0001.html") == true)
        #expect(written[2]?.contains("recommendations-0001-0001.html") == true)
        #expect(written[3]?.contains("recommendations-0001-0001.html") == false)
        #expect(written[3]?.contains("recommendations-0002-0002.html") == true)
        // The archive of cycle 1: its recommendation with the outcome cycle 2 recorded.
        let archive = try Self.read(full, "recommendations-0001-0001.html")
        let greet = try #require(archive.components(separatedBy: "<tr id=\"rec-1-rec-greet\"").dropFirst().first?.components(separatedBy: "</tr>").first)
        #expect(greet.contains("yes, in cycle 2") && greet.contains("st-regressed") && greet.contains("href=\"diffs/0001-0002.html\""))
        #expect(!archive.contains("rec-2-rec-refund"))
        #expect(archive.contains("Recommendations, cycles 1–1"))
        // The page: cycle 3's recommendations only, linking both archives.
        let page = try Self.read(full, "recommendations.html")
        #expect(!page.contains("rec-1-rec-greet") && !page.contains("rec-2-rec-refund"))
        #expect(page.contains("the latest 1 of 3 cycles"))
        #expect(page.contains("href=\"recommendations-0001-0001.html\"") && page.contains("href=\"recommendations-0002-0002.html\""))
        let second = try Self.read(full, "recommendations-0002-0002.html")
        #expect(second.contains("rec-2-rec-refund") && second.contains("st-verified") && second.contains("href=\"recommendations-0001-0001.html\""))
    }

    @Test("incremental: a new cycle writes its own compare data and leaves older cycles' data alone")
    func incremental() throws {
        let dir = TestPaths.scratch("views-incr")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try SupportFixture.make(in: dir, cycles: 2)
        let out = dir.appendingPathComponent("site")
        let first = try Self.build(f, out: out)
        #expect(first.written.contains("compare/0001.js"))
        try f.addCycle(3)
        let second = try Self.build(f, out: out)
        #expect(second.written.contains("compare/0003.js"))
        #expect(second.written.contains("compare.html"))
        #expect(second.written.contains("recommendations.html"))
        #expect(second.written.contains("tasks/ticket-1.html"))
        #expect(!second.written.contains("compare/0001.js"))
        #expect(!second.written.contains("compare/0002.js"))
        #expect(!second.written.contains("cycles/0001.html"))
    }

    @Test("golden pages: task, tasks, compare, compare data, recommendations")
    func goldens() throws {
        let dir = TestPaths.scratch("views-golden")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try SupportFixture.make(in: dir)
        let out = dir.appendingPathComponent("site")
        _ = try Self.build(f, out: out)
        for (path, golden) in [
            ("tasks/ticket-1.html", "task-ticket-1.html"), ("tasks/ticket-1.data.js", "task-ticket-1.data.js"),
            ("tasks.html", "tasks.html"), ("compare.html", "compare.html"), ("compare/0003.js", "compare-0003.js"),
            ("recommendations.html", "recommendations.html"),
        ] {
            Golden.check(try Self.read(out, path), named: golden)
        }
    }

    @Test("the XSS corpus in every field of the support history never reaches the new pages as markup")
    func xss() throws {
        let dir = TestPaths.scratch("views-xss")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try SupportFixture.make(in: dir, payload: XSSPayloads.joined)
        let out = dir.appendingPathComponent("site")
        _ = try Self.build(f, out: out)
        let files = try FileManager.default.subpathsOfDirectory(atPath: out.path).sorted()
        var problems: [String] = []
        var pages = 0
        for file in files where file.hasSuffix(".html") {
            if file.hasPrefix("tasks") || file == "compare.html" || file == "recommendations.html" { pages += 1 }
            problems += XSSTests.problems(in: try Self.read(out, file), file: file)
        }
        #expect(pages >= 6)
        for file in files where file.hasSuffix(".js") && (file.hasPrefix("tasks/") || file.hasPrefix("compare")) {
            let js = try Self.read(out, file)
            #expect(!js.contains("<"), "\(file) has a raw <")
            #expect(!js.contains("\u{2028}"), "\(file) has a raw U+2028")
        }
        #expect(problems.isEmpty, "\(problems.prefix(20).joined(separator: "\n"))")
        let task = try Self.read(out, "tasks.html")
        #expect(task.contains("&lt;script&gt;window.__xss=1&lt;/script&gt;"))
    }
}
