import Flywheel
import FlywheelSupport
import Foundation
import Yams
import FlywheelModels

/// The tools the analyst agent knows.
public enum AgentToolName: String, Sendable, CaseIterable, Codable {
    case listFiles = "list_files"
    case readFile = "read_file"
    case searchFiles = "search_files"
    case writeArtifact = "write_artifact"
    case checkCitations = "check_citations"
    case validateArtifacts = "validate_artifacts"

    /// The description offered to the model when `tools.yaml` gives none.
    public var defaultDescription: String {
        switch self {
        case .listFiles: return "List the data room's files with their kind (structured or narrative) and size."
        case .readFile: return "Read one data-room file by its path relative to the data room."
        case .searchFiles: return "Search every data-room file for a phrase (case-insensitive); returns path:line: text."
        case .writeArtifact: return "Write one artifact (a path relative to the run's output folder) with the given content."
        case .checkCitations:
            return "Check citations.json: every cited path exists in the data room and its quote appears in that file."
        case .validateArtifacts:
            return "Check that all required artifacts exist and parse (JSON arrays with required keys, CSV header, non-empty Markdown)."
        }
    }

    /// JSON Schema of the tool's arguments.
    public var parameters: JSONValue {
        switch self {
        case .listFiles, .validateArtifacts:
            return ["type": "object", "properties": [:], "additionalProperties": false]
        case .readFile:
            return [
                "type": "object", "properties": ["path": ["type": "string"]], "required": ["path"],
                "additionalProperties": false,
            ]
        case .searchFiles:
            return [
                "type": "object", "properties": ["query": ["type": "string"]], "required": ["query"],
                "additionalProperties": false,
            ]
        case .writeArtifact:
            return [
                "type": "object",
                "properties": ["path": ["type": "string"], "content": ["type": "string"]],
                "required": ["path", "content"], "additionalProperties": false,
            ]
        case .checkCitations:
            return [
                "type": "object", "properties": ["artifact": ["type": "string"]], "additionalProperties": false,
            ]
        }
    }
}

/// One required artifact of `harness/output.yaml`.
public struct ArtifactSpec: Sendable, Hashable, Codable {
    /// Format of an artifact.
    public enum Format: String, Sendable, Hashable, Codable {
        case markdown
        /// A JSON array of objects, each with `requiredKeys`.
        case jsonArray = "json_array"
        /// CSV whose first line is `header`.
        case csv
    }
    /// Path relative to the run's output folder.
    public var path: String
    /// How the artifact is checked.
    public var format: Format
    /// For `json_array`: keys every element must have.
    public var requiredKeys: [String]
    /// For `csv`: the exact header columns.
    public var header: [String]
    public var description: String

    public init(path: String, format: Format, requiredKeys: [String] = [], header: [String] = [], description: String = "") {
        self.path = path
        self.format = format
        self.requiredKeys = requiredKeys
        self.header = header
        self.description = description
    }
}

/// One entry of `harness/tools.yaml`.
public struct HarnessTool: Sendable, Hashable {
    /// The tool.
    public var name: AgentToolName
    /// Whether the model is offered the tool.
    public var enabled: Bool
    /// The description offered to the model.
    public var description: String

    public init(name: AgentToolName, enabled: Bool, description: String? = nil) {
        self.name = name
        self.enabled = enabled
        self.description = description ?? name.defaultDescription
    }
}

/// A harness folder read into values: system prompt, tools, required artifacts, model settings.
public struct Harness: Sendable, Hashable {
    /// `instructions.md`: the system prompt.
    public var instructions: String
    /// `tools.yaml`, in file order.
    public var tools: [HarnessTool]
    /// `output.yaml`.
    public var artifacts: [ArtifactSpec]
    /// `model.yaml` → `model`.
    public var modelName: String
    /// `model.yaml` → `temperature` (nil when absent).
    public var temperature: Double?
    /// `model.yaml` → `max_turns` (model calls allowed per run).
    public var maxTurns: Int

    public init(
        instructions: String, tools: [HarnessTool], artifacts: [ArtifactSpec], modelName: String,
        temperature: Double?, maxTurns: Int
    ) {
        self.instructions = instructions
        self.tools = tools
        self.artifacts = artifacts
        self.modelName = modelName
        self.temperature = temperature
        self.maxTurns = maxTurns
    }

    /// The tools offered to the model (enabled ones, in file order).
    public var enabledTools: [AgentToolName] { tools.filter(\.enabled).map(\.name) }

    /// The tool definitions offered to the model.
    public var toolDefinitions: [ToolDefinition] {
        tools.filter(\.enabled).map {
            ToolDefinition(name: $0.name.rawValue, description: $0.description, parameters: $0.name.parameters)
        }
    }

    /// Reads `instructions.md`, `tools.yaml`, `output.yaml` and `model.yaml` from `folder`.
    /// - Throws: `HarnessError` naming the file, line (when known) and field.
    public static func load(from folder: URL) throws(HarnessError) -> Harness {
        func read(_ name: String) throws(HarnessError) -> String {
            let url = folder.appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw HarnessError(file: name, line: nil, field: nil, reason: "file not found at \(url.path)")
            }
            return String(decoding: data, as: UTF8.self)
        }
        return try parse(
            instructions: read("instructions.md"), toolsYAML: read("tools.yaml"), outputYAML: read("output.yaml"),
            modelYAML: read("model.yaml"))
    }

    /// Builds a harness from the texts of its four files.
    /// - Throws: `HarnessError` naming the file and field.
    public static func parse(instructions: String, toolsYAML: String, outputYAML: String, modelYAML: String)
        throws(HarnessError) -> Harness
    {
        let toolsDoc = try yamlMapping(toolsYAML, file: "tools.yaml")
        guard let toolList = toolsDoc["tools"] as? [Any] else {
            throw HarnessError(file: "tools.yaml", line: nil, field: "tools", reason: "expected a list of tools")
        }
        var tools: [HarnessTool] = []
        for (i, item) in toolList.enumerated() {
            let field = "tools[\(i)]"
            guard let m = item as? [String: Any], let name = m["name"] as? String else {
                throw HarnessError(file: "tools.yaml", line: nil, field: field + ".name", reason: "expected a tool name")
            }
            guard let tool = AgentToolName(rawValue: name) else {
                throw HarnessError(
                    file: "tools.yaml", line: nil, field: field + ".name",
                    reason: "unknown tool '\(name)' (known: \(AgentToolName.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            let enabled: Bool
            switch m["enabled"] {
            case nil: enabled = true
            case let b as Bool: enabled = b
            default:
                throw HarnessError(file: "tools.yaml", line: nil, field: field + ".enabled", reason: "expected true or false")
            }
            let description = (m["description"] as? String) ?? tool.defaultDescription
            tools.append(HarnessTool(name: tool, enabled: enabled, description: description))
        }

        let outputDoc = try yamlMapping(outputYAML, file: "output.yaml")
        guard let artifactList = outputDoc["artifacts"] as? [Any] else {
            throw HarnessError(file: "output.yaml", line: nil, field: "artifacts", reason: "expected a list of artifacts")
        }
        var artifacts: [ArtifactSpec] = []
        for (i, item) in artifactList.enumerated() {
            let field = "artifacts[\(i)]"
            guard let m = item as? [String: Any], let path = m["path"] as? String, !path.isEmpty else {
                throw HarnessError(file: "output.yaml", line: nil, field: field + ".path", reason: "expected a path")
            }
            guard let formatText = m["format"] as? String, let format = ArtifactSpec.Format(rawValue: formatText) else {
                throw HarnessError(
                    file: "output.yaml", line: nil, field: field + ".format",
                    reason: "expected markdown, json_array or csv")
            }
            artifacts.append(
                ArtifactSpec(
                    path: path, format: format, requiredKeys: (m["required_keys"] as? [Any])?.compactMap { $0 as? String } ?? [],
                    header: (m["header"] as? [Any])?.compactMap { $0 as? String } ?? [],
                    description: (m["description"] as? String) ?? ""))
        }

        let modelDoc = try yamlMapping(modelYAML, file: "model.yaml")
        guard let modelName = modelDoc["model"] as? String, !modelName.isEmpty else {
            throw HarnessError(file: "model.yaml", line: nil, field: "model", reason: "expected a model name")
        }
        var temperature: Double?
        switch modelDoc["temperature"] {
        case nil: temperature = nil
        case let d as Double: temperature = d
        case let i as Int: temperature = Double(i)
        default: throw HarnessError(file: "model.yaml", line: nil, field: "temperature", reason: "expected a number")
        }
        var maxTurns = 12
        switch modelDoc["max_turns"] {
        case nil: break
        case let i as Int where i > 0: maxTurns = i
        default: throw HarnessError(file: "model.yaml", line: nil, field: "max_turns", reason: "expected a positive integer")
        }
        return Harness(
            instructions: instructions, tools: tools, artifacts: artifacts, modelName: modelName,
            temperature: temperature, maxTurns: maxTurns)
    }

    private static func yamlMapping(_ text: String, file: String) throws(HarnessError) -> [String: Any] {
        let value: Any?
        do {
            try YAMLLimits.check(text, file: file)
            value = try Yams.load(yaml: text)
        } catch let error as YAMLLimits.Exceeded {
            throw HarnessError(file: file, line: error.line, field: nil, reason: error.reason)
        } catch let error as YamlError {
            var line: Int?
            if case .scanner(_, _, let mark, _) = error { line = mark.line }
            if case .parser(_, _, let mark, _) = error { line = mark.line }
            throw HarnessError(file: file, line: line, field: nil, reason: "invalid YAML: \(error)")
        } catch {
            throw HarnessError(file: file, line: nil, field: nil, reason: "invalid YAML: \(error)")
        }
        guard let mapping = value as? [String: Any] else {
            throw HarnessError(file: file, line: nil, field: nil, reason: "expected a mapping at the top level")
        }
        return mapping
    }
}

/// A harness file that could not be read.
public struct HarnessError: Error, Sendable, CustomStringConvertible, Equatable {
    /// File name inside the harness folder.
    public var file: String
    /// 1-based line, when the YAML parser knows it.
    public var line: Int?
    /// The field, e.g. `tools[3].enabled`.
    public var field: String?
    /// What is wrong.
    public var reason: String

    public var description: String {
        var s = "harness/\(file)"
        if let line { s += ":\(line)" }
        if let field { s += " [\(field)]" }
        return s + ": " + reason
    }
}
