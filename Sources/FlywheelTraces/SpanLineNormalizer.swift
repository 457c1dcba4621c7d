import FlywheelSupport
import Foundation

/// The byte-level fast path of import's normalization: appends exactly the bytes that `Span(line:)` followed by
/// ``Span/writeJSONLine(to:)`` would write, without decoding the span into `JSONValue`s and encoding it again.
///
/// Strings already in the writer's form (escapes only among `\" \\ \b \f \n \r \t`, no raw U+2028/U+2029) and
/// plain integers are copied as they are; objects are written in their input order and reordered only when their
/// keys were not already sorted; anything else scalar (other escapes, floats, `NaN`) is decoded and written with the
/// same writer the full path uses. A line the fast path does not cover — a key with an escape or a non-ASCII byte
/// (Swift compares such keys by canonical equivalence), a repeated key, a missing or mistyped field, nesting past
/// `Span(line:)`'s limit, invalid JSON — makes ``normalize(_:into:scratch:)`` return false and leave `out` as it was,
/// and the caller takes the full path, which gives the answer (or the error) it always gave.
package enum SpanLineNormalizer {
    struct Unsupported: Error {}

    /// The twelve top-level keys in the order ``Span/writeJSONLine(to:)`` writes them (§2).
    static let topKeys: [[UInt8]] = [
        "trace_id", "span_id", "parent_span_id", "trace_state", "name", "kind", "start_time", "end_time", "status",
        "resource", "scope", "attributes",
    ].map { Array($0.utf8) }

    /// Nesting at which `Span(line:)` (maxDepth 201) gives up; the fast path leaves such lines to it.
    static let maxDepth = 200

    /// Appends the normalized line (without `\n`) to `out` and returns true; false, with `out` unchanged, when the
    /// line needs the full path. `scratch` is working space reused between calls. `validated`: the line is known to
    /// be valid JSON (the trace scan accepted it), so values are crossed without validating them twice and strings
    /// are copied in one pass (same output; on invalid bytes the answer is then unspecified).
    package static func normalize(
        _ line: UnsafeRawBufferPointer, into out: inout [UInt8], scratch: inout [UInt8], validated: Bool = false
    ) -> Bool {
        let mark = out.count
        do {
            var ctx = Context(scratch: [], validated: validated)
            swap(&ctx.scratch, &scratch)
            defer { swap(&ctx.scratch, &scratch) }
            try write(line, into: &out, ctx: &ctx)
            return true
        } catch {
            out.removeSubrange(mark...)
            return false
        }
    }

    /// Working state of one call.
    struct Context {
        var scratch: [UInt8]
        /// See ``normalize(_:into:scratch:validated:)``.
        var validated = false
    }

    struct Entry {
        var keyStart: Int
        var keyLength: Int
        var valueStart: Int
    }

    static func write(_ line: UnsafeRawBufferPointer, into out: inout [UInt8], ctx: inout Context) throws {
        var sc = JSONScanner(line)
        sc.maxDepth = maxDepth
        sc.skipWhitespace()
        guard !sc.atEnd, sc.peek() == UInt8(ascii: "{") else { throw Unsupported() }
        let top = try entries(&sc, validated: ctx.validated)
        sc.skipWhitespace()
        guard sc.atEnd else { throw Unsupported() }
        var slots = (-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1)
        var extras: [Entry] = []
        try withUnsafeMutableBytes(of: &slots) { raw in
            let slot = raw.bindMemory(to: Int.self)
            for e in top {
                var known = -1
                for (i, k) in topKeys.enumerated() where k.count == e.keyLength && memcmp(k, sc.base + e.keyStart, k.count) == 0 {
                    known = i
                    break
                }
                if known < 0 {
                    extras.append(e)
                } else {
                    guard slot[known] < 0 else { throw Unsupported() }
                    slot[known] = e.valueStart
                }
            }
            func isA(_ i: Int, _ c: Character) -> Bool { slot[i] >= 0 && sc.base[slot[i]] == c.asciiValue! }
            // The checks of Span(json:): required strings, optional strings, the four objects.
            for i in [0, 1, 4, 5, 6, 7] where !isA(i, "\"") { throw Unsupported() }
            for i in [2, 3] where slot[i] >= 0 && !isA(i, "\"") { throw Unsupported() }
            for i in 8...11 where !isA(i, "{") { throw Unsupported() }

            func key(_ i: Int, first: Bool = false) {
                if !first { out.append(UInt8(ascii: ",")) }
                out.append(UInt8(ascii: "\""))
                out.append(contentsOf: topKeys[i])
                out.append(contentsOf: "\":".utf8)
            }
            func value(at start: Int) throws {
                var v = sc
                v.pos = start
                try writeValue(&v, into: &out, ctx: &ctx, depth: 1)
            }
            func stringOrEmpty(_ start: Int?) throws {
                if let start { try value(at: start) } else { out.append(contentsOf: "\"\"".utf8) }
            }
            out.append(UInt8(ascii: "{"))
            for i in 0...7 {
                key(i, first: i == 0)
                try stringOrEmpty(slot[i] >= 0 ? slot[i] : nil)
            }
            // An object of a required string and an optional one (written as "" when absent), nothing else.
            func twoStrings(_ i: Int, _ required: StaticString, _ optional: StaticString) throws {
                func name(_ n: StaticString) { out.append(contentsOf: UnsafeBufferPointer(start: n.utf8Start, count: n.utf8CodeUnitCount)) }
                let f = try fields(sc, at: slot[i], allowed: [required, optional], validated: ctx.validated)
                guard let r = f[0], sc.base[r] == UInt8(ascii: "\"") else { throw Unsupported() }
                if let o = f[1], sc.base[o] != UInt8(ascii: "\"") { throw Unsupported() }
                key(i)
                out.append(contentsOf: "{\"".utf8)
                name(required)
                out.append(contentsOf: "\":".utf8)
                try value(at: r)
                out.append(contentsOf: ",\"".utf8)
                name(optional)
                out.append(contentsOf: "\":".utf8)
                try stringOrEmpty(f[1])
                out.append(UInt8(ascii: "}"))
            }
            try twoStrings(8, "code", "message")
            // resource: attributes (required object), nothing else.
            let resource = try fields(sc, at: slot[9], allowed: ["attributes"], validated: ctx.validated)
            guard let ra = resource[0], sc.base[ra] == UInt8(ascii: "{") else { throw Unsupported() }
            key(9)
            out.append(contentsOf: "{\"attributes\":".utf8)
            try value(at: ra)
            out.append(UInt8(ascii: "}"))
            try twoStrings(10, "name", "version")
            key(11)
            try value(at: slot[11])
            // Extra top-level keys, sorted by their bytes.
            if !extras.isEmpty {
                extras.sort { keyLess(sc.base, $0, $1) }
                for (a, b) in zip(extras, extras.dropFirst()) where !keyLess(sc.base, a, b) { throw Unsupported() }
                for e in extras {
                    out.append(contentsOf: ",\"".utf8)
                    out.append(contentsOf: UnsafeBufferPointer(start: sc.base + e.keyStart, count: e.keyLength))
                    out.append(contentsOf: "\":".utf8)
                    try value(at: e.valueStart)
                }
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// The value starts of an object's keys, in the order of `allowed`; any other key (or a repeated one) is
    /// unsupported.
    static func fields(_ scanner: JSONScanner, at start: Int, allowed: [StaticString], validated: Bool) throws -> [Int?] {
        var sc = scanner
        sc.pos = start
        var found = [Int?](repeating: nil, count: allowed.count)
        for e in try entries(&sc, validated: validated) {
            var hit = false
            for (i, k) in allowed.enumerated()
            where k.utf8CodeUnitCount == e.keyLength && memcmp(k.utf8Start, sc.base + e.keyStart, e.keyLength) == 0 {
                guard found[i] == nil else { throw Unsupported() }
                found[i] = e.valueStart
                hit = true
            }
            if !hit { throw Unsupported() }
        }
        return found
    }

    /// The entries of the object at the scanner (at `{`), each value skipped (and validated unless `validated`: every
    /// value is validated when it is written anyway); the scanner ends after the `}`.
    static func entries(_ sc: inout JSONScanner, validated: Bool) throws -> [Entry] {
        sc.pos += 1
        var out: [Entry] = []
        sc.skipWhitespace()
        if !sc.atEnd, sc.peek() == UInt8(ascii: "}") {
            sc.pos += 1
            return out
        }
        while true {
            sc.skipWhitespace()
            let (ks, kl) = try plainKey(&sc)
            try sc.expectColon()
            sc.skipWhitespace()
            let vs = sc.pos
            if validated { try sc.skipValidatedValue() } else { try sc.skipValue() }
            out.append(Entry(keyStart: ks, keyLength: kl, valueStart: vs))
            sc.skipWhitespace()
            guard !sc.atEnd else { throw Unsupported() }
            let c = sc.peek()
            sc.pos += 1
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "}") { return out }
            throw Unsupported()
        }
    }

    /// A key of printable ASCII without escapes (start and length of its bytes); anything else is unsupported.
    @inline(__always) static func plainKey(_ sc: inout JSONScanner) throws -> (Int, Int) {
        guard !sc.atEnd, sc.peek() == UInt8(ascii: "\"") else { throw Unsupported() }
        let start = sc.pos + 1
        var i = start
        while i < sc.end {
            let c = sc.base[i]
            if c == UInt8(ascii: "\"") { break }
            guard c >= 0x20, c < 0x7F, c != UInt8(ascii: "\\") else { throw Unsupported() }
            i += 1
        }
        guard i < sc.end else { throw Unsupported() }
        sc.pos = i + 1
        return (start, i - start)
    }

    @inline(__always) static func keyLess(_ base: UnsafePointer<UInt8>, _ a: Entry, _ b: Entry) -> Bool {
        let n = min(a.keyLength, b.keyLength)
        let c = n > 0 ? memcmp(base + a.keyStart, base + b.keyStart, n) : 0
        return c != 0 ? c < 0 : a.keyLength < b.keyLength
    }

    /// Writes the value at the scanner as `JSONValue.write(to:)` would write its decoded form; the scanner ends
    /// after it.
    static func writeValue(_ sc: inout JSONScanner, into out: inout [UInt8], ctx: inout Context, depth: Int) throws {
        sc.skipWhitespace()
        guard !sc.atEnd else { throw Unsupported() }
        switch sc.peek() {
        case UInt8(ascii: "\""):
            if ctx.validated { try writeValidatedString(&sc, into: &out) } else { try writeString(&sc, into: &out) }
        case UInt8(ascii: "{"):
            guard depth < maxDepth else { throw Unsupported() }
            try writeObject(&sc, into: &out, ctx: &ctx, depth: depth + 1)
        case UInt8(ascii: "["):
            guard depth < maxDepth else { throw Unsupported() }
            sc.pos += 1
            out.append(UInt8(ascii: "["))
            sc.skipWhitespace()
            if !sc.atEnd, sc.peek() == UInt8(ascii: "]") {
                sc.pos += 1
                out.append(UInt8(ascii: "]"))
                return
            }
            while true {
                try writeValue(&sc, into: &out, ctx: &ctx, depth: depth + 1)
                sc.skipWhitespace()
                guard !sc.atEnd else { throw Unsupported() }
                let c = sc.peek()
                sc.pos += 1
                out.append(c)
                if c == UInt8(ascii: ",") { continue }
                if c == UInt8(ascii: "]") { return }
                throw Unsupported()
            }
        default:
            let start = sc.pos
            let v = try sc.parseScalar()
            if case .int = v, isPlainInteger(sc.base + start, sc.pos - start) {
                out.append(contentsOf: UnsafeBufferPointer(start: sc.base + start, count: sc.pos - start))
            } else {
                v.write(to: &out)
            }
        }
    }

    /// Digits with an optional minus, at most 18 of them (always an Int64), and not `-0` (written as `0`).
    @inline(__always) static func isPlainInteger(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        let negative = n > 0 && p[0] == UInt8(ascii: "-")
        let digits = negative ? n - 1 : n
        guard digits >= 1, digits <= 18 else { return false }
        if negative, digits == 1, p[1] == UInt8(ascii: "0") { return false }
        return true  // the scanner accepted it as an integer: the rest are digits
    }

    /// An object: entries written in input order, then reordered by key bytes if they were not sorted.
    static func writeObject(_ sc: inout JSONScanner, into out: inout [UInt8], ctx: inout Context, depth: Int) throws {
        sc.pos += 1
        out.append(UInt8(ascii: "{"))
        let objectStart = out.count
        sc.skipWhitespace()
        if !sc.atEnd, sc.peek() == UInt8(ascii: "}") {
            sc.pos += 1
            out.append(UInt8(ascii: "}"))
            return
        }
        // (key start, key length, output start, output end) of each entry, without the separating comma.
        var items: [(ks: Int, kl: Int, os: Int, oe: Int)] = []
        var sorted = true
        while true {
            sc.skipWhitespace()
            let (ks, kl) = try plainKey(&sc)
            try sc.expectColon()
            if let last = items.last, !keyLess(sc.base, Entry(keyStart: last.ks, keyLength: last.kl, valueStart: 0), Entry(keyStart: ks, keyLength: kl, valueStart: 0)) {
                sorted = false
            }
            if !items.isEmpty { out.append(UInt8(ascii: ",")) }
            let os = out.count
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeBufferPointer(start: sc.base + ks, count: kl))
            out.append(contentsOf: "\":".utf8)
            try writeValue(&sc, into: &out, ctx: &ctx, depth: depth)
            items.append((ks, kl, os, out.count))
            sc.skipWhitespace()
            guard !sc.atEnd else { throw Unsupported() }
            let c = sc.peek()
            sc.pos += 1
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "}") { break }
            throw Unsupported()
        }
        if !sorted {
            let base = sc.base
            func entry(_ i: (ks: Int, kl: Int, os: Int, oe: Int)) -> Entry { Entry(keyStart: i.ks, keyLength: i.kl, valueStart: 0) }
            items.sort { keyLess(base, entry($0), entry($1)) }
            for (a, b) in zip(items, items.dropFirst()) where !keyLess(base, entry(a), entry(b)) { throw Unsupported() }  // a repeated key
            ctx.scratch.removeAll(keepingCapacity: true)
            ctx.scratch.append(contentsOf: out[objectStart...])
            out.removeSubrange(objectStart...)
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: ctx.scratch[(item.os - objectStart)..<(item.oe - objectStart)])
            }
        }
        out.append(UInt8(ascii: "}"))
    }

    /// A string: copied when it is already in the writer's form, else decoded and written by the writer.
    @inline(__always) static func writeString(_ sc: inout JSONScanner, into out: inout [UInt8]) throws {
        let open = sc.pos
        try sc.skipString()  // validates UTF-8 and escapes
        let p = sc.base + open + 1
        let n = sc.pos - open - 2
        if isWriterForm(p, n) {
            out.append(contentsOf: UnsafeBufferPointer(start: sc.base + open, count: n + 2))
        } else {
            var sub = sc
            sub.pos = open
            JSONValue.writeString(try sub.parseString(), to: &out)
        }
    }

    /// ``writeString(_:into:)`` for a string known to be valid: one pass finds its end and whether it is in the
    /// writer's form (8 bytes at a time up to a quote, a backslash or a byte past ASCII).
    @inline(__always) static func writeValidatedString(_ sc: inout JSONScanner, into out: inout [UInt8]) throws {
        let open = sc.pos
        let p = sc.base
        let n = sc.end
        var i = open + 1
        var writerForm = true
        let lo: UInt64 = 0x0101_0101_0101_0101
        let hi: UInt64 = 0x8080_8080_8080_8080
        while true {
            while n - i >= 8 {
                let w = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
                let q = w ^ 0x2222_2222_2222_2222
                let b = w ^ 0x5C5C_5C5C_5C5C_5C5C
                let mask = (((q &- lo) & ~q) | ((b &- lo) & ~b) | w) & hi
                if mask != 0 {
                    i += mask.trailingZeroBitCount >> 3
                    break
                }
                i += 8
            }
            guard i < n else { throw Unsupported() }
            let c = p[i]
            if c == UInt8(ascii: "\"") { break }
            if c == UInt8(ascii: "\\") {
                guard i + 1 < n else { throw Unsupported() }
                let e = p[i + 1]
                if e == UInt8(ascii: "u") || e == UInt8(ascii: "/") { writerForm = false }
                i += 2
            } else {
                if c == 0xE2, i + 2 < n, p[i + 1] == 0x80, p[i + 2] == 0xA8 || p[i + 2] == 0xA9 { writerForm = false }
                i += 1
            }
        }
        sc.pos = i + 1
        if writerForm {
            out.append(contentsOf: UnsafeBufferPointer(start: p + open, count: i + 1 - open))
        } else {
            var sub = sc
            sub.pos = open
            JSONValue.writeString(try sub.parseString(), to: &out)
        }
    }

    /// Whether the (valid) string body at `p` is what the writer would produce for its decoded text: escapes only
    /// among `\" \\ \b \f \n \r \t`, and no raw U+2028/U+2029.
    @inline(__always) static func isWriterForm(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var i = 0
        while i < n, let hit = memchr(p + i, 0x5C, n - i) {
            let at = UnsafePointer<UInt8>(hit.assumingMemoryBound(to: UInt8.self)) - p
            let c = p[at + 1]  // a valid string never ends in a lone backslash
            if c == UInt8(ascii: "u") || c == UInt8(ascii: "/") { return false }
            i = at + 2
        }
        i = 0
        while i < n, let hit = memchr(p + i, 0xE2, n - i) {
            let at = UnsafePointer<UInt8>(hit.assumingMemoryBound(to: UInt8.self)) - p
            if at + 2 < n, p[at + 1] == 0x80, p[at + 2] == 0xA8 || p[at + 2] == 0xA9 { return false }
            i = at + 1
        }
        return true
    }
}

// MARK: - Predicted output length

extension SpanLineNormalizer {
    /// The length of the line ``normalize(_:into:scratch:)`` would write for `line` (a line the trace scan accepted),
    /// predicted in one read-only pass without writing it — or nil when the output may differ from the input by more
    /// than this pass accounts for. Reordering keys keeps the length; the pass accounts for whitespace outside
    /// strings (dropped) and for the optional fields the writer adds when they are absent (`parent_span_id`,
    /// `trace_state`, `status.message`, `scope.version`, written as `""`). It declines strings the writer would
    /// escape differently (`\u`, `\/`, a raw U+2028/U+2029), numbers other than plain integers of up to 18 digits
    /// (or `-0`), `NaN`/`Infinity`, and keys with an escape or a non-ASCII byte. Other differences (a repeated key,
    /// an unusual `status`, `resource` or `scope` object) are not looked for: the prediction is a claim the import
    /// checks against each line's real output, and a wrong one makes it take the path that needs no prediction.
    package static func predictedLength(_ line: UnsafeRawBufferPointer) -> Int? {
        guard let raw = line.baseAddress else { return nil }
        let p = raw.assumingMemoryBound(to: UInt8.self)
        let n = line.count
        var i = 0
        var dropped = 0
        var depth = 0
        // The depth-1 key whose object is open at depth 2 (1 status, 2 scope, 0 other), and which optional fields
        // were seen (bits: parent_span_id, trace_state, status.message, scope.version).
        var topObject = 0
        var seen = 0
        while i < n {
            let c = p[i]
            switch c {
            case 0x20, 0x09, 0x0A, 0x0D:
                dropped += 1
                i += 1
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                i += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if depth == 2 { topObject = 0 }
                depth -= 1
                i += 1
            case UInt8(ascii: ","), UInt8(ascii: ":"):
                i += 1
            case UInt8(ascii: "\""):
                let start = i + 1
                var plainKey = true  // no escape, no byte past ASCII
                i = start
                scan: while true {
                    let lo: UInt64 = 0x0101_0101_0101_0101
                    let hi: UInt64 = 0x8080_8080_8080_8080
                    while n - i >= 8 {
                        let w = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
                        let q = w ^ 0x2222_2222_2222_2222
                        let b = w ^ 0x5C5C_5C5C_5C5C_5C5C
                        let mask = (((q &- lo) & ~q) | ((b &- lo) & ~b) | w) & hi
                        if mask != 0 {
                            i += mask.trailingZeroBitCount >> 3
                            break
                        }
                        i += 8
                    }
                    guard i < n else { return nil }
                    let s = p[i]
                    if s == UInt8(ascii: "\"") { break scan }
                    if s == UInt8(ascii: "\\") {
                        guard i + 1 < n else { return nil }
                        let e = p[i + 1]
                        if e == UInt8(ascii: "u") || e == UInt8(ascii: "/") { return nil }
                        plainKey = false
                        i += 2
                    } else if s >= 0x80 {
                        if s == 0xE2, i + 2 < n, p[i + 1] == 0x80, p[i + 2] == 0xA8 || p[i + 2] == 0xA9 { return nil }
                        plainKey = false
                        i += 1
                    } else {
                        i += 1  // an ordinary byte among the last seven (read one at a time)
                    }
                }
                let length = i - start
                i += 1
                // A key when a colon follows.
                var j = i
                while j < n, p[j] == 0x20 || p[j] == 0x09 || p[j] == 0x0A || p[j] == 0x0D { j += 1 }
                guard j < n, p[j] == UInt8(ascii: ":") else { continue }
                guard plainKey else { return nil }
                @inline(__always) func isKey(_ k: StaticString) -> Bool {
                    k.utf8CodeUnitCount == length && memcmp(k.utf8Start, p + start, length) == 0
                }
                if depth == 1 {
                    if isKey("parent_span_id") { seen |= 1 }
                    else if isKey("trace_state") { seen |= 2 }
                    topObject = isKey("status") ? 1 : isKey("scope") ? 2 : 0
                } else if depth == 2 {
                    if topObject == 1, isKey("message") { seen |= 4 }
                    else if topObject == 2, isKey("version") { seen |= 8 }
                }
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                let start = i
                i += 1
                while i < n, p[i] >= UInt8(ascii: "0"), p[i] <= UInt8(ascii: "9") { i += 1 }
                if i < n, p[i] == UInt8(ascii: ".") || p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E") { return nil }
                guard SpanLineNormalizer.isPlainInteger(p + start, i - start) else { return nil }
            case UInt8(ascii: "t"), UInt8(ascii: "n"):
                i += 4
            case UInt8(ascii: "f"):
                i += 5
            default:
                return nil  // NaN, Infinity, or not JSON
            }
        }
        guard depth == 0 else { return nil }
        // `,"key":""` for each optional field the writer adds.
        var added = 0
        if seen & 1 == 0 { added += "parent_span_id".utf8.count + 6 }
        if seen & 2 == 0 { added += "trace_state".utf8.count + 6 }
        if seen & 4 == 0 { added += "message".utf8.count + 6 }
        if seen & 8 == 0 { added += "version".utf8.count + 6 }
        return n - dropped + added
    }
}
