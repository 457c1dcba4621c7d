import FlywheelSupport
import Foundation

/// CSV test files (`tests: file://tests.csv`): Promptfoo's `__expected` shorthand and special columns.
public enum EvalCSVTests {
    /// Types whose shorthand gets a default threshold (0.8 for `similar`, else 0.75) when none is given in parentheses.
    static let thresholdTypes: Set<String> = [
        "rouge-n", "similar", "starts-with", "levenshtein", "classifier", "answer-relevance", "context-recall",
        "context-relevance", "context-faithfulness", "perplexity-score", "g-eval", "bleu", "gleu",
    ]
    static let shorthand = try! JSRegex("^(not-)?([a-z][a-z0-9-]*)(?:\\(([0-9]+(?:\\.[0-9]+)?)\\))?(?::([\\s\\S]*))?$")

    /// Promptfoo's `assertionFromString`: `type`, `type:value`, `type(threshold):value`, `not-…`, `javascript:`,
    /// `python:`, `grade:`/`llm-rubric:`, `file://x.py|js`.
    public static func assertion(fromString s: String) -> JSONValue {
        if s.hasPrefix("file://") {
            let path = String(s.dropFirst(7))
            let type = path.hasSuffix(".py") || path.contains(".py:") ? "python" : "javascript"
            return .obj([("type", .string(type)), ("value", .string(path))])
        }
        for (prefix, type) in [("javascript:", "javascript"), ("fn:", "javascript"), ("eval:", "javascript"), ("python:", "python"),
                               ("grade:", "llm-rubric"), ("llm-rubric:", "llm-rubric")] where s.hasPrefix(prefix) {
            return .obj([("type", .string(type)), ("value", .string(JSText.trim(String(s.dropFirst(prefix.count)))))])
        }
        let ns = s as NSString
        if let m = shorthand.regex.firstMatch(in: s, range: NSRange(location: 0, length: ns.length)) {
            func g(_ i: Int) -> String? { m.range(at: i).location == NSNotFound ? nil : ns.substring(with: m.range(at: i)) }
            let base = g(2)!
            let type = (g(1) ?? "") + base
            var o = JSONObject()
            o["type"] = .string(type)
            let value = g(4)
            if ["contains-all", "contains-any", "icontains-all", "icontains-any"].contains(base), let value {
                o["value"] = .array(value.split(separator: ",").map { .string(JSText.trim(String($0))) })
            } else if let value {
                o["value"] = .string(value)
            }
            if let t = g(3).flatMap(Double.init) {
                o["threshold"] = .number(t)
            } else if thresholdTypes.contains(base), value != nil {
                o["threshold"] = .number(base == "similar" ? 0.8 : 0.75)
            }
            return .object(o)
        }
        return .obj([("type", "equals"), ("value", .string(s))])
    }

    /// Promptfoo's `testCaseFromCsvRow`: special `__` columns, the rest are vars.
    public static func testCase(fromRow row: [(String, String)]) -> JSONValue {
        var vars = JSONObject(), options = JSONObject(), metadata = JSONObject()
        var asserts: [JSONObject] = []
        var description: String?, providerOutput: String?, metric: String?, threshold: Double?
        var expectedThreshold: Double?
        for (rawKey, value) in row {
            let key = JSText.trim(rawKey)
            if key == "__expected" || (key.hasPrefix("__expected") && Int(key.dropFirst(10)) != nil) {
                if let a = assertion(fromString: JSText.trim(value)).objectValue { asserts.append(a) }
            } else if key == "__prefix" { options["prefix"] = .string(value) } else if key == "__suffix" { options["suffix"] = .string(value) } else if key == "__description" {
                description = value
            } else if key == "__providerOutput" { providerOutput = value } else if key == "__metric" { metric = value } else if key == "__threshold" {
                threshold = Double(JSText.trim(value))
            } else if key.hasPrefix("__metadata:") {
                var name = String(key.dropFirst(11))
                if name.hasSuffix("[]") {
                    name.removeLast(2)
                    metadata[name] = .array(splitEscaped(value).map(JSONValue.string))
                } else {
                    metadata[name] = .string(value)
                }
            } else if key == "__config:__expected:threshold" {
                expectedThreshold = Double(JSText.trim(value))
            } else {
                vars[key] = .string(value)
            }
        }
        if let m = metric { for i in asserts.indices { asserts[i]["metric"] = .string(m) } }
        if let t = expectedThreshold {
            for i in asserts.indices { asserts[i]["threshold"] = .number(t) }
            metadata["threshold"] = .number(t)
        }
        var o = JSONObject()
        o["vars"] = .object(vars)
        o["assert"] = .array(asserts.map(JSONValue.object))
        o["options"] = .object(options)
        if !metadata.isEmpty { o["metadata"] = .object(metadata) }
        if let description { o["description"] = .string(description) }
        if let providerOutput { o["providerOutput"] = .string(providerOutput) }
        if let threshold { o["threshold"] = .number(threshold) }
        return .object(o)
    }

    /// Splits on commas not escaped with a backslash; `\,` becomes `,`; pieces trimmed, empty ones dropped.
    static func splitEscaped(_ s: String) -> [String] {
        var out: [String] = []
        var cur = ""
        var esc = false
        for ch in s {
            if esc { cur.append(ch); esc = false; continue }
            if ch == "\\" { esc = true; continue }
            if ch == "," { out.append(cur); cur = ""; continue }
            cur.append(ch)
        }
        out.append(cur)
        return out.map { JSText.trim($0) }.filter { !$0.isEmpty }
    }

}
