import Foundation
import Testing
import TestSupport

/// `flywheel run` against a real OpenAI-compatible server on 127.0.0.1 (a scripted Python server), and the
/// record/replay cassette.
@Suite("Loop: run against a local OpenAI-compatible server")
struct RunModelServerTests {
    static let secret = "sk-test-SECRET0123456789abcdefXYZ"

    /// A chat-completions answer asking for one tool call.
    static func toolCall(_ id: String, _ name: String, _ arguments: [String: String]) -> ScriptedHTTPServer.Step {
        let args = String(decoding: try! JSONSerialization.data(withJSONObject: arguments, options: [.sortedKeys]), as: UTF8.self)
        let body: [String: Any] = [
            "id": "chatcmpl-\(id)", "object": "chat.completion", "created": 1_700_000_000, "model": "test-model",
            "choices": [[
                "index": 0, "finish_reason": "tool_calls",
                "message": ["role": "assistant", "content": NSNull(),
                            "tool_calls": [["id": "call_\(id)", "type": "function", "function": ["name": name, "arguments": args]]]],
            ]],
            "usage": ["prompt_tokens": 120, "completion_tokens": 12, "total_tokens": 132],
        ]
        return .json(200, String(decoding: try! JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]), as: UTF8.self))
    }

    /// A chat-completions final answer.
    static func answer(_ id: String, _ text: String) -> ScriptedHTTPServer.Step {
        let body: [String: Any] = [
            "id": "chatcmpl-\(id)", "object": "chat.completion", "created": 1_700_000_000, "model": "test-model",
            "choices": [["index": 0, "finish_reason": "stop", "message": ["role": "assistant", "content": text]]],
            "usage": ["prompt_tokens": 300, "completion_tokens": 40, "total_tokens": 340],
        ]
        return .json(200, String(decoding: try! JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]), as: UTF8.self))
    }

    /// Per task: list the data room, write one artifact, answer. `leak` makes the model echo the API key.
    static func script(tasks: Int, leak: Bool) -> [ScriptedHTTPServer.Step] {
        var steps: [ScriptedHTTPServer.Step] = []
        for t in 1...tasks {
            steps.append(toolCall("t\(t)a", "list_files", [:]))
            steps.append(toolCall("t\(t)b", "write_artifact", [
                "path": "summary_answer.md",
                "content": "Task \(t) summary from the test model.\(leak ? " Debug: OPENAI_API_KEY=\(secret)" : "")\n",
            ]))
            steps.append(answer("t\(t)c", "FINAL-ANSWER-\(t): Lumora's figure per the data room.\(leak ? " (key \(secret))" : "")"))
        }
        return steps
    }

    @Test("cycle start + run --model openai:test-model: retries a 429, commits traces with the answer, leaks no key")
    func runAgainstServer() throws {
        let folder = try LoopTest.example("run-server")
        let rateLimited = ScriptedHTTPServer.Step.json(
            429, #"{"error":{"message":"slow down","type":"rate_limit_exceeded"}}"#, headers: ["Retry-After": "1"])
        let server = try ScriptedHTTPServer(steps: [rateLimited] + Self.script(tasks: 2, leak: true), default: Self.answer("extra", "extra"))
        defer { server.stop() }
        let env = ["OPENAI_BASE_URL": server.baseURL + "/v1", "OPENAI_API_KEY": Self.secret]

        var r = try flywheel(["cycle", "start"], in: folder, env: env)
        try #require(r.status == 0, "\(r.stderr)")
        let started = Date()
        r = try flywheel(["run", "--model", "openai:test-model", "--tasks", "2"], in: folder, env: env)
        let seconds = Date().timeIntervalSince(started)
        try #require(r.status == 0, "run failed: \(r.stderr)\n\(r.stdout)")
        #expect(!(r.stdout + r.stderr).contains(Self.secret), "the key reached the terminal")
        #expect(!(r.stdout + r.stderr).contains("SECRET0123"), "part of the key reached the terminal")
        #expect(seconds >= 1, "Retry-After: 1 was not honoured (\(seconds) s)")

        // The server saw the retry (same body twice), then one request per turn; the model sent is the one asked for.
        let requests = server.requests()
        #expect(requests.count == 7, "requests: \(requests.count)")
        if requests.count >= 2 {
            #expect(requests[0].body == requests[1].body, "the retry re-sent the same request")
            #expect(requests.allSatisfy { $0.path == "/v1/chat/completions" && $0.method == "POST" })
            #expect(requests[0].headers["authorization"] == "Bearer \(Self.secret)")
        }
        for req in requests {
            let body = try #require(try json(req.body) as? [String: Any])
            #expect(body["model"] as? String == "test-model", "the request named model \(body["model"] ?? "nil")")
        }

        // The commit: stage traces, traces.jsonl with the model's answer, outputs per trace.
        r = try flywheel(["log", "--json", "--limit", "1"], in: folder)
        let top = try #require((try json(r.stdout) as? [[String: Any]])?.first)
        #expect(top["stage"] as? String == "traces")
        #expect(top["cycle"] as? Int == 1)
        let traces = try #require(try LoopTest.show(folder, "refs/heads/main", "cycles/0001/traces.jsonl"))
        #expect(traces.contains("FINAL-ANSWER-1"))
        #expect(traces.contains("FINAL-ANSWER-2"))
        #expect(traces.contains("test-model"))
        #expect(!traces.contains("offline simulation"), "a real model is not labelled a simulation")
        let cycle = try LoopTest.object(try LoopTest.show(folder, "refs/heads/main", "cycles/0001/cycle.json"))
        #expect(((cycle["models"] as? [String: Any])?["agent"] as? String)?.contains("test-model") == true)
        #expect(((cycle["scores"] as? [String: Any])?["traces"] as? Int) == 2)
        #expect((cycle["scores"] as? [String: Any])?["cost_usd"] == nil, "an unpriced model has no cost, not a cost of 0")
        let files = try LoopTest.git(folder.appendingPathComponent("loop-history"), ["ls-tree", "-r", "--name-only", "refs/heads/main", "cycles/0001/outputs"])
            .stdout.split(separator: "\n").map(String.init)
        #expect(files.filter { $0.hasSuffix("/summary_answer.md") }.count == 2)
        #expect(files.filter { $0.hasSuffix("/final_answer.md") }.count == 2)

        // The key is in no object of the repository (git reads every object), redacted where the model echoed it.
        let all = try LoopTest.git(folder.appendingPathComponent("loop-history"), ["cat-file", "--batch-all-objects", "--batch"])
        #expect(all.status == 0)
        #expect(all.stdout.count > 10_000)
        #expect(!all.stdout.contains(Self.secret), "the API key is in a git object")
        #expect(!all.stdout.contains("SECRET0123456789"), "part of the API key is in a git object")
        #expect(all.stdout.contains("REDACTED") || all.stdout.contains("redacted"), "the echoed key was not visibly redacted")
    }

    @Test("cassette: record with the server, replay offline byte-identically; a replay miss commits nothing")
    func cassetteRecordReplay() throws {
        let scratch = TestPaths.scratch("cassette")
        let cassette = scratch.appendingPathComponent("model.cassette.jsonl")
        let epoch = ["SOURCE_DATE_EPOCH": "1700000000"]
        let runArgs = ["run", "--model", "openai:test-model", "--tasks", "2", "--seed", "42", "--cassette", cassette.path]

        // Record.
        let recorded = try LoopTest.example("cassette-rec")
        let server = try ScriptedHTTPServer(steps: Self.script(tasks: 2, leak: false), default: Self.answer("extra", "extra"))
        var env = epoch.merging(["OPENAI_BASE_URL": server.baseURL + "/v1", "OPENAI_API_KEY": Self.secret]) { $1 }
        var r = try flywheel(["cycle", "start"], in: recorded, env: env)
        try #require(r.status == 0, "\(r.stderr)")
        r = try flywheel(runArgs + ["--cassette-mode", "record"], in: recorded, env: env)
        try #require(r.status == 0, "record run failed: \(r.stderr)")
        #expect(server.requests().count == 6)
        server.stop()
        let cassetteText = try String(contentsOf: cassette, encoding: .utf8)
        #expect(cassetteText.split(separator: "\n").count == 6)
        #expect(!cassetteText.contains(Self.secret), "the cassette holds the API key")
        let recordedTraces = try #require(try LoopTest.show(recorded, "refs/heads/main", "cycles/0001/traces.jsonl"))

        // Replay in a fresh example, the server gone: the same traces, byte for byte.
        let replayed = try LoopTest.example("cassette-play")
        env["OPENAI_BASE_URL"] = server.baseURL + "/v1"  // nobody listens there now
        r = try flywheel(["cycle", "start"], in: replayed, env: env)
        try #require(r.status == 0, "\(r.stderr)")
        r = try flywheel(runArgs + ["--cassette-mode", "replay"], in: replayed, env: env)
        try #require(r.status == 0, "replay run failed: \(r.stderr)")
        let replayedTraces = try #require(try LoopTest.show(replayed, "refs/heads/main", "cycles/0001/traces.jsonl"))
        #expect(replayedTraces == recordedTraces, "replayed traces differ from the recorded run's")
        if replayedTraces != recordedTraces {
            let a = recordedTraces.split(separator: "\n"), b = replayedTraces.split(separator: "\n")
            if let i = zip(a, b).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
                print("first differing line \(i + 1):\n< \(a[i].prefix(600))\n> \(b[i].prefix(600))")
            }
        }
        for name in ["summary_answer.md", "final_answer.md"] {
            let a = try LoopTest.git(recorded.appendingPathComponent("loop-history"), ["ls-tree", "-r", "refs/heads/main", "cycles/0001/outputs"]).stdout
            let b = try LoopTest.git(replayed.appendingPathComponent("loop-history"), ["ls-tree", "-r", "refs/heads/main", "cycles/0001/outputs"]).stdout
            #expect(a == b, "outputs differ (\(name))")
        }

        // Replay misses: a third question was never recorded; another model's requests were never recorded.
        for (label, extra) in [("more tasks", ["--tasks", "3"]), ("another model", ["--model", "openai:other-model"])] {
            let missed = try LoopTest.example("cassette-miss")
            r = try flywheel(["cycle", "start"], in: missed, env: env)
            try #require(r.status == 0, "\(r.stderr)")
            let before = try LoopTest.head(missed)
            r = try flywheel(runArgs + ["--cassette-mode", "replay"] + extra, in: missed, env: env)
            #expect(r.status == 1, "\(label): a replay miss must fail (exit \(r.status)): \(r.stdout)")
            #expect(r.stderr.contains("no recording"), "\(label): unclear error: \(r.stderr)")
            #expect(r.stderr.contains(cassette.lastPathComponent), "\(label): the error should name the cassette: \(r.stderr)")
            #expect(try LoopTest.head(missed) == before, "\(label): a failed replay committed something")
        }
    }

    @Test("a cassette of the offline model replays offline and stays labelled a simulation everywhere")
    func offlineCassetteStaysSimulation() throws {
        let cassette = TestPaths.scratch("offline-cassette").appendingPathComponent("offline.jsonl")
        let env = ["SOURCE_DATE_EPOCH": "1700000000"]
        var traces: [String] = []
        for (label, mode) in [("offline-rec", "record"), ("offline-play", "replay")] {
            let folder = try LoopTest.example(label)
            for args in [["cycle", "start"], ["run", "--tasks", "2", "--cassette", cassette.path, "--cassette-mode", mode],
                         ["feedback", "critique"], ["evals", "generate"]] {
                let r = try flywheel(args, in: folder, env: env)
                try #require(r.status == 0, "\(label) \(args): \(r.stderr)")
            }
            let gate = try flywheel(["evals", "run"], in: folder, env: env)
            #expect(gate.status == 0 || gate.status == 100)
            for args in [["diagnose"], ["handoff", "--quiet"]] {
                let r = try flywheel(args, in: folder, env: env)
                try #require(r.status == 0, "\(label) \(args): \(r.stderr)")
            }
            let t = try #require(try LoopTest.show(folder, "refs/heads/main", "cycles/0001/traces.jsonl"))
            #expect(t.contains("offline simulation"))
            traces.append(t)
            let handoff = try #require(try LoopTest.show(folder, "refs/heads/main", "cycles/0001/handoff.md"))
            #expect(handoff.contains("Its answers are simulated"), "\(label): the handoff does not say the answers are simulated")
            let cycle = try LoopTest.object(try LoopTest.show(folder, "refs/heads/main", "cycles/0001/cycle.json"))
            let agent = (cycle["models"] as? [String: Any])?["agent"] as? String ?? ""
            #expect(agent.contains("offline simulation"))
            #expect(agent.contains("cassette replay") == (mode == "replay"), "\(label): models.agent = \(agent)")
        }
        #expect(traces.count == 2 && traces[0] == traces[1], "a replay of the offline model differs from its recording")
    }
}
