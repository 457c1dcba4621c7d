import ArgumentParser
import Flywheel
import Foundation

/// `flywheel rules check`: validates the project's rules file (what the next cycle will snapshot).
struct RulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules", abstract: "The project's rules file (artifacts, critic rules, topics).", subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate the rules file (loop.yaml `rules`, default rules.yaml): every problem with its file, line and field.")

        @OptionGroup var repoOptions: RepoOptions
        @OptionGroup var output: JSONOption
        @Argument(help: "A rules file to check (default: the project's).") var file: String?

        func run() throws {
            let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            let name: String
            let rules: ProjectRules
            if let file {
                name = file
                rules = try ProjectRules.load(URL(fileURLWithPath: file, relativeTo: cwd), name: file)
            } else {
                let ctx = try loopContext(repoOptions, quiet: true)
                guard let found = try CycleStart.workingRules(ctx) else {
                    throw ValidationError("no rules file: this project has none (\(ctx.config.rules ?? ProjectRules.defaultFile)); the generic analyses apply")
                }
                (name, rules) = found
            }
            let summary: [String: Int] = [
                "artifacts": rules.artifacts.count, "citations": rules.sources?.citations.count ?? 0, "critic": rules.critic.count,
                "expected_declines": rules.expectedDeclines.count, "topics": rules.topics.count,
            ]
            if output.json {
                try Terminal.printJSON(["file": name, "valid": "true"].merging(summary.mapValues(String.init)) { a, _ in a })
            } else {
                print("\(name): valid — \(rules.artifacts.count) artifact(s), \(rules.critic.count) critic rule(s), \(rules.topics.count) topic(s), \(rules.expectedDeclines.count) expected decline(s)")
            }
        }
    }
}
