import ArgumentParser
import Flywheel
import Foundation

/// `flywheel traces receive`: a live OTLP/HTTP receiver (traces and logs, protobuf and JSON) committing into the
/// open cycle.
struct TracesReceive: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receive",
        abstract: "Receive OTLP/HTTP traces and logs on 127.0.0.1 and commit them into the open cycle's traces.jsonl.",
        discussion: """
            Point an OpenTelemetry exporter at http://127.0.0.1:PORT (POST /v1/traces and /v1/logs; \
            application/x-protobuf or application/json; gzip or deflate allowed). Log records become spans \
            (Codex CLI's events included). Each request is decoded, range-checked, validated and redacted, then \
            committed (one traces commit per request, or per --flush-every N requests); a request is answered 200 \
            only after the commit holding it. Answers 400 on bad input (naming span and field), 401 without the \
            token (--token or $FLYWHEEL_RECEIVER_TOKEN), 409 when no cycle is open, 413 over --max-body-bytes \
            after decompression, 415 for other content types, 431/408 for oversized or slow headers. \
            Prints "listening on http://127.0.0.1:PORT/v1/traces" first (with --port 0, the port picked). \
            Stops on Ctrl-C / SIGTERM (committing and answering what is pending), or after the first accepted \
            request with --once.
            """)

    @OptionGroup var repoOptions: RepoOptions
    @Option(name: .long, help: "Port (0 = any free port).")
    var port: Int = Int(TraceReceiver.defaultPort)
    @Option(name: .long, help: "Loopback address to bind (127.x.x.x only).")
    var host = "127.0.0.1"
    @Option(name: .long, help: "Largest request body accepted, in bytes.")
    var maxBodyBytes = TraceReceiver.defaultMaxBodyBytes
    @Option(name: .long, help: "Commit every N accepted requests (default 1: every request); requests wait for their batch, at most --flush-interval seconds.")
    var flushEvery: Int?
    @Option(name: .long, help: "With --flush-every, the longest a request waits for its batch (seconds, default 1).")
    var flushInterval: Double = 1
    @Option(
        name: .long,
        help: "Require 'Authorization: Bearer TOKEN' on every request (default: $FLYWHEEL_RECEIVER_TOKEN when set).")
    var token: String?
    @Flag(name: .long, help: "Stop after the first accepted request.")
    var once = false
    @Flag(name: .long, help: "Do not redact secrets.")
    var noRedact = false
    @Flag(name: .long, help: "No per-request log lines.")
    var quiet = false

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0–65535") }
        guard maxBodyBytes > 0 else { throw ValidationError("--max-body-bytes must be positive") }
        if let n = flushEvery, n < 1 { throw ValidationError("--flush-every must be at least 1") }
        if once, flushEvery != nil { throw ValidationError("--once and --flush-every cannot be combined") }
        guard flushInterval > 0, flushInterval <= 60 else { throw ValidationError("--flush-interval must be in (0, 60] seconds") }
    }

    static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    func run() async throws {
        let workspace = try repoOptions.workspace()
        let cycle = try workspace.history.openCycle()
        let redactor = try TraceStage.redactor(config: workspace.config, enabled: !noRedact)
        let say: @Sendable (String) -> Void = { Self.say($0) }
        let receiver = TraceReceiver(
            history: workspace.history, redactor: redactor, port: UInt16(port), host: host, maxBodyBytes: maxBodyBytes,
            flushEvery: flushEvery ?? 1, flushInterval: flushInterval,
            token: token ?? ProcessInfo.processInfo.environment[TraceReceiver.tokenEnvironmentVariable],
            log: quiet ? nil : say)
        try await receiver.start()
        guard let actual = await receiver.port else { throw ValidationError("the receiver did not report its port") }
        Self.say("listening on http://\(host):\(actual)/v1/traces and /v1/logs (OTLP/HTTP protobuf or JSON) → cycle \(cycle.number)")

        if once {
            await receiver.waitForFirstAccepted()
        } else {
            await Self.waitForTermination()
        }
        await receiver.stop()
        let stats = await receiver.stats
        let red = stats.redactions.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        Self.say(
            "stopped: \(stats.accepted) request\(stats.accepted == 1 ? "" : "s") accepted, \(stats.refused) refused, "
                + "\(stats.spansCommitted) span\(stats.spansCommitted == 1 ? "" : "s") committed in \(stats.commits.count) commit\(stats.commits.count == 1 ? "" : "s")"
                + (red.isEmpty ? "" : "; redactions: \(red.joined(separator: ", "))"))
    }

    /// Waits for SIGINT or SIGTERM.
    static func waitForTermination() async {
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        var sources: [any DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { continuation.yield(sig) }
            source.resume()
            sources.append(source)
        }
        for await _ in stream { break }
        for s in sources { s.cancel() }
    }
}
