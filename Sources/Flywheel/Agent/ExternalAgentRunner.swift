import Foundation

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
        _ = BrokenPipe.ignored  // an agent that exits without reading its stdin
        let fm = FileManager.default
        do {
            try fm.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
            try fm.createDirectory(at: traceFile.deletingLastPathComponent(), withIntermediateDirectories: true)
            if fm.fileExists(atPath: traceFile.path) { try fm.removeItem(at: traceFile) }
        } catch {
            throw ExternalAgentError(command: command, reason: "cannot prepare folders: \(error.localizedDescription)")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        if let workingDirectory { p.currentDirectoryURL = workingDirectory }
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        env["FLYWHEEL_TASK"] = task
        env["FLYWHEEL_TRACE_ID"] = traceID
        env["FLYWHEEL_TRACE_FILE"] = traceFile.path
        env["FLYWHEEL_OUTPUT_DIR"] = outputDirectory.path
        if let taskID { env["FLYWHEEL_TASK_ID"] = taskID } else { env["FLYWHEEL_TASK_ID"] = nil }
        p.environment = env
        let out = Pipe(), err = Pipe(), inp = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = inp
        let started = Date()
        do {
            try p.run()
        } catch {
            throw ExternalAgentError(command: command, reason: "cannot start /bin/sh: \(error.localizedDescription)")
        }
        let pid = p.processIdentifier
        // Drain both pipes while the process runs, so a chatty agent never blocks on a full pipe.
        let collector = OutputCollector()
        let group = DispatchGroup()
        for (handle, isErr) in [(out.fileHandleForReading, false), (err.fileHandleForReading, true)] {
            group.enter()
            DispatchQueue.global().async {
                let data = isErr || onStdoutLine == nil ? handle.readDataToEndOfFile() : Self.readLines(handle, onStdoutLine!)
                collector.set(data, isErr: isErr)
                group.leave()
            }
        }
        DispatchQueue.global().async {
            let h = inp.fileHandleForWriting
            try? h.write(contentsOf: Data(task.utf8))
            try? h.close()
        }
        var timedOut = false
        let deadline = started.addingTimeInterval(timeout)
        while p.isRunning {
            if Date() >= deadline {
                timedOut = true
                kill(-pid, SIGKILL)  // the child leads its own process group: this reaches its children too
                kill(pid, SIGKILL)
                break
            }
            usleep(5_000)
        }
        p.waitUntilExit()
        if timedOut {
            // Children may still hold the pipes open; give them a moment, then stop waiting.
            _ = group.wait(timeout: .now() + 2)
        } else {
            group.wait()
        }
        let (stdoutData, stderrData) = collector.get()
        let stdout = String(decoding: stdoutData, as: UTF8.self)
        let answer = stdout.trimmingCharacters(in: .whitespacesAndNewlines)

        // No link followed, nothing outside the folder read (OutputFolder).
        let artifacts = OutputFolder.collect(outputDirectory, label: "FLYWHEEL_OUTPUT_DIR").files
        var result = ExternalRunResult(
            traceID: traceID, task: task, exitStatus: p.terminationStatus, timedOut: timedOut, stdout: stdout,
            stderr: String(decoding: stderrData, as: UTF8.self), finalAnswer: answer.isEmpty ? nil : answer,
            traceFile: traceFile, traceData: fm.contents(atPath: traceFile.path), artifacts: artifacts,
            duration: Date().timeIntervalSince(started))
        if p.terminationReason == .uncaughtSignal { result.signal = p.terminationStatus }
        return result
    }
}

extension ExternalAgentRunner {
    /// Reads `handle` to its end, calling `body` with each complete line (and the last unterminated one) as it
    /// arrives, stamped with the arrival time; returns all the bytes.
    static func readLines(_ handle: FileHandle, _ body: (String, Int64) -> Void) -> Data {
        var all = Data()
        var pending = Data()
        while true {
            let chunk = handle.availableData
            let now = TraceTime.nowNanos()
            if chunk.isEmpty { break }
            all.append(chunk)
            pending.append(chunk)
            while let nl = pending.firstIndex(of: 0x0A) {
                body(String(decoding: pending[pending.startIndex..<nl], as: UTF8.self), now)
                pending = Data(pending[(nl + 1)...])
            }
        }
        if !pending.isEmpty { body(String(decoding: pending, as: UTF8.self), TraceTime.nowNanos()) }
        return all
    }
}

/// Collects the two output streams from reader threads.
private final class OutputCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var out = Data()
    private var err = Data()
    func set(_ data: Data, isErr: Bool) {
        lock.lock()
        defer { lock.unlock() }
        if isErr { err = data } else { out = data }
    }
    func get() -> (Data, Data) {
        lock.lock()
        defer { lock.unlock() }
        return (out, err)
    }
}
