// Byte-level helpers for scanners that look keys up without making strings of them (the trace scan's analyzer,
// its span-id table, diagnosis's loader).

/// A 64-bit hash of the `n` bytes at `p`, a word at a time (multiply and shift per word; the last bytes are read
/// as one word too, overlapping when there are eight or more), the length mixed in last. In-memory only: never
/// stored, so it may change. ``ByteHash`` computes the same value while reading the bytes a word at a time.
@inlinable @inline(__always) package func bytesHash(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
    var h = ByteHash.seed
    var i = 0
    while n - i >= 8 {
        h = ByteHash.mix(h, UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self))
        i += 8
    }
    let left = n - i
    if left > 0 {
        var tail: UInt64 = 0
        if n >= 8 {
            // The word ending at the last byte, shifted so only the bytes not yet read are left (little-endian).
            tail = UInt64(littleEndian: UnsafeRawPointer(p + n - 8).loadUnaligned(as: UInt64.self)) >> UInt64(8 * (8 - left))
        } else {
            for k in 0..<left { tail |= UInt64(p[k]) << UInt64(8 * k) }
        }
        h = ByteHash.mix(h, tail)
    }
    return ByteHash.finish(h, n)
}

/// The steps of ``bytesHash(_:_:)``, for a reader that meets the bytes a word at a time: start from ``seed``, ``mix``
/// each whole 8-byte word (little-endian) from the first byte, then the last `n % 8` bytes as one word with the
/// bytes past them zero (when there are any), and ``finish`` with the length.
@usableFromInline package enum ByteHash {
    /// The value before any byte.
    @inlinable @inline(__always) package static var seed: UInt64 { 0xcbf2_9ce4_8422_2325 }

    /// One word more.
    @inlinable @inline(__always) package static func mix(_ h: UInt64, _ w: UInt64) -> UInt64 {
        let m = (h ^ w) &* 0x100_0000_01b3
        return m ^ (m >> 29)
    }

    /// The hash of `n` bytes so mixed.
    @inlinable @inline(__always) package static func finish(_ h: UInt64, _ n: Int) -> UInt64 {
        mix(h, UInt64(truncatingIfNeeded: n) &* 0x9E37_79B9_7F4A_7C15)
    }
}

/// Whether the `n` bytes at `a` and at `b` are the same: a word at a time, the last word overlapping, inline (keys
/// and known values are compared with literals of a few to 31 bytes, about 55 times per span in the trace scan; a
/// call to libc's `memcmp` for each was a visible part of it).
@inlinable @inline(__always) package func bytesEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
    if n < 8 {
        var i = 0
        while i < n {
            if a[i] != b[i] { return false }
            i += 1
        }
        return true
    }
    var i = 0
    while n - i > 8 {
        if UnsafeRawPointer(a + i).loadUnaligned(as: UInt64.self) != UnsafeRawPointer(b + i).loadUnaligned(as: UInt64.self) { return false }
        i += 8
    }
    return UnsafeRawPointer(a + n - 8).loadUnaligned(as: UInt64.self) == UnsafeRawPointer(b + n - 8).loadUnaligned(as: UInt64.self)
}
