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
        // One bucket per first byte; past eight, the two smallest buckets merge (more false candidates, none missed).
        var buckets: [[[UInt8]]] = Dictionary(grouping: Set(strings.map { Array($0.prefix(3)) }), by: { $0[0] })
            .sorted { $0.key < $1.key }.map { $0.value.sorted { $0.lexicographicallyPrecedes($1) } }
        while buckets.count > 8 {
            buckets.sort { $0.count < $1.count }
            let merged = buckets[0] + buckets[1]
            buckets.removeFirst(2)
            buckets.append(merged)
        }
        tables = .allocate(byteCount: MemoryLayout<cjsonscan_start_tables>.size, alignment: 16)
        tables.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<cjsonscan_start_tables>.size)
        let t = tables.assumingMemoryBound(to: UInt8.self)
        for (k, bucket) in buckets.enumerated() {
            let bit = UInt8(1) << k
            for start in bucket {
                for j in 0..<3 {
                    // The byte as written and, for a letter, its upper case.
                    let b = start[j]
                    let forms = b >= 0x61 && b <= 0x7A ? [b, b - 0x20] : [b]
                    for f in forms {
                        t[j * 16 + Int(f & 15)] |= bit  // lo[j]
                        t[48 + j * 16 + Int(f >> 4)] |= bit  // hi[j]
                    }
                }
            }
        }
    }

    deinit { tables.deallocate() }

    /// The first place in `from ..< count - 2` of the bytes at `p` where one of the strings may start, or `count`.
    @inline(__always) package func candidate(_ p: UnsafePointer<UInt8>, from: Int, count: Int) -> Int {
        Int(cjsonscan_start_candidate(p, from, count, tables.assumingMemoryBound(to: cjsonscan_start_tables.self)))
    }

    /// ``candidate(_:from:count:)`` one position at a time (whatever the processor): the same answer, for tests.
    package func candidateByBytes(_ p: UnsafePointer<UInt8>, from: Int, count: Int) -> Int {
        Int(cjsonscan_start_candidate_bytes(p, from, count, tables.assumingMemoryBound(to: cjsonscan_start_tables.self)))
    }
}
