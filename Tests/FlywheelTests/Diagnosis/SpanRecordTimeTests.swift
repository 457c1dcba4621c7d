import Foundation
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelTraces
import FlywheelSupport

/// A span's start and end times are parsed once, into its `SpanRecord`, while the span is read: the task figures
/// add them up and the detectors sort by them instead of reading the time texts again. These tests hold the parsed
/// times and the orders made from them to what the texts give.
@Suite("Diagnosis: the times a span record holds")
struct SpanRecordTimeTests {
    /// Canonical times (some of the same instant, some out of order), texts of days that do not exist, a leap
    /// second, other shapes the lenient parser reads and texts it does not.
    static let texts = [
        "2026-01-01T00:00:00.000000000Z", "2026-01-01T00:00:00.000000001Z", "2025-12-31T23:59:59.999999999Z", "2026-01-01T00:00:00.000000000Z",
        "2026-02-28T10:00:00.500000000Z", "2026-02-29T00:00:00.000000000Z", "2026-03-01T00:00:00.000000000Z", "2028-02-29T12:00:00.000000000Z",
        "2026-04-31T00:00:00.000000000Z", "2026-05-01T00:00:00.000000000Z", "2026-06-30T23:59:60.000000000Z", "2026-07-01T00:00:00.000000000Z",
        "2026-01-01T00:00:00Z", "2026-01-01T00:00:00.5Z", "2026-01-01 00:00:01.000000000Z", "2026-01-01T00:00:00.0000000001Z",
        "1969-12-31T23:59:59.000000000Z", "not a time", "", "2026-13-01T00:00:00.000000000Z",
    ]

    @Test("a record's times are the lenient parser's nanoseconds of the span's texts, and its seconds are Diagnoser.seconds")
    func timesAgreeWithTexts() {
        for start in Self.texts {
            let end = Self.texts.last { $0 != start } ?? ""
            let span = Span(
                traceID: String(repeating: "a", count: 32), spanID: String(repeating: "b", count: 16), name: "step", kind: "SPAN_KIND_INTERNAL",
                startTime: start, endTime: end, status: .ok, scope: SpanScope(name: "s"))
            let r = SpanRecord(span)
            #expect(r.startNanos == (TraceTime.nanoseconds(lenient: start) ?? SpanRecord.noTime), "\(start)")
            #expect(r.endNanos == (TraceTime.nanoseconds(lenient: end) ?? SpanRecord.noTime), "\(end)")
            #expect(SpanRecord.seconds(r.startNanos) == Diagnoser.seconds(start), "\(start)")
        }
        // Stated outright: what is and is not a canonical time of a real date.
        func ordered(_ t: String) -> Bool { SpanRecord.time(t).ordered }
        #expect(ordered("2026-01-01T00:00:00.000000000Z") && ordered("2028-02-29T12:00:00.000000000Z") && ordered("2026-02-28T10:00:00.500000000Z"))
        #expect(!ordered("2026-02-29T00:00:00.000000000Z") && !ordered("2026-04-31T00:00:00.000000000Z") && !ordered("2026-06-30T23:59:60.000000000Z"))
        #expect(!ordered("2026-01-01T00:00:00Z") && !ordered("2026-01-01 00:00:01.000000000Z") && !ordered("1969-12-31T23:59:59.000000000Z"))
        #expect(!ordered("not a time") && !ordered(""))
    }

    @Test("two ordered times compare as their texts compare")
    func orderedTimesCompareAsTexts() {
        let ordered = Self.texts.filter { SpanRecord.time($0).ordered }
        #expect(ordered.count >= 8)
        for a in ordered {
            for b in ordered {
                let (x, y) = (SpanRecord.time(a).nanos, SpanRecord.time(b).nanos)
                #expect((a < b) == (x < y) && (a == b) == (x == y), "\(a) vs \(b)")
            }
        }
    }

    /// Spans with the given start texts (ends: the texts in reverse), as one trace.
    static func trace(_ starts: [String]) -> [Span] {
        starts.enumerated().map { i, start in
            Span(
                traceID: String(repeating: "a", count: 32), spanID: String(format: "%016x", i + 1), name: "step", kind: "SPAN_KIND_INTERNAL",
                startTime: start, endTime: starts[starts.count - 1 - i], status: .ok, scope: SpanScope(name: "s"), attributes: ["openinference.span.kind": "LLM"])
        }
    }

    @Test("start and end orders from the records are the orders of the texts (file order breaks ties), with or without an unordered time")
    func ordersFromRecordsAreTextOrders() {
        let canonical = Self.texts.filter { SpanRecord.time($0).ordered }
        var rng = SplitMix64(seed: 14)
        var cases: [[String]] = [canonical, canonical.reversed(), Self.texts, Self.texts.reversed(), [], [canonical[0]]]
        for _ in 0..<40 { cases.append((0..<Int.random(in: 2...12, using: &rng)).map { _ in canonical.randomElement(using: &rng)! }) }
        for _ in 0..<20 { cases.append((0..<Int.random(in: 2...12, using: &rng)).map { _ in Self.texts.randomElement(using: &rng)! }) }
        for starts in cases {
            let spans = Self.trace(starts)
            let records = spans.map(SpanRecord.init)
            spans.withUnsafeBufferPointer { s in
                records.withUnsafeBufferPointer { r in
                    #expect(Diagnoser.chronologicalOrder(s, r) == Diagnoser.chronologicalOrder(s), "\(starts)")
                    let all = Array(s.indices)
                    #expect(Diagnoser.endOrder(all, s, r) == all.sorted { (s[$0].endTime, $0) < (s[$1].endTime, $1) }, "\(starts)")
                    let some = all.filter { $0 % 2 == 0 }
                    #expect(Diagnoser.endOrder(some, s, r) == some.sorted { (s[$0].endTime, $0) < (s[$1].endTime, $1) }, "\(starts)")
                }
            }
        }
    }
}
