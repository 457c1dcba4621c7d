import ArgumentParser
import Flywheel
import Foundation

/// `flywheel push URL`: publish the history ref and its cycle tags (libgit2's push).
struct Push: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Push the history ref and its cycle-NNNN tags to a remote (a path or file:// URL, or any transport libgit2 has).")
    @OptionGroup var repoOptions: RepoOptions
    @Argument(help: "The remote repository.") var remote: String

    func run() throws {
        let history = try repoOptions.workspace().history
        let tags = try history.withRepository { repo in try repo.tags().map(\.name).filter { $0.hasPrefix("cycle-") } }
        let specs = ["\(history.ref):\(history.ref)"] + tags.map { "refs/tags/\($0):refs/tags/\($0)" }
        try history.withRepository { repo in try repo.push(to: remote, refspecs: specs) }
        print("Pushed \(history.ref) and \(tags.count) tag(s) to \(remote)")
    }
}
