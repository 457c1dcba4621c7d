import Foundation
internal import CCurl

/// Owns one `CURL*` easy handle plus everything libcurl reads during a transfer (header list,
/// error buffer, response sink). Single owner, never leaves the function that made it; the
/// handle and list are freed in `deinit` (`curl_easy_cleanup`, `curl_slist_free_all`).
final class EasyHandle {
    let handle: UnsafeMutableRawPointer
    private var headerList: UnsafeMutablePointer<curl_slist>?
    /// libcurl writes failure details here (`CURLOPT_ERRORBUFFER`); lives as long as the handle.
    let errorBuffer: UnsafeMutablePointer<CChar>
    let sink: ResponseSink
    let url: String

    /// Creates the handle.
    /// - Throws: `HTTPError` when libcurl cannot initialise or allocate a handle.
    init(url: String, maxResponseBytes: Int) throws(HTTPError) {
        self.url = url
        guard LibCurl.initialized == 0 else {
            throw HTTPError(
                kind: .transport, curlCode: Int(LibCurl.initialized), function: "curl_global_init",
                message: "libcurl failed to initialise", url: Self.redacted(url))
        }
        guard let h = curl_easy_init() else {
            throw HTTPError(
                kind: .transport, function: "curl_easy_init", message: "could not allocate a handle",
                url: Self.redacted(url))
        }
        handle = h
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        sink = ResponseSink(limit: maxResponseBytes)
    }

    deinit {
        curl_easy_cleanup(handle)
        if let headerList { curl_slist_free_all(headerList) }
        errorBuffer.deallocate()
    }

    // MARK: - Options

    /// - SeeAlso: curl_easy_setopt (long argument)
    func set(_ option: CURLoption, _ value: Int) throws(HTTPError) {
        try check(fw_curl_setopt_long(handle, option, value), "curl_easy_setopt")
    }

    /// - SeeAlso: curl_easy_setopt (string argument, copied by libcurl)
    func set(_ option: CURLoption, _ value: String) throws(HTTPError) {
        try check(fw_curl_setopt_str(handle, option, value), "curl_easy_setopt")
    }

    /// - SeeAlso: curl_easy_setopt (`curl_off_t` argument)
    func set(_ option: CURLoption, offset value: Int64) throws(HTTPError) {
        try check(fw_curl_setopt_off(handle, option, curl_off_t(value)), "curl_easy_setopt")
    }

    /// Sets the request header list (`CURLOPT_HTTPHEADER`); the list lives until `deinit`.
    func setHeaders(_ lines: [String]) throws(HTTPError) {
        var list: UnsafeMutablePointer<curl_slist>? = nil
        for line in lines {
            guard let next = curl_slist_append(list, line) else {
                if let list { curl_slist_free_all(list) }
                throw HTTPError(
                    kind: .invalidRequest, function: "curl_slist_append", message: "could not add a header",
                    url: Self.redacted(url))
            }
            list = next
        }
        if let old = headerList { curl_slist_free_all(old) }
        headerList = list
        try check(fw_curl_setopt_ptr(handle, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(list)), "curl_easy_setopt")
    }

    /// Installs the error buffer and the body/header callbacks that fill `sink`.
    func installCallbacks() throws(HTTPError) {
        try check(fw_curl_setopt_ptr(handle, CURLOPT_ERRORBUFFER, UnsafeMutableRawPointer(errorBuffer)), "curl_easy_setopt")
        let context = Unmanaged.passUnretained(sink).toOpaque()
        try check(fw_curl_setopt_write(handle, CURLOPT_WRITEFUNCTION, Self.writeBody), "curl_easy_setopt")
        try check(fw_curl_setopt_ptr(handle, CURLOPT_WRITEDATA, context), "curl_easy_setopt")
        try check(fw_curl_setopt_write(handle, CURLOPT_HEADERFUNCTION, Self.writeHeader), "curl_easy_setopt")
        try check(fw_curl_setopt_ptr(handle, CURLOPT_HEADERDATA, context), "curl_easy_setopt")
    }

    // MARK: - Transfer

    /// Runs the transfer (`curl_easy_perform`), blocking until it ends.
    /// - Throws: `HTTPError` classified from the `CURLcode` and the sink's state.
    func perform() throws(HTTPError) {
        let rc = withExtendedLifetime(sink) { curl_easy_perform(handle) }
        if rc == CURLE_OK { return }
        if sink.overflowed || rc == CURLE_FILESIZE_EXCEEDED {
            throw HTTPError(
                kind: .responseTooLarge, curlCode: Int(rc.rawValue), function: "curl_easy_perform",
                message: "response body exceeds the limit of \(sink.limit) bytes", url: Self.redacted(url))
        }
        throw error(rc, "curl_easy_perform")
    }

    /// - SeeAlso: curl_easy_getinfo (`long` result)
    func info(_ item: CURLINFO) -> Int {
        var value = 0
        return fw_curl_getinfo_long(handle, item, &value) == CURLE_OK ? value : 0
    }

    /// - SeeAlso: curl_easy_getinfo (`double` result)
    func info(double item: CURLINFO) -> Double {
        var value = 0.0
        return fw_curl_getinfo_double(handle, item, &value) == CURLE_OK ? value : 0
    }

    // MARK: - Errors

    func check(_ rc: CURLcode, _ function: String) throws(HTTPError) {
        if rc != CURLE_OK { throw error(rc, function) }
    }

    /// Builds the error right after the failing call: strerror text plus the error buffer's detail.
    func error(_ rc: CURLcode, _ function: String) -> HTTPError {
        let summary = String(cString: curl_easy_strerror(rc))
        let detail = String(cString: errorBuffer)
        var message = summary
        if !detail.isEmpty && detail != summary { message += ": " + detail.trimmingCharacters(in: .whitespacesAndNewlines) }
        return HTTPError(kind: Self.kind(rc), curlCode: Int(rc.rawValue), function: function, message: message, url: Self.redacted(url))
    }

    static func kind(_ rc: CURLcode) -> HTTPError.Kind {
        switch rc {
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: return .couldNotConnect
        case CURLE_OPERATION_TIMEDOUT: return .timedOut
        case CURLE_PARTIAL_FILE, CURLE_GOT_NOTHING: return .truncated
        case CURLE_FILESIZE_EXCEEDED: return .responseTooLarge
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL, CURLE_BAD_FUNCTION_ARGUMENT, CURLE_UNKNOWN_OPTION,
            CURLE_NOT_BUILT_IN:
            return .invalidRequest
        default: return .transport
        }
    }

    /// The URL without user info, query or fragment (those may carry secrets).
    static func redacted(_ url: String) -> String {
        guard var parts = URLComponents(string: url) else {
            return String(url.prefix { $0 != "?" && $0 != "#" })
        }
        parts.user = nil
        parts.password = nil
        parts.query = nil
        parts.fragment = nil
        return parts.string ?? String(url.prefix { $0 != "?" && $0 != "#" })
    }

    // MARK: - Callbacks

    /// `CURLOPT_WRITEFUNCTION`: appends to the sink; returns 0 (abort) once the limit is passed.
    static let writeBody: curl_write_callback = { data, size, count, context in
        guard let context else { return 0 }
        let sink = Unmanaged<ResponseSink>.fromOpaque(context).takeUnretainedValue()
        let n = size * count
        if sink.body.count + n > sink.limit {
            sink.overflowed = true
            return 0
        }
        if let data, n > 0 { data.withMemoryRebound(to: UInt8.self, capacity: n) { sink.body.append($0, count: n) } }
        return n
    }

    /// `CURLOPT_HEADERFUNCTION`: one header line per call; a status line starts a new header block
    /// (after redirects or `100 Continue`), so only the final response's fields remain.
    static let writeHeader: curl_write_callback = { data, size, count, context in
        guard let context else { return 0 }
        let sink = Unmanaged<ResponseSink>.fromOpaque(context).takeUnretainedValue()
        let n = size * count
        guard let data, n > 0 else { return n }
        let line = data.withMemoryRebound(to: UInt8.self, capacity: n) {
            String(decoding: UnsafeBufferPointer(start: $0, count: n), as: UTF8.self)
        }.trimmingCharacters(in: .whitespacesAndNewlines)
        if line.hasPrefix("HTTP/") {
            sink.headers = HTTPHeaders()
        } else if let colon = line.firstIndex(of: ":") {
            let name = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            sink.headers.add(name, value)
        }
        return n
    }
}

/// What the callbacks collect during one transfer. Only touched by the thread running the transfer.
final class ResponseSink {
    let limit: Int
    var body = Data()
    var headers = HTTPHeaders()
    var overflowed = false

    init(limit: Int) { self.limit = max(0, limit) }
}
