import ArgumentParser
import Flywheel
import FlywheelSupport
import Foundation
import FlywheelEvals

/// `flywheel evals generate|run|prune|import-results`.
struct EvalsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evals", abstract: "The Promptfoo-compatible eval suite and the gate.",
        subcommands: [Generate.self, RunGate.self, Prune.self, ImportResults.self])

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compile the open cycle's feedback into eval cases and merge them into evals/promptfooconfig.yaml (a ratchet).")
        @OptionGroup var repoOptions: RepoOptions
        @OptionGroup var output: JSONOption

        func run() throws {
            let report = try EvalStages.generate(try loopContext(repoOptions, quiet: true))
            if output.json { try Terminal.printJSON(report); return }
            print("Cycle \(report.cycle): added \(report.added.count) case(s); the suite has \(report.suiteSize)")
            for s in report.skipped { print("  kept out: \(s)") }
            for r in report.rejectedProposals { print("  rejected model proposal: \(r)") }
        }
    }

    struct RunGate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "The gate: grade the suite (Promptfoo semantics); exit 0 when the pass rate meets the threshold, 100 when not.",
            discussion: """
                Tests with providerOutput are graded on it; in a cycle the others are graded on the cycle's outputs (matched \
                by vars.trace_id / metadata.trace_id, else by question). Pass rate = passed / (passed + failed + errors), \
                skipped rows counting as errors (Promptfoo's CLI formula). Threshold: --min-pass-rate, else loop.yaml's \
                gate.min_pass_rate, else PROMPTFOO_PASS_RATE_THRESHOLD (percent), else 100 %.
                """)
        @OptionGroup var repoOptions: RepoOptions
        @Option(name: .long, help: "A suite file (default: the history's evals/promptfooconfig.yaml).") var suite: String?
        @Option(name: .long, help: "Grade this cycle's outputs (default: the open cycle, else the latest).") var cycle: String?
        @Option(name: [.short, .long], help: "Write Promptfoo's results JSON here.") var output: String?
        @Option(name: .long, help: "Write JUnit XML here.") var junit: String?
        @Option(name: .long, help: "The threshold, 0…1 (e.g. 0.8).") var minPassRate: Double?
        @Flag(name: .long, help: "Ignore the history: grade providerOutput only.") var standalone = false
        @Flag(name: .long, help: "Print the summary as JSON.") var json = false
        @OptionGroup var scripts: ScriptOptions
        @Flag(name: .long, help: "Let file:// references read files outside the working folder.") var allowOutsideFiles = false
        @Flag(name: .long, help: "Do not read or write the on-disk response cache (.cache/flywheel/evals) of openai: and http providers.") var noCache = false

        func validate() throws {
            if let p = minPassRate, !(0...1).contains(p) { throw ValidationError("--min-pass-rate must be between 0 and 1") }
            try scripts.validate()
        }

        func run() throws {
            let ctx = try loopContext(repoOptions, quiet: true)
            let number = try cycle.map { try parseCycle($0, history: ctx.history) }
            let report = try EvalStages.gate(ctx, options: .init(
                suite: suite.map { ctx.workspace.url($0) }, cycle: number, minPassRate: minPassRate,
                standalone: standalone || (suite != nil && !ctx.history.exists), scripts: scripts.choice,
                allowOutsideFiles: allowOutsideFiles ? true : nil, noCache: noCache))
            if !json { for w in report.warnings { Terminal.warn("warning: \(w)") } }
            if let output { try Data(report.resultsJSON.utf8).write(to: ctx.workspace.url(output)) }
            if let junit { try Data(report.junitXML.utf8).write(to: ctx.workspace.url(junit)) }
            if json {
                let s = report.run.summary
                try Terminal.printJSON([
                    "pass_rate": JSONValue.double(s.passRate / 100), "passed": .int(Int64(s.passed)), "failed": .int(Int64(s.failed)),
                    "errors": .int(Int64(s.errors)), "skipped": .int(Int64(s.skipped)), "total": .int(Int64(s.total)),
                    "gate_passed": .bool(report.decision.exitCode == 0), "threshold": .double(report.decision.threshold / 100),
                    "cycle": report.cycle.map { .int(Int64($0)) } ?? .null, "commit": report.commit.map { .string($0) } ?? .null,
                    "not_run": .array(report.notRun.map { .string($0) }),
                    "warnings": .array(report.warnings.map { .string($0) }),
                    "scripts_allowed": .bool(report.scriptsAllowed),
                ])
            } else {
                print(EvalSummaryTable.render(report.run))
                print(report.decision.message)
                if !report.notRun.isEmpty {
                    print("\(report.notRun.count) case(s) not run: their task has no run in this cycle (not in the pass rate).")
                }
                if let note = report.note { print("(\(note))") }
            }
            if report.decision.exitCode != 0 { throw ExitCode(report.decision.exitCode) }
        }
    }

    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an eval case from the suite on purpose; the reason is recorded (stage prune).")
        @OptionGroup var repoOptions: RepoOptions
        @Argument(help: "The case id (metadata.id).") var id: String
        @Option(name: .long, help: "Why it is removed (required, recorded in the suite and the commit).") var why: String

        func run() throws {
            let commit = try EvalStages.prune(try loopContext(repoOptions, quiet: true), id: id, reason: why)
            print("Pruned \(id)\(commit.map { " (\($0.prefix(7)))" } ?? "")")
        }
    }

    struct ImportResults: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import-results", abstract: "Import a results file written by Promptfoo itself into the open cycle (stage results).")
        @OptionGroup var repoOptions: RepoOptions
        @Argument(help: "Promptfoo's results JSON (version 3, version 2 or the legacy shape).") var file: String

        func run() throws {
            let ctx = try loopContext(repoOptions, quiet: true)
            let (rows, commit) = try EvalStages.importResults(ctx, file: ctx.workspace.url(file))
            print("Imported \(rows) row(s)\(commit.map { " (\($0.prefix(7)))" } ?? "")")
        }
    }
}

/// `--allow-scripts` / `--no-scripts`: whether the suite's code (javascript, python, exec: providers) may run.
struct ScriptOptions: ParsableArguments {
    @Flag(name: .long, help: "Run the suite's code (javascript/python assertions, transforms, script and exec: providers) even for a suite from the history.")
    var allowScripts = false
    @Flag(name: .long, help: "Never run the suite's code (rows that need it are skipped).") var noScripts = false

    func validate() throws {
        if allowScripts && noScripts { throw ValidationError("--allow-scripts and --no-scripts cannot be used together") }
    }

    /// true: allowed, false: refused, nil: the default (loop.yaml, else by where the suite came from).
    var choice: Bool? { noScripts ? false : allowScripts ? true : nil }
}
