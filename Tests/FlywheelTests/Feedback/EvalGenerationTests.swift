import Foundation
import Testing

@testable import Flywheel
@testable import FlywheelSupport
@testable import FlywheelEvals
@testable import FlywheelModels

/// A model that answers every request with fixed text and records the requests.
final class CannedModel: ChatModel, @unchecked Sendable {
    let id: String
    var label: String { id }
    var isSimulation: Bool { false }
    let reply: String
    private let lock = NSLock()
    private var _requests: [ChatRequest] = []
    var requests: [ChatRequest] { lock.withLock { _requests } }

    init(id: String = "openai:test-critic", reply: String) {
        self.id = id
        self.reply = reply
    }

    func complete(_ request: ChatRequest) throws -> ChatResponse {
        lock.withLock { _requests.append(request) }
        return ChatResponse(message: .assistant(reply), finishReason: "stop", usage: Usage(promptTokens: 1, completionTokens: 1), latencyMs: 1, model: id)
    }
}

@Suite struct EvalGenerationTests {
    static let record = FeedbackRecord(
        feedbackID: "fb-nrr01", traceID: "t-nrr", source: .human, author: "finance-lead", category: "unvalidated-metric",
        severity: .high, observation: "Management's ~130% NRR is not validated.", evidence: "product_strategy.md",
        requiredObservations: ["112%|112 %", "cohort"], prohibitedClaims: ["NRR is 130%"], createdAt: "2026-09-30T12:00:00Z")

    @Test func compilesDeterministicAndRubricTests() throws {
        let tests = EvalCompiler(cycle: 2).compile([Self.record], questions: ["t-nrr": "What is NRR?"])
        #expect(tests.count == 2)
        let det = tests[0]
        #expect(det["metadata"]?["id"] == "fb-nrr01-1")
        #expect(det["metadata"]?["feedback_id"] == "fb-nrr01")
        #expect(det["metadata"]?["trace_id"] == "t-nrr")
        #expect(det["metadata"]?["cycle"] == 2)
        #expect(det["metadata"]?["category"] == "unvalidated-metric")
        #expect(det["metadata"]?["severity"] == "high")
        #expect(det["metadata"]?["source"] == "human")
        #expect(det["vars"] == ["trace_id": "t-nrr", "question": "What is NRR?"])
        #expect(det["assert"] == [
            ["type": "icontains-any", "value": ["112%", "112 %"]],
            ["type": "icontains", "value": "cohort"],
            ["type": "not-icontains", "value": "NRR is 130%"],
        ])
        let rubric = tests[1]
        #expect(rubric["metadata"]?["id"] == "fb-nrr01-2")
        #expect(rubric["assert"]?.arrayValue?.first?["type"] == "llm-rubric")
        #expect(rubric["assert"]?.arrayValue?.first?["value"]?.stringValue?.contains("~130% NRR") == true)
        // regex form
        var r = Self.record
        r.requiredObservations = ["/Type I+ report/"]
        r.prohibitedClaims = []
        #expect(EvalCompiler.deterministicAssertions(r) == [["type": "regex", "value": "Type I+ report"]])
        // no deterministic assertion → only the rubric test
        r.requiredObservations = []
        #expect(EvalCompiler(cycle: 1).compile(r, question: nil).map { $0["metadata"]?["id"] } == ["fb-nrr01-2"])
    }

    /// Generated tests load as the evals stage's test cases (its checker accepts every assertion we emit).
    @Test func generatedTestsLoadInTheEvalsStage() throws {
        var r = Self.record
        r.requiredObservations.append("/Type I+ report/")
        for (i, test) in EvalCompiler(cycle: 1).compile([r], questions: ["t-nrr": "Q"]).enumerated() {
            let loaded = try EvalTestCase(node: test.keysSorted, file: "evals.yaml", path: "tests[\(i)]")
            #expect(loaded.id == EvalRatchet.id(of: test))
            #expect(loaded.assertions.count == test["assert"]?.arrayValue?.count)
        }
        let yaml = EvalRatchet.renderCycleEvals(EvalCompiler(cycle: 1).compile([r]))
        let viaYAML = try #require(EvalYAML.parseOrNil(yaml))
        #expect(viaYAML == .array(EvalCompiler(cycle: 1).compile([r])))
    }

    @Test func yamlRoundTrip() throws {
        let tests = EvalCompiler(cycle: 1).compile([Self.record])
        let yaml = EvalRatchet.renderCycleEvals(tests)
        #expect(yaml.hasPrefix("- assert:\n"))
        #expect(try EvalTestsYAML.parseTests(yaml) == tests)
        #expect(EvalRatchet.renderCycleEvals(tests) == yaml)  // deterministic
        // strings that YAML would read as other types stay strings
        let tricky: JSONValue = ["a": "yes", "b": "1.5", "c": "x: y", "d": "", "e": "line\nbreak", "f": ["true", 3, 2.5, nil]]
        #expect(try EvalTestsYAML.parse(EvalTestsYAML.render(tricky)) == tricky)
    }

    @Test func ratchetDedupesAndNeverDrops() throws {
        let compiler = EvalCompiler(cycle: 1)
        let first = EvalRatchet.merge(existing: [], candidates: compiler.compile([Self.record]))
        #expect(first.added.count == 2)
        // a hand-written test without metadata.id stays, whatever happens
        let manual: JSONValue = ["description": "manual", "vars": ["trace_id": "x"], "assert": [["type": "icontains", "value": "x"]]]
        var suite = first.tests + [manual]
        // cycle 2: the same record again, plus a record whose assertions duplicate an existing test
        var twin = Self.record
        twin.feedbackID = "fb-twin"
        twin.observation = "NRR must come from finance's cohort data."  // same assertions, different rubric
        let second = EvalRatchet.merge(existing: suite, candidates: EvalCompiler(cycle: 2).compile([Self.record, twin]))
        #expect(second.added.isEmpty == false)
        #expect(second.skipped.contains { $0.id == "fb-nrr01-1" && $0.reason == "duplicate id" })
        #expect(second.skipped.contains { $0.id == "fb-twin-1" && $0.reason == "same assertions as fb-nrr01-1" })
        #expect(second.added.map { EvalRatchet.id(of: $0) } == ["fb-twin-2"])
        #expect(second.skipped.count == 3)  // fb-nrr01-1, fb-nrr01-2 (ids), fb-twin-1 (assertions): none silent
        suite = second.tests
        #expect(suite.count == 4)
        #expect(suite.contains(manual))
        #expect(Array(suite.prefix(3)) == first.tests + [manual])  // existing tests untouched, in order
    }

    @Test func pruneIsExplicitAndRecorded() throws {
        let tests = EvalCompiler(cycle: 1).compile([Self.record])
        let (kept, ledger) = try EvalRatchet.prune(tests: tests, ids: ["fb-nrr01-2"], reason: "rubric duplicates the deterministic case", cycle: 3, ledger: [])
        #expect(kept.map { EvalRatchet.id(of: $0) } == ["fb-nrr01-1"])
        #expect(ledger.count == 1 && ledger[0].reason == "rubric duplicates the deterministic case" && ledger[0].cycle == 3)
        #expect(ledger[0].test == tests[1])
        #expect(throws: EvalGenerationError.self) { try EvalRatchet.prune(tests: kept, ids: ["nope"], reason: "x", cycle: 3, ledger: ledger) }
        #expect(throws: EvalGenerationError.self) { try EvalRatchet.prune(tests: kept, ids: ["fb-nrr01-1"], reason: " ", cycle: 3, ledger: ledger) }
        // the ledger survives a YAML round trip, and a pruned id is not re-added (and says why)
        let parsed = try EvalRatchet.parseLedger(EvalRatchet.renderLedger(ledger))
        #expect(parsed == ledger)
        let again = EvalRatchet.merge(existing: kept, candidates: tests, pruned: parsed)
        #expect(again.added.isEmpty)
        #expect(again.skipped.map(\.reason).sorted() == ["duplicate id", "pruned in cycle 3: rubric duplicates the deterministic case"])
    }

    @Test func pruneRecordLivesInSuiteMetadata() throws {
        let tests = EvalCompiler(cycle: 1).compile([Self.record])
        let (_, ledger) = try EvalRatchet.prune(tests: tests, ids: ["fb-nrr01-2"], reason: "judge unavailable", cycle: 4, ledger: [])
        let existing: JSONValue = ["owner": "team", "flywheel": ["removed": [["id": "t-old", "reason": "obsolete", "description": "x"]]]]
        let md = EvalRatchet.suiteMetadata(existing, adding: ledger)
        #expect(md["owner"] == "team")
        let back = EvalRatchet.ledger(fromSuiteMetadata: md)
        #expect(back.map(\.id) == ["t-old", "fb-nrr01-2"])
        #expect(back[0].cycle == 0 && back[1].cycle == 4 && back[1].test == tests[1])
        #expect(EvalRatchet.merge(existing: [], candidates: tests, pruned: back).added.map { EvalRatchet.id(of: $0) } == ["fb-nrr01-1"])
    }

    @Test func modelProposalsAreValidated() throws {
        let reply = """
            {"cases": [
              {"feedback_id": "fb-nrr01", "description": "mentions cohort data", "assert": [{"type": "icontains", "value": "cohort data"}]},
              {"feedback_id": "fb-nrr01", "description": "bad regex", "assert": [{"type": "regex", "value": "(112"}]},
              {"feedback_id": "fb-nrr01", "description": "unknown type", "assert": [{"type": "javascript", "value": "true"}]},
              {"feedback_id": "fb-nrr01", "description": "empty", "assert": [{"type": "icontains", "value": " "}]},
              {"feedback_id": "fb-other", "description": "unknown record", "assert": [{"type": "icontains", "value": "x"}]},
              {"feedback_id": "fb-nrr01", "assert": [{"type": "icontains", "value": "x"}]}
            ]}
            """
        let model = CannedModel(id: "openai:evalgen", reply: reply)
        let result = try EvalProposer(model: model, cycle: 2).propose([Self.record])
        #expect(result.tests.count == 1)
        #expect(result.tests[0]["metadata"]?["proposed_by"] == "openai:evalgen")
        #expect(result.tests[0]["metadata"]?["id"]?.stringValue?.hasPrefix("fb-nrr01-m") == true)
        #expect(result.rejected.count == 5)
        #expect(result.rejected.contains { $0.contains("invalid regex") })
        #expect(result.rejected.contains { $0.contains("unknown assertion type \"javascript\"") })
        #expect(result.rejected.contains { $0.contains("empty value") })
        #expect(result.rejected.contains { $0.contains("unknown feedback_id fb-other") })
        #expect(result.rejected.contains { $0.contains("must have required property 'description'") })
        if case .jsonSchema(let name, _, _)? = model.requests.first?.responseFormat { #expect(name == "eval_cases") } else { Issue.record("no json schema") }
        #expect(EvalProposer(model: model, cycle: 2).parse(reply: "not json", records: [Self.record]).rejected == ["reply: not JSON"])
    }

    @Test func modelCriticValidatesFindings() throws {
        let reply = """
            {"findings": [
              {"category": "Refund Policy", "severity": "high", "observation": "Refund approved outside the 30-day window", "evidence": "final_answer.md", "required_observations": ["30 days"], "prohibited_claims": ["refund approved"]},
              {"category": "x", "severity": "severe", "observation": "bad severity", "evidence": "", "required_observations": [], "prohibited_claims": []},
              {"category": "x", "severity": "low", "observation": "missing lists", "evidence": ""}
            ]}
            """
        let model = CannedModel(reply: reply)
        let critic = ModelCritic(model: model, createdAt: "2026-09-30T12:00:00Z")
        let brief = ProjectBrief(
            name: "Acme support", description: "A chat agent that answers order questions.", instructionsPath: "harness/AGENTS.md",
            instructions: "Refunds only within 30 days of delivery.", categories: ["refund-policy", "tone"])
        let run = RunArtifacts(
            traceID: "t9", question: "Can I return order A1001?", files: ["final_answer.md": "Refund approved for A1001."],
            toolCalls: [.init(name: "lookup_order", input: #"{"id":"A1001"}"#, failed: false, spanID: "s1")])
        let result = try critic.critique(run: run, brief: brief)
        #expect(result.records.count == 1)
        #expect(result.records[0].source == .model && result.records[0].author == "openai:test-critic")
        #expect(result.records[0].category == "refund-policy")
        #expect(result.records[0].traceID == "t9")
        #expect(result.rejected == [
            "findings[1]: data/findings/1/severity must be equal to one of the allowed values",
            "findings[2]: data/findings/2 must have required property 'required_observations'",
        ])
        let request = try #require(model.requests.first)
        #expect(request.messages.last?.content?.contains("Refund approved for A1001.") == true)
        #expect(request.messages.last?.content?.contains("lookup_order") == true)
        // The prompt is the project's: its description, instructions and categories; no domain of Flywheel's own.
        let system = request.messages.first?.content ?? ""
        #expect(system.contains("A chat agent that answers order questions.") && system.contains("Refunds only within 30 days"))
        #expect(system.contains("refund-policy, tone"))
        for word in ["diligence", "data room", "analyst", "NRR", "SOC 2"] { #expect(!system.localizedCaseInsensitiveContains(word), "\(word)") }
        if case .jsonSchema(_, let schema, _)? = request.responseFormat { #expect(schema == ModelCritic.schema) } else { Issue.record("no schema") }
    }
}

@Suite struct PrunedCasesStayOutTests {
    @Test("a pruned case stays out when the same checks come back under another id")
    func prunedCaseComesBackUnderANewID() throws {
        let old: JSONValue = [
            "vars": ["question": "What is NRR?", "trace_id": "t1"],
            "assert": [["type": "icontains", "value": "112%"]],
            "metadata": ["id": "fb-aaa-1"],
        ]
        let again: JSONValue = [
            "vars": ["question": "What is NRR?", "trace_id": "t2"],
            "assert": [["type": "icontains", "value": "112%"]],
            "metadata": ["id": "fb-bbb-1"],
        ]
        let other: JSONValue = [
            "vars": ["question": "What is NRR?", "trace_id": "t2"],
            "assert": [["type": "icontains", "value": "cohort"]],
            "metadata": ["id": "fb-ccc-1"],
        ]
        let pruned = [PrunedTest(id: "fb-aaa-1", reason: "too strict", cycle: 2, test: old)]
        let merged = EvalRatchet.merge(existing: [], candidates: [again, other], pruned: pruned)
        #expect(merged.added.compactMap(EvalRatchet.id(of:)) == ["fb-ccc-1"])
        #expect(merged.skipped.map(\.reason) == ["the same checks as fb-aaa-1, pruned in cycle 2: too strict"])
    }

    @Test("a cycle's evals.yaml reads back to the case ids it was written with; a damaged or hostile one lists none")
    func cycleEvalsReadBack() {
        let cases: [JSONValue] = [
            .object(["description": "refund asked twice", "metadata": .object(["id": "fb-refund-1", "cycle": 3])]),
            .object(["description": "no id", "metadata": .object(["cycle": 3])]),
            .object(["description": "numeric id", "metadata": .object(["id": 42])]),
        ]
        let text = EvalRatchet.renderCycleEvals(cases)
        #expect(EvalRatchet.caseIDs(inCycleEvals: text, file: "cycles/0003/evals.yaml") == ["fb-refund-1", "42"])
        #expect(EvalRatchet.caseIDs(inCycleEvals: EvalRatchet.renderCycleEvals([]), file: "e.yaml").isEmpty)
        #expect(EvalRatchet.caseIDs(inCycleEvals: "{not: [a list", file: "e.yaml").isEmpty)
        // A list whose aliases would expand to 10^13 nodes: the YAML limits refuse the whole file before it loads.
        var bomb = "- metadata: {id: listed-if-loaded}\n- &a [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...12 { bomb += "- &b\(i) [" + Array(repeating: i == 1 ? "*a" : "*b\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        #expect(EvalRatchet.caseIDs(inCycleEvals: bomb, file: "e.yaml").isEmpty)
    }
}
