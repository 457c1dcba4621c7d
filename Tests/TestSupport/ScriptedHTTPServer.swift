import Foundation

/// A real HTTP/1.0 server on 127.0.0.1 (a small Python `http.server` child process) that answers each
/// request with the next scripted `Step`, then with `default` once the script is used up, and logs
/// every request it receives. For offline tests of HTTP clients and model endpoints.
///
/// Stopped by `stop()` or when released.
public final class ScriptedHTTPServer: @unchecked Sendable {
    /// One scripted answer.
    public struct Step: Sendable {
        /// Status code (default 200).
        public var status: Int
        /// Extra header fields.
        public var headers: [String: String]
        /// Body text; repeated `repeatCount` times.
        public var body: String
        public var repeatCount: Int
        /// Seconds to sleep before answering.
        public var delay: Double
        /// A `Content-Length` to announce instead of the real one (larger = truncated body).
        public var contentLength: Int?
        /// Write only this many bytes of the body, then close.
        public var truncateAt: Int?
        /// Answer with JSON echoing method, path, lower-cased headers and body.
        public var echo: Bool
        /// Close the connection without any answer.
        public var drop: Bool

        public init(
            status: Int = 200, headers: [String: String] = [:], body: String = "", repeatCount: Int = 1,
            delay: Double = 0, contentLength: Int? = nil, truncateAt: Int? = nil, echo: Bool = false,
            drop: Bool = false
        ) {
            self.status = status
            self.headers = headers
            self.body = body
            self.repeatCount = repeatCount
            self.delay = delay
            self.contentLength = contentLength
            self.truncateAt = truncateAt
            self.echo = echo
            self.drop = drop
        }

        /// A JSON answer.
        public static func json(_ status: Int = 200, _ body: String, headers: [String: String] = [:]) -> Step {
            var h = headers
            h["Content-Type"] = "application/json"
            return Step(status: status, headers: h, body: body)
        }

        /// An echo answer (status 200 unless given).
        public static func echo(status: Int = 200) -> Step { Step(status: status, echo: true) }

        var jsonObject: [String: Any] {
            var o: [String: Any] = [
                "status": status, "headers": headers, "body": body, "repeat": repeatCount, "delay": delay,
                "echo": echo, "drop": drop,
            ]
            if let contentLength { o["content_length"] = contentLength }
            if let truncateAt { o["truncate_at"] = truncateAt }
            return o
        }
    }

    /// One request the server received.
    public struct Request: Sendable {
        public var index: Int
        public var method: String
        public var path: String
        /// Header fields with lower-cased names (last one wins on repeats).
        public var headers: [String: String]
        public var body: String
    }

    /// The port the server listens on.
    public let port: Int
    /// `http://127.0.0.1:PORT`.
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    private let server: PythonServer
    private let folder: URL
    private let logFile: URL

    /// Starts a server answering with `steps` in order, then with `default` (an echo unless given).
    /// - Throws: when Python cannot start or does not report its port within 10 seconds.
    public init(steps: [Step], default fallback: Step = .echo()) throws {
        folder = TestPaths.scratch("http-server")
        logFile = folder.appendingPathComponent("requests.jsonl")
        let stepsFile = folder.appendingPathComponent("steps.json")
        let script: [String: Any] = ["steps": steps.map(\.jsonObject), "default": fallback.jsonObject]
        try JSONSerialization.data(withJSONObject: script).write(to: stepsFile)

        server = try PythonServer(script: Self.python, arguments: [stepsFile.path, logFile.path], in: folder)
        port = server.port
    }

    /// Stops the server and waits for it to exit. Idempotent.
    public func stop() { server.stop() }

    /// The requests received so far, in arrival order.
    public func requests() -> [Request] {
        guard let text = try? String(contentsOf: logFile, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return Request(
                index: o["index"] as? Int ?? -1, method: o["method"] as? String ?? "", path: o["path"] as? String ?? "",
                headers: o["headers"] as? [String: String] ?? [:], body: o["body"] as? String ?? "")
        }.sorted { $0.index < $1.index }
    }

    static let python = #"""
        import json, signal, sys, threading, time
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

        script = json.load(open(sys.argv[1]))
        steps, fallback, log_path = script["steps"], script["default"], sys.argv[2]
        lock = threading.Lock()
        counter = [0]

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):
                pass

            def handle_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                record = {"method": self.command, "path": self.path, "headers": headers,
                          "body": body.decode("utf-8", "replace")}
                with lock:
                    i = counter[0]
                    counter[0] += 1
                    step = steps[i] if i < len(steps) else fallback
                    record["index"] = i
                    with open(log_path, "a") as f:
                        f.write(json.dumps(record) + "\n")
                if step.get("delay"):
                    time.sleep(step["delay"])
                if step.get("drop"):
                    self.close_connection = True
                    return
                if step.get("echo"):
                    payload = json.dumps(record, sort_keys=True).encode()
                else:
                    payload = step.get("body", "").encode() * step.get("repeat", 1)
                try:
                    self.send_response(step.get("status", 200))
                    for k, v in step.get("headers", {}).items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(step.get("content_length", len(payload))))
                    self.end_headers()
                    if self.command != "HEAD":
                        cut = step.get("truncate_at")
                        self.wfile.write(payload if cut is None else payload[:cut])
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = handle_any

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            def handle_error(self, request, client_address):
                pass

        server = Server(("127.0.0.1", 0), Handler)
        print(server.server_address[1], flush=True)
        server.serve_forever()
        """#
}
