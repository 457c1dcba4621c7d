import FlywheelSupport
import Foundation

/// `diagnosis.json` (ARTIFACTS.md): failure modes (most important first), ranked recommendations, and the
/// outcomes of the previous cycle's recommendations.
public struct Diagnosis: Sendable, Hashable, Codable {
    public var cycle: Int
    /// `deterministic` or `deterministic+model:<id>`.
    public var generatedBy: String
    public var failureModes: [FailureMode]
    public var recommendations: [Recommendation]
    public var outcomes: [Outcome]
    /// How failure modes were ranked (the formula and its weights); nil in diagnoses written before ranking was
    /// recorded.
    public var ranking: Ranking?
    /// Task id → the latency and token figures of this cycle's runs of that task, kept so that later cycles can
    /// compare a run with the task's own history (the outlier detector); nil when no run named its task.
    public var taskRuns: [String: TaskRunFigures]?

    public init(
        cycle: Int, generatedBy: String = "deterministic", failureModes: [FailureMode], recommendations: [Recommendation], outcomes: [Outcome] = [],
        ranking: Ranking? = nil, taskRuns: [String: TaskRunFigures]? = nil
    ) {
        self.cycle = cycle
        self.generatedBy = generatedBy
        self.failureModes = failureModes
        self.recommendations = recommendations
        self.outcomes = outcomes
        self.ranking = ranking
        self.taskRuns = taskRuns
    }

    enum CodingKeys: String, CodingKey {
        case cycle, generatedBy = "generated_by", failureModes = "failure_modes", recommendations, outcomes, ranking
        case taskRuns = "task_runs"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        cycle = try c.decode(Int.self, forKey: .cycle)
        generatedBy = try c.decodeIfPresent(String.self, forKey: .generatedBy) ?? "deterministic"
        failureModes = try c.decodeIfPresent([FailureMode].self, forKey: .failureModes) ?? []
        recommendations = try c.decodeIfPresent([Recommendation].self, forKey: .recommendations) ?? []
        outcomes = try c.decodeIfPresent([Outcome].self, forKey: .outcomes) ?? []
        ranking = try c.decodeIfPresent(Ranking.self, forKey: .ranking)
        taskRuns = try c.decodeIfPresent([String: TaskRunFigures].self, forKey: .taskRuns)
    }

    /// True when some outcome's attribution is unsure (the harness diff implemented several recommendations, or
    /// changed what no recommendation asked).
    public var attributionUnsure: Bool { outcomes.contains { $0.attributionUnsure } }

    /// Pretty JSON with sorted keys, `/` unescaped, ending in a newline (the bytes committed as diagnosis.json).
    public func encoded() -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = (try? e.encode(self)) ?? Data("{}".utf8)
        data.append(0x0A)
        return data
    }

    /// Reads diagnosis.json: every field as the contract writes it, or an error naming the field (`describeDecodingError`).
    public static func read(_ data: Data) throws -> Diagnosis { try JSONDecoder().decode(Diagnosis.self, from: data) }

    /// Reads diagnosis.json in the site's mode for a history whose files are old or damaged: a file that reads strictly
    /// is that diagnosis; otherwise each failure mode, recommendation and outcome is read on its own, and one that does
    /// not read is left out with a line in `skipped` naming it and its field (`recommendations[2]: field area: …`).
    /// nil when the file is not a JSON object.
    public static func read(lenient data: Data, skipped: inout [String]) -> Diagnosis? {
        if let d = try? read(data) { return d }
        guard let root = JSONValue.parseOrNil(data), root.objectValue != nil else {
            skipped.append("(top level): not a JSON object")
            return nil
        }
        func value<T: Decodable>(_ v: JSONValue, as type: T.Type) throws -> T {
            try JSONDecoder().decode(T.self, from: Data(v.canonicalText.utf8))
        }
        func field<T: Decodable>(_ key: CodingKeys, _ type: T.Type) -> T? {
            guard let v = root[key.rawValue], !v.isNull else { return nil }
            do { return try value(v, as: T.self) } catch {
                skipped.append("\(key.rawValue): \(describeDecodingError(error))")
                return nil
            }
        }
        func elements<T: Decodable>(_ key: CodingKeys, _ type: T.Type) -> [T] {
            guard let v = root[key.rawValue], !v.isNull else { return [] }
            guard let items = v.arrayValue else {
                skipped.append("\(key.rawValue): not a list")
                return []
            }
            return items.enumerated().compactMap { i, item in
                do { return try value(item, as: T.self) } catch {
                    skipped.append("\(key.rawValue)[\(i)]: \(describeDecodingError(error))")
                    return nil
                }
            }
        }
        return Diagnosis(
            cycle: field(.cycle, Int.self) ?? 0, generatedBy: field(.generatedBy, String.self) ?? "deterministic",
            failureModes: elements(.failureModes, FailureMode.self), recommendations: elements(.recommendations, Recommendation.self),
            outcomes: elements(.outcomes, Outcome.self), ranking: field(.ranking, Ranking.self),
            taskRuns: field(.taskRuns, [String: TaskRunFigures].self))
    }
}

/// The figures of one task's runs in a cycle: wall-clock seconds from the first span's start to the last span's end,
/// and LLM tokens (input + output), each in trace order; a run without the figure is left out of that list.
public struct TaskRunFigures: Sendable, Hashable, Codable {
    public var latency: [Double]
    public var tokens: [Double]

    public init(latency: [Double] = [], tokens: [Double] = []) {
        self.latency = latency
        self.tokens = tokens
    }

    enum CodingKeys: String, CodingKey { case latency = "latency_s", tokens }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        latency = try c.decodeIfPresent([Double].self, forKey: .latency) ?? []
        tokens = try c.decodeIfPresent([Double].self, forKey: .tokens) ?? []
    }

    /// The values of one metric (`latency` or `tokens`).
    func values(_ metric: String) -> [Double] { metric == "latency" ? latency : tokens }
}

/// One piece of evidence: a trace, optionally a span or an eval row, and what it shows.
public struct EvidenceRef: Sendable, Hashable, Codable {
    public var traceID: String
    public var spanID: String?
    public var evalID: String?
    public var note: String
    /// The text copied verbatim from the span (or record) that shows the problem, when there is one.
    public var quote: String?

    public init(traceID: String, spanID: String? = nil, evalID: String? = nil, note: String, quote: String? = nil) {
        self.traceID = traceID
        self.spanID = spanID
        self.evalID = evalID
        self.note = note
        self.quote = quote
    }

    enum CodingKeys: String, CodingKey { case traceID = "trace_id", spanID = "span_id", evalID = "eval_id", note, quote }
}

/// A failure mode found in the cycle.
public struct FailureMode: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable {
        case missingRequirement = "missing requirement"
        case presentButNotFollowed = "present but not followed"
        case implementationDefect = "implementation or observability defect"
    }

    /// `fm-<slug>`, stable across cycles.
    public var id: String
    public var title: String
    public var kind: Kind
    public var category: String
    public var count: Int
    public var traceIDs: [String]
    public var spanIDs: [String]
    public var evalIDs: [String]
    public var feedbackIDs: [String]
    public var evidence: [EvidenceRef]
    /// The numbers the mode was ranked by (see `Diagnosis.ranking`).
    public var impact: Impact?
    /// For error clusters: the normalised message templates merged into the mode, with how many spans each.
    public var templates: [ErrorTemplate]?
    /// The share of the diagnosed traces the mode touches (0…1), when traces were diagnosed.
    public var traceShare: Double?

    public init(
        id: String, title: String, kind: Kind, category: String, count: Int, traceIDs: [String], spanIDs: [String] = [],
        evalIDs: [String] = [], feedbackIDs: [String] = [], evidence: [EvidenceRef] = [], impact: Impact? = nil,
        templates: [ErrorTemplate]? = nil, traceShare: Double? = nil
    ) {
        self.id = id
        self.title = title
        self.kind = kind
        self.category = category
        self.count = count
        self.traceIDs = traceIDs
        self.spanIDs = spanIDs
        self.evalIDs = evalIDs
        self.feedbackIDs = feedbackIDs
        self.evidence = evidence
        self.impact = impact
        self.templates = templates
        self.traceShare = traceShare
    }

    enum CodingKeys: String, CodingKey {
        case id, title, kind, category, count, traceIDs = "trace_ids", spanIDs = "span_ids", evalIDs = "eval_ids"
        case feedbackIDs = "feedback_ids", evidence, impact, templates, traceShare = "trace_share"
    }
}

/// One normalised error message of a cluster (numbers, ids, paths, quoted values and timestamps replaced by
/// placeholders) and how many error spans had it.
public struct ErrorTemplate: Sendable, Hashable, Codable {
    public var template: String
    public var count: Int
    /// One original message with this template.
    public var example: String

    public init(template: String, count: Int, example: String) {
        self.template = template
        self.count = count
        self.example = example
    }
}

/// Where a failure mode's evidence came from, strongest first: a human reviewer, a model (LLM critic or judge, or
/// a failing eval case), or a heuristic (a trace detector or the rule critic).
public enum Confirmation: String, Sendable, Hashable, Codable, Comparable {
    case human, model, heuristic

    /// The ranking factor: human 2, model 1.5, heuristic 1.
    public var factor: Double {
        switch self {
        case .human: return 2
        case .model: return 1.5
        case .heuristic: return 1
        }
    }

    public static func < (a: Confirmation, b: Confirmation) -> Bool { a.factor < b.factor }
}

/// The numbers a failure mode is ranked by: `score = severity_weight × (traces + 2 × failing_evals) × confirmation`,
/// and modes confirmed by a human at high or critical severity (`tier` 1) rank above every other (`tier` 0).
public struct Impact: Sendable, Hashable, Codable {
    public var traces: Int
    public var failingEvals: Int
    public var severity: FeedbackRecord.Severity
    public var severityWeight: Double
    public var confirmation: Confirmation
    public var confirmationFactor: Double
    public var tier: Int
    public var score: Double

    /// - Parameter humanSeverity: the highest severity a human reviewer gave the mode (tier 1 when high or critical);
    ///   when nil, a human-confirmed mode's own severity counts.
    public init(traces: Int, failingEvals: Int, severity: FeedbackRecord.Severity, confirmation: Confirmation, humanSeverity: FeedbackRecord.Severity? = nil) {
        self.traces = traces
        self.failingEvals = failingEvals
        self.severity = severity
        self.severityWeight = severity.weight
        self.confirmation = confirmation
        self.confirmationFactor = confirmation.factor
        let human = humanSeverity ?? (confirmation == .human ? severity : .low)
        self.tier = confirmation == .human && human >= .high ? 1 : 0
        self.score = (severity.weight * Double(traces + 2 * failingEvals) * confirmation.factor * 100).rounded() / 100
    }

    enum CodingKeys: String, CodingKey {
        case traces, failingEvals = "failing_evals", severity, severityWeight = "severity_weight", confirmation
        case confirmationFactor = "confirmation_factor", tier, score
    }

    /// Ranking order: tier, then score (higher first).
    public static func ranksBefore(_ a: Impact, _ b: Impact) -> Bool? {
        if a.tier != b.tier { return a.tier > b.tier }
        if a.score != b.score { return a.score > b.score }
        return nil
    }
}

/// How the failure modes of a diagnosis were ordered (written to diagnosis.json and the handoff).
public struct Ranking: Sendable, Hashable, Codable {
    public var formula: String
    public var severityWeights: [String: Double]
    public var confirmationFactors: [String: Double]

    public init(formula: String = Ranking.standardFormula, severityWeights: [String: Double]? = nil, confirmationFactors: [String: Double]? = nil) {
        self.formula = formula
        self.severityWeights = severityWeights ?? Dictionary(uniqueKeysWithValues: FeedbackRecord.Severity.allCases.map { ($0.rawValue, $0.weight) })
        self.confirmationFactors = confirmationFactors ?? ["human": Confirmation.human.factor, "model": Confirmation.model.factor, "heuristic": Confirmation.heuristic.factor]
    }

    public static let standardFormula =
        "score = severity_weight × (traces + 2 × failing_evals) × confirmation_factor; modes a human reported at high or critical severity (tier 1) rank above all others, then by score, then by id"

    enum CodingKeys: String, CodingKey { case formula, severityWeights = "severity_weights", confirmationFactors = "confirmation_factors" }
}

/// A machine-applicable harness edit: append text to a file, replace text in it, or enable tools in a tools file.
/// JSON: `{"file", "append"}`, `{"file", "replace", "with"}`, or `{"file": "harness/tools.yaml", "enable_tools": [names]}`
/// (absent keys are left out).
public struct HarnessPatch: Sendable, Hashable, Codable {
    public var file: String
    public var append: String?
    /// Text to find (its first occurrence is replaced by `with`).
    public var replace: String?
    public var with: String?
    public var enableTools: [String]?

    public init(file: String, append: String? = nil, replace: String? = nil, with: String? = nil, enableTools: [String]? = nil) {
        self.file = file
        self.append = append
        self.replace = replace
        self.with = with
        self.enableTools = enableTools
    }

    enum CodingKeys: String, CodingKey { case file, append, replace, with, enableTools = "enable_tools" }

    /// Applies the patch to the file's current text. `replace` swaps the first occurrence of its text for `with` (a file
    /// without it is left as is). `append` adds its text on a new line at the end (once: a file
    /// already containing the text is returned unchanged). `enable_tools` sets `enabled: true` for each named tool
    /// (a `- name: X` list item or an `X:` mapping key followed by an `enabled:` line), adding a list item when the
    /// tool is not declared.
    public func apply(to text: String) -> String {
        var out = text
        if let replace, let with, !replace.isEmpty, let r = out.range(of: replace) {
            out.replaceSubrange(r, with: with)
        }
        if let append, !append.isEmpty {
            if !out.contains(append) {
                if !out.isEmpty && !out.hasSuffix("\n") { out += "\n" }
                out += append.hasSuffix("\n") ? append : append + "\n"
            }
        }
        for tool in enableTools ?? [] { out = Self.enable(tool, in: out) }
        return out
    }

    static func enable(_ tool: String, in text: String) -> String {
        var lines = text.components(separatedBy: "\n")
        func indent(_ s: String) -> Int { s.prefix { $0 == " " }.count }
        for (i, line) in lines.enumerated() {
            let t = line.trimmingCharacters(in: .whitespaces)
            let isListItem = t == "- name: \(tool)" || t == "- name: \"\(tool)\"" || t == "- name: '\(tool)'"
            let isKey = t == "\(tool):"
            let isInlineBool = t.hasPrefix("\(tool): ") && (t.hasSuffix("false") || t.hasSuffix("true"))
            if isInlineBool {
                lines[i] = String(repeating: " ", count: indent(line)) + "\(tool): true"
                return lines.joined(separator: "\n")
            }
            guard isListItem || isKey else { continue }
            let base = indent(line)
            let childIndent = isListItem ? base + 2 : base + 2
            var j = i + 1
            while j < lines.count {
                let l = lines[j]
                let lt = l.trimmingCharacters(in: .whitespaces)
                if lt.isEmpty { j += 1; continue }
                if indent(l) < childIndent || (isListItem && indent(l) == base && lt.hasPrefix("- ")) { break }
                if lt.hasPrefix("enabled:") {
                    lines[j] = String(repeating: " ", count: indent(l)) + "enabled: true"
                    return lines.joined(separator: "\n")
                }
                j += 1
            }
            lines.insert(String(repeating: " ", count: childIndent) + "enabled: true", at: i + 1)
            return lines.joined(separator: "\n")
        }
        var out = text
        if !out.isEmpty && !out.hasSuffix("\n") { out += "\n" }
        let isList = text.contains("- name:")
        if isList {
            let itemIndent = text.components(separatedBy: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix("- name:") }.map(indent) ?? 2
            let pad = String(repeating: " ", count: itemIndent)
            out += "\(pad)- name: \(tool)\n\(pad)  enabled: true\n"
        } else {
            out += "\(tool):\n  enabled: true\n"
        }
        return out
    }
}

/// What a recommendation is predicted to fix.
public struct PredictedImpact: Sendable, Hashable, Codable {
    public var evalIDs: [String]
    public var traceIDs: [String]
    public var summary: String

    public init(evalIDs: [String], traceIDs: [String], summary: String) {
        self.evalIDs = evalIDs
        self.traceIDs = traceIDs
        self.summary = summary
    }

    enum CodingKeys: String, CodingKey { case evalIDs = "eval_ids", traceIDs = "trace_ids", summary }
}

/// A ranked, concrete change to the harness.
public struct Recommendation: Sendable, Hashable, Codable {
    public enum Area: String, Sendable, Hashable, Codable, CaseIterable {
        case prompt, skills, tools
        case controlFlow = "control flow"
        case routing
        case artifactSchema = "artifact schema"
        case observability, evals

        /// The handoff's heading for the area.
        public var heading: String {
            switch self {
            case .prompt: return "Prompt"
            case .skills: return "Skills"
            case .tools: return "Tools"
            case .controlFlow: return "Control flow"
            case .routing: return "Routing"
            case .artifactSchema: return "Artifact schema"
            case .observability: return "Observability"
            case .evals: return "Evals"
            }
        }

        /// The harness file a change in this area usually touches.
        public var file: String {
            switch self {
            case .prompt: return "harness/instructions.md"
            case .skills: return "harness/skills/"
            case .tools: return "harness/tools.yaml"
            case .controlFlow: return "harness/model.yaml"
            case .routing: return "harness/routing.yaml"
            case .artifactSchema: return "harness/output.yaml"
            case .observability: return "harness/observability.yaml"
            case .evals: return "evals/"
            }
        }
    }

    public enum Level: String, Sendable, Hashable, Codable { case low, medium, high }
    public enum Effort: String, Sendable, Hashable, Codable { case small, medium, large }

    /// `rec-<slug>`, stable across cycles.
    public var id: String
    public var rank: Int
    public var title: String
    public var area: Area
    public var change: String
    public var patch: HarnessPatch?
    public var predictedImpact: PredictedImpact
    public var confidence: Level
    public var effort: Effort
    public var evidence: [EvidenceRef]
    public var validation: String
    public var failureModeIDs: [String]
    /// The harness file the change goes into (the patch's file when there is a patch); nil when the change is
    /// outside the harness files Flywheel sees (e.g. a tool's implementation). Outcome tracking credits a patch-less
    /// recommendation only when this file changed.
    public var targetFile: String?

    public init(
        id: String, rank: Int, title: String, area: Area, change: String, patch: HarnessPatch?, predictedImpact: PredictedImpact,
        confidence: Level, effort: Effort, evidence: [EvidenceRef], validation: String, failureModeIDs: [String], targetFile: String? = nil
    ) {
        self.id = id
        self.rank = rank
        self.title = title
        self.area = area
        self.change = change
        self.patch = patch
        self.predictedImpact = predictedImpact
        self.confidence = confidence
        self.effort = effort
        self.evidence = evidence
        self.validation = validation
        self.failureModeIDs = failureModeIDs
        self.targetFile = targetFile ?? patch?.file
    }

    enum CodingKeys: String, CodingKey {
        case id, rank, title, area, change, patch, predictedImpact = "predicted_impact", confidence, effort, evidence
        case validation, failureModeIDs = "failure_mode_ids", targetFile = "target_file"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        rank = try c.decode(Int.self, forKey: .rank)
        title = try c.decode(String.self, forKey: .title)
        area = try c.decode(Area.self, forKey: .area)
        change = try c.decode(String.self, forKey: .change)
        patch = try c.decodeIfPresent(HarnessPatch.self, forKey: .patch)
        predictedImpact = try c.decode(PredictedImpact.self, forKey: .predictedImpact)
        confidence = try c.decode(Level.self, forKey: .confidence)
        effort = try c.decode(Effort.self, forKey: .effort)
        evidence = try c.decodeIfPresent([EvidenceRef].self, forKey: .evidence) ?? []
        validation = try c.decodeIfPresent(String.self, forKey: .validation) ?? ""
        failureModeIDs = try c.decodeIfPresent([String].self, forKey: .failureModeIDs) ?? []
        targetFile = try c.decodeIfPresent(String.self, forKey: .targetFile)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(rank, forKey: .rank)
        try c.encode(title, forKey: .title)
        try c.encode(area, forKey: .area)
        try c.encode(change, forKey: .change)
        try c.encode(patch, forKey: .patch)  // null when nil, as the contract shows
        try c.encode(predictedImpact, forKey: .predictedImpact)
        try c.encode(confidence, forKey: .confidence)
        try c.encode(effort, forKey: .effort)
        try c.encode(evidence, forKey: .evidence)
        try c.encode(validation, forKey: .validation)
        try c.encode(failureModeIDs, forKey: .failureModeIDs)
        try c.encodeIfPresent(targetFile, forKey: .targetFile)
    }
}

/// What became of a previous cycle's recommendation.
public struct Outcome: Sendable, Hashable, Codable {
    public enum Status: String, Sendable, Hashable, Codable { case verified, ineffective, regressed, pending }

    public var recommendationID: String
    public var fromCycle: Int
    public var implemented: Bool
    public var status: Status
    public var flippedToPass: [String]
    public var stillFailing: [String]
    public var regressed: [String]
    public var note: String
    /// True when the harness diff that implemented this recommendation also implemented others, or changed what no
    /// recommendation asked: the result cannot be pinned on this change alone.
    public var attributionUnsure: Bool

    public init(
        recommendationID: String, fromCycle: Int, implemented: Bool, status: Status, flippedToPass: [String] = [],
        stillFailing: [String] = [], regressed: [String] = [], note: String, attributionUnsure: Bool = false
    ) {
        self.recommendationID = recommendationID
        self.fromCycle = fromCycle
        self.implemented = implemented
        self.status = status
        self.flippedToPass = flippedToPass
        self.stillFailing = stillFailing
        self.regressed = regressed
        self.note = note
        self.attributionUnsure = attributionUnsure
    }

    enum CodingKeys: String, CodingKey {
        case recommendationID = "recommendation_id", fromCycle = "from_cycle", implemented, status
        case flippedToPass = "flipped_to_pass", stillFailing = "still_failing", regressed, note
        case attributionUnsure = "attribution_unsure"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        recommendationID = try c.decode(String.self, forKey: .recommendationID)
        fromCycle = try c.decode(Int.self, forKey: .fromCycle)
        implemented = try c.decode(Bool.self, forKey: .implemented)
        status = try c.decode(Status.self, forKey: .status)
        flippedToPass = try c.decodeIfPresent([String].self, forKey: .flippedToPass) ?? []
        stillFailing = try c.decodeIfPresent([String].self, forKey: .stillFailing) ?? []
        regressed = try c.decodeIfPresent([String].self, forKey: .regressed) ?? []
        note = try c.decodeIfPresent(String.self, forKey: .note) ?? ""
        attributionUnsure = try c.decodeIfPresent(Bool.self, forKey: .attributionUnsure) ?? false
    }
}
