@testable import Flywheel
@testable import FlywheelSupport
import Foundation
import Testing
import TestSupport
@testable import FlywheelEvals

/// Runs Promptfoo 0.121.3's conformance vectors (copied into Fixtures/Evals) through the engine.
@Suite("Evals conformance")
struct EvalConformanceTests {
    static let fixtures = TestPaths.packageRoot.appendingPathComponent("Tests/FlywheelTests/Fixtures/Evals")

    /// Vectors whose recorded inputs do not determine the outcome (the upstream test configured a mock
    /// that the vector did not capture). Each is listed with why; they are reported, not counted.
    static let incompleteInputs: [String: String] = [
        "is-valid-openai-tools-call-005": "the upstream mock provider's config.tools is not in the vector",
        "is-valid-openai-tools-call-006": "tools loaded from an external file not in the vector",
        "is-valid-openai-tools-call-011": "tools loaded from an external file not in the vector",
        "is-valid-openai-tools-call-023": "the upstream mock provider's config.tools is not in the vector",
        "is-valid-openai-tools-call-007": "the vars that render {{unit}} are not in the vector",
        "is-valid-openai-tools-call-013": "the vars that render {{unit}} are not in the vector",
        "tool-call-f1-029": "the handler got renderedValue undefined while the vector's value is [\"placeholder\"]",
    ]

    struct StubPython: EvalScriptRunner {
        let value: JSONValue
        func run(_ request: EvalScriptRequest) -> EvalScriptResult { .value(value) }
    }

    enum Outcome { case agree, disagree(String), unsupported(String) }

    static func spans(_ trace: JSONValue?) -> [EvalTraceSpan]? {
        guard let arr = trace?["spans"]?.arrayValue else { return nil }
        return arr.map { s in
            var attrs: [String: JSONValue] = [:]
            for (k, v) in s["attributes"]?.objectValue?.pairs ?? [] { attrs[k] = v }
            return EvalTraceSpan(spanId: s["spanId"]?.jsDisplayString ?? "", name: s["name"]?.stringValue ?? "",
                                 startNs: s["startTime"]?.doubleValue.map { Int64($0 * 1e6) }, endNs: s["endTime"]?.doubleValue.map { Int64($0 * 1e6) },
                                 statusCode: s["statusCode"]?.doubleValue.map { Int($0) }, statusMessage: s["statusMessage"]?.stringValue, attributes: attrs)
        }
    }

    static func output(_ v: JSONObject) -> EvalOutput {
        let ctx = v["context"]?.objectValue
        return EvalOutput(output: v["output"] ?? .null, latencyMs: ctx?["latencyMs"]?.doubleValue, cost: ctx?["cost"]?.doubleValue,
                          finishReason: ctx?["finishReason"]?.stringValue, logProbs: ctx?["logProbs"]?.arrayValue?.compactMap(\.doubleValue),
                          traceSpans: spans(ctx?["trace"]), metadata: ctx?["metadata"]?.objectValue)
    }

    static func context(_ v: JSONObject) -> EvalAssertionContext {
        let vars = (v["vars"] ?? v["test_vars"])?.objectValue ?? JSONObject()
        let p = v["context"]?["provider"]
        return EvalAssertionContext(vars: vars, prompt: "Some prompt", promptLabel: "Some prompt", test: .obj([("vars", .object(vars))]),
                                    providerId: p?["id"]?.stringValue ?? "echo", providerConfig: p?["config"])
    }

    /// Checks every expectation field present in `v` against a result (or a thrown message).
    static func check(_ v: JSONObject, result: EvalGradingResult?, error: String?) -> Outcome {
        if let e = v["expected_error"]?.stringValue {
            guard let error else { return .disagree("expected error \"\(e)\", got \(result.map { "pass=\($0.pass) reason=\($0.reason)" } ?? "nothing")") }
            return error.contains(e) ? .agree : .disagree("expected error \"\(e)\", got error \"\(error)\"")
        }
        if let error { return .disagree("unexpected error: \(error)") }
        guard let r = result else { return .disagree("no result") }
        if r.skipped { return .disagree("skipped: \(r.reason)") }
        var problems: [String] = []
        if let p = v["expected_pass"]?.boolValue, p != r.pass { problems.append("pass \(r.pass) ≠ \(p)") }
        if let s = v["expected_score"]?.doubleValue, abs(s - r.score) > 1e-9 { problems.append("score \(r.score) ≠ \(s)") }
        if let c = v["score_close_to"]?.arrayValue, let x = c[0].doubleValue, let d = c[1].doubleValue, !(abs(r.score - x) < pow(10, -d) / 2) {
            problems.append("score \(r.score) not close to \(x)")
        }
        if let checks = v["score_checks"]?.arrayValue, let f = scoreChecks(checks, r.score) { problems.append(f) }
        if let reason = v["expected_reason"]?.stringValue, reason != r.reason { problems.append("reason \"\(r.reason)\" ≠ \"\(reason)\"") }
        if let c = v["reason_contains"]?.stringValue, !r.reason.contains(c) { problems.append("reason \"\(r.reason)\" lacks \"\(c)\"") }
        for c in v["reason_contains_all"]?.arrayValue?.compactMap(\.stringValue) ?? [] where !r.reason.contains(c) {
            problems.append("reason \"\(r.reason)\" lacks \"\(c)\"")
        }
        if let m = v["reason_matches"]?.stringValue, !((try? JSRegex(m))?.test(r.reason) ?? false) { problems.append("reason \"\(r.reason)\" !~ /\(m)/") }
        if let f = v["expected_fields"], !partial(f, r.json) { problems.append("fields \(r.json.jsonString) ⊉ \(f.jsonString)") }
        for e in v["other_expectations"]?.arrayValue ?? [] {
            if let p = otherExpectation(e, r.json) { problems.append(p) }
        }
        return problems.isEmpty ? .agree : .disagree(problems.joined(separator: "; "))
    }

    static func scoreChecks(_ checks: [JSONValue], _ s: Double) -> String? {
        for c in checks {
            let x = c["value"]?.doubleValue ?? 0
            let ok: Bool
            switch c["op"]?.stringValue {
            case ">": ok = s > x
            case "<": ok = s < x
            case ">=": ok = s >= x
            case "<=": ok = s <= x
            case "==": ok = s == x
            case "closeTo": ok = abs(s - x) < pow(10, -(c["digits"]?.doubleValue ?? 2)) / 2
            default: ok = false
            }
            if !ok { return "score \(s) fails \(c.jsonString)" }
        }
        return nil
    }

    static func partial(_ expected: JSONValue, _ actual: JSONValue) -> Bool {
        switch (expected, actual) {
        case (.object(let e), .object(let a)): return e.pairs.allSatisfy { p in a[p.key].map { partial(p.value, $0) } ?? false }
        case (.array(let e), .array(let a)): return e.count == a.count && zip(e, a).allSatisfy { partial($0, $1) }
        default: return expected == actual
        }
    }

    static func at(_ v: JSONValue, _ path: [JSONValue]) -> JSONValue? {
        var cur: JSONValue? = v
        for p in path {
            if let k = p.stringValue {
                if let i = Int(k), let a = cur?.arrayValue { cur = i < a.count ? a[i] : nil } else { cur = cur?[k] }
            }
        }
        return cur
    }

    static func otherExpectation(_ e: JSONValue, _ json: JSONValue) -> String? {
        let path = e["path"]?.arrayValue ?? []
        let target = at(json, path)
        let args = e["args"]?.arrayValue ?? []
        let not = e["not"]?.boolValue == true
        var ok: Bool
        switch e["matcher"]?.stringValue {
        case "toBeDefined": ok = target != nil
        case "toHaveLength": ok = target?.arrayValue?.count == args.first?.doubleValue.map { Int($0) }
        case "toEqual": ok = target.map { partial(args[0], $0) && partial($0, args[0]) } ?? false
        case "toBeCloseTo": ok = target?.doubleValue.map { abs($0 - (args[0].doubleValue ?? 0)) < 0.005 } ?? false
        case "toHaveProperty": ok = args.first?.stringValue.flatMap { target?[$0] } != nil
        default: return "unknown matcher \(e.jsonString)"
        }
        if not { ok.toggle() }
        return ok ? nil : "expectation \(e.jsonString) failed on \(json.jsonString)"
    }

    static func run(_ v: JSONObject, node: SubprocessScriptRunner) -> Outcome {
        let id = v["id"]!.stringValue!
        let kind = v["kind"]!.stringValue!
        let type = v["type"]!.stringValue!
        let via = v["via"]!.stringValue!
        if incompleteInputs[id] != nil { return .unsupported("inputs incomplete: \(incompleteInputs[id]!)") }
        switch kind {
        case "helper":
            switch type {
            case "@extractJsonObjects":
                let got = EvalJSONExtractor.extractObjects(v["input"]!.stringValue!)
                return got == v["expected"]!.arrayValue! ? .agree : .disagree("got \(JSONValue.array(got).jsonString)")
            case "@trace-glob":
                let i = v["input"]!
                let got = EvalGlob.matches(i["spanName"]!.stringValue!, i["pattern"]!.stringValue!)
                return got == v["expected"]!.boolValue! ? .agree : .disagree("got \(got)")
            case "@csv-expected-string":
                let got = EvalCSVTests.assertion(fromString: v["input"]!.stringValue!)
                if let full = v["expected"] { return got == full ? .agree : .disagree("got \(got.jsonString)") }
                return partial(v["expected_partial"]!, got) ? .agree : .disagree("got \(got.jsonString)")
            case "@csv-row":
                let row = v["input"]!.objectValue!.pairs.map { ($0.key, $0.value.stringValue ?? $0.value.jsonString) }
                let got = EvalCSVTests.testCase(fromRow: row)
                return got == v["expected"]! ? .agree : .disagree("got \(got.jsonString)")
            default:
                return .unsupported("unknown helper \(type)")
            }
        case "metric":
            let refs = v["value"]!.arrayValue!.compactMap(\.stringValue)
            let extra = v["extra_args"]?.arrayValue ?? []
            do {
                let s: Double
                if type == "bleu" {
                    s = try EvalTextMetrics.bleu(v["output"]!.stringValue!, refs, weights: extra.first?.arrayValue?.compactMap(\.doubleValue) ?? [0.25, 0.25, 0.25, 0.25])
                } else {
                    s = try EvalTextMetrics.gleu(v["output"]!.stringValue!, refs, minN: extra.first?.doubleValue.map { Int($0) } ?? 1,
                                                 maxN: extra.count > 1 ? Int(extra[1].doubleValue!) : 4)
                }
                return check(v, result: EvalGradingResult(pass: true, score: s, reason: ""), error: nil)
            } catch {
                return check(v, result: nil, error: "Invalid inputs")
            }
        case "aggregate":
            if type == "@test" {
                let test = v["test"]!
                do {
                    let asserts = try (test["assert"]?.arrayValue ?? []).map { try EvalAssertion(parsing: $0) }
                    var ctx = context(v)
                    ctx.vars = test["vars"]?.objectValue ?? JSONObject()
                    let t = test["threshold"]?.doubleValue
                    let engine = EvalAssertionEngine(judge: nil, scripts: node)
                    let (r, _) = try engine.runAssertions(asserts, threshold: t, output: output(v), context: ctx)
                    return check(v, result: r, error: nil)
                } catch { return check(v, result: nil, error: "\(error)") }
            }
            // @assertions-result
            let cons = v["constructor"]?.objectValue ?? JSONObject()
            let set = try? cons["parentAssertionSet"]?["assertionSet"].map { try EvalAssertion(parsing: $0) }
            var agg = EvalAggregator(threshold: cons["threshold"]?.doubleValue, parentAssertionSet: set ?? nil)
            for add in v["addResult"]?.arrayValue ?? [] {
                agg.add(index: Int(add["index"]?.doubleValue ?? 0), result: EvalGradingResult(json: add["result"]!), metric: add["metric"]?.stringValue,
                        weight: add["weight"]?.doubleValue ?? 1)
            }
            var scoring: (([String: Double]) throws -> EvalGradingResult?)? = nil
            if let sf = v["scoringFunction"] {
                if let src = sf["$fn"]?.stringValue {
                    scoring = { _ in
                        switch node.run(EvalScriptRequest(language: .javascript, body: "return (\(src))()", output: .null, context: .null)) {
                        case .value(let r): return r.objectValue.flatMap(EvalAssertionEngine.gradingResult).map { g in
                            var g = g
                            g.metadata = r["metadata"]?.objectValue ?? JSONObject()
                            return g
                        }
                        default: throw EvalAssertionError("node unavailable")
                        }
                    }
                } else if let mock = v["mocked"]?.arrayValue?.first {
                    let value = mock["value"]!
                    scoring = { _ in
                        if let e = value["$error"]?.stringValue { throw EvalAssertionError(e) }
                        return value.objectValue.flatMap(EvalAssertionEngine.gradingResult)
                    }
                }
            }
            let r = agg.result(scoringFunction: scoring)
            if let st = v["instance_state"]?["expected_fields"]?["failedReason"]?.stringValue {
                return agg.failedReason == st ? .agree : .disagree("failedReason \(agg.failedReason ?? "nil")")
            }
            return check(v, result: r, error: nil)
        default:
            break
        }
        // Assertions
        let out = output(v)
        switch via {
        case "function:isBasicRefusal":
            let got = EvalRefusal.isBasicRefusal(out.outputString)
            return got == v["expected_pass"]!.boolValue! ? .agree : .disagree("got \(got)")
        case "function:validateXml", "function:containsXml":
            let req = v["value"]?.arrayValue?.compactMap(\.stringValue)
            let (ok, why) = via == "function:validateXml" ? EvalXML.validate(out.outputString, required: req) : EvalXML.contains(out.outputString, required: req)
            return check(v, result: EvalGradingResult(pass: ok, score: ok ? 1 : 0, reason: why), error: nil)
        default: break
        }
        var scripts: any EvalScriptRunner = node
        var rouge: @Sendable (String, String) -> Double = EvalTextMetrics.rougeN
        if let mock = v["mocked"]?.arrayValue?.first {
            let fn = mock["fn"]?.stringValue ?? ""
            let value = mock["value"]!
            if fn.hasPrefix("js-rouge") { let d = value.doubleValue ?? 0; rouge = { _, _ in d } } else { scripts = StubPython(value: value) }
        }
        let engine = EvalAssertionEngine(judge: nil, scripts: scripts, rougeN: rouge)
        let a = EvalAssertion(type: type, value: v["value"], threshold: v["threshold"], weight: v["weight"]?.doubleValue,
                              transform: v["transform"]?.stringValue, config: v["config"])
        do {
            let r = try engine.run(a, output: out, context: context(v))
            return check(v, result: r, error: nil)
        } catch {
            return check(v, result: nil, error: "\(error)")
        }
    }

    @Test("at least 99% of supported vectors agree")
    func vectors() throws {
        let text = try String(contentsOf: Self.fixtures.appendingPathComponent("promptfoo-assertion-vectors.json"), encoding: .utf8)
        let vectors = try #require(JSONValue.parseStrict(text).arrayValue)
        #expect(vectors.count == 451)
        let node = SubprocessScriptRunner()
        var agree = 0, supported = 0
        var disagreements: [String] = []
        var unsupported: [String: Int] = [:]
        for v in vectors {
            let o = v.objectValue!
            if o["requires"]?.stringValue == "javascript-engine", node.nodePath == nil {
                unsupported["no node on PATH", default: 0] += 1
                continue
            }
            switch Self.run(o, node: node) {
            case .agree: agree += 1; supported += 1
            case .disagree(let why): supported += 1; disagreements.append("\(o["id"]!.stringValue!): \(why)")
            case .unsupported(let why): unsupported[why, default: 0] += 1
            }
        }
        print("Evals conformance: \(agree)/\(supported) supported vectors agree; not run: \(unsupported.values.reduce(0, +))")
        for (k, n) in unsupported.sorted(by: { $0.key < $1.key }) { print("  not run (\(n)): \(k)") }
        for d in disagreements { print("  DISAGREE \(d)") }
        #expect(supported >= 444)
        #expect(Double(agree) >= 0.99 * Double(supported), "disagreements:\n\(disagreements.joined(separator: "\n"))")
    }
}
