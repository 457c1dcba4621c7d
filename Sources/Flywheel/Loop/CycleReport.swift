import FlywheelSupport
import Foundation

/// A short report of one cycle against another, for a pull-request comment or a CI job summary (`flywheel report`):
/// the gate and the pass-rate delta, the cases that flipped each way (only cases run in both cycles), failure modes
/// that appeared or were resolved, the top recommendation, and links into the published site.
public struct CycleReport: Sendable, Codable {
    public struct Flip: Sendable, Codable, Hashable {
        public var evalID: String
        public var from: String
        public var to: String
        enum CodingKeys: String, CodingKey { case evalID = "eval_id", from, to }
    }

    public struct Mode: Sendable, Codable, Hashable {
        public var id: String
        public var title: String
        public var traces: Int
    }

    public var cycle: Int
    public var against: Int?
    public var gatePassed: Bool?
    public var passRate: Double?
    public var previousPassRate: Double?
    /// Cases graded in both cycles (the denominator of the comparison).
    public var comparedCases: Int
    public var fixed: [Flip]
    public var broke: [Flip]
    public var newFailureModes: [Mode]
    public var resolvedFailureModes: [Mode]
    public var topRecommendation: Recommended?

    public struct Recommended: Sendable, Codable, Hashable {
        public var id: String
        public var title: String
    }
    /// Why the two pass rates are not directly comparable, when they are not (task set changed, cases not run).
    public var denominatorNotes: [String]
    public var links: [String: String]

    enum CodingKeys: String, CodingKey {
        case cycle, against, gatePassed = "gate_passed", passRate = "pass_rate", previousPassRate = "previous_pass_rate"
        case comparedCases = "compared_cases", fixed, broke, newFailureModes = "new_failure_modes"
        case resolvedFailureModes = "resolved_failure_modes", topRecommendation = "top_recommendation"
        case denominatorNotes = "denominator_notes", links
    }

    /// Builds the report of `cycle` (default: the latest) against `against` (default: the cycle before it).
    /// - Parameter baseURL: the published site's root (links are relative to it; site-relative without it).
    public static func make(history: LoopHistory, cycle: Int? = nil, against: Int? = nil, baseURL: String? = nil) throws -> CycleReport {
        let cycles = try history.cycles()
        guard let number = cycle ?? cycles.last?.number else { throw StageError("report", "the history has no cycle yet") }
        guard cycles.contains(where: { $0.number == number }) else { throw StageError("report", "no cycle \(number) in the history") }
        let base = against ?? cycles.last(where: { $0.number < number })?.number
        if let base, !cycles.contains(where: { $0.number == base }) { throw StageError("report", "no cycle \(base) in the history") }
        let now = try CycleData.read(history, cycle: number, parts: [])
        let before = try base.map { try CycleData.read(history, cycle: $0, parts: []) }

        let rowsNow = Dictionary(try now.resultRows().map { ($0.evalID, $0.status) }, uniquingKeysWith: { a, _ in a })
        let rowsBefore = Dictionary(try before?.resultRows().map { ($0.evalID, $0.status) } ?? [], uniquingKeysWith: { a, _ in a })
        var fixed: [Flip] = [], broke: [Flip] = []
        let shared = Set(rowsNow.keys).intersection(rowsBefore.keys)
        for id in shared.sorted(by: byteOrder) {
            let a = rowsBefore[id]!, b = rowsNow[id]!
            let wasFailing = a == .fail || a == .error, isFailing = b == .fail || b == .error
            if wasFailing && b == .pass { fixed.append(Flip(evalID: id, from: a.rawValue, to: b.rawValue)) }
            if a == .pass && isFailing { broke.append(Flip(evalID: id, from: a.rawValue, to: b.rawValue)) }
        }
        func modes(_ d: Diagnosis?) -> [String: Mode] {
            Dictionary((d?.failureModes ?? []).map { ($0.id, Mode(id: $0.id, title: $0.title, traces: $0.traceIDs.count)) }, uniquingKeysWith: { a, _ in a })
        }
        let modesNow = modes(now.diagnosis), modesBefore = modes(before?.diagnosis)
        var notes: [String] = []
        if let taskSet = now.cycle.experiment?.taskSet, taskSet.changed == true {
            notes.append("The task set changed since the previous cycle (\(taskSet.file), now \(taskSet.count) tasks): pass rates have different denominators.")
        }
        if let n = now.cycle.scores.notRun, n > 0 { notes.append("\(n) case(s) were not run in cycle \(number) (no run of their task).") }
        if let before, rowsBefore.count != rowsNow.count || shared.count != rowsNow.count {
            notes.append("Cycle \(before.cycle.number) graded \(rowsBefore.count) case(s), cycle \(number) \(rowsNow.count); \(shared.count) were graded in both and are compared.")
        }
        func link(_ path: String) -> String {
            guard let baseURL, !baseURL.isEmpty else { return path }
            return (baseURL.hasSuffix("/") ? baseURL : baseURL + "/") + path
        }
        var links = ["site": link("index.html"), "cycle": link("cycles/\(Layout.cycleName(number)).html")]
        if let base { links["diff"] = link("diffs/\(Layout.cycleName(base))-\(Layout.cycleName(number)).html") }
        let top = now.diagnosis?.recommendations.min { $0.rank < $1.rank }
        return CycleReport(
            cycle: number, against: base, gatePassed: now.cycle.scores.gatePassed, passRate: now.cycle.scores.passRate,
            previousPassRate: before?.cycle.scores.passRate, comparedCases: shared.count, fixed: fixed, broke: broke,
            newFailureModes: modesNow.keys.filter { modesBefore[$0] == nil }.sorted(by: byteOrder).map { modesNow[$0]! },
            resolvedFailureModes: before == nil ? [] : modesBefore.keys.filter { modesNow[$0] == nil }.sorted(by: byteOrder).map { modesBefore[$0]! },
            topRecommendation: top.map { Recommended(id: $0.id, title: $0.title) }, denominatorNotes: notes, links: links)
    }

    /// The report as GitHub-flavoured Markdown (headings, a table, lists; every untrusted text in code spans or escaped).
    public var markdown: String {
        func pct(_ v: Double?) -> String { v.map { String(format: "%.1f%%", $0 * 100) } ?? "–" }
        func esc(_ s: String) -> String {
            var out = ""
            for c in s {
                switch c {
                case "<": out += "&lt;"
                case ">": out += "&gt;"
                case "&": out += "&amp;"
                case "|", "*", "_", "`", "[", "]", "\\": out += "\\" + String(c)
                case "\n": out += " "
                default: out.append(c)
                }
            }
            return out
        }
        var md = "## Flywheel — cycle \(cycle)" + (against.map { " vs cycle \($0)" } ?? "") + "\n\n"
        let gate = gatePassed.map { $0 ? "✅ passed" : "❌ failed" } ?? "not run"
        var delta = "–"
        if let a = previousPassRate, let b = passRate { delta = String(format: "%+.1f pts", (b - a) * 100) }
        md += "| Gate | Pass rate | Change | Fixed | Broke |\n|---|---:|---:|---:|---:|\n"
        md += "| \(gate) | \(pct(passRate)) | \(delta) | \(fixed.count) | \(broke.count) |\n\n"
        for note in denominatorNotes { md += "> \(esc(note))\n" }
        if !denominatorNotes.isEmpty { md += "\n" }
        func flips(_ title: String, _ list: [Flip]) {
            guard !list.isEmpty else { return }
            md += "**\(title)** (\(list.count)): " + list.prefix(20).map { "`\($0.evalID)`" }.joined(separator: ", ")
            md += list.count > 20 ? ", …\n\n" : "\n\n"
        }
        flips("Fixed", fixed)
        flips("Broke", broke)
        if !newFailureModes.isEmpty {
            md += "**New failure modes**\n" + newFailureModes.map { "- \(esc($0.title)) (`\($0.id)`, \($0.traces) trace(s))" }.joined(separator: "\n") + "\n\n"
        }
        if !resolvedFailureModes.isEmpty {
            md += "**Resolved**\n" + resolvedFailureModes.map { "- \(esc($0.title)) (`\($0.id)`)" }.joined(separator: "\n") + "\n\n"
        }
        if let top = topRecommendation { md += "**Next change:** \(esc(top.title)) (`\(top.id)`)\n\n" }
        md += "[Site](\(links["site"] ?? "")) · [Cycle \(cycle)](\(links["cycle"] ?? ""))" + (links["diff"].map { " · [Harness diff](\($0))" } ?? "") + "\n"
        return md
    }
}
