import Foundation

/// When and how suite code runs (javascript/python assertions, transforms, script providers, `exec:` providers).
///
/// Promptfoo runs such code whenever a suite contains it. Flywheel runs it only when the user allows it: a suite the
/// user names on the command line may run scripts, one that came from the history (another writer) may not unless
/// `--allow-scripts` or `evals: {allow_scripts: true}` in `loop.yaml` says so; `--no-scripts` always wins.
public struct EvalScriptPolicy: Sendable, Equatable {
    /// Whether suite code may run at all.
    public var allowScripts: Bool
    /// Why scripts are off (shown as the skip reason of the rows that needed them).
    public var disabledReason: String
    /// Variables passed from Flywheel's environment to suite code, besides the harmless base set (`PATH`, `LANG`, …).
    public var passEnvironment: [String]
    /// Seconds before a script's whole process tree is killed.
    public var timeout: TimeInterval
    /// The working folder scripts run in (nil: Flywheel's current folder).
    public var workingDirectory: URL?
    /// The environment the passed variables are picked from (nil: Flywheel's own process environment).
    public var inheritedEnvironment: [String: String]?

    /// Variables every script gets (no secrets): enough for `node` and `python3` to start.
    public static let baseEnvironment = ["PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "NODE_PATH", "PYTHONPATH", "VIRTUAL_ENV"]

    public init(allowScripts: Bool = true, disabledReason: String = "scripts are disabled (--no-scripts)",
                passEnvironment: [String] = [], timeout: TimeInterval = 30, workingDirectory: URL? = nil,
                inheritedEnvironment: [String: String]? = nil) {
        self.inheritedEnvironment = inheritedEnvironment
        self.allowScripts = allowScripts
        self.disabledReason = disabledReason
        self.passEnvironment = passEnvironment
        self.timeout = timeout
        self.workingDirectory = workingDirectory
    }

    /// The scrubbed environment: the base set and the listed names, taken from `from` (default: `inheritedEnvironment`,
    /// else the process environment), plus `extra`.
    public func environment(from source: [String: String]? = nil, extra: [String: String] = [:]) -> [String: String] {
        let env = source ?? inheritedEnvironment ?? ProcessInfo.processInfo.environment
        var out: [String: String] = [:]
        for k in Self.baseEnvironment + passEnvironment { if let v = env[k] { out[k] = v } }
        if out["PATH"] == nil { out["PATH"] = "/usr/local/bin:/usr/bin:/bin" }
        for (k, v) in extra { out[k] = v }
        return out
    }
}

/// A script runner that never runs anything: every request is `unavailable` with the policy's reason (skipped rows).
public struct DisabledScriptRunner: EvalScriptRunner {
    public let reason: String
    public init(reason: String) { self.reason = reason }
    public func run(_ request: EvalScriptRequest) -> EvalScriptResult { .unavailable(reason) }
}

/// Runs one child process under a policy: scrubbed environment, the policy's working folder, a time limit after which
/// the child's process group and every process that inherited its run token (a detached child included) are killed.
public enum SandboxedProcess {
    /// What a run produced.
    public struct Outcome: Sendable {
        public var status: Int32
        public var stdout: Data
        public var stderr: Data
        public var timedOut: Bool
        public var launchError: String?
    }

    /// The environment variable that marks every process of one run (inherited by detached children).
    public static let tokenVariable = "FLYWHEEL_SANDBOX_RUN"

    /// Runs `executable args…` with `stdin`, under `policy` (its environment plus `extraEnvironment`).
    public static func run(_ executable: String, _ args: [String], stdin: Data, policy: EvalScriptPolicy,
                           extraEnvironment: [String: String] = [:], timeout: TimeInterval? = nil) -> Outcome {
        _ = BrokenPipe.ignored
        let token = UUID().uuidString
        var env = policy.environment(extra: extraEnvironment)
        env[tokenVariable] = token
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        p.environment = env
        if let wd = policy.workingDirectory { p.currentDirectoryURL = wd }
        let inPipe = Pipe(), outPipe = Pipe(), errPipe = Pipe()
        p.standardInput = inPipe
        p.standardOutput = outPipe
        p.standardError = errPipe
        do { try p.run() } catch {
            return Outcome(status: -1, stdout: Data(), stderr: Data(), timedOut: false, launchError: "cannot start \(executable): \(error)")
        }
        let pid = p.processIdentifier
        let writer = inPipe.fileHandleForWriting
        DispatchQueue.global().async {
            try? writer.write(contentsOf: stdin)
            try? writer.close()
        }
        let box = Box()
        let group = DispatchGroup()
        for (h, isErr) in [(outPipe.fileHandleForReading, false), (errPipe.fileHandleForReading, true)] {
            group.enter()
            DispatchQueue.global().async {
                let d = h.readDataToEndOfFile()
                box.set(d, isErr: isErr)
                group.leave()
            }
        }
        let limit = timeout ?? policy.timeout
        let deadline = Date().addingTimeInterval(limit)
        var timedOut = false
        while p.isRunning {
            if Date() >= deadline { timedOut = true; break }
            usleep(2_000)
        }
        if timedOut {
            killTree(pid: pid, token: token)
            p.waitUntilExit()
            _ = group.wait(timeout: .now() + 2)
        } else {
            p.waitUntilExit()
            // Children left in the group would hold the pipes open; they may not outlive the script.
            kill(-pid, SIGKILL)
            if group.wait(timeout: .now() + 2) == .timedOut { killTree(pid: pid, token: token) }
        }
        let (o, e) = box.get()
        return Outcome(status: timedOut ? -1 : p.terminationStatus, stdout: o, stderr: e, timedOut: timedOut, launchError: nil)
    }

    /// SIGKILL to the process group of `pid` and to every process whose environment carries `token`.
    public static func killTree(pid: Int32, token: String) {
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
        let needle = Array("\(tokenVariable)=\(token)".utf8)
        // Twice: a process may fork while the first sweep runs.
        for _ in 0..<2 {
            guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return }
            for name in entries {
                guard let other = Int32(name), other != getpid() else { continue }
                guard let data = FileManager.default.contents(atPath: "/proc/\(name)/environ") else { continue }
                if contains(data, needle) { kill(other, SIGKILL) }
            }
        }
    }

    static func contains(_ data: Data, _ needle: [UInt8]) -> Bool {
        // Entries are NUL-separated; compare whole entries.
        var found = false
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var start = 0
            let n = raw.count
            for i in 0...n {
                if i == n || raw[i] == 0 {
                    if i - start == needle.count {
                        var same = true
                        for j in 0..<needle.count where raw[start + j] != needle[j] { same = false; break }
                        if same { found = true; return }
                    }
                    start = i + 1
                }
            }
        }
        return found
    }

    final class Box: @unchecked Sendable {
        private let lock = NSLock()
        private var out = Data(), err = Data()
        func set(_ d: Data, isErr: Bool) { lock.lock(); if isErr { err = d } else { out = d }; lock.unlock() }
        func get() -> (Data, Data) { lock.lock(); defer { lock.unlock() }; return (out, err) }
    }
}
