internal import CJSONScan

/// Finds the places where one of a set of ASCII strings (each three bytes or longer) may start, ASCII
/// case-insensitively: a filter on each position's first three bytes. The strings' three-byte starts are sorted into
/// up to eight buckets and described by nibble tables (which bytes may be byte 0, 1, 2 of a start of each bucket), so
/// a vector byte shuffle tests 16 positions at a time (`cjsonscan_start_candidate`). A candidate may be false (bytes
/// allowed by one bucket's tables that start none of its strings): the caller compares its strings there. No place
/// where one of them starts is ever skipped.
package final class StartFilter: @unchecked Sendable {
    /// The tables (`cjsonscan_start_tables`: 96 bytes), made once and never changed.
    private let tables: UnsafeMutableRawPointer

    /// A filter for `strings`: lowercase ASCII, each at least three bytes long (upper case in the input matches too).
    package init(_ strings: [[UInt8]]) {
        precondition(strings.allSatisfy { $0.count >= 3 }, "StartFilter: every string needs three bytes")
        // Each start its own bucket, then the two buckets whose merge adds the fewest false starts are merged until
        // eight are left (a bucket accepts every byte whose two nibbles it has seen at a place: the cross product).
        var buckets = Set(strings.map { Array($0.prefix(3)) }).sorted { $0.lexicographicallyPrecedes($1) }.map { [$0] }
        var masks = buckets.map { Nibbles($0[0]) }
        while buckets.count > 8 {
            var best = (cost: Int.max, a: 0, b: 1)
            for a in masks.indices {
                for b in (a + 1)..<masks.count {
                    let cost = masks[a].merged(masks[b]).accepted - masks[a].accepted - masks[b].accepted
                    if cost < best.cost { best = (cost, a, b) }
                }
            }
            let (bucket, mask) = (buckets.remove(at: best.b), masks.remove(at: best.b))
            buckets[best.a] += bucket
            masks[best.a] = masks[best.a].merged(mask)
        }
        tables = .allocate(byteCount: MemoryLayout<cjsonscan_start_tables>.size, alignment: 16)
        tables.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<cjsonscan_start_tables>.size)
        let t = tables.assumingMemoryBound(to: UInt8.self)
        for (k, bucket) in buckets.enumerated() {
            let bit = UInt8(1) << k
            for start in bucket {
                for j in 0..<3 {
                    for f in Self.forms(start[j]) {
                        t[j * 16 + Int(f & 15)] |= bit  // lo[j]
                        t[48 + j * 16 + Int(f >> 4)] |= bit  // hi[j]
                    }
                }
            }
        }
    }

    deinit { tables.deallocate() }

    /// The byte forms a start's byte `b` stands for: itself and, for a lowercase letter, its upper case.
    static func forms(_ b: UInt8) -> [UInt8] { b >= 0x61 && b <= 0x7A ? [b, b - 0x20] : [b] }

    /// The first place in `from ..< count - 2` of the bytes at `p` where one of the strings may start, or `count`.
    @inline(__always) package func candidate(_ p: UnsafePointer<UInt8>, from: Int, count: Int) -> Int {
        Int(cjsonscan_start_candidate(p, from, count, tables.assumingMemoryBound(to: cjsonscan_start_tables.self)))
    }

    /// ``candidate(_:from:count:)`` one position at a time (whatever the processor): the same answer, for tests.
    package func candidateByBytes(_ p: UnsafePointer<UInt8>, from: Int, count: Int) -> Int {
        Int(cjsonscan_start_candidate_bytes(p, from, count, tables.assumingMemoryBound(to: cjsonscan_start_tables.self)))
    }
}

/// The nibbles a bucket's starts have at each of their three places (the byte forms of ``StartFilter/forms(_:)``),
/// one bit per nibble value.
private struct Nibbles {
    var lo: [UInt16]
    var hi: [UInt16]

    init(_ start: [UInt8]) {
        lo = (0..<3).map { j in StartFilter.forms(start[j]).reduce(0) { $0 | 1 << ($1 & 15) } }
        hi = (0..<3).map { j in StartFilter.forms(start[j]).reduce(0) { $0 | 1 << ($1 >> 4) } }
    }

    /// Both buckets' nibbles, place by place.
    func merged(_ other: Nibbles) -> Nibbles {
        var m = self
        for j in 0..<3 {
            m.lo[j] |= other.lo[j]
            m.hi[j] |= other.hi[j]
        }
        return m
    }

    /// How many three-byte sequences the bucket accepts: per place, the low nibbles times the high ones.
    var accepted: Int { (0..<3).reduce(1) { $0 * lo[$1].nonzeroBitCount * hi[$1].nonzeroBitCount } }
}
