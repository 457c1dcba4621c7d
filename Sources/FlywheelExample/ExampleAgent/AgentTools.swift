import Flywheel
import FlywheelSupport
import FlywheelTraces
import Foundation

/// A tool call that failed. The agent loop feeds it back to the model as a non-fatal tool error
/// (`An error occurred while running the tool. Please try again. Error: <message>`) and keeps going.
public struct ToolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A short class name for traces' `error.type` (e.g. `FileNotFoundError`, `PathEscapeError`).
    public var type: String
    /// What went wrong (the model sees it after the HALO error prefix).
    public var message: String
    /// True when the call could not even be made (undecodable arguments): HALO's "Error running tool".
    public var isInvalidCall: Bool

    public init(type: String, message: String, isInvalidCall: Bool = false) {
        self.type = type
        self.message = message
        self.isInvalidCall = isInvalidCall
    }

    public var description: String { message }

    /// The text the model receives.
    public var modelText: String { "An error occurred while running the tool. Please try again. Error: \(message)" }
}

/// One problem found by `validate_artifacts`.
public struct ArtifactProblem: Sendable, Hashable, CustomStringConvertible {
    /// What is wrong with the artifact.
    public enum Kind: String, Sendable, Hashable { case missing, unparsable, missingKeys = "missing_keys", badHeader = "bad_header", empty }
    /// Artifact path relative to the output folder.
    public var path: String
    /// The kind of problem.
    public var kind: Kind
    /// Human-readable detail.
    public var detail: String
    public var description: String { "\(path): \(kind.rawValue): \(detail)" }
}

/// One problem found by `check_citations`.
public struct CitationProblem: Sendable, Hashable, CustomStringConvertible {
    /// What is wrong with the citation.
    public enum Kind: String, Sendable, Hashable {
        case unreadable, noSuchFile = "no_such_file", quoteNotFound = "quote_not_found", malformed
    }
    /// 0-based index of the citation in the array (-1 for the whole file).
    public var index: Int
    /// The cited path (empty when missing).
    public var path: String
    /// The kind of problem.
    public var kind: Kind
    /// Human-readable detail.
    public var detail: String
    public var description: String { index < 0 ? "\(kind.rawValue): \(detail)" : "citation \(index) (\(path)): \(kind.rawValue): \(detail)" }
}

/// The tools over a data room and one run's output folder. All paths are confined: reads to the data room,
/// writes to the output folder (absolute paths, `..`, and symlinks leading outside are rejected).
public struct AgentToolbox: Sendable {
    /// The data room (read-only for the agent).
    public let dataRoom: URL
    /// The run's output folder (`outputs/<trace_id>/`).
    public let outputDirectory: URL
    /// Required artifacts (from `output.yaml`), for `validate_artifacts`.
    public let artifacts: [ArtifactSpec]

    /// `read_file` returns at most this many UTF-8 bytes of a file (then a truncation note), so one huge file
    /// cannot flood the model's context or the trace.
    public var maxReadBytes: Int

    public init(dataRoom: URL, outputDirectory: URL, artifacts: [ArtifactSpec], maxReadBytes: Int = 200_000) {
        self.dataRoom = dataRoom.standardizedFileURL
        self.outputDirectory = outputDirectory.standardizedFileURL
        self.artifacts = artifacts
        self.maxReadBytes = maxReadBytes
    }

    /// Runs one tool with its JSON argument text.
    /// - Returns: the tool's output text.
    /// - Throws: `ToolError` (fed back to the model).
    public func run(_ name: String, arguments: String) throws(ToolError) -> String {
        guard let tool = AgentToolName(rawValue: name) else {
            throw ToolError(type: "UnknownToolError", message: "unknown tool '\(name)'", isInvalidCall: true)
        }
        let args: [String: JSONValue]
        let trimmed = arguments.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty {
            args = [:]
        } else {
            guard let parsed = try? JSONValue.parse(trimmed), let object = parsed.objectValue else {
                throw ToolError(type: "ArgumentsError", message: "arguments are not a JSON object", isInvalidCall: true)
            }
            args = object.dictionary
        }
        func string(_ key: String) throws(ToolError) -> String {
            guard let s = args[key]?.stringValue else {
                throw ToolError(type: "ArgumentsError", message: "missing string argument '\(key)'", isInvalidCall: true)
            }
            return s
        }
        switch tool {
        case .listFiles: return try listFiles()
        case .readFile:
            let text = try readFile(string("path"))
            guard text.utf8.count > maxReadBytes else { return text }
            let head = String(decoding: Array(text.utf8.prefix(maxReadBytes)), as: UTF8.self)
            return head + "\n[truncated: the file has \(text.utf8.count) bytes; use search_files to find a passage]"
        case .searchFiles: return try searchFiles(string("query"))
        case .writeArtifact: return try writeArtifact(string("path"), content: string("content"))
        case .checkCitations: return checkCitationsReport(args["artifact"]?.stringValue ?? "citations.json")
        case .validateArtifacts: return validateArtifactsReport()
        }
    }

    // MARK: - Reading the data room

    /// Every regular file of the data room, relative paths sorted.
    public func dataRoomFiles() -> [String] {
        guard let e = FileManager.default.enumerator(at: dataRoom, includingPropertiesForKeys: [.isRegularFileKey]) else { return [] }
        var out: [String] = []
        let root = dataRoom.resolvingSymlinksInPath().path
        for case let url as URL in e {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
            let full = url.resolvingSymlinksInPath().path
            guard full.hasPrefix(root + "/") else { continue }
            out.append(String(full.dropFirst(root.count + 1)))
        }
        return out.sorted()
    }

    /// `list_files`: one line per file, `path<TAB>kind<TAB>bytes` (kind from manifest.json when present).
    func listFiles() throws(ToolError) -> String {
        let kinds = manifestKinds()
        var lines: [String] = []
        for path in dataRoomFiles() {
            let size = (try? FileManager.default.attributesOfItem(atPath: dataRoom.appendingPathComponent(path).path)[.size] as? Int) ?? 0
            lines.append("\(path)\t\(kinds[path] ?? (path == "manifest.json" ? "manifest" : "unknown"))\t\(size)")
        }
        return lines.joined(separator: "\n")
    }

    /// Kinds listed in the data room's manifest.json.
    func manifestKinds() -> [String: String] {
        guard let data = FileManager.default.contents(atPath: dataRoom.appendingPathComponent("manifest.json").path),
            let files = (try? JSONValue.parse(data))?["files"]?.arrayValue
        else { return [:] }
        var out: [String: String] = [:]
        for f in files {
            if let p = f["path"]?.stringValue, let k = f["kind"]?.stringValue { out[p] = k }
        }
        return out
    }

    /// `read_file`.
    func readFile(_ path: String) throws(ToolError) -> String {
        let url = try PathConfinement.resolve(path, under: dataRoom, forWriting: false)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), !isDir.boolValue,
            let data = FileManager.default.contents(atPath: url.path)
        else { throw ToolError(type: "FileNotFoundError", message: "no such file: \(path)") }
        return String(decoding: data, as: UTF8.self)
    }

    /// `search_files`: up to 50 matching lines as `path:line: text`.
    func searchFiles(_ query: String) throws(ToolError) -> String {
        let needle = query.lowercased()
        guard !needle.isEmpty else { throw ToolError(type: "ArgumentsError", message: "empty query") }
        var hits: [String] = []
        for path in dataRoomFiles() {
            guard let data = FileManager.default.contents(atPath: dataRoom.appendingPathComponent(path).path) else { continue }
            for (i, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where line.lowercased().contains(needle) {
                hits.append("\(path):\(i + 1): \(line)")
                if hits.count == 50 { return hits.joined(separator: "\n") + "\n(more matches not shown)" }
            }
        }
        return hits.isEmpty ? "no matches for '\(query)'" : hits.joined(separator: "\n")
    }

    // MARK: - Writing artifacts

    /// `write_artifact`: writes inside the output folder only.
    func writeArtifact(_ path: String, content: String) throws(ToolError) -> String {
        let url = try PathConfinement.resolve(path, under: outputDirectory, forWriting: true)
        do {
            try Data(content.utf8).write(to: url)
        } catch {
            throw ToolError(type: "WriteError", message: "could not write \(path): \(error.localizedDescription)")
        }
        return "wrote \(path) (\(content.utf8.count) bytes)"
    }

    // MARK: - Validation tools

    /// `check_citations` as text for the model.
    func checkCitationsReport(_ artifact: String) -> String {
        let problems = checkCitations(artifact: artifact)
        if problems.isEmpty {
            let count = (try? citations(artifact: artifact).count) ?? 0
            return "OK: \(count) citations verified against the data room."
        }
        return "FAILED: \(problems.count) problem(s)\n" + problems.map(\.description).joined(separator: "\n")
    }

    private func citations(artifact: String) throws -> [JSONValue] {
        let url = try PathConfinement.resolve(artifact, under: outputDirectory, forWriting: false)
        guard let data = FileManager.default.contents(atPath: url.path) else { throw ToolError(type: "FileNotFoundError", message: "missing") }
        guard let array = try JSONValue.parse(data).arrayValue else { throw ToolError(type: "FormatError", message: "not an array") }
        return array
    }

    /// Checks each citation of `artifact` (default `citations.json`): its path exists in the data room and
    /// its quote occurs verbatim in that file.
    public func checkCitations(artifact: String = "citations.json") -> [CitationProblem] {
        let url: URL
        do {
            url = try PathConfinement.resolve(artifact, under: outputDirectory, forWriting: false)
        } catch {
            return [CitationProblem(index: -1, path: artifact, kind: .unreadable, detail: error.message)]
        }
        guard let data = FileManager.default.contents(atPath: url.path) else {
            return [CitationProblem(index: -1, path: artifact, kind: .unreadable, detail: "\(artifact) does not exist")]
        }
        guard let parsed = try? JSONValue.parse(data), let array = parsed.arrayValue else {
            return [CitationProblem(index: -1, path: artifact, kind: .unreadable, detail: "\(artifact) is not a JSON array")]
        }
        var problems: [CitationProblem] = []
        for (i, c) in array.enumerated() {
            guard let path = c["path"]?.stringValue, let quote = c["quote"]?.stringValue else {
                problems.append(CitationProblem(index: i, path: "", kind: .malformed, detail: "needs string 'path' and 'quote'"))
                continue
            }
            guard let text = try? readFile(path) else {
                problems.append(CitationProblem(index: i, path: path, kind: .noSuchFile, detail: "no such file in the data room"))
                continue
            }
            if quote.isEmpty || !text.contains(quote) {
                problems.append(CitationProblem(index: i, path: path, kind: .quoteNotFound, detail: "quote not found: \"\(quote)\""))
            }
        }
        return problems
    }

    /// `validate_artifacts` as text for the model.
    func validateArtifactsReport() -> String {
        let problems = validateArtifacts()
        if problems.isEmpty { return "OK: all \(artifacts.count) artifacts exist and parse." }
        return "FAILED: \(problems.count) problem(s)\n" + problems.map(\.description).joined(separator: "\n")
    }

    /// Checks every required artifact: it exists, and parses per its format.
    public func validateArtifacts() -> [ArtifactProblem] {
        ArtifactValidator.validate(outputDirectory: outputDirectory, specs: artifacts)
    }
}

/// Validates a run's artifacts against `output.yaml` (also used by tests and evals).
public enum ArtifactValidator {
    /// Problems of the artifacts in `outputDirectory`, in spec order; empty when all are fine.
    public static func validate(outputDirectory: URL, specs: [ArtifactSpec]) -> [ArtifactProblem] {
        var problems: [ArtifactProblem] = []
        for spec in specs {
            guard let data = FileManager.default.contents(atPath: outputDirectory.appendingPathComponent(spec.path).path) else {
                problems.append(ArtifactProblem(path: spec.path, kind: .missing, detail: "not written"))
                continue
            }
            if let p = validate(data: data, spec: spec) { problems.append(p) }
        }
        return problems
    }

    /// The problem of one artifact's bytes, or nil.
    public static func validate(data: Data, spec: ArtifactSpec) -> ArtifactProblem? {
        let text = String(decoding: data, as: UTF8.self)
        switch spec.format {
        case .markdown:
            if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                return ArtifactProblem(path: spec.path, kind: .empty, detail: "empty Markdown")
            }
        case .jsonArray:
            guard let value = try? JSONValue.parse(data), let array = value.arrayValue else {
                return ArtifactProblem(path: spec.path, kind: .unparsable, detail: "not a JSON array")
            }
            if array.isEmpty { return ArtifactProblem(path: spec.path, kind: .empty, detail: "empty array") }
            for (i, element) in array.enumerated() {
                guard let object = element.objectValue else {
                    return ArtifactProblem(path: spec.path, kind: .missingKeys, detail: "element \(i) is not an object")
                }
                let missing = spec.requiredKeys.filter { object[$0] == nil }
                if !missing.isEmpty {
                    return ArtifactProblem(
                        path: spec.path, kind: .missingKeys, detail: "element \(i) lacks \(missing.joined(separator: ", "))")
                }
            }
        case .csv:
            let firstLine = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let header = firstLine.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            if !spec.header.isEmpty && header != spec.header {
                return ArtifactProblem(
                    path: spec.path, kind: .badHeader, detail: "header is '\(firstLine)', expected '\(spec.header.joined(separator: ","))'")
            }
            if text.split(separator: "\n").count < 2 { return ArtifactProblem(path: spec.path, kind: .empty, detail: "no rows") }
        }
        return nil
    }
}

/// Keeps tool paths inside a root folder.
public enum PathConfinement {
    /// Resolves `path` (relative, forward slashes) under `root`.
    /// Rejects empty and absolute paths, `..` components, and paths whose existing part resolves (through
    /// symlinks) outside `root`. When `forWriting`, creates missing parent folders (inside `root` only) and
    /// rejects a final component that is a symlink.
    /// - Throws: `ToolError` of type `PathEscapeError`.
    public static func resolve(_ path: String, under root: URL, forWriting: Bool) throws(ToolError) -> URL {
        func escape(_ why: String) -> ToolError { ToolError(type: "PathEscapeError", message: "path '\(path)' rejected: \(why)") }
        guard !path.isEmpty else { throw escape("empty path") }
        guard !path.hasPrefix("/"), !path.hasPrefix("~"), !path.contains("\\"), !path.contains("\0") else {
            throw escape("only paths relative to the folder are allowed")
        }
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard !parts.isEmpty else { throw escape("empty path") }
        if parts.contains("..") { throw escape("'..' is not allowed") }
        let components = parts.filter { $0 != "." }
        guard !components.isEmpty else { throw escape("not a file path") }
        let fm = FileManager.default
        if forWriting {
            do { try fm.createDirectory(at: root, withIntermediateDirectories: true) } catch {
                throw ToolError(type: "WriteError", message: "cannot create output folder: \(error.localizedDescription)")
            }
        }
        let realRoot = root.resolvingSymlinksInPath().path
        var url = root
        for (i, component) in components.enumerated() {
            url.appendPathComponent(component)
            let isLast = i == components.count - 1
            let attrs = try? fm.attributesOfItem(atPath: url.path)
            if attrs?[.type] as? FileAttributeType == .typeSymbolicLink {
                if forWriting && isLast { throw escape("the target is a symbolic link") }
                let real = url.resolvingSymlinksInPath().path
                if real != realRoot && !real.hasPrefix(realRoot + "/") { throw escape("a symbolic link leads outside the folder") }
            }
            if forWriting && !isLast && attrs == nil {
                do { try fm.createDirectory(at: url, withIntermediateDirectories: false) } catch {
                    throw ToolError(type: "WriteError", message: "cannot create folder for \(path): \(error.localizedDescription)")
                }
            }
        }
        let real = url.resolvingSymlinksInPath().path
        if real != realRoot && !real.hasPrefix(realRoot + "/") && fm.fileExists(atPath: url.path) {
            throw escape("resolves outside the folder")
        }
        return url
    }
}
