import Foundation
import Testing

@testable import Flywheel

/// Plays back a list of assistant messages (the last one repeats) and records the requests.
final class ScriptedModel: ChatModel, @unchecked Sendable {
    let id = "openai:scripted-diagnoser"
    var label: String { id }
    var isSimulation: Bool { false }
    let script: [ChatMessage]
    private let lock = NSLock()
    private var _requests: [ChatRequest] = []
    var requests: [ChatRequest] { lock.withLock { _requests } }

    init(_ script: [ChatMessage]) { self.script = script }

    func complete(_ request: ChatRequest) throws -> ChatResponse {
        let n = lock.withLock { _requests.append(request); return _requests.count }
        let message = script[min(n - 1, script.count - 1)]
        return ChatResponse(message: message, finishReason: message.toolCalls.isEmpty ? "stop" : "tool_calls", usage: Usage(promptTokens: 1, completionTokens: 1), latencyMs: 1, model: id)
    }

    static func call(_ name: String, _ args: JSONValue, id: String = "c") -> ChatMessage {
        .assistant(nil, toolCalls: [ToolCall(id: id, name: name, arguments: args.canonicalText)])
    }
}

@Suite struct ModelDiagnosisPassTests {
    static let file = PlantedCorpusTests.folder.appendingPathComponent("loops.jsonl")

    @Test func keepsOnlyVerifiedReports() throws {
        let store = try TraceStore(files: [Self.file])
        let refusalTrace = try #require(try PlantedCorpusTests.trueIDs("loops.jsonl", "refusal").first)
        let span = try #require(try store.spans(traceID: refusalTrace).first { ($0.attributes["llm.output_messages"]?.stringValue ?? "").contains("sorry") })
        func report(_ title: String, trace: String, span: String, quote: String) -> ChatMessage {
            ScriptedModel.call("report_failure_mode", [
                "title": .string(title), "category": "tone", "kind": "missing requirement",
                "evidence": [["trace_id": .string(trace), "span_id": .string(span), "quote": .string(quote)]],
                "recommendation": ["title": "Answer, do not apologise", "area": "prompt", "change": "Tell the agent to answer."],
            ])
        }
        let model = ScriptedModel([
            ScriptedModel.call("get_dataset_overview", [:]),
            ScriptedModel.call("search_trace", ["trace_id": .string(refusalTrace), "pattern": "sorry"]),
            report("Agent apologises instead of answering", trace: refusalTrace, span: span.spanID, quote: "I'm sorry, but I can't help"),
            report("Invented quote", trace: refusalTrace, span: span.spanID, quote: "the CFO resigned yesterday"),
            report("Unknown trace", trace: "ffffffffffffffffffffffffffffffff", span: span.spanID, quote: "I'm sorry"),
            report("Agent apologises instead of answering", trace: refusalTrace, span: span.spanID, quote: "I'm sorry"),
            ScriptedModel.call("view_trace", ["trace_id": "nope"]),
            ScriptedModel.call("final_answer", ["answer": "One extra failure mode."]),
        ])
        let deterministic = Diagnoser.diagnose(spans: try store.allSpans(), cycle: 3)
        let pass = ModelDiagnosisPass(model: model, maxTurns: 20)
        let result = try pass.run(store: store, deterministic: deterministic)
        #expect(result.turns == 8 && result.toolCalls == 8)
        #expect(result.answer == "One extra failure mode.")
        #expect(result.failureModes.map(\.id) == ["fm-model-agent-apologises-instead-of-answering"])
        #expect(result.failureModes.first?.spanIDs == [span.spanID])
        #expect(result.rejected.count == 3)
        #expect(result.rejected.contains { $0.contains("quote not found") })
        #expect(result.rejected.contains { $0.contains("unknown trace") })
        #expect(result.rejected.contains { $0.contains("already reported") })
        // tool results reach the model: HALO's envelope, and HALO's error wording for a bad id
        let requests = model.requests
        #expect(requests[1].messages.last?.content?.hasPrefix("{\"result\":{\"total_traces\":") == true)
        #expect(requests[2].messages.last?.content?.contains("\"match_count\"") == true)
        #expect(requests[7].messages.last?.content?.hasPrefix("An error occurred while running the tool. Please try again. Error:") == true)
        #expect(requests[0].tools.map(\.name).contains("view_spans"))
        let merged = ModelDiagnosisPass.merge(deterministic, result, modelID: model.id)
        #expect(merged.generatedBy == "deterministic+model:openai:scripted-diagnoser")
        #expect(merged.failureModes.count == deterministic.failureModes.count + 1)
        #expect(merged.recommendations.last?.rank == deterministic.recommendations.count + 1)
        #expect(merged.recommendations.last?.id == "rec-model-agent-apologises-instead-of-answering-prompt")
    }

    @Test func stopsAtMaxTurnsAndCapsResponses() throws {
        let store = try TraceStore(files: [Self.file])
        let trace = try #require(store.traces.first?.traceID)
        let model = ScriptedModel([ScriptedModel.call("view_trace", ["trace_id": .string(trace)])])
        let result = try ModelDiagnosisPass(model: model, maxTurns: 3, maxToolResultChars: 500).run(store: store, deterministic: Diagnosis(cycle: 1, failureModes: [], recommendations: []))
        #expect(result.turns == 3)
        #expect(model.requests.count == 3)
        #expect(result.rejected.last?.contains("max turns") == true)
        let toolMessage = try #require(model.requests[1].messages.last?.content)
        #expect(toolMessage.contains("[truncated:"))
        #expect(toolMessage.count < 700)
    }
}
