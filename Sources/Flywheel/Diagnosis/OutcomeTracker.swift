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
/// - implemented: a recommendation with a patch is implemented when the diff touches the patch's file and its added
///   lines contain the patch's text (an `append` rule: at least 80 % of its words, in the added lines of that file;
///   `enable_tools`: every tool enabled in the file's new text, or, without it, named in an added line). Without a patch: when the diff touches its area's file.
/// - pending: not implemented.
/// - regressed: implemented, and evals that passed in the previous cycle fail now.
/// - verified: implemented, no regression, and every predicted failing eval now passes (with no predicted evals:
///   none of its failure modes is in the new cycle's diagnosis).
/// - ineffective: implemented, but predicted evals still fail (or its failure modes are still present).
public enum OutcomeTracker {
    public static func classify(
        previous: Diagnosis, diff: HarnessDiff, previousResults: [ResultRowFacts], currentResults: [ResultRowFacts],
        currentFailureModeIDs: Set<String>? = nil
    ) -> [Outcome] {
        let before = Dictionary(previousResults.map { ($0.evalID, $0.passed) }, uniquingKeysWith: { a, b in a && b })
        let now = Dictionary(currentResults.map { ($0.evalID, $0.passed) }, uniquingKeysWith: { a, b in a && b })
        let regressedAll = before.filter { $0.value && now[$0.key] == false }.map(\.key).sorted(by: byteOrder)
        return previous.recommendations.sorted { $0.rank < $1.rank }.map { rec in
            let implemented = isImplemented(rec, diff: diff)
            guard implemented else {
                return Outcome(recommendationID: rec.id, fromCycle: previous.cycle, implemented: false, status: .pending,
                               stillFailing: rec.predictedImpact.evalIDs.filter { now[$0] != true }, note: "Not implemented in the harness diff.")
            }
            let predicted = rec.predictedImpact.evalIDs
            let flipped = predicted.filter { before[$0] != true && now[$0] == true }
            let still = predicted.filter { now[$0] != true }
            let missing = predicted.filter { now[$0] == nil }
            if !regressedAll.isEmpty {
                return Outcome(recommendationID: rec.id, fromCycle: previous.cycle, implemented: true, status: .regressed,
                               flippedToPass: flipped, stillFailing: still, regressed: regressedAll,
                               note: "Implemented; \(regressedAll.count) previously passing eval(s) now fail.")
            }
            if predicted.isEmpty {
                let remaining = rec.failureModeIDs.filter { currentFailureModeIDs?.contains($0) ?? true }
                if currentFailureModeIDs != nil && remaining.isEmpty {
                    return Outcome(recommendationID: rec.id, fromCycle: previous.cycle, implemented: true, status: .verified,
                                   note: "Implemented; its failure modes no longer appear (\(rec.failureModeIDs.joined(separator: ", "))).")
                }
                return Outcome(recommendationID: rec.id, fromCycle: previous.cycle, implemented: true, status: .ineffective,
                               note: currentFailureModeIDs == nil ? "Implemented; no predicted evals and no new diagnosis to verify against."
                                   : "Implemented; failure modes still present: \(remaining.joined(separator: ", ")).")
            }
            if still.isEmpty {
                return Outcome(recommendationID: rec.id, fromCycle: previous.cycle, implemented: true, status: .verified,
                               flippedToPass: flipped, note: "Implemented; all \(predicted.count) predicted eval(s) pass.")
            }
            return Outcome(recommendationID: rec.id, fromCycle: previous.cycle, implemented: true, status: .ineffective,
                           flippedToPass: flipped, stillFailing: still,
                           note: "Implemented; \(still.count) of \(predicted.count) predicted eval(s) still fail" + (missing.isEmpty ? "." : " (\(missing.count) not run)."))
        }
    }

    /// Whether the diff implements the recommendation (see the type's notes).
    public static func isImplemented(_ rec: Recommendation, diff: HarnessDiff) -> Bool {
        if let patch = rec.patch {
            let files = diff.touching(patch.file)
            guard !files.isEmpty else { return false }
            let added = normalizedForQuote(files.flatMap(\.addedLines).joined(separator: "\n"))
            if let text = patch.append, !text.isEmpty {
                let words = words(of: text)
                guard !words.isEmpty else { return true }
                let addedWords = Set(Self.words(of: added))
                let hit = words.filter { addedWords.contains($0) }.count
                if Double(hit) / Double(words.count) < 0.8 { return false }
            }
            for tool in patch.enableTools ?? [] {
                if let text = files.compactMap(\.newText).first {
                    if HarnessFiles(files: [patch.file: text]).tools[tool] != true { return false }
                } else if !added.contains(tool.lowercased()) {
                    return false
                }
            }
            return true
        }
        return !diff.touching(rec.area.file).isEmpty
    }

    static func words(of text: String) -> [String] {
        normalizedForQuote(text).split { !$0.isLetter && !$0.isNumber }.map(String.init).filter { $0.count > 2 }
    }
}
