import Flywheel
import FlywheelTraces
import Foundation
import Testing
import TestSupport

/// Trace fixtures (copied into the package; the shared originals may change).
enum TraceFixtures {
    static let folder = TestPaths.packageRoot.appendingPathComponent("Tests/FlywheelTests/Fixtures/Traces")
    static func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
    static var clean: String { path("gen_small_3traces.jsonl") }
    static var invalid: String { path("gen_small_3traces_plus_invalid.jsonl") }
    static var otlp: String { path("otlp_sample.json") }
}

/// A scratch folder with a history and an open cycle (optionally a loop.yaml first).
func tracesWorkspace(_ label: String, loopYAML: String? = nil) throws -> URL {
    let dir = TestPaths.scratch(label)
    if let loopYAML { try loopYAML.write(to: dir.appendingPathComponent("loop.yaml"), atomically: true, encoding: .utf8) }
    try "Answer briefly.\n".write(to: dir.appendingPathComponent("AGENTS.md"), atomically: true, encoding: .utf8)
    let r = try flywheel(["cycle", "start", "--harness", "AGENTS.md"], in: dir)
    #expect(r.status == 0, "\(r.stderr)")
    return dir
}

/// `git` as a peer on the workspace's history.
func git(_ dir: URL, _ args: [String]) throws -> ProcessResult {
    try runTool("git", ["-C", dir.appendingPathComponent("loop-history").path] + args)
}

/// Stage trailers of the history, newest first.
func stages(_ dir: URL) throws -> [String] {
    let r = try flywheel(["log", "--json"], in: dir)
    let log = try #require(try json(r.stdout) as? [[String: Any]])
    return log.compactMap { $0["stage"] as? String }
}

func lines(_ text: String) -> [String] { text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }

@Suite("CLI: traces validate and import")
struct TracesImportCommandTests {
    @Test("validate lists every bad line of the invalid fixture with its number and exits 1; clean files exit 0")
    func validate() throws {
        let dir = TestPaths.scratch("traces-validate")
        var r = try flywheel(["traces", "validate", TraceFixtures.invalid], in: dir)
        #expect(r.status == 1)
        let reported = lines(r.stdout)
        let expected: [(Int, String)] = [
            (52, "parent_span_id"), (53, "status.message"), (54, "resource.schema_url"), (55, "start_time"),
            (56, "attributes"), (57, "<line>"),
        ]
        #expect(reported.count == expected.count, "\(r.stdout)")
        for (line, field) in expected {
            #expect(reported.contains { $0.hasPrefix("\(TraceFixtures.invalid):\(line): \(field): ") }, "line \(line) \(field)")
        }
        #expect(r.stderr.contains("6 errors"))

        r = try flywheel(["traces", "validate", "--json", TraceFixtures.invalid], in: dir)
        #expect(r.status == 1)
        let doc = try #require(try json(r.stdout) as? [String: Any])
        #expect(doc["verdict"] as? String == "failed")
        #expect(doc["errors"] as? Int == 6)
        let problems = try #require(doc["problems"] as? [[String: Any]])
        let errorLines = problems.filter { $0["severity"] as? String == "error" }.compactMap { $0["line"] as? Int }
        #expect(errorLines == [52, 53, 54, 55, 56, 57])
        #expect(problems.allSatisfy { $0["field"] is String && $0["message"] is String && $0["code"] is String })
        // Key order of spec §6.
        let keys = ["\"file\"", "\"verdict\"", "\"spans_ok\"", "\"errors\"", "\"warnings\"", "\"notes\"", "\"problems\""]
        let positions = keys.compactMap { r.stdout.range(of: $0)?.lowerBound }
        #expect(positions.count == keys.count && positions == positions.sorted())

        r = try flywheel(["traces", "validate", "--strict", TraceFixtures.invalid], in: dir)
        #expect(r.status == 1)
        #expect(lines(r.stdout).count == 1)
        #expect(r.stdout.hasPrefix("\(TraceFixtures.invalid):52: parent_span_id: "))

        r = try flywheel(["traces", "validate", TraceFixtures.clean], in: dir)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("51 spans in 3 traces"))

        r = try flywheel(["traces", "validate", "--max-line-bytes", "100", TraceFixtures.clean], in: dir)
        #expect(r.status == 1)
        #expect(r.stdout.contains("line_too_long") || r.stdout.contains("longer"), "\(r.stdout)")

        r = try flywheel(["traces", "validate", dir.appendingPathComponent("missing.jsonl").path], in: dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("missing.jsonl"))
        #expect(try flywheel(["traces", "validate"], in: dir).status == 2)
    }

    @Test("import of HALO and OTLP/JSON files: one traces commit holding every span; a trace already in the cycle is refused")
    func importCommits() throws {
        let dir = try tracesWorkspace("traces-import")
        var r = try flywheel(["traces", "import", "--json", TraceFixtures.clean, TraceFixtures.otlp], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let report = try #require(try json(r.stdout) as? [String: Any])
        let decoded = try decodeOTLPJSON(Data(contentsOf: URL(fileURLWithPath: TraceFixtures.otlp)))
        let otlpSpans = decoded.count
        #expect(otlpSpans > 0)
        #expect(report["spans"] as? Int == 51 + otlpSpans)
        #expect(report["traces"] as? Int == 3 + Set(decoded.map(\.traceID)).count)
        #expect(report["cycle"] as? Int == 1)
        #expect(try stages(dir) == ["traces", "start", "init"])

        // The commit as git sees it: stage trailer, the traces and the cycle's figures, the span count.
        let message = try git(dir, ["log", "-1", "--format=%B"]).stdout
        #expect(message.contains("Flywheel-Stage: traces"))
        #expect(message.contains("Flywheel-Cycle: 1"))
        let changed = lines(try git(dir, ["show", "--name-only", "--format=", "HEAD"]).stdout)
        #expect(changed == ["cycles/0001/cycle.json", "cycles/0001/traces.jsonl"])
        let figures = try JSONSerialization.jsonObject(with: Data(try git(dir, ["show", "HEAD:cycles/0001/cycle.json"]).stdout.utf8)) as? [String: Any]
        let scores = figures?["scores"] as? [String: Any]
        #expect(scores?["spans"] as? Int == 51 + otlpSpans)
        #expect(scores?["traces"] as? Int == 3 + Set(decoded.map(\.traceID)).count)
        let stored = try git(dir, ["show", "HEAD:cycles/0001/traces.jsonl"]).stdout
        #expect(lines(stored).count == 51 + otlpSpans)
        #expect(stored.hasSuffix("\n") && !stored.contains("\r") && !stored.contains("\n\n"))
        // Normalized: stored bytes are the writer's exact output for the spans they hold.
        let store = try TraceStore(data: Data(stored.utf8))
        #expect(String(decoding: SpanWriter.data(try store.allSpans()), as: UTF8.self) == stored)

        // The same traces again: refused, nothing committed.
        r = try flywheel(["traces", "import", TraceFixtures.clean], in: dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("already has trace"), "\(r.stderr)")
        #expect(try stages(dir) == ["traces", "start", "init"])

        // New traces merge: existing spans kept, new ones appended, in a second traces commit.
        let extra = dir.appendingPathComponent("extra.jsonl")
        let span = Span(
            traceID: "0123456789abcdef0123456789abcdef", spanID: "0123456789abcdef", name: "agent.run",
            kind: "SPAN_KIND_INTERNAL", startTime: "2026-05-01T09:00:00.000000000Z",
            endTime: "2026-05-01T09:00:01.000000000Z", status: SpanStatus(code: "STATUS_CODE_OK"),
            resourceAttributes: ["service.name": .string("extra")], scope: SpanScope(name: "t"))
        try SpanWriter.data([span]).write(to: extra)
        r = try flywheel(["traces", "import", extra.path], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Imported 1 span in 1 trace into cycle 1"))
        let merged = try git(dir, ["show", "HEAD:cycles/0001/traces.jsonl"]).stdout
        #expect(merged.hasPrefix(stored))
        #expect(lines(merged).count == 52 + otlpSpans)
        #expect(try stages(dir) == ["traces", "traces", "start", "init"])
    }

    @Test("import with an invalid file lists its errors, exits 1 and commits nothing")
    func importInvalid() throws {
        let dir = try tracesWorkspace("traces-import-invalid")
        let before = try git(dir, ["rev-parse", "HEAD"]).stdout
        let r = try flywheel(["traces", "import", TraceFixtures.clean, TraceFixtures.invalid], in: dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("nothing committed"))
        for line in 52...57 { #expect(r.stderr.contains("gen_small_3traces_plus_invalid.jsonl:\(line): ")) }
        #expect(try git(dir, ["rev-parse", "HEAD"]).stdout == before)
        #expect(try git(dir, ["cat-file", "-e", "HEAD:cycles/0001/traces.jsonl"]).status != 0)
        // A malformed OTLP document is refused the same way.
        let bad = dir.appendingPathComponent("bad.json")
        try #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","name":"x"}]}]}]}"#
            .write(to: bad, atomically: true, encoding: .utf8)
        let o = try flywheel(["traces", "import", "--format", "otlp-json", bad.path], in: dir)
        #expect(o.status == 1)
        #expect(o.stderr.contains("spanId"), "\(o.stderr)")
        #expect(try git(dir, ["rev-parse", "HEAD"]).stdout == before)
        // Without an open cycle: a clear error.
        #expect(try flywheel(["cycle", "close"], in: dir).status == 0)
        let c = try flywheel(["traces", "import", TraceFixtures.clean], in: dir)
        #expect(c.status == 1)
        #expect(c.stderr.contains("no open cycle"))
    }
}

/// Planted secrets, each of one redaction kind, written into several places of a span.
enum PlantedSecrets {
    static let apiKey = "sk-proj-Q7tWm2XkLp9Rz4VbNc8Hd3Fy"
    static let bearer = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.Zk9xW2"
    static let awsKeyID = "AKIAQ3EGRT7LZ5XW2M4N"
    static let githubToken = "ghp_8fK2mQ9xV4tL7pR3zW6yN1bC5dH0jS2aE4uG"
    static let pemBody = "MIIEpAIBAAKCAQEAz7Wq3nY8vTplantedPEMbodyDoNotLeak0xR2"
    static let custom = "itk_Z9Y8X7W6V5U4T3S2R1Q0"
    static let all = [apiKey, bearer, awsKeyID, githubToken, pemBody, custom]
    static let loopYAML = "project: secrets\nredact:\n  patterns:\n    internal_token: \"itk_[A-Za-z0-9]{20}\"\n"

    static func spans() -> [Span] {
        let pem = "-----BEGIN RSA PRIVATE KEY-----\n\(pemBody)\n-----END RSA PRIVATE KEY-----"
        let root = Span(
            traceID: "5ec2e75ec2e75ec2e75ec2e75ec2e7aa", spanID: "5ec2e75ec2e7aa01", name: "agent.run \(awsKeyID)",
            kind: "SPAN_KIND_INTERNAL", startTime: "2026-05-01T09:00:00.000000000Z",
            endTime: "2026-05-01T09:00:02.000000000Z",
            status: SpanStatus(code: "STATUS_CODE_ERROR", message: "push failed with token \(githubToken)"),
            resourceAttributes: ["service.name": .string("secret-agent"), "env.OPENAI_API_KEY": .string(apiKey)],
            scope: SpanScope(name: "test"),
            attributes: [
                "http.request.header.authorization": .string("Bearer \(bearer)"),
                "tool.output": .object(["deploy_key": .string(pem), "note": .string("internal \(custom)")]),
            ])
        return [root]
    }
}

@Suite("CLI: traces redaction")
struct TracesRedactionTests {
    @Test("planted secrets are absent from every object of the repository after import, and counted per kind")
    func redacted() throws {
        let dir = try tracesWorkspace("traces-redact", loopYAML: PlantedSecrets.loopYAML)
        let file = dir.appendingPathComponent("secrets.jsonl")
        try SpanWriter.data(PlantedSecrets.spans()).write(to: file)
        let r = try flywheel(["traces", "import", "--json", file.path], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let report = try #require(try json(r.stdout) as? [String: Any])
        let counts = try #require(report["redactions"] as? [String: Int])
        #expect(counts["api_key"] == 1)
        #expect(counts["bearer_token"] == 1)
        #expect(counts["aws_access_key_id"] == 1)
        #expect(counts["github_token"] == 1)
        #expect(counts["private_key"] == 1)
        #expect(counts["internal_token"] == 1)

        // Every object of the repository (blobs, trees, commits, tags), as git itself reads them.
        let objects = try git(dir, ["cat-file", "--batch-all-objects", "--batch"])
        #expect(objects.status == 0)
        #expect(objects.stdout.contains("[REDACTED:api_key]"), "the traces blob is among the objects")
        for secret in PlantedSecrets.all {
            #expect(!objects.stdout.contains(secret), "\(secret) leaked into the repository")
        }
        let stored = try git(dir, ["show", "HEAD:cycles/0001/traces.jsonl"]).stdout
        for kind in ["api_key", "bearer_token", "aws_access_key_id", "github_token", "private_key", "internal_token"] {
            #expect(stored.contains("[REDACTED:\(kind)]"), "\(kind)")
        }
        #expect(stored.contains("Bearer [REDACTED:bearer_token]"), "the scheme word is kept")
    }

    @Test("--no-redact keeps the secrets as they are")
    func notRedacted() throws {
        let dir = try tracesWorkspace("traces-noredact", loopYAML: PlantedSecrets.loopYAML)
        let file = dir.appendingPathComponent("secrets.jsonl")
        try SpanWriter.data(PlantedSecrets.spans()).write(to: file)
        let r = try flywheel(["traces", "import", "--no-redact", file.path], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("redaction: off"))
        let stored = try git(dir, ["show", "HEAD:cycles/0001/traces.jsonl"]).stdout
        for secret in PlantedSecrets.all { #expect(stored.contains(secret), "\(secret)") }
        #expect(!stored.contains("[REDACTED:"))
    }

    @Test("a bad redact pattern in loop.yaml is an error naming the field")
    func badPattern() throws {
        let broken = "project: x\nredact:\n  patterns:\n    broken: \"([a-z\"\n"
        let dir = try tracesWorkspace("traces-badpattern")
        try broken.write(to: dir.appendingPathComponent("loop.yaml"), atomically: true, encoding: .utf8)
        let r = try flywheel(["traces", "import", TraceFixtures.clean], in: dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("redact.patterns.broken"), "\(r.stderr)")
        // A cycle does not start with a secret filter that cannot be built (loop.yaml itself is snapshotted redacted).
        let fresh = TestPaths.scratch("traces-badpattern-start")
        try broken.write(to: fresh.appendingPathComponent("loop.yaml"), atomically: true, encoding: .utf8)
        let start = try flywheel(["cycle", "start"], in: fresh)
        #expect(start.status == 1)
        #expect(start.stderr.contains("redact.patterns.broken"), "\(start.stderr)")
    }
}
