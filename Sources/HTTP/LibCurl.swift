internal import CCurl

/// One-time libcurl set-up (`curl_global_init`), done lazily and thread-safely on first use.
///
/// Swift runs a `static let` initialiser exactly once, so every `EasyHandle` references
/// `LibCurl.initialized` first. libcurl is never shut down: `curl_global_cleanup` racing
/// OpenSSL's atexit handlers is a known crash, and handles are all freed before `send` returns.
enum LibCurl {
    /// The result of `curl_global_init(CURL_GLOBAL_DEFAULT)`; zero on success.
    static let initialized: Int32 = {
        Int32(bitPattern: curl_global_init(Int(CURL_GLOBAL_DEFAULT)).rawValue)
    }()

    /// The libcurl version text (e.g. `libcurl/7.88.1 OpenSSL/3.0.11 …`).
    static var version: String {
        guard let text = curl_version() else { return "unknown" }
        return String(cString: text)
    }
}
