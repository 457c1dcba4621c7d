import Foundation
import OrderedCollections

// JavaScript's view of JSON, as Promptfoo's evals need it, over the one JSON type (`JSONValue`, whose objects keep
// member order as JavaScript objects do): `JSON.parse`, `JSON.stringify`, `String(value)`, truthiness and deep
// equality. These are explicit functions: `JSONValue`'s own `==` is exact (1 ≠ 1.0).

extension JSONValue {
    /// True for numbers.
    @inlinable public var isNumber: Bool { doubleValue != nil }

    /// JavaScript truthiness.
    @inlinable public var isTruthy: Bool {
        switch self {
        case .null: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0 && !d.isNaN
        case .string(let s): return !s.isEmpty
        case .array, .object: return true
        }
    }

    /// Deep equality as the evals compare values (JavaScript-like): numbers by value (`1` equals `1.0`), strings
    /// by UTF-16 code units (no Unicode normalization), arrays element by element, objects member by member in
    /// any order.
    public func looselyEquals(_ other: JSONValue) -> Bool {
        switch (self, other) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.string(let x), .string(let y)): return x.utf16.elementsEqual(y.utf16)
        case (.array(let x), .array(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.looselyEquals($1) }
        case (.object(let x), .object(let y)):
            guard x.count == y.count else { return false }
            for (k, v) in x {
                guard let w = y[k], v.looselyEquals(w) else { return false }
            }
            return true
        default:
            if let x = doubleValue, let y = other.doubleValue { return x == y }
            return false
        }
    }

    /// `JSON.stringify(value)`: compact, members in order, only `"` `\\` and controls escaped.
    public var jsonString: String { orderedText(dialect: .javaScript) }

    /// `JSON.stringify(value, null, indent)`.
    public func prettyString(indent: Int = 2) -> String { orderedText(indent: indent, dialect: .javaScript) }

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

    /// `JSON.parse(text)`: the byte-level scanner, with `NaN`/`Infinity` rejected (RFC 8259 only). Members keep
    /// document order; a repeated key keeps its first place and its last value.
    public static func parseStrict(_ text: String) throws -> JSONValue {
        var t = text
        return try t.withUTF8 { buf in
            var sc = JSONScanner(UnsafeRawBufferPointer(buf))
            let v = try sc.parseDocument()
            if sc.flags.nonstandardNumber { throw JSONScanError(offset: 0, message: "NaN and Infinity are not JSON") }
            return v
        }
    }

    /// ``parseStrict(_:)`` when `text` is JSON, nil otherwise.
    public static func parseStrictOrNil(_ text: String) -> JSONValue? { try? parseStrict(text) }
}

extension OrderedDictionary where Key == String, Value == JSONValue {
    /// Members in order.
    public var pairs: [(key: String, value: JSONValue)] { Array(elements) }
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
