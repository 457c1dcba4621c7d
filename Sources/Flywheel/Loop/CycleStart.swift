import FlywheelSupport
import FlywheelTraces
import Foundation
import GitStore

/// Starting a cycle: the harness snapshot into `harness/`, and the experiment as run into the cycle folder
/// (`loop.yaml`, the rules file, the task set) with its hashes, the agent command (secrets redacted) and the
/// agent's source commit and dirty state in `cycle.json`. `flywheel cycle start` and `flywheel loop` both start here.
public enum CycleStart {
    /// Starts a cycle, creating the history when it does not exist yet.
    /// - Parameters:
    ///   - harnessPaths: files or folders to snapshot (default: loop.yaml's `harness`).
    ///   - agentCommand: the command the run will use when it is not loop.yaml's (`--agent-cmd`).
    /// - Throws: `ConfigError` for a rules file that does not validate (nothing is started then).
    public static func start(_ ctx: LoopContext, harnessPaths: [String] = [], summary: String? = nil, agentCommand: String? = nil) throws -> Cycle {
        let workspace = ctx.workspace
        let fm = FileManager.default
        let configData = fm.contents(atPath: workspace.url(Layout.loopConfig).path)
        if !ctx.history.exists {
            var files: [String: Data] = [:]
            if let configData { files[Layout.loopConfig] = configData }
            try ctx.history.initialize(files: files)
        }
        let paths = harnessPaths.isEmpty ? workspace.harnessPaths : harnessPaths
        let redactor = try ctx.redactor()
        var harness: [String: Data]?
        if !harnessPaths.isEmpty || paths.contains(where: { fm.fileExists(atPath: workspace.url($0).path) }) {
            // Confined to the working folder and redacted (Workspace.readHarness).
            harness = try workspace.readHarness(paths, redactor: redactor)
        }
        var cycleFiles: [String: Data] = [:]
        var experiment = Experiment()
        if let configData {
            var configReport = RedactionReport()
            let clean = Data(redactor.redact(String(decoding: configData, as: UTF8.self), report: &configReport).utf8)
            cycleFiles[Layout.CycleFile.loopConfig] = clean
            experiment.loopConfigSHA256 = SHA256.hex(clean)
        }
        if let (name, data) = try rulesFile(ctx) {
            _ = try ProjectRules.parse(String(decoding: data, as: UTF8.self), file: name)
            cycleFiles[Layout.CycleFile.rules] = redactor.redact(bytes: data).0
            experiment.rulesFile = name
            experiment.rulesSHA256 = SHA256.hex(data)
        }
        let tasksPath = ctx.config.tasks ?? TaskSet.defaultPath
        if let data = fm.contents(atPath: workspace.url(tasksPath).path) {
            let name = (tasksPath as NSString).lastPathComponent
            cycleFiles["\(Layout.CycleFile.tasks)/\(name)"] = redactor.redact(bytes: data).0
            let count = (try? TaskSet.parse(String(decoding: data, as: UTF8.self), file: tasksPath).tasks.count) ?? 0
            experiment.taskSet = Experiment.TaskSetRecord(file: tasksPath, sha256: SHA256.hex(data), count: count)
        }
        var report = RedactionReport()
        let command = agentCommand ?? ctx.config.agentCommand
        experiment.agent = Experiment.AgentRecord(
            command: command.map { redactor.redact($0, report: &report) }, builtIn: command == nil ? ctx.config.agent : nil,
            sourceCommit: workspace.sourceCommit, dirty: Repository.hasUncommittedChanges(containing: workspace.folder))
        let record = experiment
        return try ctx.history.startCycle(
            harness: harness, sourceCommit: workspace.sourceCommit, models: ctx.config.models.asDictionary, summary: summary,
            now: ctx.now(), cycleFiles: cycleFiles,
            experiment: { previous in
                var e = record
                if let previousSet = previous?.experiment?.taskSet, e.taskSet != nil {
                    e.taskSet!.changed = previousSet.sha256 != e.taskSet!.sha256
                }
                return e
            })
    }

    /// The project's rules file: loop.yaml's `rules`, else `rules.yaml` when it exists; nil when there is none.
    /// - Throws: when loop.yaml names a rules file that does not exist.
    static func rulesFile(_ ctx: LoopContext) throws -> (String, Data)? {
        let name = ctx.config.rules ?? ProjectRules.defaultFile
        if let data = FileManager.default.contents(atPath: ctx.workspace.url(name).path) { return (name, data) }
        if ctx.config.rules != nil {
            throw ConfigError(file: Layout.loopConfig, line: nil, field: "rules", reason: "no such file: \(name)")
        }
        return nil
    }

    /// The working folder's rules (what the next cycle will snapshot), for `flywheel rules check`.
    public static func workingRules(_ ctx: LoopContext) throws -> (file: String, rules: ProjectRules)? {
        guard let (name, data) = try rulesFile(ctx) else { return nil }
        return (name, try ProjectRules.parse(String(decoding: data, as: UTF8.self), file: name))
    }
}
