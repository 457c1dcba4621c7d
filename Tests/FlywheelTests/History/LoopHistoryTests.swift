import Foundation
import GitStore
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelModels

@Suite("Loop history")
struct LoopHistoryTests {
    let harnessV1: [String: Data] = ["instructions.md": Data("Be careful.\n".utf8), "tools.yaml": Data("tools: []\n".utf8)]

    func makeHistory() throws -> LoopHistory {
        let history = LoopHistory(repository: TestPaths.scratch("history").appendingPathComponent("loop-history"))
        try history.initialize(files: ["loop.yaml": Data("project: test\n".utf8)])
        return history
    }

    @Test("a cycle runs start → stage → close, one commit per stage with trailers, tagged on close")
    func cycleLifecycle() throws {
        let history = try makeHistory()
        let started = try history.startCycle(harness: harnessV1, models: ["agent": "offline-example"])
        #expect(started.number == 1)
        #expect(started.status == .open)
        let (n, commit) = try history.commitToOpenCycle(.traces, files: ["traces.jsonl": Data("{}\n".utf8)])
        #expect(n == 1)
        #expect(commit != nil)
        let closed = try history.closeCycle { $0.scores.passRate = 0.5 }
        #expect(closed.status == .closed)

        let log = try history.log()
        #expect(log.map(\.summary) == ["cycle 1: close", "cycle 1: traces", "cycle 1: start", "flywheel: init"])
        #expect(log.map(\.stage) == ["close", "traces", "start", "init"])
        #expect(log.prefix(3).allSatisfy { $0.cycle == 1 })

        let snap = try history.snapshot(at: "refs/tags/cycle-0001")
        #expect(try snap.text("cycles/0001/traces.jsonl") == "{}\n")
        #expect(try snap.text("harness/instructions.md") == "Be careful.\n")
        #expect(try snap.cycles().first?.scores.passRate == 0.5)
        // The recorded harness tree id is the tree at harness/.
        #expect(try snap.treeID(of: "harness")?.hex == started.harnessTree)
    }

    @Test("a closed cycle's folder is never rewritten, and nothing is committed")
    func closedCycleGuard() throws {
        let history = try makeHistory()
        _ = try history.startCycle(harness: harnessV1)
        _ = try history.closeCycle()
        let tipBefore = try history.tip()
        #expect(throws: HistoryError.cycleClosed(1, path: "cycles/0001/feedback.jsonl")) {
            try history.commitStage(.feedback, cycle: 1) { _ in
                TreeChanges(writes: ["cycles/0001/feedback.jsonl": Data()])
            }
        }
        #expect(throws: HistoryError.noOpenCycle) {
            try history.commitToOpenCycle(.feedback, files: ["feedback.jsonl": Data()])
        }
        #expect(throws: HistoryError.noOpenCycle) { try history.closeCycle() }
        #expect(try history.tip() == tipBefore)
    }

    @Test("only one cycle is open at a time; numbers increase")
    func oneOpenCycle() throws {
        let history = try makeHistory()
        _ = try history.startCycle(harness: harnessV1)
        #expect(throws: HistoryError.cycleAlreadyOpen(1)) { try history.startCycle(harness: nil) }
        _ = try history.closeCycle()
        let second = try history.startCycle(harness: nil)
        #expect(second.number == 2)
        // harness: nil keeps the harness; the tree id is carried over.
        #expect(second.harnessTree == (try history.cycle(1)).harnessTree)
    }

    @Test("the harness diff between cycles comes from libgit2 with line counts")
    func harnessDiff() throws {
        let history = try makeHistory()
        _ = try history.startCycle(harness: harnessV1)
        _ = try history.closeCycle()
        var v2 = harnessV1
        v2["instructions.md"] = Data("Be careful.\nPrefer structured exports over narratives.\n".utf8)
        v2["output.yaml"] = Data("artifacts: []\n".utf8)
        _ = try history.startCycle(harness: v2)
        _ = try history.closeCycle()
        let diff = try history.diff(from: "1", to: "2", path: "harness")
        #expect(diff.files.map(\.path) == ["harness/instructions.md", "harness/output.yaml"])
        #expect(diff.files.map(\.status) == [.modified, .added])
        #expect(diff.additions == 2)
        #expect(diff.deletions == 0)
        #expect(diff.patch.contains("+Prefer structured exports over narratives."))
    }

    @Test("an empty or missing history gives clear errors")
    func emptyHistory() throws {
        let missing = LoopHistory(repository: TestPaths.scratch("none").appendingPathComponent("nope"))
        #expect(!missing.exists)
        #expect(throws: HistoryError.self) { try missing.cycles() }
        let fresh = LoopHistory(repository: TestPaths.scratch("fresh").appendingPathComponent("r"))
        _ = try Repository.create(at: fresh.repository)
        #expect(throws: HistoryError.emptyHistory(ref: "refs/heads/main")) { try fresh.startCycle(harness: nil) }
    }
}

@Suite("loop.yaml")
struct LoopConfigTests {
    @Test("parses every field and defaults the rest")
    func parses() throws {
        let config = try LoopConfig.parse(
            """
            project: Lumora
            repository: history
            harness: harness
            models:
              agent: openai:gpt-4.1-mini
              judge: openai:gpt-4.1
            gate:
              min_pass_rate: 0.75
            redact:
              patterns:
                internal: "itk_[a-z]+"
            """, file: "loop.yaml")
        #expect(config.project == "Lumora")
        #expect(config.repository == "history")
        #expect(config.harness == ["harness"])
        #expect(config.models.agent == "openai:gpt-4.1-mini")
        #expect(config.models.judge == "openai:gpt-4.1")
        #expect(config.models.critic == nil)
        #expect(config.gate.minPassRate == 0.75)
        #expect(config.redact?.patterns["internal"] == "itk_[a-z]+")
    }

    @Test("bad input names the file, the line and the field")
    func badInput() throws {
        let text = "project: x\ngate:\n  min_pass_rate: lots\n"
        do {
            _ = try LoopConfig.parse(text, file: "loop.yaml")
            Issue.record("expected an error")
        } catch let error as ConfigError {
            #expect(error.file == "loop.yaml")
            #expect(error.line == 3)
            #expect(error.field == "gate.min_pass_rate")
            #expect(error.description.hasPrefix("loop.yaml:3: field gate.min_pass_rate"))
        }
        do {
            _ = try LoopConfig.parse("project: [unclosed\n", file: "loop.yaml")
            Issue.record("expected an error")
        } catch let error as ConfigError {
            #expect(error.line != nil)
            #expect(error.reason.contains("invalid YAML"))
        }
        #expect(throws: ConfigError.self) { try LoopConfig.parse("gate:\n  min_pass_rate: 3\n", file: "loop.yaml") }
    }
}

@Suite("loop.yaml: per-stage model endpoints")
struct StageEndpointTests {
    let yaml = """
        project: x
        models:
          agent: openai:local-model
          judge:
            model: openai:gpt-4.1
            base_url: http://127.0.0.1:9/v1
            api_key_env: JUDGE_KEY
            timeout: 7
            max_retries: 1
        """

    @Test("a stage given as a mapping gets its own base URL, key variable, timeout and retries")
    func endpoints() throws {
        let config = try LoopConfig.parse(yaml, file: "loop.yaml")
        #expect(config.models.judge == "openai:gpt-4.1")
        #expect(config.models.endpoints["judge"]?.baseURL == "http://127.0.0.1:9/v1")
        #expect(config.models.endpoints["agent"] == nil)
        let history = LoopHistory(repository: TestPaths.scratch("endpoints").appendingPathComponent("r"))
        let ctx = LoopContext(
            workspace: Workspace(folder: TestPaths.scratch("ws"), config: config, history: history),
            environment: ["OPENAI_BASE_URL": "http://127.0.0.1:8/v1", "JUDGE_KEY": "sk-judge-0123456789abcdef"])
        let judge = try #require(try ctx.model(for: .judge) as? OpenAICompatibleModel)
        #expect(judge.baseURL == "http://127.0.0.1:9/v1")
        #expect(judge.hasAPIKey)
        #expect(judge.timeout == 7)
        let agent = try #require(try ctx.model(for: .agent) as? OpenAICompatibleModel)
        #expect(agent.baseURL == "http://127.0.0.1:8/v1", "stages without a mapping use OPENAI_BASE_URL")
        // The round trip keeps the mapping.
        let again = try LoopConfig.parse(try config.yamlText(), file: "loop.yaml")
        #expect(again.models == config.models)
    }

    @Test("a missing key variable is a clear error naming the field")
    func missingKey() throws {
        let config = try LoopConfig.parse(yaml, file: "loop.yaml")
        let ctx = LoopContext(
            workspace: Workspace(folder: TestPaths.scratch("ws"), config: config, history: LoopHistory(repository: TestPaths.scratch("r"))),
            environment: [:])
        #expect(throws: ConfigError.self) { try ctx.model(for: .judge) }
        do { _ = try ctx.model(for: .judge) } catch let error as ConfigError {
            #expect(error.field == "models.judge.api_key_env")
            #expect(error.reason.contains("JUDGE_KEY"))
        }
    }
}
