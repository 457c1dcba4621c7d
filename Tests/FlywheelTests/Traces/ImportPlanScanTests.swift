import Foundation
import Testing
import TestSupport

@testable import FlywheelSupport
@testable import FlywheelTraces

/// The scan's plan of each span line for `traces import` (TraceValidationOptions.importPlan) must be what the
/// import's own pass over the lines finds: SpanLineNormalizer.predictedLength and Redactor.mayFindSecrets.
@Suite("Traces: import plan made by the scan")
struct ImportPlanScanTests {
    static let base = SpanLineNormalizerTests.base

    /// Lines that differ from the base in what the plan looks at, one trace id each (so every one is a span).
    static func variants() -> [String] {
        let edits: [(String, String)] = [
            ("", ""),
            // Whitespace outside strings (dropped by the writer) and inside them (kept).
            (#""name":"n","kind""#, " \"name\" :\t\"a b\" ,  \"kind\""),
            // Escapes the prediction declines and the screen treats as a possible secret: \u and \/.
            (#""name":"n""#, #""name":"\u0041""#), (#""name":"n""#, #""name":"a\/b""#),
            // The writer's own escapes, non-ASCII text, a raw U+2028 (declined by the prediction only).
            (#""name":"n""#, #""name":"émoji 😀 \"q\" \\ \n""#), (#""name":"n""#, "\"name\":\"a\u{2028}b\""),
            // Floats, exponents, -0, a long integer (declined), plain integers (predicted).
            (#""a":1"#, #""a":1.5"#), (#""a":1"#, #""a":1e3"#), (#""a":1"#, #""a":-0"#), (#""a":1"#, #""a":1234567890123456789"#),
            (#""a":1"#, #""a":-42,"b":[0,1,{"c":null,"d":true,"e":false}]"#),
            // Secrets the built-in rules find, and a hint in a key.
            (#""a":1"#, #""a":"key sk-abcdefghijklmnopqrstuvwx""#), (#""a":1"#, #""a":"Authorization: Bearer abc.def-123456""#),
            (#""a":1"#, #""password":"hunter22""#), (#""a":1"#, #""a":"AKIAABCDEFGHIJKLMNOP""#),
            // A hint spelt with an escape only the decoded string shows.
            (#""a":1"#, #""a":"\u0073k-abcdefghijklmnopqrstuvwx""#),
            // Optional fields missing: parent_span_id, trace_state, status.message, scope.version.
            (#""parent_span_id":"p","trace_state":"","#, ""), (#","message":"""#, ""), (#","version":"1""#, ""),
            // Keys out of order (same length written), an extra top-level key, a repeated key (predicted, wrongly).
            (#""kind":"SPAN_KIND_INTERNAL","start_time""#, #""start_time":"x","kind":"SPAN_KIND_INTERNAL","zz_start_time""#),
            (#""attributes":{"a":1}"#, #""attributes":{"b":2,"a":1},"extra":{"y":1,"x":[]}"#),
            (#""a":1"#, #""a":1,"a":2"#),
            // A non-ASCII key.
            (#""a":1"#, #""é":1"#),
        ]
        return edits.enumerated().map { i, edit in
            var line = edit.0.isEmpty ? base : base.replacingOccurrences(of: edit.0, with: edit.1)
            line = line.replacingOccurrences(of: #""trace_id":"t1""#, with: "\"trace_id\":\"trace\(i)\"")
            return line
        }
    }

    /// A JSONL file of the variants, every fixture's valid lines and a generated file, with an empty line and a line
    /// the scan rejects in between (neither is planned).
    static func dataset() throws -> Data {
        var text = variants().joined(separator: "\n") + "\n\n{\"trace_id\": 7}\n"
        for name in TraceFixtures.validFiles { text += String(decoding: try TraceFixtures.data(name), as: UTF8.self) }
        let generated = TestPaths.scratch("import-plan-gen").appendingPathComponent("gen.jsonl")
        try TraceFixtures.generate(generated, ["--traces", "3", "--seed", "5"])
        text += String(decoding: try Data(contentsOf: generated), as: UTF8.self)
        return Data(text.utf8)
    }

    static func scan(_ data: Data, _ screen: RedactionScreen?, workers: Int? = nil) -> TraceDatasetScan {
        var options = TraceValidationOptions()
        options.importPlan = screen
        return TraceDatasetScan.scan([TraceSource(name: "plan.jsonl", data: data)], options: options, workers: workers)
    }

    @Test(
        "each span line's plan is the import's own answer: predictedLength unless redacted, mayFindSecrets, for each screen and any slicing",
        arguments: [0, 1, 2])
    func planMatchesImportPass(screenIndex: Int) throws {
        let data = try Self.dataset()
        let redactor: Redactor? = try [nil, Redactor(), Redactor(extraRegexes: ["hunter[0-9]+"])][screenIndex]
        let screen = redactor?.screen ?? RedactionScreen.none
        #expect(screen == [RedactionScreen.none, .builtInHints, .everything][screenIndex])
        let serial = Self.scan(data, screen, workers: 1)
        // The lines the index holds, in file order, are the lines planned.
        let spans = serial.traces.flatMap { t in t.offsets.indices.map { (t.offsets[$0], t.lengths[$0], t.lines[$0]) } }
            .sorted { $0.0 < $1.0 }
        #expect(serial.plans.count == 1)
        let plan = serial.plans[0]
        #expect(plan.count == spans.count && plan.count > 150)
        #expect(plan.map(\.offset) == spans.map(\.0))
        #expect(plan.map(\.length) == spans.map(\.1))
        #expect(plan.map(\.line) == spans.map(\.2))
        var predicted = 0, redacted = 0, declined = 0
        // Line number by offset: one more than the newlines before it.
        var lineAt: [Int: Int] = [0: 1]
        for (i, b) in data.enumerated() where b == 0x0A { lineAt[i + 1] = lineAt.count + 1 }
        data.withUnsafeBytes { buf in
            for p in plan {
                let raw = UnsafeRawBufferPointer(rebasing: buf[p.offset..<(p.offset + p.length)])
                let may = redactor?.mayFindSecrets(inJSON: raw) ?? false
                #expect(p.redact == may, "\(String(decoding: raw, as: UTF8.self))")
                let want = may ? -1 : SpanLineNormalizer.predictedLength(raw) ?? -1
                #expect(p.predicted == want, "\(String(decoding: raw, as: UTF8.self))")
                #expect(p.line == lineAt[p.offset])
                if p.redact { redacted += 1 } else if p.predicted >= 0 { predicted += 1 } else { declined += 1 }
            }
        }
        switch screen {
        case .none: #expect(redacted == 0 && predicted > 100 && declined >= 9)
        case .builtInHints: #expect(redacted >= 7 && predicted > 100 && declined >= 5)
        case .everything: #expect(redacted == plan.count)
        }
        // Sliced: the same plan (slices are merged in file order, their line numbers shifted).
        for workers in [2, 3, 7] {
            #expect(Self.scan(data, screen, workers: workers).plans == [plan], "\(workers) slices")
        }
    }

    @Test("without importPlan (validate, the explorers) the scan plans nothing, and its other results are the same")
    func noPlanByDefault() throws {
        let data = try Self.dataset()
        let plain = Self.scan(data, nil, workers: 3)
        #expect(plain.plans == [[]])
        let planned = Self.scan(data, .builtInHints, workers: 3)
        #expect(planned.report == plain.report)
        #expect(planned.traces == plain.traces)
        let store = try TraceStore(data: data, skipInvalid: true)
        #expect(store.importPlans == [[]])
    }

    @Test("the screen of a redactor with custom patterns is `everything`; with the built-in rules only, `builtInHints`")
    func redactorScreens() throws {
        #expect(try Redactor().screen == .builtInHints)
        #expect(try Redactor(extraRegexes: ["x+"]).screen == .everything)
        // Where the prediction holds, the hints alone decide (it declines every \u and \/ escape).
        for line in Self.variants() {
            let bytes = Array(line.utf8)
            bytes.withUnsafeBytes { raw in
                let predicted = SpanLineNormalizer.predictedLength(raw) != nil
                #expect(
                    RedactionScreen.builtInHints.mayRedact(raw, predicted: predicted) == Redactor.mayFindBuiltInSecrets(inJSON: raw),
                    "\(line)")
            }
        }
    }
}
