import Flywheel
import FlywheelTraces
import Foundation
import Testing
import TestSupport

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// POSTs `body` to the receiver; returns the status and the body text.
func post(
    _ port: UInt16, _ body: Data, contentType: String = "application/json", method: String = "POST",
    path: String = "/v1/traces"
) async throws -> (status: Int, body: String) {
    var request = URLRequest(url: try #require(URL(string: "http://127.0.0.1:\(port)\(path)")))
    request.httpMethod = method
    request.setValue(contentType, forHTTPHeaderField: "Content-Type")
    if method == "POST" { request.httpBody = body }
    let (data, response) = try await URLSession.shared.data(for: request)
    return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
}

/// A history with an open cycle, made through the library.
func openCycleHistory(_ label: String) throws -> LoopHistory {
    let history = LoopHistory(repository: TestPaths.scratch(label).appendingPathComponent("loop-history"))
    try history.initialize()
    _ = try history.startCycle(harness: nil)
    return history
}

func storedTraces(_ history: LoopHistory) throws -> String? {
    let n = try history.openCycle().number
    return try history.snapshot().cycleFile(n, Layout.CycleFile.traces).map { String(decoding: $0, as: UTF8.self) }
}

func traceCommits(_ history: LoopHistory) throws -> Int {
    try history.log().filter { $0.stage == Stage.traces.rawValue }.count
}

/// The sample request with its trace ids replaced (a distinct batch).
func sampleRequest(traceSuffix: String? = nil) throws -> Data {
    var text = try String(contentsOfFile: TraceFixtures.otlp, encoding: .utf8)
    if let traceSuffix {
        text = text.replacingOccurrences(of: "0af7651916cd43dd8448eb211c80319c", with: "0af7651916cd43dd8448eb211c80" + traceSuffix)
            .replacingOccurrences(of: "5B8EFFF798038103D269B633813FC60C", with: "5B8EFFF798038103D269B633813F" + traceSuffix)
    }
    return Data(text.utf8)
}

@Suite("Traces: OTLP/HTTP receiver", .serialized)
struct TracesReceiverTests {
    @Test("POST /v1/traces: 200 {} commits the redacted spans; bad bodies get 400/415/404 and commit nothing; retries are idempotent")
    func receive() async throws {
        let history = try openCycleHistory("receiver")
        let receiver = TraceReceiver(history: history, redactor: try TraceStage.redactor(config: nil), port: 0)
        try await receiver.start()
        let port = try #require(await receiver.port)
        #expect(port != 0)

        var r = try await post(port, try sampleRequest(), contentType: "text/plain")
        #expect(r.status == 415)
        #expect(r.body.contains("unsupported content type"))
        r = try await post(port, Data("{\"resourceSpans\": [".utf8))
        #expect(r.status == 400)
        #expect(r.body.contains("invalid"), "\(r.body)")
        r = try await post(port, Data(#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c"}]}]}]}"#.utf8))
        #expect(r.status == 400)
        #expect(r.body.contains("spanId"))
        r = try await post(port, Data(#"{"hello":"world"}"#.utf8))
        #expect(r.status == 400)
        r = try await post(port, Data(), method: "GET", path: "/")
        #expect(r.status == 404)
        #expect(try traceCommits(history) == 0)
        #expect(try storedTraces(history) == nil)

        let expectedSpans = try decodeOTLPJSON(try sampleRequest()).count
        r = try await post(port, try sampleRequest())
        #expect(r.status == 200)
        #expect(r.body == "{}")
        #expect(try traceCommits(history) == 1)
        let stored = try #require(try storedTraces(history))
        #expect(stored.split(separator: "\n").count == expectedSpans)
        #expect(!stored.contains("sk-proj-Abc123"))
        #expect(stored.contains("[REDACTED:api_key]"))
        let store = try TraceStore(data: Data(stored.utf8))
        #expect(store.traces.count == Set(try decodeOTLPJSON(try sampleRequest()).map(\.traceID)).count)
        #expect(store.traces.map(\.traceID).contains("5b8efff798038103d269b633813fc60c"), "hex ids are lowercased")
        let log = try history.log()
        #expect(log.first?.stage == "traces" && log.first?.cycle == 1)

        // An exporter retry: 200 again, no new commit, no duplicate spans.
        r = try await post(port, try sampleRequest())
        #expect(r.status == 200)
        #expect(try traceCommits(history) == 1)
        #expect(try storedTraces(history) == stored)

        // A new batch joins the same file.
        r = try await post(port, try sampleRequest(traceSuffix: "beef"))
        #expect(r.status == 200)
        #expect(try traceCommits(history) == 2)
        #expect(try storedTraces(history)?.hasPrefix(stored) == true)
        #expect(try storedTraces(history)?.split(separator: "\n").count == 2 * expectedSpans)
        let stats = await receiver.stats
        #expect(stats.accepted == 3)
        #expect(stats.refused == 4, "415, two 400s and the non-OTLP body; the 404 is not a traces request")
        #expect(stats.spansCommitted == 2 * expectedSpans)
        await receiver.stop()
    }

    @Test("413 over the size limit; --flush-every batches requests into one commit; 409 without an open cycle")
    func limitsAndBatching() async throws {
        let history = try openCycleHistory("receiver-batch")
        let sample = try sampleRequest()
        let receiver = TraceReceiver(
            history: history, redactor: nil, port: 0, maxBodyBytes: sample.count + 64, flushEvery: 2)
        try await receiver.start()
        let port = try #require(await receiver.port)
        let padded = sample + Data(repeating: 0x20, count: 200)
        var r = try await post(port, padded)
        #expect(r.status == 413)
        #expect(r.body.contains("over the limit"))

        // Two requests sent together: both are answered 200 only once the one commit holding them is made.
        async let first = post(port, sample)
        async let second = post(port, try sampleRequest(traceSuffix: "cafe"))
        let (r1, r2) = try await (first, second)
        #expect(r1.status == 200 && r2.status == 200)
        #expect(try traceCommits(history) == 1)
        let stored = try #require(try storedTraces(history))
        #expect(stored.contains("sk-proj-Abc123"), "no redactor: kept as is")
        #expect(stored.split(separator: "\n").count == 2 * (try decodeOTLPJSON(sample).count))

        // A lone request is committed after the flush interval, before its 200: nothing acknowledged is pending.
        r = try await post(port, try sampleRequest(traceSuffix: "f00d"))
        #expect(r.status == 200)
        #expect(try traceCommits(history) == 2)
        #expect(try storedTraces(history)?.contains("f00d") == true)
        await receiver.stop()
        #expect(try traceCommits(history) == 2)

        _ = try history.closeCycle()
        let closed = TraceReceiver(history: history, redactor: nil, port: 0)
        try await closed.start()
        let port2 = try #require(await closed.port)
        r = try await post(port2, try sampleRequest(traceSuffix: "d00d"))
        #expect(r.status == 409)
        #expect(r.body.contains("no open cycle"))
        await closed.stop()
        #expect(try traceCommits(history) == 2)
    }

    @Test("concurrent requests: every batch lands, one commit each, nothing lost")
    func concurrent() async throws {
        let history = try openCycleHistory("receiver-concurrent")
        let receiver = TraceReceiver(history: history, redactor: try TraceStage.redactor(config: nil), port: 0)
        try await receiver.start()
        let port = try #require(await receiver.port)
        let suffixes = (0..<8).map { String(format: "%04x", 0xa000 + $0) }
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for s in suffixes { group.addTask { try await post(port, try sampleRequest(traceSuffix: s)).status } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses == Array(repeating: 200, count: suffixes.count))
        await receiver.stop()
        #expect(try traceCommits(history) == suffixes.count)
        let stored = try #require(try storedTraces(history))
        let perRequest = try decodeOTLPJSON(try sampleRequest()).count
        #expect(stored.split(separator: "\n").count == perRequest * suffixes.count)
        let store = try TraceStore(data: Data(stored.utf8))
        for s in suffixes { #expect(store.traces.contains { $0.traceID.hasSuffix(s) }, "\(s)") }
    }

    @Test("flywheel traces receive --port 0 --once prints its port, commits the first request and exits 0")
    func receiveOnceCLI() async throws {
        let dir = try tracesWorkspace("receiver-cli")
        let outFile = dir.appendingPathComponent("receive.out")
        _ = FileManager.default.createFile(atPath: outFile.path, contents: nil)
        let p = Process()
        p.executableURL = TestPaths.product("flywheel")
        p.arguments = ["traces", "receive", "--port", "0", "--once"]
        p.currentDirectoryURL = dir
        p.standardOutput = try FileHandle(forWritingTo: outFile)
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer { if p.isRunning { p.terminate() } }
        var port: UInt16?
        for _ in 0..<200 where port == nil {
            try await Task.sleep(for: .milliseconds(50))
            let text = (try? String(contentsOf: outFile, encoding: .utf8)) ?? ""
            if let range = text.range(of: #"127\.0\.0\.1:(\d+)/v1/traces"#, options: .regularExpression) {
                let digits = text[range].dropFirst("127.0.0.1:".count).prefix { $0.isNumber }
                port = UInt16(digits)
            }
        }
        let listening = try #require(port)
        let r = try await post(listening, try sampleRequest())
        #expect(r.status == 200)
        for _ in 0..<200 where p.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!p.isRunning)
        #expect(p.terminationStatus == 0)
        let out = try String(contentsOf: outFile, encoding: .utf8)
        #expect(out.contains("1 request accepted"), "\(out)")
        let stored = try git(dir, ["show", "HEAD:cycles/0001/traces.jsonl"])
        #expect(stored.status == 0)
        #expect(stored.stdout.split(separator: "\n").count == (try decodeOTLPJSON(try sampleRequest()).count))
        #expect(!stored.stdout.contains("sk-proj-Abc123"))
        #expect(try stages(dir).first == "traces")
    }
}
