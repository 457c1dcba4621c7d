import FlywheelSupport
import Foundation
import Yams

/// The task set (`tasks/questions.yaml`): questions the agent runs each cycle.
///
/// ```yaml
/// default_count: 5        # how many run by default (`--tasks N` takes the first N)
/// questions:
///   - id: q01
///     question: "Where is my order A1001?"
///     topic: arr          # optional
/// ```
/// A plain list of strings is accepted too.
public struct TaskSet: Sendable, Hashable {
    /// Where loop.yaml's `tasks` points by default.
    public static let defaultPath = "tasks/questions.yaml"
    public var defaultCount: Int?
    public var tasks: [AgentTask]

    public init(defaultCount: Int? = nil, tasks: [AgentTask]) {
        self.defaultCount = defaultCount
        self.tasks = tasks
    }

    /// The first `count` tasks (default: `default_count`, else all).
    /// - Throws: `ConfigError` when `count` is not between 1 and the bank's size.
    public func selected(_ count: Int?, file: String) throws -> [AgentTask] {
        let n = count ?? defaultCount ?? tasks.count
        guard n >= 1, n <= tasks.count else {
            throw ConfigError(file: file, line: nil, field: "questions", reason: "--tasks \(n): the task set has \(tasks.count) questions")
        }
        return Array(tasks.prefix(n))
    }

    /// Parses the YAML; errors name the file, line and field.
    public static func parse(_ text: String, file: String) throws -> TaskSet {
        let node: Node?
        do { try YAMLLimits.check(text, file: file) } catch let e as YAMLLimits.Exceeded {
            throw ConfigError(file: file, line: e.line, field: nil, reason: e.reason)
        }
        do { node = try Yams.compose(yaml: text) } catch {
            throw ConfigError.from(error, file: file, text: text)
        }
        guard let node else { throw ConfigError(file: file, line: 1, field: nil, reason: "empty task set") }
        var defaultCount: Int?
        var list: Node.Sequence?
        if let seq = node.sequence {
            list = seq
        } else if let map = node.mapping {
            if let dc = map["default_count"] {
                guard let n = dc.int else { throw ConfigError(file: file, line: dc.mark?.line, field: "default_count", reason: "expected an integer") }
                defaultCount = n
            }
            list = map["questions"]?.sequence
            if list == nil { throw ConfigError(file: file, line: node.mark?.line, field: "questions", reason: "required: a list of questions") }
        }
        guard let list else { throw ConfigError(file: file, line: node.mark?.line, field: nil, reason: "expected a mapping with questions: or a list") }
        var tasks: [AgentTask] = []
        var seen = Set<String>()
        for (i, item) in list.enumerated() {
            let field = "questions[\(i)]"
            var id = String(format: "q%02d", i + 1)
            let question: String
            if let s = item.string, item.scalar != nil {
                question = s
            } else if let m = item.mapping {
                guard let q = m["question"]?.string, !q.trimmingCharacters(in: .whitespaces).isEmpty else {
                    throw ConfigError(file: file, line: item.mark?.line, field: field + ".question", reason: "required: a non-empty string")
                }
                question = q
                if let given = m["id"] {
                    guard let s = given.string, !s.isEmpty else { throw ConfigError(file: file, line: given.mark?.line, field: field + ".id", reason: "expected a string") }
                    id = s
                }
            } else {
                throw ConfigError(file: file, line: item.mark?.line, field: field, reason: "expected a question string or a mapping with question:")
            }
            guard seen.insert(id).inserted else { throw ConfigError(file: file, line: item.mark?.line, field: field + ".id", reason: "duplicate id \(id)") }
            tasks.append(AgentTask(id: id, question: question))
        }
        guard !tasks.isEmpty else { throw ConfigError(file: file, line: node.mark?.line, field: "questions", reason: "no questions") }
        return TaskSet(defaultCount: defaultCount, tasks: tasks)
    }

    /// Reads the file.
    public static func load(_ url: URL, name: String) throws -> TaskSet {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ConfigError(file: name, line: nil, field: "tasks", reason: "cannot read \(url.path)")
        }
        return try parse(String(decoding: data, as: UTF8.self), file: name)
    }
}

/// One task of a task set.
public struct AgentTask: Sendable, Hashable, Codable {
    /// Stable id (`q01`, `order-status-3`, any format).
    public var id: String
    /// The question or instruction given to the agent.
    public var question: String

    public init(id: String, question: String) {
        self.id = id
        self.question = question
    }
}
