import Foundation

/// When and how long to wait before trying a model call again: exponential backoff with jitter,
/// honouring the server's `Retry-After` (seconds or HTTP date) and `retry-after-ms`.
public struct RetryPolicy: Sendable, Hashable {
    /// Retries after the first attempt (0 = try once).
    public var maxRetries: Int
    /// Wait before the first retry, seconds; doubles each retry.
    public var baseDelay: Double
    /// Upper bound of the computed backoff, seconds.
    public var maxDelay: Double
    /// Upper bound of a server-requested wait, seconds.
    public var maxRetryAfter: Double

    /// A policy.
    /// - Parameters:
    ///   - maxRetries: retries after the first attempt (default 3).
    ///   - baseDelay: first backoff, seconds (default 0.5).
    ///   - maxDelay: backoff cap, seconds (default 20).
    ///   - maxRetryAfter: cap of server-requested waits, seconds (default 60).
    public init(maxRetries: Int = 3, baseDelay: Double = 0.5, maxDelay: Double = 20, maxRetryAfter: Double = 60) {
        self.maxRetries = max(0, maxRetries)
        self.baseDelay = max(0, baseDelay)
        self.maxDelay = max(0, maxDelay)
        self.maxRetryAfter = max(0, maxRetryAfter)
    }

    /// True for statuses worth another attempt: 408, 429 and 5xx.
    public static func isRetryable(status: Int) -> Bool { status == 408 || status == 429 || status >= 500 }

    /// The wait before retry number `retry` (0-based): the server's request when it made one (capped
    /// by `maxRetryAfter`), otherwise `baseDelay · 2^retry` capped by `maxDelay`, with "equal jitter"
    /// (uniform in the upper half), so concurrent clients spread out.
    /// - Parameters:
    ///   - retry: 0 for the first retry.
    ///   - retryAfter: the server's requested wait, seconds, if any.
    /// - Returns: seconds to wait.
    public func delay(beforeRetry retry: Int, retryAfter: Double?) -> Double {
        if let retryAfter { return min(max(0, retryAfter), maxRetryAfter) }
        let exponential = min(maxDelay, baseDelay * pow(2, Double(min(retry, 30))))
        return exponential / 2 + Double.random(in: 0...1) * exponential / 2
    }

    /// Parses the wait a server asked for: `retry-after-ms` (milliseconds), else `Retry-After` as
    /// delta-seconds or as an HTTP date (relative to `now`). Nil when absent or unreadable.
    /// - Parameters:
    ///   - retryAfter: the `Retry-After` value.
    ///   - retryAfterMs: the `retry-after-ms` value.
    ///   - now: the current time.
    /// - Returns: seconds, never negative, or nil.
    public static func parseRetryAfter(_ retryAfter: String?, retryAfterMs: String? = nil, now: Date = Date()) -> Double? {
        if let ms = retryAfterMs.flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) }), ms.isFinite, ms >= 0 {
            return ms / 1000
        }
        guard let text = retryAfter?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
        if let seconds = Double(text) { return seconds.isFinite && seconds >= 0 ? seconds : nil }
        for format in httpDateFormats {
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.timeZone = TimeZone(identifier: "GMT")
            f.dateFormat = format
            if let date = f.date(from: text) { return max(0, date.timeIntervalSince(now)) }
        }
        return nil
    }

    /// IMF-fixdate, RFC 850 and asctime forms (RFC 9110 §5.6.7).
    private static let httpDateFormats = ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"]
}
