import Flywheel
import FlywheelSupport
import Foundation
import FlywheelModels

/// The offline example model: a deterministic stand-in for a real model that plays the diligence analyst of
/// the embedded example. It issues real tool calls (`list_files`, `read_file`, `write_artifact`, …) through the
/// agent loop, reads the real data-room contents from the tool results, computes the figures from them and
/// writes real artifacts. Its judgement is simulated:
///
/// - failure modes 1–4 of `ExampleFailureMode` happen on the questions they concern unless the system prompt
///   carries a rule addressing them (matched on meaning with keyword groups, see `ExampleRules`);
/// - failure mode 5 (a skipped or malformed artifact, or a citation to a file or quote that does not exist)
///   happens with probability `artifactDefectProbability` per run, and is found and fixed when the
///   `validate_artifacts` / `check_citations` tools are offered;
/// - with probability `toolErrorProbability` it first reads a wrong path, gets a tool error back, and recovers.
///
/// Same seed, same question, same harness → the same calls, answers and artifacts.
public struct OfflineExampleModel: ChatModel {
    public let id = "offline-example"
    public let label = "flywheel-example-model (offline simulation)"
    public let isSimulation = true
    /// The run seed (a request's `seed`, when set, takes precedence).
    public var seed: UInt64
    /// Probability that a run leaves a broken artifact or citation (failure mode 5).
    public var artifactDefectProbability: Double
    /// Probability that a run reads a wrong path first (a non-fatal tool error in the trace).
    public var toolErrorProbability: Double

    /// - Parameters:
    ///   - seed: the run seed (a request's `seed` overrides it).
    ///   - artifactDefectProbability: chance of failure mode 5 per run (default 0.3).
    ///   - toolErrorProbability: chance of a wrong-path read per run (default 0.35).
    public init(seed: UInt64 = 1, artifactDefectProbability: Double = 0.3, toolErrorProbability: Double = 0.35) {
        self.seed = seed
        self.artifactDefectProbability = artifactDefectProbability
        self.toolErrorProbability = toolErrorProbability
    }

    /// Plays one turn of the analyst.
    /// - Throws: `ModelError(.configuration)` when the conversation has no user message.
    public func complete(_ request: ChatRequest) throws -> ChatResponse {
        guard let question = request.messages.first(where: { $0.role == .user })?.content else {
            throw ModelError(.configuration, "the offline example model needs a user message with the question")
        }
        let system = request.messages.filter { $0.role == .system }.compactMap(\.content).joined(separator: "\n")
        let runSeed = request.seed.map { UInt64(bitPattern: Int64($0)) } ?? seed
        let plan = OfflineRunPlan(
            question: question, systemPrompt: system, offered: Set(request.tools.map(\.name)), seed: runSeed,
            defectProbability: artifactDefectProbability, toolErrorProbability: toolErrorProbability)
        let history = OfflineHistory(messages: request.messages)
        let turn = request.messages.filter { $0.role == .assistant }.count + 1
        let message = plan.nextMessage(history: history, turn: turn)

        let promptChars = request.messages.reduce(0) { $0 + ($1.content?.count ?? 0) + $1.toolCalls.reduce(0) { $0 + $1.arguments.count } }
            + request.tools.reduce(0) { $0 + $1.description.count + $1.parameters.canonicalText.count }
        let completionChars = (message.content?.count ?? 0) + message.toolCalls.reduce(0) { $0 + $1.name.count + $1.arguments.count }
        let usage = Usage(promptTokens: max(1, promptChars / 4), completionTokens: max(1, completionChars / 4))
        return ChatResponse(
            message: message, finishReason: message.toolCalls.isEmpty ? "stop" : "tool_calls", usage: usage,
            latencyMs: Double(250 + usage.completionTokens * 12 + usage.promptTokens / 40), costUSD: 0, model: id)
    }
}

/// Detects which of the example's rules a system prompt contains, by keyword groups (a crude stand-in for a
/// model understanding the instruction).
public enum ExampleRules {
    /// The failure modes (1–4) whose rule appears in `instructions`.
    public static func addressed(in instructions: String) -> Set<ExampleFailureMode> {
        let t = instructions.lowercased()
        func any(_ words: [String]) -> Bool { words.contains { t.contains($0) } }
        var out: Set<ExampleFailureMode> = []
        if any(["structured export", "structured data", "exports over", "export over"])
            && any(["narrative", "prefer", "precedence", "over management", "take priority", "wins over", "win over"])
        {
            out.insert(.narrativeOverExport)
        }
        if any(["nrr", "net revenue retention"]) && any(["validated", "unvalidated", "estimate", "reconciled"]) {
            out.insert(.unvalidatedNRR)
        }
        if any(["parent account", "roll up", "roll-up", "rollup", "ultimate parent", "parent-level", "parent level"]) {
            out.insert(.legalEntityConcentration)
        }
        if any(["soc 2", "soc2"]) && any(["type i", "type 1", "type 2"]) {
            out.insert(.soc2Overstated)
        }
        return out
    }

    /// The topic of a question (`arr`, `nrr`, `concentration`, `security`, `memo`, `pipeline`, `legal`,
    /// `growth`, `open_questions`, `team`, `conflicts`).
    public static func topic(of question: String) -> String {
        if let q = ExampleScaffold.questions.first(where: { $0.question == question }) { return q.topic }
        let t = question.lowercased()
        let table: [(String, [String])] = [
            ("conflicts", ["conflict", "agree with", "disagree"]),
            ("memo", ["memo", "top five risks", "investment case"]),
            ("nrr", ["retention", "nrr"]),
            ("concentration", ["concentrat", "helix", "largest customer"]),
            ("security", ["security", "soc 2", "certification"]),
            ("pipeline", ["pipeline", "coverage", "bookings"]),
            ("legal", ["legal", "dispute", "change-of-control", "change of control", "contract", "litigation"]),
            ("growth", ["growth", "grown", "churn", "contraction"]),
            ("open_questions", ["unanswered", "open question", "diligence question"]),
            ("team", ["leadership", "team", "headcount", "key-person", "cfo"]),
            ("arr", ["arr", "revenue", "recogni"]),
        ]
        for (topic, words) in table where words.contains(where: { t.contains($0) }) { return topic }
        return "memo"
    }

    /// The failure modes a topic can show.
    public static func modes(for topic: String) -> [ExampleFailureMode] {
        switch topic {
        case "arr": return [.narrativeOverExport]
        case "pipeline": return [.narrativeOverExport]
        case "nrr", "growth": return [.unvalidatedNRR]
        case "concentration": return [.legalEntityConcentration]
        case "security": return [.soc2Overstated]
        case "memo", "conflicts": return [.narrativeOverExport, .unvalidatedNRR, .legalEntityConcentration, .soc2Overstated]
        default: return []
        }
    }
}

// MARK: - The conversation so far

/// What the model can see of the run so far.
struct OfflineHistory {
    struct Call {
        var call: ToolCall
        var result: String?
        var failed: Bool { result?.hasPrefix("An error occurred while running the tool") ?? true }
    }
    var calls: [Call] = []
    /// Index in `calls` of each assistant turn's first call.
    var turns: [[Call]] = []

    init(messages: [ChatMessage]) {
        var results: [String: String] = [:]
        for m in messages where m.role == .tool { if let id = m.toolCallID { results[id] = m.content ?? "" } }
        for m in messages where m.role == .assistant {
            let turnCalls = m.toolCalls.map { Call(call: $0, result: results[$0.id]) }
            turns.append(turnCalls)
            calls += turnCalls
        }
    }

    func calls(named name: String) -> [Call] { calls.filter { $0.call.name == name } }

    /// Contents of files read successfully: path → text.
    var readContents: [String: String] {
        var out: [String: String] = [:]
        for c in calls(named: "read_file") where !c.failed {
            if let p = Self.argument(c.call, "path"), let r = c.result { out[p] = r }
        }
        return out
    }

    /// Kinds from the `list_files` result.
    var kinds: [String: String] {
        var out: [String: String] = [:]
        for c in calls(named: "list_files") where !c.failed {
            for line in (c.result ?? "").split(separator: "\n") {
                let parts = line.split(separator: "\t")
                if parts.count >= 2 { out[String(parts[0])] = String(parts[1]) }
            }
        }
        return out
    }

    var listedFiles: Set<String> { Set(kinds.keys) }

    static func argument(_ call: ToolCall, _ key: String) -> String? {
        (try? JSONValue.parse(call.arguments))?[key]?.stringValue
    }
}

// MARK: - The plan of one run

/// Everything about a run that is decided up front from the seed, the question and the harness.
struct OfflineRunPlan {
    enum Defect: Equatable {
        case skip(String)
        case malformedRiskRegister
        case badCSVHeader
        case missingCitedFile
        case inventedQuote
    }

    let question: String
    let topic: String
    let offered: Set<String>
    /// Failure modes 1–4 active in this run.
    let active: Set<ExampleFailureMode>
    let wrongPath: (bad: String, meant: String)?
    let defect: Defect?

    init(
        question: String, systemPrompt: String, offered: Set<String>, seed: UInt64, defectProbability: Double,
        toolErrorProbability: Double
    ) {
        self.question = question
        self.offered = offered
        topic = ExampleRules.topic(of: question)
        let addressed = ExampleRules.addressed(in: systemPrompt)
        active = Set(ExampleRules.modes(for: topic)).subtracting(addressed)
        var rng = SeededGenerator(seed: seed, salt: "offline-example|" + question)
        let files = OfflineRunPlan.files(for: topic)
        if rng.unit() < toolErrorProbability {
            let meant = files[Int(rng.next() % UInt64(files.count))]
            wrongPath = (OfflineRunPlan.wrongPath(for: meant), meant)
        } else {
            wrongPath = nil
        }
        if rng.unit() < defectProbability {
            let choices: [Defect] = [
                .skip("open_questions.md"), .skip("evidence_table.csv"), .skip("citations.json"),
                .malformedRiskRegister, .badCSVHeader, .missingCitedFile, .inventedQuote,
            ]
            defect = choices[Int(rng.next() % UInt64(choices.count))]
        } else {
            defect = nil
        }
    }

    static func files(for topic: String) -> [String] {
        let qa = "notes/qa_log.md"
        switch topic {
        case "arr": return ["financials/arr_by_month.csv", "financials/revenue_recognition_notes.md", "board_deck.md", "overview.md", qa]
        case "nrr": return ["customers/cohort_retention.csv", "product_strategy.md", "financials/revenue_recognition_notes.md", "board_deck.md", qa]
        case "concentration": return ["customers/customers.csv", "board_deck.md", "legal/contracts_summary.md", qa]
        case "security": return ["security/security_overview.md", "sales/security_faq.md", "board_deck.md", qa]
        case "pipeline": return ["sales/pipeline.csv", "sales/pipeline_notes.md", "go_to_market.md", "board_deck.md", qa]
        case "legal": return ["legal/contracts_summary.md", "legal/open_issues.md", "customers/customers.csv", qa]
        case "growth": return ["financials/arr_by_month.csv", "customers/cohort_retention.csv", "product_strategy.md", qa]
        case "open_questions": return [qa, "financials/revenue_recognition_notes.md", "legal/open_issues.md", "financials/arr_by_month.csv"]
        case "team": return ["hr/org_chart.md", qa]
        default:
            return [
                "financials/arr_by_month.csv", "financials/revenue_recognition_notes.md", "customers/customers.csv",
                "customers/cohort_retention.csv", "sales/pipeline.csv", "sales/pipeline_notes.md", "go_to_market.md",
                "board_deck.md", "product_strategy.md", "legal/contracts_summary.md", "legal/open_issues.md",
                "security/security_overview.md", "sales/security_faq.md", "hr/org_chart.md", qa,
            ]
        }
    }

    static func wrongPath(for path: String) -> String {
        switch path {
        case "financials/arr_by_month.csv": return "financials/arr_2026.csv"
        case "customers/customers.csv": return "customers/customer_list.csv"
        case "customers/cohort_retention.csv": return "customers/nrr.csv"
        case "security/security_overview.md": return "security/soc2_report.pdf"
        case "sales/pipeline.csv": return "sales/pipeline_q4.csv"
        case "legal/contracts_summary.md": return "legal/contracts.md"
        default: return "data_room/" + path
        }
    }

    // MARK: Choosing the next message

    func nextMessage(history: OfflineHistory, turn: Int) -> ChatMessage {
        var calls: [ToolCall] = []
        func call(_ name: String, _ args: JSONValue) {
            guard offered.contains(name) else { return }
            calls.append(ToolCall(id: "call_\(turn)_\(calls.count + 1)", name: name, arguments: args.canonicalText))
        }
        let needed = OfflineRunPlan.files(for: topic)
        let read = history.readContents
        let wrote = !history.calls(named: "write_artifact").isEmpty

        if history.calls(named: "list_files").isEmpty && offered.contains("list_files") {
            call("list_files", [:])
            if topic == "security" { call("search_files", ["query": "SOC 2"]) }
            return .assistant(nil, toolCalls: calls)
        }
        if !wrote && offered.contains("read_file") {
            let readTurns = history.turns.filter { $0.contains { $0.call.name == "read_file" } }.count
            let missing = needed.filter { read[$0] == nil }
            if readTurns == 0 {
                for path in needed {
                    if let w = wrongPath, w.meant == path { call("read_file", ["path": .string(w.bad)]) } else { call("read_file", ["path": .string(path)]) }
                }
                return .assistant(nil, toolCalls: calls)
            }
            if readTurns == 1 && !missing.isEmpty {
                // The error came back: find the file the listing really has, and read it.
                for path in missing { call("read_file", ["path": .string(path)]) }
                if !calls.isEmpty { return .assistant(nil, toolCalls: calls) }
            }
        }
        let analysis = OfflineAnalysis(read: read, kinds: history.kinds)
        let report = OfflineReport(analysis: analysis, topic: topic, active: active, question: question)
        if !wrote && offered.contains("write_artifact") {
            for (path, content) in report.artifacts(defect: defect) { call("write_artifact", ["path": .string(path), "content": .string(content)]) }
            return .assistant(nil, toolCalls: calls)
        }
        // Validation, when the harness offers it: check, fix what is reported, check again.
        let validators = ["validate_artifacts", "check_citations"].filter { offered.contains($0) }
        if wrote && !validators.isEmpty {
            let lastWrite = history.calls.lastIndex { $0.call.name == "write_artifact" } ?? -1
            let after = history.calls.enumerated().filter { $0.offset > lastWrite && validators.contains($0.element.call.name) }.map(\.element)
            let fixTurns = history.turns.filter { t in t.contains { $0.call.name == "write_artifact" } }.count - 1
            if after.isEmpty {
                for v in validators { call(v, [:]) }
                return .assistant(nil, toolCalls: calls)
            }
            let failures = after.filter { $0.result?.hasPrefix("FAILED") ?? false }
            if !failures.isEmpty && fixTurns < 1 {
                let text = failures.compactMap(\.result).joined(separator: "\n")
                let good = report.artifacts(defect: nil)
                for (path, content) in good where text.contains(path) || (path == "citations.json" && text.contains("citation ")) {
                    call("write_artifact", ["path": .string(path), "content": .string(content)])
                }
                if !calls.isEmpty { return .assistant(nil, toolCalls: calls) }
            }
        }
        return .assistant(report.finalAnswer)
    }
}
