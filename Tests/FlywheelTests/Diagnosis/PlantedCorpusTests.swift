import Foundation
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelSupport

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
        let spans = try DiagnosisTraces.spans(at: Self.folder.appendingPathComponent("turns.jsonl"))
        let required = ["summary_answer.md", "evidence_table.csv", "risk_register.json", "investment_memo.md", "open_questions.md", "citations.json"]
        let harness = HarnessFiles(files: ["harness/AGENTS.md": "You answer questions.\n", "harness/tools.yaml": "tools:\n  - name: write_artifact\n"])
        let d = Diagnoser.diagnose(DiagnosisInput(spans: spans, harness: harness, requiredArtifacts: required), cycle: 1)
        Self.expectTop3(d, { $0.id == "fm-max-turns" }, traces: try Self.trueIDs("turns.jsonl", "max_turns"), "max turns")
        Self.expectTop3(d, { $0.id == "fm-missing-artifacts" }, traces: try Self.trueIDs("turns.jsonl", "missing_artifacts"), "missing artifacts")
        let rec = try #require(d.recommendations.first { $0.failureModeIDs.contains("fm-missing-artifacts") })
        // The generic recommendation names the project's own instructions file and no tool.
        #expect(rec.patch?.file == "harness/AGENTS.md" && rec.patch?.enableTools == nil)
        // Without required outputs from the project's rules there is no missing-artifact detector.
        #expect(!Diagnoser.diagnose(spans: spans).failureModes.contains { $0.id == "fm-missing-artifacts" })
    }

    @Test func deterministicAndContractShape() throws {
        let a = try Self.diagnose("errors.jsonl").encoded()
        let b = try Self.diagnose("errors.jsonl").encoded()
        #expect(a == b)
        let v = try JSONValue.parse(a)
        #expect(Set(v.objectValue?.keys.map { $0 } ?? []) == ["cycle", "generated_by", "failure_modes", "recommendations", "outcomes", "ranking"])
        let fm = try #require(v["failure_modes"]?.arrayValue?.first?.objectValue)
        #expect(v["ranking"]?["formula"]?.stringValue?.contains("severity_weight × (traces + 2 × failing_evals) × confirmation_factor") == true)
        #expect(Set(fm.keys) == [
            "id", "title", "kind", "category", "count", "trace_ids", "span_ids", "eval_ids", "feedback_ids", "evidence", "impact", "templates", "trace_share",
        ])
        let impact = try #require(fm["impact"])
        #expect(impact["traces"]?.intValue == Int64((fm["trace_ids"]?.arrayValue?.count)!))
        #expect(impact["score"]?.doubleValue == impact["severity_weight"]!.doubleValue! * Double(impact["traces"]!.intValue! + 2 * impact["failing_evals"]!.intValue!) * impact["confirmation_factor"]!.doubleValue!)
        let rec = try #require(v["recommendations"]?.arrayValue?.first?.objectValue)
        #expect(Set(rec.keys) == ["id", "rank", "title", "area", "change", "patch", "predicted_impact", "confidence", "effort", "evidence", "validation", "failure_mode_ids"])
        #expect(rec["patch"] == .null)  // a tool-implementation fix has no machine-applicable patch
        #expect(rec["id"]?.stringValue == "rec-tool-error-read-file-permission-denied-tools")
        #expect(try Diagnosis.read(a) == Self.diagnose("errors.jsonl"))
    }

    @Test func harnessRuleMakesItPresentButNotFollowed() throws {
        let spans = try DiagnosisTraces.spans(at: Self.folder.appendingPathComponent("loops.jsonl"))
        let without = Diagnoser.diagnose(spans: spans)
        let with = Diagnoser.diagnose(
            spans: spans, harness: HarnessFiles(files: ["harness/instructions.md": "- Never repeat an identical tool call.\n"]))
        #expect(without.failureModes.first { $0.id == "fm-repeated-tool-calls" }?.kind == .missingRequirement)
        #expect(with.failureModes.first { $0.id == "fm-repeated-tool-calls" }?.kind == .presentButNotFollowed)
    }

    // MARK: - Generated corpora (PlantedCorpus): agents of several domains, three planted modes each

    struct Score {
        var planted = 0, found = 0, reported = 0, correct = 0
        var misses: [String] = []
        var recall: Double { planted == 0 ? 1 : Double(found) / Double(planted) }
        var precision: Double { reported == 0 ? 1 : Double(correct) / Double(reported) }
    }

    /// Recall@3: planted modes found in the top three with exactly their true trace ids. Precision@3: top-three modes
    /// that are a planted mode, with at least two evidence trace ids, all of which truly exhibit it.
    static func score(_ corpora: [PlantedCorpus]) -> Score {
        var s = Score()
        for c in corpora {
            let out = c.generate()
            let d = Diagnoser.diagnose(DiagnosisInput(spans: out.spans), cycle: 1)
            let top = Array(d.failureModes.prefix(3))
            for m in c.modes {
                s.planted += 1
                if let hit = top.first(where: m.isReported(by:)), Set(hit.traceIDs) == Set(out.truth[m]!) {
                    s.found += 1
                } else {
                    s.misses.append("\(c.agent.name)/\(m): top \(d.failureModes.prefix(5).map { "\($0.id) \($0.traceIDs.count)" }), truth \(out.truth[m]!.count)")
                }
            }
            for fm in top {
                s.reported += 1
                guard let m = c.modes.first(where: { $0.isReported(by: fm) }) else {
                    s.misses.append("\(c.agent.name): unplanted \(fm.id) in top 3")
                    continue
                }
                let truth = Set(out.truth[m]!)
                let evidenceTraces = Set(fm.evidence.map(\.traceID).filter { !$0.isEmpty })
                if evidenceTraces.count >= 2 && evidenceTraces.isSubset(of: truth) { s.correct += 1 } else { s.misses.append("\(fm.id): evidence \(evidenceTraces.count)") }
            }
        }
        return s
    }

    @Test func tuningCorporaRankEveryPlantedModeInTopThree() {
        let s = Self.score(PlantedCorpus.tuning)
        #expect(s.planted == 21)
        #expect(s.found == s.planted, "\(s.misses)")
        #expect(s.correct == s.reported, "\(s.misses)")
    }

    @Test func heldOutCorporaMeetRecallAndPrecisionAtThree() {
        let s = Self.score(PlantedCorpus.heldOut)
        #expect(s.planted == 18)
        #expect(s.recall >= 0.95, "recall@3 \(s.recall): \(s.misses)")
        #expect(s.precision >= 0.90, "precision@3 \(s.precision): \(s.misses)")
    }

    @Test func randomCorporaMeetRecallAndPrecisionAtThree() {
        let s = Self.score(PlantedCorpus.random(count: 30, seed: 4242))
        #expect(s.planted == 90)
        #expect(s.recall >= 0.95, "recall@3 \(s.recall): \(s.misses)")
        #expect(s.precision >= 0.90, "precision@3 \(s.precision): \(s.misses)")
    }

    @Test func oneRootCauseWordedManyWaysIsOneMode() throws {
        let c = PlantedCorpus.tuning[0]  // search_flights fails with five wordings of one limit
        let out = c.generate()
        let d = Diagnoser.diagnose(DiagnosisInput(spans: out.spans), cycle: 1)
        let modes = d.failureModes.filter { $0.id.hasPrefix("fm-tool-error-search-flights") }
        #expect(modes.count == 1, "\(modes.map(\.id))")
        let mode = try #require(modes.first)
        #expect(mode.id == "fm-tool-error-search-flights-limit")
        let templates = try #require(mode.templates)
        #expect(templates.count >= 2, "\(templates)")
        #expect(templates.map(\.count).reduce(0, +) == mode.count)
        #expect(mode.traceShare == (Double(out.truth[c.modes[0]]!.count) / Double(out.traceIDs.count) * 1000).rounded() / 1000)
        // Evidence names trace, span and a verbatim quote.
        let e = try #require(mode.evidence.first)
        let span = try #require(out.spans.first { $0.traceID == e.traceID && $0.spanID == e.spanID })
        #expect(span.status.message == e.quote)
        // The two wordings of the issue normalise to templates of one cluster.
        #expect(ErrorText.errorClass("ValidationError: page_limit 87 exceeds maximum 25") == .limit)
        #expect(ErrorText.errorClass("parameter 'limit' must be <= 25 (got 60)") == .limit)
        #expect(Diagnoser.normalizeError("parameter 'limit' must be <= 25 (got 60) at 2026-05-01T10:00:00Z") == "parameter <q> must be <= <n> (got <n>) at <ts>")
    }

    @Test func generatedCorpusThroughAHALOFile() throws {
        let dir = TestPaths.scratch("planted-file")
        defer { try? FileManager.default.removeItem(at: dir) }
        let c = PlantedCorpus.tuning[1]
        let out = c.generate()
        let file = dir.appendingPathComponent("traces.jsonl")
        try Data(out.spans.map { $0.jsonLine + "\n" }.joined().utf8).write(to: file)
        let d = try Diagnoser.diagnose(traces: file, cycle: 1)
        for m in c.modes {
            let hit = d.failureModes.prefix(3).first(where: m.isReported(by:))
            #expect(hit.map { Set($0.traceIDs) } == Set(out.truth[m]!), "\(m)")
        }
    }

    @Test func aDeclineThatStatesThePolicyIsNotARefusal() {
        let expected: [NSRegularExpression] = []
        #expect(Diagnoser.refusalMatch("I'm sorry, but order A1001 was delivered 45 days ago, past our 30-day return window.", expected: expected) == nil)
        #expect(Diagnoser.refusalMatch("I'm sorry, but I can't help with that.", expected: expected) != nil)
        #expect(Diagnoser.refusalMatch("I am unable to assist with this request.", expected: expected) != nil)
        // A project's expected declines (from its rules) are never refusals.
        let custom = [try! NSRegularExpression(pattern: "transfer you to a human", options: [.caseInsensitive])]
        #expect(Diagnoser.refusalMatch("I'm sorry, I can't do that; let me transfer you to a human.", expected: custom) == nil)
        #expect(Diagnoser.refusalMatch("I'm sorry, I can't do that; let me transfer you to a human.", expected: []) != nil)
        // The recommendation is generic and names the harness's own instructions file.
        let answers = ["t1": "I'm sorry, but I can't help with that.", "t2": "I cannot provide that information.", "t3": "Your order ships Monday."]
        let d = Diagnoser.diagnose(
            DiagnosisInput(spans: [], harness: HarnessFiles(files: ["agent/system_prompt.md": "Be helpful.\n", "agent/notes.md": String(repeating: "x", count: 500)])),
            cycle: 1, finalAnswers: answers)
        let fm = d.failureModes.first { $0.id == "fm-refusals" }
        #expect(fm?.traceIDs == ["t1", "t2"])
        let rec = d.recommendations.first { $0.failureModeIDs.contains("fm-refusals") }
        #expect(rec?.patch?.file == "agent/system_prompt.md")
        #expect(rec?.change.contains("state the rule or policy") == true)
    }
}
