import ArgumentParser
import Foundation

/// `flywheel`: the agent-harness improvement loop, kept in git.
public struct FlywheelCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "flywheel",
        abstract: "Improve an agent's harness from evidence: traces, feedback, evals, gate, diagnosis, handoff — kept in git.",
        discussion: """
            Exit codes: 0 ok, 1 error, 2 usage, 100 the gate failed (pass rate below the threshold).
            Every command takes --repo DIR (default: the repository named by loop.yaml in the current folder,
            else loop-history/).
            """,
        subcommands: [
            Init.self, CycleCommand.self, Run.self, FeedbackCommand.self, EvalsCommand.self, Diagnose.self, Handoff.self,
            Loop.self, Log.self, Show.self, Diff.self, Push.self, Pull.self, SiteCommand.self, DemoCommand.self,
            TracesCommand.self, RulesCommand.self, MCPCommand.self, ReportCommand.self, GC.self,
        ]
    )

    public init() {}

    /// Parses the arguments, runs the command and exits with Flywheel's codes (0 ok, 1 error, 2 usage, 100 gate).
    public static func runMain(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) async -> Never {
        do {
            var command = try parseAsRoot(arguments)
            if var async = command as? AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
            Foundation.exit(0)
        } catch {
            Foundation.exit(report(error))
        }
    }

    /// Prints `error` the way the user should read it and returns the exit code.
    static func report(_ error: any Error) -> Int32 {
        let code = exitCode(for: error)
        let message = fullMessage(for: error)
        if code == .success {
            if !message.isEmpty { print(message) }
            return 0
        }
        if error is ExitCode {
            return code.rawValue
        }
        if !message.isEmpty {
            Terminal.standardError.write(message.hasPrefix("Error:") || message.hasPrefix("Usage:") ? message + "\n" : "Error: \(message)\n")
        }
        // ArgumentParser reports usage problems with EX_USAGE (64); Flywheel's contract is 2.
        if code == .validationFailure { return 2 }
        return 1
    }
}
