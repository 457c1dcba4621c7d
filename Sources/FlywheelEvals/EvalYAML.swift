import FlywheelSupport
import Foundation
import Yams

/// A bad suite: which file, where, which key, and why. Every load error of the Evals stage is one of these.
public struct EvalSuiteError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The suite (or referenced) file.
    public var file: String
    /// 1-based line, when known.
    public var line: Int?
    /// Dotted path of the offending key, e.g. `tests[2].assert[0].value` (empty for the whole file).
    public var key: String
    /// What is wrong.
    public var reason: String

    public init(file: String, line: Int?, key: String, reason: String) {
        self.file = file
        self.line = line
        self.key = key
        self.reason = reason
    }

    public var description: String {
        var s = file
        if let line { s += ":\(line)" }
        if !key.isEmpty { s += ": \(key)" }
        return s + ": " + reason
    }
}

/// YAML read as js-yaml reads it (YAML 1.2 core: only `true`/`false` spellings are booleans, no sexagesimal
/// or legacy octal, `<<` merges, last duplicate key wins), into order-keeping `JSONValue`, with a line per key
/// path and limits against alias bombs and huge values.
public enum EvalYAML {
    /// Limits that keep a hostile file from exhausting memory.
    public struct Limits: Sendable {
        /// Maximum file size in bytes.
        public var maxBytes = 16 * 1024 * 1024
        /// Maximum nodes after alias expansion, for a small file; a larger file gets one more node per two bytes
        /// (`YAMLLimits.nodeBudget`).
        public var maxNodes = 500_000
        /// Maximum length of one scalar, in UTF-8 bytes.
        var maxScalarBytes = 4 * 1024 * 1024
        /// Maximum nesting depth.
        public var maxDepth = 200
        public init() {}
    }

    /// A parsed document plus the line of each key path (`tests[0].assert[1].type` → 12).
    public struct Document: Sendable {
        /// The document.
        public var value: JSONValue
        /// Line of each key path.
        public var lines: [String: Int]
    }

    /// Parses YAML text; errors name `file`, the line and the key.
    public static func load(_ text: String, file: String, limits: Limits = Limits()) throws -> Document {
        var limits = limits
        limits.maxNodes = YAMLLimits.nodeBudget(limits.maxNodes, bytes: text.utf8.count)
        if text.utf8.count > limits.maxBytes {
            throw EvalSuiteError(file: file, line: nil, key: "", reason: "file is \(text.utf8.count) bytes, more than the limit of \(limits.maxBytes)")
        }
        // Counted on the composed nodes first (cheap), so an alias bomb is refused before anything is built.
        do {
            try YAMLLimits.check(text, file: file, maxNodes: limits.maxNodes, maxDepth: limits.maxDepth)
        } catch let e as YAMLLimits.Exceeded {
            throw EvalSuiteError(file: file, line: e.line, key: e.key, reason: e.reason)
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: text, Resolver.basic)
        } catch let e as YamlError {
            throw yamlError(e, file: file)
        } catch {
            throw EvalSuiteError(file: file, line: nil, key: "", reason: "invalid YAML: \(error)")
        }
        guard let node else { return Document(value: .null, lines: [:]) }
        var conv = Converter(file: file, limits: limits)
        let v = try conv.convert(node, path: "", depth: 0)
        return Document(value: v, lines: conv.lines)
    }

    /// Parses YAML text leniently (no file context), nil when it is not YAML.
    public static func parseOrNil(_ text: String) -> JSONValue? {
        try? load(text, file: "<value>").value
    }

    /// The first segment of a key path (`tests[2].vars` → `tests`).
    static func topKey(_ path: String) -> String {
        String(path.prefix { $0 != "." && $0 != "[" })
    }

    static func yamlError(_ e: YamlError, file: String) -> EvalSuiteError {
        switch e {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _), let .composer(context, problem, mark, _):
            let ctx = context.map { "\($0.text) " } ?? ""
            return EvalSuiteError(file: file, line: mark.line, key: "", reason: "invalid YAML: \(ctx)\(problem) (column \(mark.column))")
        default:
            return EvalSuiteError(file: file, line: nil, key: "", reason: "invalid YAML: \(e)")
        }
    }

    struct Converter {
        let file: String
        let limits: Limits
        var nodes = 0
        var lines: [String: Int] = [:]
        /// Bytes of the paths kept in `lines`: they are only for messages, so an aliased structure (expanded many times,
        /// each copy with its own paths) stops adding entries past a budget instead of growing memory with the expansion.
        var lineBytes = 0
        static let lineBudget = 4 << 20
        /// Paths stop growing past this length, and keys longer than `maxPathKey` are shortened in them (a long or
        /// aliased key repeated at every level would otherwise make the paths, not the document, explode).
        static let maxPath = 2048
        static let maxPathKey = 80

        func child(_ path: String, key: String) -> String {
            guard path.utf8.count < Self.maxPath else { return path }
            let k = key.utf8.count > Self.maxPathKey ? String(key.prefix(Self.maxPathKey / 2)) + "…" : key
            return path.isEmpty ? k : "\(path).\(k)"
        }

        func child(_ path: String, index: Int) -> String {
            path.utf8.count < Self.maxPath ? "\(path)[\(index)]" : path
        }

        mutating func record(_ path: String, _ line: Int) {
            guard lineBytes < Self.lineBudget else { return }
            if lines.updateValue(line, forKey: path) == nil { lineBytes += path.utf8.count + 16 }
        }

        mutating func convert(_ node: Node, path: String, depth: Int) throws -> JSONValue {
            nodes += 1
            if nodes > limits.maxNodes {
                throw EvalSuiteError(file: file, line: node.mark?.line, key: EvalYAML.topKey(path), reason: "document expands to more than \(limits.maxNodes) nodes (YAML alias bomb?)")
            }
            if depth > limits.maxDepth {
                throw EvalSuiteError(file: file, line: node.mark?.line, key: EvalYAML.topKey(path), reason: "nesting deeper than \(limits.maxDepth) levels")
            }
            if let m = node.mark, lines[path] == nil { record(path, m.line) }
            switch node {
            case .scalar(let s):
                if s.string.utf8.count > limits.maxScalarBytes {
                    throw EvalSuiteError(file: file, line: s.mark?.line, key: path, reason: "value is \(s.string.utf8.count) bytes, more than the limit of \(limits.maxScalarBytes)")
                }
                return EvalYAML.resolveScalar(s)
            case .sequence(let seq):
                var out: [JSONValue] = []
                out.reserveCapacity(seq.count)
                for (i, n) in seq.enumerated() { out.append(try convert(n, path: child(path, index: i), depth: depth + 1)) }
                return .array(out)
            case .mapping(let map):
                var o = JSONObject()
                var merges: [JSONValue] = []
                for (k, v) in map {
                    let key: String
                    if case .scalar(let ks) = k {
                        if ks.string == "<<", ks.style == .plain {
                            merges.append(try convert(v, path: path, depth: depth + 1))
                            continue
                        }
                        key = ks.string
                    } else {
                        // A sequence or mapping as a key (YAML allows it) becomes its JSON text, within a size limit.
                        key = try convert(k, path: path, depth: depth + 1).jsonString
                        if key.utf8.count > 1024 {
                            throw EvalSuiteError(file: file, line: k.mark?.line, key: EvalYAML.topKey(path),
                                                 reason: "a mapping key that is a sequence or mapping of \(key.utf8.count) bytes as JSON (the limit is 1024)")
                        }
                    }
                    let childPath = child(path, key: key)
                    if let m = k.mark { record(childPath, m.line) }
                    o[key] = try convert(v, path: childPath, depth: depth + 1)
                }
                for m in merges {
                    let sources = m.arrayValue ?? [m]
                    for src in sources {
                        guard let so = src.objectValue else {
                            throw EvalSuiteError(file: file, line: node.mark?.line, key: path, reason: "cannot merge mappings; the provided source object is unacceptable")
                        }
                        for (k, v) in so.pairs where o[k] == nil { o[k] = v }
                    }
                }
                return .object(o)
            case .alias:
                throw EvalSuiteError(file: file, line: node.mark?.line, key: path, reason: "unresolved alias")
            }
        }
    }

    /// Untagged scalars keep Yams' implicit tag (compose does not resolve values; only mapping keys get resolved,
    /// by the duplicate-key check, and keys are read as text), so `resolvePlain` types them as js-yaml would.
    static let implicitTag = "tag:flywheel,2026:implicit"

    static func resolveScalar(_ s: Node.Scalar) -> JSONValue {
        let str = s.string
        let tag = s.tag.description
        if s.style != .plain {
            switch tag {
            case "tag:yaml.org,2002:int": return Int64(str).map(JSONValue.int) ?? .string(str)
            case "tag:yaml.org,2002:float": return Double(str).map(JSONValue.double) ?? .string(str)
            default: return .string(str)
            }
        }
        if tag == implicitTag || tag.isEmpty || tag == "?" { return resolvePlain(str) }
        switch tag {
        case "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:null", "tag:yaml.org,2002:bool":
            return resolvePlain(str)
        default:
            return .string(str)
        }
    }

    /// js-yaml's core-schema resolution of a plain scalar.
    static func resolvePlain(_ str: String) -> JSONValue {
        switch str {
        case "", "~", "null", "Null", "NULL": return .null
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .double(.infinity)
        case "-.inf", "-.Inf", "-.INF": return .double(-.infinity)
        case ".nan", ".NaN", ".NAN": return .double(.nan)
        default: break
        }
        guard let f = str.utf8.first, (f >= 0x30 && f <= 0x39) || f == UInt8(ascii: "-") || f == UInt8(ascii: "+") || f == UInt8(ascii: ".") else {
            return .string(str)
        }
        var body = Substring(str)
        var neg = false
        if body.hasPrefix("-") { neg = true; body = body.dropFirst() } else if body.hasPrefix("+") { body = body.dropFirst() }
        let clean = body.replacingOccurrences(of: "_", with: "")
        if clean.hasPrefix("0x"), let v = Int64(clean.dropFirst(2), radix: 16), !clean.dropFirst(2).isEmpty { return .int(neg ? -v : v) }
        if clean.hasPrefix("0o"), let v = Int64(clean.dropFirst(2), radix: 8), !clean.dropFirst(2).isEmpty { return .int(neg ? -v : v) }
        if clean.hasPrefix("0b"), let v = Int64(clean.dropFirst(2), radix: 2), !clean.dropFirst(2).isEmpty { return .int(neg ? -v : v) }
        if !clean.isEmpty, clean.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            if let v = Int64(neg ? "-" + clean : clean) { return .int(v) }  // signed, so Int64.min stays an int
            return .double((neg ? -1 : 1) * (Double(clean) ?? 0))
        }
        // float: (\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
        let u = Array(clean.utf8)
        var i = 0
        var digits = 0
        while i < u.count, u[i] >= 0x30, u[i] <= 0x39 { i += 1; digits += 1 }
        if i < u.count, u[i] == UInt8(ascii: ".") {
            i += 1
            while i < u.count, u[i] >= 0x30, u[i] <= 0x39 { i += 1; digits += 1 }
        }
        guard digits > 0 else { return .string(str) }
        if i < u.count, u[i] == UInt8(ascii: "e") || u[i] == UInt8(ascii: "E") {
            i += 1
            if i < u.count, u[i] == UInt8(ascii: "+") || u[i] == UInt8(ascii: "-") { i += 1 }
            var ed = 0
            while i < u.count, u[i] >= 0x30, u[i] <= 0x39 { i += 1; ed += 1 }
            if ed == 0 { return .string(str) }
        }
        guard i == u.count, let d = Double(clean) else { return .string(str) }
        return .double(neg ? -d : d)
    }
}

// MARK: - Writing

/// Writes `JSONValue` as block YAML through Yams' emitter (libyaml), keeping key order; `EvalYAML.load`, js-yaml,
/// Yams and YAML 1.1 readers (PyYAML) all read it back to an equal value. This is the one YAML writer: suites,
/// spliced tests and `EvalTestsYAML.render` all come through `write`.
public enum EvalYAMLWriter {
    /// The YAML text of a document (ends with a newline).
    public static func write(_ v: JSONValue) -> String {
        // libyaml fails only on malformed event streams, which a tree built by `node(_:)` cannot produce.
        guard var text = try? Yams.serialize(node: node(v), indent: 2, width: -1, allowUnicode: true, sequenceStyle: .block, mappingStyle: .block)
        else { preconditionFailure("Yams could not serialize a JSON tree") }
        // A bare scalar document gets libyaml's document-end marker; readers do not need it.
        if text.hasSuffix("\n...\n") { text.removeLast(4) }
        return text
    }

    /// The YAML node of a value: strings plain only when no reader could take them for anything else, otherwise
    /// double-quoted (multi-line ones as literal blocks; libyaml itself falls back to double quotes where a block is not allowed).
    static func node(_ v: JSONValue) -> Node {
        switch v {
        case .null: return Node("null", .implicit, .plain)
        case .bool(let b): return Node(b ? "true" : "false", .implicit, .plain)
        case .int(let i): return Node(String(i), .implicit, .plain)
        case .double(let d): return Node(number(d), .implicit, .plain)
        case .string(let s): return Node(s, .implicit, style(s))
        case .array(let a): return Node(a.map(node), .implicit, .block)
        case .object(let o): return Node(o.pairs.map { (Node($0.key, .implicit, style($0.key)), node($0.value)) }, .implicit, .block)
        }
    }

    /// A double as a YAML float that reads back as the same double: always with a `.` in the mantissa
    /// (YAML 1.1 needs one), `-0.0` kept, `.inf`/`.nan` for the non-finite.
    static func number(_ d: Double) -> String {
        if d.isNaN { return ".nan" }
        if d.isInfinite { return d < 0 ? "-.inf" : ".inf" }
        if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
        let s = JSNumber.string(d)
        let parts = s.split(separator: "e", maxSplits: 1)
        let mantissa = parts[0].contains(".") ? String(parts[0]) : parts[0] + ".0"
        return parts.count == 2 ? mantissa + "e" + parts[1] : mantissa
    }

    /// YAML 1.1 booleans that neither js-yaml nor Yams' resolver types.
    static let yaml11Bools: Set<String> = ["y", "Y", "n", "N"]

    static func style(_ s: String) -> Node.Scalar.Style {
        if s.contains("\n") {
            // Other line breaks (CR, NEL, LS, PS) would be normalized to LF inside a block.
            let breaks: Set<Unicode.Scalar> = ["\r", "\u{85}", "\u{2028}", "\u{2029}"]
            return s.unicodeScalars.contains(where: breaks.contains) ? .doubleQuoted : .literal
        }
        return plainIsSafe(s) ? .plain : .doubleQuoted
    }

    /// Plain only for text that starts with a letter (so no indicator, number, date or `.inf`), has no spaces at
    /// the ends, no `: ` / ` #` / trailing `:`, nothing unprintable, and stays a string under every resolver.
    static func plainIsSafe(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, let last = s.unicodeScalars.last,
              first == "_" || first.properties.isAlphabetic, !last.properties.isWhitespace, last != ":",
              !s.contains(": "), !s.contains(" #")
        else { return false }
        for u in s.unicodeScalars where !(u.value >= 0x20 && u.value <= 0x7E) {
            switch u.properties.generalCategory {
            case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator, .spaceSeparator: return false
            default: continue
            }
        }
        guard case .string = EvalYAML.resolvePlain(s), Resolver.default.resolveTag(of: Node(s)) == .str else { return false }
        return !yaml11Bools.contains(s)
    }
}
