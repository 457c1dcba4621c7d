import Foundation
import Spawn

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
    static let baseEnvironment = ["PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "NODE_PATH", "PYTHONPATH", "VIRTUAL_ENV"]

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

/// Runs one child process under a policy (through `ChildProcess`): scrubbed environment, the policy's working folder,
/// a time limit after which the child's process group and every process that inherited its run token (a detached
/// child included) are killed; they are killed too once the child has exited, so suite code never outlives its run.
public enum SandboxedProcess {
    /// What a run produced.
    public struct Outcome: Sendable {
        public var status: Int32
        public var stdout: Data
        public var stderr: Data
        public var timedOut: Bool
        public var launchError: String?
    }

    /// Runs `executable args…` with `stdin`, under `policy` (its environment plus `extraEnvironment`).
    public static func run(_ executable: String, _ args: [String], stdin: Data, policy: EvalScriptPolicy,
                           extraEnvironment: [String: String] = [:], timeout: TimeInterval? = nil) -> Outcome {
        let request = ChildProcess.Request(
            executable: executable, arguments: args, environment: policy.environment(extra: extraEnvironment),
            workingDirectory: policy.workingDirectory, input: stdin, timeout: timeout ?? policy.timeout, runToken: UUID().uuidString)
        do {
            let r = try ChildProcess.run(request)
            return Outcome(status: r.timedOut ? -1 : r.status, stdout: r.stdout, stderr: r.stderr, timedOut: r.timedOut, launchError: nil)
        } catch {
            return Outcome(status: -1, stdout: Data(), stderr: Data(), timedOut: false, launchError: error.description)
        }
    }
}
