import Foundation
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelSupport
@testable import FlywheelTraces

@Suite("Traces: validation")
struct TraceValidationTests {
    @Test("valid fixtures have no errors; the spec example is clean even in strict mode")
    func validFixtures() throws {
        for file in TraceFixtures.validFiles {
            let r = try TraceValidator.validate(files: [TraceFixtures.url(file)])
            #expect(r.haloAccepts, "\(file): \(r.errors)")
            #expect(r.ok)
        }
        let strict = try TraceValidator.validate(
            files: [TraceFixtures.url("spec_examples.jsonl")], options: .init(warningsFail: true))
        #expect(strict.issues.isEmpty)
        #expect(strict.ok)
        // HALO's SDK output: 24-hex span ids and spans without agent identity are notes, which never fail.
        let sdk = try TraceValidator.validate(
            files: [TraceFixtures.url("agents_sdk_offline_mock.jsonl")], options: .init(warningsFail: true))
        #expect(sdk.haloAccepts && sdk.ok)
        #expect(sdk.issues.contains { $0.code == "id_format" && $0.severity == .note })
        #expect(sdk.issues.filter { $0.code == "missing_agent_identity" }.count == 36)  // as HALO's checker counts
        #expect(sdk.issues.allSatisfy { $0.severity == .note })
    }

    @Test("per-span notes past the first 100 of a kind are counted, not listed: one note per kind says how many more and up to which line; the count stays exact")
    func notesPastTheFirstAreCounted() throws {
        // HALO's SDK output 8 times over, with other trace ids per copy: every span has a 24-hex span id, most
        // have no agent identity.
        let one = try TraceFixtures.data("agents_sdk_offline_mock.jsonl")
        let text = String(decoding: one, as: UTF8.self)
        let ids = ["14595e8e56444d039a477420c0fab764", "1d971778dffa4ed6a14ea39195130eb6", "406ca2b240ac4390b1e41e4b93293b98", "c72f80fefb264a3888db50b4c5d415fb"]
        var copies: [String] = []
        for c in 0..<8 {
            var t = text.hasSuffix("\n") ? text : text + "\n"
            for id in ids { t = t.replacingOccurrences(of: id, with: String(id.dropLast(2)) + String(format: "%02x", c)) }
            copies.append(t)
        }
        let linesPerCopy = TraceFixtures.lines(one).count
        let data = Data(copies.joined().utf8)
        let single = TraceValidator.validate(data: one).issues
        let report = TraceValidator.validate(data: data)
        #expect(report.haloAccepts && report.ok)
        for (code, field) in [("id_format", "span_id"), ("missing_agent_identity", "attributes[\"inference.agent_name\"]")] {
            let linesOne = single.filter { $0.code == code && $0.field == field }.map(\.line)
            let all = (0..<8).flatMap { c in linesOne.map { $0 + c * linesPerCopy } }  // every line with the note
            #expect(all.count > 101, "\(code): the corpus must pass the listed 100")
            let listed = report.issues.filter { $0.code == code && $0.field == field }
            #expect(listed.count == 101, "\(code): the first 100 and one for the rest")
            #expect(listed.prefix(100).map(\.line) == Array(all.prefix(100)), "\(code): the first 100, in line order")
            let rest = try #require(listed.last)
            #expect(rest.line == all[100] && rest.severity == .note)
            #expect(rest.message.hasPrefix(listed[0].message + "; also on \(all.count - 101) more lines up to line \(all.last!) (\(all.count) lines in all"), "\(rest.message)")
        }
        // The file's note count is every note, listed or not.
        let total = 8 * single.filter { $0.severity == .note }.count
        #expect(report.files[0].notes == total)
        #expect(report.files[0].problems.count == report.issues.count && report.issues.count == 2 * 101)
        // The same notes and count whatever the number of slices the scan is cut into.
        for workers in [2, 3, 5, 9] {
            let many = TraceDatasetScan.scan([TraceSource(name: "traces.jsonl", data: data)], options: .init(), workers: workers)
            #expect(many.report == report, "\(workers) slices")
        }
    }

    @Test("a repeated attribute key is found among hundreds of keys, also past the 128 the scan's table holds")
    func duplicateAmongManyKeys() throws {
        let line = String(decoding: try TraceFixtures.data("spec_examples.jsonl").prefix { $0 != 0x0A }, as: UTF8.self)
        // The span's own attributes come last in the line (after resource.attributes).
        let at = try #require(line.range(of: "\"attributes\":{", options: .backwards))
        func with(_ keys: [String]) -> Data {
            Data((line[..<at.upperBound] + keys.map { "\"\($0)\":1," }.joined() + line[at.upperBound...]).utf8)
        }
        let distinct = (0..<300).map { "x.key\($0)" }
        let clean = TraceValidator.validate(data: with(distinct))
        #expect(clean.haloAccepts && !clean.issues.contains { $0.code == "duplicate_json_key" })
        for (a, b) in [(5, 17), (100, 250), (200, 299), (0, 128)] {
            var keys = distinct
            keys[b] = keys[a]
            let r = TraceValidator.validate(data: with(keys))
            #expect(r.issues.contains { $0.code == "duplicate_json_key" && $0.field == "attributes" }, "keys \(a) and \(b)")
        }
    }

    @Test("each bad line of the invalid fixture is reported with its line number and field")
    func invalidFixture() throws {
        let url = TraceFixtures.url("gen_small_3traces_plus_invalid.jsonl")
        let r = try TraceValidator.validate(files: [url])
        let errors = r.errors
        #expect(!r.ok)
        let expected: [(Int, String, String)] = [
            (52, "parent_span_id", "wrong_type"), (53, "status.message", "wrong_type"),
            (54, "resource.schema_url", "extra_key"), (55, "start_time", "wrong_type"), (56, "attributes", "wrong_type"),
            (57, "<line>", "invalid_json"),
        ]
        #expect(errors.map(\.line) == expected.map(\.0))
        for (line, field, code) in expected {
            let e = try #require(errors.first { $0.line == line })
            #expect(e.field == field)
            #expect(e.code == code)
            #expect(e.file == url.path)
            #expect(!e.message.isEmpty)
        }
        // Byte offsets agree with HALO's checker output.
        #expect(errors.first?.byteOffset == 194878)
        #expect(errors.last?.byteOffset == 199778)
        #expect(errors.first { $0.line == 52 }?.message.contains("null") == true)
        // Strict mode stops at the first error.
        let first = try TraceValidator.validate(files: [url], options: .init(stopAtFirstError: true))
        #expect(first.issues.count == 1 && first.issues[0].line == 52)
    }

    struct Expected: Decodable {
        var ok: Bool
        var issues: [ExpectedIssue]
    }
    struct ExpectedIssue: Decodable {
        var line: Int
        var code: String
        var field: String?
    }

    static let corpus: [String: Expected] = {
        let url = TraceFixtures.url("malformed/expected.json")
        guard let data = try? Data(contentsOf: url) else { return [:] }
        return (try? JSONDecoder().decode([String: Expected].self, from: data)) ?? [:]
    }()

    @Test("the malformed corpus has at least 100 cases")
    func corpusSize() {
        #expect(Self.corpus.count >= 100)
    }

    @Test("every malformed case gives a clear error at the right line, never a crash", arguments: corpus.keys.sorted())
    func malformed(name: String) throws {
        let expected = try #require(Self.corpus[name])
        let data = try TraceFixtures.data("malformed/" + name)
        let r = TraceValidator.validate(data: data, name: name)
        #expect(r.haloAccepts == expected.ok, "\(name): \(r.issues)")
        for want in expected.issues {
            let found = r.issues.contains { i in
                i.line == want.line && i.code == want.code && (want.field == nil || i.field == want.field)
            }
            #expect(found, "\(name): expected \(want.code) at line \(want.line) \(want.field ?? ""), got \(r.issues.map(\.description))")
        }
        for i in r.issues {
            #expect(i.line >= 1 && !i.field.isEmpty && !i.message.isEmpty && i.file == name)
        }
        // The store refuses the file exactly when HALO would.
        let store = try? TraceStore(data: data, name: name)
        #expect((store != nil) == expected.ok)
        if !expected.ok {
            #expect(throws: TraceStoreError.self) { try TraceStore(data: data, name: name) }
        }
    }

    @Test("every prefix of a valid line is reported as truncated, never a crash")
    func truncations() throws {
        let line = Array(try TraceFixtures.data("spec_examples.jsonl").prefix { $0 != 0x0A })
        var reported = 0
        for cut in stride(from: 1, to: line.count, by: 7) {
            let r = TraceValidator.validate(data: Data(line[..<cut]), name: "cut")
            let e = r.errors
            #expect(e.count == 1 && e[0].line == 1, "cut at \(cut): \(r.issues)")
            if e.first?.code == "invalid_json" || e.first?.code == "invalid_utf8" { reported += 1 }
        }
        #expect(reported == (line.count - 1 + 6) / 7)
    }

    @Test("a 50 MB single line is validated without trouble, and the size limit catches it")
    func hugeLine() throws {
        var span = try Span(line: String(decoding: try TraceFixtures.data("spec_examples.jsonl").prefix { $0 != 0x0A }, as: UTF8.self))
        span.attributes["output.value"] = .string(String(repeating: "0123456789abcdef/’\"\\\n", count: 50_000_000 / 22))
        let data = SpanWriter.data([span])
        #expect(data.count > 50_000_000)
        let r = TraceValidator.validate(data: data, name: "huge.jsonl")
        #expect(r.haloAccepts, "\(r.issues)")
        let limited = TraceValidator.validate(data: data, name: "huge.jsonl", options: .init(maxLineBytes: 1 << 20))
        #expect(limited.errors.map(\.code) == ["line_too_long"])
        // The same line, truncated at the end.
        let cut = TraceValidator.validate(data: data.prefix(data.count - 3), name: "huge.jsonl")
        #expect(cut.errors.map(\.code) == ["invalid_json"])
    }

    @Test("deeply nested attributes give an error, not a stack overflow")
    func deepNesting() {
        let head = #"{"trace_id":"t","span_id":"s","name":"n","kind":"k","start_time":"a","end_time":"b","status":{"code":"c"},"resource":{"attributes":{}},"scope":{"name":"x"},"attributes":{"deep":"#
        let deep = head + String(repeating: "[", count: 200_000) + String(repeating: "]", count: 200_000) + "}}"
        let r = TraceValidator.validate(data: Data(deep.utf8), name: "deep")
        #expect(r.errors.map(\.code) == ["invalid_json"])
        #expect(r.errors.first?.message.contains("nesting") == true)
        #expect(throws: SpanDecodingError.self) { try Span(line: deep) }
    }

    @Test("a trace id shared across the files of a dataset is an error")
    func sharedTraceAcrossFiles() throws {
        let dir = TestPaths.scratch("dup")
        let a = dir.appendingPathComponent("a.jsonl"), b = dir.appendingPathComponent("b.jsonl")
        try TraceFixtures.data("spec_examples.jsonl").write(to: a)
        try TraceFixtures.data("spec_examples.jsonl").write(to: b)
        let r = try TraceValidator.validate(files: [a, b])
        #expect(r.files[0].verdict == "ok")
        #expect(r.files[1].errors == 1)
        let e = try #require(r.errors.first)
        #expect(e.code == "duplicate_trace_across_files" && e.file == b.path && e.line == 1 && e.field == "trace_id")
        #expect(throws: TraceStoreError.self) { try TraceStore(files: [a, b]) }
        // Different files with different traces form one dataset.
        let store = try TraceStore(files: [TraceFixtures.url("spec_examples.jsonl"), TraceFixtures.url("gen_small_3traces.jsonl")])
        #expect(try store.count().total == 4)
    }

    @Test("reports encode to JSON with the spec's field names")
    func reportJSON() throws {
        let r = TraceValidator.validate(data: Data("{\"a\":1}\n".utf8), name: "x.jsonl")
        let json = try JSONValue.parse(try JSONEncoder().encode(r.files[0]))
        #expect(json["verdict"] == "failed")
        #expect(json["spans_ok"] == 0)
        let p = try #require(json["problems"]?.arrayValue?.first)
        #expect(Set(p.objectValue!.keys) == ["file", "line", "byte_offset", "severity", "field", "code", "message"])
        #expect(p["severity"] == "error")
        let text = r.files[0].jsonText()
        #expect(try topLevelKeys(Array(text.utf8)) == ["file", "verdict", "spans_ok", "errors", "warnings", "notes", "problems"])
        #expect(text.contains(#""problems":[{"file":"x.jsonl","line":1,"byte_offset":0,"severity":"error","field":"#))
        #expect(try JSONValue.parse(text) == json)
    }
}
