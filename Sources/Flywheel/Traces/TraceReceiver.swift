import FlyingFox
import FlyingSocks
import Foundation

/// A live OTLP/HTTP receiver (JSON encoding only) bound to 127.0.0.1: `POST /v1/traces` with an
/// `ExportTraceServiceRequest` body is decoded, validated, redacted and committed into the open cycle's
/// `traces.jsonl` (one `traces` stage commit per request, or per `flushEvery` requests).
///
/// Answers `200 {}` (an empty `ExportTraceServiceResponse`) on success, `400` with a message for bad input or when no
/// cycle is open, `413` over `maxBodyBytes`, `415` for protobuf (or any non-JSON) content types.
public actor TraceReceiver {
    /// What the receiver has done so far.
    public struct Stats: Sendable, Hashable, Codable {
        /// Requests accepted (200).
        public var accepted = 0
        /// Requests refused (4xx).
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
    /// The default request body limit (OTLP's collector default is 20 MiB; 16 MiB is plenty for JSON batches).
    public static let defaultMaxBodyBytes = 16 << 20

    public let history: LoopHistory
    public let redactor: Redactor?
    public let host: String
    public let requestedPort: UInt16
    public let maxBodyBytes: Int
    /// Commit after this many accepted requests (1 = every request); pending spans are committed by ``flush()`` and
    /// ``stop()``.
    public let flushEvery: Int

    var server: HTTPServer?
    var runTask: Task<Void, any Error>?
    var pending: [PreparedTraces] = []
    var pendingRequests = 0
    public private(set) var stats = Stats()
    var waiters: [CheckedContinuation<Void, Never>] = []
    let log: (@Sendable (String) -> Void)?

    /// A receiver committing into `history`'s open cycle. `port` 0 picks an ephemeral port (see ``port``).
    /// `host` must be a loopback IPv4 address (the receiver never listens on other interfaces).
    public init(
        history: LoopHistory, redactor: Redactor?, port: UInt16 = TraceReceiver.defaultPort, host: String = "127.0.0.1",
        maxBodyBytes: Int = TraceReceiver.defaultMaxBodyBytes, flushEvery: Int = 1,
        log: (@Sendable (String) -> Void)? = nil
    ) {
        self.history = history
        self.redactor = redactor
        self.requestedPort = port
        self.host = host
        self.maxBodyBytes = maxBodyBytes
        self.flushEvery = max(1, flushEvery)
        self.log = log
    }

    /// Why the receiver could not start.
    public struct StartError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Binds and starts serving in the background; returns once listening.
    public func start() async throws {
        guard server == nil else { return }
        guard host.hasPrefix("127.") || host == "localhost" else {
            throw StartError(description: "the receiver listens on loopback only (127.0.0.1), not \(host)")
        }
        let address: sockaddr_in
        do { address = try .inet(ip4: host == "localhost" ? "127.0.0.1" : host, port: requestedPort) } catch {
            throw StartError(description: "bad host \(host): \(error)")
        }
        let server = HTTPServer(address: address, timeout: 30, logger: .disabled)
        await server.appendRoute("POST /v1/traces") { [weak self] request in
            guard let self else { return HTTPResponse(statusCode: .serviceUnavailable) }
            return await self.handle(request)
        }
        await server.appendRoute("*") { _ in
            Self.text(.notFound, "not found: this receiver accepts POST /v1/traces (OTLP/HTTP, JSON encoding)")
        }
        self.server = server
        runTask = Task { try await server.run() }
        do {
            try await server.waitUntilListening(timeout: 10)
        } catch {
            runTask?.cancel()
            let reason = await Self.failure(of: runTask)
            self.server = nil
            runTask = nil
            throw StartError(description: "cannot listen on \(host):\(requestedPort): \(reason ?? "\(error)")")
        }
    }

    static func failure(of task: Task<Void, any Error>?) async -> String? {
        guard let task else { return nil }
        do { try await task.value; return nil } catch { return "\(error)" }
    }

    /// The port the receiver listens on (the ephemeral one when started with port 0), nil before ``start()``.
    public var port: UInt16? {
        get async {
            guard let server else { return nil }
            switch await server.listeningAddress {
            case .ip4(_, let port)?, .ip6(_, let port)?: return port
            default: return nil
            }
        }
    }

    /// Commits pending spans (with `flushEvery` > 1; a failure is logged and those spans are lost), then stops
    /// listening.
    public func stop() async {
        do { try flush() } catch {
            log?("could not commit \(pending.reduce(0) { $0 + $1.spans.count }) pending span(s): \(error)")
        }
        if let server { await server.stop(timeout: 1) }
        runTask?.cancel()
        server = nil
        runTask = nil
    }

    /// Waits until at least one request has been accepted (and committed, with `flushEvery` 1).
    public func waitForFirstAccepted() async {
        if stats.accepted > 0 { return }
        await withCheckedContinuation { waiters.append($0) }
    }

    /// Commits the spans of the requests accepted since the last commit, as one `traces` commit.
    @discardableResult
    public func flush() throws -> TraceCommitResult? {
        guard !pending.isEmpty else { return nil }
        let batch = pending
        pending = []
        pendingRequests = 0
        var spans: [Span] = []
        var files: [TraceStageFileReport] = []
        var redactions = RedactionReport()
        for p in batch {
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
            // Keep the batch for the next flush (a retried request is de-duplicated then).
            pending = batch + pending
            pendingRequests += batch.count
            throw error
        }
        stats.spansCommitted += result.spansAdded
        stats.spansSkipped += result.spansSkipped + (spans.count - unique.count)
        if let c = result.commit { stats.commits.append(c) }
        log?("committed \(result.spansAdded) span(s) into cycle \(result.cycle)" + (result.commit.map { " (\($0.prefix(7)))" } ?? ""))
        return result
    }

    // MARK: - Requests

    func handle(_ request: HTTPRequest) async -> HTTPResponse {
        let response = await respond(request)
        if response.statusCode == .ok {
            stats.accepted += 1
            let w = waiters
            waiters = []
            for c in w { c.resume() }
        } else {
            stats.refused += 1
        }
        return response
    }

    func respond(_ request: HTTPRequest) async -> HTTPResponse {
        let type = (request.headers[.contentType] ?? "").lowercased()
        let mediaType = type.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        if mediaType.contains("protobuf") || (!mediaType.isEmpty && !mediaType.hasSuffix("json")) {
            return Self.text(
                .unsupportedMediaType,
                "unsupported content type \(mediaType): this receiver accepts OTLP/HTTP with JSON encoding only "
                    + "(Content-Type: application/json); configure the exporter with protocol http/json")
        }
        if let enc = request.headers[.contentEncoding]?.lowercased(), !enc.isEmpty, enc != "identity" {
            return Self.text(.unsupportedMediaType, "unsupported Content-Encoding \(enc): send uncompressed JSON")
        }
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxBodyBytes {
            return Self.tooLarge(length, limit: maxBodyBytes)
        }
        var body = Data()
        do {
            for try await chunk in request.bodySequence {
                body.append(chunk)
                if body.count > maxBodyBytes { return Self.tooLarge(body.count, limit: maxBodyBytes) }
            }
        } catch {
            return Self.text(.badRequest, "cannot read the request body: \(error)")
        }
        if body.isEmpty { return Self.text(.badRequest, "empty body: expected an OTLP/JSON ExportTraceServiceRequest") }
        do { _ = try history.openCycle() } catch {
            return Self.text(.conflict, "not committed: \(error)")
        }
        let prepared: PreparedTraces
        do {
            let spans = try decodeOTLPJSON(body)
            prepared = try TraceStage.prepare(spans: spans, label: "POST /v1/traces", redactor: redactor)
        } catch let e as OTLPDecodingError {
            return Self.text(.badRequest, "invalid OTLP/JSON ExportTraceServiceRequest: \(e.field): \(e.message)")
        } catch {
            return Self.text(.badRequest, "\(error)")
        }
        if prepared.spans.isEmpty { return Self.ok }
        pending.append(prepared)
        pendingRequests += 1
        if pendingRequests >= flushEvery {
            do { try flush() } catch {
                // Nothing was committed; the batch stays pending and the client is told why (a retry is de-duplicated).
                let status: HTTPStatusCode = error is HistoryError ? .conflict : .badRequest
                return Self.text(status, "not committed: \(error)")
            }
        }
        for (k, v) in prepared.report.redactions { stats.redactions[k, default: 0] += v }
        log?("accepted \(prepared.report.spans) span(s) in \(prepared.report.traces) trace(s)")
        return Self.ok
    }

    static var ok: HTTPResponse {
        HTTPResponse(statusCode: .ok, headers: [.contentType: "application/json"], body: Data("{}".utf8))
    }

    static func tooLarge(_ n: Int, limit: Int) -> HTTPResponse {
        var r = text(.payloadTooLarge, "request body of \(n)+ bytes is over the limit of \(limit) bytes (--max-body-bytes)")
        r.headers[.connection] = "close"
        return r
    }

    /// A JSON error body in OTLP's `Status` shape (`{"code", "message"}`, code a gRPC status code), which
    /// exporters log.
    static func text(_ status: HTTPStatusCode, _ message: String) -> HTTPResponse {
        let grpc: Int64
        switch status.code {
        case 404: grpc = 5  // NOT_FOUND
        case 409: grpc = 9  // FAILED_PRECONDITION
        case 413: grpc = 8  // RESOURCE_EXHAUSTED
        case 503: grpc = 14  // UNAVAILABLE
        default: grpc = 3  // INVALID_ARGUMENT
        }
        let body = OrderedJSON.obj([("code", .int(grpc)), ("message", .string(message))]).text()
        return HTTPResponse(statusCode: status, headers: [.contentType: "application/json"], body: Data(body.utf8))
    }
}
