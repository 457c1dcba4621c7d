import FlywheelSupport
import FlywheelTraces
import Foundation

/// A live OTLP/HTTP receiver bound to a loopback address: `POST /v1/traces` (an `ExportTraceServiceRequest`) and
/// `POST /v1/logs` (an `ExportLogsServiceRequest`, whose records become spans: see ``OTLPLogMapper``), in protobuf
/// (`application/x-protobuf`) or JSON (`application/json`), plain or with `Content-Encoding: gzip` / `deflate`.
/// Each request is decoded, range-checked, mapped (semantic conventions), validated and redacted, then committed
/// into the open cycle's `traces.jsonl`.
///
/// The receiver acknowledges only what it committed: a request is answered `200` after the commit holding its
/// spans (one commit per request, or one per `flushEvery` requests or `flushInterval` seconds, whichever comes
/// first). Answers: `400` for bad input (naming the span and field), `401` without the bearer token when one is set,
/// `404`/`405` for other paths and methods, `409` when no cycle is open, `413` over `maxBodyBytes` (checked after
/// decompression, so a zip bomb is refused), `415` for any other content type (a browser's no-cors POST has none
/// or a CORS-safelisted one), `431`/`408` for oversized or slow headers, `503` when a commit fails or the receiver
/// is stopping.
///
/// Requests are handled on the server's own threads (never on Swift's cooperative pool, so a host process whose
/// pool is busy does not stall the receiver); the state is guarded by one lock.
public final class TraceReceiver: @unchecked Sendable {
    /// What the receiver has done so far.
    public struct Stats: Sendable, Hashable, Codable {
        /// Requests accepted (200).
        public var accepted = 0
        /// Requests refused (4xx, 5xx).
        public var refused = 0
        /// Spans committed.
        public var spansCommitted = 0
        /// Spans skipped as already in the cycle (exporter retries).
        public var spansSkipped = 0
        /// Commits made.
        public var commits: [String] = []
        /// Redactions per kind over all accepted requests.
        public var redactions: [String: Int] = [:]
        public init() {}
    }

    /// The default OTLP/HTTP port.
    public static let defaultPort: UInt16 = 4318
    /// The default request body limit, after decompression (OTLP's collector default is 20 MiB).
    public static let defaultMaxBodyBytes = 16 << 20
    /// The environment variable holding the bearer token (``init(history:redactor:port:host:maxBodyBytes:flushEvery:flushInterval:token:limits:log:)``'s `token`).
    public static let tokenEnvironmentVariable = "FLYWHEEL_RECEIVER_TOKEN"

    /// Connection limits of the HTTP server.
    public struct Limits: Sendable {
        /// Request line plus headers, bytes (over: 431).
        public var maxHeaderBytes = 16 * 1024
        /// Seconds to receive the request line and headers once the request has started (over: 408).
        public var headerTimeout: TimeInterval = 10
        /// Seconds any one read may wait (also the keep-alive idle time).
        public var readTimeout: TimeInterval = 10
        /// Seconds to receive a whole body.
        public var bodyTimeout: TimeInterval = 60
        /// Open connections at once (over: 503).
        public var maxConnections = 64
        public init() {}
    }

    public let history: LoopHistory
    public let redactor: Redactor?
    public let host: String
    public let requestedPort: UInt16
    public let maxBodyBytes: Int
    /// Commit after this many accepted requests (1 = every request).
    public let flushEvery: Int
    /// With `flushEvery` > 1, the longest a request waits for its batch to fill before it is committed anyway.
    public let flushInterval: TimeInterval
    let token: String?
    let limits: Limits
    let log: (@Sendable (String) -> Void)?

    /// Guards everything below; requests waiting for their commit wait on it.
    private let state = NSCondition()
    private var server: LoopbackHTTPServer?
    private final class Ticket {
        var response: LoopbackHTTPServer.Response?
    }
    private var pending: [(PreparedTraces, Ticket)] = []
    private var flushGeneration = 0
    private var stopping = false
    private var counters = Stats()
    private var firstAcceptedWaiters: [CheckedContinuation<Void, Never>] = []
    /// Requests refused before their body was read (401, 405, 415).
    private let earlyRefusals = RefusalCounter()

    /// A receiver committing into `history`'s open cycle. `port` 0 picks an ephemeral port (see ``port``).
    /// `host` must be a loopback IPv4 address (the receiver never listens on other interfaces). With a `token`,
    /// every request needs `Authorization: Bearer TOKEN`.
    public init(
        history: LoopHistory, redactor: Redactor?, port: UInt16 = TraceReceiver.defaultPort, host: String = "127.0.0.1",
        maxBodyBytes: Int = TraceReceiver.defaultMaxBodyBytes, flushEvery: Int = 1, flushInterval: TimeInterval = 1,
        token: String? = nil, limits: Limits = Limits(), log: (@Sendable (String) -> Void)? = nil
    ) {
        self.history = history
        self.redactor = redactor
        self.requestedPort = port
        self.host = host
        self.maxBodyBytes = maxBodyBytes
        self.flushEvery = max(1, flushEvery)
        self.flushInterval = max(0.01, flushInterval)
        self.token = token.flatMap { $0.isEmpty ? nil : $0 }
        self.limits = limits
        self.log = log
    }

    /// Why the receiver could not start.
    public struct StartError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Binds and starts serving in the background; returns once listening.
    public func start() async throws {
        if state.withLock({ self.server != nil }) { return }
        guard host.hasPrefix("127.") || host == "localhost" else {
            throw StartError(description: "the receiver listens on loopback only (127.0.0.1), not \(host)")
        }
        var l = LoopbackHTTPServer.Limits()
        l.maxHeaderBytes = limits.maxHeaderBytes
        l.headerTimeout = limits.headerTimeout
        l.readTimeout = limits.readTimeout
        l.bodyTimeout = limits.bodyTimeout
        l.maxConnections = limits.maxConnections
        // Compressed bodies are read up to the same limit; the decompressed size is checked again.
        l.maxBodyBytes = maxBodyBytes
        let token = token
        let refusals = earlyRefusals
        let server = LoopbackHTTPServer(
            host: host == "localhost" ? "127.0.0.1" : host, port: requestedPort, limits: l,
            preflight: { head in
                let r = TraceReceiver.preflight(head, token: token)
                if let r, r.status != 404 { refusals.add() }
                return r
            },
            handler: { [weak self] head, body in
                guard let self else { return TraceReceiver.text(503, "the receiver is gone") }
                return self.handle(head, body)
            })
        do { try server.start() } catch {
            throw StartError(description: "cannot listen on \(host):\(requestedPort): \(error)")
        }
        state.withLock { self.server = server }
    }

    /// The port the receiver listens on (the ephemeral one when started with port 0), nil before ``start()``.
    public var port: UInt16? {
        get async { state.withLock { server?.port } }
    }

    /// What the receiver has done so far.
    public var stats: Stats {
        get async {
            var s = state.withLock { counters }
            s.refused += earlyRefusals.value
            return s
        }
    }

    /// Stops: new requests get 503, pending requests are committed (and answered), open connections are shut and
    /// requests in progress are answered. Always returns (within a few seconds, whatever the clients do).
    public func stop() async {
        let server: LoopbackHTTPServer? = state.withLock {
            stopping = true
            do { _ = try flushLocked() } catch {
                log?("could not commit pending requests: \(error)")
            }
            let s = self.server
            self.server = nil
            return s
        }
        guard let server else { return }
        // Blocking waits run on a thread of their own, not on the cooperative pool.
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            Thread {
                server.stop()
                c.resume()
            }.start()
        }
    }

    /// Waits until at least one request has been accepted (and committed).
    public func waitForFirstAccepted() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now: Bool = state.withLock {
                if counters.accepted > 0 { return true }
                firstAcceptedWaiters.append(c)
                return false
            }
            if now { c.resume() }
        }
    }

    /// Commits the spans of the requests waiting for their batch, as one `traces` commit, and answers them
    /// (200 when committed, 409/503 when the commit failed: nothing is acknowledged that was not committed).
    @discardableResult
    public func flush() throws -> TraceCommitResult? {
        try state.withLock { try flushLocked() }
    }

    private func flushLocked() throws -> TraceCommitResult? {
        guard !pending.isEmpty else { return nil }
        let batch = pending
        pending = []
        flushGeneration += 1
        defer { state.broadcast() }
        var spans: [Span] = []
        var files: [TraceStageFileReport] = []
        var redactions = RedactionReport()
        for (p, _) in batch {
            spans += p.spans
            files += p.report.files
            redactions.add(RedactionReport(counts: p.report.redactions))
        }
        // Duplicates across the batch (an exporter retry) are dropped before the merge.
        var seen = Set<String>()
        let unique = spans.filter { seen.insert($0.traceID + "/" + $0.spanID).inserted }
        let merged = TraceStage.make(spans: unique, files: files, redaction: redactions, redacted: redactor != nil)
        let result: TraceCommitResult
        do {
            result = try TraceStage.commit(
                merged, to: history, policy: .appendSkippingDuplicateSpans,
                message: "OTLP/HTTP receiver: \(batch.count) request\(batch.count == 1 ? "" : "s")\n" + TraceStage.describe(merged.report))
        } catch {
            let status = error is HistoryError ? 409 : 503
            for (_, t) in batch { t.response = Self.text(status, "not committed: \(error)") }
            throw error
        }
        counters.spansCommitted += result.spansAdded
        counters.spansSkipped += result.spansSkipped + (spans.count - unique.count)
        if let c = result.commit { counters.commits.append(c) }
        for (p, _) in batch {
            for (k, v) in p.report.redactions { counters.redactions[k, default: 0] += v }
        }
        log?("committed \(result.spansAdded) span(s) into cycle \(result.cycle)" + (result.commit.map { " (\($0.prefix(7)))" } ?? ""))
        for (_, t) in batch { t.response = Self.ok }
        return result
    }

    private func flushIfStill(_ generation: Int) {
        state.withLock {
            guard generation == flushGeneration, !pending.isEmpty else { return }
            do { _ = try flushLocked() } catch { log?("commit failed: \(error)") }
        }
    }

    // MARK: - Requests

    /// Checks made before the body is read: path, method, token, content type and coding.
    static func preflight(_ head: LoopbackHTTPServer.Head, token: String?) -> LoopbackHTTPServer.Response? {
        guard head.path == OTLPSignal.traces.path || head.path == OTLPSignal.logs.path else {
            return text(404, "not found: this receiver accepts POST /v1/traces and POST /v1/logs (OTLP/HTTP)")
        }
        guard head.method == "POST" else {
            var r = text(405, "method \(head.method.prefix(20)) not allowed: POST an OTLP request")
            r.headers["Allow"] = "POST"
            return r
        }
        if let token {
            let given = head.header("authorization") ?? ""
            guard constantTimeEqual(given, "Bearer " + token) else {
                var r = text(401, "missing or wrong bearer token (Authorization: Bearer …; see --token / \(tokenEnvironmentVariable))")
                r.headers["WWW-Authenticate"] = "Bearer"
                return r
            }
        }
        guard OTLPPayload.encoding(contentType: head.header("content-type")) != nil else {
            let given = head.header("content-type").map { "\($0.prefix(60))" } ?? "none"
            return text(
                415,
                "unsupported content type (\(given)): send Content-Type application/x-protobuf or application/json (OTLP/HTTP)")
        }
        let coding = (head.header("content-encoding") ?? "").lowercased()
        guard ["", "identity", "gzip", "x-gzip", "deflate"].contains(coding) else {
            return text(415, "unsupported Content-Encoding \(coding.prefix(40)): send gzip, deflate or identity")
        }
        return nil
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var diff = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) { diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0) }
        return diff == 0
    }

    /// Handles one request on the calling (server) thread; returns once it is committed or refused.
    func handle(_ head: LoopbackHTTPServer.Head, _ body: Data) -> LoopbackHTTPServer.Response {
        let response = respond(head, body)
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock {
            if response.status == 200 {
                counters.accepted += 1
                let w = firstAcceptedWaiters
                firstAcceptedWaiters = []
                return w
            }
            counters.refused += 1
            return []
        }
        for c in waiters { c.resume() }
        return response
    }

    func respond(_ head: LoopbackHTTPServer.Head, _ raw: Data) -> LoopbackHTTPServer.Response {
        let signal: OTLPSignal = head.path == OTLPSignal.logs.path ? .logs : .traces
        guard let encoding = OTLPPayload.encoding(contentType: head.header("content-type")) else {
            return Self.text(415, "unsupported content type")
        }
        let body: Data
        do { body = try OTLPPayload.decompress(raw, contentEncoding: head.header("content-encoding"), maxBytes: maxBodyBytes) } catch {
            return Self.text(error.status, error.message)
        }
        if body.isEmpty, encoding == .json { return Self.text(400, "empty body: expected an OTLP/JSON Export request") }
        if state.withLock({ stopping }) { return Self.text(503, "the receiver is stopping") }
        do { _ = try history.openCycle() } catch {
            return Self.text(409, "not committed: \(error)")
        }
        let prepared: PreparedTraces
        do {
            let spans = try OTLPPayload.decode(body, encoding: encoding, signal: signal)
            prepared = try TraceStage.prepare(
                spans: spans, label: "POST \(signal.path)", format: encoding == .json ? .otlpJSON : .otlpProtobuf, redactor: redactor)
        } catch let e as OTLPDecodingError {
            return Self.text(400, "invalid OTLP \(encoding == .json ? "JSON" : "protobuf") request: \(e.field): \(e.message)")
        } catch {
            return Self.text(400, "\(error)")
        }
        if prepared.spans.isEmpty { return Self.ok }
        let coding = (head.header("content-encoding") ?? "").lowercased()
        log?(
            "accepted \(prepared.report.spans) span(s) in \(prepared.report.traces) trace(s) from POST \(signal.path) "
                + "(\(encoding.rawValue)\(coding.isEmpty || coding == "identity" ? "" : ", \(coding)"))")
        // Group commit: wait (on this thread) until the commit holding this request is made.
        let ticket = Ticket()
        state.lock()
        defer { state.unlock() }
        pending.append((prepared, ticket))
        if pending.count >= flushEvery || stopping {
            do { _ = try flushLocked() } catch { log?("commit failed: \(error)") }
        } else if pending.count == 1 {
            let generation = flushGeneration
            let delay = flushInterval
            Thread { [weak self] in
                Thread.sleep(forTimeInterval: delay)
                self?.flushIfStill(generation)
            }.start()
        }
        while ticket.response == nil { state.wait() }
        return ticket.response!
    }

    static var ok: LoopbackHTTPServer.Response {
        LoopbackHTTPServer.Response(status: 200, headers: ["Content-Type": "application/json"], body: Data("{}".utf8))
    }

    /// A JSON error body in OTLP's `Status` shape (`{"code", "message"}`, code a gRPC status code), which
    /// exporters log.
    static func text(_ status: Int, _ message: String) -> LoopbackHTTPServer.Response {
        let grpc: Int64
        switch status {
        case 401: grpc = 16  // UNAUTHENTICATED
        case 404: grpc = 5  // NOT_FOUND
        case 409: grpc = 9  // FAILED_PRECONDITION
        case 413: grpc = 8  // RESOURCE_EXHAUSTED
        case 503: grpc = 14  // UNAVAILABLE
        default: grpc = 3  // INVALID_ARGUMENT
        }
        let body = JSONValue.obj([("code", .integer(grpc)), ("message", .string(message))]).orderedText()
        return LoopbackHTTPServer.Response(
            status: status, headers: ["Content-Type": "application/json"], body: Data(body.utf8), close: status == 413)
    }
}

/// A thread-safe count.
final class RefusalCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.withLock { n += 1 } }
    var value: Int { lock.withLock { n } }
}
