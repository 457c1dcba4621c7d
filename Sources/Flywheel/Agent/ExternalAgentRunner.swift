import Foundation
import Spawn

/// What one run of an external agent command left behind.
public struct ExternalRunResult: Sendable {
    /// The trace id the run was given (`FLYWHEEL_TRACE_ID`).
    public var traceID: String
    /// The task (question).
    public var task: String
    /// The process's exit status (the signal number when it was killed).
    public var exitStatus: Int32
    /// The signal that ended the process, when one did (a timeout's SIGKILL included).
    public var signal: Int32? = nil
    /// True when the time limit was hit and the process group was killed.
    public var timedOut: Bool
    /// Everything the command wrote to standard output.
    public var stdout: String
    /// Everything the command wrote to standard error.
    public var stderr: String
    /// Standard output, trimmed: the agent's final answer by convention (nil when empty).
    public var finalAnswer: String?
    /// `FLYWHEEL_TRACE_FILE`.
    public var traceFile: URL
    /// The bytes the agent wrote to the trace file (nil when it wrote none).
    public var traceData: Data?
    /// Files the agent left in `FLYWHEEL_OUTPUT_DIR`: relative path → bytes.
    public var artifacts: [String: Data]
    /// Wall time, seconds.
    public var duration: TimeInterval

    /// True when the command exited 0 within the time limit.
    public var succeeded: Bool { exitStatus == 0 && signal == nil && !timedOut }
}

/// A failure to start an external agent.
public struct ExternalAgentError: Error, Sendable, CustomStringConvertible {
    /// The command that failed to start.
    public var command: String
    /// Why.
    public var reason: String
    public var description: String { "agent command '\(command)': \(reason)" }
}

/// Runs an agent that lives outside Flywheel (`flywheel run --agent-cmd "CMD"`): one shell command per task.
///
/// The command runs under `/bin/sh -c` with the task on standard input and these variables set:
/// - `FLYWHEEL_TASK`: the task text;
/// - `FLYWHEEL_TASK_ID`: the task's id (e.g. `q01`), when known;
/// - `FLYWHEEL_TRACE_ID`: the trace id Flywheel expects the run to use (32 hex);
/// - `FLYWHEEL_TRACE_FILE`: where the agent writes its HALO JSONL spans;
/// - `FLYWHEEL_OUTPUT_DIR`: where it writes its artifacts.
/// Standard output is taken as the final answer. After `timeout` seconds the whole process group is killed.
public struct ExternalAgentRunner: Sendable {
    /// The shell command.
    public var command: String
    /// Time limit per task, seconds.
    public var timeout: TimeInterval
    /// Working directory of the command (default: the current one).
    public var workingDirectory: URL?
    /// Extra environment variables (added to the inherited environment).
    public var environment: [String: String]

    /// - Parameters:
    ///   - command: run with `/bin/sh -c`.
    ///   - timeout: seconds per task (default 600).
    ///   - workingDirectory: the command's working directory.
    ///   - environment: extra variables.
    public init(command: String, timeout: TimeInterval = 600, workingDirectory: URL? = nil, environment: [String: String] = [:]) {
        self.command = command
        self.timeout = timeout
        self.workingDirectory = workingDirectory
        self.environment = environment
    }

    /// Runs the command for one task and collects what it produced.
    /// - Parameters:
    ///   - task: the question, given on stdin and in `FLYWHEEL_TASK`.
    ///   - taskID: `FLYWHEEL_TASK_ID`, when known.
    ///   - traceID: `FLYWHEEL_TRACE_ID`.
    ///   - outputDirectory: `FLYWHEEL_OUTPUT_DIR` (created).
    ///   - traceFile: `FLYWHEEL_TRACE_FILE` (its folder is created; an old file there is removed first).
    ///   - onStdoutLine: called with each line of standard output as it arrives, and its arrival time (ns since the
    ///     epoch), for event-stream agents (`--agent-format`); stdout is still collected whole.
    /// - Returns: exit status, output, trace bytes and artifacts. A non-zero exit or a timeout is reported in
    ///   the result, not thrown.
    /// - Throws: `ExternalAgentError` when the command cannot be started.
    public func run(
        task: String, taskID: String? = nil, traceID: String, outputDirectory: URL, traceFile: URL,
        onStdoutLine: (@Sendable (String, Int64) -> Void)? = nil
    ) throws(ExternalAgentError)
        -> ExternalRunResult
    {
        let fm = FileManager.default
        do {
            try fm.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
            try fm.createDirectory(at: traceFile.deletingLastPathComponent(), withIntermediateDirectories: true)
            if fm.fileExists(atPath: traceFile.path) { try fm.removeItem(at: traceFile) }
        } catch {
            throw ExternalAgentError(command: command, reason: "cannot prepare folders: \(error.localizedDescription)")
        }
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        env["FLYWHEEL_TASK"] = task
        env["FLYWHEEL_TRACE_ID"] = traceID
        env["FLYWHEEL_TRACE_FILE"] = traceFile.path
        env["FLYWHEEL_OUTPUT_DIR"] = outputDirectory.path
        if let taskID { env["FLYWHEEL_TASK_ID"] = taskID } else { env["FLYWHEEL_TASK_ID"] = nil }
        let run: ChildProcess.Outcome
        do {
            run = try ChildProcess.run(ChildProcess.Request(
                executable: "/bin/sh", arguments: ["-c", command], environment: env, workingDirectory: workingDirectory,
                input: Data(task.utf8), timeout: timeout, onStdoutLine: onStdoutLine))
        } catch {
            throw ExternalAgentError(command: command, reason: error.description)
        }
        let stdout = String(decoding: run.stdout, as: UTF8.self)
        let answer = stdout.trimmingCharacters(in: .whitespacesAndNewlines)

        // No link followed, nothing outside the folder read (OutputFolder).
        let artifacts = OutputFolder.collect(outputDirectory, label: "FLYWHEEL_OUTPUT_DIR").files
        return ExternalRunResult(
            traceID: traceID, task: task, exitStatus: run.status, signal: run.signal, timedOut: run.timedOut, stdout: stdout,
            stderr: String(decoding: run.stderr, as: UTF8.self), finalAnswer: answer.isEmpty ? nil : answer,
            traceFile: traceFile, traceData: fm.contents(atPath: traceFile.path), artifacts: artifacts, duration: run.duration)
    }
}
