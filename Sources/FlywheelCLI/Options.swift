import ArgumentParser
import Flywheel
import Foundation

/// `--repo` and `--ref`, shared by every command.
struct RepoOptions: ParsableArguments {
    @Option(name: .long, help: "The artifact repository (default: from loop.yaml, else loop-history/).")
    var repo: String?

    @Option(name: .long, help: "The history ref (default: from loop.yaml, else refs/heads/main).")
    var ref: String?

    /// The workspace of the current folder with these overrides.
    func workspace() throws -> Workspace {
        try Workspace.resolve(repo: repo, ref: ref, cwd: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
    }
}

/// `--json` for commands whose output is data.
struct JSONOption: ParsableArguments {
    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false
}

/// Turns a cycle argument (`3`, `0003`, `cycle-0003`, `latest`) into a number.
func parseCycle(_ text: String, history: LoopHistory) throws -> Int {
    if text == "latest" || text == "current" {
        guard let last = try history.lastCycle() else { throw ValidationError("the history has no cycle yet") }
        return last.number
    }
    let digits = text.hasPrefix("cycle-") ? String(text.dropFirst(6)) : text
    guard let n = Int(digits), n > 0 else { throw ValidationError("not a cycle number: \(text)") }
    return n
}
