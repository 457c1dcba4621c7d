internal import CJSONScan
import Foundation

/// A JSON syntax error found by ``JSONScanner``: the byte offset (from the start of the scanned bytes) and a reason.
public struct JSONScanError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Byte offset of the problem within the scanned buffer.
    public var offset: Int
    /// What is wrong, in words.
    public var message: String
    public var description: String { "\(message) at byte \(offset)" }
}

/// Oddities the scanner accepts (as Python's `json` and HALO do) but Flywheel never writes.
public struct JSONScanFlags: Sendable, Hashable {
    /// A `\/` escape was seen.
    public var escapedSlash = false
    /// `NaN`, `Infinity` or `-Infinity` was seen.
    public var nonstandardNumber = false
    /// An object repeated a key (the last one wins), in an object the scanner materialized.
    public var duplicateKey = false
}

/// A hand-written byte-level JSON parser over raw bytes (RFC 8259 plus `NaN`/`Infinity`, which Python accepts).
///
/// It validates UTF-8, rejects raw control characters inside strings and lone-surrogate escapes, limits nesting
/// depth (so hostile input cannot overflow the stack), and can either build a ``JSONValue`` or only skip (validate)
/// a value without allocating. The caller must keep the bytes alive while the scanner is used.
public struct JSONScanner {
    // The bytes and the nesting depth are `package`: FlywheelTraces' line scanners walk them directly (hot paths).
    @usableFromInline package let base: UnsafePointer<UInt8>
    @usableFromInline package let end: Int
    /// Current byte offset.
    public var pos: Int
    @usableFromInline package var depth = 0
    /// Deepest nesting of arrays/objects accepted.
    public var maxDepth = 512
    /// Oddities seen so far.
    public var flags = JSONScanFlags()

    /// Scans `bytes`; the pointer must stay valid for the scanner's lifetime.
    public init(_ bytes: UnsafeRawBufferPointer) {
        if let b = bytes.baseAddress {
            base = b.assumingMemoryBound(to: UInt8.self)
        } else {
            base = UnsafePointer(bitPattern: 1)!  // never dereferenced: end == 0
        }
        end = bytes.count
        pos = 0
    }

    /// True when every byte has been read.
    @inlinable @inline(__always) public var atEnd: Bool { pos >= end }
    /// The byte at `pos` (check ``atEnd`` first).
    @inlinable @inline(__always) public func peek() -> UInt8 { base[pos] }

    /// An error at `offset` (default: the current position).
    public func fail(_ message: String, at offset: Int? = nil) -> JSONScanError {
        JSONScanError(offset: offset ?? pos, message: message)
    }

    /// Skips JSON whitespace (space, tab, LF, CR).
    @inlinable @inline(__always) public mutating func skipWhitespace() {
        while pos < end {
            let c = base[pos]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { pos += 1 } else { break }
        }
    }

    /// Parses one complete document: a value surrounded only by whitespace.
    public mutating func parseDocument() throws -> JSONValue {
        skipWhitespace()
        let v = try parseValue()
        skipWhitespace()
        if pos < end { throw fail("extra data after the JSON value") }
        return v
    }

    // MARK: - Values

    /// Parses the value at the current position (after whitespace).
    public mutating func parseValue() throws -> JSONValue {
        skipWhitespace()
        guard pos < end else { throw fail("unexpected end of input (truncated JSON)") }
        switch base[pos] {
        case UInt8(ascii: "{"):
            return .object(try parseObject())
        case UInt8(ascii: "["):
            try enter()
            pos += 1
            var items: [JSONValue] = []
            skipWhitespace()
            if pos < end, base[pos] == UInt8(ascii: "]") {
                pos += 1
                depth -= 1
                return .array(items)
            }
            while true {
                items.append(try parseValue())
                skipWhitespace()
                guard pos < end else { throw fail("unexpected end of input inside an array (truncated JSON)") }
                let c = base[pos]
                pos += 1
                if c == UInt8(ascii: ",") { continue }
                if c == UInt8(ascii: "]") { break }
                throw fail("expected ',' or ']' in an array", at: pos - 1)
            }
            depth -= 1
            return .array(items)
        case UInt8(ascii: "\""):
            return .string(try parseString())
        default:
            return try parseScalar()
        }
    }

    /// Parses an object (the current byte must be `{`), members in document order; a repeated key keeps its first
    /// place and its last value (as Python's `json` and JavaScript's `JSON.parse` read it).
    public mutating func parseObject() throws -> JSONObject {
        try enter()
        pos += 1
        var dict = JSONObject()
        skipWhitespace()
        if pos < end, base[pos] == UInt8(ascii: "}") {
            pos += 1
            depth -= 1
            return dict
        }
        while true {
            skipWhitespace()
            guard pos < end else { throw fail("unexpected end of input inside an object (truncated JSON)") }
            guard base[pos] == UInt8(ascii: "\"") else { throw fail("expected a string key in an object") }
            let key = try parseString()
            try expectColon()
            let value = try parseValue()
            if dict.updateValue(value, forKey: key) != nil { flags.duplicateKey = true }
            skipWhitespace()
            guard pos < end else { throw fail("unexpected end of input inside an object (truncated JSON)") }
            let c = base[pos]
            pos += 1
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "}") { break }
            throw fail("expected ',' or '}' in an object", at: pos - 1)
        }
        depth -= 1
        return dict
    }

    @inlinable @inline(__always) package mutating func enter() throws {
        depth += 1
        if depth > maxDepth { throw fail("nesting deeper than \(maxDepth) levels") }
    }

    /// Consumes whitespace, a `:` and whitespace.
    @inlinable @inline(__always) public mutating func expectColon() throws {
        skipWhitespace()
        guard pos < end else { throw fail("unexpected end of input after an object key (truncated JSON)") }
        guard base[pos] == UInt8(ascii: ":") else { throw fail("expected ':' after an object key") }
        pos += 1
        skipWhitespace()
    }

    /// Validates and skips the value at the current position without building it.
    public mutating func skipValue() throws {
        skipWhitespace()
        guard pos < end else { throw fail("unexpected end of input (truncated JSON)") }
        switch base[pos] {
        case UInt8(ascii: "\""):
            try skipString()
        case UInt8(ascii: "{"):
            try enter()
            pos += 1
            skipWhitespace()
            if pos < end, base[pos] == UInt8(ascii: "}") {
                pos += 1
                depth -= 1
                return
            }
            while true {
                skipWhitespace()
                guard pos < end else { throw fail("unexpected end of input inside an object (truncated JSON)") }
                guard base[pos] == UInt8(ascii: "\"") else { throw fail("expected a string key in an object") }
                try skipString()
                try expectColon()
                try skipValue()
                skipWhitespace()
                guard pos < end else { throw fail("unexpected end of input inside an object (truncated JSON)") }
                let c = base[pos]
                pos += 1
                if c == UInt8(ascii: ",") { continue }
                if c == UInt8(ascii: "}") { break }
                throw fail("expected ',' or '}' in an object", at: pos - 1)
            }
            depth -= 1
        case UInt8(ascii: "["):
            try enter()
            pos += 1
            skipWhitespace()
            if pos < end, base[pos] == UInt8(ascii: "]") {
                pos += 1
                depth -= 1
                return
            }
            while true {
                try skipValue()
                skipWhitespace()
                guard pos < end else { throw fail("unexpected end of input inside an array (truncated JSON)") }
                let c = base[pos]
                pos += 1
                if c == UInt8(ascii: ",") { continue }
                if c == UInt8(ascii: "]") { break }
                throw fail("expected ',' or ']' in an array", at: pos - 1)
            }
            depth -= 1
        default:
            _ = try parseScalar()
        }
    }

    /// Skips the value at the current position in bytes already validated (a line the trace scan accepted), without
    /// validating again: strings are crossed by looking for their closing quote (`memchr`), not byte by byte. On
    /// bytes that are not valid JSON it stops at the end of the buffer or throws; it never reads outside it.
    public mutating func skipValidatedValue() throws {
        skipWhitespace()
        guard pos < end else { throw fail("unexpected end of input (truncated JSON)") }
        switch base[pos] {
        case UInt8(ascii: "\""):
            try skipValidatedString()
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let close = base[pos] == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            try enter()
            pos += 1
            skipWhitespace()
            if pos < end, base[pos] == close {
                pos += 1
                depth -= 1
                return
            }
            while true {
                if close == UInt8(ascii: "}") {
                    skipWhitespace()
                    guard pos < end, base[pos] == UInt8(ascii: "\"") else { throw fail("expected a string key in an object") }
                    try skipValidatedString()
                    try expectColon()
                }
                try skipValidatedValue()
                skipWhitespace()
                guard pos < end else { throw fail("unexpected end of input (truncated JSON)") }
                let c = base[pos]
                pos += 1
                if c == UInt8(ascii: ",") { continue }
                if c == close { break }
                throw fail("expected ',' or a closing bracket", at: pos - 1)
            }
            depth -= 1
        default:
            // A number or literal: up to the next delimiter.
            let start = pos
            while pos < end {
                let c = base[pos]
                if c == UInt8(ascii: ",") || c == UInt8(ascii: "}") || c == UInt8(ascii: "]") || c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { break }
                pos += 1
            }
            if pos == start { throw fail("invalid JSON value") }
        }
    }

    /// Skips a validated string (the current byte must be `"`): the first quote not escaped by an odd number of
    /// backslashes ends it.
    @inline(__always) mutating func skipValidatedString() throws {
        pos += 1
        while pos < end {
            guard let hit = memchr(base + pos, 0x22, end - pos) else { break }
            let q = UnsafePointer<UInt8>(hit.assumingMemoryBound(to: UInt8.self)) - base
            var b = q - 1
            while b >= pos, base[b] == UInt8(ascii: "\\") { b -= 1 }
            pos = q + 1
            if (q - 1 - b) % 2 == 0 { return }
        }
        pos = end
        throw fail("unterminated string (truncated JSON)")
    }

    // MARK: - Scalars

    mutating func matchLiteral(_ lit: StaticString) -> Bool {
        let n = lit.utf8CodeUnitCount
        guard end - pos >= n else { return false }
        let p = lit.utf8Start
        for i in 0..<n where base[pos + i] != p[i] { return false }
        pos += n
        return true
    }

    package mutating func parseScalar() throws -> JSONValue {
        let c = base[pos]
        switch c {
        case UInt8(ascii: "t"):
            if matchLiteral("true") { return .bool(true) }
        case UInt8(ascii: "f"):
            if matchLiteral("false") { return .bool(false) }
        case UInt8(ascii: "n"):
            if matchLiteral("null") { return .null }
        case UInt8(ascii: "N"):
            if matchLiteral("NaN") { flags.nonstandardNumber = true; return .double(.nan) }
        case UInt8(ascii: "I"):
            if matchLiteral("Infinity") { flags.nonstandardNumber = true; return .double(.infinity) }
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try parseNumber()
        default:
            break
        }
        if c == 0 { throw fail("NUL byte where a JSON value was expected") }
        throw fail("invalid JSON value")
    }

    mutating func parseNumber() throws -> JSONValue {
        let start = pos
        var negative = false
        if base[pos] == UInt8(ascii: "-") {
            negative = true
            pos += 1
            if matchLiteral("Infinity") { flags.nonstandardNumber = true; return .double(-.infinity) }
        }
        guard pos < end, base[pos] >= 0x30, base[pos] <= 0x39 else { throw fail("invalid number", at: start) }
        var value: UInt64 = 0
        var overflow = false
        if base[pos] == 0x30 {
            pos += 1
        } else {
            while pos < end, base[pos] >= 0x30, base[pos] <= 0x39 {
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(UInt64(base[pos] - 0x30))
                if o1 || o2 { overflow = true }
                value = a
                pos += 1
            }
        }
        var isInteger = true
        if pos < end, base[pos] == UInt8(ascii: ".") {
            isInteger = false
            pos += 1
            guard pos < end, base[pos] >= 0x30, base[pos] <= 0x39 else { throw fail("invalid number: digit expected after '.'", at: start) }
            while pos < end, base[pos] >= 0x30, base[pos] <= 0x39 { pos += 1 }
        }
        if pos < end, base[pos] == UInt8(ascii: "e") || base[pos] == UInt8(ascii: "E") {
            isInteger = false
            pos += 1
            if pos < end, base[pos] == UInt8(ascii: "+") || base[pos] == UInt8(ascii: "-") { pos += 1 }
            guard pos < end, base[pos] >= 0x30, base[pos] <= 0x39 else { throw fail("invalid number: digit expected in exponent", at: start) }
            while pos < end, base[pos] >= 0x30, base[pos] <= 0x39 { pos += 1 }
        }
        if isInteger, !overflow {
            if negative, value <= UInt64(Int64.max) + 1 {
                return .int(value == UInt64(Int64.max) + 1 ? Int64.min : -Int64(value))
            }
            if !negative, value <= UInt64(Int64.max) { return .int(Int64(value)) }
        }
        let text = String(decoding: UnsafeBufferPointer(start: base + start, count: pos - start), as: UTF8.self)
        guard let d = Double(text) else { throw fail("invalid number", at: start) }
        return .double(d)
    }

    // MARK: - Strings

    /// Parses a string (the current byte must be `"`), decoding escapes and validating UTF-8.
    public mutating func parseString() throws -> String {
        let open = pos
        pos += 1
        let start = pos
        // Fast path: no escapes.
        let stop = try scanPlain()
        if stop == UInt8(ascii: "\"") {
            let s = String(decoding: UnsafeBufferPointer(start: base + start, count: pos - start), as: UTF8.self)
            pos += 1
            return s
        }
        // Slow path: escapes present.
        var bytes = [UInt8]()
        bytes.reserveCapacity(pos - start + 16)
        bytes.append(contentsOf: UnsafeBufferPointer(start: base + start, count: pos - start))
        while true {
            // At a backslash.
            try decodeEscape(into: &bytes, stringStart: open)
            let segStart = pos
            let c = try scanPlain()
            bytes.append(contentsOf: UnsafeBufferPointer(start: base + segStart, count: pos - segStart))
            if c == UInt8(ascii: "\"") {
                pos += 1
                return String(decoding: bytes, as: UTF8.self)
            }
        }
    }

    /// Validates and skips a string (the current byte must be `"`).
    public mutating func skipString() throws {
        pos += 1
        // A string that ends within its first 8 bytes, without an escape, is crossed here; a longer one first by
        // `cjsonscan_string_run`, 64 bytes at a time (a string's escapes cost no branch there), which leaves what
        // it does not take (the closing quote, `\u`, `\/`, bytes past ASCII, errors) to the loop below.
        if end - pos >= 8 {
            let mask = Self.stopMask(UnsafeRawPointer(base + pos).loadUnaligned(as: UInt64.self))
            if mask != 0 {
                let at = pos + mask.trailingZeroBitCount >> 3
                if base[at] == UInt8(ascii: "\"") {
                    pos = at + 1
                    return
                }
            }
        }
        while true {
            pos = cjsonscan_string_run(base, pos, end)
            let c = try scanPlain()
            if c == UInt8(ascii: "\"") {
                pos += 1
                return
            }
            // Common escapes inline; \u and oddities take the slow path.
            if pos + 1 < end {
                switch base[pos + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "n"), UInt8(ascii: "t"), UInt8(ascii: "r"),
                    UInt8(ascii: "b"), UInt8(ascii: "f"):
                    pos += 2
                    continue
                default:
                    break
                }
            }
            try skipEscape()
        }
    }

    /// Advances over the inside of a string from `p[i]` as `cjsonscan_string_run` does (64 bytes at a time): plain
    /// ASCII and the escapes `\" \\ \b \f \n \r \t`; it returns the first byte it does not take (the closing quote,
    /// a backslash starting `\u`, `\/` or an invalid escape, a control byte or a byte past ASCII), or `n`.
    @inline(__always) package static func stringRun(_ p: UnsafePointer<UInt8>, from i: Int, end n: Int) -> Int {
        cjsonscan_string_run(p, i, n)
    }

    /// The high bit of each byte of the 8-byte word `w` (little-endian) that may stop a plain string run: `"`, `\`,
    /// a control byte or a byte past ASCII. The lowest flagged byte is exact (bytes above it may be flagged falsely).
    @inlinable @inline(__always) package static func stopMask(_ w: UInt64) -> UInt64 {
        let q = w ^ 0x2222_2222_2222_2222
        let b = w ^ 0x5C5C_5C5C_5C5C_5C5C
        let lo: UInt64 = 0x0101_0101_0101_0101
        let hi: UInt64 = 0x8080_8080_8080_8080
        return (((q &- lo) & ~q) | ((b &- lo) & ~b) | ((w &- 0x2020_2020_2020_2020) & ~w) | w) & hi
    }

    /// Advances over plain string bytes (validating UTF-8) and stops at `"` or `\`, returning that byte.
    @inlinable @inline(__always) package mutating func scanPlain() throws -> UInt8 {
        while true {
            // 8 bytes at a time; the lowest flagged byte of the masks is exact, so jump straight to it.
            while end - pos >= 8 {
                let mask = Self.stopMask(UnsafeRawPointer(base + pos).loadUnaligned(as: UInt64.self))
                if mask != 0 {
                    pos += mask.trailingZeroBitCount >> 3
                    break
                }
                pos += 8
            }
            guard pos < end else { throw fail("unterminated string (truncated JSON)") }
            let c = base[pos]
            if c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") { return c }
            if c < 0x20 {
                throw fail(c == 0 ? "NUL byte inside a string" : "raw control character 0x\(String(c, radix: 16)) inside a string")
            }
            if c < 0x80 {
                pos += 1
            } else {
                try validateMultibyte()
            }
        }
    }

    /// Validates one multi-byte UTF-8 sequence at `pos` and advances past it.
    @usableFromInline package mutating func validateMultibyte() throws {
        let c0 = base[pos]
        @inline(__always) func cont(_ i: Int) -> UInt8? {
            guard pos + i < end else { return nil }
            let c = base[pos + i]
            return c & 0xC0 == 0x80 ? c : nil
        }
        switch c0 {
        case 0xC2...0xDF:
            guard cont(1) != nil else { break }
            pos += 2
            return
        case 0xE0...0xEF:
            guard let c1 = cont(1), cont(2) != nil else { break }
            if c0 == 0xE0 && c1 < 0xA0 { break }  // overlong
            if c0 == 0xED && c1 >= 0xA0 { break }  // UTF-16 surrogate
            pos += 3
            return
        case 0xF0...0xF4:
            guard let c1 = cont(1), cont(2) != nil, cont(3) != nil else { break }
            if c0 == 0xF0 && c1 < 0x90 { break }
            if c0 == 0xF4 && c1 >= 0x90 { break }
            pos += 4
            return
        default:
            break
        }
        throw fail("invalid UTF-8 byte 0x\(String(c0, radix: 16, uppercase: true))")
    }

    @inline(__always) func hexValue(_ c: UInt8) -> UInt32? {
        switch c {
        case 0x30...0x39: return UInt32(c - 0x30)
        case 0x41...0x46: return UInt32(c - 0x41 + 10)
        case 0x61...0x66: return UInt32(c - 0x61 + 10)
        default: return nil
        }
    }

    mutating func readHex4() throws -> UInt32 {
        guard end - pos >= 4 else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for i in 0..<4 {
            guard let h = hexValue(base[pos + i]) else { throw fail("invalid \\u escape") }
            v = v << 4 | h
        }
        pos += 4
        return v
    }

    /// At a backslash: reads the escape and returns the scalar it stands for.
    mutating func readEscape() throws -> UInt32 {
        let at = pos
        pos += 1
        guard pos < end else { throw fail("unterminated string (truncated JSON)") }
        let c = base[pos]
        pos += 1
        switch c {
        case UInt8(ascii: "\""): return 0x22
        case UInt8(ascii: "\\"): return 0x5C
        case UInt8(ascii: "/"): flags.escapedSlash = true; return 0x2F
        case UInt8(ascii: "b"): return 0x08
        case UInt8(ascii: "f"): return 0x0C
        case UInt8(ascii: "n"): return 0x0A
        case UInt8(ascii: "r"): return 0x0D
        case UInt8(ascii: "t"): return 0x09
        case UInt8(ascii: "u"):
            let u = try readHex4()
            if u >= 0xD800 && u < 0xDC00 {
                guard end - pos >= 6, base[pos] == UInt8(ascii: "\\"), base[pos + 1] == UInt8(ascii: "u") else {
                    throw fail("lone surrogate escape \\u\(String(u, radix: 16))", at: at)
                }
                pos += 2
                let lo = try readHex4()
                guard lo >= 0xDC00 && lo < 0xE000 else { throw fail("lone surrogate escape \\u\(String(u, radix: 16))", at: at) }
                return 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00)
            }
            if u >= 0xDC00 && u < 0xE000 { throw fail("lone surrogate escape \\u\(String(u, radix: 16))", at: at) }
            return u
        default:
            throw fail("invalid escape '\\\(Character(Unicode.Scalar(c)))'", at: at)
        }
    }

    mutating func skipEscape() throws { _ = try readEscape() }

    mutating func decodeEscape(into bytes: inout [UInt8], stringStart: Int) throws {
        let scalar = try readEscape()
        // Encode as UTF-8.
        switch scalar {
        case 0..<0x80:
            bytes.append(UInt8(scalar))
        case 0x80..<0x800:
            bytes.append(UInt8(0xC0 | (scalar >> 6)))
            bytes.append(UInt8(0x80 | (scalar & 0x3F)))
        case 0x800..<0x10000:
            bytes.append(UInt8(0xE0 | (scalar >> 12)))
            bytes.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            bytes.append(UInt8(0x80 | (scalar & 0x3F)))
        default:
            bytes.append(UInt8(0xF0 | (scalar >> 18)))
            bytes.append(UInt8(0x80 | ((scalar >> 12) & 0x3F)))
            bytes.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            bytes.append(UInt8(0x80 | (scalar & 0x3F)))
        }
    }
}

// MARK: - JSONValue entry points

extension JSONValue {
    /// Parses one JSON document from raw bytes with Flywheel's byte-level scanner (keeps ints apart from doubles,
    /// accepts `NaN`/`Infinity` as Python does, rejects invalid UTF-8 and lone surrogates).
    public static func parse(bytes: UnsafeRawBufferPointer, maxDepth: Int = 512) throws -> JSONValue {
        var s = JSONScanner(bytes)
        s.maxDepth = maxDepth
        return try s.parseDocument()
    }

    /// Parses one JSON document from `data` with the byte-level scanner.
    public static func parse(_ data: Data, maxDepth: Int = 512) throws -> JSONValue {
        try data.withUnsafeBytes { try parse(bytes: $0, maxDepth: maxDepth) }
    }

    /// Parses one JSON document from UTF-8 text with the byte-level scanner.
    public static func parse(_ text: String, maxDepth: Int = 512) throws -> JSONValue {
        var t = text
        return try t.withUTF8 { try parse(bytes: UnsafeRawBufferPointer($0), maxDepth: maxDepth) }
    }

    /// The lenient reader (the site's): the value of well-formed JSON, nil on anything else.
    public static func parseOrNil(_ data: Data) -> JSONValue? { try? parse(data) }

    /// The lenient reader on text: the value of well-formed JSON, nil on anything else.
    public static func parseOrNil(_ text: String) -> JSONValue? { try? parse(text) }
}
