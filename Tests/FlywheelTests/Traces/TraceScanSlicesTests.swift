import Foundation
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelTraces

/// The scan of a large file is split at line boundaries into one slice per core and the slices' indexes merge in
/// line order. These tests force the split on small inputs and compare with the one-slice scan: the same problems
/// (true line numbers and byte offsets), traces, index and counts, whatever the number of slices.
@Suite("Traces: sliced scan gives the serial scan's result")
struct TraceScanSlicesTests {
    struct Outcome: Equatable {
        var problems: [TraceIssue]
        var traces: [IndexedTrace]
        var traceIndex: [String: Int]
        var spansOK: Int
    }

    static func scan(_ data: Data, workers: Int, options: TraceValidationOptions = .init()) -> Outcome {
        data.withUnsafeBytes { buf in
            let f = FileScan.run(buf, name: "t.jsonl", source: 0, options: options, workers: workers)
            return Outcome(problems: f.problems, traces: f.traces, traceIndex: f.traceIndex, spansOK: f.spansOK)
        }
    }

    /// Compares the scan with 2, 3, 5 and 9 slices (and the dataset report, also when stopping at the first error)
    /// with the one-slice scan.
    static func expectSameAsSerial(_ data: Data, _ label: String) {
        let serial = scan(data, workers: 1)
        for workers in [2, 3, 5, 9] {
            let sliced = scan(data, workers: workers)
            #expect(sliced.problems == serial.problems, "\(label), \(workers) slices: problems differ")
            #expect(sliced.traces == serial.traces, "\(label), \(workers) slices: traces differ")
            #expect(sliced.traceIndex == serial.traceIndex, "\(label), \(workers) slices")
            #expect(sliced.spansOK == serial.spansOK, "\(label), \(workers) slices")
            // Keeping fields' places adds them (the same for any number of slices) and changes nothing else.
            var keeping = TraceValidationOptions()
            keeping.keptAttributes = ["tool.name", "output.value", "openinference.span.kind"]
            let keptSerial = scan(data, workers: 1, options: keeping), keptSliced = scan(data, workers: workers, options: keeping)
            #expect(keptSliced.traces == keptSerial.traces, "\(label), \(workers) slices: kept fields differ")
            #expect(keptSerial.problems == serial.problems && keptSerial.spansOK == serial.spansOK, "\(label): keeping fields changed the scan")
            #expect(keptSerial.traces.map { t in var t = t; t.keptFields = []; return t } == serial.traces, "\(label): keeping fields changed the index")
            #expect(keptSerial.traces.allSatisfy { $0.keptFields.count == $0.spanCount && $0.keptFields.allSatisfy { !$0.isEmpty } }, "\(label)")
            for options in [TraceValidationOptions(), TraceValidationOptions(stopAtFirstError: true, warningsFail: true)] {
                let src = [TraceSource(name: "t.jsonl", data: data)]
                let one = TraceDatasetScan.scan(src, options: options, workers: 1)
                let many = TraceDatasetScan.scan(src, options: options, workers: workers)
                #expect(many.report == one.report, "\(label), \(workers) slices, strict \(options.stopAtFirstError): reports differ")
                #expect(many.traces == one.traces, "\(label), \(workers) slices, strict \(options.stopAtFirstError)")
            }
        }
    }

    @Test("every case of the malformed corpus")
    func malformedCorpus() throws {
        let dir = TraceFixtures.url("malformed")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".jsonl") }.sorted()
        #expect(names.count >= 100)
        var withErrors = 0
        for name in names {
            let data = try Data(contentsOf: dir.appendingPathComponent(name))
            if Self.scan(data, workers: 1).problems.contains(where: { $0.severity == .error }) { withErrors += 1 }
            Self.expectSameAsSerial(data, name)
        }
        #expect(withErrors >= 50)  // the comparison covers error lines, not only clean files
    }

    @Test("the valid and invalid fixtures")
    func fixtures() throws {
        for name in TraceFixtures.validFiles + ["gen_small_3traces_plus_invalid.jsonl"] {
            Self.expectSameAsSerial(try TraceFixtures.data(name), name)
        }
    }

    @Test("interleaved traces, long lines where the slices are cut, errors in several slices, spans whose parents are in another slice")
    func interleavedLongLines() throws {
        var lines = TraceFixtures.lines(try TraceFixtures.data("gen_small_3traces.jsonl"))
        #expect(lines.count > 40)
        // Interleave the traces (a fixed shuffle), so each trace's spans fall into several slices and parents
        // often sit in another slice than their children.
        var g = SplitMix64(seed: 7)
        for i in stride(from: lines.count - 1, to: 0, by: -1) { lines.swapAt(i, Int(g.next() % UInt64(i + 1))) }
        // Long lines: a 300 kB attribute on every fifth span, so the nominal cut points land inside them.
        for i in stride(from: 0, to: lines.count, by: 5) {
            var span = try Span(line: String(decoding: lines[i], as: UTF8.self))
            span.attributes["output.value"] = .string(String(repeating: "long \"quoted\" text é ", count: 15_000))
            lines[i] = Array(SpanWriter.data([span]).prefix { $0 != 0x0A })
        }
        // A duplicated span (duplicate_span_id across slices), bad lines early and late, a whitespace-only line and
        // empty lines.
        lines.insert(lines[3], at: lines.count - 4)
        lines.insert(Array(#"{"trace_id": 1}"#.utf8), at: 6)
        lines.insert(Array("not json".utf8), at: lines.count - 2)
        lines.insert(Array("   ".utf8), at: lines.count / 2)
        lines.insert([], at: lines.count / 3)
        var data = Data(lines.joined(separator: [0x0A]))
        let serial = Self.scan(data, workers: 1)
        #expect(serial.problems.contains { $0.code == "duplicate_span_id" })
        #expect(Set(serial.problems.filter { $0.severity == .error }.map(\.line)).count == 3)  // three bad lines
        #expect(serial.traces.count == 3)
        Self.expectSameAsSerial(data, "interleaved")
        // The same without the last newline, and with one at the end.
        data.append(0x0A)
        Self.expectSameAsSerial(data, "interleaved + newline")
    }

    @Test("a slice that would start inside the one long line of a file")
    func oneLongLine() throws {
        var span = try Span(line: String(decoding: try TraceFixtures.data("spec_examples.jsonl").prefix { $0 != 0x0A }, as: UTF8.self))
        span.attributes["output.value"] = .string(String(repeating: "x\\\"y\n", count: 200_000))
        let data = SpanWriter.data([span])
        let serial = Self.scan(data, workers: 1)
        #expect(serial.spansOK == 1)
        Self.expectSameAsSerial(data, "one long line")
    }
}
