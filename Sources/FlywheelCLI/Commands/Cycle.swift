import ArgumentParser
import Flywheel
import Foundation

/// `flywheel cycle start|close`.
struct CycleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cycle", abstract: "Start or close a cycle.", subcommands: [Start.self, Close.self])

    struct Start: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a cycle: snapshot the harness into harness/ and open cycles/NNNN/.")

        @OptionGroup var repoOptions: RepoOptions
        @OptionGroup var output: JSONOption
        @Option(name: .long, parsing: .upToNextOption, help: "Harness files or folders to snapshot (default: harness paths of loop.yaml).")
        var harness: [String] = []
        @Option(name: .long, help: "A one-line summary of what changed in the harness.")
        var summary: String?

        func run() throws {
            let ctx = try loopContext(repoOptions, quiet: true)
            let workspace = ctx.workspace
            let cycle = try CycleStart.start(ctx, harnessPaths: harness, summary: summary)
            if output.json { try Terminal.printJSON(cycle) } else {
                print("Started cycle \(cycle.number) (harness tree \(cycle.harnessTree.map { String($0.prefix(7)) } ?? "none")) in \(workspace.history.repository.path)")
            }
        }
    }

    struct Close: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Close the open cycle and tag it cycle-NNNN.")

        @OptionGroup var repoOptions: RepoOptions
        @OptionGroup var output: JSONOption

        func run() throws {
            let workspace = try repoOptions.workspace()
            let cycle = try workspace.history.closeCycle()
            if output.json { try Terminal.printJSON(cycle) } else {
                print("Closed cycle \(cycle.number), tagged \(Layout.cycleTag(cycle.number))")
            }
        }
    }
}

