import Foundation
import Testing

@testable import Flywheel

@Suite("Traces: import spool (memory, then an unlinked temporary file)")
struct ImportSpoolTests {
    /// Pieces of varied sizes and contents (seeded), so any reordering or loss shows.
    static func pieces(_ count: Int, seed: UInt64) -> [[UInt8]] {
        var state = seed
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 33
        }
        return (0..<count).map { _ in (0..<Int(next() % 3000)).map { _ in UInt8(truncatingIfNeeded: next()) } }
    }

    func drained(_ spool: ImportSpool) throws -> (bytes: [UInt8], calls: Int, largest: Int) {
        var out: [UInt8] = []
        var calls = 0, largest = 0
        try spool.drain { chunk in
            out.append(contentsOf: chunk)
            calls += 1
            largest = max(largest, chunk.count)
        }
        return (out, calls, largest)
    }

    @Test("within the memory budget nothing goes to disk; past it the rest is spooled; drain gives every byte in order")
    func keepsThenSpills() throws {
        let pieces = Self.pieces(40, seed: 7)
        let all = pieces.flatMap { $0 }
        let roomy = try ImportSpool(memoryBytes: all.count)
        for group in stride(from: 0, to: pieces.count, by: 3) { try roomy.append(Array(pieces[group..<min(group + 3, pieces.count)])) }
        #expect(!roomy.spilled)
        #expect(roomy.byteCount == all.count)
        #expect(try drained(roomy).bytes == all)

        for budget in [0, 1, all.count / 3, all.count - 1] {
            let spool = try ImportSpool(memoryBytes: budget)
            for p in pieces { try spool.append([p]) }
            #expect(spool.spilled, "budget \(budget)")
            #expect(spool.byteCount == all.count)
            #expect(try drained(spool).bytes == all, "budget \(budget)")
        }
    }

    @Test("the temporary file is unlinked as soon as it is made, and read back in bounded pieces")
    func fileIsUnlinkedAndReadInPieces() throws {
        let spool = try ImportSpool(memoryBytes: 0)
        let big = [UInt8](repeating: 0x61, count: ImportSpool.readBytes * 2 + 123)
        try spool.append([big, Array("tail\n".utf8)])
        let link = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(spool.fileDescriptor)")
        #expect(link.contains("flywheel-import-"))
        #expect(link.hasSuffix("(deleted)"), "\(link)")
        let (bytes, calls, largest) = try drained(spool)
        #expect(bytes == big + Array("tail\n".utf8))
        #expect(calls == 3)
        #expect(largest == ImportSpool.readBytes)
    }
}
