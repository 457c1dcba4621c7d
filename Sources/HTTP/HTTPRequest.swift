import Foundation

/// One HTTP request: what to send, and the limits of the exchange.
public struct HTTPRequest: Sendable, Hashable {
    /// The method, upper case (`GET`, `POST`, `PUT`, `DELETE`, `PATCH`, `HEAD`, …).
    public var method: String
    /// The absolute URL: `http`, `https` or `file`.
    public var url: String
    /// Request header fields, sent in order.
    public var headers: HTTPHeaders
    /// The body; nil sends none (a `POST` with a nil body sends an empty one).
    public var body: Data?
    /// Limit for the whole exchange, seconds (connect + send + receive).
    public var timeout: Double
    /// Limit for establishing the connection, seconds.
    public var connectTimeout: Double
    /// The largest body accepted; a longer one aborts the transfer with `HTTPError.Kind.responseTooLarge`.
    public var maxResponseBytes: Int
    /// Whether to follow `3xx` redirects (at most 5, `http`/`https` only).
    public var followRedirects: Bool

    /// A request.
    /// - Parameters:
    ///   - method: the HTTP method (default `GET`).
    ///   - url: the absolute URL.
    ///   - headers: request header fields.
    ///   - body: the body, if any.
    ///   - timeout: whole-exchange limit in seconds (default 60).
    ///   - connectTimeout: connect limit in seconds (default 10).
    ///   - maxResponseBytes: body size limit (default 16 MiB).
    ///   - followRedirects: follow redirects (default false).
    public init(
        method: String = "GET", url: String, headers: HTTPHeaders = HTTPHeaders(), body: Data? = nil,
        timeout: Double = 60, connectTimeout: Double = 10, maxResponseBytes: Int = 16 << 20,
        followRedirects: Bool = false
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.maxResponseBytes = maxResponseBytes
        self.followRedirects = followRedirects
    }
}

/// A complete HTTP response. Error statuses (4xx, 5xx) are responses too: callers decide.
public struct HTTPResponse: Sendable, Hashable {
    /// The status code (200, 404, …); 0 for `file://` URLs, which have none.
    public var status: Int
    /// Header fields of the final response, in order, case-insensitive lookup.
    public var headers: HTTPHeaders
    /// The body, complete.
    public var body: Data
    /// Wall time of the exchange as libcurl measured it, seconds.
    public var totalTime: Double

    /// A response (mainly for tests and fakes).
    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: Data = Data(), totalTime: Double = 0) {
        self.status = status
        self.headers = headers
        self.body = body
        self.totalTime = totalTime
    }

    /// The body decoded as UTF-8 (invalid sequences replaced).
    public var text: String { String(decoding: body, as: UTF8.self) }

    /// True for 2xx statuses (and for `file://`, status 0).
    public var isSuccess: Bool { (200..<300).contains(status) || status == 0 }
}
