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
/// `Span(line:)`'s limit, invalid JSON — makes ``normalize(_:into:workspace:validated:)`` return false and leave `out` as it was,
/// and the caller takes the full path, which gives the answer (or the error) it always gave.
package enum SpanLineNormalizer {
    struct Unsupported: Error {}

    /// After an object's member: skips whitespace and the `,` (true: another member follows) or the `}` (false).
    @inline(__always) static func nextMember(_ sc: inout JSONScanner) throws -> Bool {
        sc.skipWhitespace()
        guard !sc.atEnd else { throw Unsupported() }
        let c = sc.peek()
        sc.pos += 1
        if c == UInt8(ascii: ",") { return true }
        if c == UInt8(ascii: "}") { return false }
        throw Unsupported()
    }

    /// The twelve top-level keys in the order ``Span/writeJSONLine(to:)`` writes them (§2).
    static let topKeys: [[UInt8]] = [
        "trace_id", "span_id", "parent_span_id", "trace_state", "name", "kind", "start_time", "end_time", "status",
        "resource", "scope", "attributes",
    ].map { Array($0.utf8) }

    /// Nesting at which `Span(line:)` (maxDepth 201) gives up; the fast path leaves such lines to it.
    static let maxDepth = 200

    /// Appends the normalized line (without `\n`) to `out` and returns true; false, with `out` unchanged, when the
    /// line needs the full path. `workspace` is working space reused between calls (one per thread); what it holds
    /// never changes the output. `validated`: the line is known to be valid JSON (the trace scan accepted it), so
    /// values are crossed without validating them twice and strings are copied in one pass (same output; on invalid
    /// bytes the answer is then unspecified).
    package static func normalize(
        _ line: UnsafeRawBufferPointer, into out: inout [UInt8], workspace: inout Workspace, validated: Bool = false
    ) -> Bool {
        let mark = out.count
        workspace.validated = validated
        workspace.items.removeAll(keepingCapacity: true)
        do {
            try write(line, into: &out, ctx: &workspace)
            return true
        } catch {
            out.removeSubrange(mark...)
            return false
        }
    }

    /// Working space of ``normalize(_:into:workspace:validated:)``, reused from line to line.
    package struct Workspace {
        /// Bytes of an object's output while it is reordered.
        var scratch: [UInt8] = []
        /// The entries of the objects being written, innermost last (one array for the whole line).
        var items: [Item] = []
        /// The key orders of the last unsorted objects (``KeyOrder``), and the one to replace next.
        var orders: [KeyOrder] = []
        var nextOrder = 0
        /// See ``normalize(_:into:workspace:validated:)``.
        var validated = false

        package init() { items.reserveCapacity(64) }
    }

    /// The sorted order of an unsorted object's keys as they came (`order[j]`: the index in input order of the
    /// `j`-th key in the writer's order), for objects whose keys have the same count and ``signature``: spans of one
    /// kind repeat their objects' keys in the same order, and checking that an order sorts them (each key before
    /// the next) takes one comparison per key where sorting took several. The check makes a stale or colliding
    /// entry harmless: it fails, and the keys are sorted.
    struct KeyOrder {
        var count: Int
        var signature: UInt64
        var order: [Int32]
    }
    /// Key orders remembered per workspace.
    static let keyOrders = 16

    /// A hash of the keys (their prefixes and lengths) in input order.
    @inline(__always) static func signature(_ s: UInt64, _ item: Item) -> UInt64 {
        (s ^ item.prefix &+ UInt64(truncatingIfNeeded: item.kl)) &* 0x9E37_79B9_7F4A_7C15
    }

    /// Writes the span: each top-level value as it comes (one pass over the line), then, unless the keys came in
    /// the writer's order with both optional strings present and nothing else, the pieces again in that order.
    static func write(_ line: UnsafeRawBufferPointer, into out: inout [UInt8], ctx: inout Workspace) throws {
        var sc = JSONScanner(line)
        sc.maxDepth = maxDepth
        sc.skipWhitespace()
        guard !sc.atEnd, sc.peek() == UInt8(ascii: "{") else { throw Unsupported() }
        sc.pos += 1
        let objectStart = out.count
        out.append(UInt8(ascii: "{"))
        // Per top-level key (in topKeys order): the start and end in `out` of its `"key":value`, or -1.
        var pieces = (-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1)
        var extras: [Item] = []
        try withUnsafeMutableBytes(of: &pieces) { raw in
            let piece = raw.bindMemory(to: Int.self)
            var inOrder = true
            var last = -1
            var count = 0
            while true {
                sc.skipWhitespace()
                let (ks, kl) = try plainKey(&sc)
                try sc.expectColon()
                sc.skipWhitespace()
                guard !sc.atEnd else { throw Unsupported() }
                if count > 0 { out.append(UInt8(ascii: ",")) }
                count += 1
                let os = out.count
                let known = topIndex(sc.base + ks, kl, after: last)
                if known < 0 {
                    out.append(UInt8(ascii: "\""))
                    out.append(contentsOf: UnsafeBufferPointer(start: sc.base + ks, count: kl))
                    appendQuoteColon(&out)
                    try writeValue(&sc, into: &out, ctx: &ctx, depth: 1)
                    extras.append(Item(ks: ks, kl: kl, os: os, oe: out.count, prefix: keyPrefix(sc.base + ks, kl)))
                    inOrder = false
                } else {
                    guard piece[2 * known] < 0 else { throw Unsupported() }  // a repeated key
                    // The checks of Span(json:): strings (required or optional), the four objects.
                    guard sc.peek() == (known >= 8 ? UInt8(ascii: "{") : UInt8(ascii: "\"")) else { throw Unsupported() }
                    appendKey(known, &out)
                    switch known {
                    case 8: try writeTwoStrings(&sc, "code", "message", into: &out, ctx: &ctx)
                    case 9:
                        // resource: attributes (required object), nothing else.
                        var f = sc
                        let (ra, more) = try fieldStarts(&f, "attributes", nil, validated: ctx.validated)
                        guard ra >= 0, more < 0, sc.base[ra] == UInt8(ascii: "{") else { throw Unsupported() }
                        out.append(contentsOf: "{\"attributes\":".utf8)
                        var v = sc
                        v.pos = ra
                        try writeValue(&v, into: &out, ctx: &ctx, depth: 1)
                        out.append(UInt8(ascii: "}"))
                        sc.pos = f.pos
                    case 10: try writeTwoStrings(&sc, "name", "version", into: &out, ctx: &ctx)
                    default: try writeValue(&sc, into: &out, ctx: &ctx, depth: 1)
                    }
                    piece[2 * known] = os
                    piece[2 * known + 1] = out.count
                    if known < last { inOrder = false }
                    last = known
                }
                if try !nextMember(&sc) { break }
            }
            sc.skipWhitespace()
            guard sc.atEnd else { throw Unsupported() }
            // Required: all but parent_span_id and trace_state (written as "" when absent).
            for i in 0..<12 where i != 2 && i != 3 && piece[2 * i] < 0 { throw Unsupported() }
            if inOrder, piece[4] >= 0, piece[6] >= 0 {
                out.append(UInt8(ascii: "}"))
                return
            }
            // The writer's order: the twelve keys, then the others sorted by their bytes.
            let first = objectStart + 1
            ctx.scratch.removeAll(keepingCapacity: true)
            ctx.scratch.append(contentsOf: out[first...])
            out.removeSubrange(first...)
            for i in 0..<12 {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                if piece[2 * i] >= 0 {
                    out.append(contentsOf: ctx.scratch[(piece[2 * i] - first)..<(piece[2 * i + 1] - first)])
                } else {
                    appendKey(i, &out)
                    out.append(UInt8(ascii: "\""))
                    out.append(UInt8(ascii: "\""))
                }
            }
            if !extras.isEmpty {
                let order = try extras.withUnsafeBufferPointer { try sortedOrder($0, sc.base) }
                for i in order {
                    let e = extras[Int(i)]
                    out.append(UInt8(ascii: ","))
                    out.append(contentsOf: ctx.scratch[(e.os - first)..<(e.oe - first)])
                }
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// `"` and `:` after a key's bytes.
    @inline(__always) static func appendQuoteColon(_ out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        out.append(UInt8(ascii: ":"))
    }

    /// `"key":` of top-level key `i`.
    @inline(__always) static func appendKey(_ i: Int, _ out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        out.append(contentsOf: topKeys[i])
        appendQuoteColon(&out)
    }

    /// The index in ``topKeys`` of the key of `n` bytes at `p`, or -1; the one after `last` is tried first (keys
    /// mostly come in the writer's order).
    @inline(__always) static func topIndex(_ p: UnsafePointer<UInt8>, _ n: Int, after last: Int) -> Int {
        @inline(__always) func isKey(_ i: Int) -> Bool {
            topKeys[i].withUnsafeBufferPointer { k in k.count == n && (n == 0 || bytesEqual(k.baseAddress!, p, n)) }
        }
        if last + 1 < 12, isKey(last + 1) { return last + 1 }
        for i in 0..<12 where i != last + 1 && isKey(i) { return i }
        return -1
    }

    /// The value starts of the object at the scanner (at `{`) whose keys may be `a` and `b` (nil: only `a`), -1 for
    /// one absent; any other key, or a repeated one, is unsupported. The scanner ends after the `}`.
    static func fieldStarts(_ sc: inout JSONScanner, _ a: StaticString, _ b: StaticString?, validated: Bool) throws -> (Int, Int) {
        @inline(__always) func isKey(_ k: StaticString, _ ks: Int, _ kl: Int) -> Bool {
            k.utf8CodeUnitCount == kl && bytesEqual(k.utf8Start, sc.base + ks, kl)
        }
        var found = (-1, -1)
        sc.pos += 1
        sc.skipWhitespace()
        if !sc.atEnd, sc.peek() == UInt8(ascii: "}") {
            sc.pos += 1
            return found
        }
        while true {
            sc.skipWhitespace()
            let (ks, kl) = try plainKey(&sc)
            try sc.expectColon()
            sc.skipWhitespace()
            let vs = sc.pos
            if validated { try sc.skipValidatedValue() } else { try sc.skipValue() }
            if isKey(a, ks, kl) {
                guard found.0 < 0 else { throw Unsupported() }
                found.0 = vs
            } else if let b, isKey(b, ks, kl) {
                guard found.1 < 0 else { throw Unsupported() }
                found.1 = vs
            } else {
                throw Unsupported()
            }
            if try !nextMember(&sc) { return found }
        }
    }

    /// An object of a required string `required` and an optional one `optional` (written as "" when absent), nothing
    /// else: written with both, in that order. The scanner is at the `{` and ends after the `}`.
    static func writeTwoStrings(
        _ sc: inout JSONScanner, _ required: StaticString, _ optional: StaticString, into out: inout [UInt8], ctx: inout Workspace
    ) throws {
        func name(_ n: StaticString) { out.append(contentsOf: UnsafeBufferPointer(start: n.utf8Start, count: n.utf8CodeUnitCount)) }
        var f = sc
        let (r, o) = try fieldStarts(&f, required, optional, validated: ctx.validated)
        guard r >= 0, sc.base[r] == UInt8(ascii: "\"") else { throw Unsupported() }
        if o >= 0, sc.base[o] != UInt8(ascii: "\"") { throw Unsupported() }
        out.append(UInt8(ascii: "{"))
        out.append(UInt8(ascii: "\""))
        name(required)
        appendQuoteColon(&out)
        var v = sc
        v.pos = r
        try writeValue(&v, into: &out, ctx: &ctx, depth: 2)
        out.append(UInt8(ascii: ","))
        out.append(UInt8(ascii: "\""))
        name(optional)
        appendQuoteColon(&out)
        if o >= 0 {
            v.pos = o
            try writeValue(&v, into: &out, ctx: &ctx, depth: 2)
        } else {
            out.append(UInt8(ascii: "\""))
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "}"))
        sc.pos = f.pos
    }

    /// An entry of an object being written: its key's bytes in the line, its `"key":value` in the output (without
    /// the separating comma), and the key's first eight bytes as a big-endian number (zero-padded) to order keys.
    struct Item {
        var ks: Int
        var kl: Int
        var os: Int
        var oe: Int
        var prefix: UInt64
    }

    /// The first eight bytes of a key, big-endian, zero-padded: keys (printable ASCII) in byte order have these in
    /// numeric order, or equal ones.
    @inline(__always) static func keyPrefix(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
        if n >= 8 { return UInt64(bigEndian: UnsafeRawPointer(p).loadUnaligned(as: UInt64.self)) }
        var v: UInt64 = 0
        for i in 0..<n { v |= UInt64(p[i]) << (56 - 8 * UInt64(i)) }
        return v
    }

    /// Whether key `a` sorts before key `b` in the writer's order (their bytes compared, then a key before a longer
    /// one it starts), mostly from their prefixes.
    @inline(__always) static func itemLess(_ base: UnsafePointer<UInt8>, _ a: Item, _ b: Item) -> Bool {
        if a.prefix != b.prefix { return a.prefix < b.prefix }
        // Equal prefixes: a key shorter than eight bytes is padded with zeros no key byte equals, so both keys are
        // that key; with eight or more, the rest decides.
        if a.kl <= 8 || b.kl <= 8 { return a.kl < b.kl }
        let n = min(a.kl, b.kl) - 8
        let c = memcmp(base + a.ks + 8, base + b.ks + 8, n)
        return c != 0 ? c < 0 : a.kl < b.kl
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

    /// Writes the value at the scanner as `JSONValue.write(to:)` would write its decoded form; the scanner ends
    /// after it.
    static func writeValue(_ sc: inout JSONScanner, into out: inout [UInt8], ctx: inout Workspace, depth: Int) throws {
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
    static func writeObject(_ sc: inout JSONScanner, into out: inout [UInt8], ctx: inout Workspace, depth: Int) throws {
        sc.pos += 1
        out.append(UInt8(ascii: "{"))
        let objectStart = out.count
        sc.skipWhitespace()
        if !sc.atEnd, sc.peek() == UInt8(ascii: "}") {
            sc.pos += 1
            out.append(UInt8(ascii: "}"))
            return
        }
        // This object's entries are ctx.items[first...] (a nested object's come and go above them meanwhile).
        let first = ctx.items.count
        defer { ctx.items.removeSubrange(first...) }
        var sorted = true
        var signature: UInt64 = 0
        while true {
            sc.skipWhitespace()
            let (ks, kl) = try plainKey(&sc)
            try sc.expectColon()
            let item = Item(ks: ks, kl: kl, os: 0, oe: 0, prefix: keyPrefix(sc.base + ks, kl))
            if ctx.items.count > first, !itemLess(sc.base, ctx.items[ctx.items.count - 1], item) { sorted = false }
            signature = Self.signature(signature, item)
            if ctx.items.count > first { out.append(UInt8(ascii: ",")) }
            let os = out.count
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeBufferPointer(start: sc.base + ks, count: kl))
            appendQuoteColon(&out)
            ctx.items.append(item)
            let at = ctx.items.count - 1
            try writeValue(&sc, into: &out, ctx: &ctx, depth: depth)
            ctx.items[at].os = os
            ctx.items[at].oe = out.count
            if try !nextMember(&sc) { break }
        }
        if !sorted {
            let n = ctx.items.count - first
            let base = sc.base
            // The order an object of these keys had before, if it sorts these; else sorted now (and remembered).
            let slot = ctx.orders.firstIndex { $0.count == n && $0.signature == signature }
            let known = slot.map { ctx.orders[$0].order }
            var order: [Int32] = []
            try ctx.items.withUnsafeBufferPointer { all in
                let items = UnsafeBufferPointer(rebasing: all[first...])
                if let known, sorts(known, items, base) {
                    order = known
                } else {
                    order = try sortedOrder(items, base)
                }
            }
            if order != known {
                let entry = KeyOrder(count: n, signature: signature, order: order)
                if let slot {
                    ctx.orders[slot] = entry  // it did not sort these keys (a collision)
                } else if ctx.orders.count < Self.keyOrders {
                    ctx.orders.append(entry)
                } else {
                    ctx.orders[ctx.nextOrder] = entry
                    ctx.nextOrder = (ctx.nextOrder + 1) % Self.keyOrders
                }
            }
            ctx.scratch.removeAll(keepingCapacity: true)
            ctx.scratch.append(contentsOf: out[objectStart...])
            out.removeSubrange(objectStart...)
            for (j, i) in order.enumerated() {
                if j > 0 { out.append(UInt8(ascii: ",")) }
                let item = ctx.items[first + Int(i)]
                out.append(contentsOf: ctx.scratch[(item.os - objectStart)..<(item.oe - objectStart)])
            }
        }
        out.append(UInt8(ascii: "}"))
    }

    /// Whether `order` (a permutation of the indices of `items`) puts every key strictly before the next: then it
    /// is the writer's order, and no key is repeated.
    @inline(__always) static func sorts(_ order: [Int32], _ items: UnsafeBufferPointer<Item>, _ base: UnsafePointer<UInt8>) -> Bool {
        guard order.count == items.count else { return false }
        guard order.count > 1 else { return true }
        for j in 1..<order.count where !itemLess(base, items[Int(order[j - 1])], items[Int(order[j])]) { return false }
        return true
    }

    /// The indices of `items` in the writer's order of their keys (insertion sort: objects are small; the standard
    /// sort past 48 keys); a repeated key is unsupported.
    static func sortedOrder(_ items: UnsafeBufferPointer<Item>, _ base: UnsafePointer<UInt8>) throws -> [Int32] {
        var order = (0..<Int32(items.count)).map { $0 }
        guard order.count > 1 else { return order }
        if items.count > 48 {
            order.sort { itemLess(base, items[Int($0)], items[Int($1)]) }
        } else {
            for i in 1..<order.count {
                let x = order[i]
                var j = i
                while j > 0, itemLess(base, items[Int(x)], items[Int(order[j - 1])]) {
                    order[j] = order[j - 1]
                    j -= 1
                }
                order[j] = x
            }
        }
        guard sorts(order, items, base) else { throw Unsupported() }  // a repeated key
        return order
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
    /// writer's form (``JSONScanner/stringRun(_:from:end:)`` crosses plain bytes and the writer's own escapes; it
    /// stops at the quote, at `\u` or `\/`, and at bytes past ASCII).
    @inline(__always) static func writeValidatedString(_ sc: inout JSONScanner, into out: inout [UInt8]) throws {
        let open = sc.pos
        let p = sc.base
        let n = sc.end
        var i = open + 1
        var writerForm = true
        while true {
            i = JSONScanner.stringRun(p, from: i, end: n)
            guard i < n else { throw Unsupported() }
            let c = p[i]
            if c == UInt8(ascii: "\"") { break }
            if c == UInt8(ascii: "\\") {
                // `\u`, `\/` (the run takes every other escape of a valid string).
                guard i + 1 < n else { throw Unsupported() }
                writerForm = false
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
    /// The length of the line ``normalize(_:into:workspace:validated:)`` would write for `line` (a line the trace scan accepted),
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
                var plainKey = true  // no byte past ASCII (escapes are looked for below, in keys only)
                i = start
                scan: while true {
                    // Plain bytes and the escapes the writer keeps (`\" \\ \b \f \n \r \t`) are crossed here.
                    i = JSONScanner.stringRun(p, from: i, end: n)
                    guard i < n else { return nil }
                    let s = p[i]
                    if s == UInt8(ascii: "\"") { break scan }
                    if s == UInt8(ascii: "\\") {
                        return nil  // `\u` or `\/`: the writer writes them otherwise
                    } else if s >= 0x80 {
                        if s == 0xE2, i + 2 < n, p[i + 1] == 0x80, p[i + 2] == 0xA8 || p[i + 2] == 0xA9 { return nil }
                        plainKey = false
                        i += 1
                    } else {
                        return nil  // a control byte: not in a line the scan accepted
                    }
                }
                let length = i - start
                i += 1
                // A key when a colon follows.
                var j = i
                while j < n, p[j] == 0x20 || p[j] == 0x09 || p[j] == 0x0A || p[j] == 0x0D { j += 1 }
                guard j < n, p[j] == UInt8(ascii: ":") else { continue }
                guard plainKey, memchr(p + start, 0x5C, length) == nil else { return nil }
                @inline(__always) func isKey(_ k: StaticString) -> Bool {
                    k.utf8CodeUnitCount == length && bytesEqual(k.utf8Start, p + start, length)
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
