import ArgumentParser
import Flywheel
import Foundation

/// `flywheel push REMOTE`: publish the history ref and its cycle tags, re-applying this clone's stage commits when the
/// remote moved meanwhile (another runner's shard), and retrying a lost race.
struct Push: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Push the history and its cycle-NNNN tags to a remote; when the remote moved, re-apply this clone's stages onto it.",
        discussion: """
            REMOTE is a path, a file:// URL, or any transport libgit2 has (https, ssh). Credentials: FLYWHEEL_GIT_TOKEN \
            (https; user FLYWHEEL_GIT_USERNAME, default x-access-token), FLYWHEEL_GIT_USERNAME + FLYWHEEL_GIT_PASSWORD, \
            git's credential.helper, and for ssh FLYWHEEL_GIT_SSH_KEY or the ssh-agent.
            """)
    @OptionGroup var repoOptions: RepoOptions
    @OptionGroup var output: JSONOption
    @Argument(help: "The remote repository.") var remote: String

    func run() throws {
        let history = try repoOptions.workspace().history
        let report = try HistorySync.push(history, remote: remote)
        if output.json { try Terminal.printJSON(report); return }
        if report.upToDate {
            print("\(remote) is up to date (\(history.ref) at \(report.tip.map { String($0.prefix(7)) } ?? "?"))")
            return
        }
        print("Pushed \(history.ref) (\(report.tip.map { String($0.prefix(7)) } ?? "?")) and \(report.tags.count) tag(s) to \(remote)"
              + (report.reapplied + report.dropped > 0 ? "; re-applied \(report.reapplied) stage commit(s) onto the remote's tip" : "")
              + (report.dropped > 0 ? ", \(report.dropped) already there" : "")
              + (report.attempts > 1 ? " (\(report.attempts) attempts)" : ""))
    }
}

/// `flywheel pull REMOTE`: bring the remote's history into this clone.
struct Pull: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fetch the remote's history into this clone (creating it when absent); this clone's own stages are re-applied onto it.")
    @OptionGroup var repoOptions: RepoOptions
    @OptionGroup var output: JSONOption
    @Argument(help: "The remote repository (a path, file://, https or ssh URL).") var remote: String

    func run() throws {
        let history = try repoOptions.workspace().history
        let report = try HistorySync.pull(history, remote: remote)
        if output.json { try Terminal.printJSON(report); return }
        print(report.upToDate ? "Already up to date with \(remote)"
              : "Pulled \(history.ref) from \(remote) (\(report.tip.map { String($0.prefix(7)) } ?? "?"))"
                + (report.reapplied > 0 ? "; re-applied \(report.reapplied) local stage commit(s) onto it" : "")
                + (report.tags.isEmpty ? "" : "; \(report.tags.count) tag(s)"))
    }
}
