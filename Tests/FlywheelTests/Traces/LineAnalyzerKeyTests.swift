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
}
