import ArgumentParser
import Flywheel
import Foundation

/// `flywheel diagnose`.
struct Diagnose: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find failure modes and rank harness changes, with trace ids as evidence (stage diagnosis).")
    @OptionGroup var repoOptions: RepoOptions
    @OptionGroup var output: JSONOption
    @Option(name: .long, help: "Diagnose this cycle (default: the open cycle).") var cycle: String?
    @Option(name: .long, help: "Diagnose a bare HALO trace file instead of a cycle (nothing committed).") var traces: String?
    @Option(name: .long, help: "With --traces: the project's rules file (default: rules.yaml of loop.yaml, when present).") var rules: String?

    func validate() throws {
        if cycle != nil && traces != nil { throw ValidationError("use --cycle or --traces, not both") }
        if rules != nil && traces == nil { throw ValidationError("--rules goes with --traces (a cycle uses the rules it ran with)") }
    }

    func run() throws {
        let diagnosis: Diagnosis
        var commit: String?
        if let traces {
            let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            let url = URL(fileURLWithPath: traces, relativeTo: cwd)
            var projectRules = ProjectRules.none
            if let rules {
                projectRules = try ProjectRules.load(URL(fileURLWithPath: rules, relativeTo: cwd), name: rules)
            } else if let ctx = try? loopContext(repoOptions, quiet: true), let working = try CycleStart.workingRules(ctx) {
                projectRules = working.rules
            }
            // The command ends after printing: its spans are left for the OS to reclaim instead of freed one by one.
            diagnosis = try Diagnoser.diagnose(traces: url, rules: projectRules, processExits: true)
        } else {
            // What the stage says (a damaged earlier record it worked around) goes to stderr: stdout is the result.
            let ctx = try loopContext(repoOptions, toStandardError: true)
            let number = try cycle.map { try parseCycle($0, history: ctx.history) }
            (diagnosis, commit) = try AnalysisStages.diagnose(ctx, cycle: number)
        }
        if output.json {
            print(String(decoding: diagnosis.encoded(), as: UTF8.self), terminator: "")
            return
        }
        print("Failure modes (most important first):")
        for fm in diagnosis.failureModes {
            print("  \(fm.id) — \(fm.title) [\(fm.kind.rawValue)] ×\(fm.count), traces: \(fm.traceIDs.prefix(3).joined(separator: ", "))\(fm.traceIDs.count > 3 ? ", …" : "")")
        }
        print("Recommendations:")
        for r in diagnosis.recommendations {
            print("  \(r.rank). \(r.title) [\(r.area.rawValue), confidence \(r.confidence.rawValue), effort \(r.effort.rawValue)] (\(r.id))")
        }
        for o in diagnosis.outcomes { print("  outcome of \(o.recommendationID): \(o.status.rawValue)") }
        if let commit { print("Committed diagnosis.json (\(commit.prefix(7)))") }
    }
}

/// `flywheel handoff`.
struct Handoff: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write handoff.md for a coding agent (stage handoff) and print it.")
    @OptionGroup var repoOptions: RepoOptions
    @Flag(name: .long, help: "Do not print the handoff.") var quiet = false

    func run() throws {
        let (markdown, _) = try AnalysisStages.handoff(try loopContext(repoOptions, quiet: true))
        if !quiet { print(markdown, terminator: markdown.hasSuffix("\n") ? "" : "\n") }
    }
}

/// `flywheel loop`: one cycle end to end.
struct Loop: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One cycle end to end: start, run, critique, evals, gate, diagnose, handoff, close — each stage its own commit.",
        discussion: "The whole cycle is recorded either way; the exit code is the gate's: 0 passed, 100 failed (1 on error).")
    @OptionGroup var repoOptions: RepoOptions
    @OptionGroup var output: JSONOption
    @Option(name: .long, help: "Human feedback files to import this cycle.") var feedback: [String] = []
    @Option(name: .long, parsing: .upToNextOption, help: "Harness paths to snapshot (default: loop.yaml's).") var harness: [String] = []
    @Option(name: .long, help: "What changed in the harness since the last cycle.") var summary: String?
    @Option(name: .long, help: "Run the first N questions.") var tasks: Int?
    @Option(name: .long, help: "The agent's model.") var model: String?
    @Option(name: .long, help: "The seed.") var seed: UInt64?
    @Option(name: .long, help: "An external agent command per task.") var agentCmd: String?
    @OptionGroup var scripts: ScriptOptions
    @OptionGroup var runFlags: RunFlags
    @Flag(name: .long, help: "Continue the open cycle from the first stage not yet committed (a stopped run runs its missing tasks).")
    var resume = false

    func validate() throws {
        if let tasks, tasks < 1 { throw ValidationError("--tasks must be at least 1") }
        if resume && (!harness.isEmpty || summary != nil) { throw ValidationError("--resume continues the open cycle: --harness and --summary belong to its start") }
        try runFlags.validate()
        try scripts.validate()
    }

    func run() throws {
        let ctx = try loopContext(repoOptions, quiet: output.json)
        let json = output.json
        let report = try LoopRunner.runCycle(ctx, options: LoopOptions(
            run: RunOptions(tasks: tasks, model: model, seed: seed, agentCommand: agentCmd, concurrency: runFlags.concurrency,
                            taskTimeout: runFlags.taskTimeout, rerun: runFlags.rerun),
            feedbackFiles: feedback.map { ctx.workspace.url($0) }, harnessPaths: harness, summary: summary, scripts: scripts.choice),
            resume: resume
        ) { p in
            if !json { Terminal.runProgress(p) }
        }
        if output.json {
            try Terminal.printJSON(report)
        } else {
            printSummary(report)
        }
        if !report.gatePassed { throw ExitCode(100) }
    }

    private func printSummary(_ report: LoopReport) {
        print(String(format: "Cycle %d closed (%@): gate %@, pass rate %.1f%%; %d eval case(s), %d failure mode(s)",
                     report.cycle, report.tag, report.gatePassed ? "passed" : "failed", report.passRate * 100, report.suiteSize, report.failureModes))
        if let top = report.topRecommendation { print("Next change (see handoff.md): \(top)") }
    }
}
