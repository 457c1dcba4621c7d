import Foundation

/// A cycle's record, `cycles/NNNN/cycle.json`.
public struct Cycle: Sendable, Codable, Hashable {
    public enum Status: String, Sendable, Codable { case open, closed }

    public var number: Int
    public var status: Status
    /// ISO-8601 UTC.
    public var startedAt: String
    public var closedAt: String?
    /// The git tree id of `harness/` as this cycle runs it.
    public var harnessTree: String?
    /// The commit of the agent's own repository when the harness came from a git work tree.
    public var sourceCommit: String?
    /// Model per stage (agent, critic, eval_generation, judge, diagnosis).
    public var models: [String: String]
    /// Summary figures, filled as stages run (gate results, tokens, cost, latency).
    public var scores: CycleScores
    /// A one-line human summary (e.g. which recommendation the harness change applied).
    public var summary: String?
    /// Free-form notes by stage (kept as-is).
    public var notes: [String: String]
    /// What the cycle ran, so two cycles can be compared honestly: loop.yaml, the rules, the task set, the agent.
    public var experiment: Experiment?

    public init(
        number: Int, status: Status = .open, startedAt: String, closedAt: String? = nil, harnessTree: String? = nil,
        sourceCommit: String? = nil, models: [String: String] = [:], scores: CycleScores = CycleScores(),
        summary: String? = nil, notes: [String: String] = [:]
    ) {
        self.number = number
        self.status = status
        self.startedAt = startedAt
        self.closedAt = closedAt
        self.harnessTree = harnessTree
        self.sourceCommit = sourceCommit
        self.models = models
        self.scores = scores
        self.summary = summary
        self.notes = notes
    }

    enum CodingKeys: String, CodingKey {
        case number, status, startedAt = "started_at", closedAt = "closed_at", harnessTree = "harness_tree"
        case sourceCommit = "source_commit", models, scores, summary, notes, experiment
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        number = try c.decode(Int.self, forKey: .number)
        status = try c.decode(Status.self, forKey: .status)
        startedAt = try c.decode(String.self, forKey: .startedAt)
        closedAt = try c.decodeIfPresent(String.self, forKey: .closedAt)
        harnessTree = try c.decodeIfPresent(String.self, forKey: .harnessTree)
        sourceCommit = try c.decodeIfPresent(String.self, forKey: .sourceCommit)
        models = try c.decodeIfPresent([String: String].self, forKey: .models) ?? [:]
        scores = try c.decodeIfPresent(CycleScores.self, forKey: .scores) ?? CycleScores()
        summary = try c.decodeIfPresent(String.self, forKey: .summary)
        notes = try c.decodeIfPresent([String: String].self, forKey: .notes) ?? [:]
        experiment = try c.decodeIfPresent(Experiment.self, forKey: .experiment)
    }

    /// Pretty, sorted-keys JSON with a final newline (deterministic in git).
    public func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = (try? encoder.encode(self)) ?? Data()
        data.append(0x0A)
        return data
    }

    /// Parses `cycle.json`.
    public static func decode(_ data: Data, path: String) throws -> Cycle {
        do {
            return try JSONDecoder().decode(Cycle.self, from: data)
        } catch {
            throw HistoryError.corrupt(path: path, reason: describeDecodingError(error))
        }
    }
}

/// What a cycle ran: the configuration and rules (their snapshots sit in the cycle folder), the task set and the
/// agent. Secrets in the agent command are redacted before it is recorded.
public struct Experiment: Sendable, Codable, Hashable {
    /// SHA-256 of loop.yaml as run (`cycles/NNNN/loop.yaml`).
    public var loopConfigSHA256: String?
    /// The rules file and its SHA-256 (`cycles/NNNN/rules.yaml`), when the project has one.
    public var rulesFile: String?
    public var rulesSHA256: String?
    public var taskSet: TaskSetRecord?
    public var agent: AgentRecord?

    public init(loopConfigSHA256: String? = nil, rulesFile: String? = nil, rulesSHA256: String? = nil, taskSet: TaskSetRecord? = nil, agent: AgentRecord? = nil) {
        self.loopConfigSHA256 = loopConfigSHA256
        self.rulesFile = rulesFile
        self.rulesSHA256 = rulesSHA256
        self.taskSet = taskSet
        self.agent = agent
    }

    enum CodingKeys: String, CodingKey {
        case loopConfigSHA256 = "loop_config_sha256", rulesFile = "rules_file", rulesSHA256 = "rules_sha256", taskSet = "task_set", agent
    }

    /// The task set: its file (snapshotted as `cycles/NNNN/tasks/<name>`), hash and size; the tasks the run took.
    public struct TaskSetRecord: Sendable, Codable, Hashable {
        public var file: String
        public var sha256: String
        public var count: Int
        /// True when the task set differs from the previous cycle's (pass rates then have other denominators).
        public var changed: Bool?
        /// The task ids the run took, in order (set by the run stage).
        public var selected: [String]?

        public init(file: String, sha256: String, count: Int, changed: Bool? = nil, selected: [String]? = nil) {
            self.file = file
            self.sha256 = sha256
            self.count = count
            self.changed = changed
            self.selected = selected
        }
    }

    /// The agent under test: its command (secrets redacted) or built-in name, and the commit of its source.
    public struct AgentRecord: Sendable, Codable, Hashable {
        public var command: String?
        public var builtIn: String?
        public var sourceCommit: String?
        /// True when the agent's work tree had uncommitted changes at cycle start.
        public var dirty: Bool?

        public init(command: String? = nil, builtIn: String? = nil, sourceCommit: String? = nil, dirty: Bool? = nil) {
            self.command = command
            self.builtIn = builtIn
            self.sourceCommit = sourceCommit
            self.dirty = dirty
        }

        enum CodingKeys: String, CodingKey { case command, builtIn = "built_in", sourceCommit = "source_commit", dirty }
    }
}

/// The figures of a cycle (all optional: each stage fills its own).
public struct CycleScores: Sendable, Codable, Hashable {
    public var passRate: Double?
    public var meanScore: Double?
    public var passed: Int?
    public var failed: Int?
    public var errors: Int?
    public var skipped: Int?
    public var total: Int?
    public var gatePassed: Bool?
    public var minPassRate: Double?
    /// Named metric → score (0…1).
    public var metrics: [String: Double]?
    /// Feedback category → failing eval rows.
    public var failuresByCategory: [String: Int]?
    public var traces: Int?
    public var spans: Int?
    public var toolErrors: Int?
    public var tokens: Int?
    public var costUSD: Double?
    public var latencyMs: Double?
    public var suiteSize: Int?
    public var evalsAdded: Int?
    /// Runs recorded as failed traces (non-zero exit, signal, timeout, no or invalid trace).
    public var failedTasks: Int?
    /// Cases of the suite whose task did not run in this cycle (not in the pass rate).
    public var notRun: Int?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case passRate = "pass_rate", meanScore = "mean_score", passed, failed, errors, skipped, total
        case gatePassed = "gate_passed", minPassRate = "min_pass_rate", metrics
        case failuresByCategory = "failures_by_category", traces, spans, toolErrors = "tool_errors", tokens
        case costUSD = "cost_usd", latencyMs = "latency_ms", suiteSize = "suite_size", evalsAdded = "evals_added", notRun = "not_run"
        case failedTasks = "failed_tasks"
    }
}

extension CycleScores {
    /// Records a gate's figures (pass rate, counts, threshold, mean score, metrics, failures by category), leaving the
    /// other stages' figures as they are.
    public mutating func takeGateFigures(_ gate: CycleScores) {
        passRate = gate.passRate
        meanScore = gate.meanScore
        passed = gate.passed
        failed = gate.failed
        errors = gate.errors
        skipped = gate.skipped
        total = gate.total
        gatePassed = gate.gatePassed
        minPassRate = gate.minPassRate
        metrics = gate.metrics
        failuresByCategory = gate.failuresByCategory
    }
}

/// A readable message for a Decodable failure: the field path and what was wrong.
public func describeDecodingError(_ error: any Error) -> String {
    guard let e = error as? DecodingError else { return "\(error)" }
    func path(_ ctx: DecodingError.Context) -> String {
        let p = ctx.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        return p.isEmpty ? "(top level)" : p
    }
    switch e {
    case .typeMismatch(let type, let ctx): return "field \(path(ctx)): expected \(type) (\(ctx.debugDescription))"
    case .valueNotFound(let type, let ctx): return "field \(path(ctx)): missing \(type) value"
    case .keyNotFound(let key, let ctx):
        let parent = path(ctx)
        return "field \(parent == "(top level)" ? key.stringValue : parent + "." + key.stringValue): required but missing"
    case .dataCorrupted(let ctx): return "field \(path(ctx)): \(ctx.debugDescription)"
    @unknown default: return "\(error)"
    }
}
