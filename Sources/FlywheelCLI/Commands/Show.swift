import ArgumentParser
import Flywheel
import Foundation

/// `flywheel show CYCLE`: a cycle's record and files.
struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a cycle: its record (cycle.json), files and stage commits.")

    @OptionGroup var repoOptions: RepoOptions
    @OptionGroup var output: JSONOption
    @Argument(help: "The cycle: a number, cycle-NNNN or latest.")
    var cycle: String

    struct Shown: Encodable {
        let cycle: Cycle
        let tag: String?
        let files: [String]
        let commits: [StageCommit]
    }

    func run() throws {
        let history = try repoOptions.workspace().history
        let number = try parseCycle(cycle, history: history)
        let record = try history.cycle(number)
        let snap = try history.snapshot(at: try history.revision(ofCycle: number))
        let files = try snap.fileIDs(under: Layout.cycleFolder(number)).keys.sorted()
        let commits = try history.log().filter { $0.cycle == number }
        let shown = Shown(cycle: record, tag: record.status == .closed ? Layout.cycleTag(number) : nil, files: files, commits: commits)
        if output.json { try Terminal.printJSON(shown); return }
        print("Cycle \(number) — \(record.status.rawValue)\(shown.tag.map { " (\($0))" } ?? "")")
        print("  started  \(record.startedAt)")
        if let closed = record.closedAt { print("  closed   \(closed)") }
        if let tree = record.harnessTree { print("  harness  \(tree)") }
        if let src = record.sourceCommit { print("  source   \(src)") }
        if let summary = record.summary { print("  summary  \(summary)") }
        let s = record.scores
        if let rate = s.passRate {
            print(String(format: "  gate     %@ — pass rate %.1f%% (%d passed, %d failed, %d errors, %d skipped)",
                         (s.gatePassed ?? false) ? "passed" : "failed", rate * 100, s.passed ?? 0, s.failed ?? 0, s.errors ?? 0, s.skipped ?? 0))
        }
        for (stage, model) in record.models.sorted(by: { $0.key < $1.key }) { print("  model    \(stage): \(model)") }
        print("  files:")
        for f in files { print("    \(f)") }
        print("  commits:")
        for c in commits { print("    \(c.id.prefix(7)) \(c.summary)") }
    }
}
