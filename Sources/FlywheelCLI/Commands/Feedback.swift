import ArgumentParser
import Flywheel
import Foundation

/// `flywheel feedback add|import|critique`.
struct FeedbackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "feedback", abstract: "Attach feedback to the open cycle's traces (stage feedback).",
        subcommands: [Add.self, Import.self, Critique.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add one human feedback record for a trace.")
        @OptionGroup var repoOptions: RepoOptions
        @OptionGroup var output: JSONOption
        @Option(name: .long, help: "The trace the note is about.") var trace: String
        @Option(name: .long, help: "A short category, e.g. concentration-by-entity.") var category: String
        @Option(name: .long, help: "low, medium, high or critical.") var severity: String
        @Option(name: .long, help: "What the reviewer observed.") var observation: String
        @Option(name: .long, help: "Evidence (file, quote, figure).") var evidence: String = ""
        @Option(name: .long, help: "Who (default: $USER).") var author: String?
        @Option(name: .long, help: "A phrase a correct answer must contain (repeatable).") var require: [String] = []
        @Option(name: .long, help: "A claim a correct answer must not make (repeatable).") var prohibit: [String] = []

        func validate() throws {
            guard FeedbackRecord.Severity(rawValue: severity) != nil else {
                throw ValidationError("--severity must be one of low, medium, high, critical")
            }
            if observation.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--observation must not be empty") }
        }

        func run() throws {
            let ctx = try loopContext(repoOptions, quiet: true)
            let record = FeedbackRecord(
                traceID: trace, source: .human, author: author ?? ProcessInfo.processInfo.environment["USER"] ?? "reviewer",
                category: category, severity: FeedbackRecord.Severity(rawValue: severity)!, observation: observation, evidence: evidence,
                requiredObservations: require, prohibitedClaims: prohibit, createdAt: ctx.timestamp)
            let report = try FeedbackStage.commit(ctx, records: [record], note: "Human feedback on trace \(trace).")
            if output.json { try Terminal.printJSON(report) } else {
                print("Added \(record.feedbackID) to cycle \(report.cycle) (\(report.total) record(s) in feedback.jsonl)")
            }
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Import feedback records (JSONL or a JSON array), validated against the cycle's traces.")
        @OptionGroup var repoOptions: RepoOptions
        @OptionGroup var output: JSONOption
        @Argument(help: "Feedback files.") var files: [String]

        func run() throws {
            let ctx = try loopContext(repoOptions, quiet: true)
            let history = try FeedbackHistory.read(ctx)
            let records = try FeedbackStage.load(ctx, files: files.map { ctx.workspace.url($0) }, history: history)
            let report = try FeedbackStage.commit(ctx, records: records, note: "Imported feedback from \(files.joined(separator: ", ")).", history: history)
            if output.json { try Terminal.printJSON(report) } else {
                print("Imported \(records.count) record(s) into cycle \(report.cycle) (\(report.total) in feedback.jsonl)")
            }
        }
    }

    struct Critique: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the rule critic (always) and the model critic (when models.critic is set) over the cycle's runs.")
        @OptionGroup var repoOptions: RepoOptions
        @OptionGroup var output: JSONOption
        @Option(name: .long, help: "Human feedback files to import in the same commit.") var feedback: [String] = []

        func run() throws {
            let ctx = try loopContext(repoOptions, quiet: true)
            let report = try FeedbackStage.critique(ctx, humanFiles: feedback.map { ctx.workspace.url($0) })
            if output.json { try Terminal.printJSON(report); return }
            let added = report.added.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
            print("Cycle \(report.cycle): added \(added.isEmpty ? "nothing" : added); \(report.total) record(s) in feedback.jsonl")
            for r in report.rejected { print("  rejected model finding: \(r)") }
        }
    }
}
