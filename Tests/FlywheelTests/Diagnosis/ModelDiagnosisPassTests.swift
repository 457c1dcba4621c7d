import Foundation
import Testing

@testable import Flywheel
@testable import FlywheelSupport
@testable import FlywheelTraces
@testable import FlywheelModels

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

    /// The example's vocabulary: none of it may appear in a prompt the core builds for another agent.
    static let exampleVocabulary = ["nrr", "soc 2", "data room", "dataroom", "diligence", "investment memo", "lumora", "arr", "board deck", "analyst"]

    @Test func startsFromTheClustersAndMayMergeOrSplitThemWithVerifiedEvidence() throws {
        let corpus = PlantedCorpus(agent: PlantedCorpus.travel, modes: [.toolLimit("search_flights"), .toolNotFound("get_booking"), .refusal], seed: 11, wordings: [0, 1, 2, 3, 4])
        let out = corpus.generate()
        let store = try TraceStore(data: Data(out.spans.map { $0.jsonLine + "\n" }.joined().utf8))
        let deterministic = Diagnoser.diagnose(DiagnosisInput(spans: out.spans), cycle: 2)
        let limit = try #require(deterministic.failureModes.first { $0.id == "fm-tool-error-search-flights-limit" })
        let notFound = try #require(deterministic.failureModes.first { $0.id == "fm-tool-error-get-booking-not-found" })
        let refusal = try #require(deterministic.failureModes.first { $0.id == "fm-refusals" })
        func evidence(_ fm: FailureMode, _ i: Int) -> JSONValue {
            let e = fm.evidence[i]
            return ["trace_id": .string(e.traceID), "span_id": .string(e.spanID!), "quote": .string(String(e.quote!.prefix(30)))]
        }
        let outsider = try #require(out.traceIDs.first { !refusal.traceIDs.contains($0) })
        let outsiderSpan = try #require(out.spans.first { $0.traceID == outsider && $0.parentSpanID.isEmpty })
        let model = ScriptedModel([
            ScriptedModel.call("split_failure_mode", [
                "id": .string(limit.id), "reason": "outside",
                "parts": [
                    ["title": "a", "evidence": [evidence(limit, 0)]],
                    ["title": "b", "evidence": [["trace_id": .string(outsider), "span_id": .string(outsiderSpan.spanID), "quote": .string(outsiderSpan.name)]]],
                ],
            ]),
            ScriptedModel.call("merge_failure_modes", ["ids": [.string(limit.id), .string(notFound.id)], "title": "Booking tools reject the agent's arguments", "reason": "both are argument validation"]),
            ScriptedModel.call("merge_failure_modes", ["ids": [.string(limit.id), "fm-nope"], "title": "x", "reason": "y"]),
            ScriptedModel.call("split_failure_mode", [
                "id": .string(refusal.id), "reason": "two wordings",
                "parts": [["title": "Declines curtly", "evidence": [evidence(refusal, 0)]], ["title": "Declines without reason", "evidence": [evidence(refusal, 1)]]],
            ]),
            ScriptedModel.call("split_failure_mode", [
                "id": .string(refusal.id), "reason": "again",
                "parts": [["title": "a", "evidence": [evidence(refusal, 0)]], ["title": "b", "evidence": [evidence(refusal, 1)]]],
            ]),
            ScriptedModel.call("final_answer", ["answer": "Merged and split."]),
        ])
        let result = try ModelDiagnosisPass(model: model, maxTurns: 10).run(store: store, deterministic: deterministic)
        // The prompts start from the clusters, with numbers, templates and evidence, and name no domain.
        let request = try #require(model.requests.first)
        let system = try #require(request.messages.first?.content), user = try #require(request.messages.dropFirst().first?.content)
        #expect(user.contains("- \(limit.id): \(limit.title) — \(limit.traceIDs.count) trace(s)"))
        #expect(user.contains("template ×") && user.contains("evidence: trace \(limit.evidence[0].traceID), span \(limit.evidence[0].spanID!)"))
        for word in Self.exampleVocabulary {
            #expect(!ModelDiagnosisPass.systemPrompt.lowercased().contains(word), "\(word)")
            #expect(!system.lowercased().contains(word) && !user.lowercased().contains(" \(word) "), "\(word)")
        }
        #expect(request.tools.map(\.name).contains("merge_failure_modes") && request.tools.map(\.name).contains("split_failure_mode"))
        // Verified requests are kept; the rest are refused and listed.
        #expect(result.merges.map(\.ids) == [[limit.id, notFound.id]])
        #expect(result.splits.map(\.id) == [refusal.id] && result.splits[0].parts.count == 2)
        #expect(result.rejected.count == 3, "\(result.rejected)")
        #expect(result.rejected.contains { $0.contains("unknown cluster fm-nope") })
        #expect(result.rejected.contains { $0.contains("already merged or split") })
        #expect(result.rejected.contains { $0.contains("is not in \(limit.id)") })
        // Applied: one merged mode with both clusters' traces; the split's parts; recommendations follow the new ids.
        let merged = ModelDiagnosisPass.merge(deterministic, result, modelID: model.id)
        let mergedMode = try #require(merged.failureModes.first { $0.id == ModelDiagnosisPass.mergedID("Booking tools reject the agent's arguments") })
        #expect(Set(mergedMode.traceIDs) == Set(limit.traceIDs + notFound.traceIDs))
        #expect(mergedMode.impact?.traces == mergedMode.traceIDs.count)
        #expect(!merged.failureModes.contains { $0.id == limit.id || $0.id == notFound.id })
        let parts = merged.failureModes.filter { $0.id.hasPrefix(refusal.id + "--") }
        #expect(parts.map(\.traceIDs) == [[refusal.evidence[0].traceID], [refusal.evidence[1].traceID]])
        #expect(merged.failureModes.contains { $0.id == refusal.id && $0.traceIDs.count == refusal.traceIDs.count - 2 })
        let limitRec = try #require(merged.recommendations.first { $0.id == "rec-tool-error-search-flights-limit-tools" })
        #expect(limitRec.failureModeIDs == [mergedMode.id])
        let ids = Set(merged.failureModes.map(\.id))
        #expect(merged.recommendations.allSatisfy { $0.failureModeIDs.allSatisfy(ids.contains) })
    }
}
