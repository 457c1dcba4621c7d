import FlywheelSupport
import Foundation

// MARK: - Tool calls

enum EvalToolChecks {
    /// Tool names from OpenAI, Google and Anthropic shapes, also inside text.
    static func toolNames(_ v: JSONValue) -> [String] {
        switch v {
        case .null: return []
        case .string(let s):
            if let parsed = JSONValue.parseStrictOrNil(s), parsed.objectValue != nil || parsed.arrayValue != nil { return toolNames(parsed) }
            return EvalJSONExtractor.extractObjects(s).flatMap(toolNames)
        case .array(let a): return a.flatMap(toolNames)
        case .object(let o):
            if let calls = o["tool_calls"]?.arrayValue { return calls.flatMap(toolNames) }
            if let tc = o["toolCall"]?["functionCalls"]?.arrayValue { return tc.compactMap { $0["name"]?.stringValue } }
            if let fc = o["functionCall"]?["name"]?.stringValue { return [fc] }
            if let f = o["function"]?["name"]?.stringValue { return [f] }
            if let content = o["content"]?.arrayValue { return content.flatMap(toolNames) }
            if o["type"]?.stringValue == "tool_use", let n = o["name"]?.stringValue { return [n] }
            if o["type"]?.stringValue == "text" { return [] }
            if let n = o["name"]?.stringValue { return [n] }
            return []
        default: return []
        }
    }

    static let mcpError = try! JSRegex("MCP Tool Error \\(([^)]+)\\): ([^\\n]*)")
    static let mcpResult = try! JSRegex("MCP Tool Result \\(([^)]+)\\):")

    static func groups(_ re: JSRegex, _ s: String) -> [String]? {
        let ns = s as NSString
        guard let m = re.regex.firstMatch(in: s, range: NSRange(location: 0, length: ns.length)) else { return nil }
        return (1..<m.numberOfRanges).map { m.range(at: $0).location == NSNotFound ? "" : ns.substring(with: m.range(at: $0)) }
    }

    static func lowerTypes(_ v: JSONValue) -> JSONValue {
        switch v {
        case .object(let o):
            var out = JSONObject()
            for (k, x) in o.pairs {
                if k == "type", let s = x.stringValue { out[k] = .string(JSText.lower(s)) } else { out[k] = lowerTypes(x) }
            }
            return .object(out)
        case .array(let a): return .array(a.map(lowerTypes))
        default: return v
        }
    }

    static func renderTemplates(_ v: JSONValue, _ vars: JSONObject) -> JSONValue {
        switch v {
        case .string(let s): return .string(EvalTemplate.renderLenient(s, vars: vars))
        case .array(let a): return .array(a.map { renderTemplates($0, vars) })
        case .object(let o):
            var out = JSONObject()
            for (k, x) in o.pairs { out[k] = renderTemplates(x, vars) }
            return .object(out)
        default: return v
        }
    }

    static func validCall(_ base: String, output o: EvalOutput, value: JSONValue?, context ctx: EvalAssertionContext, engine: EvalAssertionEngine) throws -> EvalGradingResult {
        func fail(_ r: String) -> EvalGradingResult { EvalGradingResult(pass: false, score: 0, reason: r) }
        let config = ctx.providerConfig.map { renderTemplates($0, ctx.vars) }
        // MCP text results.
        let text: String? = o.output.stringValue ?? o.output["content"]?.stringValue
        if base == "is-valid-openai-tools-call", let text {
            if let g = groups(mcpError, text) { return fail("MCP tool call failed for \(g[0]): \(JSText.trim(g[1]))") }
            if let g = groups(mcpResult, text) { return EvalGradingResult(pass: true, score: 1, reason: "MCP tool call succeeded for \(g[0])") }
            if text.contains("MCP Tool Result") { return EvalGradingResult(pass: true, score: 1, reason: "MCP tool call succeeded for unknown") }
        }
        func validate(_ name: String, _ args: JSONValue, _ params: JSONValue?) throws -> EvalGradingResult? {
            guard let params else { return nil }
            let validator: JSONSchemaValidator
            do { validator = try engine.schema(params) } catch let e as JSONSchemaValidator.SchemaError { throw EvalAssertionError(e.message) }
            if let f = validator.validate(args) { return fail("Call to \"\(name)\" does not match schema: [\(f.description)]") }
            return nil
        }
        switch EvalAssertionType(rawValue: base) {
        case .isValidOpenAIToolsCall?:
            var calls: JSONValue = o.toolCalls.map { .array($0) } ?? o.output
            if case .string(let s) = calls, let p = JSONValue.parseStrictOrNil(s) { calls = p }
            if let tc = calls["tool_calls"] { calls = tc }
            guard let arr = calls.arrayValue, !arr.isEmpty,
                  arr.allSatisfy({ $0["function"]?["name"]?.stringValue != nil && $0["function"]?["arguments"] != nil }) else {
                return fail("OpenAI did not return a valid-looking tools response: \(o.output.jsonString)")
            }
            guard let tools = config?["tools"]?.arrayValue, !tools.isEmpty else {
                return fail("No tools configured in provider, but output contains tool calls")
            }
            for call in arr {
                let name = call["function"]!["name"]!.stringValue!
                guard let tool = tools.first(where: { $0["function"]?["name"]?.stringValue == name }) else {
                    return fail("Called \"\(name)\", but there is no function with that name")
                }
                let rawArgs = call["function"]!["arguments"]!
                let args = rawArgs.stringValue.map { JSONValue.parseStrictOrNil($0) ?? .string($0) } ?? rawArgs
                if let f = try validate(name, args, tool["function"]?["parameters"]) { return f }
            }
            return EvalGradingResult(pass: true, score: 1, reason: "Assertion passed")
        case .isValidOpenAIFunctionCall?:
            var call = o.output
            if case .string(let s) = call, let p = JSONValue.parseStrictOrNil(s) { call = p }
            if let fc = call["function_call"] { call = fc }
            guard let name = call["name"]?.stringValue, let rawArgs = call["arguments"] else {
                return fail("OpenAI did not return a valid-looking function call: \(o.output.jsonString)")
            }
            guard let fns = config?["functions"]?.arrayValue, !fns.isEmpty else { return fail("No functions configured in provider") }
            guard let fn = fns.first(where: { $0["name"]?.stringValue == name }) else {
                return fail("Called \"\(name)\", but there is no function with that name")
            }
            let args = rawArgs.stringValue.map { JSONValue.parseStrictOrNil($0) ?? .string($0) } ?? rawArgs
            if let f = try validate(name, args, fn["parameters"]) { return f }
            return EvalGradingResult(pass: true, score: 1, reason: "Assertion passed")
        default:  // Google is-valid-function-call
            var out = o.output
            if case .string(let s) = out, let p = JSONValue.parseStrictOrNil(s) { out = p }
            var calls: [JSONValue] = []
            if let fcs = out["toolCall"]?["functionCalls"]?.arrayValue { calls = fcs } else if let arr = out.arrayValue { calls = arr.compactMap { $0["functionCall"] } }
            guard !calls.isEmpty else { return fail("Google did not return a valid-looking function call: \(o.output.jsonString)") }
            let decls = (config?["tools"]?.arrayValue ?? []).flatMap { $0["functionDeclarations"]?.arrayValue ?? [] }
            for call in calls {
                guard let name = call["name"]?.stringValue else { return fail("Google did not return a valid-looking function call: \(o.output.jsonString)") }
                guard let decl = decls.first(where: { $0["name"]?.stringValue == name }) else {
                    return fail("Called \"\(name)\", but there is no function with that name")
                }
                let rawArgs = call["args"] ?? .obj([])
                let args = rawArgs.stringValue.map { JSONValue.parseStrictOrNil($0) ?? .string($0) } ?? rawArgs
                if let f = try validate(name, args, decl["parameters"].map(lowerTypes)) { return f }
            }
            return EvalGradingResult(pass: true, score: 1, reason: "Assertion passed")
        }
    }
}

// MARK: - Traces and trajectories

enum EvalTraceChecks {
    static func ms(_ d: Double) -> String { JSNumber.string(d) }

    static func isErrorSpan(_ s: EvalTraceSpan) -> Bool {
        if s.isError { return true }
        if let c = s.statusCode, c == 2 || c >= 400 { return true }
        for k in ["error", "exception", "failed", "failure"] {
            if let v = s.attributes[k], v.isTruthy { return true }
        }
        if let h = s.attributes["http.status_code"] {
            let n = h.jsNumber
            if n >= 400 { return true }
        }
        for k in ["otel.status_code", "status.code"] where s.attributes[k]?.stringValue?.uppercased() == "ERROR" { return true }
        if let m = s.statusMessage, let re = try? JSRegex("error|failed|failure|exception|timeout|abort", flags: "i"), re.test(m) { return true }
        return false
    }

    static func check(_ base: String, value: JSONValue?, spans: [EvalTraceSpan]) throws -> EvalGradingResult {
        switch EvalAssertionType(rawValue: base) {
        case .traceSpanCount?:
            guard let v = value?.objectValue, let pattern = v["pattern"]?.stringValue else {
                throw EvalAssertionError("trace-span-count assertion must have a value object with pattern property")
            }
            let minV = v["min"]?.doubleValue, maxV = v["max"]?.doubleValue
            let matched = spans.filter { EvalGlob.matches($0.name, pattern) }
            let n = matched.count
            var pass = true
            var reason: String
            if let m = minV, Double(n) < m {
                pass = false
                reason = "Found \(n) spans matching pattern \"\(pattern)\", expected at least \(ms(m))"
            } else if let m = maxV, Double(n) > m {
                pass = false
                reason = "Found \(n) spans matching pattern \"\(pattern)\", expected at most \(ms(m))"
            } else {
                reason = "Found \(n) spans matching pattern \"\(pattern)\""
                if let a = minV, let b = maxV { reason += " (expected \(ms(a))-\(ms(b)))" } else if let a = minV { reason += " (expected at least \(ms(a)))" } else if let b = maxV {
                    reason += " (expected at most \(ms(b)))"
                }
            }
            if !matched.isEmpty { reason += ". Matched spans: " + matched.map(\.name).joined(separator: ", ") }
            return EvalGradingResult(pass: pass, score: pass ? 1 : 0, reason: reason)

        case .traceSpanDuration?:
            guard let v = value?.objectValue, let maxD = v["max"]?.doubleValue else {
                throw EvalAssertionError("trace-span-duration assertion must have a value object with max property")
            }
            let pattern = v["pattern"]?.stringValue ?? "*"
            let complete = spans.filter { EvalGlob.matches($0.name, pattern) && $0.startNs != nil && $0.endNs != nil }
            if complete.isEmpty {
                return EvalGradingResult(pass: true, score: 1, reason: "No spans found matching pattern \"\(pattern)\" with complete timing data")
            }
            let durs = complete.map { (name: $0.name, d: $0.endMs! - $0.startMs!) }
            let slowest = durs.sorted { $0.d > $1.d }
            if let p = v["percentile"]?.doubleValue {
                let sorted = durs.map(\.d).sorted()
                let idx = max(0, min(sorted.count - 1, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1))
                let x = sorted[idx]
                if x <= maxD {
                    return EvalGradingResult(pass: true, score: 1, reason: "\(ms(p))th percentile duration (\(ms(x))ms) is within threshold \(ms(maxD))ms")
                }
                let top = slowest.prefix(3).map { "\($0.name) (\(ms($0.d))ms)" }.joined(separator: ", ")
                return EvalGradingResult(pass: false, score: 0, reason: "\(ms(p))th percentile duration (\(ms(x))ms) exceeds threshold \(ms(maxD))ms. Slowest spans: \(top)")
            }
            let over = slowest.filter { $0.d > maxD }
            if over.isEmpty {
                return EvalGradingResult(pass: true, score: 1, reason: "All \(durs.count) spans matching pattern \"\(pattern)\" completed within \(ms(maxD))ms (max: \(ms(slowest[0].d))ms)")
            }
            let top = over.prefix(3).map { "\($0.name) (\(ms($0.d))ms)" }.joined(separator: ", ")
            return EvalGradingResult(pass: false, score: 0, reason: "\(over.count) span(s) exceed duration threshold \(ms(maxD))ms. Slowest: \(top)")

        default:  // trace-error-spans
            var maxCount: Double? = nil, maxPct: Double? = nil
            var pattern = "*"
            switch value {
            case nil, .null?: maxCount = 0
            case .int?, .double?: maxCount = value!.doubleValue
            case .object(let o)?:
                maxCount = o["max_count"]?.doubleValue
                maxPct = o["max_percentage"]?.doubleValue
                pattern = o["pattern"]?.stringValue ?? "*"
                if maxCount == nil && maxPct == nil { maxCount = 0 }
            default: throw EvalAssertionError("trace-error-spans assertion value must be a number or an object")
            }
            let matched = spans.filter { EvalGlob.matches($0.name, pattern) }
            let errors = matched.filter(isErrorSpan)
            let n = errors.count
            if let p = maxPct {
                let rate = matched.isEmpty ? 0 : Double(n) / Double(matched.count) * 100
                if rate > p {
                    return EvalGradingResult(pass: false, score: 0, reason: "Error rate \(JSNumber.toFixed(rate, 1))% exceeds threshold \(ms(p))% (\(n) errors out of \(matched.count) spans)")
                }
            }
            if let m = maxCount, Double(n) > m {
                var list = errors.prefix(3).map { s in s.statusMessage.map { "\(s.name) (\($0))" } ?? s.name }.joined(separator: ", ")
                if n > 3 { list += " and \(n - 3) more" }
                return EvalGradingResult(pass: false, score: 0, reason: "Found \(n) error spans, expected at most \(ms(m)). Errors: \(list)")
            }
            if n == 0 { return EvalGradingResult(pass: true, score: 1, reason: "No errors found in \(matched.count) spans matching pattern \"\(pattern)\"") }
            return EvalGradingResult(pass: true, score: 1, reason: "Found \(n) error spans out of \(matched.count) spans (within threshold)")
        }
    }

    // MARK: Trajectories

    struct Step {
        var kind: String
        var name: String
        var args: JSONValue?
        var label: String { "\(kind):\(name)" }
    }

    static func steps(_ spans: [EvalTraceSpan]) -> [Step] {
        let sorted = spans.enumerated().sorted { ($0.element.startNs ?? 0, $0.offset) < ($1.element.startNs ?? 0, $1.offset) }.map(\.element)
        var out: [Step] = []
        for s in sorted {
            let a = s.attributes
            func parseArgs(_ v: JSONValue?) -> JSONValue? {
                guard let v else { return nil }
                if let str = v.stringValue { return JSONValue.parseStrictOrNil(str) ?? v }
                return v
            }
            if let tool = a["tool.name"]?.stringValue ?? a["gen_ai.tool.name"]?.stringValue ?? a["codex.mcp.tool"]?.stringValue {
                let args = parseArgs(a["tool.arguments"] ?? a["tool.args"] ?? a["tool.input"] ?? a["gen_ai.tool.arguments"] ?? a["codex.mcp.input"])
                out.append(Step(kind: "tool", name: tool, args: args))
            } else if a["codex.item.type"]?.stringValue == "command_execution" {
                out.append(Step(kind: "command", name: a["codex.command"]?.stringValue ?? s.name, args: nil))
            } else if a.keys.contains(where: { $0.hasPrefix("reasoning") }) || JSText.lower(s.name).hasPrefix("reasoning") {
                out.append(Step(kind: "reasoning", name: s.name, args: nil))
            } else if a["promptfoo.provider.id"] != nil || a.keys.contains(where: { $0.hasPrefix("gen_ai.") }) {
                out.append(Step(kind: "message", name: s.name, args: nil))
            } else {
                out.append(Step(kind: "span", name: s.name, args: nil))
            }
        }
        return out
    }

    static func rangeText(_ minV: Double?, _ maxV: Double?) -> String {
        if let a = minV, let b = maxV { return "expected \(ms(a))-\(ms(b))" }
        if let b = maxV { return "expected at most \(ms(b))" }
        return "expected at least \(ms(minV ?? 1))"
    }

    static func partialMatch(_ expected: JSONValue, _ actual: JSONValue) -> Bool {
        switch (expected, actual) {
        case (.object(let e), .object(let a)):
            return e.pairs.allSatisfy { p in a[p.key].map { partialMatch(p.value, $0) } ?? false }
        case (.array(let e), .array(let a)):
            return e.count == a.count && zip(e, a).allSatisfy { partialMatch($0, $1) }
        default:
            return expected.looselyEquals(actual)
        }
    }

    static func trajectory(_ base: String, value: JSONValue?, spans: [EvalTraceSpan], inverse inv: Bool) throws -> EvalGradingResult {
        let all = steps(spans)
        let tools = all.filter { $0.kind == "tool" }
        let actual = tools.map(\.label).joined(separator: ", ")
        func r(_ pass: Bool, _ reason: String) -> EvalGradingResult { EvalGradingResult(pass: pass, score: pass ? 1 : 0, reason: reason) }
        switch EvalAssertionType(rawValue: base) {
        case .trajectoryToolUsed?:
            if let o = value?.objectValue, o["name"] != nil || o["pattern"] != nil {
                let pat = JSText.trim(o["pattern"]?.stringValue ?? o["name"]?.stringValue ?? "*")
                let minV = o["min"]?.doubleValue ?? (o["max"] == nil ? 1 : nil), maxV = o["max"]?.doubleValue
                let m = tools.filter { EvalGlob.matches($0.name, pat) }
                let ok = (minV.map { Double(m.count) >= $0 } ?? true) && (maxV.map { Double(m.count) <= $0 } ?? true)
                let reason = "Matched tool \"\(pat)\" \(m.count) time(s) (\(rangeText(minV, maxV)))" + (m.isEmpty ? "" : ". Matches: " + m.map(\.label).joined(separator: ", "))
                return r(ok != inv, reason)
            }
            let names = EvalAssertionEngine.valueList(value).map { JSText.trim($0) }.filter { !$0.isEmpty }
            guard !names.isEmpty else { throw EvalAssertionError("trajectory:tool-used assertion must have a value") }
            let present = Set(tools.map(\.name))
            if inv {
                let used = names.filter { n in present.contains(where: { EvalGlob.matches($0, n) }) }
                if used.isEmpty { return r(true, "None of the forbidden tools were used. Actual tools: \(actual)") }
                return r(false, "Forbidden tool(s) were used: \(used.joined(separator: ", ")). Actual tools: \(actual)")
            }
            let missing = names.filter { n in !present.contains(where: { EvalGlob.matches($0, n) }) }
            if missing.isEmpty { return r(true, "All required tools were used: \(names.joined(separator: ", ")). Actual tools: \(actual)") }
            return r(false, "Missing required tool(s): \(missing.joined(separator: ", ")). Actual tools: \(actual)")

        case .trajectoryToolSequence?:
            let o = value?.objectValue
            let expected = (o?["steps"] ?? value).map(EvalAssertionEngine.valueList) ?? []
            guard !expected.isEmpty else { throw EvalAssertionError("trajectory:tool-sequence assertion must have steps") }
            let mode = o?["mode"]?.stringValue ?? "in_order"
            let names = tools.map(\.name)
            var ok: Bool
            if mode == "exact" {
                ok = names.count == expected.count && zip(names, expected).allSatisfy { EvalGlob.matches($0, $1) }
            } else {
                var i = 0
                for n in names where i < expected.count && EvalGlob.matches(n, expected[i]) { i += 1 }
                ok = i == expected.count
            }
            ok = ok != inv
            let modeText = mode == "exact" ? "exact" : "in-order"
            if ok { return r(true, "Observed \(modeText) tool sequence of \(expected.joined(separator: ", ")). Actual tools: \(actual)") }
            return r(false, "Expected \(modeText) tool sequence of \(expected.joined(separator: ", ")), but actual tools were \(actual)")

        case .trajectoryToolArgsMatch?:
            guard let o = value?.objectValue else { throw EvalAssertionError("trajectory:tool-args-match assertion must have a value object") }
            guard let expected = o["args"] ?? o["arguments"] else {
                throw EvalAssertionError("trajectory:tool-args-match assertion must include an args or arguments property")
            }
            let label = o["name"]?.stringValue ?? o["pattern"]?.stringValue ?? "*"
            let mode = o["mode"]?.stringValue ?? "partial"
            let candidates = tools.filter { o["name"] != nil ? $0.name == label : EvalGlob.matches($0.name, label) }
            if candidates.isEmpty { return r(inv, "Tool \"\(label)\" was not observed. Actual tools: \(actual)") }
            let withArgs = candidates.filter { $0.args != nil }
            if withArgs.isEmpty { return r(inv, "Tool \"\(label)\" was observed but no arguments were captured. Actual tools: \(actual)") }
            for c in withArgs {
                let ok = mode == "exact" ? c.args!.looselyEquals(expected) : partialMatch(expected, c.args!)
                if ok { return r(!inv, "Tool \"\(label)\" matched expected arguments (\(mode)) on \(c.label). Args: \(c.args!.jsonString)") }
            }
            return r(inv, "No call to tool \"\(label)\" matched expected arguments (\(mode)): \(expected.jsonString). Observed args: \(withArgs.map { $0.args!.jsonString }.joined(separator: "; "))")

        default:  // trajectory:step-count
            let o = value?.objectValue
            let pat = o?["pattern"]?.stringValue ?? "*"
            let type = o?["type"]?.stringValue
            let minV = o?["min"]?.doubleValue ?? (o?["max"] == nil ? 1 : nil), maxV = o?["max"]?.doubleValue
            let m = all.filter { (type == nil || $0.kind == type) && (EvalGlob.matches($0.name, pat) || EvalGlob.matches($0.label, pat)) }
            let ok = (minV.map { Double(m.count) >= $0 } ?? true) && (maxV.map { Double(m.count) <= $0 } ?? true)
            var desc = "pattern=\(pat)"
            if let type { desc = "type=\(type), " + desc }
            let reason = "Matched \(m.count) trajectory step(s) for \(desc) (\(rangeText(minV, maxV)))" + (m.isEmpty ? "" : ". Matches: " + m.map(\.label).joined(separator: ", "))
            return r(ok != inv, reason)
        }
    }

    static func skillUsed(value: JSONValue?, metadata: JSONObject?, inverse inv: Bool) throws -> EvalGradingResult {
        let skills = (metadata?["skillCalls"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        func r(_ pass: Bool, _ reason: String) -> EvalGradingResult { EvalGradingResult(pass: pass, score: pass ? 1 : 0, reason: reason) }
        let actual = skills.isEmpty ? "none" : skills.joined(separator: ", ")
        if let o = value?.objectValue {
            let pat = JSText.trim(o["pattern"]?.stringValue ?? o["name"]?.stringValue ?? "*")
            let minV = o["min"]?.doubleValue ?? (o["max"] == nil ? 1 : nil), maxV = o["max"]?.doubleValue
            let m = skills.filter { EvalGlob.matches($0, pat) }
            let ok = (minV.map { Double(m.count) >= $0 } ?? true) && (maxV.map { Double(m.count) <= $0 } ?? true)
            return r(ok != inv, "Matched skill \"\(pat)\" \(m.count) time(s) (\(rangeText(minV, maxV))). Actual skills: \(actual)")
        }
        let names = EvalAssertionEngine.valueList(value).map { JSText.trim($0) }.filter { !$0.isEmpty }
        guard !names.isEmpty else { throw EvalAssertionError("skill-used assertion must have a value") }
        if inv {
            let used = names.filter { n in skills.contains(where: { EvalGlob.matches($0, n) }) }
            if used.isEmpty { return r(true, "None of the forbidden skills were used. Actual skills: \(actual)") }
            return r(false, "Forbidden skill(s) were used: \(used.joined(separator: ", ")). Actual skills: \(actual)")
        }
        let missing = names.filter { n in !skills.contains(where: { EvalGlob.matches($0, n) }) }
        if missing.isEmpty { return r(true, "All required skills were used: \(names.joined(separator: ", ")). Actual skills: \(actual)") }
        return r(false, "Missing required skill(s): \(missing.joined(separator: ", ")). Actual skills: \(actual)")
    }
}
