import Foundation
import Testing

@testable import Flywheel
import FlywheelTraces

/// The parallel detectors' builders merge into the same diagnosis as adding everything to one builder in order.
@Suite("Diagnosis: merging detector findings")
struct DiagnosisMergeTests {
    typealias Add = (inout Diagnoser.Builder) -> Void

    @Test("merging builders in order gives exactly the findings of one builder fed the same adds in order")
    func mergeEqualsSequential() {
        let layout = HarnessLayout(instructionsFile: "AGENTS.md")
        let loop = FailureCatalog.loop(layout), rate = FailureCatalog.rateLimit(layout), empty = FailureCatalog.emptyAnswer(layout)
        // First detector: many rate-limit findings (past the evidence cap) and an uncapped note.
        let first: Add = { b in
            for i in 0..<130 { b.add(rate, traceID: "t\(i % 90)", spanID: "r\(i)", note: "rate \(i)") }
            b.note(rate, traceID: "t1", "retry storm")
            b.add(loop, traceID: "t5", spanIDs: ["a", "b"], count: 3, note: "loop 1")
        }
        // Later detectors: the same modes again (new and repeated traces) and a new mode.
        let second: Add = { b in
            b.add(loop, traceID: "t5", spanIDs: ["b", "c"], count: 2, severity: .high, note: "loop again")
            b.add(loop, traceID: "t7", spanID: "d", note: "loop 2")
            for i in 0..<5 { b.add(rate, traceID: "late\(i)", spanID: "x\(i)", note: "late rate \(i)") }
        }
        let third: Add = { b in b.add(empty, traceID: "t9", spanID: nil, evalID: "case-1", note: "empty answer", quote: "") }

        var base = Diagnoser.Builder(harness: HarnessFiles())
        base.totalTraces = 100
        var sequential = base
        for add in [first, second, third] { add(&sequential) }
        var merged = base
        for add in [first, second, third] {
            var part = base
            add(&part)
            merged.merge(part)
        }
        #expect(merged.build(cycle: 1) == sequential.build(cycle: 1))
        let rates = merged.modes["fm-" + rate.id]
        #expect(rates?.traceIDs.count == 95 && rates?.count == 135)
        #expect(merged.modes["fm-" + loop.id]?.spanIDs == ["a", "b", "c", "d"])
        #expect(merged.modes["fm-" + loop.id]?.severity == .high)
    }

    @Test("a later builder's notes past the evidence cap merge as one builder keeps them (the span-problem detector's ranges)")
    func notesPastTheCap() {
        let layout = HarnessLayout(instructionsFile: "AGENTS.md")
        let rate = FailureCatalog.rateLimit(layout)
        // The first range of traces fills the mode past its cap; the second adds more (dropped by the cap) and the
        // retry-storm note of a trace whose own items were all dropped (kept: notes are not capped).
        let first: Add = { b in for i in 0..<120 { b.add(rate, traceID: "a\(i % 40)", spanID: "r\(i)", note: "rate \(i)") } }
        let second: Add = { b in
            for i in 0..<4 { b.add(rate, traceID: "z", spanID: "z\(i)", note: "late \(i)") }
            b.note(rate, traceID: "z", "4 rate-limited calls in one trace (retry storm)")
            b.add(rate, traceID: "y", spanID: "y0", note: "after the note")
        }
        var base = Diagnoser.Builder(harness: HarnessFiles())
        base.totalTraces = 42
        var sequential = base
        first(&sequential)
        second(&sequential)
        var merged = base
        for add in [first, second] {
            var part = base
            add(&part)
            merged.merge(part)
        }
        let id = "fm-" + rate.id
        #expect(merged.modes[id]?.evidence == sequential.modes[id]?.evidence)
        #expect(merged.modes[id]?.noteIndices == sequential.modes[id]?.noteIndices)
        #expect(sequential.modes[id]?.evidence.last?.note == "4 rate-limited calls in one trace (retry storm)")
        #expect(merged.build(cycle: 1) == sequential.build(cycle: 1))
    }

    @Test("the span-problem detector's trace ranges cover every trace once, in order, with about equal spans")
    func traceRanges() {
        func traces(_ sizes: [Int]) -> [(id: String, spans: [Span])] {
            sizes.enumerated().map { i, n in
                ("t\(i)", (0..<n).map { _ in Span(traceID: "t\(i)", spanID: "s", name: "x", kind: "SPAN_KIND_INTERNAL", startTime: "", endTime: "", status: .ok, scope: SpanScope(name: "")) })
            }
        }
        for (sizes, parts) in [([3, 1, 4, 1, 5, 9, 2, 6], 2), ([100], 2), ([1, 1, 1], 8), ([], 2), ([2, 2, 2, 2], 1), ([50, 1, 1, 1, 1], 3)] {
            let t = traces(sizes)
            let ranges = Diagnoser.traceRanges(t, parts: parts)
            #expect(ranges.flatMap { Array($0) } == Array(t.indices), "\(sizes) \(parts)")
            #expect(ranges.count <= max(parts, 1))
        }
        let even = Diagnoser.traceRanges(traces(Array(repeating: 10, count: 100)), parts: 2)
        #expect(even.map(\.count) == [50, 50])
    }
}
