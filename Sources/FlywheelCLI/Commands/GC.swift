import ArgumentParser
import Flywheel
import Foundation

/// `flywheel gc`: pack the history's loose objects (libgit2's packbuilder), as `git gc` would.
struct GC: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Pack the history: every reachable object into one pack, loose copies removed (cycle close does it past \(LoopHistory.autoPackThreshold) loose objects).")

    @OptionGroup var repoOptions: RepoOptions
    @OptionGroup var output: JSONOption

    func run() throws {
        let history = try repoOptions.workspace().history
        guard history.exists else { throw ValidationError("no history at \(history.repository.path)") }
        let report = try history.gc()
        if output.json {
            try Terminal.printJSON([
                "objects_packed": report?.objectsPacked ?? 0, "loose_removed": report?.looseRemoved ?? 0, "loose_left": report?.looseLeft ?? 0,
            ])
            return
        }
        guard let report else { print("Nothing to pack: no loose objects."); return }
        print("Packed \(report.objectsPacked) object(s) into \(report.packName ?? "no pack"); removed \(report.looseRemoved) loose file(s), \(report.looseLeft) unreachable left.")
    }
}
