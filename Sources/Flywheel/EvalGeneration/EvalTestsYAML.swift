import Foundation
import Yams

/// Deterministic YAML for eval tests (block style, keys sorted by UTF-8 bytes, strings plain only when they
/// cannot be read back as anything else, otherwise JSON-style double-quoted), and a reader that follows
/// js-yaml's scalars (only `true`/`false` are booleans; no sexagesimal or octal).
public enum EvalTestsYAML {
    /// Renders a JSON value as a YAML document ending in a newline.
    public static func render(_ value: JSONValue) -> String {
        var out = ""
        emit(value, indent: 0, to: &out, inline: false)
        if !out.hasSuffix("\n") { out += "\n" }
        return out
    }

    /// Parses a YAML document into a JSON value.
    public static func parse(_ text: String) throws -> JSONValue {
        guard let node = try Yams.compose(yaml: text) else { return .null }
        return convert(node)
    }

    /// Parses a YAML list of tests (a bare list, or a suite mapping with `tests:`).
    public static func parseTests(_ text: String) throws -> [JSONValue] {
        let v = try parse(text)
        if let a = v.arrayValue { return a }
        if let a = v["tests"]?.arrayValue { return a }
        if v.isNull { return [] }
        throw EvalGenerationError(message: "expected a YAML list of tests")
    }

    static func convert(_ node: Node) -> JSONValue {
        switch node {
        case .scalar(let s):
            if s.style != .plain { return .string(s.string) }
            let t = s.string
            switch t {
            case "true", "True", "TRUE": return .bool(true)
            case "false", "False", "FALSE": return .bool(false)
            case "null", "Null", "NULL", "~", "": return .null
            default: break
            }
            if t.range(of: #"^[-+]?[0-9]+$"#, options: .regularExpression) != nil, let i = Int64(t) { return .int(i) }
            if t.range(of: #"^[-+]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][-+]?[0-9]+)?$"#, options: .regularExpression) != nil,
                let d = Double(t)
            {
                return .double(d)
            }
            return .string(t)
        case .mapping(let m):
            var o: [String: JSONValue] = [:]
            for (k, v) in m { o[k.string ?? ""] = convert(v) }
            return .object(o)
        case .sequence(let s):
            return .array(s.map(convert))
        case .alias:
            return .null
        }
    }

    static func isPlainSafe(_ s: String) -> Bool {
        guard !s.isEmpty, s.range(of: #"^[A-Za-z_][A-Za-z0-9_ ./()'%-]*$"#, options: .regularExpression) != nil else { return false }
        if s.hasSuffix(" ") || s.contains(": ") || s.contains(" #") { return false }
        let reserved: Set<String> = ["true", "false", "yes", "no", "on", "off", "null", "y", "n"]
        return !reserved.contains(s.lowercased())
    }

    static func scalar(_ v: JSONValue) -> String? {
        switch v {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int, .double: return v.canonicalText
        case .string(let s): return isPlainSafe(s) ? s : JSONValue.string(s).canonicalText
        case .array(let a): return a.isEmpty ? "[]" : nil
        case .object(let o): return o.isEmpty ? "{}" : nil
        }
    }

    static func key(_ k: String) -> String { isPlainSafe(k) && !k.contains(" ") ? k : JSONValue.string(k).canonicalText }

    /// `inline`: the first line continues after a `- ` already written.
    static func emit(_ value: JSONValue, indent: Int, to out: inout String, inline: Bool) {
        let pad = String(repeating: " ", count: indent)
        switch value {
        case .object(let o) where !o.isEmpty:
            for (i, k) in o.keys.sorted(by: byteOrder).enumerated() {
                if !(inline && i == 0) { out += pad }
                let v = o[k]!
                if let s = scalar(v) {
                    out += "\(key(k)): \(s)\n"
                } else if case .array = v {
                    out += "\(key(k)):\n"
                    emit(v, indent: indent, to: &out, inline: false)
                } else {
                    out += "\(key(k)):\n"
                    emit(v, indent: indent + 2, to: &out, inline: false)
                }
            }
        case .array(let a) where !a.isEmpty:
            for element in a {
                out += pad + "- "
                if let s = scalar(element) {
                    out += s + "\n"
                } else {
                    emit(element, indent: indent + 2, to: &out, inline: true)
                }
            }
        default:
            if !inline { out += pad }
            out += (scalar(value) ?? "null") + "\n"
        }
    }
}

/// A problem in eval generation, the ratchet or pruning.
public struct EvalGenerationError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
