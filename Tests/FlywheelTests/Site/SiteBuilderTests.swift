@testable import Flywheel
@testable import FlywheelSupport
import FlywheelTraces
import Foundation
import Testing
import TestSupport

@Suite("Site builder")
struct SiteBuilderTests {
    static func build(_ f: SiteFixture, out: URL, atCycle: Int? = nil, incremental: Bool = true) throws -> SiteReport {
        try SiteBuilder.build(history: f.history, options: SiteOptions(outputDirectory: out, atCycle: atCycle, incremental: incremental))
    }

    static func read(_ out: URL, _ path: String) throws -> String {
        try String(contentsOf: out.appendingPathComponent(path), encoding: .utf8)
    }

    @Test("golden pages: overview, cycle, trace, matrix, diffs, search")
    func goldenPages() throws {
        let dir = TestPaths.scratch("site-golden")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try SiteFixture.standard(in: dir)
        let out = dir.appendingPathComponent("site")
        let report = try Self.build(f, out: out)
        #expect(report.pagesSkipped == 0)
        let tid = f.traceID(2, 1)
        let pages: [(String, String)] = [
            ("index.html", "overview.html"), ("cycles/0002.html", "cycle-0002.html"), ("cycles/0001.html", "cycle-0001.html"),
            ("traces/0002/\(tid).html", "trace.html"),
            ("matrix.html", "matrix.html"), ("diffs.html", "diffs.html"), ("diffs/0001-0002.html", "diff-0001-0002.html"),
            ("search.html", "search.html"), ("search-index.js", "search-index.js"), ("search/0002.js", "search-0002.js"),
        ]
        for (path, golden) in pages {
            Golden.check(try Self.read(out, path), named: golden)
        }
    }

    @Test("the site is deterministic: two builds of the same history are byte-identical")
    func deterministic() throws {
        let dir = TestPaths.scratch("site-det")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try SiteFixture.standard(in: dir, cycles: 2)
        let a = dir.appendingPathComponent("a"), b = dir.appendingPathComponent("b")
        let ra = try Self.build(f, out: a), rb = try Self.build(f, out: b, incremental: false)
        #expect(ra.written == rb.written)
        for p in ra.written { #expect(try Self.read(a, p) == (try Self.read(b, p)), "\(p)") }
    }

    @Test("incremental: unchanged history rewrites nothing; a new cycle rewrites only what depends on it")
    func incremental() throws {
        let dir = TestPaths.scratch("site-incr")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try SiteFixture.standard(in: dir, cycles: 2)
        let out = dir.appendingPathComponent("site")
        let first = try Self.build(f, out: out)
        #expect(first.pagesWritten > 10)
        #expect(first.written.contains("traces/0001/\(f.traceID(1, 0)).html"))

        let again = try Self.build(f, out: out)
        #expect(again.pagesWritten == 0)
        #expect(again.written.isEmpty)
        #expect(again.pagesSkipped == first.pagesWritten)

        try f.addCycle(3)
        let third = try Self.build(f, out: out)
        let t0 = f.traceID(3, 0), t1 = f.traceID(3, 1)
        let expected = [
            "cycles/0003.html", "diffs.html", "diffs/0001-0003.html", "diffs/0002-0003.html", "index.html", "matrix.html",
            // A trace of one chunk of spans carries it in its page (no chunk file).
            "search-index.js", "search.html", "search/0003.js", "traces/0003/\(t0).html", "traces/0003/\(t1).html",
            // The cross-cycle views: the compare page and cycle 3's compare data (not cycles 1–2's), the timeline,
            // and the task pages (both tasks ran in cycle 3).
            "compare.html", "compare-index.js", "compare/0003.js", "recommendations.html", "tasks.html",
            "tasks/q0.html", "tasks/q0.data.js", "tasks/q1.html", "tasks/q1.data.js",
            // Cycle 3's run texts of each task (older cycles' files stay as they were).
            "tasks/q0/0003.js", "tasks/q1/0003.js",
        ].sorted()
        #expect(third.written == expected)
        #expect(!third.written.contains("cycles/0002.html"))
        // The new cycle is linked from the overview.
        #expect(try Self.read(out, "index.html").contains("href=\"cycles/0003.html\""))
    }

    @Test("--at CYCLE renders the site as it was at that cycle's tag")
    func atCycle() throws {
        let dir = TestPaths.scratch("site-at")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try SiteFixture.standard(in: dir, cycles: 3)
        let out = dir.appendingPathComponent("site")
        _ = try Self.build(f, out: out)
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("cycles/0003.html").path))
        let at = try Self.build(f, out: out, atCycle: 2)
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("cycles/0003.html").path))
        #expect(at.removed.contains("cycles/0003.html"))
        let index = try Self.read(out, "index.html")
        #expect(index.contains("href=\"cycles/0002.html\""))
        #expect(!index.contains("cycles/0003.html"))
        // Same as a fresh build of the tag.
        let fresh = dir.appendingPathComponent("fresh")
        _ = try Self.build(f, out: fresh, atCycle: 2)
        #expect(try Self.read(fresh, "index.html") == index)
        #expect(throws: HistoryError.noSuchCycle(9)) { try Self.build(f, out: fresh, atCycle: 9) }
    }

    @Test("stages not run yet render placeholders")
    func placeholders() throws {
        let dir = TestPaths.scratch("site-partial")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = SiteFixture(directory: dir)
        try f.initialize()
        let out = dir.appendingPathComponent("site")
        _ = try Self.build(f, out: out)
        #expect(try Self.read(out, "index.html").contains("No cycle has been recorded yet"))
        try f.addCycle(1, stages: [])
        _ = try Self.build(f, out: out)
        let page = try Self.read(out, "cycles/0001.html")
        #expect(page.contains("The gate has not run for this cycle yet"))
        #expect(page.contains("No feedback recorded for this cycle yet"))
        #expect(page.contains("The diagnosis has not run for this cycle yet"))
        #expect(page.contains("No handoff written for this cycle yet"))
    }

    @Test("links are relative (file:// and sub-path safe); --base-url only adds canonical links")
    func relativeLinks() throws {
        let dir = TestPaths.scratch("site-links")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try SiteFixture.standard(in: dir, cycles: 2)
        let out = dir.appendingPathComponent("site")
        _ = try SiteBuilder.build(history: f.history, options: SiteOptions(outputDirectory: out, baseURL: "https://example.org/loop"))
        let files = try FileManager.default.subpathsOfDirectory(atPath: out.path).filter { $0.hasSuffix(".html") }
        #expect(files.count > 8)
        let attr = try NSRegularExpression(pattern: "(?:href|src)=\"([^\"]*)\"")
        for file in files {
            let html = try Self.read(out, file)
            for m in attr.matches(in: html, range: NSRange(html.startIndex..., in: html)) {
                let value = String(html[Range(m.range(at: 1), in: html)!])
                if html[Range(m.range, in: html)!].hasPrefix("href=\"https://example.org/loop/") { continue }
                #expect(!value.hasPrefix("/") && !value.contains("://"), "\(file): \(value)")
                // Every relative link resolves to a file of the site.
                let target = value.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
                    .split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
                if target.isEmpty { continue }
                let resolved = out.appendingPathComponent(file).deletingLastPathComponent()
                    .appendingPathComponent(String(target)).standardized
                #expect(FileManager.default.fileExists(atPath: resolved.path), "\(file) links to missing \(value)")
            }
        }
        #expect(try Self.read(out, "cycles/0001.html").contains("<link rel=\"canonical\" href=\"https://example.org/loop/cycles/0001.html\">"))
    }
}

@Suite("Site pieces")
struct SitePieceTests {
    @Test("matrix facts: first failed, fixed, flips, flaky")
    func matrixFacts() {
        let h = MatrixPage.History(statuses: [1: .pass, 2: .fail, 3: .pass, 5: .fail, 6: .pass], addedCycle: nil, category: "")
        let f = MatrixPage.facts(h, cycles: [1, 2, 3, 4, 5, 6])
        #expect(f.added == 1)
        #expect(f.firstFailed == 2)
        #expect(f.fixed == 6)
        #expect(f.flips == 4)
        #expect(f.flipCycles == [2: 1, 3: 2, 5: 3, 6: 5])
        let still = MatrixPage.facts(MatrixPage.History(statuses: [2: .pass, 3: .error], addedCycle: 2, category: ""), cycles: [1, 2, 3])
        #expect(still.fixed == nil && still.firstFailed == 3 && still.flips == 1)
    }

    @Test("timestamps parse to nanoseconds (9, 3 and 0 fraction digits)")
    func timestamps() {
        #expect(TraceTime.nanoseconds(lenient: "1970-01-01T00:00:01.000000001Z") == 1_000_000_001)
        #expect(TraceTime.nanoseconds(lenient: "2026-03-02T14:05:11.204Z") == 1_772_460_311_204_000_000)
        #expect(TraceTime.nanoseconds(lenient: "2026-03-02T14:05:11Z") == 1_772_460_311_000_000_000)
        #expect(TraceTime.nanoseconds(lenient: "garbage") == nil)
        // The one lenient reader of others' times (site timelines, diagnosis' latency figures): a space for the T, no
        // zone, more than nine fraction digits; nothing outside 1970–2250 or a shape that is not a time.
        #expect(TraceTime.nanoseconds(lenient: "2026-03-02 14:05:11.5") == 1_772_460_311_500_000_000)
        #expect(TraceTime.nanoseconds(lenient: "2026-03-02T14:05:11.1234567891Z") == 1_772_460_311_123_456_789)
        #expect(TraceTime.nanoseconds(lenient: "1969-12-31T23:59:59Z") == nil)
        #expect(TraceTime.nanoseconds(lenient: "2026/03/02T14:05:11Z") == nil)
        #expect(Diagnoser.seconds("2026-03-02T14:05:11.250Z") == 1_772_460_311.25)
    }

    @Test("results rows come from the evals' lenient reader: missing and mistyped fields fall back")
    func lenientResults() throws {
        let dir = TestPaths.scratch("site-lenient-results")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = SiteFixture(directory: dir)
        try f.initialize()
        _ = try f.history.startCycle(harness: ["instructions.md": Data("# Support bot\n".utf8)], models: [:], now: SiteFixture.date(1))
        try f.history.commitToOpenCycle(.results, files: ["results.json": Data(#"{"results":{"results":[{"success":true},{"success":false,"failureReason":2,"testCase":{"metadata":{"id":7}}},{"success":false,"metadata":{"flywheel":{"status":"skipped"}}},"junk"]}}"#.utf8)])
        let reader = try SiteReader(snapshot: try f.history.snapshot(), atCycle: nil)
        let rows = try #require(try reader.results(1))
        #expect(rows.map(\.status) == [.pass, .error, .skipped])
        #expect(rows[1].caseID == "7")
        // Rows are the evals reader's (lenient mode): a bare list, a missing success, numbers out of range.
        try f.history.commitToOpenCycle(.results, files: ["results.json": Data(#"{"results":[{"testIdx":1e300,"response":{"output":2.5,"metadata":{"traceId":"t9"}}}]}"#.utf8)])
        let bare = try #require(try SiteReader(snapshot: try f.history.snapshot(), atCycle: nil).results(1))
        #expect(bare.map(\.status) == [.fail])
        #expect(bare.first?.caseID == "row-\(Int.max)" && bare.first?.output == "2.500" && bare.first?.traceID == "t9")
        try f.history.commitToOpenCycle(.results, files: ["results.json": Data("not json".utf8)])
        #expect(try SiteReader(snapshot: try f.history.snapshot(), atCycle: nil).results(1)?.isEmpty == true)
    }

    @Test("damaged artifacts: the cycle page shows what the domain readers read and names each part left out, escaped")
    func damagedArtifacts() throws {
        let dir = TestPaths.scratch("site-damaged")
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = SiteFixture(directory: dir)
        try f.initialize()
        _ = try f.history.startCycle(harness: ["instructions.md": Data("# Support bot\n".utf8)], models: [:], now: SiteFixture.date(1))
        // A support bot's trace: valid spans, then a line that is no JSON, then a span without its start time.
        let tid = f.traceID(1, 0)
        var spans = f.spans(cycle: 1, index: 0, id: tid).map(\.canonicalText)
        var broken = try #require(f.spans(cycle: 1, index: 0, id: "ab" + String(tid.dropFirst(2))).first?.objectValue)
        broken["start_time"] = nil
        spans += ["{broken <b>", JSONValue.object(broken).canonicalText]
        try f.history.commitToOpenCycle(.traces, files: ["traces.jsonl": Data((spans.joined(separator: "\n") + "\n").utf8)])
        let good = JSONValue.object([
            "feedback_id": "fb-ok", "trace_id": .string(tid), "source": "human", "author": "agent-lead", "category": "account security",
            "severity": "high", "observation": "The bot reset a password without verifying the caller.", "created_at": "2026-05-29T10:00:00Z",
            "added_by_a_later_version": true,
        ]).canonicalText
        let badSeverity = #"{"feedback_id":"fb-3","trace_id":"t","source":"human","author":"a","category":"c","severity":3,"observation":"o"}"#
        try f.history.commitToOpenCycle(.feedback, files: ["feedback.jsonl": Data((good + "\nnot json\n" + badSeverity + "\n").utf8)])
        let diagnosis = JSONValue.object([
            "cycle": 1, "generated_by": "deterministic", "failure_modes": [],
            "recommendations": .array([
                .object([
                    "id": "rec-verify", "rank": 1, "title": "Verify the caller before a reset", "area": "prompt", "change": "Add the rule.",
                    "patch": .null, "predicted_impact": .object(["eval_ids": [], "trace_ids": [], "summary": "fewer unverified resets"]),
                    "confidence": "high", "effort": "small", "evidence": [], "validation": "", "failure_mode_ids": [],
                ]),
                .object(["id": "rec-<i>odd</i>", "rank": 2, "title": "x", "area": "vibes"]),
            ]),
        ])
        try f.history.commitToOpenCycle(.diagnosis, files: ["diagnosis.json": f.json(diagnosis)])
        let out = dir.appendingPathComponent("site")
        _ = try SiteBuilderTests.build(f, out: out)
        let page = try SiteBuilderTests.read(out, "cycles/0001.html")
        // What reads is shown (a field this version does not know is passed over).
        #expect(page.contains("The bot reset a password without verifying the caller."))
        #expect(page.contains("Verify the caller before a reset"))
        #expect(page.contains("trace " + CyclePage.shortID(tid)))
        // Each part left out is named by its line or element and field; its text is escaped.
        #expect(page.contains("Left out of <code>feedback.jsonl</code>"))
        #expect(page.contains("line 2: &lt;line&gt;: malformed JSON"))
        #expect(page.contains("line 3: severity: must be a string"))
        #expect(page.contains("Left out of <code>diagnosis.json</code>"))
        #expect(page.contains("recommendations[1]: field"))
        #expect(page.contains("Left out of <code>traces.jsonl</code>"))
        #expect(page.contains("line \(spans.count - 1): "))
        #expect(page.contains("line \(spans.count): "))
        #expect(!page.contains("<b>") && !page.contains("<i>odd"))
        #expect(!page.contains("The diagnosis has not run"))
        // The readers behind the page are the domain's.
        let reader = try SiteReader(snapshot: try f.history.snapshot(), atCycle: nil)
        #expect(try reader.feedback(1)?.map(\.feedbackID) == ["fb-ok"])
        #expect(try reader.diagnosis(1)?.recommendations.map(\.id) == ["rec-verify"])
        #expect(try reader.traces(1).map(\.id) == [tid])
        #expect(try reader.traces(1).first?.spans.count == spans.count - 2)
        // A diagnosis that is no JSON object is named as such, not shown as "not run yet".
        try f.history.commitToOpenCycle(.diagnosis, files: ["diagnosis.json": Data("[]".utf8)])
        _ = try SiteBuilderTests.build(f, out: out)
        let again = try SiteBuilderTests.read(out, "cycles/0001.html")
        #expect(again.contains("(top level): not a JSON object") && !again.contains("The diagnosis has not run"))
    }

    @Test("numbers format without Foundation's locale-dependent formatting")
    func formatting() {
        #expect(Format.fixed(0.125, 2) == "0.13")
        #expect(Format.fixed(-1.5, 0) == "-2")
        #expect(Format.fixed(0.004, 2) == "0.00")
        #expect(Format.fixed(-0.004, 2) == "0.00")
        #expect(Format.percent(0.6667) == "66.7%")
        #expect(Format.int(1234567) == "1,234,567")
        #expect(Format.ms(1500) == "1.50 s")
        #expect(Format.deltaPoints(0.5, 0.6667) == "+16.7 pp")
    }

    @Test("a 5,000-span trace starts collapsed and keeps every span in its chunk files, full values with their chunk")
    func bigTrace() {
        var spans: [Span] = []
        let root = Span(traceID: "t", spanID: "r", parentSpanID: "", name: "root", kind: "", startTime: "2026-01-01T00:00:00.000000000Z",
                        endTime: "2026-01-01T00:00:10.000000000Z", status: .ok, scope: SpanScope(name: ""))
        spans.append(root)
        for i in 0..<4999 {
            spans.append(Span(traceID: "t", spanID: "s\(i)", parentSpanID: i < 100 ? "r" : "s\(i % 100)", name: "n\(i)", kind: "",
                              startTime: "2026-01-01T00:00:01.000000000Z", endTime: "2026-01-01T00:00:02.000000000Z",
                              status: .ok, scope: SpanScope(name: ""), attributes: ["k": .string(String(repeating: "x", count: i == 7 ? 5000 : 3))]))
        }
        let (rows, chunks) = TracePage.spanTree(TraceRecord(id: "t", spans: spans))
        #expect(chunks.count == 5000 / TracePage.chunkSize)
        #expect(chunks.allSatisfy { $0.bodies.count == TracePage.chunkSize })
        #expect(chunks.map(\.full.count).reduce(0, +) == 1)
        // s7 is span 351 in tree order (the root, then s0…s6 with their 49 children each): chunk 3, whose own full
        // values its button indexes from 0.
        #expect(chunks[3].full.count == 1)
        #expect(chunks[3].bodies[51].contains("<h3>n7</h3>") && chunks[3].bodies[51].contains("data-full=\"0\""))
        #expect(rows.components(separatedBy: " hidden>").count - 1 == 4899)
        #expect(rows.contains("id=\"span-s7\""))
    }
}

@Suite("Site JSON reader")
struct LenientJSONReaderTests {
    @Test("reads valid documents: ints apart from doubles, escapes decoded, members in document order")
    func reads() throws {
        let doc = #"{"b":1,"a":-2.5,"c":"x\ny\"z\\\/","d":[true,false,null],"e":{"f":"\u00e9\ud83d\ude00"},"i":12345678901234,"j":0.5}"#
        let v = try #require(JSONValue.parseOrNil(doc))
        let expected: JSONValue = [
            "b": 1, "a": -2.5, "c": "x\ny\"z\\/", "d": [true, false, nil], "e": ["f": "\u{e9}\u{1F600}"],
            "i": .int(12_345_678_901_234), "j": 0.5,
        ]
        #expect(v == expected)
        #expect(Array(try #require(v.objectValue).keys) == ["b", "a", "c", "d", "e", "i", "j"])
        #expect(JSONValue.parseOrNil(#" [ 1 , "two" , { } ] "#) == [1, "two", .object([:])])
        #expect(JSONValue.parseOrNil("[]") == .array([]))
        #expect(JSONValue.parseOrNil(#""’ raw UTF-8 ’""#) == "’ raw UTF-8 ’")
        #expect(JSONValue.parseOrNil(#"{"k":"\u2028"}"#) == ["k": "\u{2028}"])
        #expect(JSONValue.parseOrNil(Data("null".utf8)) == Optional(JSONValue.null))
    }

    @Test("rejects malformed input")
    func rejects() {
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "\"unterminated", "{\"a\":1}{", "tru", "\"\\ud800\"", "[01x]", "{\"a\":\"\u{1}\"}"] {
            #expect(JSONValue.parseOrNil(bad) == Optional<JSONValue>.none, "\(bad)")
            #expect(JSONValue.parseOrNil(Data(bad.utf8)) == Optional<JSONValue>.none, "\(bad)")
        }
    }
}

@Suite("Site hostile numbers")
struct SiteHostileNumberTests {
    @Test("extreme timestamps, token counts and figures never trap")
    func extremes() {
        #expect(TraceTime.nanoseconds(lenient: "9999-12-31T23:59:59.999999999Z") == nil)
        #expect(TraceTime.nanoseconds(lenient: "0000-01-01T00:00:00Z") == nil)
        #expect(TraceTime.nanoseconds(lenient: "2026-13-01T00:00:00Z") == nil)
        #expect(Format.int(Int.min).hasPrefix("-9,223"))
        #expect(Format.fixed(1e300, 2) == String(1e300))
        let huge = Span(traceID: "t", spanID: "s", parentSpanID: "", name: "n", kind: "", startTime: "1970-01-01T00:00:00Z",
                        endTime: "2250-01-01T00:00:00Z", status: SpanStatus(code: ""), scope: SpanScope(name: ""),
                        attributes: ["inference.llm.input_tokens": .int(.max), "inference.llm.output_tokens": .int(.max)])
        let t = TraceRecord(id: "t", spans: [huge, huge])
        #expect(t.tokens == 4_000_000_000_000)
        #expect((t.durationMs ?? 0) > 0)
        let (rows, chunks) = TracePage.spanTree(t)
        #expect(chunks.count == 1 && chunks[0].bodies.count == 2 && rows.contains("span-s"))
    }
}
