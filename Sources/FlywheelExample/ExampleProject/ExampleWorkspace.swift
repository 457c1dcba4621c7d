import Flywheel
import FlywheelSupport
import Foundation

/// `flywheel init --example diligence DIR` and the demo's working folder.
public enum ExampleWorkspace {
    /// The examples that exist.
    public static let names = ["diligence"]

    /// The example's `loop.yaml` (shipped with its resources).
    public static var loopYAML: String { ExampleScaffold.text(Layout.loopConfig) }

    /// Writes the example into `folder` (harness, tasks, feedback, data room, loop.yaml) and creates its history.
    /// - Throws: when `folder` already holds a `loop.yaml` (nothing is overwritten).
    @discardableResult
    public static func scaffold(_ name: String, at folder: URL, repository: URL? = nil) throws -> Workspace {
        guard names.contains(name) else {
            throw ConfigError(file: "--example", line: nil, field: nil, reason: "unknown example \"\(name)\"; known: \(names.joined(separator: ", "))")
        }
        let config = folder.appendingPathComponent(Layout.loopConfig)
        guard !FileManager.default.fileExists(atPath: config.path) else {
            throw ConfigError(file: config.path, line: nil, field: nil, reason: "already exists; scaffold into an empty folder")
        }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try ExampleScaffold.write(to: folder)
        var yaml = loopYAML
        if let repository {
            yaml = yaml.replacingOccurrences(of: "repository: loop-history\n", with: "repository: \(JSONValue.string(repository.path).canonicalText)\n")
        }
        try Data(yaml.utf8).write(to: config)
        let workspace = try Workspace.resolve(repo: nil, ref: nil, cwd: folder)
        try workspace.history.initialize(files: [Layout.loopConfig: Data(yaml.utf8)])
        return workspace
    }
}

/// `flywheel demo`: the embedded example, three cycles offline, the top recommendation applied between cycles.
public enum Demo {
    public struct Report: Sendable {
        public var folder: URL
        public var history: LoopHistory
        public var cycles: [LoopReport]
        public var applied: [String]
    }

    /// Scaffolds the example into `folder` (which must not hold a loop yet) and runs `cycles` cycles.
    public static func run(
        folder: URL, cycles: Int = 3, repository: URL? = nil, environment: [String: String] = ProcessInfo.processInfo.environment,
        progress: @escaping @Sendable (String) -> Void = { _ in }
    ) throws -> Report {
        let workspace = try ExampleWorkspace.scaffold("diligence", at: folder, repository: repository)
        let ctx = LoopContext(workspace: workspace, environment: environment, progress: progress, plugins: ExamplePlugin.plugins)
        var reports: [LoopReport] = []
        var applied: [String] = []
        var summary = "Harness v1, as shipped with the example."
        let humanFeedback = folder.appendingPathComponent(ExampleScaffold.feedbackPath)
        for n in 1...cycles {
            progress("Cycle \(n) of \(cycles): \(summary)")
            let report = try LoopRunner.runCycle(
                ctx, options: LoopOptions(feedbackFiles: n == 1 ? [humanFeedback] : [], summary: summary))
            reports.append(report)
            progress(String(format: "Cycle %d: gate %@ at %.1f%% pass rate; %d eval case(s) in the suite", report.cycle,
                            report.gatePassed ? "passed" : "failed", report.passRate * 100, report.suiteSize))
            guard n < cycles else { break }
            if let (rec, files) = try LoopRunner.applyTopRecommendation(ctx, cycle: report.cycle) {
                summary = "The demo played the coding agent: applied \(rec.id) (\(rec.title)) from cycle \(report.cycle)'s handoff to \(files.joined(separator: ", "))."
                applied.append(rec.id)
            } else {
                summary = "No recommendation of cycle \(report.cycle) had a concrete change to apply; harness unchanged."
            }
        }
        return Report(folder: folder, history: workspace.history, cycles: reports, applied: applied)
    }
}
