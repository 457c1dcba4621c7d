import FlywheelTraces
import Foundation
import GitStore

/// What every stage needs: the workspace (loop.yaml, folder, history), the environment, a clock and a place to
/// report progress. Stages read their inputs from the history (never the working folder, except the inputs a user
/// brings: harness at cycle start, feedback files, the rules file and the task set).
public struct LoopContext: Sendable {
    public let workspace: Workspace
    public let environment: [String: String]
    /// Progress lines (`[i/n] name`), printed by the CLI.
    public let progress: @Sendable (String) -> Void
    /// The time recorded in artifacts.
    public let now: @Sendable () -> Date
    /// Built-in agents and models the program adds (the command line adds the embedded example's).
    public let plugins: LoopPlugins

    public init(
        workspace: Workspace, environment: [String: String] = ProcessInfo.processInfo.environment,
        progress: @escaping @Sendable (String) -> Void = { _ in }, now: @escaping @Sendable () -> Date = { Date() },
        plugins: LoopPlugins = LoopPlugins()
    ) {
        self.plugins = plugins
        self.workspace = workspace
        self.environment = environment
        self.progress = progress
        self.now = now
    }

    public var history: LoopHistory { workspace.history }
    public var config: LoopConfig { workspace.config ?? LoopConfig(project: "Flywheel loop") }

    /// The secret filter of this loop: the built-in kinds plus `loop.yaml`'s `redact.patterns` (the same filter
    /// `flywheel traces import` and `receive` use).
    public func redactor() throws -> Redactor {
        // `enabled: true` always yields a redactor.
        try TraceStage.redactor(config: workspace.config, enabled: true)!
    }

    /// The time as ISO-8601 UTC seconds.
    public var timestamp: String { ISO8601.string(now()) }
}

/// A stage failed with a message for the user, naming the stage (`[stage] …`).
public struct StageError: Error, Sendable, CustomStringConvertible {
    public var stage: String
    public var message: String
    /// An error of a cycle's stage, labelled with its step name.
    public init(_ stage: Stage, _ message: String) {
        self.init(stage.step, message)
    }

    /// An error of a command that is not one of a cycle's stages (`loop`, `report`, reading an artifact).
    public init(_ label: String, _ message: String) {
        self.stage = label
        self.message = message
    }
    public var description: String { "[\(stage)] \(message)" }
}
