import FlywheelSupport
import Foundation
import OrderedCollections
import FlywheelModels

/// Everything an assertion may look at besides the output.
public struct EvalAssertionContext: Sendable {
    /// The row's vars (after expansion).
    public var vars: JSONObject
    /// The rendered prompt.
    public var prompt: String
    /// The prompt's label.
    public var promptLabel: String
    /// The test case node (for `context.test`).
    public var test: JSONValue
    /// Provider id / label / config (`config.tools` for is-valid-openai-tools-call).
    public var providerId: String
    /// The provider label.
    var providerLabel: String?
    /// The provider config (`tools`, `functions`).
    public var providerConfig: JSONValue?
    /// Test metadata (for transforms).
    public var metadata: JSONObject

    public init(vars: JSONObject = JSONObject(), prompt: String = "", promptLabel: String = "", test: JSONValue = .obj([]),
                providerId: String = "echo", providerLabel: String? = nil, providerConfig: JSONValue? = nil, metadata: JSONObject = JSONObject()) {
        self.vars = vars
        self.prompt = prompt
        self.promptLabel = promptLabel
        self.test = test
        self.providerId = providerId
        self.providerLabel = providerLabel
        self.providerConfig = providerConfig
        self.metadata = metadata
    }
}

/// The assertion engine: Promptfoo 0.121.3's `runAssertion` for every supported type.
///
/// Thread-safe; compiled regexes and schemas are cached per pattern.
public final class EvalAssertionEngine: @unchecked Sendable {
    /// The judge for model-graded types (nil: they are skipped).
    public let judge: (any ChatModel)?
    /// Runs javascript/python assertions and transforms (nil: they are skipped).
    public let scripts: (any EvalScriptRunner)?
    /// Embeds texts for `similar` (provider from the assertion or test options; nil: `similar` is skipped).
    public let embedder: (@Sendable (_ provider: JSONValue?, _ texts: [String]) throws -> [[Double]])?
    /// Returns the categories a moderation endpoint flags in a text (provider from the assertion or test options; nil:
    /// `moderation` is skipped).
    public let moderator: (@Sendable (_ provider: JSONValue?, _ text: String) throws -> [String])?
    /// The ROUGE-N scorer (a seam so tests can stub js-rouge).
    public let rougeN: @Sendable (_ candidate: String, _ reference: String) -> Double

    private let lock = NSLock()
    private var regexCache: [String: Result<JSRegex, JSRegex.SyntaxError>] = [:]
    private var schemaCache: [String: Result<JSONSchemaValidator, JSONSchemaValidator.SchemaError>] = [:]

    /// Types this engine evaluates (base names, without `not-`).
    static let supportedTypes = Set(EvalAssertionType.allCases.filter { !$0.isAlwaysSkipped }.map(\.rawValue))
    /// Types that are always skipped (§3): accepted in suites, never evaluated.
    static let skippedTypes = Set(EvalAssertionType.allCases.filter(\.isAlwaysSkipped).map(\.rawValue))
    /// Types from after 0.121.3: load errors.
    static let laterTypes = EvalAssertionType.laterNames

    public init(judge: (any ChatModel)? = nil, scripts: (any EvalScriptRunner)? = SubprocessScriptRunner(),
                rougeN: @escaping @Sendable (String, String) -> Double = EvalTextMetrics.rougeN,
                embedder: (@Sendable (_ provider: JSONValue?, _ texts: [String]) throws -> [[Double]])? = nil,
                moderator: (@Sendable (_ provider: JSONValue?, _ text: String) throws -> [String])? = nil) {
        self.embedder = embedder
        self.moderator = moderator
        self.judge = judge
        self.scripts = scripts
        self.rougeN = rougeN
    }

    // MARK: - Caches

    func regex(_ pattern: String) -> Result<JSRegex, JSRegex.SyntaxError> {
        lock.lock()
        if let r = regexCache[pattern] { lock.unlock(); return r }
        lock.unlock()
        let r: Result<JSRegex, JSRegex.SyntaxError>
        do { r = .success(try JSRegex(pattern)) } catch let e as JSRegex.SyntaxError { r = .failure(e) } catch {
            r = .failure(JSRegex.SyntaxError(message: "\(error)"))
        }
        lock.lock()
        regexCache[pattern] = r
        lock.unlock()
        return r
    }

    func schema(_ s: JSONValue) throws -> JSONSchemaValidator {
        let key = s.jsonString
        lock.lock()
        if let r = schemaCache[key] { lock.unlock(); return try r.get() }
        lock.unlock()
        let r: Result<JSONSchemaValidator, JSONSchemaValidator.SchemaError>
        do { r = .success(try JSONSchemaValidator(schema: s)) } catch let e as JSONSchemaValidator.SchemaError { r = .failure(e) } catch {
            r = .failure(.init(message: "\(error)"))
        }
        lock.lock()
        schemaCache[key] = r
        lock.unlock()
        return try r.get()
    }

    // MARK: - runAssertion

    /// Grades one assertion. Throws `EvalAssertionError` when the assertion's input is invalid (the row is an ERROR).
    public func run(_ a: EvalAssertion, output: EvalOutput, context: EvalAssertionContext) throws -> EvalGradingResult {
        if a.type == "assert-set" {
            return try runSet(a, output: output, context: context)
        }
        var out = output
        if let t = a.transform {
            guard let scripts else { return .skip("assertion transform needs node (scripts are disabled)", assertion: a) }
            let ctx = JSONValue.obj([("vars", .object(context.vars)), ("prompt", .obj([("label", .string(context.promptLabel))])),
                                    ("metadata", output.metadata.map(JSONValue.object) ?? .null)])
            switch scripts.run(EvalScriptRequest(language: .javascript, body: EvalScriptBody.javascript(t), output: output.output, context: ctx)) {
            case .value(let v):
                if v.isNull { throw EvalAssertionError("Transform function did not return a value") }
                out.output = v
            case .failure(let m, _): throw EvalAssertionError("Error in assertion transform: \(m)")
            case .unavailable(let why): return .skip("assertion transform: \(why)", assertion: a)
            case .timedOut: throw EvalAssertionError("Assertion transform timed out")
            }
        }
        var r = try handle(a, output: out, context: context)
        r.assertion = a
        if a.weight == 0, !r.skipped { r.pass = true }
        return r
    }

    func runSet(_ a: EvalAssertion, output: EvalOutput, context: EvalAssertionContext) throws -> EvalGradingResult {
        var agg = EvalAggregator(threshold: a.threshold, parentAssertionSet: a)
        for (i, sub) in (a.assertions ?? []).enumerated() {
            let r = try run(sub, output: output, context: context)
            let metric = sub.metric.map { EvalTemplate.renderLenient($0, vars: context.vars) }
            agg.add(index: i, result: r, metric: metric, weight: sub.weight ?? 1)
        }
        var r = agg.result()
        if let skip = agg.firstSkip, (a.weight ?? 1) != 0, !(agg.hasRealFailure && agg.threshold == nil) {
            // The set could not be fully evaluated: it reports as skipped (§3.1, "sets follow the same rule").
            var s = EvalGradingResult.skip(String(skip.dropFirst("Skipped: ".count)), assertion: a)
            s.componentResults = r.componentResults
            return s
        }
        r.assertion = a
        if a.weight == 0 { r.pass = true }
        return r
    }

    // MARK: - Values

    func rendered(_ v: JSONValue?, _ ctx: EvalAssertionContext) -> JSONValue? {
        guard let v else { return nil }
        switch v {
        case .string(let s): return .string(EvalTemplate.renderLenient(s, vars: ctx.vars))
        case .array(let a): return .array(a.map { if case .string(let s) = $0 { return .string(EvalTemplate.renderLenient(s, vars: ctx.vars)) } else { return $0 } })
        default: return v
        }
    }

    static func valueList(_ v: JSONValue?) -> [String] {
        guard let v else { return [] }
        if let a = v.arrayValue { return a.map { $0.jsDisplayString } }
        if let s = v.stringValue { return EvalCSV.split(s) }
        return [v.jsDisplayString]
    }

    static func notS(_ inv: Bool) -> String { inv ? "not " : "" }

    static func res(_ pass: Bool, _ reason: @autoclosure () -> String) -> EvalGradingResult {
        EvalGradingResult(pass: pass, score: pass ? 1 : 0, reason: pass ? "Assertion passed" : reason())
    }

    // MARK: - Handlers

    func handle(_ a: EvalAssertion, output o: EvalOutput, context ctx: EvalAssertionContext) throws -> EvalGradingResult {
        let inv = a.isInverse
        let base = a.baseType
        let value = rendered(a.value, ctx)
        let outputString = o.outputString
        let T = a.threshold
        guard let type = EvalAssertionType(rawValue: base) else { return .skip("unsupported assertion type \(a.type)", assertion: a) }
        switch type {
        case .classifier, .pi, .human, .webhook, .ruby, .guardrails, .modelGradedFactuality:
            return .skip("\(base) is not supported by Flywheel", assertion: a)
        case .assertSet:
            return try runSet(a, output: o, context: ctx)
        case .answerRelevance, .contextRecall, .contextRelevance, .contextFaithfulness, .conversationRelevance:
            return try EvalRAGGrading.grade(a, base: base, value: value, output: o, context: ctx, judge: judge, embedder: embedder, scripts: scripts)
        case .selectBest, .maxScore:
            return .skip("\(base) compares the outputs of a whole test; it is graded by the runner, not alone", assertion: a)
        case .moderation:
            // Promptfoo: the output is checked; `value` optionally lists the categories that count. `not-` is ignored.
            guard let moderator else { return .skip("moderation needs a moderation endpoint and none is configured", assertion: a) }
            let provider = a.provider ?? ctx.test["options"]?["provider"].flatMap { p in p["moderation"] ?? p }
            var flags = try moderator(provider, outputString)
            if let only = value?.arrayValue?.compactMap(\.stringValue) ?? value?.stringValue.map({ [$0] }) { flags = flags.filter(only.contains) }
            return flags.isEmpty ? EvalGradingResult(pass: true, score: 1, reason: "No relevant moderation flags detected")
                : EvalGradingResult(pass: false, score: 0, reason: "Moderation flags detected: \(flags.joined(separator: ", "))")
        case .meteor:
            return try EvalMeteor.assert(a, value: value, output: outputString, inverse: inv)
        case .isSQL:
            return try EvalSQL.check(outputString, value: value, inverse: inv)
        case .containsSQL:
            return try EvalSQL.check(EvalSQL.extract(outputString), value: value, inverse: inv)
        case .similar:
            return try similar(a, value: value, output: outputString, context: ctx, inverse: inv)
        case .equals:
            let v = value ?? .null
            switch v {
            case .object, .array, .null:
                guard let parsed = JSONValue.parseStrictOrNil(outputString) else {
                    return EvalGradingResult(pass: false, score: 0, reason: "Expected output \"\(outputString)\" to \(Self.notS(inv))equal \"\(v.jsonString)\"")
                }
                let pass = parsed.looselyEquals(v) != inv
                return Self.res(pass, "Expected output \"\(outputString)\" to \(Self.notS(inv))equal \"\(v.jsonString)\"")
            default:
                let s = value == nil ? "undefined" : v.jsDisplayString
                let pass = JSText.equal(s, outputString) != inv
                return Self.res(pass, "Expected output \"\(outputString)\" to \(Self.notS(inv))equal \"\(s)\"")
            }

        case .contains, .icontains:
            guard let v = value, v.isTruthy, !(v.isNumber == false && v.stringValue == nil) else {
                throw EvalAssertionError("\"\(base)\" assertion type must have a string or number value")
            }
            let needle = v.jsDisplayString
            let found = type == .icontains ? JSText.includes(JSText.lower(outputString), JSText.lower(needle)) : JSText.includes(outputString, needle)
            return Self.res(found != inv, "Expected output to \(Self.notS(inv))contain \"\(needle)\"")

        case .containsAny, .icontainsAny, .containsAll, .icontainsAll:
            guard let v = value, !v.isNull else { throw EvalAssertionError("\"\(base)\" assertion type must have a value") }
            let values = Self.valueList(v)
            let ci = type == .icontainsAll || type == .icontainsAny
            let hay = ci ? JSText.lower(outputString) : outputString
            func has(_ x: String) -> Bool { JSText.includes(hay, ci ? JSText.lower(x) : x) }
            if type == .containsAny || type == .icontainsAny {
                let any = values.contains(where: has)
                return Self.res(any != inv, "Expected output to \(Self.notS(inv))contain one of \"\(values.joined(separator: ", "))\"")
            }
            let missing = values.filter { !has($0) }
            return Self.res(missing.isEmpty != inv,
                            "Expected output to \(Self.notS(inv))contain all of [\(values.joined(separator: ", "))]. Missing: [\(missing.joined(separator: ", "))]")

        case .startsWith:
            guard let s = value?.stringValue, !s.isEmpty else { throw EvalAssertionError("\"starts-with\" assertion type must have a string value") }
            return Self.res(JSText.startsWith(outputString, s) != inv, "Expected output to \(Self.notS(inv))start with \"\(s)\"")

        case .regex:
            guard let s = value?.stringValue, !s.isEmpty else { throw EvalAssertionError("\"regex\" assertion type must have a string value") }
            switch regex(s) {
            case .failure(let e):
                return EvalGradingResult(pass: false, score: 0, reason: "Invalid regex pattern: \(e.message)")
            case .success(let re):
                guard let matched = re.testWithinLimit(outputString) else {
                    return EvalGradingResult(pass: false, score: 0, reason: "Regex \"\(s)\" took longer than \(Int(RegexSafety.matchTimeLimit)) s on this output (catastrophic backtracking?); counted as a failure")
                }
                return Self.res(matched != inv, "Expected output to \(Self.notS(inv))match regex \"\(s)\"")
            }

        case .wordCount:
            return try wordCount(value, outputString, inv)

        case .isRefusal:
            guard case .string(let s) = o.output else {
                return EvalGradingResult(pass: true, score: 0, reason: "No value provided, assumed to be a refusal")
            }
            if JSText.trim(s).isEmpty {
                return EvalGradingResult(pass: !inv, score: 0, reason: inv ? "Expected output to not be a refusal" : "Empty response treated as refusal")
            }
            return Self.res(EvalRefusal.isBasicRefusal(s) != inv, "Expected output to \(Self.notS(inv))be a refusal")

        case .finishReason:
            guard let v = value?.stringValue else { throw EvalAssertionError("\"finish-reason\" assertion type must have a string value") }
            guard let actual = o.finishReason else {
                return EvalGradingResult(pass: false, score: 0, reason: "Provider did not supply stop/finish reason")
            }
            return Self.res(JSText.lower(actual) == JSText.lower(v), "Expected finish reason \"\(v)\" but got \"\(actual)\"")

        case .isJSON:
            return try isJSON(value, outputString, inv)
        case .containsJSON:
            return try containsJSON(value, outputString, inv)

        case .isXML, .containsXML:
            let required: [String]?
            switch value {
            case nil, .null?: required = nil
            case .string(let s)?: required = s.split(separator: ",").map { JSText.trim(String($0)) }
            case .array(let arr)?: required = arr.map(\.jsDisplayString)
            case .object(let obj)? where obj["requiredElements"] != nil: required = obj["requiredElements"]!.arrayValue?.map(\.jsDisplayString) ?? []
            default: throw EvalAssertionError("xml assertion must contain a string, array value, or no value")
            }
            let (ok, why) = type == .isXML ? EvalXML.validate(JSText.trim(outputString), required: required) : EvalXML.contains(outputString, required: required)
            let pass = ok != inv
            return EvalGradingResult(pass: pass, score: pass ? 1 : 0, reason: pass ? "Assertion passed" : why)

        case .isHTML:
            let (ok, why) = EvalHTML.isHTML(outputString)
            let pass = ok != inv
            return EvalGradingResult(pass: pass, score: pass ? 1 : 0, reason: pass ? "Assertion passed" : (ok ? "Output is valid HTML" : why))
        case .containsHTML:
            return Self.res(EvalHTML.containsHTML(outputString) != inv, "Expected output to \(Self.notS(inv))contain HTML content")

        case .levenshtein:
            guard let v = value?.stringValue else { throw EvalAssertionError("\"levenshtein\" assertion type must have a string value") }
            let d = JSText.levenshtein(outputString, v)
            let t = T ?? 5
            return Self.res(Double(d) <= t, "Levenshtein distance \(d) is greater than threshold \(JSNumber.string(t))")

        case .rougeN:
            guard let v = value?.stringValue else { throw EvalAssertionError("\"rouge\" assertion type must be a string value") }
            let s = rougeN(outputString, v)
            let t = T ?? 0.75
            let pass = (s >= t) != inv
            return EvalGradingResult(pass: pass, score: inv ? 1 - s : s,
                                     reason: pass ? "ROUGE-N score \(JSNumber.toFixed(s, 2)) is greater than or equal to threshold \(JSNumber.string(t))"
                                        : "ROUGE-N score \(JSNumber.toFixed(s, 2)) is less than threshold \(JSNumber.string(t))")

        case .bleu, .gleu:
            let refs: [String]
            if let s = value?.stringValue { refs = [s] } else if let arr = value?.arrayValue, arr.allSatisfy({ $0.stringValue != nil }) { refs = arr.compactMap(\.stringValue) } else {
                throw EvalAssertionError("\"\(base)\" assertion type must have a string or array of strings value")
            }
            let s: Double
            do {
                s = type == .bleu ? try EvalTextMetrics.bleu(outputString, refs) : try EvalTextMetrics.gleu(outputString, refs)
            } catch { throw EvalAssertionError("Invalid inputs") }
            let t = T ?? 0.5
            let pass = (s >= t) != inv
            let name = base.uppercased()
            return EvalGradingResult(pass: pass, score: inv ? 1 - s : s,
                                     reason: pass ? "Assertion passed" : "\(name) score \(JSNumber.toFixed(s, 4)) is \(inv ? "greater" : "less") than threshold \(JSNumber.string(t))")

        case .latency:
            guard let t = T else { throw EvalAssertionError("Latency assertion must have a threshold in milliseconds") }
            guard let l = o.latencyMs else { throw EvalAssertionError("Latency assertion does not support cached results. Rerun the eval with --no-cache") }
            return Self.res(l <= t, "Latency \(JSNumber.string(l))ms is greater than threshold \(JSNumber.string(t))ms")

        case .cost:
            guard let t = T else { throw EvalAssertionError("Cost assertion must have a threshold") }
            guard let c = o.cost else { throw EvalAssertionError("Cost assertion does not support providers that do not return cost") }
            return Self.res(c <= t, "Cost \(JSNumber.toPrecision(c, 2)) is greater than threshold \(JSNumber.string(t))")

        case .perplexity, .perplexityScore:
            guard let lp = o.logProbs, !lp.isEmpty else {
                throw EvalAssertionError("Perplexity assertion does not support providers that do not return logProbs")
            }
            let ppl = exp(-(lp.reduce(0, +) / Double(lp.count)))
            if type == .perplexity {
                let pass = T == nil || ppl <= T!
                return Self.res(pass, "Perplexity \(JSNumber.toFixed(ppl, 2)) is greater than threshold \(JSNumber.string(T ?? 0))")
            }
            let s = 1 / (1 + ppl)
            let pass = T == nil || s >= T!
            return EvalGradingResult(pass: pass, score: s, reason: pass ? "Assertion passed" : "Perplexity score \(JSNumber.toFixed(s, 2)) is less than threshold \(JSNumber.string(T ?? 0))")

        case .toolCallF1:
            return try toolCallF1(value, o, T, inv)
        case .isValidOpenAIToolsCall, .isValidOpenAIFunctionCall, .isValidFunctionCall:
            return try EvalToolChecks.validCall(base, output: o, value: value, context: ctx, engine: self)

        case .traceSpanCount, .traceSpanDuration, .traceErrorSpans:
            guard let spans = o.traceSpans else { throw EvalAssertionError("No trace data available for \(base) assertion") }
            return try EvalTraceChecks.check(base, value: value, spans: spans)
        case .trajectoryToolUsed, .trajectoryToolSequence, .trajectoryToolArgsMatch, .trajectoryStepCount:
            guard let spans = o.traceSpans else { throw EvalAssertionError("No trace data available for \(base) assertion") }
            return try EvalTraceChecks.trajectory(base, value: value, spans: spans, inverse: inv)
        case .skillUsed:
            return try EvalTraceChecks.skillUsed(value: value, metadata: o.metadata, inverse: inv)

        case .javascript, .python:
            return try script(a, base, value, o, ctx, inv)

        case .llmRubric, .modelGradedClosedQA, .factuality, .gEval, .trajectoryGoalSuccess:
            return try EvalModelGrading.grade(a, base: base, value: value, output: o, context: ctx, judge: judge)

        }
    }

    func wordCount(_ value: JSONValue?, _ s: String, _ inv: Bool) throws -> EvalGradingResult {
        let n = JSText.wordCount(s)
        var minV: Double?, maxV: Double?, exact: Double?
        switch value {
        case .int?, .double?: exact = value!.doubleValue
        case .string(let str)?:
            guard let d = Double(JSText.trim(str)) else { throw EvalAssertionError("\"word-count\" assertion value must be a number or an object with min/max") }
            exact = d
        case .object(let o)?:
            minV = o["min"]?.doubleValue
            maxV = o["max"]?.doubleValue
            if minV == nil && maxV == nil { throw EvalAssertionError("\"word-count\" assertion object must have \"min\" and/or \"max\"") }
            if let a = minV, let b = maxV, a > b {
                throw EvalAssertionError("\"word-count\" assertion: min (\(JSNumber.string(a))) must be less than or equal to max (\(JSNumber.string(b)))")
            }
        default: throw EvalAssertionError("\"word-count\" assertion must have a value")
        }
        let N = String(n)
        if let e = exact {
            let ok = Double(n) == e
            return Self.res(ok != inv, inv ? "Expected word count to not equal \(JSNumber.string(e)), but got \(N)" : "Word count \(N) does not equal expected \(JSNumber.string(e))")
        }
        if let a = minV, let b = maxV {
            let ok = Double(n) >= a && Double(n) <= b
            let A = JSNumber.string(a), B = JSNumber.string(b)
            return Self.res(ok != inv, inv ? "Expected word count to not be between \(A) and \(B), but got \(N)" : "Word count \(N) is not between \(A) and \(B)")
        }
        if let a = minV {
            let ok = Double(n) >= a
            return Self.res(ok != inv, inv ? "Expected word count to be less than \(JSNumber.string(a)), but got \(N)" : "Word count \(N) is less than minimum \(JSNumber.string(a))")
        }
        let b = maxV!
        let ok = Double(n) <= b
        return Self.res(ok != inv, inv ? "Expected word count to be greater than \(JSNumber.string(b)), but got \(N)" : "Word count \(N) is greater than maximum \(JSNumber.string(b))")
    }

    func schemaValue(_ value: JSONValue?) throws -> JSONSchemaValidator? {
        guard let v = value, !v.isNull else { return nil }
        var schemaJSON = v
        if let s = v.stringValue {
            if JSText.trim(s).isEmpty { return nil }
            guard let parsed = JSONValue.parseStrictOrNil(s) ?? EvalYAML.parseOrNil(s), parsed.objectValue != nil || parsed.boolValue != nil else {
                throw EvalAssertionError("is-json schema is neither a JSON nor a YAML object")
            }
            schemaJSON = parsed
        }
        do { return try schema(schemaJSON) } catch let e as JSONSchemaValidator.SchemaError { throw EvalAssertionError(e.message) }
    }

    func isJSON(_ value: JSONValue?, _ s: String, _ inv: Bool) throws -> EvalGradingResult {
        let validator = try schemaValue(value)
        guard let parsed = JSONValue.parseStrictOrNil(s) else {
            return Self.res(inv, "Expected output to be valid JSON")
        }
        guard let validator else { return Self.res(!inv, "Expected output to not be valid JSON") }
        if let f = validator.validate(parsed) {
            return Self.res(inv, "JSON does not conform to the provided schema. Errors: \(f.description)")
        }
        return Self.res(!inv, "Output is JSON that conforms to the provided schema")
    }

    func containsJSON(_ value: JSONValue?, _ s: String, _ inv: Bool) throws -> EvalGradingResult {
        let validator = try schemaValue(value)
        let candidates = EvalJSONExtractor.extractObjects(s)
        guard let validator else {
            return Self.res(!candidates.isEmpty != inv, inv ? "Expected output to not contain valid JSON" : "Expected output to contain valid JSON")
        }
        var lastError: String? = nil
        var matched = false
        for c in candidates {
            if let f = validator.validate(c) { lastError = "JSON does not conform to the provided schema. Errors: \(f.description)" } else { matched = true; break }
        }
        if inv { return Self.res(!matched, "Output contains JSON conforming to the provided schema") }
        return Self.res(matched, lastError ?? "Expected output to contain valid JSON")
    }

    func toolCallF1(_ value: JSONValue?, _ o: EvalOutput, _ T: Double?, _ inv: Bool) throws -> EvalGradingResult {
        var expected: [String] = []
        if let a = value?.arrayValue { expected = a.map { JSText.trim($0.jsDisplayString) }.filter { !$0.isEmpty } } else if let s = value?.stringValue {
            expected = s.split(separator: ",").map { JSText.trim(String($0)) }.filter { !$0.isEmpty }
        }
        if expected.isEmpty { throw EvalAssertionError("\"tool-call-f1\" assertion requires a value") }
        let exp = Set(expected)
        var source = o.output
        if let calls = o.toolCalls, !calls.isEmpty { source = .array(calls) }
        let act = Set(EvalToolChecks.toolNames(source))
        let inter = Double(exp.intersection(act).count)
        let p = act.isEmpty ? 0 : inter / Double(act.count)
        let r = inter / Double(exp.count)
        let f1 = p + r > 0 ? 2 * p * r / (p + r) : 0
        let t = T ?? 1
        let pass = (f1 >= t) != inv
        let reason = "Tool Call F1: \(JSNumber.toFixed(f1, 3)) (Precision=\(JSNumber.toFixed(p, 3)), Recall=\(JSNumber.toFixed(r, 3))). Expected: [\(exp.sorted().joined(separator: ", "))], Actual: [\(act.sorted().joined(separator: ", "))]"
        return EvalGradingResult(pass: pass, score: f1, reason: pass ? reason : reason + (inv ? "; expected F1 below \(JSNumber.string(t))" : "; expected F1 ≥ \(JSNumber.string(t))"))
    }

    func script(_ a: EvalAssertion, _ base: String, _ value: JSONValue?, _ o: EvalOutput, _ ctx: EvalAssertionContext, _ inv: Bool) throws -> EvalGradingResult {
        guard let code = value?.stringValue else { throw EvalAssertionError("\"\(base)\" assertion must have a string value") }
        guard let scripts else { return .skip("\(base) assertions are disabled (no script runtime)", assertion: a) }
        var context = JSONObject()
        context["prompt"] = .string(ctx.prompt)
        context["vars"] = .object(ctx.vars)
        context["test"] = ctx.test
        context["logProbs"] = o.logProbs.map { .array($0.map(JSONValue.double)) } ?? .null
        context["config"] = a.config ?? .obj([])
        context["provider"] = .obj([("id", .string(ctx.providerId)), ("label", ctx.providerLabel.map(JSONValue.string) ?? .null)])
        context["providerResponse"] = .obj([("output", o.output), ("metadata", o.metadata.map(JSONValue.object) ?? .null)])
        if let m = o.metadata { context["metadata"] = .object(m) }
        if let spans = o.traceSpans { context["trace"] = Self.traceJSON(traceId: o.traceId, spans: spans) }
        let isJS = base == "javascript"
        var req = EvalScriptRequest(language: isJS ? .javascript : .python,
                                    body: isJS ? EvalScriptBody.javascript(code) : EvalScriptBody.python(code),
                                    output: o.output, context: .object(context))
        if code.hasPrefix("file://") {
            // Resolved to an absolute path by the loader.
            let ref = EvalScriptRequest.fileReference(code)
            (req.file, req.function, req.body) = (ref.path, ref.function, "")
        }
        let T = a.threshold
        switch scripts.run(req) {
        case .unavailable(let why): return .skip(why, assertion: a)
        case .timedOut: throw EvalAssertionError("\(base) assertion timed out")
        case .failure(let m, let stack):
            if isJS { return EvalGradingResult(pass: false, score: 0, reason: "Custom function threw error: \(m)\nStack Trace: \(stack)") }
            return EvalGradingResult(pass: false, score: 0, reason: "Python code execution failed: \(m)")
        case .value(let v):
            return isJS ? try Self.interpretJS(v, code: code, threshold: T, inverse: inv) : try Self.interpretPython(v, code: code, threshold: T)
        }
    }

    /// Promptfoo's `similar`: cosine similarity of the embeddings of the expected value(s) and the output, pass iff
    /// ≥ (threshold ?? 0.75) (below, for not-similar); with a list, the first value that passes, else the lowest score.
    func similar(_ a: EvalAssertion, value: JSONValue?, output: String, context ctx: EvalAssertionContext, inverse inv: Bool) throws -> EvalGradingResult {
        guard let embedder else { return .skip("similar needs an embedding model and none is configured", assertion: a) }
        let expected: [String]
        if let arr = value?.arrayValue { expected = arr.map { $0.stringValue ?? $0.jsonString } } else if let s = value?.stringValue { expected = [s] } else {
            throw EvalAssertionError("Similarity assertion type must have a string or array of strings value")
        }
        let threshold = a.threshold ?? 0.75
        let provider = a.provider ?? ctx.test["options"]?["provider"].flatMap { p in p["embedding"] ?? p }
        let vectors = try embedder(provider, expected + [output])
        let out = vectors.last ?? []
        var minScore = Double.infinity
        for (i, _) in expected.enumerated() {
            let sim = Self.cosine(vectors[i], out)
            let pass = inv ? sim < threshold : sim >= threshold
            let greater = "Similarity \(JSNumber.toFixed(sim, 2)) is greater than threshold \(JSNumber.string(threshold))"
            let less = "Similarity \(JSNumber.toFixed(sim, 2)) is less than threshold \(JSNumber.string(threshold))"
            let score = inv ? 1 - sim : sim
            if pass { return EvalGradingResult(pass: true, score: score, reason: inv ? less : greater) }
            if expected.count == 1 { return EvalGradingResult(pass: false, score: score, reason: inv ? greater : less) }
            minScore = min(minScore, score)
        }
        return EvalGradingResult(pass: false, score: minScore, reason: "None of the provided values met the similarity threshold")
    }

    static func cosine(_ a: [Double], _ b: [Double]) -> Double {
        guard a.count == b.count, !a.isEmpty else { return 0 }
        var dot = 0.0, na = 0.0, nb = 0.0
        for i in a.indices { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i] }
        return na == 0 || nb == 0 ? 0 : dot / (na.squareRoot() * nb.squareRoot())
    }

    /// Promptfoo's trace shape: `{traceId, spans:[{spanId, name, startTime, endTime (ms), attributes, statusCode, statusMessage}]}`.
    static func traceJSON(traceId: String?, spans: [EvalTraceSpan]) -> JSONValue {
        .obj([("traceId", traceId.map(JSONValue.string) ?? .null), ("spans", .array(spans.map { s in
            var o = JSONObject()
            o["spanId"] = .string(s.spanId)
            o["name"] = .string(s.name)
            if let t = s.startMs { o["startTime"] = .number(t) }
            if let t = s.endMs { o["endTime"] = .number(t) }
            var attrs = JSONObject()
            for k in s.attributes.keys.sorted() { attrs[k] = s.attributes[k] }
            o["attributes"] = .object(attrs)
            if let c = s.statusCode { o["statusCode"] = .int(Int64(c)) }
            if let m = s.statusMessage { o["statusMessage"] = .string(m) }
            return .object(o)
        }))])
    }

    static func gradingResult(_ o: JSONObject) -> EvalGradingResult? {
        guard let p = o["pass"] else { return nil }
        let pass = p.isTruthy
        let score = o["score"]?.doubleValue ?? (pass ? 1 : 0)
        var r = EvalGradingResult(pass: pass, score: score, reason: o["reason"]?.stringValue ?? (pass ? "Assertion passed" : "Assertion failed"))
        if let ns = o["namedScores"]?.objectValue { for (k, v) in ns.pairs { r.namedScores[k] = v.doubleValue ?? 0 } }
        return r
    }

    static func interpretJS(_ v: JSONValue, code: String, threshold T: Double?, inverse inv: Bool) throws -> EvalGradingResult {
        switch v {
        case .bool(let b):
            let pass = b != inv
            return EvalGradingResult(pass: pass, score: pass ? 1 : 0, reason: pass ? "Assertion passed" : "Custom function returned \(inv ? "true" : "false")\n\(code)")
        case .int, .double:
            let n = v.doubleValue!
            let pass = (T == nil ? n > 0 : n >= T!) != inv
            return EvalGradingResult(pass: pass, score: n, reason: pass ? "Assertion passed" : "Custom function returned \(inv ? "true" : "false")\n\(code)")
        case .object(let o):
            guard var r = gradingResult(o) else { throw EvalAssertionError("Custom function must return a boolean, number, or GradingResult object. Got type object: \(v.jsonString)") }
            if inv {
                r.pass = !r.pass
                r.reason = r.pass ? "Assertion passed" : "Custom function returned true"
            }
            return r
        default:
            throw EvalAssertionError("Custom function must return a boolean, number, or GradingResult object. Got type \(v.isNull ? "undefined" : "string"): \(v.jsDisplayString)")
        }
    }

    static func interpretPython(_ v: JSONValue, code: String, threshold T: Double?) throws -> EvalGradingResult {
        func number(_ n: Double) -> EvalGradingResult {
            let pass = T == nil ? n > 0 : n >= T!
            return EvalGradingResult(pass: pass, score: n, reason: pass ? "Assertion passed" : "Python code returned false\n\(code)")
        }
        switch v {
        case .bool(let b):
            return EvalGradingResult(pass: b, score: b ? 1 : 0, reason: b ? "Assertion passed" : "Python code returned false\n\(code)")
        case .int, .double: return number(v.doubleValue!)
        case .string(let s):
            let t = JSText.lower(JSText.trim(s))
            if t == "true" { return EvalGradingResult(pass: true, score: 1, reason: "Assertion passed") }
            if t == "false" { return EvalGradingResult(pass: false, score: 0, reason: "Python code returned false\n\(code)") }
            if JSText.trim(s).hasPrefix("{"), let obj = JSONValue.parseStrictOrNil(s)?.objectValue { return try interpretPython(.object(obj), code: code, threshold: T) }
            if let d = Double(JSText.trim(s)) { return number(d) }
            throw EvalAssertionError("Python assertion must return a boolean, number, or {pass, score, reason} object. Got instead: \(s)")
        case .object(let raw):
            var o = JSONObject()
            for (k, x) in raw.pairs { o[snakeToCamel(k)] = x }
            guard var r = gradingResult(o) else { throw EvalAssertionError("Python assertion must return a boolean, number, or {pass, score, reason} object. Got instead: \(v.jsonString)") }
            if let T, r.score < T {
                r.pass = false
                r.reason = "Python score \(JSNumber.string(r.score)) is less than threshold \(JSNumber.string(T)): \(r.reason)"
            }
            return r
        default:
            throw EvalAssertionError("Python assertion must return a boolean, number, or {pass, score, reason} object. Got instead: \(v.jsonString)")
        }
    }

    static func snakeToCamel(_ s: String) -> String {
        var out = ""
        var up = false
        for ch in s {
            if ch == "_" { up = true; continue }
            out.append(up ? Character(ch.uppercased()) : ch)
            up = false
        }
        return out
    }
}

// MARK: - runAssertions

extension EvalAssertionEngine {
    /// Grades a test's assertions in list order and aggregates them (§4). Throws `EvalAssertionError` when an
    /// assertion's input is invalid (the row is an ERROR).
    public func runAssertions(_ assertions: [EvalAssertion], threshold: Double?, output: EvalOutput, context: EvalAssertionContext,
                              scoringFunction: String? = nil) throws -> (result: EvalGradingResult, aggregator: EvalAggregator) {
        var agg = EvalAggregator(threshold: threshold)
        for (i, a) in assertions.enumerated() {
            let r = try run(a, output: output, context: context)
            let metric = a.metric.map { EvalTemplate.renderLenient($0, vars: context.vars) }
            agg.add(index: i, result: r, metric: metric, weight: a.weight ?? 1)
        }
        guard let ref = scoringFunction else { return (agg.result(), agg) }
        // Promptfoo's assertScoringFunction: fn(namedScores, {threshold, tokensUsed, componentResults}) → GradingResult.
        let plain = agg.result()
        var unavailable: String?
        let result = agg.result { named in
            guard let scripts = self.scripts else { unavailable = "assertScoringFunction needs a script runtime"; return nil }
            let (path, fn) = EvalScriptRequest.fileReference(ref)
            var ns = JSONObject()
            for k in named.keys.sorted() { ns[k] = .number(named[k]!) }
            let ctx = JSONValue.obj([("threshold", threshold.map(JSONValue.number) ?? .null),
                                    ("tokensUsed", .obj([("total", .int(Int64(plain.tokensUsed?.total ?? 0)))])),
                                    ("componentResults", .array(plain.componentResults.map { c in
                                        .obj([("pass", .bool(c.pass)), ("score", .number(c.score)), ("reason", .string(c.reason))]) }))])
            let req = EvalScriptRequest(language: path.hasSuffix(".py") ? .python : .javascript, body: "", output: .object(ns), context: ctx,
                                        file: path, function: fn ?? (path.hasSuffix(".py") ? "get_assert" : nil))
            switch scripts.run(req) {
            case .value(let v):
                guard let o = v.objectValue, let r = Self.gradingResult(o) else { return nil }
                return r
            case .failure(let m, _): throw EvalAssertionError(m)
            case .unavailable(let why): unavailable = why; return nil
            case .timedOut: throw EvalAssertionError("the scoring function timed out")
            }
        }
        if let why = unavailable { agg.markSkipped("assertScoringFunction: \(why)"); return (plain, agg) }
        return (result, agg)
    }
}
