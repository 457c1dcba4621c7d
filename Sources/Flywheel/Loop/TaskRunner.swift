import FlywheelSupport
import FlywheelTraces
import Foundation

/// Where a run stands, reported when a task starts and when it ends.
public struct RunProgress: Sendable {
    public var total: Int
    /// Tasks finished (succeeded or failed).
    public var done: Int
    public var running: Int
    public var failed: Int
    /// The task that just started or ended.
    public var task: String
}

/// One task of a run as it ended, before redaction: its spans and its files under `outputs/<trace id>/`.
struct TaskRun: Sendable {
    var index: Int
    var task: AgentTask
    var traceID: String
    var spans: [Span]
    /// Path relative to `outputs/<trace id>/` → bytes.
    var outputs: [String: Data]
    /// Why the task failed (nil when it succeeded).
    var failure: String?
    var tokens: Int = 0
    var costUSD: Double?
    /// Output files refused or renamed while collecting.
    var warnings: [String] = []
}

/// Runs a run's tasks, one at a time or several at once, each task's failure recorded as data (a failed trace)
/// instead of stopping the run. Results come back in task order whatever the concurrency.
enum TaskRunner {
    /// Runs `count` tasks with at most `concurrency` at once. `body(i)` runs task `i`; a thrown error stops handing
    /// out tasks and is rethrown once the running ones end.
    static func perform(
        count: Int, concurrency: Int, label: @escaping @Sendable (Int) -> String, progress: @escaping @Sendable (RunProgress) -> Void,
        body: @escaping @Sendable (Int) throws -> TaskRun
    ) throws -> [TaskRun] {
        let state = PoolState(count: count)
        let workers = max(1, min(concurrency, count))
        let group = DispatchGroup()
        for _ in 0..<workers {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                while let i = state.next() {
                    progress(state.snapshot(label(i)))
                    let outcome: Result<TaskRun, any Error> = Result { try body(i) }
                    progress(state.finish(i, outcome, label(i)))
                }
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        group.wait()
        return try state.results()
    }

    // MARK: - External commands

    /// Runs the external agent on one task. Anything the task does wrong (exit, signal, timeout, no or invalid trace,
    /// several traces) is its failure; only a command that cannot start at all throws.
    /// What an external agent's stdout is, and what its converted spans name.
    struct StreamFormat: Sendable {
        var format: AgentOutputFormat
        var project: String
        var model: String?
    }

    static func external(
        _ runner: ExternalAgentRunner, stream: StreamFormat, task: AgentTask, index: Int, traceID expected: String, scratch: URL,
        failure: FailureTrace
    ) throws -> TaskRun {
        let folder = scratch.appendingPathComponent("task-\(index + 1)")
        let outputDir = folder.appendingPathComponent("outputs")
        let traceFile = folder.appendingPathComponent("trace.jsonl")
        let started = Date()
        var result: ExternalRunResult
        let feed = AgentStreamFeed(stream.format, traceID: expected, task: task.question, project: stream.project, model: stream.model)
        do {
            result = try runner.run(
                task: task.question, taskID: task.id, traceID: expected, outputDirectory: outputDir, traceFile: traceFile,
                onStdoutLine: feed.map { s -> @Sendable (String, Int64) -> Void in { line, t in s.feed(line, t) } })
        } catch {
            throw StageError(.traces, "external agent on \(task.id): \(error)")
        }
        if let converted = feed?.finish(exitStatus: result.exitStatus) {
            result.traceData = SpanWriter.data(converted.spans)
            result.finalAnswer = converted.finalAnswer
        }
        let collected = OutputFolder.collect(outputDir, label: "outputs of \(task.id)")
        var outputs = collected.files
        var warnings = collected.warnings
        if let answer = result.finalAnswer, !answer.isEmpty {
            // Held in memory, never written through what the agent left there (a link is not followed).
            var info = stat()
            if lstat(outputDir.appendingPathComponent(RunFiles.finalAnswer).path, &info) == 0, (info.st_mode & S_IFMT) == S_IFLNK {
                warnings.append("outputs of \(task.id)/\(RunFiles.finalAnswer): the agent left a symbolic link; replaced by its answer on stdout")
            }
            outputs[RunFiles.finalAnswer] = Data((answer + "\n").utf8)
        }
        var run = TaskRun(index: index, task: task, traceID: expected, spans: [], outputs: outputs, warnings: warnings)
        var reason: String?
        if result.timedOut {
            reason = "timed out after \(formatSeconds(runner.timeout)) s (its process group was killed)"
        } else if let signal = result.signal {
            reason = "killed by signal \(signal)\(signalName(signal).map { " (\($0))" } ?? "")"
        } else if result.exitStatus > 128, result.exitStatus < 160 {
            // The shell reports a command a signal ended as 128 + the signal.
            let signal = result.exitStatus - 128
            reason = "exited with \(result.exitStatus) (killed by signal \(signal)\(signalName(signal).map { ", \($0)" } ?? ""))"
        } else if result.exitStatus != 0 {
            reason = "exited with \(result.exitStatus)"
        } else if let data = result.traceData, !data.isEmpty {
            do {
                let spans = try TraceImporter.importData(data, name: "$FLYWHEEL_TRACE_FILE of \(task.id)", format: .halo).spans
                var ids: [String] = []
                for s in spans where !ids.contains(s.traceID) { ids.append(s.traceID) }
                if ids.count != 1 {
                    reason = "wrote \(ids.count) traces (\(ids.prefix(3).joined(separator: ", "))); one run is one trace: use $FLYWHEEL_TRACE_ID (\(expected))"
                } else {
                    // An agent whose tracer makes its own trace id is taken at its word (its outputs are filed under it).
                    run.traceID = ids.first ?? expected
                    run.spans = spans
                }
            } catch {
                reason = "wrote a trace that is not valid HALO JSONL: \(error)"
            }
        } else {
            reason = "wrote no trace to $FLYWHEEL_TRACE_FILE"
        }
        if let reason {
            let tail = stderrTail(result.stderr)
            let message = "agent command " + reason + (tail.isEmpty ? "" : "; stderr: " + tail)
            run.failure = message
            run.traceID = expected
            run.spans = failure.spans(task: task, traceID: expected, message: message, started: started, ended: Date())
        }
        return run
    }

    // MARK: - Built-in agents

    static func builtIn(
        _ session: any BuiltInAgentSession, task: AgentTask, index: Int, traceID: String, scratch: URL, failure: FailureTrace
    ) throws -> TaskRun {
        let dir = scratch.appendingPathComponent("task-\(index + 1)").appendingPathComponent("outputs")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let started = Date()
        let result = try session.runTask(task, index: index, traceID: traceID, outputDirectory: dir)
        let collected = OutputFolder.collect(dir, label: "outputs of \(task.id)")
        var run = TaskRun(index: index, task: task, traceID: traceID, spans: [], outputs: collected.files,
                          tokens: result.tokens, costUSD: result.costUSD, warnings: collected.warnings)
        var reason = result.failure
        if reason == nil {
            do {
                let spans = try TraceImporter.importData(result.traces, name: "trace of \(task.id)", format: .halo).spans
                if spans.isEmpty || spans.contains(where: { $0.traceID != traceID }) {
                    reason = "the agent's trace is not one trace with id \(traceID)"
                } else {
                    run.spans = spans
                }
            } catch {
                reason = "the agent wrote a trace that is not valid HALO JSONL: \(error)"
            }
        }
        if let reason {
            run.failure = reason
            run.spans = failure.spans(task: task, traceID: traceID, message: reason, started: started, ended: Date())
        }
        return run
    }

    // MARK: - Helpers

    /// The last lines of standard error (at most 1,000 characters), for the failed trace's status message.
    static func stderrTail(_ text: String, limit: Int = 1000) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.count > limit else { return trimmed }
        return "…" + String(trimmed.suffix(limit))
    }

    static func formatSeconds(_ t: TimeInterval) -> String {
        t == t.rounded() ? String(Int(t)) : String(format: "%.1f", t)
    }

    static func signalName(_ n: Int32) -> String? {
        [SIGKILL: "SIGKILL", SIGTERM: "SIGTERM", SIGSEGV: "SIGSEGV", SIGABRT: "SIGABRT", SIGINT: "SIGINT", SIGBUS: "SIGBUS",
         SIGPIPE: "SIGPIPE", SIGHUP: "SIGHUP", SIGFPE: "SIGFPE", SIGILL: "SIGILL"][n]
    }
}

/// The trace Flywheel records for a task that failed: one AGENT root span with error status naming why.
struct FailureTrace: Sendable {
    var project: String
    var agentName: String
    /// SOURCE_DATE_EPOCH: fixed span times (reproducible histories).
    var epoch: Double?

    func spans(task: AgentTask, traceID: String, message: String, started: Date, ended: Date) -> [Span] {
        let builder = SpanBuilder(projectID: project, agentName: agentName, serviceName: "flywheel-run")
        let start = epoch.map { TraceTime.format(Date(timeIntervalSince1970: $0)) } ?? TraceTime.format(started)
        let end = epoch.map { TraceTime.format(Date(timeIntervalSince1970: $0)) } ?? TraceTime.format(ended)
        let span = builder.agentSpan(
            traceID: traceID, spanID: String(SHA256.hex("flywheel-failed\u{0}\(traceID)").prefix(16)), start: start, end: end,
            status: .error(message), outcome: "failed", stopReason: "error",
            extra: [
                TraceIdentity.taskAttribute: .string(task.id), TraceIdentity.failedAttribute: .bool(true),
                "input.value": .string(task.question), "error.message": .string(message),
            ])
        return [span]
    }
}

/// The shared state of a run's workers.
private final class PoolState: @unchecked Sendable {
    private let lock = NSLock()
    private let count: Int
    private var nextIndex = 0
    private var running = 0
    private var done = 0
    private var failed = 0
    private var stopped: (any Error)?
    private var slots: [TaskRun?]

    init(count: Int) {
        self.count = count
        slots = Array(repeating: nil, count: count)
    }

    func next() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard stopped == nil, nextIndex < count else { return nil }
        defer { nextIndex += 1 }
        running += 1
        return nextIndex
    }

    func snapshot(_ task: String) -> RunProgress {
        lock.lock()
        defer { lock.unlock() }
        return RunProgress(total: count, done: done, running: running, failed: failed, task: task)
    }

    func finish(_ i: Int, _ outcome: Result<TaskRun, any Error>, _ task: String) -> RunProgress {
        lock.lock()
        defer { lock.unlock() }
        running -= 1
        switch outcome {
        case .success(let run):
            slots[i] = run
            done += 1
            if run.failure != nil { failed += 1 }
        case .failure(let error):
            if stopped == nil { stopped = error }
        }
        return RunProgress(total: count, done: done, running: running, failed: failed, task: task)
    }

    func results() throws -> [TaskRun] {
        lock.lock()
        defer { lock.unlock() }
        if let stopped { throw stopped }
        return slots.compactMap { $0 }
    }
}
