import Foundation
import GitStore

extension LoopHistory {
    /// Commits a stage into the open cycle with files computed from the tip being committed onto. When another writer
    /// moves the ref first, `compute` runs again on the new tip, so concurrent stages merge (two reviewers adding
    /// feedback at once) or refuse (two runs of one cycle) instead of overwriting each other's files.
    /// - Parameters:
    ///   - compute: given the tip's snapshot and its open cycle, the files (relative to `cycles/NNNN/`) and any
    ///     other edits of the stage. It may throw to refuse.
    ///   - updateCycle: edits `cycle.json` of the open cycle, applied to the tip's version.
    /// - Returns: the cycle number and the commit (nil when nothing changed).
    @discardableResult
    func commitMerging(
        _ stage: Stage, body: String? = nil, updateCycle: ((inout Cycle) -> Void)? = nil,
        compute: (HistorySnapshot, Cycle) throws -> (files: [String: Data], extra: TreeChanges)
    ) throws -> (cycle: Int, commit: ObjectID?) {
        let number = try openCycle().number
        let commit = try commitStage(stage, cycle: number, title: nil, body: body) { snap in
            guard let open = try snap.cycles().last, open.status == .open, open.number == number else {
                throw HistoryError.noOpenCycle
            }
            let (files, extra) = try compute(snap, open)
            var changes = extra
            for (name, data) in files { changes.write(Layout.cycleFile(open.number, name), data) }
            if let updateCycle {
                var c = open
                updateCycle(&c)
                changes.write(Layout.cycleFile(open.number, Layout.CycleFile.cycle), c.encoded())
            }
            return changes
        }
        return (number, commit)
    }
}
