/// Why an HTTP exchange produced no complete response. An HTTP error status is *not* an
/// `HTTPError`: it arrives as an `HTTPResponse`.
public struct HTTPError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The broad class of failure.
    public enum Kind: String, Sendable, Hashable {
        /// Could not resolve or connect to the host (refused, unreachable).
        case couldNotConnect
        /// The time limit (`timeout` or `connectTimeout`) ran out.
        case timedOut
        /// The body exceeded `maxResponseBytes`; the transfer was aborted.
        case responseTooLarge
        /// The connection closed before the whole body arrived (shorter than `Content-Length`), or
        /// the server sent nothing.
        case truncated
        /// The URL is malformed or its scheme unsupported, or the request could not be set up.
        case invalidRequest
        /// Any other transport failure (TLS, send/receive error, file read, …).
        case transport
    }

    /// The class of failure.
    public var kind: Kind
    /// libcurl's `CURLcode` (0 when the failure did not come from libcurl).
    public var curlCode: Int
    /// The libcurl function (or step) that failed, e.g. `curl_easy_perform`.
    public var function: String
    /// `curl_easy_strerror` text plus the detail libcurl wrote to its error buffer.
    public var message: String
    /// The URL requested, without user info, query or fragment.
    public var url: String

    /// An error.
    public init(kind: Kind, curlCode: Int = 0, function: String, message: String, url: String) {
        self.kind = kind
        self.curlCode = curlCode
        self.function = function
        self.message = message
        self.url = url
    }

    /// True when trying again may help (connection failures, timeouts, truncated bodies, send/receive errors).
    public var isTransient: Bool {
        switch kind {
        case .couldNotConnect, .timedOut, .truncated: return true
        case .transport: return curlCode == 55 || curlCode == 56  // CURLE_SEND_ERROR, CURLE_RECV_ERROR
        case .responseTooLarge, .invalidRequest: return false
        }
    }

    public var description: String {
        let code = curlCode != 0 ? " (curl \(curlCode))" : ""
        return "HTTP \(kind.rawValue) error\(code) in \(function) for \(url): \(message)"
    }
}
