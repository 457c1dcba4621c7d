import CJSONScan
import Foundation
import Testing

@testable import FlywheelSupport

/// `JSONScanner.skipString` crosses a string with `cjsonscan_string_run` (64 bytes at a time, SSE2) before its own
/// loop. These tests hold the run to its contract byte for byte against a plain reference, and the skip to the
/// string parser's verdict (end, or error text and offset), on strings built to put escapes, backslash runs,
/// quotes, bytes past ASCII and control bytes on and around the 64-byte block edges.
@Suite("JSON string skip: the vector run and the scanner agree with plain references")
struct JSONStringSkipTests {
    /// The run's contract, one byte at a time.
    static func referenceRun(_ p: [UInt8], _ start: Int, _ n: Int) -> Int {
        let simple: Set<UInt8> = Set("\"\\bfnrt".utf8)
        var i = start
        while i < n {
            let c = p[i]
            if c == UInt8(ascii: "\\") {
                if i + 1 < n, simple.contains(p[i + 1]) {
                    i += 2
                    continue
                }
                return i
            }
            if c == UInt8(ascii: "\"") || c < 0x20 || c >= 0x80 { return i }
            i += 1
        }
        return n
    }

    /// Pieces strings are built from: the run's hard cases, some long.
    static let pieces: [[UInt8]] = {
        var p: [[UInt8]] = [
            Array("a".utf8), Array("plain text ".utf8), Array("\\\"".utf8), Array("\\\\".utf8), Array("\\\\\\\"".utf8),
            Array("\\n".utf8), Array("\\t".utf8), Array("\\b\\f\\r".utf8), Array("\\/".utf8), Array("\\u00e9".utf8),
            Array("\\ud83d\\ude00".utf8), Array("\\ud800".utf8), Array("\\x".utf8), Array("\\".utf8), Array("\"".utf8),
            Array("é".utf8), Array("\u{2028}".utf8), Array("😀".utf8), [0xC3], [0xFF], [0x01], [0x0A], [0x00], [0x1F],
            [0x7F], Array(" ".utf8),
        ]
        p.append([UInt8](repeating: UInt8(ascii: "\\"), count: 63))
        p.append([UInt8](repeating: UInt8(ascii: "\\"), count: 64))
        p.append([UInt8](repeating: UInt8(ascii: "\\"), count: 65))
        p.append([UInt8](repeating: UInt8(ascii: "x"), count: 61))
        p.append([UInt8](repeating: UInt8(ascii: "y"), count: 200))
        return p
    }()

    /// A seeded generator (the same strings on every run).
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Byte strings of pieces: mostly the ordinary ones, with a hard piece now and then.
    static func samples(_ count: Int, seed: UInt64) -> [[UInt8]] {
        var rng = SplitMix(state: seed)
        var out: [[UInt8]] = []
        for _ in 0..<count {
            var s: [UInt8] = []
            let parts = Int.random(in: 0..<40, using: &rng)
            for _ in 0..<parts {
                let roll = Int.random(in: 0..<100, using: &rng)
                let piece = roll < 55 ? pieces[Int.random(in: 0..<3, using: &rng)] : roll < 75 ? pieces[2 + Int.random(in: 0..<3, using: &rng)] : pieces.randomElement(using: &rng)!
                s += piece
            }
            out.append(s)
        }
        return out
    }

    @Test("the run stops where the byte-by-byte reference stops, from every start and at every end")
    func runMatchesReference() {
        var checked = 0
        for s in Self.samples(400, seed: 17) {
            s.withUnsafeBufferPointer { b in
                let n = b.count
                for start in Set([0, 1, 2, 7, 63, 64, 65, n / 2, n]).filter({ $0 <= n }) {
                    for end in Set([n, n - 1, start + 64, start + 63, start + 65]).filter({ $0 >= start && $0 <= n }) {
                        let got = cjsonscan_string_run(b.baseAddress, start, end)
                        let want = Self.referenceRun(s, start, end)
                        #expect(got == want, "start \(start) end \(end) of \(s.count) bytes: \(Array(s))")
                        checked += 1
                    }
                }
            }
        }
        #expect(checked > 2000)
    }

    @Test("backslash runs of every length up to 130, at every phase of the 64-byte blocks, escape the byte after an odd run")
    func backslashRuns() {
        for lead in 0..<70 {
            for run in 1...130 {
                // A run, then a quote: closed when the run is even, escaped (and then the end of input) when odd.
                let s = [UInt8](repeating: UInt8(ascii: "a"), count: lead) + [UInt8](repeating: UInt8(ascii: "\\"), count: run) + Array("\"tail".utf8)
                let got = s.withUnsafeBufferPointer { cjsonscan_string_run($0.baseAddress, 0, $0.count) }
                #expect(got == Self.referenceRun(s, 0, s.count), "lead \(lead) run \(run)")
                #expect(got == (run % 2 == 0 ? lead + run : s.count))
            }
        }
    }

    /// The verdict of reading `"` + body + `"` (+ a comma) with `read`: the offset after the string, or the error.
    static func verdict(_ body: [UInt8], _ read: (inout JSONScanner) throws -> Void) -> String {
        let doc = [UInt8(ascii: "\"")] + body + Array("\",".utf8)
        return doc.withUnsafeBytes { raw in
            var s = JSONScanner(raw)
            do {
                try read(&s)
                return "end \(s.pos) slash \(s.flags.escapedSlash)"
            } catch let e as JSONScanError {
                return "error \(e.description)"
            } catch {
                return "error \(error)"
            }
        }
    }

    @Test("skipString and parseString agree on every sample: where the string ends, or the error and its byte")
    func skipAgreesWithParse() {
        var errors = 0
        for body in Self.samples(3000, seed: 99) {
            let skipped = Self.verdict(body) { try $0.skipString() }
            let parsed = Self.verdict(body) { _ = try $0.parseString() }
            #expect(skipped == parsed, "\(Array(body))")
            if skipped.hasPrefix("error") { errors += 1 }
        }
        // The samples reach both outcomes often.
        #expect(errors > 300)
        #expect(errors < 2700)
    }

    @Test("a long valid string with every kind of escape is skipped to its end and notes \\/")
    func longValid() throws {
        let body = Array(String(repeating: #"{\"role\":\"tool\",\"content\":\"x\\\\y \u00e9 é \/ \n\t\"}, "#, count: 40).utf8)
        #expect(Self.verdict(body) { try $0.skipString() } == "end \(body.count + 2) slash true")
        let text = try #require(String(data: Data(([UInt8(ascii: "\"")] + body + [UInt8(ascii: "\"")])), encoding: .utf8))
        #expect(try JSONValue.parse(text).stringValue?.contains("\\y é é / \n\t") == true)
    }
}
