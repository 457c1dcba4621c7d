@testable import Flywheel
@testable import FlywheelSupport
import Foundation
import Testing
import TestSupport

/// Headless-Chromium tests: every page loads from file:// without console errors, screenshots for people, and the
/// XSS corpus never executes. Skipped (with a message) when Chromium is not installed.
@Suite("Site in a browser", .serialized, .enabled(if: Chromium.available, Comment(rawValue: Chromium.skipMessage)))
struct BrowserTests {
    static let probe = """
        (function () {
          function report() {
            var pwned = window.__xss !== undefined || document.title.indexOf("PWNED") >= 0;
            var d = document.createElement("div");
            d.id = "xss-probe";
            d.setAttribute("data-result", pwned ? "pwned" : "clean");
            document.body.appendChild(d);
          }
          window.addEventListener("load", function () { setTimeout(report, 800); });
        })();
        """

    @Test("every page of a generated site loads from file:// with no console errors; screenshots kept")
    func pagesLoadCleanly() throws {
        let dir = TestPaths.testOutput.appendingPathComponent("site-browser", isDirectory: true)
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let f = try SiteFixture.standard(in: dir)
        let out = dir.appendingPathComponent("site")
        _ = try SiteBuilder.build(history: f.history, options: SiteOptions(outputDirectory: out))
        let pages = try FileManager.default.subpathsOfDirectory(atPath: out.path).filter { $0.hasSuffix(".html") }.sorted()
        #expect(pages.count >= 15)
        for page in ["tasks.html", "tasks/q0.html", "tasks/q1.html", "compare.html", "recommendations.html"] {
            #expect(pages.contains(page), "\(page) not built")
        }
        let loads = Chromium.parallel(pages) { page in try Chromium.load(out.appendingPathComponent(page).absoluteString) }
        for (page, result) in zip(pages, loads) {
            let load = try result.get()
            #expect(load.dom.contains("</main>"), "\(page) did not render")
            #expect(load.console.isEmpty, "\(page) console: \(load.console.joined(separator: "\n"))")
        }
        // Search works from file:// (the index scripts load and a query finds the case).
        let search = try Chromium.load(out.appendingPathComponent("search.html").absoluteString + "?q=case-b")
        #expect(search.dom.contains("Case case-b") || search.dom.contains(">case-b<"), "search found nothing")
        // A span anchor opens that span's details from the data file.
        let tid = f.traceID(2, 1)
        let span = String(format: "d%015x", 2 * 100 + 1)
        let trace = try Chromium.load(out.appendingPathComponent("traces/0002/\(tid).html").absoluteString + "#span-\(span)")
        #expect(trace.dom.contains("Tool output"), "span details not shown")
        // That trace is small: its details come from the page itself, there is no chunk file.
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("traces/0002/\(tid).0.data.js").path))
        #expect(trace.dom.contains("error-box"))

        let shots: [(String, String)] = [
            ("index.html", "overview"), ("cycles/0002.html", "cycle"), ("traces/0002/\(tid).html", "trace"),
            ("matrix.html", "matrix"), ("diffs/0001-0002.html", "diff"), ("tasks/q0.html", "task"),
            ("compare.html#a=1&b=3", "compare"), ("recommendations.html", "recommendations"),
        ]
        let shotDir = TestPaths.testOutput.appendingPathComponent("screenshots", isDirectory: true)
        try FileManager.default.createDirectory(at: shotDir, withIntermediateDirectories: true)
        let results = Chromium.parallel(shots) { (page, name) -> Bool in
            let file = shotDir.appendingPathComponent("\(name).png")
            let base = out.absoluteString.hasSuffix("/") ? out.absoluteString : out.absoluteString + "/"
            try Chromium.screenshot(base + page, to: file)
            return FileManager.default.fileExists(atPath: file.path)
        }
        for ((_, name), r) in zip(shots, results) { #expect((try? r.get()) == true, "no screenshot for \(name)") }
    }

    @Test("the XSS corpus never executes in Chromium (every page, span details expanded)")
    func xssInBrowser() throws {
        let (_, out) = try XSSTests.hostileSite()
        defer { try? FileManager.default.removeItem(at: out.deletingLastPathComponent()) }
        let probeFile = out.appendingPathComponent("xss-probe.js")
        try Data(Self.probe.utf8).write(to: probeFile)
        var pages = try FileManager.default.subpathsOfDirectory(atPath: out.path).filter { $0.hasSuffix(".html") }.sorted()
        // Inject the probe into each page (a copy: the site's own pages carry no test code).
        var urls: [String] = []
        for page in pages {
            let url = out.appendingPathComponent(page)
            let html = try String(contentsOf: url, encoding: .utf8)
            let probed = html.replacingOccurrences(of: "</body>", with: "<script src=\"\(probeFile.absoluteString)\"></script></body>")
            let copy = url.deletingPathExtension().appendingPathExtension("probe.html")
            try Data(probed.utf8).write(to: copy)
            urls.append(copy.absoluteString + (page.hasPrefix("traces/") ? "#all-spans" : ""))
        }
        urls.append(out.appendingPathComponent("search.probe.html").absoluteString + "?q=script")
        pages.append("search.html?q=script")
        // A canary proves the probe can see an executed payload.
        let canary = out.appendingPathComponent("canary.html")
        try Data("<html><body><img src=x onerror=window.__xss=1><script src=\"\(probeFile.absoluteString)\"></script></body></html>".utf8).write(to: canary)
        let canaryLoad = try Chromium.load(canary.absoluteString)
        #expect(canaryLoad.dom.contains("data-result=\"pwned\""), "the probe cannot detect an executed payload")
        #expect(urls.count >= 10)
        let loads = Chromium.parallel(urls) { try Chromium.load($0, budgetMs: 4000) }
        for (page, r) in zip(pages, loads) {
            let load = try r.get()
            #expect(load.dom.contains("id=\"xss-probe\" data-result=\"clean\""), "\(page): probe did not report clean")
            #expect(!load.dom.contains("data-result=\"pwned\""), "\(page): XSS executed")
        }
    }
}

extension BrowserTests {
    @Test("cross-cycle views in the browser: the compare page compares any two cycles, the task page diffs answers")
    func crossCycleViews() throws {
        let dir = TestPaths.testOutput.appendingPathComponent("site-views", isDirectory: true)
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let f = try SupportFixture.make(in: dir)
        let out = dir.appendingPathComponent("site")
        _ = try SiteBuilder.build(history: f.history, options: SiteOptions(outputDirectory: out))
        let pages = try FileManager.default.subpathsOfDirectory(atPath: out.path)
            .filter { $0.hasSuffix(".html") && ($0.hasPrefix("tasks") || $0 == "compare.html" || $0 == "recommendations.html") }.sorted()
        #expect(pages.count >= 5)
        let loads = Chromium.parallel(pages) { page in try Chromium.load(out.appendingPathComponent(page).absoluteString) }
        for (page, result) in zip(pages, loads) {
            let load = try result.get()
            #expect(load.dom.contains("</main>"), "\(page) did not render")
            #expect(load.console.isEmpty, "\(page) console: \(load.console.joined(separator: "\n"))")
        }
        let compare = out.appendingPathComponent("compare.html").absoluteString
        // 1 → 2: greet fixed, refund broken; the denominators are the same.
        let a = try Chromium.load(compare + "#a=1&b=2")
        #expect(a.console.isEmpty, "\(a.console)")
        #expect(a.dom.contains("Fixed (1)") && a.dom.contains("Broken (1)"), "flips 1→2")
        #expect(a.dom.contains("Appeared (1)") && a.dom.contains("No refund policy") && a.dom.contains("Resolved (1)"))
        #expect(a.dom.contains("Greet the customer by name."), "harness diff 1→2")
        #expect(!a.dom.contains("Different denominators"))
        // Only the two compared cycles' data files were loaded (on demand, by script element from file://).
        #expect(a.dom.contains("src=\"compare/0001.js\"") && a.dom.contains("src=\"compare/0002.js\""))
        #expect(!a.dom.contains("compare/0003.js"))
        // 2 → 3: refund fixed; escalate has no row in 3 and is not a flip; the task set changed.
        let b = try Chromium.load(compare + "#a=2&b=3")
        #expect(b.dom.contains("Fixed (1)") && b.dom.contains("Broken (0)"), "flips 2→3")
        #expect(b.dom.contains("Different denominators") && b.dom.contains("The task set changed in cycle 3"))
        #expect(b.dom.contains("3 case(s), cycle 3 2; 2 were graded in both"))
        #expect(!b.dom.contains("Other changes"))
        #expect(b.dom.contains("1 of 2 tasks answered in both cycles changed their answer; 1 answered only in A, 0 only in B."))
        let task = try Chromium.load(out.appendingPathComponent("tasks/ticket-1.html").absoluteString)
        #expect(task.console.isEmpty, "\(task.console)")
        // The task page diffs the first run's answer against the latest by default (cycle 1 → 3 added a greeting).
        #expect(task.dom.contains("class=\"diff unified\""), "no diff rendered")
        #expect(task.dom.contains("<span class=\"sign\">+</span>Hi Dana,"), "the added line is not in the diff")
        // The run texts of the two compared cycles only were loaded.
        #expect(task.dom.contains("src=\"ticket-1/0001.js\"") && task.dom.contains("src=\"ticket-1/0003.js\""))
        #expect(!task.dom.contains("ticket-1/0002.js"))
        let shotDir = TestPaths.testOutput.appendingPathComponent("screenshots", isDirectory: true)
        try FileManager.default.createDirectory(at: shotDir, withIntermediateDirectories: true)
        let base = out.absoluteString.hasSuffix("/") ? out.absoluteString : out.absoluteString + "/"
        for (page, name) in [("tasks/ticket-1.html", "task-support"), ("compare.html#a=1&b=2", "compare-support")] {
            let file = shotDir.appendingPathComponent("\(name).png")
            try Chromium.screenshot(base + page, to: file)
            #expect(FileManager.default.fileExists(atPath: file.path), "no screenshot for \(name)")
        }
    }

    @Test("the XSS corpus never executes on the compare and task pages (their text is rendered by script)")
    func xssInViews() throws {
        let dir = TestPaths.scratch("views-xss-browser")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try SupportFixture.make(in: dir, payload: XSSPayloads.joined)
        let out = dir.appendingPathComponent("site")
        _ = try SiteBuilder.build(history: f.history, options: SiteOptions(outputDirectory: out))
        let probeFile = out.appendingPathComponent("xss-probe.js")
        try Data(Self.probe.utf8).write(to: probeFile)
        var urls: [String] = []
        let pages = try FileManager.default.subpathsOfDirectory(atPath: out.path)
            .filter { $0.hasSuffix(".html") && ($0.hasPrefix("tasks") || $0 == "compare.html" || $0 == "recommendations.html") }.sorted()
        for page in pages {
            let url = out.appendingPathComponent(page)
            let html = try String(contentsOf: url, encoding: .utf8)
            let copy = url.deletingPathExtension().appendingPathExtension("probe.html")
            try Data(html.replacingOccurrences(of: "</body>", with: "<script src=\"\(probeFile.absoluteString)\"></script></body>").utf8).write(to: copy)
            if page == "compare.html" {
                for hash in ["#a=1&b=2", "#a=2&b=3", "#a=1&b=3"] { urls.append(copy.absoluteString + hash) }
            } else {
                urls.append(copy.absoluteString)
            }
        }
        #expect(urls.count >= 6)
        let loads = Chromium.parallel(urls) { try Chromium.load($0, budgetMs: 4000) }
        for (url, r) in zip(urls, loads) {
            let load = try r.get()
            #expect(load.dom.contains("id=\"xss-probe\" data-result=\"clean\""), "\(url): probe did not report clean")
        }
    }

    /// A trace of `count` spans: a root, 20 children, the rest grandchildren spread over them.
    static func bigTraceHistory(in dir: URL, count: Int) throws -> (LoopHistory, String) {
        let history = LoopHistory(repository: dir.appendingPathComponent("big.git"))
        try history.initialize(files: ["loop.yaml": Data("project: big\n".utf8)])
        _ = try history.startCycle(harness: nil, now: Date(timeIntervalSince1970: SiteFixture.epoch))
        let tid = "0123456789abcdef0123456789abcdef"
        var lines = ""
        func line(_ sid: String, _ parent: String, _ name: String, _ s: Int, error: Bool = false) -> String {
            JSONValue.object([
                "trace_id": .string(tid), "span_id": .string(sid), "parent_span_id": .string(parent), "trace_state": "",
                "name": .string(name), "kind": "SPAN_KIND_INTERNAL",
                "start_time": .string(String(format: "2026-05-28T20:26:%02d.%09dZ", s / 1000, (s % 1000) * 1_000_000)),
                "end_time": .string(String(format: "2026-05-28T20:26:%02d.%09dZ", (s + 1) / 1000, ((s + 1) % 1000) * 1_000_000)),
                "status": .object(["code": error ? "STATUS_CODE_ERROR" : "STATUS_CODE_OK", "message": error ? "boom" : ""]),
                "resource": .object(["attributes": .object([:])]), "scope": .object(["name": "t", "version": ""]),
                "attributes": .object(["output.value": .string("value of \(sid)")]),
            ]).canonicalText + "\n"
        }
        for i in 0..<(count - 21) {
            lines += line(String(format: "%016x", 1000 + i), String(format: "%016x", 1 + i % 20), "leaf \(i)", 10 + i, error: i == count - 22)
        }
        for c in 0..<20 { lines += line(String(format: "%016x", 1 + c), String(format: "%016x", 0), "child \(c)", 5 + c) }
        lines += line(String(format: "%016x", 0), "", "root", 0)
        try history.commitToOpenCycle(.traces, files: ["traces.jsonl": Data(lines.utf8)])
        return (history, tid)
    }

    @Test("a big trace starts collapsed; a deep span anchor expands its ancestors and shows its details")
    func bigTraceCollapsed() throws {
        let dir = TestPaths.scratch("site-bigtrace")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (history, tid) = try Self.bigTraceHistory(in: dir, count: 600)
        let out = dir.appendingPathComponent("site")
        _ = try SiteBuilder.build(history: history, options: SiteOptions(outputDirectory: out))
        let page = out.appendingPathComponent("traces/0001/\(tid).html")
        let html = try String(contentsOf: page, encoding: .utf8)
        // Server side: the 579 grandchildren start hidden, the root and its 20 children are shown.
        #expect(html.components(separatedBy: " hidden>").count - 1 == 579)
        let deep = String(format: "%016x", 1000 + 578)  // the failing leaf
        func rowTag(_ dom: String) throws -> String {
            let row = try #require(dom.range(of: "id=\"span-\(deep)\""))
            let start = try #require(dom[..<row.lowerBound].range(of: "<div", options: .backwards))
            let end = try #require(dom[row.upperBound...].range(of: ">"))
            return String(dom[start.lowerBound..<end.upperBound])
        }
        // Without the anchor the row stays hidden (the control for the check below).
        let plain = try Chromium.load(page.absoluteString)
        #expect(try rowTag(plain.dom).contains("hidden"))
        let load = try Chromium.load(page.absoluteString + "#span-\(deep)")
        #expect(load.console.isEmpty, "\(load.console)")
        // Its row is revealed (no longer hidden) and its details are shown.
        #expect(try !rowTag(load.dom).contains("hidden"))
        #expect(load.dom.contains("value of \(deep)"))
        #expect(load.dom.contains("error-box"))
    }

    @Test("span details come on demand from chunk files over file://: only the chunk of the shown span is loaded")
    func spanChunksOnDemand() throws {
        let dir = TestPaths.scratch("site-chunks")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (history, tid) = try Self.bigTraceHistory(in: dir, count: 600)
        let out = dir.appendingPathComponent("site")
        let report = try SiteBuilder.build(history: history, options: SiteOptions(outputDirectory: out))
        let page = out.appendingPathComponent("traces/0001/\(tid).html")
        let html = try String(contentsOf: page, encoding: .utf8)
        // 600 spans in chunks of 100: six chunk files, none referenced by the page's own script tags.
        let chunks = report.written.filter { $0.hasPrefix("traces/0001/\(tid).") && $0.hasSuffix(".data.js") }
        #expect(chunks.count == 6, "\(chunks)")
        #expect(!html.contains(".data.js\""))
        #expect(!html.contains("value of "), "span details are not inlined in the page")
        // The failing leaf is the last leaf of child 18: span 570 in tree order (root, then each child and its leaves): chunk 5.
        let deep = String(format: "%016x", 1000 + 578)
        let chunk5 = try String(contentsOf: out.appendingPathComponent("traces/0001/\(tid).5.data.js"), encoding: .utf8)
        #expect(chunk5.contains("value of \(deep)"))
        let load = try Chromium.load(page.absoluteString + "#span-\(deep)")
        #expect(load.console.isEmpty, "\(load.console)")
        #expect(load.dom.contains("value of \(deep)"), "the details of the span in chunk 5 were loaded and shown")
        #expect(load.dom.contains("\(tid).5.data.js"), "chunk 5 was requested by script")
        for k in 0..<5 { #expect(!load.dom.contains("\(tid).\(k).data.js"), "chunk \(k) was not needed") }
        // A missing chunk shows a placeholder, never a script error.
        try FileManager.default.removeItem(at: out.appendingPathComponent("traces/0001/\(tid).5.data.js"))
        let missing = try Chromium.load(page.absoluteString + "#span-\(deep)")
        #expect(missing.dom.contains("No details."))
        #expect(!missing.dom.contains("value of \(deep)"))
    }
}
