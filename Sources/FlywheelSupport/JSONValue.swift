import Foundation
import OrderedCollections

/// A JSON object: members in document (insertion) order. Equality and hashing of ``JSONValue`` ignore the order;
/// the canonical writer sorts keys, the ordered writer keeps them.
public typealias JSONObject = OrderedDictionary<String, JSONValue>

/// Any JSON value, keeping integers apart from doubles so a read → write round trip loses nothing, and object
/// members in the order they were read or inserted. The one JSON type of Flywheel: traces (attributes), evals
/// (vars, outputs; their JavaScript semantics are explicit functions in Evals/JavaScriptJSON.swift), models (tool
/// arguments), HALO results and the site. Read with ``parse(_:maxDepth:)-(String,Int)`` (the byte-level ``JSONScanner``).
public enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    // MARK: - Accessors (@inlinable: every stage calls them per value, across the module boundary)

    @inlinable public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    @inlinable public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    @inlinable public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    @inlinable public var objectValue: JSONObject? { if case .object(let o) = self { return o } else { return nil } }
    @inlinable public var isNull: Bool { if case .null = self { return true } else { return false } }
    /// The number as a double (ints widen), nil for non-numbers.
    @inlinable public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }
    /// The number as an integer when it is one exactly.
    @inlinable public var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9.2e18: return Int64(d)
        default: return nil
        }
    }
    /// Member lookup on objects (nil otherwise).
    @inlinable public subscript(key: String) -> JSONValue? { objectValue?[key] }

    /// An object from an unordered dictionary: members in canonical (UTF-8 byte) key order, so the result is
    /// deterministic. A dictionary literal argument picks this overload too (its written order is not kept: use
    /// ``obj(_:)`` where member order matters).
    public static func object(_ dict: [String: JSONValue]) -> JSONValue { .object(JSONObject(sorting: dict)) }

    /// An object from ordered pairs (a later duplicate key replaces the earlier value in place).
    public static func obj(_ pairs: [(String, JSONValue)]) -> JSONValue {
        var o = JSONObject(minimumCapacity: pairs.count)
        for (k, v) in pairs { o[k] = v }
        return .object(o)
    }

    /// The same value with every object's members in canonical (UTF-8 byte) key order.
    public var keysSorted: JSONValue {
        switch self {
        case .array(let a): return .array(a.map(\.keysSorted))
        case .object(let o):
            var out = JSONObject(minimumCapacity: o.count)
            for k in o.keys.sorted(by: JSONValue.bytesLess) { out[k] = o[k]!.keysSorted }
            return .object(out)
        default: return self
        }
    }
}

extension OrderedDictionary where Key == String, Value == JSONValue {
    /// The members of `dict` in canonical (UTF-8 byte) key order.
    public init(sorting dict: [String: JSONValue]) {
        self.init(minimumCapacity: dict.count)
        for k in dict.keys.sorted(by: JSONValue.bytesLess) { self[k] = dict[k]! }
    }

    /// The members as an unordered dictionary.
    public var dictionary: [String: JSONValue] {
        var d = [String: JSONValue](minimumCapacity: count)
        for (k, v) in self { d[k] = v }
        return d
    }
}

// MARK: - Equality (objects compare and hash regardless of member order)

extension JSONValue: Hashable {
    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.double(let x), .double(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)):
            guard x.count == y.count else { return false }
            for (k, v) in x {
                guard let w = y[k], w == v else { return false }
            }
            return true
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let b): hasher.combine(1); hasher.combine(b)
        case .int(let i): hasher.combine(2); hasher.combine(i)
        case .double(let d): hasher.combine(3); hasher.combine(d)
        case .string(let s): hasher.combine(4); hasher.combine(s)
        case .array(let a): hasher.combine(5); hasher.combine(a)
        case .object(let o):
            // Order-independent: the sum of the members' own hashes.
            var sum = 0
            for (k, v) in o {
                var h = Hasher()
                h.combine(k)
                h.combine(v)
                sum &+= h.finalize()
            }
            hasher.combine(6)
            hasher.combine(o.count)
            hasher.combine(sum)
        }
    }
}

/// How ``JSONValue/orderedText(indent:dialect:)`` spells numbers and strings.
public enum JSONDialect: Sendable, Hashable {
    /// Python's `json.dumps` as HALO writes it: integral doubles keep `.0`, NaN/Infinity become `null`,
    /// U+2028/U+2029 escaped (the HALO spec's addendum).
    case python
    /// JavaScript's `JSON.stringify`: numbers as `String(n)` (`1.0` → `1`), NaN/Infinity become `null`,
    /// U+2028/U+2029 raw.
    case javaScript
}

// MARK: - Codable

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int64.self) {
            self = .int(i)
        } else if let d = try? c.decode(Double.self) {
            self = .double(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(Dictionary(uniqueKeysWithValues: o.map { ($0.key, $0.value) }))
        }
    }
}

// MARK: - Literals

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(JSONObject(elements, uniquingKeysWith: { _, last in last }))
    }
    public init(nilLiteral: ()) { self = .null }
}

// MARK: - Canonical text

extension JSONValue {
    /// Compact JSON with object keys sorted by UTF-8 bytes, `/` unescaped and raw UTF-8
    /// (Python's `json.dumps(separators=(",",":"), ensure_ascii=False, sort_keys=True)`), except that
    /// U+2028 / U+2029 are escaped as the HALO spec's addendum asks.
    public var canonicalText: String {
        var out = ""
        write(to: &out)
        return out
    }

    package func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += JSONValue.format(d)
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let a):
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += "," }
                v.write(to: &out)
            }
            out += "]"
        case .object(let o):
            out += "{"
            for (i, key) in o.keys.sorted(by: JSONValue.bytesLess).enumerated() {
                if i > 0 { out += "," }
                JSONValue.writeString(key, to: &out)
                out += ":"
                o[key]!.write(to: &out)
            }
            out += "}"
        }
    }

    /// JSON with object members in their order (not sorted): compact when `indent` is 0, else one member or
    /// element per line indented by `indent` spaces per level, `": "` after keys (Python's `json.dumps(indent=)`
    /// and JavaScript's `JSON.stringify(v, null, indent)` agree on this layout). `dialect` picks how numbers and
    /// U+2028/U+2029 are written.
    public func orderedText(indent: Int = 0, dialect: JSONDialect = .python) -> String {
        var out = ""
        writeOrdered(to: &out, indent: indent, level: 0, dialect: dialect)
        return out
    }

    func writeOrdered(to out: inout String, indent: Int, level: Int, dialect: JSONDialect) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            switch dialect {
            case .python: out += JSONValue.format(d)
            case .javaScript: out += d.isFinite ? JSNumber.string(d) : "null"
            }
        case .string(let s): JSONValue.writeString(s, to: &out, escapeLineSeparators: dialect == .python)
        case .array(let a):
            if a.isEmpty {
                out += "[]"
                return
            }
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += "," }
                if indent > 0 {
                    out += "\n"
                    out += JSONValue.spaces(indent * (level + 1))
                }
                v.writeOrdered(to: &out, indent: indent, level: level + 1, dialect: dialect)
            }
            if indent > 0 {
                out += "\n"
                out += JSONValue.spaces(indent * level)
            }
            out += "]"
        case .object(let o):
            if o.isEmpty {
                out += "{}"
                return
            }
            out += "{"
            var first = true
            for (k, v) in o {
                if !first { out += "," }
                first = false
                if indent > 0 {
                    out += "\n"
                    out += JSONValue.spaces(indent * (level + 1))
                }
                JSONValue.writeString(k, to: &out, escapeLineSeparators: dialect == .python)
                out += indent > 0 ? ": " : ":"
                v.writeOrdered(to: &out, indent: indent, level: level + 1, dialect: dialect)
            }
            if indent > 0 {
                out += "\n"
                out += JSONValue.spaces(indent * level)
            }
            out += "}"
        }
    }

    static let padCache: [String] = (0..<64).map { String(repeating: " ", count: $0) }
    static func spaces(_ n: Int) -> String { n < padCache.count ? padCache[n] : String(repeating: " ", count: n) }

    /// Appends the same text as ``write(to:)-(String)`` as UTF-8 bytes (the writer's hot path: no String building).
    package func write(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .double(let d): out.append(contentsOf: JSONValue.format(d).utf8)
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                v.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            for (i, key) in o.keys.sorted(by: JSONValue.bytesLess).enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONValue.writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                o[key]!.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// ``writeString(_:to:escapeLineSeparators:)-(String,String,Bool)`` appending UTF-8 bytes: the same escapes,
    /// with runs of plain bytes copied at once.
    package static func writeString(_ s: String, to out: inout [UInt8], escapeLineSeparators: Bool = true) {
        out.append(UInt8(ascii: "\""))
        var copy = s
        copy.withUTF8 { buf in
            let n = buf.count
            var run = 0
            var i = 0
            func flush(_ upTo: Int) {
                if upTo > run { out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[run..<upTo])) }
            }
            while i < n {
                let u = buf[i]
                if u >= 0x20, u != 0x22, u != 0x5C, u != 0xE2 {
                    i += 1
                    continue
                }
                if u == 0xE2 {
                    // U+2028 / U+2029 are E2 80 A8 / E2 80 A9.
                    if escapeLineSeparators, i + 2 < n, buf[i + 1] == 0x80, buf[i + 2] == 0xA8 || buf[i + 2] == 0xA9 {
                        flush(i)
                        out.append(contentsOf: (buf[i + 2] == 0xA8 ? "\\u2028" : "\\u2029").utf8)
                        i += 3
                        run = i
                    } else {
                        i += 1
                    }
                    continue
                }
                flush(i)
                switch u {
                case 0x22: out.append(contentsOf: "\\\"".utf8)
                case 0x5C: out.append(contentsOf: "\\\\".utf8)
                case 0x0A: out.append(contentsOf: "\\n".utf8)
                case 0x0D: out.append(contentsOf: "\\r".utf8)
                case 0x09: out.append(contentsOf: "\\t".utf8)
                case 0x08: out.append(contentsOf: "\\b".utf8)
                case 0x0C: out.append(contentsOf: "\\f".utf8)
                default:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    out.append(contentsOf: "\\u00".utf8)
                    out.append(hex[Int(u >> 4)])
                    out.append(hex[Int(u & 0xF)])
                }
                i += 1
                run = i
            }
            flush(n)
        }
        out.append(UInt8(ascii: "\""))
    }

    /// UTF-8 byte order (= code point order), compared with memcmp.
    package static func bytesLess(_ a: String, _ b: String) -> Bool {
        var a = a, b = b
        return a.withUTF8 { pa in
            b.withUTF8 { pb in
                let n = min(pa.count, pb.count)
                if n > 0, let x = pa.baseAddress, let y = pb.baseAddress {
                    let c = memcmp(x, y, n)
                    if c != 0 { return c < 0 }
                }
                return pa.count < pb.count
            }
        }
    }

    /// Shortest round-trip form; integral doubles keep a `.0` as Python writes them; never NaN/Infinity (null).
    package static func format(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        if d == d.rounded(), abs(d) < 1e16 { return String(format: "%.1f", d) }
        return "\(d)"
    }

    /// Appends `s` as a JSON string literal: `"`, `\\` and U+0000–U+001F escaped (`\n \r \t \b \f`, else lowercase
    /// `\u00xx`), everything else raw UTF-8 — Python's `json.dumps(ensure_ascii=False)` and JavaScript's
    /// `JSON.stringify` agree on this. `escapeLineSeparators` also escapes U+2028/U+2029 (files Flywheel writes for HALO).
    public static func writeString(_ s: String, to out: inout String, escapeLineSeparators: Bool = true) {
        out += "\""
        var plain = true
        for u in s.utf8 where u < 0x20 || u == 0x22 || u == 0x5C || (escapeLineSeparators && u == 0xE2) {
            plain = false
            break
        }
        if plain {
            out += s
            out += "\""
            return
        }
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\u{2028}" where escapeLineSeparators: out += "\\u2028"
            case "\u{2029}" where escapeLineSeparators: out += "\\u2029"
            default:
                if scalar.value < 0x20 {
                    let h = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}

/// `s` as a JSON string literal (quotes and escapes): how messages quote untrusted names and values.
package func quoted(_ s: String) -> String { JSONValue.string(s).canonicalText }
