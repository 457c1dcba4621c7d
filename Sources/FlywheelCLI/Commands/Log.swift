import ArgumentParser
import Flywheel
import Foundation

/// `flywheel log`: the stage commits, newest first.
struct Log: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the history's stage commits, newest first.")

    @OptionGroup var repoOptions: RepoOptions
    @OptionGroup var output: JSONOption
    @Option(name: [.short, .long], help: "Show at most this many commits.")
    var limit: Int?

    func run() throws {
        let history = try repoOptions.workspace().history
        let commits = try history.log(limit: limit ?? .max)
        if output.json { try Terminal.printJSON(commits); return }
        for c in commits {
            let id = Terminal.color(String(c.id.prefix(7)), "33")
            let stage = c.stage.map { " [\($0)]" } ?? ""
            print("\(id) \(c.date) \(c.summary)\(Terminal.color(stage, "2"))")
        }
    }
}
