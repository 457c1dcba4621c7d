import Testing

@testable import FlywheelTraces
import FlywheelSupport

@Suite("Line analyzer: top-level keys and known values are told apart by their literals")
struct LineAnalyzerKeyTests {
    @Test("topKey gives each of the twelve span keys its index and -1 to near misses of every length")
    func topKeys() {
        let analyzer = LineAnalyzer(file: "t.jsonl", options: .init())
        func index(_ text: String) -> Int {
            let bytes = Array(text.utf8)
            return bytes.withUnsafeBufferPointer { analyzer.topKey(LineAnalyzer.Key(bytes: $0)) }
        }
        for (i, lit) in LineAnalyzer.topKeys.enumerated() {
            let key = lit.description
            #expect(index(key) == i, "\(key)")
            #expect(index(key.uppercased()) == -1)
            #expect(index(String(key.dropLast())) == -1)
            #expect(index(key + "_") == -1)
            #expect(index(String(key.dropFirst()) + "x") == -1)
        }
        #expect(index("") == -1)
    }

    @Test("known kinds and status codes are read as literals, anything else is left for the string reader")
    func knownValues() {
        /// What `read` returns at the start of `json`, and where it leaves the scanner.
        func read(_ json: String, _ read: (inout JSONScanner) -> String?) -> (String?, Int) {
            Array(json.utf8).withUnsafeBytes { raw in
                var s = JSONScanner(raw)
                return (read(&s), s.pos)
            }
        }
        for kind in ["SPAN_KIND_INTERNAL", "SPAN_KIND_CLIENT", "SPAN_KIND_SERVER", "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"] {
            #expect(read("\"\(kind)\",", LineAnalyzer.knownSpanKind) == (kind, kind.utf8.count + 2))
        }
        for code in ["STATUS_CODE_OK", "STATUS_CODE_UNSET", "STATUS_CODE_ERROR"] {
            #expect(read("\"\(code)\"}", LineAnalyzer.knownStatusCode) == (code, code.utf8.count + 2))
        }
        for other in ["\"SPAN_KIND_INTERNALX\",", "\"SPAN_KIND_\\u0049NTERNAL\",", "\"SPAN_KIND_INTERNAL", "\"STATUS_CODE_ERRO\"}", "1,"] {
            #expect(read(other, { LineAnalyzer.knownSpanKind(&$0) ?? LineAnalyzer.knownStatusCode(&$0) }) == (nil, 0), "\(other)")
        }
    }

    @Test("readKey hashes as it reads: the key's bytes and bytesHash of them, for every length, place and ending")
    func readKeyHash() throws {
        let analyzer = LineAnalyzer(file: "t.jsonl", options: .init())
        let letters = Array("abcdefghijklmnopqrstuvwxyz._0123456789".utf8)
        for n in 0...40 {
            let key = (0..<n).map { letters[($0 * 7 + n) % letters.count] }
            for lead in 0..<9 {
                // The key after `lead` spaces, then what follows it: long, short (its quote among the last 8 bytes of
                // the text, where the word loop cannot reach), an escape or a byte past ASCII inside.
                for (variant, text) in [
                    (0, Array(repeating: UInt8(ascii: " "), count: lead) + [0x22] + key + Array("\":1,\"more\":2}".utf8)),
                    (1, Array(repeating: UInt8(ascii: " "), count: lead) + [0x22] + key + Array("\":".utf8)),
                    (2, Array(repeating: UInt8(ascii: " "), count: lead) + [0x22] + key + Array("\\n\":1,\"more\":2}".utf8)),
                    (3, Array(repeating: UInt8(ascii: " "), count: lead) + [0x22] + key + Array("é\":1,\"more\":2}".utf8)),
                ] {
                    let want: [UInt8] = switch variant {
                    case 2: key + [0x0A]
                    case 3: key + Array("é".utf8)
                    default: key
                    }
                    try text.withUnsafeBytes { raw in
                        var s = JSONScanner(raw)
                        s.pos = lead
                        let k = try analyzer.readKey(&s)
                        #expect(Array(k.bytes) == want, "n \(n) lead \(lead) variant \(variant)")
                        #expect(k.hash == want.withUnsafeBufferPointer { bytesHash($0.baseAddress!, $0.count) }, "n \(n) lead \(lead) variant \(variant)")
                        #expect(raw[s.pos] == UInt8(ascii: ":"), "n \(n) lead \(lead) variant \(variant)")
                    }
                    analyzer.escapedKeys.forEach { $0.deallocate() }
                    analyzer.escapedKeys.removeAll()
                }
            }
        }
        // Keys a byte apart hash apart (the length is mixed in: "a" and "a\u0000" differ).
        let a = Array("\"a\":1}        ".utf8), b = Array("\"a\\u0000\":1}  ".utf8)
        let ha = try a.withUnsafeBytes { raw in var s = JSONScanner(raw); return try analyzer.readKey(&s).hash }
        let hb = try b.withUnsafeBytes { raw in var s = JSONScanner(raw); return try analyzer.readKey(&s).hash }
        #expect(ha != hb)
    }
}
