import FlywheelSupport
import Foundation
import OrderedCollections

// MARK: - Assertions

/// One Promptfoo assertion: `{type, value?, threshold?, weight?, metric?, transform?, provider?, rubricPrompt?,
/// config?}`, or an `assert-set` with nested `assert`. `raw` keeps the node as written (unknown keys included).
public struct EvalAssertion: Sendable, Equatable {
    /// The type as written, `not-` included (e.g. `not-contains`).
    public var type: String
    /// The value (after `file://` resolution at load time), nil when absent.
    public var value: JSONValue?
    /// The threshold as written (nil when absent; `false`/`0` are kept, JavaScript compares them as 0).
    var thresholdValue: JSONValue?
    /// The weight (default 1).
    public var weight: Double?
    /// The metric name template.
    public var metric: String?
    /// A JavaScript transform of the output for this assertion only.
    public var transform: String?
    /// Per-assertion grader provider (model-graded types).
    public var provider: JSONValue?
    /// Per-assertion rubric prompt (model-graded types).
    var rubricPrompt: JSONValue?
    /// `context.config` of script assertions.
    public var config: JSONValue?
    /// Members of an `assert-set`.
    public var assertions: [EvalAssertion]?
    /// The node as written.
    public var raw: JSONValue

    public init(type: String, value: JSONValue? = nil, threshold: JSONValue? = nil, weight: Double? = nil, metric: String? = nil,
                transform: String? = nil, provider: JSONValue? = nil, rubricPrompt: JSONValue? = nil, config: JSONValue? = nil,
                assertions: [EvalAssertion]? = nil, raw: JSONValue? = nil) {
        self.type = type
        self.value = value
        self.thresholdValue = threshold
        self.weight = weight
        self.metric = metric
        self.transform = transform
        self.provider = provider
        self.rubricPrompt = rubricPrompt
        self.config = config
        self.assertions = assertions
        if let raw {
            self.raw = raw
        } else {
            var o = JSONObject()
            o["type"] = .string(type)
            if let value { o["value"] = value }
            if let threshold { o["threshold"] = threshold }
            if let weight { o["weight"] = JSONValue.number(weight) }
            if let metric { o["metric"] = .string(metric) }
            if let transform { o["transform"] = .string(transform) }
            if let config { o["config"] = config }
            if let assertions { o["assert"] = .array(assertions.map(\.raw)) }
            self.raw = .object(o)
        }
    }

    /// True for `not-…` types.
    var isInverse: Bool { type.hasPrefix("not-") }
    /// The type without `not-`.
    var baseType: String { isInverse ? String(type.dropFirst(4)) : type }
    /// The threshold when one is present (JavaScript `Number(threshold)`; `null` counts as absent).
    public var threshold: Double? {
        guard let t = thresholdValue, !t.isNull else { return nil }
        return t.jsNumber
    }
}

extension JSONValue {
    /// JavaScript `Number(v)` (NaN for non-numeric).
    var jsNumber: Double {
        switch self {
        case .null: return 0
        case .bool(let b): return b ? 1 : 0
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .string(let s):
            let t = JSText.trim(s)
            if t.isEmpty { return 0 }
            return Double(t) ?? .nan
        case .array(let a): return a.isEmpty ? 0 : (a.count == 1 ? a[0].jsNumber : .nan)
        case .object: return .nan
        }
    }

    /// A number as `.int` when integral (and small), else `.double`.
    public static func number(_ d: Double) -> JSONValue {
        if d.isFinite, d == d.rounded(), abs(d) < 9e15 { return .int(Int64(d)) }
        return .double(d)
    }
}

// MARK: - Results

/// Token counts of a response or a grading.
public struct EvalTokenUsage: Sendable, Equatable {
    /// Total tokens.
    public var total: Int
    /// Prompt tokens.
    public var prompt: Int
    /// Completion tokens.
    public var completion: Int
    /// Cached tokens.
    public var cached: Int
    /// Number of model requests.
    public var numRequests: Int

    public init(total: Int = 0, prompt: Int = 0, completion: Int = 0, cached: Int = 0, numRequests: Int = 0) {
        self.total = total
        self.prompt = prompt
        self.completion = completion
        self.cached = cached
        self.numRequests = numRequests
    }

    static func + (a: EvalTokenUsage, b: EvalTokenUsage) -> EvalTokenUsage {
        EvalTokenUsage(total: a.total + b.total, prompt: a.prompt + b.prompt, completion: a.completion + b.completion,
                       cached: a.cached + b.cached, numRequests: a.numRequests + b.numRequests)
    }

    var json: JSONValue {
        .obj([("total", .int(Int64(total))), ("prompt", .int(Int64(prompt))), ("completion", .int(Int64(completion))),
              ("cached", .int(Int64(cached))), ("numRequests", .int(Int64(numRequests)))])
    }

    init(json: JSONValue?) {
        func i(_ k: String) -> Int { json?[k]?.doubleValue.map { Int($0) } ?? 0 }
        self.init(total: i("total"), prompt: i("prompt"), completion: i("completion"), cached: i("cached"), numRequests: i("numRequests"))
    }
}

/// Promptfoo's GradingResult: one assertion's (or a whole test's) verdict.
public struct EvalGradingResult: Sendable, Equatable {
    /// Whether it passed (never true for a skip).
    public var pass: Bool
    /// The score (usually 0...1; javascript may return any number).
    public var score: Double
    /// Why (Promptfoo's exact texts).
    public var reason: String
    /// Named metric scores (a test's, or a set's inner metrics).
    public var namedScores: [String: Double]
    /// Weights behind `namedScores` (tests only; empty means absent).
    var namedScoreWeights: [String: Double]
    /// Tokens a model-graded assertion used.
    public var tokensUsed: EvalTokenUsage?
    /// Component results (flattened for a test).
    public var componentResults: [EvalGradingResult]
    /// The assertion this result is for.
    public var assertion: EvalAssertion?
    /// Extra metadata (e.g. `renderedGradingPrompt`, `flywheel.status`).
    public var metadata: JSONObject
    /// Flywheel: the assertion could not be evaluated (no judge, no runtime, unsupported type).
    public var skipped: Bool

    public init(pass: Bool, score: Double, reason: String, namedScores: [String: Double] = [:], namedScoreWeights: [String: Double] = [:],
                tokensUsed: EvalTokenUsage? = nil, componentResults: [EvalGradingResult] = [], assertion: EvalAssertion? = nil,
                metadata: JSONObject = JSONObject(), skipped: Bool = false) {
        self.pass = pass
        self.score = score
        self.reason = reason
        self.namedScores = namedScores
        self.namedScoreWeights = namedScoreWeights
        self.tokensUsed = tokensUsed
        self.componentResults = componentResults
        self.assertion = assertion
        self.metadata = metadata
        self.skipped = skipped
    }

    /// A skipped component (§3.1): never a pass, excluded from scores.
    public static func skip(_ why: String, assertion: EvalAssertion?) -> EvalGradingResult {
        var md = JSONObject()
        md["flywheel"] = .obj([("status", .string("skipped"))])
        return EvalGradingResult(pass: false, score: 0, reason: "Skipped: \(why)", assertion: assertion, metadata: md, skipped: true)
    }
}

/// An assertion whose input is invalid (Promptfoo's handler threw): the row becomes an ERROR.
public struct EvalAssertionError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

// MARK: - Provider output

/// One span of a trace as trace assertions see it (the lead maps Traces spans into this).
public struct EvalTraceSpan: Sendable, Equatable {
    /// The span id.
    public var spanId: String
    /// The span name (what trace patterns match).
    public var name: String
    /// OTel span kind (`INTERNAL`, `CLIENT`, …), informative only.
    public var kind: String?
    /// Start, nanoseconds since the epoch (nil when unknown).
    public var startNs: Int64?
    /// End, nanoseconds since the epoch (nil for an unfinished span).
    public var endNs: Int64?
    /// Status: 0 unset, 1 ok, 2 error (or an HTTP-like code as some exporters write).
    public var statusCode: Int?
    /// The status message (matched by trace-error-spans).
    public var statusMessage: String?
    /// True when the producer marked the span as failed (adds to the attribute rules).
    public var isError: Bool
    /// Attributes; object values keep their key order.
    public var attributes: [String: JSONValue]

    public init(spanId: String = "", name: String, kind: String? = nil, startNs: Int64?, endNs: Int64?, statusCode: Int? = nil,
                statusMessage: String? = nil, isError: Bool = false, attributes: [String: JSONValue] = [:]) {
        self.spanId = spanId
        self.name = name
        self.kind = kind
        self.startNs = startNs
        self.endNs = endNs
        self.statusCode = statusCode
        self.statusMessage = statusMessage
        self.isError = isError
        self.attributes = attributes
    }

    /// Convenience for shared `JSONValue` attributes (object keys sorted).
    public init(spanId: String = "", name: String, kind: String? = nil, startNs: Int64?, endNs: Int64?, statusCode: Int? = nil,
                statusMessage: String? = nil, isError: Bool = false, jsonAttributes: [String: JSONValue]) {
        self.init(spanId: spanId, name: name, kind: kind, startNs: startNs, endNs: endNs, statusCode: statusCode,
                  statusMessage: statusMessage, isError: isError, attributes: jsonAttributes.mapValues(\.keysSorted))
    }

    var startMs: Double? { startNs.map { Double($0) / 1e6 } }
    var endMs: Double? { endNs.map { Double($0) / 1e6 } }
}

/// What a provider (or a recorded trace) produced for one test: the thing assertions grade.
public struct EvalOutput: Sendable, Equatable {
    /// The output: usually a string; structured outputs are JSON.
    public var output: JSONValue
    /// Latency in milliseconds (latency assertions need it).
    public var latencyMs: Double?
    /// Cost in US dollars (cost assertions need it).
    public var cost: Double?
    /// Token usage of the call.
    public var tokenUsage: EvalTokenUsage?
    /// The finish reason (`stop`, `length`, `tool_calls`, …).
    public var finishReason: String?
    /// OpenAI-shaped tool calls (`[{id, type, function:{name, arguments}}]`), when the provider returned them apart.
    public var toolCalls: [JSONValue]?
    /// Token log probabilities (perplexity assertions need them).
    public var logProbs: [Double]?
    /// The trace id the spans belong to.
    public var traceId: String?
    /// Trace spans, when the output has a trace.
    public var traceSpans: [EvalTraceSpan]?
    /// Response metadata (e.g. `skillCalls`).
    public var metadata: JSONObject?
    /// A provider error (the row becomes an ERROR with this text).
    public var error: String?
    /// True when the output came from a cache.
    public var cached: Bool

    public init(output: JSONValue, latencyMs: Double? = nil, cost: Double? = nil, tokenUsage: EvalTokenUsage? = nil,
                finishReason: String? = nil, toolCalls: [JSONValue]? = nil, logProbs: [Double]? = nil, traceId: String? = nil,
                traceSpans: [EvalTraceSpan]? = nil, metadata: JSONObject? = nil, error: String? = nil, cached: Bool = false) {
        self.output = output
        self.latencyMs = latencyMs
        self.cost = cost
        self.tokenUsage = tokenUsage
        self.finishReason = finishReason
        self.toolCalls = toolCalls
        self.logProbs = logProbs
        self.traceId = traceId
        self.traceSpans = traceSpans
        self.metadata = metadata
        self.error = error
        self.cached = cached
    }

    /// A plain text output.
    public init(text: String, latencyMs: Double? = nil) {
        self.init(output: .string(text), latencyMs: latencyMs)
    }

    /// `outputString`: the string, or compact `JSON.stringify` of structured output.
    public var outputString: String {
        if case .string(let s) = output { return s }
        return output.jsonString
    }
}

// MARK: - JSON form

extension EvalGradingResult {
    /// Promptfoo's GradingResult JSON (keys: pass, score, reason, namedScores, namedScoreWeights?, tokensUsed?,
    /// componentResults?, assertion?, metadata?).
    public var json: JSONValue { json(top: true) }

    func json(top: Bool) -> JSONValue {
        var o = JSONObject()
        o["pass"] = .bool(pass)
        o["score"] = .number(score)
        o["reason"] = .string(reason)
        if top || !namedScores.isEmpty { o["namedScores"] = Self.scoresJSON(namedScores) }
        if !namedScoreWeights.isEmpty { o["namedScoreWeights"] = Self.scoresJSON(namedScoreWeights) }
        if let t = tokensUsed { o["tokensUsed"] = t.json }
        if !componentResults.isEmpty { o["componentResults"] = .array(componentResults.map { $0.json(top: false) }) }
        if let a = assertion { o["assertion"] = a.raw }
        if !metadata.isEmpty { o["metadata"] = .object(metadata) }
        return .object(o)
    }

    static func scoresJSON(_ d: [String: Double]) -> JSONValue {
        var o = JSONObject()
        for k in d.keys.sorted() { o[k] = .number(d[k]!) }
        return .object(o)
    }

    /// Reads a GradingResult JSON (lenient).
    public init(json: JSONValue) {
        let o = json.objectValue ?? JSONObject()
        var ns: [String: Double] = [:]
        for (k, v) in o["namedScores"]?.objectValue?.pairs ?? [] { ns[k] = v.doubleValue ?? 0 }
        var nw: [String: Double] = [:]
        for (k, v) in o["namedScoreWeights"]?.objectValue?.pairs ?? [] { nw[k] = v.doubleValue ?? 0 }
        let md = o["metadata"]?.objectValue ?? JSONObject()
        self.init(pass: o["pass"]?.isTruthy ?? false, score: o["score"]?.doubleValue ?? 0, reason: o["reason"]?.stringValue ?? "",
                  namedScores: ns, namedScoreWeights: nw, tokensUsed: o["tokensUsed"].map { EvalTokenUsage(json: $0) },
                  componentResults: (o["componentResults"]?.arrayValue ?? []).map { EvalGradingResult(json: $0) },
                  assertion: o["assertion"].flatMap { try? EvalAssertion(parsing: $0) }, metadata: md,
                  skipped: md["flywheel"]?["status"]?.stringValue == "skipped")
    }
}

extension EvalAssertion {
    /// Parses an assertion node (lenient about unknown keys, which stay in `raw`).
    public init(parsing node: JSONValue) throws {
        guard let o = node.objectValue else { throw EvalAssertionError("assertion must be an object") }
        guard let type = o["type"]?.stringValue, !type.isEmpty else { throw EvalAssertionError("assertion must have a string \"type\"") }
        var members: [EvalAssertion]? = nil
        if type == "assert-set" {
            guard let arr = o["assert"]?.arrayValue else { throw EvalAssertionError("assert-set must have an \"assert\" list") }
            members = try arr.map { try EvalAssertion(parsing: $0) }
        }
        self.init(type: type, value: o["value"], threshold: o["threshold"], weight: o["weight"]?.doubleValue, metric: o["metric"]?.stringValue,
                  transform: o["transform"]?.stringValue, provider: o["provider"], rubricPrompt: o["rubricPrompt"], config: o["config"],
                  assertions: members, raw: node)
    }
}
