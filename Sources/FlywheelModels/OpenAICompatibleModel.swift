import Foundation
internal import HTTP

/// A chat model behind an OpenAI-compatible `POST {baseURL}/chat/completions` endpoint: OpenAI,
/// Ollama, vLLM, llama.cpp server, LM Studio, …
///
/// Calls are synchronous (libcurl, one handle per attempt). Retries 408/429/5xx and connection
/// failures with exponential backoff and jitter, honouring `Retry-After`; bounds the response size;
/// maps errors to `ModelError`. The API key is sent only in the `Authorization` header and is
/// redacted from every error message, description and mirror.
public struct OpenAICompatibleModel: ChatModel {
    /// The provider-side model name, e.g. `gpt-4.1-mini`.
    public let model: String
    /// The API root, e.g. `https://api.openai.com/v1` (no trailing slash).
    public let baseURL: String
    /// Limit of one attempt, seconds.
    public var timeout: Double
    /// Limit of connecting, seconds.
    public var connectTimeout: Double
    /// Retry behaviour.
    public var retry: RetryPolicy
    /// The largest response body accepted.
    public var maxResponseBytes: Int
    /// Prices for the cost estimate.
    var pricing: ModelPricing
    private let apiKey: Secret?

    /// The default API root when neither the argument nor `OPENAI_BASE_URL` gives one.
    public static let defaultBaseURL = "https://api.openai.com/v1"

    /// A model.
    /// - Parameters:
    ///   - model: the provider-side model name.
    ///   - baseURL: API root; default `OPENAI_BASE_URL` from `environment`, else `https://api.openai.com/v1`.
    ///   - apiKey: bearer token; default `OPENAI_API_KEY` from `environment`; none sends no `Authorization`.
    ///   - timeout: limit of one attempt in seconds (default 120).
    ///   - maxRetries: retries after the first attempt (default 3).
    ///   - maxResponseBytes: response size limit (default 8 MiB).
    ///   - environment: where the defaults come from (default: the process environment).
    public init(
        model: String, baseURL: String? = nil, apiKey: String? = nil, timeout: Double = 120, maxRetries: Int = 3,
        maxResponseBytes: Int = 8 << 20, environment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        self.model = model
        var base = baseURL ?? environment["OPENAI_BASE_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultBaseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        let key = apiKey ?? environment["OPENAI_API_KEY"]
        self.apiKey = key.flatMap { $0.isEmpty ? nil : Secret($0) }
        self.timeout = timeout
        self.connectTimeout = min(10, timeout)
        self.retry = RetryPolicy(maxRetries: maxRetries)
        self.maxResponseBytes = maxResponseBytes
        self.pricing = .openAI
    }

    /// `openai:MODEL`.
    public var id: String { "openai:\(model)" }
    /// `MODEL (OpenAI-compatible, HOST)`.
    public var label: String {
        let host = URLComponents(string: baseURL)?.host ?? baseURL
        return "\(model) (OpenAI-compatible, \(host))"
    }
    /// Always false: this talks to a real model.
    public var isSimulation: Bool { false }
    /// Whether an API key is configured (the key itself is never exposed).
    public var hasAPIKey: Bool { apiKey != nil }
    /// The endpoint called.
    public var endpoint: String { baseURL + "/chat/completions" }

    /// Runs one chat completion, retrying transient failures.
    ///
    /// The model sent is `request.model` when it is not empty (an `openai:` prefix is dropped),
    /// else this model's `model`. `latencyMs` is the wall time of the whole call, retries included.
    /// - Parameter request: the chat.
    /// - Returns: the first choice's message, finish reason, usage, latency and cost estimate.
    /// - Throws: `ModelError` — `.transport` (connect/timeout), `.http` (status with the server's
    ///   `error.message`), `.invalidResponse` (bad JSON, truncated body), `.responseTooLarge`.
    public func complete(_ request: ChatRequest) throws(ModelError) -> ChatResponse {
        var modelName = request.model.isEmpty ? model : request.model
        if modelName.hasPrefix("openai:") { modelName.removeFirst("openai:".count) }
        let body = OpenAIWire.encode(request, model: modelName)
        let started = ContinuousClock.now

        var attempt = 0
        while true {
            let outcome = attemptOnce(body)
            switch outcome {
            case .success(let response):
                do {
                    var parsed = try OpenAIWire.decode(response.body, fallbackModel: modelName)
                    parsed.latencyMs = Self.milliseconds(since: started)
                    parsed.costUSD = pricing.cost(model: parsed.model, usage: parsed.usage)
                    return parsed
                } catch {
                    throw redacted(error)
                }
            case .failure(let failure):
                guard failure.retryable, attempt < retry.maxRetries else { throw redacted(failure.error) }
                let wait = retry.delay(beforeRetry: attempt, retryAfter: failure.retryAfter)
                if wait > 0 { Thread.sleep(forTimeInterval: wait) }
                attempt += 1
            }
        }
    }

    /// The embeddings of `texts` (`POST {base}/embeddings`), in input order, with the same retries as `complete`.
    public func embed(_ texts: [String]) throws(ModelError) -> [[Double]] {
        var modelName = model
        if modelName.hasPrefix("openai:") { modelName.removeFirst("openai:".count) }
        let body: Data
        do { body = try JSONSerialization.data(withJSONObject: ["model": modelName, "input": texts]) } catch {
            throw ModelError(.configuration, "cannot encode the embeddings request")
        }
        var attempt = 0
        while true {
            switch attemptOnce(body, url: baseURL + "/embeddings") {
            case .success(let response):
                guard let root = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any],
                      let data = root["data"] as? [[String: Any]] else {
                    throw ModelError(.invalidResponse, "embeddings response without a data list")
                }
                var out = [[Double]](repeating: [], count: texts.count)
                for (i, item) in data.enumerated() {
                    let idx = (item["index"] as? Int) ?? i
                    guard idx >= 0, idx < out.count, let v = item["embedding"] as? [Any] else { continue }
                    out[idx] = v.compactMap { ($0 as? NSNumber)?.doubleValue }
                }
                if out.contains(where: \.isEmpty) { throw ModelError(.invalidResponse, "embeddings response lacks a vector") }
                return out
            case .failure(let failure):
                guard failure.retryable, attempt < retry.maxRetries else { throw redacted(failure.error) }
                let wait = retry.delay(beforeRetry: attempt, retryAfter: failure.retryAfter)
                if wait > 0 { Thread.sleep(forTimeInterval: wait) }
                attempt += 1
            }
        }
    }

    // MARK: - Internals

    private struct Failure: Error {
        var error: ModelError
        var retryable: Bool
        var retryAfter: Double?
    }

    private func attemptOnce(_ body: Data, url: String? = nil) -> Result<HTTPResponse, Failure> {
        var headers: HTTPHeaders = ["Content-Type": "application/json", "Accept": "application/json"]
        if let apiKey { headers["Authorization"] = "Bearer \(apiKey.value)" }
        let request = HTTPRequest(
            method: "POST", url: url ?? endpoint, headers: headers, body: body, timeout: timeout,
            connectTimeout: connectTimeout, maxResponseBytes: maxResponseBytes)
        let response: HTTPResponse
        do {
            response = try HTTPClient().send(request)
        } catch {
            return .failure(Failure(error: Self.modelError(error), retryable: error.isTransient, retryAfter: nil))
        }
        if (200..<300).contains(response.status) { return .success(response) }
        let message = OpenAIWire.serverMessage(response.body)
        let retryAfter = RetryPolicy.parseRetryAfter(
            response.headers["Retry-After"], retryAfterMs: response.headers["retry-after-ms"])
        return .failure(
            Failure(
                error: ModelError(.http, status: response.status, message),
                retryable: RetryPolicy.isRetryable(status: response.status), retryAfter: retryAfter))
    }

    private static func modelError(_ error: HTTPError) -> ModelError {
        switch error.kind {
        case .responseTooLarge: return ModelError(.responseTooLarge, error.description)
        case .truncated: return ModelError(.invalidResponse, "truncated response: \(error.description)")
        case .invalidRequest: return ModelError(.configuration, error.description)
        case .couldNotConnect, .timedOut, .transport: return ModelError(.transport, error.description)
        }
    }

    /// Removes every occurrence of the API key from an error's message.
    private func redacted(_ error: ModelError) -> ModelError {
        guard let apiKey else { return error }
        var e = error
        e.message = e.message.replacingOccurrences(of: apiKey.value, with: "[redacted]")
        return e
    }

    private static func milliseconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }
}

// MARK: - Descriptions without the key

extension OpenAICompatibleModel: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "OpenAICompatibleModel(model: \(model), baseURL: \(baseURL), apiKey: \(apiKey == nil ? "none" : "[redacted]"))"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "model": model, "baseURL": baseURL, "apiKey": apiKey == nil ? "none" : "[redacted]", "timeout": timeout,
                "retry": retry, "maxResponseBytes": maxResponseBytes,
            ], displayStyle: .struct)
    }
}

/// A secret string that never prints itself.
struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    let value: String
    init(_ value: String) { self.value = value }
    var description: String { "[redacted]" }
    var debugDescription: String { "[redacted]" }
    var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
