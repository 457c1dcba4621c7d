import ArgumentParser
import Flywheel
import Foundation
import GitStore

/// `flywheel diff A B [--path harness]`: libgit2's diff between two cycles or revisions.
struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Diff two cycles (or any revisions), by default their harness/.",
        discussion: "A and B are cycle numbers (3, cycle-0003) or revisions (tags, commit ids). Colour on a terminal only.")

    @OptionGroup var repoOptions: RepoOptions
    @OptionGroup var output: JSONOption
    @Argument(help: "The older cycle or revision.") var from: String
    @Argument(help: "The newer cycle or revision.") var to: String
    @Option(name: .long, help: "Limit to this folder or file (default harness; '' for the whole tree).")
    var path: String = "harness"
    @Flag(name: .long, help: "Only list files with added/removed line counts.")
    var stat = false

    struct FileJSON: Encodable {
        let path: String
        let old_path: String
        let status: String
        let additions: Int
        let deletions: Int
        let binary: Bool
        let patch: String
    }

    func run() throws {
        let history = try repoOptions.workspace().history
        let diff = try history.diff(from: from, to: to, path: path.isEmpty ? nil : path)
        if output.json {
            try Terminal.printJSON(diff.files.map {
                FileJSON(path: $0.path, old_path: $0.oldPath, status: $0.status.rawValue, additions: $0.additions,
                         deletions: $0.deletions, binary: $0.isBinary, patch: $0.patch)
            })
            return
        }
        if stat {
            for f in diff.files { print("\(f.path) | +\(f.additions) -\(f.deletions)") }
            print("\(diff.files.count) files changed, \(diff.additions) insertions(+), \(diff.deletions) deletions(-)")
            return
        }
        for line in diff.patch.split(separator: "\n", omittingEmptySubsequences: false).dropLast(diff.patch.hasSuffix("\n") ? 1 : 0) {
            let s = String(line)
            if s.hasPrefix("+++") || s.hasPrefix("---") || s.hasPrefix("diff --git") || s.hasPrefix("index ") {
                print(Terminal.color(s, "1"))
            } else if s.hasPrefix("+") { print(Terminal.color(s, "32")) }
            else if s.hasPrefix("-") { print(Terminal.color(s, "31")) }
            else if s.hasPrefix("@@") { print(Terminal.color(s, "36")) }
            else { print(s) }
        }
    }
}
