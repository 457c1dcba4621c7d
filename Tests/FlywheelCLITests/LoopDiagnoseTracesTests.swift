import Foundation
import Testing
import TestSupport

/// `flywheel diagnose --traces F --json` on the planted corpus of the Diagnosis unit tests: the binary finds what
/// the library finds, with the planted trace ids as evidence, outside any loop.
@Suite("Loop: diagnose a bare trace file")
struct LoopDiagnoseTracesTests {
    static let corpus = TestPaths.packageRoot.appendingPathComponent("Tests/FlywheelTests/Fixtures/Diagnosis")

    /// Planted mode (expected.json's key) → how its failure mode is recognised (as in PlantedCorpusTests).
    static let modes: [String: [(name: String, matches: @Sendable (String) -> Bool)]] = [
        "errors.jsonl": [("tool_error", { $0.hasPrefix("fm-tool-error-read-file-permission-denied") }), ("unknown_tool", { $0 == "fm-unknown-tools" })],
        "loops.jsonl": [("loop", { $0 == "fm-repeated-tool-calls" }), ("refusal", { $0 == "fm-refusals" })],
        // Missing artifacts need the project's required outputs: the rules file lists them, and its `artifacts` topic
        // (owning the detector's category `artifact-missing`) names the mode and its recommendation.
        "turns.jsonl": [("max_turns", { $0 == "fm-max-turns" }), ("missing_artifacts", { $0 == "fm-artifacts" })],
    ]

    @Test("planted failure modes rank in the top three with their true trace ids", arguments: ["errors.jsonl", "loops.jsonl", "turns.jsonl"])
    func planted(_ file: String) throws {
        let expected = try LoopTest.object(try String(contentsOf: Self.corpus.appendingPathComponent("expected.json"), encoding: .utf8))
        let truth = try #require(expected[file] as? [String: Any])
        let cwd = TestPaths.scratch("diagnose-traces")  // no loop.yaml, no history: nothing is needed or written
        let rules = Self.corpus.appendingPathComponent("rules-artifacts.yaml").path
        let r = try flywheel(["diagnose", "--traces", Self.corpus.appendingPathComponent(file).path, "--rules", rules, "--json"], in: cwd)
        try #require(r.status == 0, "\(r.stderr)")
        let diagnosis = try LoopTest.object(r.stdout)
        let modes = try #require(diagnosis["failure_modes"] as? [[String: Any]])
        let top = Array(modes.prefix(3))
        for (name, matches) in try #require(Self.modes[file]) {
            let ids = Set(try #require((truth[name] as? [String: Any])?["trace_ids"] as? [String]))
            let hit = top.first { matches($0["id"] as? String ?? "") }
            #expect(hit != nil, "\(file) \(name): not in the top three: \(modes.prefix(6).compactMap { $0["id"] })")
            if let hit { #expect(Set(hit["trace_ids"] as? [String] ?? []) == ids, "\(file) \(name): \(hit["trace_ids"] ?? []) vs \(ids.sorted())") }
        }
        let recs = try #require(diagnosis["recommendations"] as? [[String: Any]])
        #expect(!recs.isEmpty)
        #expect(!modes.contains { ($0["id"] as? String) == "fm-missing-artifacts" })
        // Without a harness, only the rules' own recommendation carries a patch; the generic ones name no file or tool.
        #expect(recs.filter { $0["id"] as? String != "rec-enable-validate-artifacts-tools" }
            .allSatisfy { ($0["patch"] as? [String: Any]) == nil && $0["target_file"] == nil }, "\(recs.compactMap { $0["patch"] })")
        #expect(FileManager.default.subpaths(atPath: cwd.path)?.isEmpty == true, "diagnose --traces wrote files")
    }

    @Test("a missing or damaged trace file is a clear error")
    func badTraceFile() throws {
        let cwd = TestPaths.scratch("diagnose-bad")
        var r = try flywheel(["diagnose", "--traces", "nope.jsonl", "--json"], in: cwd)
        #expect(r.status == 1)
        #expect(r.stderr.contains("nope.jsonl"), "\(r.stderr)")
        try "{\"trace_id\": \n".write(to: cwd.appendingPathComponent("bad.jsonl"), atomically: true, encoding: .utf8)
        r = try flywheel(["diagnose", "--traces", "bad.jsonl"], in: cwd)
        #expect(r.status == 1)
        #expect(r.stderr.contains("bad.jsonl:1") || r.stderr.contains("bad.jsonl line 1"), "\(r.stderr)")
        #expect(!r.stderr.contains("Fatal error"))
        r = try flywheel(["diagnose", "--traces", "bad.jsonl", "--cycle", "1"], in: cwd)
        #expect(r.status == 2)
    }
}
