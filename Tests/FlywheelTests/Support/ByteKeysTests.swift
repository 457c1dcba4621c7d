import Testing

@testable import FlywheelSupport

/// The scanners' key helpers read exactly the bytes they are given (a word at a time, the last word overlapping).
@Suite("Byte keys: bytesEqual and bytesHash read exactly n bytes")
struct ByteKeysTests {
    @Test("bytesEqual finds a difference at every position of every length up to 40, and none outside")
    func equal() {
        for n in 0...40 {
            let a = (0..<(n + 16)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            a.withUnsafeBufferPointer { pa in
                var b = a
                // Bytes past n differ: still equal.
                for k in n..<b.count { b[k] ^= 0xFF }
                #expect(b.withUnsafeBufferPointer { bytesEqual(pa.baseAddress!, $0.baseAddress!, n) })
                for i in 0..<n {
                    var c = a
                    c[i] ^= 0x01
                    #expect(!c.withUnsafeBufferPointer { bytesEqual(pa.baseAddress!, $0.baseAddress!, n) }, "n \(n) at \(i)")
                }
            }
        }
    }

    @Test("bytesHash ignores the bytes around the n it reads, and keys a byte apart hash apart")
    func hash() {
        var seen = Set<UInt64>()
        for n in 0...40 {
            // The same n bytes at different offsets of buffers whose other bytes differ.
            let key = (0..<n).map { UInt8(ascii: "a") + UInt8($0 % 26) }
            let x = [UInt8](repeating: 0x00, count: 9) + key + [UInt8](repeating: 0x11, count: 9)
            let y = [UInt8](repeating: 0xEE, count: 3) + key + [UInt8](repeating: 0x22, count: 2)
            let hx = x.withUnsafeBufferPointer { bytesHash($0.baseAddress! + 9, n) }
            let hy = y.withUnsafeBufferPointer { bytesHash($0.baseAddress! + 3, n) }
            #expect(hx == hy, "n \(n)")
            #expect(seen.insert(hx).inserted, "length \(n) hashes like a shorter key")
            for i in 0..<n {
                var k = key
                k[i] = UInt8(ascii: "_")
                #expect(k.withUnsafeBufferPointer { bytesHash($0.baseAddress!, n) } != hx, "n \(n) at \(i)")
            }
        }
    }
}
