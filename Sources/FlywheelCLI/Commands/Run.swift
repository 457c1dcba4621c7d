import ArgumentParser
import Flywheel
import FlywheelExample
import FlywheelTraces
import Foundation
import FlywheelModels

/// `flywheel run`: run the task set against the open cycle's harness.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the task set against the open cycle's harness; commit traces.jsonl and outputs/ (stage traces).",
        discussion: """
            The agent's model is models.agent of loop.yaml (or --model): openai:NAME for an OpenAI-compatible server \
            (OPENAI_BASE_URL, OPENAI_API_KEY), offline-example for the offline simulation. With --agent-cmd, an \
            external agent runs per task: the question on stdin and in FLYWHEEL_TASK; it writes HALO JSONL to \
            $FLYWHEEL_TRACE_FILE (trace id $FLYWHEEL_TRACE_ID) and artifacts to $FLYWHEEL_OUTPUT_DIR.
            """)

    @OptionGroup var repoOptions: RepoOptions
    @OptionGroup var output: JSONOption
    @Option(name: .long, help: "Run the first N questions of the task set.") var tasks: Int?
    @Option(name: .long, help: "The agent's model (overrides loop.yaml).") var model: String?
    @Option(name: .long, help: "The seed (default: derived from the cycle number).") var seed: UInt64?
    @Option(name: .long, help: "Run this external agent command per task instead of the built-in analyst.") var agentCmd: String?
    @Option(name: .long, help: "What --agent-cmd prints: halo (it writes $FLYWHEEL_TRACE_FILE; default), codex-json (codex exec --json) or claude-stream-json (claude -p --output-format stream-json --verbose).")
    var agentFormat: String?
    @Option(name: .long, help: "Record model calls into / replay them from this cassette file.") var cassette: String?
    @Option(name: .long, help: "Cassette mode: record, replay, or auto (replay what is there, record the rest).") var cassetteMode: String = "auto"
    @Flag(name: .long, help: "Do not redact secrets from traces and outputs (explicit opt-out).") var noRedact = false
    @OptionGroup var runFlags: RunFlags
    @Option(name: .long, help: "Run only the K-th of N deterministic slices of the tasks (K/N, e.g. 2/4).") var shard: String?
    @Flag(name: .long, help: "Exit 1 when a task failed (default: failed tasks are recorded and the run exits 0).") var failOnTaskError = false

    func validate() throws {
        if let tasks, tasks < 1 { throw ValidationError("--tasks must be at least 1") }
        guard ["record", "replay", "auto"].contains(cassetteMode) else { throw ValidationError("--cassette-mode must be record, replay or auto") }
        if let shard, Shard(shard) == nil { throw ValidationError("--shard must be K/N with 1 ≤ K ≤ N (e.g. 2/4), not \"\(shard)\"") }
        try runFlags.validate()
        if let agentFormat, AgentOutputFormat(rawValue: agentFormat) == nil {
            throw ValidationError("--agent-format must be halo, codex-json or claude-stream-json, not \(agentFormat)")
        }
    }

    func run() throws {
        let ctx = try loopContext(repoOptions, quiet: output.json)
        let mode: CassetteModel.Mode = cassetteMode == "record" ? .record : cassetteMode == "replay" ? .replay : .replayOrRecord
        let options = RunOptions(
            tasks: tasks, model: model, seed: seed, agentCommand: agentCmd, cassette: cassette.map { ctx.workspace.url($0) },
            cassetteMode: mode, noRedact: noRedact, concurrency: runFlags.concurrency, taskTimeout: runFlags.taskTimeout,
            rerun: runFlags.rerun, shard: shard.flatMap(Shard.init), agentFormat: agentFormat.flatMap(AgentOutputFormat.init(rawValue:)))
        let json = output.json
        let report = try RunStage.run(ctx, options: options) { p in if !json { Terminal.runProgress(p) } }
        for w in report.warnings { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
        if output.json {
            try Terminal.printJSON(report)
        } else {
            Self.printSummary(report)
        }
        if failOnTaskError && !report.failed.isEmpty { throw ExitCode(1) }
    }

    static func printSummary(_ report: RunReport) {
        let ok = report.ran - report.failed.count
        print("Cycle \(report.cycle): \(ok) of \(report.ran) task(s) succeeded, \(report.failed.count) failed"
              + (report.skipped.isEmpty ? "" : "; \(report.skipped.count) already recorded (--rerun runs them again)")
              + " — \(report.model)")
        for f in report.failed { print("  failed \(f.taskID) (trace \(f.traceID)): \(f.reason.prefix(300))") }
        print("The cycle holds \(report.cycleTraces) trace(s): \(report.spans) spans, \(report.toolErrors) tool errors, \(report.tokens) tokens"
              + (report.commit.map { " (\($0.prefix(7)))" } ?? " (nothing new committed)"))
        if !report.redactions.isEmpty {
            print("Redacted: " + report.redactions.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", "))
        }
    }
}

/// The run options `flywheel run` and `flywheel loop` share.
struct RunFlags: ParsableArguments {
    @Option(name: .long, help: "Tasks run at once (default: loop.yaml's run.concurrency, else 1).") var concurrency: Int?
    @Option(name: .long, help: "Seconds per task before an external agent's process group is killed (default: run.task_timeout, else 600).")
    var taskTimeout: Double?
    @Flag(name: .long, help: "Run every selected task again, replacing the runs the cycle holds (default: only missing ones).") var rerun = false

    func validate() throws {
        if let concurrency, concurrency < 1 { throw ValidationError("--concurrency must be at least 1") }
        if let taskTimeout, !(taskTimeout > 0) { throw ValidationError("--task-timeout must be a positive number of seconds") }
    }
}

/// The loop context of a command: workspace, environment, progress lines on stdout (on stderr with `toStandardError`,
/// for a command whose stdout is its result), and the embedded example's agent and offline model as plugins (used
/// only when loop.yaml names them).
func loopContext(_ repoOptions: RepoOptions, quiet: Bool = false, toStandardError: Bool = false) throws -> LoopContext {
    LoopContext(
        workspace: try repoOptions.workspace(),
        progress: { line in
            if toStandardError { FileHandle.standardError.write(Data((line + "\n").utf8)) } else if !quiet { print(line) }
        }, plugins: ExamplePlugin.plugins)
}
