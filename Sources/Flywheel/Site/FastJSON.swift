import Foundation

/// A byte-level JSON reader producing `JSONValue`, for the site's bulk reads (trace lines, results). Foundation's
/// decoder goes through `Codable` and is an order of magnitude slower on large histories. Lenient where HALO is
/// (NaN/Infinity read as doubles, duplicate keys: the last wins); returns nil on malformed input.
enum FastJSON {
    static func parse(_ data: Data) -> JSONValue? {
        data.withUnsafeBytes { raw -> JSONValue? in
            guard let base = raw.bindMemory(to: UInt8.self).baseAddress else { return nil }
            var p = Parser(bytes: base, count: raw.count)
            p.skipWhitespace()
            guard let v = p.value() else { return nil }
            p.skipWhitespace()
            guard p.index == p.count else { return nil }
            return v
        }
    }

    static func parse(_ text: String) -> JSONValue? { parse(Data(text.utf8)) }

    struct Parser {
        let bytes: UnsafePointer<UInt8>
        let count: Int
        var index = 0
        var depth = 0

        init(bytes: UnsafePointer<UInt8>, count: Int) {
            self.bytes = bytes
            self.count = count
        }

        mutating func skipWhitespace() {
            while index < count {
                let b = bytes[index]
                if b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { index += 1 } else { break }
            }
        }

        mutating func literal(_ word: StaticString) -> Bool {
            let n = word.utf8CodeUnitCount
            guard index + n <= count else { return false }
            let w = word.utf8Start
            for i in 0..<n where bytes[index + i] != w[i] { return false }
            index += n
            return true
        }

        mutating func value() -> JSONValue? {
            guard index < count else { return nil }
            switch bytes[index] {
            case 0x7B: return object()
            case 0x5B: return array()
            case 0x22: return string().map(JSONValue.string)
            case 0x74: return literal("true") ? JSONValue.bool(true) : Optional<JSONValue>.none
            case 0x66: return literal("false") ? JSONValue.bool(false) : Optional<JSONValue>.none
            case 0x6E: return literal("null") ? JSONValue.null : Optional<JSONValue>.none
            case 0x4E: return literal("NaN") ? JSONValue.double(.nan) : Optional<JSONValue>.none
            case 0x49: return literal("Infinity") ? JSONValue.double(.infinity) : Optional<JSONValue>.none
            default: return number()
            }
        }

        mutating func object() -> JSONValue? {
            depth += 1
            defer { depth -= 1 }
            guard depth < 512 else { return nil }
            index += 1
            var out: [String: JSONValue] = [:]
            skipWhitespace()
            if index < count, bytes[index] == 0x7D { index += 1; return .object(out) }
            while true {
                skipWhitespace()
                guard index < count, bytes[index] == 0x22, let key = string() else { return nil }
                skipWhitespace()
                guard index < count, bytes[index] == 0x3A else { return nil }
                index += 1
                skipWhitespace()
                guard let v = value() else { return nil }
                out[key] = v
                skipWhitespace()
                guard index < count else { return nil }
                if bytes[index] == 0x2C { index += 1; continue }
                if bytes[index] == 0x7D { index += 1; return .object(out) }
                return nil
            }
        }

        mutating func array() -> JSONValue? {
            depth += 1
            defer { depth -= 1 }
            guard depth < 512 else { return nil }
            index += 1
            var out: [JSONValue] = []
            skipWhitespace()
            if index < count, bytes[index] == 0x5D { index += 1; return .array(out) }
            while true {
                skipWhitespace()
                guard let v = value() else { return nil }
                out.append(v)
                skipWhitespace()
                guard index < count else { return nil }
                if bytes[index] == 0x2C { index += 1; continue }
                if bytes[index] == 0x5D { index += 1; return .array(out) }
                return nil
            }
        }

        mutating func hex4() -> UInt32? {
            guard index + 4 <= count else { return nil }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let b = bytes[index]
                let d: UInt32
                switch b {
                case 0x30...0x39: d = UInt32(b - 0x30)
                case 0x41...0x46: d = UInt32(b - 0x41 + 10)
                case 0x61...0x66: d = UInt32(b - 0x61 + 10)
                default: return nil
                }
                v = v << 4 | d
                index += 1
            }
            return v
        }

        mutating func string() -> String? {
            index += 1
            let start = index
            // Fast path: no escapes.
            while index < count {
                let b = bytes[index]
                if b == 0x22 {
                    let s = String(decoding: UnsafeBufferPointer(start: bytes + start, count: index - start), as: UTF8.self)
                    index += 1
                    return s
                }
                if b == 0x5C || b < 0x20 { break }
                index += 1
            }
            var out = [UInt8](UnsafeBufferPointer(start: bytes + start, count: index - start))
            while index < count {
                let b = bytes[index]
                if b == 0x22 { index += 1; return String(decoding: out, as: UTF8.self) }
                if b < 0x20 { return nil }
                if b != 0x5C { out.append(b); index += 1; continue }
                index += 1
                guard index < count else { return nil }
                let e = bytes[index]
                index += 1
                switch e {
                case 0x22: out.append(0x22)
                case 0x5C: out.append(0x5C)
                case 0x2F: out.append(0x2F)
                case 0x62: out.append(0x08)
                case 0x66: out.append(0x0C)
                case 0x6E: out.append(0x0A)
                case 0x72: out.append(0x0D)
                case 0x74: out.append(0x09)
                case 0x75:
                    guard var scalar = hex4() else { return nil }
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard index + 6 <= count, bytes[index] == 0x5C, bytes[index + 1] == 0x75 else { return nil }
                        index += 2
                        guard let low = hex4(), (0xDC00...0xDFFF).contains(low) else { return nil }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        return nil
                    }
                    guard let u = Unicode.Scalar(scalar) else { return nil }
                    out.append(contentsOf: Array(String(Character(u)).utf8))
                default: return nil
                }
            }
            return nil
        }

        mutating func number() -> JSONValue? {
            let start = index
            var isInteger = true
            if index < count, bytes[index] == 0x2D {
                index += 1
                if literal("Infinity") { return .double(-.infinity) }
            }
            guard index < count, bytes[index] >= 0x30, bytes[index] <= 0x39 else { return nil }
            while index < count {
                let b = bytes[index]
                if b >= 0x30 && b <= 0x39 { index += 1; continue }
                if b == 0x2E || b == 0x65 || b == 0x45 || b == 0x2B || (b == 0x2D && index > start) { isInteger = false; index += 1; continue }
                break
            }
            let text = String(decoding: UnsafeBufferPointer(start: bytes + start, count: index - start), as: UTF8.self)
            if isInteger, let i = Int64(text) { return .int(i) }
            guard let d = Double(text) else { return nil }
            return .double(d)
        }
    }
}
