import Foundation
import Testing

@testable import Flywheel
@testable import FlywheelSupport

@Suite struct FeedbackParserTests {
    static let t1 = "7d3f1c9a2b4e4f6a8c0d1e2f3a4b5c6d"
    static let t2 = "0e873a0000c6d07ef7b77e90d3593ad6"

    static func line(_ overrides: [String: JSONValue] = [:], drop: [String] = []) -> String {
        var o: [String: JSONValue] = [
            "feedback_id": "fb-001", "trace_id": .string(t1), "source": "human", "author": "finance-lead",
            "category": "concentration", "severity": "high", "observation": "Judge concentration by parent account.",
            "evidence": "customers/customers.csv", "required_observations": ["Helix Group", "31%"],
            "prohibited_claims": ["no customer above 15%"], "created_at": "2026-09-30T12:00:00Z",
        ]
        for (k, v) in overrides { o[k] = v }
        for k in drop { o[k] = nil }
        return JSONValue.object(o).canonicalText
    }

    @Test func validJSONLRoundTrips() throws {
        let text = Self.line() + "\n\n" + Self.line(["feedback_id": "fb-002", "trace_id": .string(Self.t2), "severity": "critical"]) + "\n"
        let records = try FeedbackParser.load(Data(text.utf8), file: "f.jsonl", knownTraceIDs: [Self.t1, Self.t2])
        #expect(records.count == 2)
        #expect(records[1].severity == .critical)
        #expect(records[0].requiredObservations == ["Helix Group", "31%"])
        let encoded = FeedbackStore.encode(records)
        #expect(try FeedbackStore.decode(encoded) == records)
        // one record per line, sorted keys
        let lines = String(decoding: encoded, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines[0].hasPrefix("{\"author\":"))
    }

    @Test("the store's lenient read (the site's): a field this version does not know passes; every other rule holds")
    func lenientStoreRead() throws {
        let future = Self.line(["feedback_id": "fb-new", "reviewed_in": "a later Flywheel"])
        let text = Self.line() + "\n" + future + "\n" + Self.line(["feedback_id": "fb-bad", "severity": "urgent"]) + "\n"
        #expect(throws: FeedbackValidationError.self) { try FeedbackStore.decode(Data(text.utf8)) }
        let r = FeedbackStore.read(lenient: Data(text.utf8), file: "cycles/0004/feedback.jsonl")
        #expect(r.records.map(\.feedbackID) == ["fb-001", "fb-new"])
        #expect(r.issues.map(\.description) == [
            "cycles/0004/feedback.jsonl:3: severity: unknown severity \"urgent\" (expected low, medium, high or critical)"
        ])
    }

    @Test func unknownTraceID() {
        let r = FeedbackParser.parse(Data((Self.line() + "\n").utf8), file: "human.jsonl", knownTraceIDs: [Self.t2])
        #expect(r.records.isEmpty)
        #expect(r.issues == [FeedbackIssue(file: "human.jsonl", line: 1, field: "trace_id", message: "unknown trace id \"\(Self.t1)\" (not in this cycle's traces)")])
    }

    @Test func malformedLineReportsItsLineNumber() {
        let text = Self.line() + "\n" + "\n" + "{\"trace_id\": \"abc\", oops}\n" + Self.line(["feedback_id": "fb-009"]) + "\n"
        let r = FeedbackParser.parse(Data(text.utf8), file: "x.jsonl")
        #expect(r.records.map(\.feedbackID) == ["fb-001", "fb-009"])
        #expect(r.issues.count == 1)
        #expect(r.issues.first?.line == 3)
        #expect(r.issues.first?.field == "<line>")
        #expect(r.issues.first?.description.hasPrefix("x.jsonl:3: <line>:") == true)
    }

    @Test func badSeverityAndSource() {
        let text = Self.line(["severity": "urgent", "source": "robot"])
        let r = FeedbackParser.parse(Data(text.utf8), file: "a.jsonl")
        #expect(r.records.isEmpty)
        #expect(Set(r.issues.map(\.field)) == ["severity", "source"])
        #expect(r.issues.first { $0.field == "severity" }?.message.contains("urgent") == true)
    }

    @Test func missingAndMistypedFields() {
        let text = Self.line(["required_observations": ["ok", 3]], drop: ["observation", "author"])
        let r = FeedbackParser.parse(Data(text.utf8), file: "a.jsonl")
        #expect(Set(r.issues.map(\.field)) == ["observation", "author", "required_observations[1]"])
        #expect(r.issues.first { $0.field == "author" }?.message == "missing required field")
        let unknown = FeedbackParser.parse(Data(Self.line(["severty": "high"]).utf8), file: "a.jsonl")
        #expect(unknown.issues.map(\.field) == ["severty"])
        let badTime = FeedbackParser.parse(Data(Self.line(["created_at": "yesterday"]).utf8), file: "a.jsonl")
        #expect(badTime.issues.map(\.field) == ["created_at"])
    }

    @Test func jsonArrayWithLineNumbers() throws {
        let text = "[\n  " + Self.line() + ",\n  " + Self.line(["feedback_id": "fb-2", "severity": "extreme"]) + "\n]\n"
        let r = FeedbackParser.parse(Data(text.utf8), file: "notes.json")
        #expect(r.records.count == 1)
        #expect(r.issues.map(\.line) == [3])
        #expect(throws: FeedbackValidationError.self) { try FeedbackParser.load(Data(text.utf8), file: "notes.json") }
        let unterminated = FeedbackParser.parse(Data(("[\n" + Self.line()).utf8), file: "n.json")
        #expect(unterminated.issues.first?.message.contains("not closed") == true)
    }

    @Test func stableIDsAndDedupe() throws {
        let text = Self.line(drop: ["feedback_id", "created_at"])
        let a = try FeedbackParser.load(Data(text.utf8), file: "a")
        let b = try FeedbackParser.load(Data(text.utf8), file: "b", defaultCreatedAt: "2026-10-01T00:00:00Z")
        #expect(a[0].feedbackID == b[0].feedbackID)  // time is not part of the id
        #expect(a[0].feedbackID.hasPrefix("fb-") && a[0].feedbackID.count == 15)
        let other = try FeedbackParser.load(Data(Self.line(["observation": "different"], drop: ["feedback_id"]).utf8), file: "c")
        #expect(other[0].feedbackID != a[0].feedbackID)
        let merged = FeedbackStore.merge(a, b + other)
        #expect(merged.count == 2)
        // the existing record wins over the later duplicate (b has the 2026-10-01 default time)
        #expect(merged.first { $0.feedbackID == a[0].feedbackID }?.createdAt == "1970-01-01T00:00:00Z")
    }

    @Test func sha256MatchesKnownVectors() {
        #expect(StableHash.sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(StableHash.sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(StableHash.sha256Hex(String(repeating: "a", count: 200)).count == 64)
    }

    @Test func questionKeyedFeedbackResolvesToTraces() throws {
        // the shape of the example's shipped human feedback: trace_id null, question id, evidence as a list
        let text = #"{"author":"Elena Marsh","category":"metric_validation","created_at":"2026-10-05T14:32:00Z","evidence":["customers/cohort_retention.csv","product_strategy.md"],"feedback_id":"fb-0002-nrr","observation":"NRR ~130% is not validated.","prohibited_claims":["NRR is ~130%"],"question":2,"required_observations":["112%","estimate"],"severity":"high","source":"human","trace_id":null}"#
        let records = try FeedbackParser.load(Data(text.utf8), file: "cycle-1-human.jsonl", knownTraceIDs: [Self.t2], traceIDsByQuestion: ["2": Self.t2])
        #expect(records.first?.traceID == Self.t2)
        #expect(records.first?.evidence == "customers/cohort_retention.csv; product_strategy.md")
        let unmapped = FeedbackParser.parse(Data(text.utf8), file: "h.jsonl")
        #expect(unmapped.issues.map(\.field) == ["question"])
    }
}
