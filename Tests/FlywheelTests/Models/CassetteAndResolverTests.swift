import Foundation
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelSupport
@testable import FlywheelModels

@Suite("Cassette record/replay")
struct CassetteModelTests {
    static func requests() -> [ChatRequest] {
        [
            ChatRequest(model: "", messages: [.system("s"), .user("first question")], temperature: 0),
            ChatRequest(
                model: "", messages: [.user("second question\nwith a newline")], tools: [ChatServer.weatherTool],
                toolChoice: .function("get_weather"), responseFormat: .jsonObject, seed: 3),
        ]
    }

    @Test func recordThenReplayOfflineGivesIdenticalResponses() throws {
        let folder = TestPaths.scratch("cassette")
        let file = folder.appendingPathComponent("sub/run.jsonl")
        let server = try ScriptedHTTPServer(steps: [
            ChatServer.ok(ChatServer.completion(content: "answer one")),
            ChatServer.ok(ChatServer.completion(content: nil, toolCalls: [("c9", "get_weather", #"{"city":"Rome"}"#)])),
        ])
        let live = ChatServer.model(server)
        let recorder = try CassetteModel(wrapping: live, file: file, mode: .record)
        #expect(recorder.id == "openai:gpt-4o-mini")
        let recorded = try Self.requests().map { try recorder.complete($0) }
        #expect(recorded[0].message.content == "answer one")
        #expect(recorded[1].message.toolCalls.first?.name == "get_weather")
        #expect(recorder.count == 2)
        server.stop()

        let text = try String(contentsOf: file, encoding: .utf8)
        #expect(text.split(separator: "\n").count == 2)
        #expect(!text.contains(ChatServer.key), "the API key is never recorded")

        let player = try CassetteModel(wrapping: nil, file: file, mode: .replay)
        #expect(player.id == "openai:gpt-4o-mini", "id comes from the recording")
        #expect(player.label.contains("cassette replay"))
        let replayed = try Self.requests().map { try player.complete($0) }
        #expect(replayed == recorded, "identical, latency and cost included")

        // Replaying through a wrapped model never calls it (the server is gone).
        let wrappedPlayer = try CassetteModel(wrapping: live, file: file, mode: .replay)
        #expect(try wrappedPlayer.complete(Self.requests()[1]) == recorded[1])
    }

    @Test func missNamesTheRequest() throws {
        let file = TestPaths.scratch("cassette-miss").appendingPathComponent("empty.jsonl")
        let player = try CassetteModel(wrapping: nil, file: file, mode: .replay)
        let request = ChatRequest(model: "gpt-4.1", messages: [.user("What is the capital of Peru? " + String(repeating: "x", count: 200))])
        let error = try #require(throws: ModelError.self) { try player.complete(request) }
        #expect(error.kind == .cassetteMiss)
        #expect(error.message.contains(CassetteModel.requestHash(request)))
        #expect(error.message.contains("gpt-4.1"))
        #expect(error.message.contains("What is the capital of Peru?"))
        #expect(error.message.contains(file.path))
        #expect(error.message.count < 600, "the excerpt is short")
    }

    @Test func replayOrRecordRecordsOnlyMisses() throws {
        let file = TestPaths.scratch("cassette-auto").appendingPathComponent("c.jsonl")
        let server = try ScriptedHTTPServer(steps: [], default: ChatServer.ok(ChatServer.completion(content: "live")))
        defer { server.stop() }
        let cassette = try CassetteModel(wrapping: ChatServer.model(server), file: file, mode: .replayOrRecord)
        let r = Self.requests()[0]
        let a = try cassette.complete(r)
        let b = try cassette.complete(r)
        #expect(a == b)
        #expect(server.requests().count == 1)
    }

    @Test func hashIsStableAndSensitive() throws {
        let r = Self.requests()[1]
        let hash = CassetteModel.requestHash(r)
        #expect(hash.count == 64)
        #expect(CassetteModel.requestHash(r) == hash)
        var changed = r
        changed.seed = 4
        #expect(CassetteModel.requestHash(changed) != hash)
        // Canonical: keys sorted, compact.
        let canonical = CassetteModel.canonicalJSON(r)
        #expect(canonical.hasPrefix(#"{"maxTokens"#) == false)
        #expect(try JSONValue.parse(canonical).canonicalText == canonical)
    }

    @Test func committedCassetteStillReplays() throws {
        // A cassette recorded by this code and kept under Fixtures: catches accidental changes to the
        // request encoding (which would change every hash) or to the file format.
        let file = try #require(Bundle.module.url(forResource: "Fixtures/Models/sample-cassette", withExtension: "jsonl"))
        let player = try CassetteModel(wrapping: nil, file: file, mode: .replay)
        let replayed = try Self.requests().map { try player.complete($0) }
        #expect(replayed[0].message.content == "answer one")
        #expect(replayed[1].message.toolCalls == [ToolCall(id: "c9", name: "get_weather", arguments: #"{"city":"Rome"}"#)])
    }

    @Test func malformedCassetteNamesFileAndLine() throws {
        let file = TestPaths.scratch("cassette-bad").appendingPathComponent("bad.jsonl")
        try Data("\n{\"hash\":\"x\"}\n".utf8).write(to: file)
        let error = try #require(throws: ModelError.self) { try CassetteModel(wrapping: nil, file: file, mode: .replay) }
        #expect(error.kind == .configuration)
        #expect(error.message.contains("bad.jsonl line 2"))
        #expect(error.message.contains("missing field"))
    }

    @Test func recordingNeedsAModel() throws {
        let file = TestPaths.scratch("cassette-none").appendingPathComponent("x.jsonl")
        let error = try #require(throws: ModelError.self) { try CassetteModel(wrapping: nil, file: file, mode: .record) }
        #expect(error.kind == .configuration)
    }

    @Test func replayedSimulationStaysLabelledAsOne() throws {
        let file = TestPaths.scratch("cassette-sim").appendingPathComponent("s.jsonl")
        let recorder = try CassetteModel(wrapping: ModelResolverTests.Fake(), file: file, mode: .record)
        let live = try recorder.complete(Self.requests()[0])
        let player = try CassetteModel(wrapping: nil, file: file, mode: .replay)
        #expect(player.isSimulation)
        #expect(player.id == "offline-example")
        #expect(player.label.hasPrefix("offline example (simulation)"))
        #expect(try player.complete(Self.requests()[0]) == live)
    }

    @Test func concurrentRecordingKeepsEveryLine() async throws {
        let file = TestPaths.scratch("cassette-conc").appendingPathComponent("c.jsonl")
        let recorder = try CassetteModel(wrapping: ModelResolverTests.Fake(), file: file, mode: .record)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<24 {
                group.addTask { _ = try recorder.complete(ChatRequest(model: "", messages: [.user("q\(i)")])) }
            }
            try await group.waitForAll()
        }
        let player = try CassetteModel(wrapping: nil, file: file, mode: .replay)
        #expect(player.count == 24)
        #expect(try String(contentsOf: file, encoding: .utf8).split(separator: "\n").count == 24)
    }

    @Test func wrappedErrorsAreNotRecorded() throws {
        let file = TestPaths.scratch("cassette-err").appendingPathComponent("e.jsonl")
        let server = try ScriptedHTTPServer(steps: [], default: ChatServer.error(400, "bad request"))
        defer { server.stop() }
        let cassette = try CassetteModel(wrapping: ChatServer.model(server), file: file, mode: .record)
        #expect(throws: ModelError.self) { try cassette.complete(Self.requests()[0]) }
        #expect(cassette.count == 0)
        #expect(!FileManager.default.fileExists(atPath: file.path))
    }
}

@Suite("Model names and hashing")
struct ModelResolverTests {
    struct Fake: ChatModel {
        var id = "offline-example"
        var label = "offline example (simulation)"
        var isSimulation = true
        func complete(_ request: ChatRequest) throws -> ChatResponse {
            ChatResponse(message: .assistant("simulated"), finishReason: "stop", usage: Usage(promptTokens: 0, completionTokens: 0), latencyMs: 0, model: id)
        }
    }

    @Test func openAINamesMakeOpenAIModels() throws {
        let resolver = ModelResolver(environment: ["OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "k"], timeout: 7, maxRetries: 1)
        let model = try #require(try resolver.resolve("openai:gpt-4.1-mini") as? OpenAICompatibleModel)
        #expect(model.model == "gpt-4.1-mini")
        #expect(model.baseURL == "http://127.0.0.1:9/v1")
        #expect(model.timeout == 7)
        #expect(model.retry.maxRetries == 1)
        #expect(model.hasAPIKey)
        #expect(model.id == "openai:gpt-4.1-mini")
    }

    @Test func aProgramsOwnModelIsUnknownUntilRegistered() throws {
        var resolver = ModelResolver(environment: [:])
        let error = try #require(throws: ModelError.self) { try resolver.resolve("offline-example") }
        #expect(error.kind == .configuration)
        resolver.register("offline-example") { _ in Fake() }
        let model = try resolver.resolve("offline-example")
        #expect(model.isSimulation)
        #expect(try model.complete(ChatRequest(model: "", messages: [])).message.content == "simulated")
    }

    @Test func prefixesAndUnknownNames() throws {
        var resolver = ModelResolver(environment: [:])
        resolver.register(prefix: "fake:") { name in Fake(id: name) }
        #expect(try resolver.resolve("fake:abc").id == "fake:abc")
        let unknown = try #require(throws: ModelError.self) { try resolver.resolve("gpt-4o") }
        #expect(unknown.message.contains("openai:gpt-4o"))
        #expect(unknown.message.contains("fake:"))
        #expect(throws: ModelError.self) { try resolver.resolve("openai:") }
        resolver.register(prefix: "boom:") { _ in throw CocoaError(.fileNoSuchFile) }
        let wrapped = try #require(throws: ModelError.self) { try resolver.resolve("boom:x") }
        #expect(wrapped.kind == .configuration)
    }

    @Test func resolveWithCassette() throws {
        let file = TestPaths.scratch("resolver-cassette").appendingPathComponent("c.jsonl")
        let resolver = ModelResolver(environment: [:])
        let model = try resolver.resolve("openai:gpt-4o", cassette: file, mode: .replay)
        #expect(model is CassetteModel)
        #expect(model.id == "openai:gpt-4o")
        #expect(try resolver.resolve("openai:gpt-4o", cassette: nil, mode: .replay) is OpenAICompatibleModel)
    }

    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        ),
    ])
    func sha256KnownVectors(input: String, expected: String) {
        #expect(SHA256.hex(input) == expected)
    }

    @Test func sha256MatchesSystemToolOnLongInput() throws {
        let text = String(repeating: "flywheel ✓ ", count: 1000)
        let folder = TestPaths.scratch("sha")
        let file = folder.appendingPathComponent("in.txt")
        try Data(text.utf8).write(to: file)
        let result = try runTool("sha256sum", [file.path])
        #expect(result.stdout.hasPrefix(SHA256.hex(text)))
    }
}
