import Foundation
internal import CCurl

/// Sends HTTP requests through libcurl, synchronously: one easy handle per request, made and
/// freed inside `send`, so nothing C-owned outlives the call and the client is freely `Sendable`.
public struct HTTPClient: Sendable {
    /// The `User-Agent` sent when the request sets none.
    public var userAgent: String

    /// A client.
    /// - Parameter userAgent: default `User-Agent` (default `flywheel/1`).
    public init(userAgent: String = "flywheel/1") { self.userAgent = userAgent }

    /// The linked libcurl's version text.
    public static var curlVersion: String { LibCurl.version }

    /// Sends `request` and waits for the whole response.
    ///
    /// HTTP error statuses (4xx, 5xx) are returned as responses, not thrown.
    /// - Parameter request: what to send and the limits.
    /// - Returns: the response with status, headers and complete body.
    /// - Throws: `HTTPError` when no complete response arrived: could not connect, timed out,
    ///   body over `maxResponseBytes`, connection closed early, bad URL, other transport errors.
    public func send(_ request: HTTPRequest) throws(HTTPError) -> HTTPResponse {
        let easy = try EasyHandle(url: request.url, maxResponseBytes: request.maxResponseBytes)
        try configure(easy, for: request)
        try easy.perform()
        let status = easy.info(CURLINFO_RESPONSE_CODE)
        return HTTPResponse(
            status: status, headers: easy.sink.headers, body: easy.sink.body,
            totalTime: easy.info(double: CURLINFO_TOTAL_TIME))
    }

    private func configure(_ easy: EasyHandle, for request: HTTPRequest) throws(HTTPError) {
        try easy.installCallbacks()
        try easy.set(CURLOPT_URL, request.url)
        try easy.set(CURLOPT_NOSIGNAL, 1)
        try easy.set(CURLOPT_PROTOCOLS_STR, "http,https,file")
        try easy.set(CURLOPT_TIMEOUT_MS, Self.milliseconds(request.timeout))
        try easy.set(CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(request.connectTimeout))
        if request.maxResponseBytes >= 0 {
            // Refuses early when Content-Length already says too much; the write callback covers the rest.
            try easy.set(CURLOPT_MAXFILESIZE_LARGE, offset: Int64(request.maxResponseBytes))
        }
        if request.followRedirects {
            try easy.set(CURLOPT_FOLLOWLOCATION, 1)
            try easy.set(CURLOPT_MAXREDIRS, 5)
            try easy.set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        }

        let method = request.method.uppercased()
        switch method {
        case "GET": try easy.set(CURLOPT_HTTPGET, 1)
        case "HEAD": try easy.set(CURLOPT_NOBODY, 1)
        case "POST": break
        default: try easy.set(CURLOPT_CUSTOMREQUEST, method)
        }
        if method == "POST" || request.body != nil {
            let body = request.body ?? Data()
            // Size first, then COPYPOSTFIELDS: libcurl copies exactly that many bytes (binary-safe).
            try easy.set(CURLOPT_POSTFIELDSIZE_LARGE, offset: Int64(body.count))
            var bytes = [CChar](repeating: 0, count: body.count + 1)
            bytes.withUnsafeMutableBytes { raw in _ = body.copyBytes(to: raw) }
            let rc = bytes.withUnsafeMutableBufferPointer {
                fw_curl_setopt_ptr(easy.handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer($0.baseAddress))
            }
            try easy.check(rc, "curl_easy_setopt")
        }

        var lines: [String] = []
        for field in request.headers {
            // libcurl sends `Name;` for an empty value and drops `Name:` (lets callers remove defaults).
            let clean = field.value.filter { $0 != "\r" && $0 != "\n" }
            lines.append(clean.isEmpty ? "\(field.name);" : "\(field.name): \(clean)")
        }
        if request.headers["User-Agent"] == nil { lines.append("User-Agent: \(userAgent)") }
        if request.headers["Expect"] == nil { lines.append("Expect:") }  // no 100-continue round trip
        try easy.setHeaders(lines)
    }

    private static func milliseconds(_ seconds: Double) -> Int {
        guard seconds.isFinite, seconds > 0 else { return 0 }
        return max(1, Int((seconds * 1000).rounded()))
    }
}
