import FlywheelSupport
import Foundation
import GitStore

/// The harness change between two cycles: the files touched and the lines each gained (from the history's
/// `diff(from:to:path:)`; map GitStore's `TreeDiff` files into this).
public struct HarnessDiff: Sendable, Hashable {
    public struct File: Sendable, Hashable {
        public var path: String
        public var addedLines: [String]
        public var removedLines: [String]
        /// The file's text in the new cycle, when known (needed to see which tool an `enabled: true` line enables).
        public var newText: String?
        public init(path: String, addedLines: [String] = [], removedLines: [String] = [], newText: String? = nil) {
            self.path = path
            self.addedLines = addedLines
            self.removedLines = removedLines
            self.newText = newText
        }
    }

    public var files: [File]
    public init(files: [File] = []) { self.files = files }

    /// From the history's diff of two harness trees (`LoopHistory.diff(from:to:path:)`).
    /// - Parameter newTexts: path → the file's text in the newer tree, when the caller has it (lets a tools.yaml
    ///   `enabled: true` line be attributed to its tool).
    public init(_ diff: TreeDiff, newTexts: [String: String] = [:]) {
        files = diff.files.map { f in
            let lines = f.hunks.flatMap(\.lines)
            return File(
                path: f.path, addedLines: lines.filter { $0.kind == .added }.map(\.content),
                removedLines: lines.filter { $0.kind == .removed }.map(\.content), newText: newTexts[f.path])
        }
    }

    /// The files touching `path` (an exact path, or a folder prefix ending in `/`).
    func touching(_ path: String) -> [File] {
        files.filter { path.hasSuffix("/") ? $0.path.hasPrefix(path) : $0.path == path }
    }
}

/// Classifies the previous cycle's recommendations once the next cycle has run.
///
/// - implemented: only when the harness diff between the two cycles makes the recommendation's change. With a patch:
///   the diff touches the patch's file and `append` text appears in its added lines (or the file's new text),
///   `replace` removed its text and added its `with` text, and every `enable_tools` tool is enabled in the new
///   text (or, without it, named in an added line). Without a patch: its `target_file` changed in a line that names
///   its subject (a word of its title other than the generic verbs). A recommendation
///   whose change lies outside the harness files (no target file) cannot be observed and stays pending.
/// - pending: not implemented.
/// - regressed: implemented, and evals that passed in the previous cycle fail now.
/// - verified: implemented, no regression, and every predicted failing eval now passes (with no predicted evals:
///   none of its failure modes is in the new cycle's diagnosis).
/// - ineffective: implemented, but predicted evals still fail (or its failure modes are still present).
///
/// One change per cycle is the loop's rule: when the diff implements several recommendations, or changes lines no
/// implemented recommendation asked for, every implemented outcome is marked `attribution_unsure` and its note says
/// why.
public enum OutcomeTracker {
    public static func classify(
        previous: Diagnosis, diff: HarnessDiff, previousResults: [ResultRowFacts], currentResults: [ResultRowFacts],
        currentFailureModeIDs: Set<String>? = nil
    ) -> [Outcome] {
        let before = Dictionary(previousResults.map { ($0.evalID, $0.passed) }, uniquingKeysWith: { a, b in a && b })
        let now = Dictionary(currentResults.map { ($0.evalID, $0.passed) }, uniquingKeysWith: { a, b in a && b })
        let regressedAll = before.filter { $0.value && now[$0.key] == false }.map(\.key).sorted(by: byteOrder)
        let ordered = previous.recommendations.sorted { $0.rank < $1.rank }
        let implementedIDs = ordered.filter { isImplemented($0, diff: diff) }.map(\.id)
        let unexplained = unexplainedChanges(diff, by: ordered.filter { implementedIDs.contains($0.id) })
        return ordered.map { rec in
            let implemented = implementedIDs.contains(rec.id)
            guard implemented else {
                let why = rec.patch == nil && rec.targetFile == nil
                    ? "Not observable in the harness diff (the change is outside the harness files); pending."
                    : "Not implemented in the harness diff."
                return Outcome(recommendationID: rec.id, fromCycle: previous.cycle, implemented: false, status: .pending,
                               stillFailing: rec.predictedImpact.evalIDs.filter { now[$0] != true }, note: why)
            }
            var outcome = judge(rec, fromCycle: previous.cycle, before: before, now: now, regressedAll: regressedAll, currentFailureModeIDs: currentFailureModeIDs)
            let others = implementedIDs.filter { $0 != rec.id }
            if !others.isEmpty || !unexplained.isEmpty {
                outcome.attributionUnsure = true
                var why: [String] = []
                if !others.isEmpty { why.append("the same harness diff also implemented \(others.joined(separator: ", "))") }
                if !unexplained.isEmpty { why.append("it also changed what no recommendation asked (\(unexplained.joined(separator: ", ")))") }
                outcome.note += " Attribution unsure: " + why.joined(separator: "; ") + " (one change per cycle is the loop's rule)."
            }
            return outcome
        }
    }

    static func judge(
        _ rec: Recommendation, fromCycle: Int, before: [String: Bool], now: [String: Bool], regressedAll: [String], currentFailureModeIDs: Set<String>?
    ) -> Outcome {
        let predicted = rec.predictedImpact.evalIDs
        let flipped = predicted.filter { before[$0] != true && now[$0] == true }
        let still = predicted.filter { now[$0] != true }
        let missing = predicted.filter { now[$0] == nil }
        if !regressedAll.isEmpty {
            return Outcome(recommendationID: rec.id, fromCycle: fromCycle, implemented: true, status: .regressed,
                           flippedToPass: flipped, stillFailing: still, regressed: regressedAll,
                           note: "Implemented; \(regressedAll.count) previously passing eval(s) now fail.")
        }
        if predicted.isEmpty {
            let remaining = rec.failureModeIDs.filter { currentFailureModeIDs?.contains($0) ?? true }
            if currentFailureModeIDs != nil && remaining.isEmpty {
                return Outcome(recommendationID: rec.id, fromCycle: fromCycle, implemented: true, status: .verified,
                               note: "Implemented; its failure modes no longer appear (\(rec.failureModeIDs.joined(separator: ", "))).")
            }
            return Outcome(recommendationID: rec.id, fromCycle: fromCycle, implemented: true, status: .ineffective,
                           note: currentFailureModeIDs == nil ? "Implemented; no predicted evals and no new diagnosis to verify against."
                               : "Implemented; failure modes still present: \(remaining.joined(separator: ", ")).")
        }
        if still.isEmpty {
            return Outcome(recommendationID: rec.id, fromCycle: fromCycle, implemented: true, status: .verified,
                           flippedToPass: flipped, note: "Implemented; all \(predicted.count) predicted eval(s) pass.")
        }
        return Outcome(recommendationID: rec.id, fromCycle: fromCycle, implemented: true, status: .ineffective,
                       flippedToPass: flipped, stillFailing: still,
                       note: "Implemented; \(still.count) of \(predicted.count) predicted eval(s) still fail" + (missing.isEmpty ? "." : " (\(missing.count) not run)."))
    }

    /// Whether the diff implements the recommendation (see the type's notes).
    public static func isImplemented(_ rec: Recommendation, diff: HarnessDiff) -> Bool {
        guard let patch = rec.patch else {
            guard let target = rec.targetFile else { return false }
            return diff.touching(target).contains { f in (f.addedLines + f.removedLines).contains { mentions($0, rec) } }
        }
        let files = diff.touching(patch.file)
        guard !files.isEmpty else { return false }
        let added = files.flatMap(\.addedLines).joined(separator: "\n")
        let removed = files.flatMap(\.removedLines).joined(separator: "\n")
        let newText = files.compactMap(\.newText).first
        var checked = false
        if let text = patch.append, !text.isEmpty {
            checked = true
            guard covers(added, text) else { return false }
        }
        if let find = patch.replace, !find.isEmpty {
            checked = true
            let with = patch.with ?? ""
            if let newText {
                guard normalizedForQuote(newText).contains(normalizedForQuote(with)), with.contains(find) || !newText.contains(find) else { return false }
            }
            guard covers(removed, find), with.isEmpty || covers(added, with) else { return false }
        }
        for tool in patch.enableTools ?? [] {
            checked = true
            if let newText {
                if HarnessFiles(files: [patch.file: newText]).tools[tool] != true { return false }
            } else if !normalizedForQuote(added).contains(tool.lowercased()) {
                return false
            }
        }
        return checked || files.contains { !$0.addedLines.isEmpty || !$0.removedLines.isEmpty }
    }

    /// Whether `lines` carry `text`: it appears in them (normalised), or at least 80 % of its words do.
    static func covers(_ lines: String, _ text: String) -> Bool {
        let hay = normalizedForQuote(lines)
        let needle = normalizedForQuote(text.hasPrefix("- ") ? String(text.dropFirst(2)) : text)
        if !needle.isEmpty && hay.contains(needle) { return true }
        let words = words(of: text)
        guard !words.isEmpty else { return !hay.isEmpty }
        let have = Set(Self.words(of: lines))
        return Double(words.filter { have.contains($0) }.count) / Double(words.count) >= 0.8
    }

    /// The diff's changed lines that none of the implemented recommendations accounts for, as `file (N lines)`.
    static func unexplainedChanges(_ diff: HarnessDiff, by recs: [Recommendation]) -> [String] {
        var out: [String] = []
        for f in diff.files {
            // A tools patch owns its file's changes; a patch-less recommendation owns the lines of its target file
            // that mention its subject.
            if recs.contains(where: { $0.patch?.file == f.path && !($0.patch?.enableTools ?? []).isEmpty }) { continue }
            let owners = recs.filter { $0.patch == nil && $0.targetFile == f.path }
            let texts = recs.compactMap(\.patch).filter { $0.file == f.path }.flatMap { [$0.append, $0.replace, $0.with].compactMap { $0 } }
            let allowed = Set(texts.flatMap { words(of: $0) })
            let stray = (f.addedLines + f.removedLines).filter { line in
                let w = words(of: line)
                guard !w.isEmpty else { return false }
                if owners.contains(where: { mentions(line, $0) }) { return false }
                return Double(w.filter { allowed.contains($0) }.count) / Double(w.count) < 0.8
            }
            if !stray.isEmpty { out.append("\(f.path) (\(stray.count) line\(stray.count == 1 ? "" : "s"))") }
        }
        return out
    }

    /// Words of a recommendation's title that name its subject (not the generic verbs of every recommendation).
    static let genericWords: Set<String> = [
        "address", "the", "and", "feedback", "eval", "evals", "cases", "case", "fix", "add", "rule", "rules", "make", "stop", "find", "what", "for",
        "with", "from", "into", "every", "before", "after", "when", "its", "errors", "error", "review", "keep", "within", "always", "end",
    ]

    static func subjectWords(_ rec: Recommendation) -> Set<String> { Set(words(of: rec.title)).subtracting(genericWords) }

    /// Whether a changed line mentions the recommendation's subject (any subject word; with none, any line does).
    static func mentions(_ line: String, _ rec: Recommendation) -> Bool {
        let subject = subjectWords(rec)
        guard !subject.isEmpty else { return !words(of: line).isEmpty }
        return words(of: line).contains { subject.contains($0) }
    }

    static func words(of text: String) -> [String] {
        normalizedForQuote(text).split { !$0.isLetter && !$0.isNumber }.map(String.init).filter { $0.count > 2 }
    }
}
