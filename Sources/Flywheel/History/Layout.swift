import Foundation

/// Where things live in the artifact repository (see loop-history/README.md).
public enum Layout {
    public static let loopConfig = "loop.yaml"
    public static let harness = "harness"
    public static let suite = "evals/promptfooconfig.yaml"
    public static let cycles = "cycles"

    /// `cycles/0003`
    public static func cycleFolder(_ number: Int) -> String { "\(cycles)/\(cycleName(number))" }
    /// `0003`
    public static func cycleName(_ number: Int) -> String { String(format: "%04d", number) }
    /// `cycle-0003`, the tag of a closed cycle.
    public static func cycleTag(_ number: Int) -> String { "cycle-\(cycleName(number))" }
    /// `cycles/0003/<name>`
    public static func cycleFile(_ number: Int, _ name: String) -> String { "\(cycleFolder(number))/\(name)" }

    /// The files of a cycle folder.
    public enum CycleFile {
        public static let cycle = "cycle.json"
        public static let traces = "traces.jsonl"
        public static let outputs = "outputs"
        public static let feedback = "feedback.jsonl"
        public static let evals = "evals.yaml"
        public static let results = "results.json"
        public static let diagnosis = "diagnosis.json"
        public static let handoff = "handoff.md"
        /// The project's rules file as the cycle ran it (snapshotted at cycle start).
        public static let rules = "rules.yaml"
        /// loop.yaml as the cycle ran it (snapshotted at cycle start).
        public static let loopConfig = "loop.yaml"
        /// The task set file as the cycle ran it: `tasks/<its file name>`.
        public static let tasks = "tasks"
    }

    /// The cycle number a repository path belongs to (`cycles/0003/x` → 3), nil outside cycle folders.
    public static func cycleNumber(ofPath path: String) -> Int? {
        let parts = path.split(separator: "/", maxSplits: 2)
        guard parts.count >= 2, parts[0] == cycles else { return nil }
        return Int(parts[1])
    }

    /// Normalises a ref name: `main` → `refs/heads/main`; full names stay.
    public static func refName(_ ref: String) -> String {
        ref.hasPrefix("refs/") ? ref : "refs/heads/\(ref)"
    }
}

/// The stages of a cycle, each its own commit (`Flywheel-Stage` trailer).
public enum Stage: String, Sendable, Codable, CaseIterable {
    case initialize = "init"
    case start
    case traces
    case feedback
    case evals
    case results
    case diagnosis
    case handoff
    case close
    /// An explicit removal from the eval suite (`flywheel evals prune`).
    case prune
    /// A harness or configuration edit outside a cycle.
    case config

    /// The stages of one cycle in order: `flywheel loop`'s steps.
    public static let cycle: [Stage] = [.start, .traces, .feedback, .evals, .results, .diagnosis, .handoff, .close]

    /// The stage's name where users see it: progress lines (`[2/8] run`) and error labels (`[run] …`), named for
    /// the command that does it; commits carry `rawValue`, the artifact's name.
    public var step: String {
        switch self {
        case .traces: return "run"
        case .results: return "gate"
        case .diagnosis: return "diagnose"
        default: return rawValue
        }
    }
}
