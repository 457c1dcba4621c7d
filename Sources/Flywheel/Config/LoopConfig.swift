import FlywheelSupport
import FlywheelTraces
import Foundation
import Yams

/// `loop.yaml`: the loop's configuration (agent, models per stage, task set, gate, redaction).
///
/// ```yaml
/// project: Acme support bot
/// description: Answers customers' order questions by chat.   # told to every model stage
/// repository: loop-history          # the artifact repository, relative to this file
/// ref: refs/heads/main
/// harness: [harness]                # files or folders snapshotted into harness/ at cycle start
/// instructions: harness/AGENTS.md   # the main instructions file (default: found in the harness)
/// tasks: tasks/questions.yaml
/// rules: rules.yaml                 # the project's rules (default rules.yaml when present)
/// agent_cmd: python3 agent.py       # the agent under test (or `agent:` naming one built into this program)
/// feedback: [feedback]              # human feedback files or folders
/// models:
///   agent: openai:gpt-4.1-mini      # the agent's model, for agents that take one
///   critic: null                    # optional stages: null = deterministic only
///   eval_generation: null
///   judge: null
///   diagnosis: null
/// gate:
///   min_pass_rate: 0.8
/// run:
///   concurrency: 4                  # tasks run at once (default 1)
///   task_timeout: 600               # seconds per task before its process group is killed
/// redact:
///   patterns: {internal-token: "itk_[A-Za-z0-9]{20}"}
/// ```
public struct LoopConfig: Sendable, Codable, Hashable {
    public var project: String
    /// What the agent does, in a sentence or two (given to the critic, eval generation and diagnosis models).
    public var description: String?
    public var repository: String?
    public var ref: String?
    public var harness: [String]
    public var tasks: String?
    /// The project's rules file (default `rules.yaml` when it exists).
    public var rules: String?
    /// The harness file holding the agent's main instructions (default: found in the harness).
    public var instructions: String?
    /// An agent built into this program (e.g. the embedded example's), used when there is no `agent_cmd`.
    public var agent: String?
    /// Settings for that built-in agent (name → text).
    public var agentSettings: [String: String]?
    public var feedback: [String]?
    public var models: StageModels
    public var gate: Gate
    public var redact: Redaction?
    /// An external agent command (`flywheel run --agent-cmd` default).
    public var agentCommand: String?
    /// How the run stage runs tasks (concurrency, time limit).
    public var run: RunSettings?
    /// What the external agent's stdout is: `halo` (default), `codex-json`, `claude-stream-json`.
    public var agentFormat: AgentOutputFormat?
    /// Anything else in the file, kept as-is.
    public var site: SiteSettings?
    /// When and how suite code runs (`evals:`); nil: the defaults (no scripts for a suite from the history).
    public var evals: EvalSettings?

    public init(
        project: String, repository: String? = "loop-history", ref: String? = nil, harness: [String] = ["harness"],
        tasks: String? = nil, rules: String? = nil, instructions: String? = nil, agent: String? = nil,
        agentSettings: [String: String]? = nil, feedback: [String]? = nil, models: StageModels = StageModels(),
        gate: Gate = Gate(), redact: Redaction? = nil, agentCommand: String? = nil, site: SiteSettings? = nil, description: String? = nil
    ) {
        self.project = project
        self.description = description
        self.rules = rules
        self.instructions = instructions
        self.agent = agent
        self.agentSettings = agentSettings
        self.repository = repository
        self.ref = ref
        self.harness = harness
        self.tasks = tasks
        self.feedback = feedback
        self.models = models
        self.gate = gate
        self.redact = redact
        self.agentCommand = agentCommand
        self.site = site
    }

    enum CodingKeys: String, CodingKey {
        case project, description, repository, ref, harness, tasks, rules, instructions, agent
        case agentSettings = "agent_settings", feedback, models, gate, redact
        case agentCommand = "agent_cmd", site, run, agentFormat = "agent_format", evals
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        project = try c.decodeIfPresent(String.self, forKey: .project) ?? "Flywheel loop"
        repository = try c.decodeIfPresent(String.self, forKey: .repository)
        ref = try c.decodeIfPresent(String.self, forKey: .ref)
        if let one = try? c.decodeIfPresent(String.self, forKey: .harness) {
            harness = [one]
        } else {
            harness = try c.decodeIfPresent([String].self, forKey: .harness) ?? ["harness"]
        }
        description = try c.decodeIfPresent(String.self, forKey: .description)
        tasks = try c.decodeIfPresent(String.self, forKey: .tasks)
        rules = try c.decodeIfPresent(String.self, forKey: .rules)
        instructions = try c.decodeIfPresent(String.self, forKey: .instructions)
        agent = try c.decodeIfPresent(String.self, forKey: .agent)
        agentSettings = try c.decodeIfPresent([String: String].self, forKey: .agentSettings)
        feedback = try c.decodeIfPresent([String].self, forKey: .feedback)
        models = try c.decodeIfPresent(StageModels.self, forKey: .models) ?? StageModels()
        gate = try c.decodeIfPresent(Gate.self, forKey: .gate) ?? Gate()
        redact = try c.decodeIfPresent(Redaction.self, forKey: .redact)
        agentCommand = try c.decodeIfPresent(String.self, forKey: .agentCommand)
        agentFormat = try c.decodeIfPresent(AgentOutputFormat.self, forKey: .agentFormat)
        site = try c.decodeIfPresent(SiteSettings.self, forKey: .site)
        run = try c.decodeIfPresent(RunSettings.self, forKey: .run)
        evals = try c.decodeIfPresent(EvalSettings.self, forKey: .evals)
    }

    /// `run:` — tasks at once and the time limit per task (`flywheel run --concurrency`, `--task-timeout`).
    public struct RunSettings: Sendable, Codable, Hashable {
        public var concurrency: Int?
        /// Seconds.
        public var taskTimeout: Double?
        public init(concurrency: Int? = nil, taskTimeout: Double? = nil) {
            self.concurrency = concurrency
            self.taskTimeout = taskTimeout
        }
        enum CodingKeys: String, CodingKey { case concurrency, taskTimeout = "task_timeout" }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            concurrency = try c.decodeIfPresent(Int.self, forKey: .concurrency)
            taskTimeout = try c.decodeIfPresent(Double.self, forKey: .taskTimeout)
            if let n = concurrency, n < 1 {
                throw DecodingError.dataCorruptedError(forKey: .concurrency, in: c, debugDescription: "must be at least 1")
            }
            if let t = taskTimeout, !(t > 0) {
                throw DecodingError.dataCorruptedError(forKey: .taskTimeout, in: c, debugDescription: "must be a positive number of seconds")
            }
        }
    }

    /// The model of each stage; nil means "deterministic only" for the optional stages. Each entry is a model name
    /// (`openai:NAME`, `offline-example`) or a mapping that also points the stage at its own endpoint:
    ///
    /// ```yaml
    /// judge:
    ///   model: openai:gpt-4.1
    ///   base_url: https://api.openai.com/v1   # else OPENAI_BASE_URL
    ///   api_key_env: JUDGE_API_KEY             # the variable holding the key (else OPENAI_API_KEY)
    ///   timeout: 60                            # seconds per attempt
    ///   max_retries: 3
    /// ```
    public struct StageModels: Sendable, Codable, Hashable {
        public var agent: String?
        public var critic: String?
        public var evalGeneration: String?
        public var judge: String?
        public var diagnosis: String?
        /// Stage (`agent`, `critic`, `eval_generation`, `judge`, `diagnosis`) → its own endpoint settings.
        public var endpoints: [String: ModelEndpoint]

        public init(agent: String? = nil, critic: String? = nil, evalGeneration: String? = nil, judge: String? = nil, diagnosis: String? = nil, endpoints: [String: ModelEndpoint] = [:]) {
            self.agent = agent
            self.critic = critic
            self.evalGeneration = evalGeneration
            self.judge = judge
            self.diagnosis = diagnosis
            self.endpoints = endpoints
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case agent, critic, evalGeneration = "eval_generation", judge, diagnosis
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            var names: [CodingKeys: String] = [:]
            var endpoints: [String: ModelEndpoint] = [:]
            for key in CodingKeys.allCases where c.contains(key) {
                if try c.decodeNil(forKey: key) { continue }
                if let name = try? c.decode(String.self, forKey: key) {
                    names[key] = name
                } else {
                    let endpoint = try c.decode(ModelEndpoint.self, forKey: key)
                    names[key] = endpoint.model
                    endpoints[key.rawValue] = endpoint
                }
            }
            self.init(agent: names[.agent], critic: names[.critic], evalGeneration: names[.evalGeneration],
                      judge: names[.judge], diagnosis: names[.diagnosis], endpoints: endpoints)
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            for key in CodingKeys.allCases {
                if let endpoint = endpoints[key.rawValue] {
                    try c.encode(endpoint, forKey: key)
                } else {
                    try c.encodeIfPresent(asDictionary[key.rawValue], forKey: key)
                }
            }
        }

        /// stage name → model, for `cycle.json`.
        public var asDictionary: [String: String] {
            var d: [String: String] = [:]
            d["agent"] = agent
            d["critic"] = critic
            d["eval_generation"] = evalGeneration
            d["judge"] = judge
            d["diagnosis"] = diagnosis
            return d
        }
    }

    /// A stage's own endpoint (an OpenAI-compatible server other than `OPENAI_BASE_URL`).
    public struct ModelEndpoint: Sendable, Codable, Hashable {
        public var model: String
        public var baseURL: String?
        /// The environment variable holding the API key (the key itself never goes in loop.yaml).
        public var apiKeyEnv: String?
        public var timeout: Double?
        public var maxRetries: Int?

        public init(model: String, baseURL: String? = nil, apiKeyEnv: String? = nil, timeout: Double? = nil, maxRetries: Int? = nil) {
            self.model = model
            self.baseURL = baseURL
            self.apiKeyEnv = apiKeyEnv
            self.timeout = timeout
            self.maxRetries = maxRetries
        }

        enum CodingKeys: String, CodingKey {
            case model, baseURL = "base_url", apiKeyEnv = "api_key_env", timeout, maxRetries = "max_retries"
        }
    }

    /// The gate's threshold.
    public struct Gate: Sendable, Codable, Hashable {
        public var minPassRate: Double
        public init(minPassRate: Double = 0.8) { self.minPassRate = minPassRate }
        enum CodingKeys: String, CodingKey { case minPassRate = "min_pass_rate" }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            minPassRate = try c.decodeIfPresent(Double.self, forKey: .minPassRate) ?? 0.8
            guard (0...1).contains(minPassRate) else {
                throw DecodingError.dataCorruptedError(forKey: .minPassRate, in: c, debugDescription: "must be between 0 and 1")
            }
        }
    }

    /// Extra secret patterns (name → regular expression) redacted before anything is committed.
    public struct Redaction: Sendable, Codable, Hashable {
        public var patterns: [String: String]
        public init(patterns: [String: String] = [:]) { self.patterns = patterns }
    }

    /// `evals:` in loop.yaml: the script policy of the gate.
    ///
    /// ```yaml
    /// evals:
    ///   allow_scripts: true          # run the suite's javascript/python/exec: code (default: off for the history's suite)
    ///   script_env: [MY_API_KEY]     # variables scripts may see besides PATH, LANG, … (default: none)
    ///   script_timeout: 30           # seconds; the script's whole process tree is killed after it
    ///   allow_outside_files: false   # file:// references outside the working folder
    /// ```
    public struct EvalSettings: Sendable, Codable, Hashable {
        public var allowScripts: Bool?
        public var scriptEnv: [String]?
        public var scriptTimeout: Double?
        public var allowOutsideFiles: Bool?
        public init(allowScripts: Bool? = nil, scriptEnv: [String]? = nil, scriptTimeout: Double? = nil, allowOutsideFiles: Bool? = nil) {
            self.allowScripts = allowScripts
            self.scriptEnv = scriptEnv
            self.scriptTimeout = scriptTimeout
            self.allowOutsideFiles = allowOutsideFiles
        }
        enum CodingKeys: String, CodingKey {
            case allowScripts = "allow_scripts", scriptEnv = "script_env", scriptTimeout = "script_timeout", allowOutsideFiles = "allow_outside_files"
        }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            allowScripts = try c.decodeIfPresent(Bool.self, forKey: .allowScripts)
            scriptEnv = try c.decodeIfPresent([String].self, forKey: .scriptEnv)
            scriptTimeout = try c.decodeIfPresent(Double.self, forKey: .scriptTimeout)
            allowOutsideFiles = try c.decodeIfPresent(Bool.self, forKey: .allowOutsideFiles)
            if let t = scriptTimeout, !(t > 0 && t <= 3600) {
                throw DecodingError.dataCorruptedError(forKey: .scriptTimeout, in: c, debugDescription: "must be between 0 and 3600 seconds")
            }
        }
    }

    /// Site settings.
    public struct SiteSettings: Sendable, Codable, Hashable {
        public var baseURL: String?
        enum CodingKeys: String, CodingKey { case baseURL = "base_url" }
    }

    // MARK: - Files

    /// Parses `loop.yaml` text; errors name the file, the line and the field.
    public static func parse(_ text: String, file: String) throws -> LoopConfig {
        do {
            try YAMLLimits.check(text, file: file)
        } catch let e as YAMLLimits.Exceeded {
            throw ConfigError(file: file, line: e.line, field: nil, reason: e.reason)
        }
        do {
            return try YAMLDecoder().decode(LoopConfig.self, from: text)
        } catch {
            throw ConfigError.from(error, file: file, text: text)
        }
    }

    /// The project's name from `loop.yaml` text in the site's mode for a history whose files are old or damaged: the
    /// parsed `project`, else a top-level `project:` (or `name:`) line read as it stands, else "Flywheel".
    static func projectName(lenient text: String?, file: String) -> String {
        guard let text else { return "Flywheel" }
        if let config = try? parse(text, file: file) { return config.project }
        for key in ["project", "name"] {
            for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
                var v = line.dropFirst(key.count + 1).trimmingCharacters(in: .whitespaces)
                if v.count >= 2, (v.hasPrefix("\"") && v.hasSuffix("\"")) || (v.hasPrefix("'") && v.hasSuffix("'")) {
                    v = String(v.dropFirst().dropLast())
                }
                if !v.isEmpty { return v }
            }
        }
        return "Flywheel"
    }

    /// Reads `loop.yaml` from disk.
    public static func load(_ url: URL) throws -> LoopConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw ConfigError(file: url.path, line: nil, field: nil, reason: "cannot read: \(error.localizedDescription)") }
        return try parse(String(decoding: data, as: UTF8.self), file: url.path)
    }

    /// The YAML text of this configuration.
    public func yamlText() throws -> String {
        let encoder = YAMLEncoder()
        encoder.options.sortKeys = false
        return try encoder.encode(self)
    }
}

/// A configuration file that does not parse: file, line, field and why.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var field: String?
    public var reason: String

    public init(file: String, line: Int?, field: String?, reason: String) {
        self.file = file
        self.line = line
        self.field = field
        self.reason = reason
    }

    public var description: String {
        var s = file
        if let line { s += ":\(line)" }
        if let field { s += ": field \(field)" }
        return s + ": " + reason
    }

    /// Turns a Yams or Decodable error into a located message.
    static func from(_ error: any Error, file: String, text: String) -> ConfigError {
        if case .dataCorrupted(let ctx) = error as? DecodingError, let underlying = ctx.underlyingError {
            return from(underlying, file: file, text: text)
        }
        if let y = error as? YamlError {
            switch y {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _):
                return ConfigError(file: file, line: mark.line, field: nil, reason: "invalid YAML: \(problem)")
            default:
                return ConfigError(file: file, line: nil, field: nil, reason: "invalid YAML: \(y)")
            }
        }
        if let d = error as? DecodingError {
            let ctx: DecodingError.Context
            var key: String?
            switch d {
            case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): ctx = c
            case .keyNotFound(let k, let c): ctx = c; key = k.stringValue
            @unknown default: return ConfigError(file: file, line: nil, field: nil, reason: "\(error)")
            }
            let path = ctx.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }
            let field = (path + (key.map { [$0] } ?? [])).joined(separator: ".")
            return ConfigError(
                file: file, line: YAMLLocator.line(of: path, in: text), field: field.isEmpty ? nil : field,
                reason: describeDecodingError(error).replacingOccurrences(of: "field \(field): ", with: ""))
        }
        return ConfigError(file: file, line: nil, field: nil, reason: "\(error)")
    }
}

/// Finds the line of a key path in YAML text (1-based), through Yams' node marks.
public enum YAMLLocator {
    public static func line(of path: [String], in text: String) -> Int? {
        guard var node = try? Yams.compose(yaml: text) else { return nil }
        var line = node.mark?.line
        for component in path {
            if let mapping = node.mapping {
                guard let pair = mapping.first(where: { $0.key.string == component }) else { break }
                line = pair.key.mark?.line
                node = pair.value
            } else if let seq = node.sequence, let i = Int(component), i < seq.count {
                node = seq[seq.index(seq.startIndex, offsetBy: i)]
                line = node.mark?.line
            } else {
                break
            }
        }
        return line
    }
}
