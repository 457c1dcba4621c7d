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

    public init(cycle: Int, generatedBy: String = "deterministic", failureModes: [FailureMode], recommendations: [Recommendation], outcomes: [Outcome] = []) {
        self.cycle = cycle
        self.generatedBy = generatedBy
        self.failureModes = failureModes
        self.recommendations = recommendations
        self.outcomes = outcomes
    }

    enum CodingKeys: String, CodingKey {
        case cycle, generatedBy = "generated_by", failureModes = "failure_modes", recommendations, outcomes
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        cycle = try c.decode(Int.self, forKey: .cycle)
        generatedBy = try c.decodeIfPresent(String.self, forKey: .generatedBy) ?? "deterministic"
        failureModes = try c.decodeIfPresent([FailureMode].self, forKey: .failureModes) ?? []
        recommendations = try c.decodeIfPresent([Recommendation].self, forKey: .recommendations) ?? []
        outcomes = try c.decodeIfPresent([Outcome].self, forKey: .outcomes) ?? []
    }

    /// Pretty JSON with sorted keys, `/` unescaped, ending in a newline (the bytes committed as diagnosis.json).
    public func encoded() -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = (try? e.encode(self)) ?? Data("{}".utf8)
        data.append(0x0A)
        return data
    }

    /// Reads diagnosis.json.
    public static func decode(_ data: Data) throws -> Diagnosis { try JSONDecoder().decode(Diagnosis.self, from: data) }
}

/// One piece of evidence: a trace, optionally a span or an eval row, and what it shows.
public struct EvidenceRef: Sendable, Hashable, Codable {
    public var traceID: String
    public var spanID: String?
    public var evalID: String?
    public var note: String

    public init(traceID: String, spanID: String? = nil, evalID: String? = nil, note: String) {
        self.traceID = traceID
        self.spanID = spanID
        self.evalID = evalID
        self.note = note
    }

    enum CodingKeys: String, CodingKey { case traceID = "trace_id", spanID = "span_id", evalID = "eval_id", note }
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

    public init(
        id: String, title: String, kind: Kind, category: String, count: Int, traceIDs: [String], spanIDs: [String] = [],
        evalIDs: [String] = [], feedbackIDs: [String] = [], evidence: [EvidenceRef] = []
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
    }

    enum CodingKeys: String, CodingKey {
        case id, title, kind, category, count, traceIDs = "trace_ids", spanIDs = "span_ids", evalIDs = "eval_ids"
        case feedbackIDs = "feedback_ids", evidence
    }
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

    /// Applies the patch to the file's current text. `append` adds its text on a new line at the end (once: a file
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

    public init(
        id: String, rank: Int, title: String, area: Area, change: String, patch: HarnessPatch?, predictedImpact: PredictedImpact,
        confidence: Level, effort: Effort, evidence: [EvidenceRef], validation: String, failureModeIDs: [String]
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
    }

    enum CodingKeys: String, CodingKey {
        case id, rank, title, area, change, patch, predictedImpact = "predicted_impact", confidence, effort, evidence
        case validation, failureModeIDs = "failure_mode_ids"
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

    public init(
        recommendationID: String, fromCycle: Int, implemented: Bool, status: Status, flippedToPass: [String] = [],
        stillFailing: [String] = [], regressed: [String] = [], note: String
    ) {
        self.recommendationID = recommendationID
        self.fromCycle = fromCycle
        self.implemented = implemented
        self.status = status
        self.flippedToPass = flippedToPass
        self.stillFailing = stillFailing
        self.regressed = regressed
        self.note = note
    }

    enum CodingKeys: String, CodingKey {
        case recommendationID = "recommendation_id", fromCycle = "from_cycle", implemented, status
        case flippedToPass = "flipped_to_pass", stillFailing = "still_failing", regressed, note
    }
}
