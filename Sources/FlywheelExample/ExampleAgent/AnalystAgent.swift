import Flywheel
import FlywheelTraces
import Foundation
import FlywheelModels

/// The result of one agent run.
public struct AgentRunResult: Sendable {
    /// The run's trace id.
    public var traceID: String
    /// The question.
    public var question: String
    /// The final answer (nil when the run ended without one).
    public var finalAnswer: String?
    /// Why the run stopped, and its outcome.
    public var outcome: AgentOutcome
    /// Artifacts present in the output folder at the end: relative path → bytes (sorted by path when iterated
    /// through `artifactPaths`).
    public var artifacts: [String: Data]
    /// Model calls made.
    public var turns: Int
    /// Tool calls that failed (each was fed back to the model).
    public var toolErrors: [ToolCallRecord]
    /// Every tool call, in order.
    public var toolCalls: [ToolCallRecord]
    /// The recorded events (the same the tracer received).
    public var events: [AgentTraceEvent]
    /// Problems `validate_artifacts` finds at the end of the run (whether or not the tool was offered).
    public var artifactProblems: [ArtifactProblem]
    /// Total token usage.
    public var usage: Usage

    /// Artifact paths, sorted.
    public var artifactPaths: [String] { artifacts.keys.sorted() }
}

/// One tool call and what came of it.
public struct ToolCallRecord: Sendable, Hashable {
    /// The call as the model made it.
    public var call: ToolCall
    /// What the model received.
    public var output: String
    /// The failure, when the tool failed.
    public var error: ToolError?
}

/// The analyst agent: a tool-calling loop over the data room, driven by a harness.
///
/// Each turn sends the conversation to the model; each requested tool call is executed and its output (or a
/// non-fatal tool error message, HALO's convention) is appended as a `tool` message; the run ends when the model
/// answers without tool calls, or after `max_turns` model calls (recorded as `max_turns`).
public struct AnalystAgent {
    /// The agent's name in traces (`agent.DiligenceAnalyst`).
    public var name: String
    /// Instructions, tools, artifacts and model settings.
    public var harness: Harness
    /// The data room folder (read-only to the agent).
    public var dataRoom: URL
    /// The chat model that plays the analyst.
    public var model: any ChatModel
    /// Seed passed to the model with each request (`ChatRequest.seed`).
    public var seed: UInt64?

    /// - Parameters:
    ///   - name: the agent's name in traces.
    ///   - harness: instructions, tools, artifacts, model settings.
    ///   - dataRoom: the data room folder.
    ///   - model: the chat model.
    ///   - seed: passed to the model with each request.
    public init(name: String = "DiligenceAnalyst", harness: Harness, dataRoom: URL, model: any ChatModel, seed: UInt64? = nil) {
        self.name = name
        self.harness = harness
        self.dataRoom = dataRoom
        self.model = model
        self.seed = seed
    }

    /// Runs the agent on one question.
    /// - Parameters:
    ///   - question: the task.
    ///   - traceID: the run's trace id (32 lowercase hex); see `AnalystAgent.traceID(seed:index:)`.
    ///   - outputDirectory: where the artifacts go (`outputs/<trace_id>/`), created if missing.
    ///   - tracer: receives the run's steps (optional; the result carries them too).
    ///   - clock: time source (inject `SteppingAgentClock` for deterministic traces).
    /// - Returns: the run's result. Model errors end the run (recorded, not thrown).
    public func run(
        question: String, traceID: String, outputDirectory: URL, tracer: (any AgentTracer)? = nil,
        clock: any AgentClock = SystemAgentClock()
    ) -> AgentRunResult {
        let memory = InMemoryAgentTracer()
        let trace: any AgentTracer = tracer.map { FanOutAgentTracer([memory, $0]) } ?? memory
        let toolbox = AgentToolbox(dataRoom: dataRoom, outputDirectory: outputDirectory, artifacts: harness.artifacts)
        try? FileManager.default.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
        let tools = harness.toolDefinitions
        let offered = Set(tools.map(\.name))
        trace.agentStarted(
            AgentRunInfo(
                agentName: name, traceID: traceID, question: question, modelID: model.id, modelLabel: model.label,
                isSimulation: model.isSimulation, tools: tools.map(\.name), seed: seed),
            at: clock.now())

        var messages: [ChatMessage] = [.system(harness.instructions), .user(question)]
        var turns = 0
        var finalAnswer: String?
        var stop: AgentOutcome.StopReason = .maxTurns
        var modelError: String?
        var records: [ToolCallRecord] = []
        var usage = Usage(promptTokens: 0, completionTokens: 0)

        while turns < harness.maxTurns {
            turns += 1
            let request = ChatRequest(
                model: Self.providerModelName(harness.modelName), messages: messages, tools: tools, toolChoice: tools.isEmpty ? nil : .auto,
                temperature: harness.temperature, seed: seed.map { Int(truncatingIfNeeded: $0) })
            let start = clock.now()
            let response: ChatResponse
            do {
                response = try model.complete(request)
            } catch {
                let end = clock.now()
                trace.llmCall(request: request, response: nil, error: "\(error)", start: start, end: end)
                stop = .modelError
                modelError = "\(error)"
                break
            }
            trace.llmCall(request: request, response: response, error: nil, start: start, end: clock.now())
            usage.promptTokens += response.usage.promptTokens
            usage.completionTokens += response.usage.completionTokens
            var assistant = response.message
            assistant.role = .assistant
            messages.append(assistant)
            if assistant.toolCalls.isEmpty {
                finalAnswer = assistant.content ?? ""
                stop = .finalAnswer
                break
            }
            for call in assistant.toolCalls {
                let start = clock.now()
                var output: String
                var failure: ToolError?
                do throws(ToolError) {
                    guard offered.contains(call.name) else {
                        throw ToolError(type: "UnknownToolError", message: "tool '\(call.name)' is not available", isInvalidCall: true)
                    }
                    output = try toolbox.run(call.name, arguments: call.arguments)
                } catch {
                    failure = error
                    output = error.modelText
                }
                trace.toolCall(call, output: output, error: failure, start: start, end: clock.now())
                records.append(ToolCallRecord(call: call, output: output, error: failure))
                messages.append(.tool(callID: call.id, name: call.name, content: output))
            }
        }

        let problems = toolbox.validateArtifacts()
        let outcomeText = finalAnswer == nil ? "failed" : (problems.isEmpty ? "success" : "partial")
        let outcome = AgentOutcome(stopReason: stop, outcome: outcomeText, finalAnswer: finalAnswer, turns: turns, error: modelError)
        trace.agentFinished(outcome, at: clock.now())

        var artifacts: [String: Data] = [:]
        if let e = FileManager.default.enumerator(at: outputDirectory, includingPropertiesForKeys: [.isRegularFileKey]) {
            let root = outputDirectory.resolvingSymlinksInPath().path
            for case let url as URL in e where (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
                let full = url.resolvingSymlinksInPath().path
                guard full.hasPrefix(root + "/"), let data = FileManager.default.contents(atPath: full) else { continue }
                artifacts[String(full.dropFirst(root.count + 1))] = data
            }
        }
        return AgentRunResult(
            traceID: traceID, question: question, finalAnswer: finalAnswer, outcome: outcome, artifacts: artifacts,
            turns: turns, toolErrors: records.filter { $0.error != nil }, toolCalls: records, events: memory.events,
            artifactProblems: problems, usage: usage)
    }

    /// The provider-side model name of `model.yaml`'s `model` (`openai:gpt-4.1-mini` → `gpt-4.1-mini`), as
    /// `ChatRequest.model` expects it.
    public static func providerModelName(_ name: String) -> String {
        guard let colon = name.firstIndex(of: ":") else { return name }
        return String(name[name.index(after: colon)...])
    }

    /// A deterministic trace id (32 lowercase hex) for run `index` of a seeded batch.
    public static func traceID(seed: UInt64, index: Int) -> String {
        var g = SeededGenerator(seed: seed, salt: "trace-\(index)")
        return g.hex(32)
    }
}
