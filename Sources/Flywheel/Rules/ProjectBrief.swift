import FlywheelSupport
import Foundation

/// What a model stage is told about the project: its name and description (loop.yaml `project`, `description`), the
/// agent's main instructions (a harness file), and the project's own categories (its rules). Every model prompt of
/// the loop (critic, eval generation, diagnosis) is built from this, so no domain is baked into the core.
public struct ProjectBrief: Sendable, Hashable {
    public var name: String
    public var description: String?
    /// The harness path of the main instructions file (`harness/AGENTS.md`), when the harness has one.
    public var instructionsPath: String?
    /// Its text, clipped.
    public var instructions: String?
    /// The project's own categories (critic rules and topics), in rules order.
    public var categories: [String]

    public init(name: String, description: String? = nil, instructionsPath: String? = nil, instructions: String? = nil, categories: [String] = []) {
        self.name = name
        self.description = description
        self.instructionsPath = instructionsPath
        self.instructions = instructions
        self.categories = categories
    }

    /// The brief of a loop: loop.yaml's project and description, the harness's main instructions, the rules' categories.
    public init(config: LoopConfig, harness: HarnessFiles, rules: ProjectRules, maxInstructionChars: Int = 4000) {
        let path = harness.mainInstructionsPath(declared: config.instructions)
        var categories: [String] = []
        for c in rules.critic.map(\.category) + rules.topics.flatMap(\.categories) where !categories.contains(c) { categories.append(c) }
        self.init(
            name: config.project, description: config.description, instructionsPath: path,
            instructions: path.flatMap { harness.files[$0] }.map { Excerpt.clip($0, maxInstructionChars) }, categories: categories)
    }

    /// A paragraph introducing the project, for a system prompt.
    public var context: String {
        var s = "The project is \"\(name)\"."
        if let description, !description.isEmpty { s += " " + description }
        if !categories.isEmpty {
            s += " The team files problems under these categories: " + categories.joined(separator: ", ") + "; use one of them when it fits."
        }
        if let instructions, let instructionsPath {
            s += "\n\nThe agent's instructions (\(instructionsPath)):\n<<<\n\(instructions)\n>>>"
        }
        return s
    }
}

extension HarnessFiles {
    /// Names a harness file commonly holds the agent's main instructions under, most specific first.
    static let instructionNames = [
        "agents.md", "claude.md", "instructions.md", "system_prompt.md", "system-prompt.md", "prompt.md", "system.md",
        "instructions.txt", "system_prompt.txt", "prompt.txt",
    ]

    /// The harness path (`harness/…`) of the agent's main instructions: `declared` (loop.yaml `instructions`, relative
    /// to the harness or with its `harness/` prefix) when it exists, else a file with a usual name, else the largest
    /// Markdown file; nil for a harness without one.
    public func mainInstructionsPath(declared: String? = nil) -> String? {
        if let declared {
            for candidate in [declared, "harness/" + declared] where files[candidate] != nil { return candidate }
        }
        let paths = files.keys.sorted(by: byteOrder)
        for name in Self.instructionNames {
            if let p = paths.first(where: { ($0 as NSString).lastPathComponent.lowercased() == name }) { return p }
        }
        return paths.filter { $0.lowercased().hasSuffix(".md") }.max { (files[$0]?.utf8.count ?? 0, $1) < (files[$1]?.utf8.count ?? 0, $0) }
    }
}
