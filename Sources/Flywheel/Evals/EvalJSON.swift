import Foundation

/// A JSON value whose objects keep their key order, as JavaScript objects do. Evals need this for
/// `JSON.stringify` parity (reasons, `outputString`) and for suite round trips; the shared `JSONValue`
/// (sorted keys) is converted at the API edges with `init(_:)` and `jsonValue`.
public enum EvalJSON: Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([EvalJSON])
    case object(EvalObject)

    // MARK: - Accessors

    /// The string, when this is one.
    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    /// The array, when this is one.
    public var arrayValue: [EvalJSON]? { if case .array(let a) = self { return a } else { return nil } }
    /// The object, when this is one.
    public var objectValue: EvalObject? { if case .object(let o) = self { return o } else { return nil } }
    /// The boolean, when this is one.
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    /// True for `null`.
    public var isNull: Bool { if case .null = self { return true } else { return false } }
    /// The number as a double (ints widen), nil for non-numbers.
    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }
    /// True for numbers.
    public var isNumber: Bool { doubleValue != nil }
    /// Member lookup on objects (nil otherwise).
    public subscript(key: String) -> EvalJSON? { objectValue?[key] }

    /// JavaScript truthiness.
    public var isTruthy: Bool {
        switch self {
        case .null: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0 && !d.isNaN
        case .string(let s): return !s.isEmpty
        case .array, .object: return true
        }
    }

    /// Builds an object from ordered pairs (a later duplicate key replaces the earlier value in place).
    public static func obj(_ pairs: [(String, EvalJSON)]) -> EvalJSON {
        var o = EvalObject()
        for (k, v) in pairs { o[k] = v }
        return .object(o)
    }
}

/// An insertion-ordered JSON object. Equality ignores order (JavaScript deep equality).
public struct EvalObject: Sendable, Equatable {
    /// Keys in insertion order.
    public private(set) var keys: [String] = []
    /// Values by key.
    public private(set) var storage: [String: EvalJSON] = [:]

    public init() {}

    /// Reads or writes a member; writing nil removes it. A new key goes last, an existing key keeps its place.
    public subscript(key: String) -> EvalJSON? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    /// Members in order.
    public var pairs: [(key: String, value: EvalJSON)] { keys.map { ($0, storage[$0]!) } }
    /// Number of members.
    public var count: Int { keys.count }
    /// True when empty.
    public var isEmpty: Bool { keys.isEmpty }

    public static func == (a: EvalObject, b: EvalObject) -> Bool { a.storage == b.storage }
}

// MARK: - Equatable (deep, JavaScript-like: 1 == 1.0)

extension EvalJSON: Equatable {
    public static func == (a: EvalJSON, b: EvalJSON) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.string(let x), .string(let y)): return Array(x.utf16) == Array(y.utf16)
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)): return x == y
        default:
            if let x = a.doubleValue, let y = b.doubleValue { return x == y }
            return false
        }
    }
}

// MARK: - JSONValue bridging

extension EvalJSON {
    /// Converts a shared `JSONValue` (object keys come out sorted, for determinism).
    public init(_ v: JSONValue) {
        switch v {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .double(let d): self = .double(d)
        case .string(let s): self = .string(s)
        case .array(let a): self = .array(a.map(EvalJSON.init))
        case .object(let o):
            var out = EvalObject()
            for k in o.keys.sorted() { out[k] = EvalJSON(o[k]!) }
            self = .object(out)
        }
    }

    /// The shared `JSONValue` form (key order is dropped).
    public var jsonValue: JSONValue {
        switch self {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .string(let s): return .string(s)
        case .array(let a): return .array(a.map(\.jsonValue))
        case .object(let o):
            var d: [String: JSONValue] = [:]
            for (k, v) in o.storage { d[k] = v.jsonValue }
            return .object(d)
        }
    }
}

// MARK: - JSON.stringify

extension EvalJSON {
    /// `JSON.stringify(value)`: compact, insertion order, only `"` `\` and controls escaped.
    public var jsonString: String {
        var out = ""
        writeCompact(to: &out)
        return out
    }

    /// `JSON.stringify(value, null, indent)`.
    public func prettyString(indent: Int = 2) -> String {
        var out = ""
        writePretty(to: &out, indent: indent, level: 0)
        return out
    }

    func writeCompact(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += d.isFinite ? JSNumber.string(d) : "null"
        case .string(let s): JSNumber.writeJSONString(s, to: &out)
        case .array(let a):
            out += "["
            for (i, v) in a.enumerated() {
                if i > 0 { out += "," }
                v.writeCompact(to: &out)
            }
            out += "]"
        case .object(let o):
            out += "{"
            var first = true
            for k in o.keys {
                if !first { out += "," }
                first = false
                JSNumber.writeJSONString(k, to: &out)
                out += ":"
                o.storage[k]!.writeCompact(to: &out)
            }
            out += "}"
        }
    }

    func writePretty(to out: inout String, indent: Int, level: Int) {
        let pad = EvalJSON.spaces(indent * (level + 1))
        let closePad = EvalJSON.spaces(indent * level)
        switch self {
        case .array(let a) where !a.isEmpty:
            out += "[\n"
            for (i, v) in a.enumerated() {
                out += pad
                v.writePretty(to: &out, indent: indent, level: level + 1)
                out += i == a.count - 1 ? "\n" : ",\n"
            }
            out += closePad + "]"
        case .object(let o) where !o.isEmpty:
            out += "{\n"
            for (i, k) in o.keys.enumerated() {
                out += pad
                JSNumber.writeJSONString(k, to: &out)
                out += ": "
                o.storage[k]!.writePretty(to: &out, indent: indent, level: level + 1)
                out += i == o.keys.count - 1 ? "\n" : ",\n"
            }
            out += closePad + "}"
        default:
            writeCompact(to: &out)
        }
    }

    static let padCache: [String] = (0..<64).map { String(repeating: " ", count: $0) }
    static func spaces(_ n: Int) -> String { n < padCache.count ? padCache[n] : String(repeating: " ", count: n) }

    /// `String(value)` as JavaScript would print it for scalars; objects and arrays give JSON
    /// (used where Promptfoo interpolates a value that is not a string).
    public var jsDisplayString: String {
        switch self {
        case .string(let s): return s
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return JSNumber.string(d)
        case .array(let a): return a.map { $0.isNull ? "" : $0.jsDisplayString }.joined(separator: ",")
        case .object: return "[object Object]"
        }
    }
}

// MARK: - JSON.parse (strict, ordered)

/// A strict JSON parser (RFC 8259) that keeps object key order; the last duplicate key wins.
public enum EvalJSONParser {
    /// Why a parse failed.
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var offset: Int
        public var message: String
        public var description: String { "\(message) at position \(offset)" }
    }

    /// Parses JSON text; throws `ParseError` on anything else (including trailing garbage).
    public static func parse(_ text: String) throws -> EvalJSON {
        var bytes = Array(text.utf8)
        bytes.append(0)
        return try bytes.withUnsafeBufferPointer { buf in
            var p = Parser(b: buf, i: 0, end: buf.count - 1)
            p.skipWS()
            let v = try p.value(depth: 0)
            p.skipWS()
            if p.i != p.end { throw ParseError(offset: p.i, message: "Unexpected non-whitespace character after JSON") }
            return v
        }
    }

    /// Parses when `text` is JSON, nil otherwise.
    public static func parseOrNil(_ text: String) -> EvalJSON? { try? parse(text) }

    struct Parser {
        let b: UnsafeBufferPointer<UInt8>
        var i: Int
        let end: Int

        mutating func skipWS() {
            while i < end, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
        }

        func fail(_ m: String) -> ParseError { ParseError(offset: i, message: m) }

        mutating func value(depth: Int) throws -> EvalJSON {
            guard depth < 512 else { throw fail("Nesting too deep") }
            guard i < end else { throw fail("Unexpected end of JSON input") }
            switch b[i] {
            case UInt8(ascii: "{"):
                i += 1
                var o = EvalObject()
                skipWS()
                if i < end, b[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
                while true {
                    skipWS()
                    guard i < end, b[i] == UInt8(ascii: "\"") else { throw fail("Expected property name") }
                    let k = try string()
                    skipWS()
                    guard i < end, b[i] == UInt8(ascii: ":") else { throw fail("Expected ':'") }
                    i += 1
                    skipWS()
                    o[k] = try value(depth: depth + 1)
                    skipWS()
                    guard i < end else { throw fail("Unexpected end of JSON input") }
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    if b[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
                    throw fail("Expected ',' or '}'")
                }
            case UInt8(ascii: "["):
                i += 1
                var a: [EvalJSON] = []
                skipWS()
                if i < end, b[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
                while true {
                    skipWS()
                    a.append(try value(depth: depth + 1))
                    skipWS()
                    guard i < end else { throw fail("Unexpected end of JSON input") }
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    if b[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
                    throw fail("Expected ',' or ']'")
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "n"): return try literal("null", .null)
            default:
                return try number()
            }
        }

        mutating func literal(_ word: String, _ v: EvalJSON) throws -> EvalJSON {
            for c in word.utf8 {
                guard i < end, b[i] == c else { throw fail("Unexpected token") }
                i += 1
            }
            return v
        }

        mutating func number() throws -> EvalJSON {
            let start = i
            var isInt = true
            if i < end, b[i] == UInt8(ascii: "-") { i += 1 }
            guard i < end, b[i] >= 0x30, b[i] <= 0x39 else { throw fail("Unexpected token") }
            if b[i] == 0x30 { i += 1 } else { while i < end, b[i] >= 0x30, b[i] <= 0x39 { i += 1 } }
            if i < end, b[i] == UInt8(ascii: ".") {
                isInt = false
                i += 1
                guard i < end, b[i] >= 0x30, b[i] <= 0x39 else { throw fail("Unterminated fractional number") }
                while i < end, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
            }
            if i < end, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
                isInt = false
                i += 1
                if i < end, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
                guard i < end, b[i] >= 0x30, b[i] <= 0x39 else { throw fail("Exponent part is missing a number") }
                while i < end, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
            }
            let s = String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
            if isInt, let n = Int64(s), !(n == 0 && s.hasPrefix("-")) { return .int(n) }
            return .double(Double(s) ?? 0)
        }

        mutating func string() throws -> String {
            i += 1
            var out = [UInt8]()
            var scalars = ""
            var usedScalars = false
            func flush() {
                if !out.isEmpty { scalars += String(decoding: out, as: UTF8.self); out.removeAll(keepingCapacity: true) }
            }
            while true {
                guard i < end else { throw fail("Unterminated string in JSON") }
                let c = b[i]
                if c == UInt8(ascii: "\"") { i += 1; break }
                if c < 0x20 { throw fail("Bad control character in string literal") }
                if c == UInt8(ascii: "\\") {
                    i += 1
                    guard i < end else { throw fail("Unterminated string in JSON") }
                    let e = b[i]
                    i += 1
                    switch e {
                    case UInt8(ascii: "\""): out.append(0x22)
                    case UInt8(ascii: "\\"): out.append(0x5C)
                    case UInt8(ascii: "/"): out.append(0x2F)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var code = try hex4()
                        if code >= 0xD800, code < 0xDC00, i + 1 < end, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") {
                            let save = i
                            i += 2
                            let low = try hex4()
                            if low >= 0xDC00, low < 0xE000 {
                                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                            } else { i = save }
                        }
                        flush()
                        usedScalars = true
                        scalars.unicodeScalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
                    default: throw fail("Bad escaped character in JSON")
                    }
                } else {
                    out.append(c)
                    i += 1
                }
            }
            if !usedScalars { return String(decoding: out, as: UTF8.self) }
            flush()
            return scalars
        }

        mutating func hex4() throws -> UInt32 {
            var v: UInt32 = 0
            for _ in 0..<4 {
                guard i < end else { throw fail("Bad Unicode escape in JSON") }
                let c = b[i]
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                default: throw fail("Bad Unicode escape in JSON")
                }
                v = v * 16 + d
                i += 1
            }
            return v
        }
    }
}

// MARK: - JavaScript number formatting

/// JavaScript's number-to-text rules: `String(n)`, `toFixed`, `toPrecision`, and JSON string escaping.
public enum JSNumber {
    /// `String(n)`: shortest round-trip digits, JS exponent rules (`1e-7`, `1e+21`, `0.1`, `1`).
    public static func string(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
        if d == 0 { return "0" }
        let neg = d < 0
        let (digits, n) = shortestDigits(abs(d))
        let k = digits.count
        var s: String
        if k <= n && n <= 21 {
            s = digits + String(repeating: "0", count: n - k)
        } else if 0 < n && n <= 21 {
            let idx = digits.index(digits.startIndex, offsetBy: n)
            s = String(digits[..<idx]) + "." + String(digits[idx...])
        } else if -6 < n && n <= 0 {
            s = "0." + String(repeating: "0", count: -n) + digits
        } else {
            let e = n - 1
            let first = String(digits.prefix(1))
            let rest = String(digits.dropFirst())
            s = first + (rest.isEmpty ? "" : "." + rest) + "e" + (e >= 0 ? "+" : "-") + String(abs(e))
        }
        return neg ? "-" + s : s
    }

    /// Shortest digits (no leading/trailing zeros) and the decimal exponent n, value = 0.d1d2… × 10^n.
    static func shortestDigits(_ d: Double) -> (String, Int) {
        let desc = "\(d)"  // Swift prints the shortest round-trip form
        var mantissa = Substring(desc)
        var exp = 0
        if let e = desc.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = desc[..<e]
            exp = Int(desc[desc.index(after: e)...]) ?? 0
        }
        var intPart = mantissa
        var frac: Substring = ""
        if let dot = mantissa.firstIndex(of: ".") {
            intPart = mantissa[..<dot]
            frac = mantissa[mantissa.index(after: dot)...]
        }
        var all = Array(intPart + frac)
        var n = intPart.count + exp
        while let f = all.first, f == "0" { all.removeFirst(); n -= 1 }
        while let l = all.last, l == "0" { all.removeLast() }
        if all.isEmpty { return ("0", 1) }
        return (String(all), n)
    }

    /// The exact decimal expansion of a finite double: (digits without dot, position of the dot).
    static func exactDecimal(_ d: Double) -> ([UInt8], Int) {
        let s = String(format: "%.1100f", abs(d))
        var digits: [UInt8] = []
        var point = 0
        for c in s.utf8 {
            if c == UInt8(ascii: ".") { point = digits.count } else { digits.append(c - 0x30) }
        }
        return (digits, point)
    }

    /// `n.toFixed(f)`: rounds the exact binary value, ties away from zero.
    public static func toFixed(_ d: Double, _ f: Int) -> String {
        if !d.isFinite { return string(d) }
        if abs(d) >= 1e21 { return string(d) }
        var (digits, point) = exactDecimal(d)
        let keep = point + f
        var roundUp = false
        if keep < digits.count { roundUp = digits[keep] >= 5 }
        digits = Array(digits.prefix(keep))
        if roundUp {
            var j = digits.count - 1
            while j >= 0 {
                if digits[j] == 9 { digits[j] = 0; j -= 1 } else { digits[j] += 1; break }
            }
            if j < 0 { digits.insert(1, at: 0); point += 1 }
        }
        var intDigits = digits.prefix(point).drop { $0 == 0 }.map { Character(String($0)) }
        if intDigits.isEmpty { intDigits = ["0"] }
        var s = String(intDigits)
        if f > 0 { s += "." + String(digits.suffix(from: point).map { Character(String($0)) }) }
        let isZero = !digits.contains { $0 != 0 }
        return (d < 0 && !isZero) ? "-" + s : s
    }

    /// `n.toPrecision(p)`.
    public static func toPrecision(_ d: Double, _ p: Int) -> String {
        if !d.isFinite { return string(d) }
        if d == 0 { return p > 1 ? "0." + String(repeating: "0", count: p - 1) : "0" }
        var (digits, point) = exactDecimal(d)
        // Drop leading zeros, tracking the exponent.
        var lead = 0
        while lead < digits.count, digits[lead] == 0 { lead += 1 }
        digits.removeFirst(lead)
        var e = point - lead - 1  // value = d0.d1d2… × 10^e
        var sig = Array(digits.prefix(p))
        while sig.count < p { sig.append(0) }
        if digits.count > p, digits[p] >= 5 {
            var j = p - 1
            while j >= 0 {
                if sig[j] == 9 { sig[j] = 0; j -= 1 } else { sig[j] += 1; break }
            }
            if j < 0 { sig.insert(1, at: 0); sig.removeLast(); e += 1 }
        }
        let ds = sig.map { Character(String($0)) }
        var s: String
        if e < -6 || e >= p {
            s = String(ds[0]) + (p > 1 ? "." + String(ds[1...]) : "") + "e" + (e >= 0 ? "+" : "-") + String(abs(e))
        } else if e >= 0 {
            s = String(ds[0...e]) + (p - 1 > e ? "." + String(ds[(e + 1)...]) : "")
        } else {
            s = "0." + String(repeating: "0", count: -e - 1) + String(ds)
        }
        return d < 0 ? "-" + s : s
    }

    /// Appends `s` as a JSON string literal with `JSON.stringify`'s escaping.
    public static func writeJSONString(_ s: String, to out: inout String) {
        JSONValue.writeString(s, to: &out, escapeLineSeparators: false)
    }
}

// MARK: - Literals

extension EvalJSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral, ExpressibleByFloatLiteral,
    ExpressibleByArrayLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(arrayLiteral elements: EvalJSON...) { self = .array(elements) }
    public init(nilLiteral: ()) { self = .null }
}
