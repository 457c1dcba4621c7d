import Flywheel
import FlywheelSupport
import Foundation
import Yams

/// The five failure modes the embedded example plants (specs/example-diligence.md), with the harness change
/// that removes each one. The offline example model shows modes 1–4 unless the harness instructions carry the
/// matching rule, and mode 5 (with a seeded probability) unless the validation tools are enabled.
public enum ExampleFailureMode: Int, Sendable, CaseIterable, Codable {
    /// Narrative treated as an official metric where the exports disagree (ARR $52.0M quoted).
    case narrativeOverExport = 1
    /// Management's unvalidated ~130 % NRR reported as if finance had validated it.
    case unvalidatedNRR = 2
    /// Concentration judged by legal entity (12 %) instead of parent account (31 %).
    case legalEntityConcentration = 3
    /// "SOC 2 complete" where the evidence supports Type I only.
    case soc2Overstated = 4
    /// Missing or malformed artifacts, or citations to files or quotes that do not exist.
    case brokenArtifacts = 5

    /// A line for `harness/instructions.md` that addresses modes 1–4 (nil for mode 5, which is fixed in tools.yaml).
    public var instructionRule: String? {
        switch self {
        case .narrativeOverExport:
            return "- When a narrative document disagrees with a structured export, prefer the structured export "
                + "(e.g. ARR from financials/arr_by_month.csv) and name the conflict."
        case .unvalidatedNRR:
            return "- OfflineReport NRR only as computed from customers/cohort_retention.csv; label any management NRR "
                + "figure as an unvalidated estimate."
        case .legalEntityConcentration:
            return "- Judge customer concentration by parent account: roll up legal entities to their parent "
                + "account before computing shares of ARR."
        case .soc2Overstated:
            return "- State SOC 2 status exactly: distinguish a Type I report from a Type II report and never "
                + "write that SOC 2 is complete when only Type I is issued."
        case .brokenArtifacts:
            return nil
        }
    }

    /// The tools that must be enabled to prevent this mode (only mode 5).
    public var toolsToEnable: [String] { self == .brokenArtifacts ? ["check_citations", "validate_artifacts"] : [] }
}

/// One question of the task set.
public struct ExampleQuestion: Sendable, Hashable, Codable {
    /// Stable id (`q01` …).
    public var id: String
    /// The question put to the agent.
    public var question: String
    /// The topic (`arr`, `nrr`, `concentration`, `security`, `memo`, `pipeline`, `legal`, …).
    public var topic: String
}

/// The embedded example's project scaffold: `loop.yaml`, `rules.yaml`, the data room, the task set, harness v1 and
/// the cycle-1 human feedback. The files shipped as the target's resources (`Resources/example/`) are the single
/// source: everything here reads them.
public enum ExampleScaffold {
    /// Writes every file of the scaffold into `folder`, creating folders as needed and overwriting these files.
    /// - Throws: file-system errors.
    public static func write(to folder: URL) throws {
        for (path, data) in try resourceFiles() {
            try FileManager.default.createDirectory(
                at: folder.appendingPathComponent(path).deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: folder.appendingPathComponent(path), options: .atomic)
        }
    }

    /// The shipped folder of the example.
    static var resourceFolder: URL {
        get throws {
            guard let url = Bundle.module.url(forResource: "example", withExtension: nil) else {
                throw HarnessError(file: "Resources/example", line: nil, field: nil, reason: "the example's resources are missing from this build")
            }
            return url
        }
    }

    /// Every file of the scaffold: relative path → bytes.
    public static func resourceFiles() throws -> [String: Data] {
        let root = try resourceFolder.resolvingSymlinksInPath()
        var out: [String: Data] = [:]
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey]) else { return out }
        for case let url as URL in walker where (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
            let rel = String(url.resolvingSymlinksInPath().path.dropFirst(root.path.count + 1))
            out[rel] = try Data(contentsOf: url)
        }
        return out
    }

    /// Every text file of the scaffold: relative path → contents.
    public static func files() -> [String: String] {
        ((try? resourceFiles()) ?? [:]).mapValues { String(decoding: $0, as: UTF8.self) }
    }

    /// One shipped file as text (empty when missing).
    static func text(_ path: String) -> String {
        guard let url = try? resourceFolder.appendingPathComponent(path), let data = FileManager.default.contents(atPath: url.path) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }

    /// Where the cycle-1 human feedback is written, relative to the scaffold folder.
    public static let feedbackPath = "feedback/cycle-1-human.jsonl"

    /// The task set (from the shipped `tasks/questions.yaml`): the first five are the default questions; with the
    /// twelve after them they form the bank that `--tasks N` draws from (the first N).
    public static let questions: [ExampleQuestion] = {
        guard let node = try? Yams.compose(yaml: text("tasks/questions.yaml")), let list = node.mapping?["questions"]?.sequence else { return [] }
        return list.compactMap { item in
            guard let m = item.mapping, let id = m["id"]?.string, let q = m["question"]?.string else { return nil }
            return ExampleQuestion(id: id, question: q, topic: m["topic"]?.string ?? "")
        }
    }()

    /// The number of default questions (`flywheel run` without `--tasks`).
    public static let defaultQuestionCount = 5

    /// Harness v1 (deliberately incomplete): file name under `harness/` → contents.
    public static func harnessV1Files() -> [String: String] {
        var out: [String: String] = [:]
        for (path, text) in files() where path.hasPrefix("harness/") { out[String(path.dropFirst("harness/".count))] = text }
        return out
    }

    /// The system prompt of harness v1: no rule about narratives vs exports, NRR, parent rollups or SOC 2 types.
    public static let instructionsV1 = text("harness/instructions.md")

    /// The instructions of v1 plus the rules for `modes` (the "fixed" harness the demo converges to).
    public static func instructions(withRulesFor modes: [ExampleFailureMode]) -> String {
        let rules = modes.sorted { $0.rawValue < $1.rawValue }.compactMap(\.instructionRule)
        guard !rules.isEmpty else { return instructionsV1 }
        return instructionsV1 + "## Evidence rules\n\n" + rules.joined(separator: "\n") + "\n"
    }

    /// The cycle-1 human feedback as shipped (JSONL).
    public static func cycle1FeedbackJSONL() -> String { text(feedbackPath) }

    /// The cycle-1 records as JSON values.
    public static let cycle1Feedback: [JSONValue] = cycle1FeedbackJSONL().split(separator: "\n").compactMap { try? JSONValue.parse(String($0)) }

    // MARK: - Writing

    /// Writes UTF-8 text, creating parent folders.
    static func writeText(_ text: String, to url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url, options: .atomic)
    }
}
