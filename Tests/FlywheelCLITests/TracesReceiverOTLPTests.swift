import Flywheel
import FlywheelTraces
import Foundation
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The OTLP fixtures of the Flywheel test target.
func otlpFixture(_ name: String) throws -> Data {
    try Data(contentsOf: TestPaths.packageRoot.appendingPathComponent("Tests/FlywheelTests/Fixtures/OTLP/\(name)"))
}

/// A raw TCP client: sends `chunks` (pausing `pause` seconds between them), then reads the reply until the server
/// closes or `timeout` passes. Returns the reply text ("" when none came).
func rawExchange(_ port: UInt16, _ chunks: [Data], pause: TimeInterval = 0, timeout: TimeInterval = 60) -> String {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return "" }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = port.bigEndian
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
    let ok = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard ok == 0 else { return "" }
    for (i, c) in chunks.enumerated() {
        if i > 0, pause > 0 { usleep(UInt32(pause * 1_000_000)) }
        _ = c.withUnsafeBytes { send(fd, $0.baseAddress, c.count, Int32(MSG_NOSIGNAL)) }
    }
    var out = Data()
    let deadline = Date().addingTimeInterval(timeout)
    var buf = [UInt8](repeating: 0, count: 65536)
    while Date() < deadline {
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&pfd, 1, 100) > 0 else { continue }
        let n = recv(fd, &buf, buf.count, 0)
        if n <= 0 { break }
        out.append(contentsOf: buf[0..<n])
        if let text = String(data: out, encoding: .utf8), let headEnd = text.range(of: "\r\n\r\n"),
            let lenLine = text[..<headEnd.lowerBound].split(separator: "\r\n").first(where: { $0.lowercased().hasPrefix("content-length:") }),
            let len = Int(lenLine.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)),
            out.count >= text.utf8.distance(from: text.utf8.startIndex, to: headEnd.upperBound) + len
        {
            break
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// ``rawExchange`` on a thread of its own (blocking calls must not hold the cooperative pool the receiver's
/// handlers run on).
func exchange(_ port: UInt16, _ chunks: [Data], pause: TimeInterval = 0, timeout: TimeInterval = 60) async -> String {
    await withCheckedContinuation { c in
        Thread { c.resume(returning: rawExchange(port, chunks, pause: pause, timeout: timeout)) }.start()
    }
}

/// One HTTP/1.1 request's bytes.
func httpRequest(
    _ path: String = "/v1/traces", method: String = "POST", headers: [String: String], body: Data = Data()
) -> Data {
    var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: \(body.count)\r\n"
    for (k, v) in headers.sorted(by: { $0.key < $1.key }) { text += "\(k): \(v)\r\n" }
    var d = Data((text + "\r\n").utf8)
    d.append(body)
    return d
}

func status(_ reply: String) -> Int { Int(reply.split(separator: " ").dropFirst().first ?? "") ?? 0 }

@Suite("Traces: OTLP/HTTP receiver, protobuf, logs and hostile clients", .serialized)
struct TracesReceiverOTLPTests {
    @Test("protobuf, gzip, deflate and OTLP/JSON log requests are committed; a zip bomb gets 413")
    func encodings() async throws {
        let history = try openCycleHistory("receiver-encodings")
        let receiver = TraceReceiver(history: history, redactor: try TraceStage.redactor(config: nil), port: 0)
        try await receiver.start()
        let port = try #require(await receiver.port)
        let pb = try otlpFixture("genai_traces.binpb")
        let expected = try decodeOTLPProtobuf(pb)

        var r = await exchange(port, [httpRequest(headers: ["Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"], body: try otlpFixture("genai_traces.binpb.gz"))])
        #expect(status(r) == 200, "\(r)")
        var stored = try #require(try storedTraces(history))
        #expect(stored.split(separator: "\n").count == expected.count)
        for s in expected { #expect(stored.contains(s.spanID)) }
        // The same request plain and with deflate: already there (a retry), 200, no duplicates.
        r = await exchange(port, [httpRequest(headers: ["Content-Type": "application/x-protobuf"], body: pb)])
        #expect(status(r) == 200)
        r = await exchange(port, [httpRequest(headers: ["Content-Type": "application/x-protobuf", "Content-Encoding": "deflate"], body: try otlpFixture("genai_traces.binpb.zlib"))])
        #expect(status(r) == 200)
        #expect(try storedTraces(history)?.split(separator: "\n").count == expected.count)

        // Codex log events, protobuf to /v1/logs; then the JSON form of the same conversation.
        r = await exchange(port, [httpRequest("/v1/logs", headers: ["Content-Type": "application/x-protobuf"], body: try otlpFixture("codex_logs.binpb"))])
        #expect(status(r) == 200, "\(r)")
        r = await exchange(port, [httpRequest("/v1/logs", headers: ["Content-Type": "application/json; charset=utf-8"], body: try otlpFixture("codex_logs.json"))])
        #expect(status(r) == 200, "\(r)")
        stored = try #require(try storedTraces(history))
        let store = try TraceStore(data: Data(stored.utf8))
        let codex = try #require(store.traces.first { $0.rootSpanName == "codex.conversation" })
        #expect(codex.inputTokens >= 5210)
        #expect(codex.toolErrorSpanCount >= 1)
        #expect(codex.modelNames == ["gpt-5-codex"])
        // A traces body posted to /v1/logs is refused.
        r = await exchange(port, [httpRequest("/v1/logs", headers: ["Content-Type": "application/json"], body: try otlpFixture("openinference_traces.json"))])
        #expect(status(r) == 400)

        // 64 MiB of zeros in 64 KiB of gzip: refused once the expansion passes the limit.
        let before = try traceCommits(history)
        r = await exchange(port, [httpRequest(headers: ["Content-Type": "application/json", "Content-Encoding": "gzip"], body: try otlpFixture("bomb_64MiB.gz"))])
        #expect(status(r) == 413, "\(r)")
        #expect(r.contains("after decompression"))
        #expect(try traceCommits(history) == before)
        await receiver.stop()
    }

    @Test("only POST with application/json or application/x-protobuf: text/plain, form types and no content type get 415")
    func contentTypes() async throws {
        let history = try openCycleHistory("receiver-415")
        let receiver = TraceReceiver(history: history, redactor: nil, port: 0)
        try await receiver.start()
        let port = try #require(await receiver.port)
        let body = try otlpFixture("openinference_traces.json")
        for type in ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", nil] {
            let headers = type.map { ["Content-Type": $0] } ?? [:]
            let r = await exchange(port, [httpRequest(headers: headers, body: body)])
            #expect(status(r) == 415, "\(type ?? "none"): \(r)")
        }
        #expect(status(await exchange(port, [httpRequest(method: "GET", headers: [:])])) == 405)
        #expect(status(await exchange(port, [httpRequest("/", headers: ["Content-Type": "application/json"], body: body)])) == 404)
        #expect(status(await exchange(port, [httpRequest(headers: ["Content-Type": "application/json", "Content-Encoding": "br"], body: body)])) == 415)
        #expect(try traceCommits(history) == 0)
        await receiver.stop()
    }

    @Test("a bearer token, when set, is required (401 without or wrong, 200 with)")
    func token() async throws {
        let history = try openCycleHistory("receiver-token")
        let receiver = TraceReceiver(history: history, redactor: nil, port: 0, token: "s3cret-token-for-tests")
        try await receiver.start()
        let port = try #require(await receiver.port)
        let body = try otlpFixture("openinference_traces.json")
        var r = await exchange(port, [httpRequest(headers: ["Content-Type": "application/json"], body: body)])
        #expect(status(r) == 401)
        #expect(r.contains("WWW-Authenticate: Bearer"))
        r = await exchange(port, [httpRequest(headers: ["Content-Type": "application/json", "Authorization": "Bearer wrong"], body: body)])
        #expect(status(r) == 401)
        #expect(try traceCommits(history) == 0)
        r = await exchange(port, [httpRequest(headers: ["Content-Type": "application/json", "Authorization": "Bearer s3cret-token-for-tests"], body: body)])
        #expect(status(r) == 200, "\(r)")
        #expect(try traceCommits(history) == 1)
        await receiver.stop()
    }

    @Test("out-of-range numbers get 400 naming the span and field; the receiver keeps serving")
    func hostileNumbers() async throws {
        let history = try openCycleHistory("receiver-numbers")
        let receiver = TraceReceiver(history: history, redactor: nil, port: 0)
        try await receiver.start()
        let port = try #require(await receiver.port)
        for (file, field) in [
            ("hostile_time_1e19.json", "startTimeUnixNano"), ("hostile_int_1e300.json", "intValue"),
            ("hostile_tokens_int64max.json", "gen_ai.usage.input_tokens"),
        ] {
            let r = await exchange(port, [httpRequest(headers: ["Content-Type": "application/json"], body: try otlpFixture(file))])
            #expect(status(r) == 400, "\(file): \(r)")
            #expect(r.contains(field) && r.contains("4444444444444444"), "\(file): \(r)")
        }
        #expect(try traceCommits(history) == 0)
        let r = await exchange(port, [httpRequest(headers: ["Content-Type": "application/json"], body: try otlpFixture("openinference_traces.json"))])
        #expect(status(r) == 200)
        await receiver.stop()
    }

    @Test("--flush-every N: every request answered 200 is in the history, also when stopped with requests pending")
    func acknowledgedIsCommitted() async throws {
        let history = try openCycleHistory("receiver-ack")
        let receiver = TraceReceiver(history: history, redactor: nil, port: 0, flushEvery: 10, flushInterval: 30)
        try await receiver.start()
        let port = try #require(await receiver.port)
        // Three requests wait for a batch of ten; stopping commits them and only then answers them.
        let suffixes = ["aaa1", "aaa2", "aaa3"]
        async let replies = withTaskGroup(of: Int.self) { group in
            for s in suffixes {
                group.addTask {
                    let r = await exchange(port, [httpRequest(headers: ["Content-Type": "application/json"], body: (try? sampleRequest(traceSuffix: s)) ?? Data())], timeout: 20)
                    return status(r)
                }
            }
            return await group.reduce(into: [Int]()) { $0.append($1) }
        }
        try await Task.sleep(for: .milliseconds(800))
        #expect(try traceCommits(history) == 0, "nothing committed yet, nothing answered yet")
        await receiver.stop()
        #expect(await replies == [200, 200, 200])
        let stored = try #require(try storedTraces(history))
        for s in suffixes { #expect(stored.contains(s)) }
    }

    @Test("oversized headers get 431, slow headers 408; slow clients neither block others nor stop()")
    func slowAndLargeHeaders() async throws {
        let history = try openCycleHistory("receiver-slow")
        var limits = TraceReceiver.Limits()
        limits.headerTimeout = 1
        limits.readTimeout = 1
        let receiver = TraceReceiver(history: history, redactor: nil, port: 0, limits: limits)
        try await receiver.start()
        let port = try #require(await receiver.port)
        let big = Data(("POST /v1/traces HTTP/1.1\r\nX-Pad: " + String(repeating: "a", count: 20_000) + "\r\n\r\n").utf8)
        #expect(status(await exchange(port, [big])) == 431)
        // Header lines trickling in: cut off at the header time limit.
        let started = Date()
        let trickle = (0..<10).map { Data("X-Slow-\($0): \(String(repeating: "b", count: 100))\r\n".utf8) }
        let slow = Task { await exchange(port, [Data("POST /v1/traces HTTP/1.1\r\n".utf8)] + trickle, pause: 0.3, timeout: 10) }
        let silent = Task { await exchange(port, [Data("POST /v1/traces HTTP/1.1\r\nHost: x\r\n".utf8)], timeout: 10) }
        // Meanwhile a real exporter is served.
        let ok = await exchange(port, [httpRequest(headers: ["Content-Type": "application/json"], body: try otlpFixture("openinference_traces.json"))])
        #expect(status(ok) == 200)
        #expect(status(await slow.value) == 408)
        #expect(status(await silent.value) == 408)
        #expect(Date().timeIntervalSince(started) < 5)
        // A connection that stays open does not hold up stop().
        let hold = Task { await exchange(port, [Data("POST /v1/traces HTTP/1.1\r\n".utf8)], timeout: 8) }
        try await Task.sleep(for: .milliseconds(200))
        let stopStarted = Date()
        await receiver.stop()
        #expect(Date().timeIntervalSince(stopStarted) < 3)
        _ = await hold.value
    }

    @Test("SIGTERM stops `flywheel traces receive` at once, with a slow client connected, committing and answering what it holds")
    func sigterm() async throws {
        let dir = try tracesWorkspace("receiver-sigterm")
        let outFile = dir.appendingPathComponent("receive.out")
        _ = FileManager.default.createFile(atPath: outFile.path, contents: nil)
        let p = Process()
        p.executableURL = TestPaths.product("flywheel")
        p.arguments = ["traces", "receive", "--port", "0", "--flush-every", "5", "--flush-interval", "30", "--token", "tok-123"]
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
                port = UInt16(text[range].dropFirst("127.0.0.1:".count).prefix { $0.isNumber })
            }
        }
        let listening = try #require(port)
        // A client trickling header lines, and two requests waiting for their batch.
        let slow = Task { await exchange(listening, (0..<20).map { Data("X-Slow-\($0): \(String(repeating: "z", count: 200))\r\n".utf8) }, pause: 0.2, timeout: 15) }
        let headers = ["Content-Type": "application/x-protobuf", "Authorization": "Bearer tok-123"]
        let a = Task { await exchange(listening, [httpRequest(headers: headers, body: try otlpFixture("genai_traces.binpb"))], timeout: 15) }
        let b = Task { await exchange(listening, [httpRequest("/v1/logs", headers: headers, body: try otlpFixture("codex_logs.binpb"))], timeout: 15) }
        try await Task.sleep(for: .milliseconds(700))
        let signalled = Date()
        kill(p.processIdentifier, SIGTERM)
        for _ in 0..<100 where p.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!p.isRunning, "still running 5 s after SIGTERM")
        #expect(Date().timeIntervalSince(signalled) < 5)
        #expect(p.terminationStatus == 0)
        #expect(status(try await a.value) == 200)
        #expect(status(try await b.value) == 200)
        _ = await slow.value
        let stored = try git(dir, ["show", "HEAD:cycles/0001/traces.jsonl"])
        #expect(stored.status == 0)
        #expect(stored.stdout.contains("00f067aa0ba902b7"), "the acknowledged protobuf spans are committed")
        #expect(stored.stdout.contains("codex.response"), "the acknowledged log records are committed")
        let fsck = try git(dir, ["fsck", "--strict"])
        #expect(fsck.status == 0, "\(fsck.stderr)")
        let out = try String(contentsOf: outFile, encoding: .utf8)
        #expect(out.contains("2 requests accepted"), "\(out)")
    }
}
