import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A small HTTP/1.1 server for the trace receiver, bound to a loopback address, built for hostile clients: a header
/// size limit (431), a header time limit and a per-read timeout (408 / close), a body size limit checked before
/// the body is read (413), a cap on open connections (503), and a ``stop()`` that always returns: it closes the
/// listening socket, shuts every open connection and waits for requests in progress to be answered.
///
/// One thread per connection (connections are few: exporters on this machine); requests on a connection are
/// served in turn (keep-alive). Bodies need `Content-Length` (OTLP exporters send it); chunked bodies get 411.
package final class LoopbackHTTPServer: @unchecked Sendable {
    package struct Limits: Sendable {
        /// Request line plus headers, bytes.
        package var maxHeaderBytes = 16 * 1024
        /// Time to receive the request line and headers, from the request's first byte.
        package var headerTimeout: TimeInterval = 10
        /// Longest wait for any one read (also the keep-alive idle time).
        package var readTimeout: TimeInterval = 10
        /// Time to receive the whole body.
        package var bodyTimeout: TimeInterval = 60
        /// Largest body read off the socket, bytes.
        package var maxBodyBytes = 16 << 20
        /// Open connections at once.
        package var maxConnections = 64

        package init() {}
    }

    package struct Head: Sendable {
        package var method: String
        package var path: String
        /// Lowercased names.
        package var headers: [String: String]
        package func header(_ name: String) -> String? { headers[name.lowercased()] }
    }

    package struct Response: Sendable {
        package var status: Int
        package var headers: [String: String] = [:]
        package var body: Data = Data()
        package var close = false

        package init(status: Int, headers: [String: String] = [:], body: Data = Data(), close: Bool = false) {
            self.status = status
            self.headers = headers
            self.body = body
            self.close = close
        }
    }

    /// Checked after the headers, before any of the body is read; a response here ends the request.
    package typealias Preflight = @Sendable (Head) -> Response?
    package typealias Handler = @Sendable (Head, Data) -> Response

    package let host: String
    package let requestedPort: UInt16
    package let limits: Limits
    package let preflight: Preflight
    package let handler: Handler

    private let lock = NSLock()
    private var listenFD: Int32 = -1
    private var connections: Set<Int32> = []
    private var stopping = false
    private var acceptThreadDone = DispatchSemaphore(value: 0)
    private let active = DispatchGroup()
    package private(set) var port: UInt16 = 0

    package init(host: String, port: UInt16, limits: Limits, preflight: @escaping Preflight, handler: @escaping Handler) {
        self.host = host
        self.requestedPort = port
        self.limits = limits
        self.preflight = preflight
        self.handler = handler
    }

    package struct StartError: Error, CustomStringConvertible {
        package var description: String
    }

    /// Binds, listens and starts accepting on a background thread.
    package func start() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw StartError(description: "socket(): \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = requestedPort.bigEndian
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else {
            close(fd)
            throw StartError(description: "bad IPv4 address \(host)")
        }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            throw StartError(description: why)
        }
        var actual = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        port = UInt16(bigEndian: actual.sin_port)
        lock.withLock { listenFD = fd }
        let t = Thread { [self] in acceptLoop(fd) }
        t.name = "flywheel-receiver-accept"
        t.start()
    }

    /// Stops accepting, shuts open connections and waits (up to `timeout` seconds) for requests in progress.
    package func stop(timeout: TimeInterval = 5) {
        let (fd, open): (Int32, Set<Int32>) = lock.withLock {
            stopping = true
            let fd = listenFD
            listenFD = -1
            return (fd, connections)
        }
        guard fd >= 0 else { return }
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
        // Shutting the read side wakes threads blocked in poll/recv; a handler already running still answers.
        for c in open { shutdown(c, Int32(SHUT_RD)) }
        _ = acceptThreadDone.wait(timeout: .now() + timeout)
        _ = active.wait(timeout: .now() + timeout)
    }

    private func acceptLoop(_ fd: Int32) {
        defer { acceptThreadDone.signal() }
        while true {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&pfd, 1, 200)
            if lock.withLock({ stopping }) { return }
            if r <= 0 { continue }
            let c = accept(fd, nil, nil)
            if c < 0 {
                if errno == EINTR || errno == EAGAIN || errno == ECONNABORTED { continue }
                if lock.withLock({ stopping }) { return }
                usleep(10_000)
                continue
            }
            var noSigPipe: Int32 = 1
            #if canImport(Darwin)
            setsockopt(c, SOL_SOCKET, SO_NOSIGPIPE, &noSigPipe, socklen_t(MemoryLayout<Int32>.size))
            #else
            _ = noSigPipe
            #endif
            let admitted: Bool = lock.withLock {
                if stopping || connections.count >= limits.maxConnections { return false }
                connections.insert(c)
                return true
            }
            if !admitted {
                send(c, Self.encode(Response(status: 503, headers: ["Content-Type": "text/plain"], body: Data("too many connections\n".utf8), close: true)))
                close(c)
                continue
            }
            active.enter()
            let t = Thread { [self] in
                serve(c)
                lock.withLock { _ = connections.remove(c) }
                close(c)
                active.leave()
            }
            t.name = "flywheel-receiver-conn"
            t.start()
        }
    }

    // MARK: - One connection

    enum ReadResult {
        case data(Int)
        case closed
        case timedOut
    }

    /// Waits up to `deadline` (and at most the read timeout) for bytes.
    private func read(_ c: Int32, into buf: inout [UInt8], deadline: Date) -> ReadResult {
        let wait = min(deadline.timeIntervalSinceNow, limits.readTimeout)
        if wait <= 0 { return .timedOut }
        var pfd = pollfd(fd: c, events: Int16(POLLIN), revents: 0)
        let r = poll(&pfd, 1, Int32(max(1, (wait * 1000).rounded(.up))))
        if r == 0 { return .timedOut }
        if r < 0 { return errno == EINTR ? .data(0) : .closed }
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let n = recv(c, &chunk, chunk.count, 0)
        if n <= 0 { return .closed }
        buf.append(contentsOf: chunk[0..<n])
        return .data(n)
    }

    private func serve(_ c: Int32) {
        var buffer: [UInt8] = []
        while !lock.withLock({ stopping }) {
            // Headers: wait (idle) for the first byte, then the whole head within the header time limit.
            if buffer.isEmpty {
                switch read(c, into: &buffer, deadline: Date().addingTimeInterval(limits.readTimeout)) {
                case .closed, .timedOut: return
                case .data: break
                }
            }
            let headDeadline = Date().addingTimeInterval(limits.headerTimeout)
            var headEnd: Int?
            while true {
                if let e = Self.find(buffer, [13, 10, 13, 10]) {
                    headEnd = e
                    break
                }
                if buffer.count > limits.maxHeaderBytes {
                    reply(c, Self.error(431, "request headers over \(limits.maxHeaderBytes) bytes"))
                    return
                }
                switch read(c, into: &buffer, deadline: headDeadline) {
                case .closed: return
                case .timedOut:
                    reply(c, Self.error(408, "request headers not received within \(Int(limits.headerTimeout)) s"))
                    return
                case .data: continue
                }
            }
            guard let headEnd, headEnd <= limits.maxHeaderBytes else {
                reply(c, Self.error(431, "request headers over \(limits.maxHeaderBytes) bytes"))
                return
            }
            guard let head = Self.parseHead(buffer[0..<headEnd]) else {
                reply(c, Self.error(400, "malformed HTTP request"))
                return
            }
            buffer.removeFirst(headEnd + 4)
            let keepAlive = head.header("connection")?.lowercased() != "close"
            if let te = head.header("transfer-encoding"), te.lowercased() != "identity" {
                reply(c, Self.error(411, "chunked bodies are not accepted: send Content-Length"))
                return
            }
            let lengthText = head.header("content-length") ?? "0"
            guard let length = Int(lengthText), length >= 0 else {
                reply(c, Self.error(400, "bad Content-Length"))
                return
            }
            if var early = preflight(head) {
                // The body is not read: the connection cannot be reused unless there is none.
                early.close = early.close || length > 0 || !keepAlive
                reply(c, early)
                if early.close { return }
                continue
            }
            if length > limits.maxBodyBytes {
                reply(c, Self.error(413, "request body of \(length) bytes is over the limit of \(limits.maxBodyBytes) bytes (--max-body-bytes)"))
                return
            }
            let bodyDeadline = Date().addingTimeInterval(limits.bodyTimeout)
            while buffer.count < length {
                switch read(c, into: &buffer, deadline: bodyDeadline) {
                case .closed: return
                case .timedOut:
                    reply(c, Self.error(408, "request body not received in time"))
                    return
                case .data: continue
                }
            }
            let body = Data(buffer[0..<length])
            buffer.removeFirst(length)
            var response = runHandler(head, body)
            response.close = response.close || !keepAlive
            reply(c, response)
            if response.close { return }
        }
    }

    private func runHandler(_ head: Head, _ body: Data) -> Response {
        handler(head, body)
    }

    private func reply(_ c: Int32, _ r: Response) {
        send(c, Self.encode(r))
    }

    private func send(_ c: Int32, _ data: Data) {
        data.withUnsafeBytes { (buf: UnsafeRawBufferPointer) in
            var off = 0
            while off < buf.count {
                #if canImport(Glibc)
                let n = Glibc.send(c, buf.baseAddress! + off, buf.count - off, Int32(MSG_NOSIGNAL))
                #else
                let n = Darwin.send(c, buf.baseAddress! + off, buf.count - off, 0)
                #endif
                if n <= 0 { return }
                off += n
            }
        }
    }

    static let reasons: [Int: String] = [
        200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
        409: "Conflict", 411: "Length Required", 413: "Content Too Large", 415: "Unsupported Media Type",
        431: "Request Header Fields Too Large", 500: "Internal Server Error", 503: "Service Unavailable",
    ]

    static func encode(_ r: Response) -> Data {
        var text = "HTTP/1.1 \(r.status) \(reasons[r.status] ?? "Status")\r\n"
        var headers = r.headers
        headers["Content-Length"] = String(r.body.count)
        headers["Connection"] = r.close ? "close" : "keep-alive"
        for (k, v) in headers.sorted(by: { $0.key < $1.key }) { text += "\(k): \(v)\r\n" }
        text += "\r\n"
        var d = Data(text.utf8)
        d.append(r.body)
        return d
    }

    static func error(_ status: Int, _ message: String) -> Response {
        Response(status: status, headers: ["Content-Type": "text/plain; charset=utf-8"], body: Data((message + "\n").utf8), close: true)
    }

    static func find(_ hay: [UInt8], _ needle: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        var i = 0
        while i + needle.count <= hay.count {
            if hay[i] == needle[0], hay[i + 1] == needle[1], hay[i + 2] == needle[2], hay[i + 3] == needle[3] { return i }
            i += 1
        }
        return nil
    }

    static func parseHead(_ bytes: ArraySlice<UInt8>) -> Head? {
        let text = String(decoding: bytes, as: UTF8.self)
        var lines = text.components(separatedBy: "\r\n")
        guard !lines.isEmpty else { return nil }
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count == 3, requestLine[2].hasPrefix("HTTP/1.") else { return nil }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { return nil }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty else { return nil }
            if let old = headers[name] {
                // A repeated Content-Length with a different value is request smuggling bait.
                if name == "content-length" {
                    if old != value { return nil }
                    continue
                }
                headers[name] = old + ", " + value
            } else {
                headers[name] = value
            }
        }
        let target = String(requestLine[1])
        let path = String(target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
        return Head(method: String(requestLine[0]), path: path, headers: headers)
    }
}
