import FlywheelSupport
import Foundation
import FlywheelModels

/// What one agent run left behind: the artifacts under `outputs/<trace_id>/`, as text.
public struct RunArtifacts: Sendable, Hashable {
    public var traceID: String
    /// The task's question, when known (from `task.json`).
    public var question: String?
    /// The task's id, when known.
    public var taskID: String?
    /// Artifact file name (`final_answer.md`, `task.json`, and whatever the agent wrote) → its text.
    public var files: [String: String]
    /// The run's tool calls in trace order (empty when the critic was given no spans).
    public var toolCalls: [ToolCall]

    /// One TOOL span of the run.
    public struct ToolCall: Sendable, Hashable {
        public var name: String
        public var input: String
        public var failed: Bool
        public var spanID: String
        public init(name: String, input: String, failed: Bool, spanID: String) {
            self.name = name
            self.input = input
            self.failed = failed
            self.spanID = spanID
        }
    }

    public init(traceID: String, question: String? = nil, taskID: String? = nil, files: [String: String], toolCalls: [ToolCall] = []) {
        self.traceID = traceID
        self.question = question
        self.taskID = taskID
        self.files = files
        self.toolCalls = toolCalls
    }

    /// Reads every regular file of `outputs/<trace_id>/` (non-recursive); `question` from `task.json` when present.
    public static func load(from directory: URL, traceID: String? = nil) throws -> RunArtifacts {
        let fm = FileManager.default
        var files: [String: String] = [:]
        for name in try fm.contentsOfDirectory(atPath: directory.path) {
            let url = directory.appendingPathComponent(name)
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: url.path, isDirectory: &isDir), !isDir.boolValue else { continue }
            files[name] = String(decoding: try Data(contentsOf: url), as: UTF8.self)
        }
        var question: String?
        var taskID: String?
        if let task = files[RunFiles.task], let v = try? JSONValue.parse(task) {
            question = v["question"]?.stringValue
            taskID = v["task_id"]?.stringValue ?? v["question_id"]?.stringValue
        }
        return RunArtifacts(traceID: traceID ?? directory.lastPathComponent, question: question, taskID: taskID, files: files)
    }
}
