import Foundation
import Testing

@testable import FlywheelSupport

/// The start filter may report false candidates but must never skip a place where one of its strings starts, and its
/// vector and byte-at-a-time paths give the same candidates.
@Suite("Start filter: no start skipped, the same candidates 16 at a time as one at a time")
struct StartFilterTests {
    /// Eleven first bytes (more than the eight buckets: buckets merge), letters, digits and punctuation.
    static let strings: [[UInt8]] = ["sk-", "secret", "bearer", "basic", "ghp_", "github_pat_", "://", ".ey", "api_key",
        "xoxb-", "hf_", "k_live_", "akia", "9z9", "private key"].map { Array($0.utf8) }

    /// Every place in `text` where one of `strings` starts, ASCII case-insensitively (the plain definition).
    static func starts(_ text: [UInt8]) -> [Int] {
        func lower(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5A ? b | 0x20 : b }
        return text.indices.filter { i in
            strings.contains { s in i + s.count <= text.count && s.indices.allSatisfy { lower(text[i + $0]) == s[$0] } }
        }
    }

    /// The candidates from 0 to the end, by one path.
    static func candidates(_ filter: StartFilter, _ text: [UInt8], bytes: Bool) -> [Int] {
        text.withUnsafeBufferPointer { buf -> [Int] in
            guard let p = buf.baseAddress else { return [] }
            var out: [Int] = []
            var i = bytes ? filter.candidateByBytes(p, from: 0, count: buf.count) : filter.candidate(p, from: 0, count: buf.count)
            while i < buf.count {
                out.append(i)
                i = bytes ? filter.candidateByBytes(p, from: i + 1, count: buf.count) : filter.candidate(p, from: i + 1, count: buf.count)
            }
            return out
        }
    }

    @Test("random texts with the strings planted at every offset across 16-byte blocks, in any case")
    func noStartSkipped() {
        let filter = StartFilter(Self.strings)
        var rng = SystemRandomNumberGenerator()
        // Filler close to the strings (their bytes in both cases) so near misses are common.
        let filler = Array("sSkK-eEcCrRtTbBaAiIgGhHpP_:/.yYxXoO9zZ vV".utf8)
        var falseCandidates = 0, positions = 0
        for round in 0..<3000 {
            var text = (0..<Int.random(in: 0..<70, using: &rng)).map { _ in filler.randomElement(using: &rng)! }
            if round % 2 == 0 {
                var s = Self.strings[round / 2 % Self.strings.count]
                if round % 4 == 0 { s = s.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 } }
                let at = Int.random(in: 0...text.count, using: &rng)
                text.insert(contentsOf: s, at: at)
            }
            let truth = Self.starts(text)
            let fast = Self.candidates(filter, text, bytes: false)
            let slow = Self.candidates(filter, text, bytes: true)
            #expect(fast == slow, "\(String(decoding: text, as: UTF8.self))")
            #expect(Set(truth).isSubset(of: fast), "skipped \(Set(truth).subtracting(fast).sorted()) in \(String(decoding: text, as: UTF8.self))")
            falseCandidates += fast.count - truth.count
            positions += text.count
        }
        // A filter, not "every place": most places of this near-miss filler are ruled out.
        #expect(falseCandidates * 4 < positions, "\(falseCandidates) false candidates in \(positions) places")
    }

    @Test("a string at every offset of a 40-byte text, and text without one has no candidate")
    func everyOffset() {
        let filter = StartFilter(Self.strings)
        for s in Self.strings {
            for at in 0...(40 - s.count) {
                var text = [UInt8](repeating: UInt8(ascii: "z"), count: 40)
                text.replaceSubrange(at..<(at + s.count), with: s)
                #expect(Self.candidates(filter, text, bytes: false).contains(at), "\(String(decoding: s, as: UTF8.self)) at \(at)")
            }
        }
        let plain = [UInt8](repeating: UInt8(ascii: "z"), count: 100)
        #expect(Self.candidates(filter, plain, bytes: false).isEmpty)
        #expect(Self.candidates(filter, Array("sk".utf8), bytes: false).isEmpty)
    }

    @Test("the search never reads past the end: a text ending at an unreadable page")
    func endsAtGuardPage() throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard let mem = mmap(nil, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), mem != MAP_FAILED else {
            Issue.record("mmap failed")
            return
        }
        defer { munmap(mem, 2 * page) }
        #expect(mprotect(mem + page, page, PROT_NONE) == 0)
        let filter = StartFilter(Self.strings)
        let end = (mem + page).assumingMemoryBound(to: UInt8.self)
        for length in 0...40 {
            let p = end - length
            for k in 0..<length { p[k] = UInt8(ascii: "z") }
            // "sk-" as the last three bytes, when they fit.
            if length >= 3 { (p + length - 3).update(from: Array("sk-".utf8), count: 3) }
            let want = length >= 3 ? length - 3 : length
            #expect(filter.candidate(p, from: 0, count: length) == want, "length \(length)")
            #expect(filter.candidateByBytes(p, from: 0, count: length) == want, "length \(length)")
        }
    }
}
