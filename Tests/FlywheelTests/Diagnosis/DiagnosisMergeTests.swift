import Foundation
import Testing

@testable import Flywheel

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
}
