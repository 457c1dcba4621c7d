import CSpawn
import Foundation

/// Flywheel's one way to run a child process: agent commands, suite scripts and `exec:` providers, git credential
/// helpers. Synchronous, on threads: the stages are synchronous, and they may be called from Swift's cooperative
/// pool (tests, async commands). swift-subprocess was tried and dropped: its `run` starts an unstructured task that
/// needs a free pool thread, so a synchronous wait deadlocked as soon as the pool's threads (two on a 2-core
/// machine) were all waiting for children.
///
/// The child is started with `posix_spawn` (not Foundation's `Process`, which reports an exit only once every
/// grandchild has closed an inherited descriptor, so an agent that leaves a background process running held up the
/// run). It leads a process group of its own, so a kill reaches what it started; its pipes are opened close-on-exec,
/// so a child started at the same time on another thread never inherits them, and descriptors from 3 up are closed in
/// the child. Both output streams are drained while it runs (a chatty child never blocks on a full pipe) and end when
/// the child exits, even when a grandchild still holds them open (what is already in the pipe is kept). After
/// `timeout` seconds the group is killed with SIGKILL, and so is every process whose environment carries the
/// request's `runToken` (a child that left the group, e.g. with `setsid`).
public enum ChildProcess {
    /// What to run.
    public struct Request: Sendable {
        /// An absolute path (`/bin/sh`, `/usr/bin/env`, a resolved interpreter).
        public var executable: String
        public var arguments: [String]
        /// The child's whole environment (nothing else is inherited).
        public var environment: [String: String]
        /// The child's working folder (nil: Flywheel's).
        public var workingDirectory: URL?
        /// Written to the child's standard input, which is then closed.
        public var input: Data
        /// Seconds before the child's process group is killed (nil: no limit).
        public var timeout: TimeInterval?
        /// When set, `FLYWHEEL_SANDBOX_RUN=<token>` is added to the environment, and every process that inherited it
        /// is killed on a timeout and when the child has exited (suite code may not outlive its run).
        public var runToken: String?
        /// Called with each line of standard output as it arrives (without its newline) and the arrival time in
        /// nanoseconds since the epoch; the output is still collected whole.
        public var onStdoutLine: (@Sendable (String, Int64) -> Void)?

        public init(
            executable: String, arguments: [String] = [], environment: [String: String], workingDirectory: URL? = nil,
            input: Data = Data(), timeout: TimeInterval? = nil, runToken: String? = nil,
            onStdoutLine: (@Sendable (String, Int64) -> Void)? = nil
        ) {
            self.executable = executable
            self.arguments = arguments
            self.environment = environment
            self.workingDirectory = workingDirectory
            self.input = input
            self.timeout = timeout
            self.runToken = runToken
            self.onStdoutLine = onStdoutLine
        }
    }

    /// How a run ended and what it wrote.
    public struct Outcome: Sendable {
        /// The exit code, or the signal number when a signal ended the child.
        public var status: Int32
        /// The signal that ended the child, when one did (a timeout's SIGKILL included).
        public var signal: Int32?
        /// True when the time limit was hit and the process group was killed.
        public var timedOut: Bool
        public var stdout: Data
        public var stderr: Data
        /// Wall time, seconds.
        public var duration: TimeInterval

        /// Exited 0 within the time limit.
        public var succeeded: Bool { status == 0 && signal == nil && !timedOut }
    }

    /// The child could not be started.
    public struct LaunchError: Error, Sendable, CustomStringConvertible {
        public var executable: String
        public var reason: String
        public var description: String { "cannot start \(executable): \(reason)" }
    }

    /// The environment variable that marks every process of one run (inherited by detached children).
    public static let runTokenVariable = "FLYWHEEL_SANDBOX_RUN"

    /// Runs `request` to its end (or its time limit) and returns what it produced.
    /// - Throws: `LaunchError` when the child cannot be started; a non-zero exit, a signal or a timeout is reported in
    ///   the outcome instead.
    public static func run(_ request: Request) throws(LaunchError) -> Outcome {
        _ = BrokenPipe.ignored  // a child that exits without reading its input
        var env = request.environment
        if let token = request.runToken { env[runTokenVariable] = token }
        var stdinPipe: [Int32] = [-1, -1], stdoutPipe: [Int32] = [-1, -1], stderrPipe: [Int32] = [-1, -1]
        guard cspawn_pipe_cloexec(&stdinPipe) == 0, cspawn_pipe_cloexec(&stdoutPipe) == 0, cspawn_pipe_cloexec(&stderrPipe) == 0 else {
            for fd in stdinPipe + stdoutPipe + stderrPipe where fd >= 0 { close(fd) }
            throw LaunchError(executable: request.executable, reason: "cannot create pipes: \(String(cString: strerror(errno)))")
        }
        let started = Date()
        let pid: pid_t
        do throws(LaunchError) {
            pid = try spawn(request, environment: env, stdin: stdinPipe[0], stdout: stdoutPipe[1], stderr: stderrPipe[1])
        } catch {
            for fd in stdinPipe + stdoutPipe + stderrPipe { close(fd) }
            throw error
        }
        close(stdinPipe[0])
        close(stdoutPipe[1])
        close(stderrPipe[1])
        let done = Flag()
        let streams = DispatchGroup()
        let collected = Collected()
        for (fd, isErr) in [(stdoutPipe[0], false), (stderrPipe[0], true)] {
            streams.enter()
            // A thread of its own per stream (and for the input): a reader blocks for the child's whole life, and
            // with many children at once Dispatch's shared workers could all be taken, starting a reader late.
            Thread.detachNewThread {
                let data = drain(fd, until: done, lines: isErr ? nil : request.onStdoutLine)
                collected.set(data, isErr: isErr)
                close(fd)
                streams.leave()
            }
        }
        let stdinFD = stdinPipe[1]
        let input = request.input
        Thread.detachNewThread {
            input.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                var offset = 0
                while offset < raw.count {
                    let n = write(stdinFD, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 { if errno == EINTR { continue } else { break } }
                    offset += n
                }
            }
            close(stdinFD)
        }
        // Wait for the child (polling, so the time limit can interrupt the wait).
        var status: Int32 = 0
        var timedOut = false
        let deadline = request.timeout.map { started.addingTimeInterval(max(0, $0)) }
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { break }
            if let deadline, !timedOut, Date() >= deadline {
                timedOut = true
                killGroup(pid, token: request.runToken)
            }
            usleep(2_000)
        }
        // What the run started may not outlive it (suite code); the streams stop once the pipes are empty.
        if let token = request.runToken { killGroup(pid, token: token) }
        done.set()
        streams.wait()
        let (out, err) = collected.get()
        var outcome = Outcome(status: 0, signal: nil, timedOut: timedOut, stdout: out, stderr: err, duration: Date().timeIntervalSince(started))
        if status & 0x7f == 0 {
            outcome.status = (status >> 8) & 0xff  // exited
        } else {
            outcome.status = status & 0x7f  // killed by a signal
            outcome.signal = outcome.status
        }
        return outcome
    }

    /// Starts the child in a process group of its own, with the given pipe ends as its standard streams and every
    /// other descriptor closed.
    private static func spawn(_ request: Request, environment: [String: String], stdin: Int32, stdout: Int32, stderr: Int32) throws(LaunchError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        cspawn_addclosefrom(&actions, 3)
        if let wd = request.workingDirectory { cspawn_addchdir(&actions, wd.path) }
        posix_spawnattr_setpgroup(&attributes, 0)
        // The child starts with default signal handling (Flywheel ignores SIGPIPE) and no blocked signals.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        let argv = ([request.executable] + request.arguments).map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, request.executable, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw LaunchError(executable: request.executable, reason: String(cString: strerror(rc))) }
        return pid
    }

    /// Reads `fd` until end of file, or, once `done` is set, until nothing more is waiting or `drainAfterExit` has
    /// passed (a grandchild may hold the pipe open, and write on, after the child exited); calls `lines` with each complete line of the output as it arrives, and the
    /// last unterminated one at the end.
    static func drain(_ fd: Int32, until done: Flag, lines: (@Sendable (String, Int64) -> Void)?) -> Data {
        var all = Data()
        var pending = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var doneSeen: Date?
        while true {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, 50)
            if ready < 0 {
                if errno == EINTR { continue }
                break
            }
            if done.isSet, doneSeen == nil { doneSeen = Date() }
            if ready == 0 {
                if doneSeen != nil { break }
                continue
            }
            // Still data after the child exited: read on for `drainAfterExit` from when this reader saw the exit.
            if let doneSeen, Date().timeIntervalSince(doneSeen) > drainAfterExit { break }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                break
            }
            if n == 0 { break }
            let chunk = Data(buffer[0..<n])
            all.append(chunk)
            guard let lines else { continue }
            let now = nowNanos()
            pending.append(chunk)
            while let nl = pending.firstIndex(of: 0x0A) {
                lines(String(decoding: pending[pending.startIndex..<nl], as: UTF8.self), now)
                pending = Data(pending[(nl + 1)...])
            }
        }
        if let lines, !pending.isEmpty { lines(String(decoding: pending, as: UTF8.self), nowNanos()) }
        return all
    }

    /// Set when the child has exited.
    final class Flag: @unchecked Sendable {
        private let lock = NSLock()
        private var value = false
        func set() { lock.lock(); value = true; lock.unlock() }
        var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    }

    /// How long a stream is still read after the child exited while data keeps coming: what the child itself wrote
    /// is at most a pipe's buffer and reads in far less; a background process writing on would otherwise hold the
    /// run forever.
    static let drainAfterExit: TimeInterval = 1

    final class Collected: @unchecked Sendable {
        private let lock = NSLock()
        private var out = Data(), err = Data()
        func set(_ d: Data, isErr: Bool) { lock.lock(); if isErr { err = d } else { out = d }; lock.unlock() }
        func get() -> (Data, Data) { lock.lock(); defer { lock.unlock() }; return (out, err) }
    }

    /// Nanoseconds since the epoch (a line's arrival time).
    static func nowNanos() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    /// SIGKILL to the process group led by `pid` and to every process whose environment carries `token`.
    static func killGroup(_ pid: Int32, token: String?) {
        kill(-pid, SIGKILL)
        guard let token else { return }
        let needle = Array("\(runTokenVariable)=\(token)".utf8)
        // Twice: a process may fork while the first sweep runs.
        for _ in 0..<2 {
            guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return }
            for name in entries {
                guard let other = Int32(name), other != getpid() else { continue }
                guard let data = FileManager.default.contents(atPath: "/proc/\(name)/environ") else { continue }
                if environContains(data, needle) { kill(other, SIGKILL) }
            }
        }
    }

    /// Whether a NUL-separated environment block holds exactly the entry `needle`.
    static func environContains(_ data: Data, _ needle: [UInt8]) -> Bool {
        var found = false
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var start = 0
            let n = raw.count
            for i in 0...n where i == n || raw[i] == 0 {
                if i - start == needle.count, (0..<needle.count).allSatisfy({ raw[start + $0] == needle[$0] }) {
                    found = true
                    return
                }
                start = i + 1
            }
        }
        return found
    }
}
