@testable import Flywheel
import FlywheelSupport
import Foundation
import Testing

/// The one reader of diagnosis.json, strict (the loop) and lenient (the site over old or damaged histories).
@Suite("Diagnosis reader")
struct DiagnosisReaderTests {
    static let recommendation = Recommendation(
        id: "rec-confirm-dates", rank: 1, title: "Confirm the travel dates before booking", area: .prompt,
        change: "Ask for the dates back.", patch: nil,
        predictedImpact: PredictedImpact(evalIDs: ["case-1"], traceIDs: ["t1"], summary: "case-1 passes"), confidence: .medium,
        effort: .small, evidence: [EvidenceRef(traceID: "t1", note: "booked the wrong week")], validation: "rerun the gate",
        failureModeIDs: ["fm-dates"])
    static let diagnosis = Diagnosis(
        cycle: 4, failureModes: [
            FailureMode(id: "fm-dates", title: "Books without confirming dates", kind: .missingRequirement, category: "booking", count: 2, traceIDs: ["t1", "t2"])
        ], recommendations: [recommendation],
        outcomes: [Outcome(recommendationID: "rec-old", fromCycle: 3, implemented: true, status: .verified, note: "")])

    @Test("a file that reads strictly is read the same in both modes; nothing is skipped")
    func sameWhenValid() throws {
        var skipped: [String] = []
        let data = Self.diagnosis.encoded()
        #expect(try Diagnosis.read(data) == Self.diagnosis)
        #expect(Diagnosis.read(lenient: data, skipped: &skipped) == Self.diagnosis)
        #expect(skipped.isEmpty)
    }

    @Test("lenient: an element that does not read is left out and named with its field; the rest is kept")
    func elementwise() throws {
        var root = try #require(JSONValue.parse(String(decoding: Self.diagnosis.encoded(), as: UTF8.self)).objectValue)
        var recs = try #require(root["recommendations"]?.arrayValue)
        recs.append(.object(["id": "rec-bad", "rank": "two", "title": "x"]))
        recs.insert(.string("junk"), at: 0)
        root["recommendations"] = .array(recs)
        root["outcomes"] = .string("not a list")
        root["ranking"] = .int(3)
        root["cycle"] = nil
        let data = Data(JSONValue.object(root).canonicalText.utf8)
        #expect(throws: (any Error).self) { try Diagnosis.read(data) }
        var skipped: [String] = []
        let d = try #require(Diagnosis.read(lenient: data, skipped: &skipped))
        #expect(d.recommendations == [Self.recommendation])
        #expect(d.failureModes == Self.diagnosis.failureModes)
        #expect(d.outcomes.isEmpty && d.ranking == nil && d.cycle == 0)
        #expect(skipped.contains { $0.hasPrefix("recommendations[0]: ") })
        #expect(skipped.contains { $0.hasPrefix("recommendations[2]: field rank: ") })
        #expect(skipped.contains("outcomes: not a list"))
        #expect(skipped.contains { $0.hasPrefix("ranking: ") })
        #expect(skipped.count == 4)
    }

    @Test("lenient: a file that is no JSON object gives no diagnosis and says so")
    func notAnObject() {
        for text in ["[]", "not json", ""] {
            var skipped: [String] = []
            #expect(Diagnosis.read(lenient: Data(text.utf8), skipped: &skipped) == nil)
            #expect(skipped == ["(top level): not a JSON object"])
        }
    }
}
