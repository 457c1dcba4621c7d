import Foundation
import Testing
import TestSupport

@testable import Flywheel

/// The planted corpus of Fixtures/Diagnosis (built by generate.py): each planted failure mode must rank in the top
/// three of its file with exactly its true trace ids.
@Suite struct PlantedCorpusTests {
    static let folder = TestPaths.packageRoot.appendingPathComponent("Tests/FlywheelTests/Fixtures/Diagnosis")

    static func expected() throws -> JSONValue {
        try JSONValue.parse(Data(contentsOf: folder.appendingPathComponent("expected.json")))
    }

    static func diagnose(_ file: String) throws -> Diagnosis {
        // The corpus's project rules: the artifacts its runs must leave (a project without rules has no such detector).
        let rules = try ProjectRules.load(folder.appendingPathComponent("rules-artifacts.yaml"))
        return try Diagnoser.diagnose(traces: folder.appendingPathComponent(file), rules: rules, cycle: 1)
    }

    static func trueIDs(_ file: String, _ mode: String) throws -> [String] {
        try #require(try expected()[file]?[mode]?["trace_ids"]?.arrayValue).compactMap(\.stringValue)
    }

    /// Asserts the failure mode is in the top three with the planted trace ids (as a set).
    static func expectTop3(_ d: Diagnosis, _ id: (FailureMode) -> Bool, traces: [String], _ label: String) {
        let top = Array(d.failureModes.prefix(3))
        let hit = top.first(where: id)
        #expect(hit != nil, "\(label) not in top 3: \(d.failureModes.prefix(6).map { "\($0.id) \($0.traceIDs.count)" })")
        if let hit { #expect(Set(hit.traceIDs) == Set(traces), "\(label): \(hit.traceIDs) vs \(traces)") }
    }

    @Test func toolErrorClusterAndHallucinatedTool() throws {
        let d = try Self.diagnose("errors.jsonl")
        Self.expectTop3(d, { $0.id.hasPrefix("fm-tool-error-read-file-permission-denied") }, traces: try Self.trueIDs("errors.jsonl", "tool_error"), "tool error cluster")
        Self.expectTop3(d, { $0.id == "fm-unknown-tools" }, traces: try Self.trueIDs("errors.jsonl", "unknown_tool"), "hallucinated tool")
        let cluster = try #require(d.failureModes.first { $0.id.hasPrefix("fm-tool-error-read-file") })
        #expect(cluster.count == 7)  // 1 + 2 + 1 + 2 + 1 planted spans, despite different paths, uids
        #expect(cluster.kind == .implementationDefect)
        #expect(cluster.spanIDs.count == 7)
    }

    @Test func loopsAndRefusals() throws {
        let d = try Self.diagnose("loops.jsonl")
        Self.expectTop3(d, { $0.id == "fm-repeated-tool-calls" }, traces: try Self.trueIDs("loops.jsonl", "loop"), "loop")
        Self.expectTop3(d, { $0.id == "fm-refusals" }, traces: try Self.trueIDs("loops.jsonl", "refusal"), "refusal")
        let loop = try #require(d.failureModes.first { $0.id == "fm-repeated-tool-calls" })
        #expect(loop.spanIDs.count == 12)  // 3 traces × 4 identical calls; the 2-call repetition is not a loop
    }

    @Test func maxTurnsAndMissingArtifacts() throws {
        let d = try Self.diagnose("turns.jsonl")
        Self.expectTop3(d, { $0.id == "fm-max-turns" }, traces: try Self.trueIDs("turns.jsonl", "max_turns"), "max turns")
        Self.expectTop3(d, { $0.id == "fm-artifacts" }, traces: try Self.trueIDs("turns.jsonl", "missing_artifacts"), "missing artifacts")
        let rec = try #require(d.recommendations.first { $0.failureModeIDs.contains("fm-artifacts") })
        #expect(rec.patch?.enableTools == ["validate_artifacts"])
    }

    @Test func deterministicAndContractShape() throws {
        let a = try Self.diagnose("errors.jsonl").encoded()
        let b = try Self.diagnose("errors.jsonl").encoded()
        #expect(a == b)
        let v = try JSONValue.parse(a)
        #expect(Set(v.objectValue?.keys.map { $0 } ?? []) == ["cycle", "generated_by", "failure_modes", "recommendations", "outcomes"])
        let fm = try #require(v["failure_modes"]?.arrayValue?.first?.objectValue)
        #expect(Set(fm.keys) == ["id", "title", "kind", "category", "count", "trace_ids", "span_ids", "eval_ids", "feedback_ids", "evidence"])
        let rec = try #require(v["recommendations"]?.arrayValue?.first?.objectValue)
        #expect(Set(rec.keys) == ["id", "rank", "title", "area", "change", "patch", "predicted_impact", "confidence", "effort", "evidence", "validation", "failure_mode_ids"])
        #expect(rec["patch"] == .null)  // a tool-implementation fix has no machine-applicable patch
        #expect(rec["id"]?.stringValue == "rec-tool-error-read-file-permission-denied-errno-uid-tools")
        #expect(try Diagnosis.decode(a) == Self.diagnose("errors.jsonl"))
    }

    @Test func harnessRuleMakesItPresentButNotFollowed() throws {
        let spans = try DiagnosisTraces.spans(at: Self.folder.appendingPathComponent("loops.jsonl"))
        let without = Diagnoser.diagnose(spans: spans)
        let with = Diagnoser.diagnose(
            spans: spans, harness: HarnessFiles(files: ["harness/instructions.md": "- Never repeat an identical tool call.\n"]))
        #expect(without.failureModes.first { $0.id == "fm-repeated-tool-calls" }?.kind == .missingRequirement)
        #expect(with.failureModes.first { $0.id == "fm-repeated-tool-calls" }?.kind == .presentButNotFollowed)
    }
}
