import Foundation
import Testing
import TestSupport

@testable import Flywheel

/// HALO's own parser and indexer (PyPI halo-engine 0.3.5 in a venv made by Tests/scripts/halo-venv.sh) as a peer.
/// When the venv cannot be made (no PyPI), these tests are skipped with the reason, never passed.
enum HALOPeer {
    static let venv: URL? = {
        let script = TestPaths.packageRoot.appendingPathComponent("Tests/scripts/halo-venv.sh")
        guard let r = try? runProcess(URL(fileURLWithPath: "/bin/sh"), [script.path], timeout: 600), r.status == 0 else {
            print("HALO peer tests skipped: Tests/scripts/halo-venv.sh could not create the venv (PyPI unreachable?)")
            return nil
        }
        return URL(fileURLWithPath: r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }()
    static var available: Bool { venv != nil }

    /// Runs halo_index_check.py (copied beside the fixtures) with `--json`.
    static func check(_ file: URL, deep: Bool = false) throws -> JSONValue {
        let python = venv!.appendingPathComponent("bin/python")
        let script = TraceFixtures.url("tools/halo_index_check.py")
        let r = try runProcess(python, [script.path, file.path, "--json"] + (deep ? ["--deep"] : []), timeout: 300)
        #expect(r.status != 2, "environment problem: \(r.stderr)")
        return try JSONValue.scan(r.stdout)
    }
}

@Suite("Traces: HALO's own indexer as a peer", .serialized, .enabled(if: HALOPeer.available, "HALO venv unavailable (no PyPI); see Tests/scripts/halo-venv.sh"))
struct HALOPeerTests {
    /// Our overview against HALO's, field by field (HALO's report leaves out sample_trace_ids).
    func compare(_ files: [URL], label: String) throws {
        let store = try TraceStore(files: files)
        let ours = try JSONValue.scan(try store.overview().haloJSON.text())
        var theirsMerged: [JSONValue] = []
        for f in files {
            let report = try HALOPeer.check(f, deep: true)
            #expect(report["verdict"] == "OK", "\(label): HALO verdict \(report["verdict"] ?? .null)")
            #expect(report["lines_rejected"] == 0)
            theirsMerged.append(report)
            // The oversized list of view_trace agrees.
            let theirOversized = report["view_trace_oversized"]?.arrayValue ?? []
            let mine = try store.traces.filter { store.sources[$0.source].name == f.path }.compactMap {
                try store.view(traceID: $0.traceID).oversized
            }
            #expect(theirOversized.map { $0["trace_id"]!.stringValue! } == mine.map(\.traceID), "\(label)")
            #expect(theirOversized.map { $0["truncated_response_bytes"]! } == mine.map { .int(Int64($0.truncatedResponseBytes)) })
        }
        if files.count == 1, let theirs = theirsMerged[0]["overview"]?.objectValue {
            for (k, v) in theirs {
                #expect(ours[k] == v, "\(label): overview.\(k): ours \(ours[k] ?? .null) HALO \(v)")
            }
            #expect(theirs.count >= 18)
        }
    }

    @Test("files Flywheel writes are accepted by HALO with identical overviews", arguments: TraceFixtures.validFiles)
    func rewrittenFixtures(file: String) throws {
        // The fixture itself, then our normalized rewrite of it.
        try compare([TraceFixtures.url(file)], label: file)
        let out = TestPaths.scratch("peer").appendingPathComponent("rewritten-" + file)
        try TraceImporter.importFile(TraceFixtures.url(file)).normalizedData.write(to: out)
        try compare([out], label: "rewritten " + file)
    }

    @Test("spans built with SpanBuilder and OTLP imports are accepted by HALO")
    func builtAndImported() throws {
        let dir = TestPaths.scratch("peer-built")
        let b = SpanBuilder(projectID: "p", agentName: "A")
        let trace = TraceIDs.newTraceID(), root = TraceIDs.newSpanID()
        let t = { (n: Int64) in TraceTime.format(unixNanos: 1_772_460_311_000_000_000 + n * 1_000_000) }
        var spans = [
            b.llmSpan(traceID: trace, parentSpanID: root, start: t(1), end: t(2), provider: "openai", model: "m",
                inputMessages: [.user("hi \u{2028} there / ’")], outputMessages: [.assistant("yo")], promptTokens: 3, completionTokens: 4),
            b.toolSpan(traceID: trace, parentSpanID: root, start: t(3), end: t(4), toolName: "x", arguments: "{}", output: "",
                failure: .nonFatal(detail: "nope")),
        ]
        var agent = b.agentSpan(traceID: trace, spanID: root, start: t(0), end: t(5), outcome: "failed")
        agent.resourceAttributes["service.name"] = "svc \u{2028} line"  // HALO's index crashes on a raw U+2028 here
        spans.append(agent)
        let built = dir.appendingPathComponent("built.jsonl")
        try SpanWriter.write(spans, to: built)
        try compare([built], label: "built")
        let otlp = dir.appendingPathComponent("otlp.jsonl")
        try TraceImporter.importFile(TraceFixtures.url("otlp_sample.json")).normalizedData.write(to: otlp)
        try compare([otlp], label: "otlp")
    }

    @Test("oversized traces agree with HALO's view_trace, including the one 86 bytes over")
    func oversized() throws {
        let url = TestPaths.scratch("peer-over").appendingPathComponent("over.jsonl")
        try TraceFixtures.generate(url, ["--traces", "8", "--turns", "17"])
        try compare([url], label: "oversized")
    }

    @Test("rejected lines agree with HALO's on the invalid fixture and malformed samples")
    func rejectedLines() throws {
        let files = ["gen_small_3traces_plus_invalid.jsonl"] + [
            "malformed/mixed_errors.jsonl", "malformed/deep_nesting_201.jsonl", "malformed/deep_nesting_202.jsonl",
            "malformed/crlf.jsonl", "malformed/whitespace_line_2.jsonl", "malformed/lone_surrogate_0.jsonl",
            "malformed/nan.jsonl", "malformed/duplicate_key.jsonl", "malformed/two_objects_space.jsonl",
            "malformed/invalid_utf8_4.jsonl", "malformed/negative_token_total.jsonl",
        ]
        for f in files {
            let url = TraceFixtures.url(f)
            let theirs = try HALOPeer.check(url)
            let report = try TraceValidator.validate(files: [url])
            let theirLines = (theirs["rejected"]?.arrayValue ?? []).compactMap { $0["line"]?.intValue }
            let ourLines = Array(Set(report.errors.filter { $0.code != "negative_token_total" }.map { Int64($0.line) })).sorted()
            #expect(theirLines == ourLines, "\(f): HALO rejects \(theirLines), we report \(ourLines)")
            #expect((theirs["verdict"] == "OK") == report.haloAccepts, "\(f): verdict \(theirs["verdict"] ?? .null)")
        }
    }
}
