import FlywheelSupport
import Foundation
import Yams

/// One pruned test. Pruning is the only way a test leaves the suite; the ratchet refuses to add a pruned id again.
///
/// Where the record lives: in the suite file itself, under `metadata.flywheel.removed` — the list the evals
/// stage's `EvalSuite.remove(id:reason:)` appends `{id, reason, description}` to; Flywheel adds `cycle` and the
/// removed `test`. `ledger(fromSuiteMetadata:)` reads that list and `suiteMetadata(_:adding:)` writes it, so a
/// reviewer sees every pruned case, with its reason, in `evals/promptfooconfig.yaml`. (`renderLedger` /
/// `parseLedger` give the same list as a standalone YAML document, for tools that want it apart.)
public struct PrunedTest: Sendable, Hashable {
    public var id: String
    public var reason: String
    public var cycle: Int
    /// The test as it was in the suite.
    public var test: JSONValue

    public init(id: String, reason: String, cycle: Int, test: JSONValue) {
        self.id = id
        self.reason = reason
        self.cycle = cycle
        self.test = test
    }

    /// Reads one recorded entry (`id` and `reason` required).
    public init?(entry: JSONValue) {
        guard let id = entry["id"]?.stringValue, let reason = entry["reason"]?.stringValue else { return nil }
        self.init(id: id, reason: reason, cycle: Int(entry["cycle"]?.intValue ?? 0), test: entry["test"] ?? .null)
    }

    /// `{id, reason, cycle, description, test}`.
    public var jsonValue: JSONValue {
        ["id": .string(id), "reason": .string(reason), "cycle": .int(Int64(cycle)), "description": test["description"] ?? .null, "test": test]
    }
}

/// The eval suite as a ratchet: tests are added, deduplicated, and removed only by an explicit, recorded prune.
public enum EvalRatchet {
    /// Why a candidate was not added.
    public struct Skipped: Sendable, Hashable {
        public var id: String
        /// `duplicate id`, `same assertions as <id>` or `pruned in cycle N: <reason>`.
        public var reason: String
    }

    /// The result of a merge.
    public struct MergeResult: Sendable {
        /// The suite's tests after the merge: every existing test in its order, then the added ones.
        public var tests: [JSONValue]
        /// The tests this merge added (the cycle's `evals.yaml`).
        public var added: [JSONValue]
        /// Candidates not added, each with its reason (nothing is dropped silently).
        public var skipped: [Skipped]
    }

    /// `metadata.id` of a test.
    public static func id(of test: JSONValue) -> String? { test["metadata"]?["id"]?.stringValue }

    /// The key for "identical assertion sets": the vars and the assertions (sorted), canonical JSON. When the vars
    /// name the question, the trace id is left out: the gate grades such a case on whichever trace answered that
    /// question in the cycle, so the same checks on the same question are one case, whichever run raised them.
    public static func assertionKey(of test: JSONValue) -> String {
        let asserts = (test["assert"]?.arrayValue ?? []).map(\.canonicalText).sorted(by: byteOrder)
        var vars = test["vars"] ?? .null
        if case .object(var o) = vars, o["question"] != nil {
            o["trace_id"] = nil
            vars = .object(o)
        }
        return JSONValue.object(["vars": vars, "assert": .array(asserts.map { .string($0) })]).canonicalText
    }

    /// Adds `candidates` to `existing`. A candidate is skipped when its id is already in the suite (or earlier in
    /// `candidates`), when a test with the same vars and assertions exists, or when its id was pruned. Existing
    /// tests are never removed or changed.
    public static func merge(existing: [JSONValue], candidates: [JSONValue], pruned: [PrunedTest] = []) -> MergeResult {
        var ids: [String: String] = [:]  // id → "suite"
        var keys: [String: String] = [:]  // assertion key → id
        for t in existing {
            if let i = id(of: t) { ids[i] = i }
            keys[assertionKey(of: t)] = id(of: t) ?? "(a test without metadata.id)"
        }
        let prunedByID = Dictionary(pruned.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        // A pruned case stays out when it comes back under another id (the same checks raised on a later run).
        let prunedByKey = Dictionary(pruned.filter { $0.test != .null }.map { (assertionKey(of: $0.test), $0) }, uniquingKeysWith: { a, _ in a })
        var added: [JSONValue] = []
        var skipped: [Skipped] = []
        for c in candidates {
            let cid = id(of: c) ?? "fb-" + StableHash.short(c.canonicalText)
            var test = c
            if id(of: c) == nil, case .object(var o) = c {
                var m = o["metadata"]?.objectValue ?? [:]
                m["id"] = .string(cid)
                o["metadata"] = .object(m)
                test = .object(o)
            }
            if let p = prunedByID[cid] {
                skipped.append(Skipped(id: cid, reason: "pruned in cycle \(p.cycle): \(p.reason)"))
                continue
            }
            if let p = prunedByKey[assertionKey(of: test)] {
                skipped.append(Skipped(id: cid, reason: "the same checks as \(p.id), pruned in cycle \(p.cycle): \(p.reason)"))
                continue
            }
            if ids[cid] != nil {
                skipped.append(Skipped(id: cid, reason: "duplicate id"))
                continue
            }
            let key = assertionKey(of: test)
            if let other = keys[key] {
                skipped.append(Skipped(id: cid, reason: "same assertions as \(other)"))
                continue
            }
            ids[cid] = cid
            keys[key] = cid
            added.append(test)
        }
        return MergeResult(tests: existing + added, added: added, skipped: skipped)
    }

    /// Removes the tests with `ids` from the suite and records each in the ledger.
    /// - Throws: when `reason` is empty or an id is not in the suite (nothing is changed then).
    public static func prune(
        tests: [JSONValue], ids: [String], reason: String, cycle: Int, ledger: [PrunedTest]
    ) throws(EvalGenerationError) -> (tests: [JSONValue], ledger: [PrunedTest]) {
        guard !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw EvalGenerationError(message: "prune: a reason is required")
        }
        let present = Set(tests.compactMap(id(of:)))
        let unknown = ids.filter { !present.contains($0) }
        guard unknown.isEmpty else {
            throw EvalGenerationError(message: "prune: no test with id \(unknown.joined(separator: ", ")) in the suite")
        }
        let remove = Set(ids)
        var newLedger = ledger
        var kept: [JSONValue] = []
        for t in tests {
            if let i = id(of: t), remove.contains(i) {
                newLedger.append(PrunedTest(id: i, reason: reason, cycle: cycle, test: t))
            } else {
                kept.append(t)
            }
        }
        return (kept, newLedger)
    }

    /// A ledger as a standalone YAML list (entries in the order they were pruned).
    public static func renderLedger(_ ledger: [PrunedTest]) -> String {
        ledger.isEmpty ? "[]\n" : EvalTestsYAML.render(.array(ledger.map(\.jsonValue)))
    }

    /// Reads a standalone YAML list of prune records.
    public static func parseLedger(_ text: String) throws -> [PrunedTest] {
        let v = try EvalTestsYAML.parse(text)
        guard let items = v.arrayValue ?? (v.isNull ? [] : nil) else {
            throw EvalGenerationError(message: "pruned list: expected a YAML list")
        }
        return try items.enumerated().map { i, item in
            guard let entry = PrunedTest(entry: item) else {
                throw EvalGenerationError(message: "pruned list: entry \(i + 1) needs id and reason")
            }
            return entry
        }
    }

    /// The prune records of a suite's `metadata` (`metadata.flywheel.removed`); entries without `cycle` get 0.
    public static func ledger(fromSuiteMetadata metadata: JSONValue?) -> [PrunedTest] {
        (metadata?["flywheel"]?["removed"]?.arrayValue ?? []).compactMap(PrunedTest.init(entry:))
    }

    /// The suite's `metadata` with `entries` appended to `metadata.flywheel.removed` (other keys kept).
    public static func suiteMetadata(_ metadata: JSONValue?, adding entries: [PrunedTest]) -> JSONValue {
        var md = metadata?.objectValue ?? [:]
        var fw = md["flywheel"]?.objectValue ?? [:]
        fw["removed"] = .array((fw["removed"]?.arrayValue ?? []) + entries.map(\.jsonValue))
        md["flywheel"] = .object(fw)
        return .object(md)
    }

    /// The cycle's `evals.yaml`: the added tests as a YAML list.
    public static func renderCycleEvals(_ added: [JSONValue]) -> String {
        added.isEmpty ? "[]\n" : EvalTestsYAML.render(.array(added))
    }

    /// The case ids (`metadata.id`) a cycle's `evals.yaml` lists, in file order, read leniently (the site's mode): a
    /// test without an id is passed over, and a file that does not load (or passes the YAML limits, so an alias bomb
    /// never expands) lists none.
    public static func caseIDs(inCycleEvals text: String, file: String) -> [String] {
        guard (try? YAMLLimits.check(text, file: file)) != nil, let list = (try? Yams.load(yaml: text)) as? [Any] else { return [] }
        return list.compactMap { item in
            guard let test = item as? [String: Any], let meta = test["metadata"] as? [String: Any], let id = meta["id"].map({ "\($0)" }),
                !id.isEmpty
            else { return nil }
            return id
        }
    }
}
