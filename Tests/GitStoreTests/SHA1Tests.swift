import Foundation
import Testing
@testable import GitStore

@Suite("SHA-1 of pack streams")
struct SHA1Tests {
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test("known vectors, fed whole and in uneven pieces", arguments: [
        ("", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        ("abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
        (String(repeating: "a", count: 1_000_000), "34aa973cd4c4daa4f61eeb2bdbad27316534016f"),
    ])
    func vectors(input: String, expected: String) {
        var whole = SHA1()
        whole.update(Array(input.utf8))
        #expect(Self.hex(whole.finish()) == expected)

        var pieces = SHA1()
        let bytes = Array(input.utf8)
        var i = 0, step = 1
        while i < bytes.count {
            let end = min(bytes.count, i + step)
            pieces.update(Array(bytes[i..<end]))
            i = end
            step = step * 3 % 97 + 1
        }
        #expect(Self.hex(pieces.finish()) == expected)
    }

    @Test("message lengths around the 55/56/64-byte padding edges")
    func paddingEdges() throws {
        for n in [55, 56, 57, 63, 64, 65, 119, 120, 128] {
            let input = String(repeating: "x", count: n)
            var sum = SHA1()
            sum.update(Array(input.utf8))
            let dir = FileManager.default.temporaryDirectory
            let file = dir.appendingPathComponent("sha1-\(n)-\(UUID().uuidString)")
            try Data(input.utf8).write(to: file)
            defer { try? FileManager.default.removeItem(at: file) }
            // `sha1sum` is the peer.
            let peer = try String(decoding: runSHA1Sum(file), as: UTF8.self).split(separator: " ").first.map(String.init)
            #expect(Self.hex(sum.finish()) == peer, "length \(n)")
        }
    }

    func runSHA1Sum(_ file: URL) throws -> Data {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["sha1sum", file.path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return data
    }
}
