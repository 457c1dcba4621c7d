import Foundation

/// What one agent run left behind: the artifacts under `outputs/<trace_id>/`, as text.
public struct RunArtifacts: Sendable, Hashable {
    public var traceID: String
    /// The task's question, when known (from `task.json`).
    public var question: String?
    /// Artifact file name (`summary_answer.md`, `citations.json`, …, `final_answer.md`) → its text.
    public var files: [String: String]

    public init(traceID: String, question: String? = nil, files: [String: String]) {
        self.traceID = traceID
        self.question = question
        self.files = files
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
        if let task = files["task.json"], let v = try? JSONValue.parse(task) { question = v["question"]?.stringValue }
        return RunArtifacts(traceID: traceID ?? directory.lastPathComponent, question: question, files: files)
    }
}

/// The data room the agent read: file texts by relative path, and each file's kind (`structured` / `narrative`).
public struct DataRoom: Sendable, Hashable {
    /// Relative path (`financials/arr_by_month.csv`) → text.
    public var files: [String: String]
    /// Relative path → `structured` or `narrative` (from `manifest.json`).
    public var kinds: [String: String]

    public init(files: [String: String], kinds: [String: String] = [:]) {
        self.files = files
        self.kinds = kinds
    }

    /// Reads every file under `directory` recursively; kinds from `manifest.json` (`{"files":[{"path","kind"}]}` or
    /// a bare array of such objects) when present.
    public static func load(from directory: URL) throws -> DataRoom {
        let fm = FileManager.default
        var files: [String: String] = [:]
        let base = directory.standardizedFileURL.path
        if let e = fm.enumerator(at: directory, includingPropertiesForKeys: [.isRegularFileKey]) {
            for case let url as URL in e {
                guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
                var rel = url.standardizedFileURL.path
                if rel.hasPrefix(base) { rel.removeFirst(base.count) }
                while rel.hasPrefix("/") { rel.removeFirst() }
                files[rel] = String(decoding: try Data(contentsOf: url), as: UTF8.self)
            }
        }
        var kinds: [String: String] = [:]
        if let manifest = files["manifest.json"], let v = try? JSONValue.parse(manifest) {
            let list = v["files"]?.arrayValue ?? v.arrayValue ?? []
            for item in list {
                if let p = item["path"]?.stringValue, let k = item["kind"]?.stringValue { kinds[p] = k }
            }
        }
        return DataRoom(files: files, kinds: kinds)
    }

    /// The text at `path`, tolerating `./` and `dataroom/` prefixes.
    public func text(at path: String) -> String? {
        var p = path.trimmingCharacters(in: .whitespaces)
        while p.hasPrefix("./") { p.removeFirst(2) }
        if let t = files[p] { return t }
        if p.hasPrefix("dataroom/"), let t = files[String(p.dropFirst("dataroom/".count))] { return t }
        return nil
    }
}

/// Text normalised for quote matching: lowercased, curly quotes straightened, whitespace runs collapsed.
func normalizedForQuote(_ text: String) -> String {
    var out = ""
    var space = false
    for ch in text.lowercased() {
        let c: Character
        switch ch {
        case "\u{2018}", "\u{2019}": c = "'"
        case "\u{201C}", "\u{201D}": c = "\""
        case "\u{2013}", "\u{2014}": c = "-"
        default: c = ch
        }
        if c.isWhitespace {
            if !space { out.append(" ") }
            space = true
        } else {
            out.append(c)
            space = false
        }
    }
    return out.trimmingCharacters(in: .whitespaces)
}

/// Minimal RFC 4180 CSV reader (quoted fields, doubled quotes, CRLF).
func parseCSV(_ text: String) -> [[String]] {
    var rows: [[String]] = []
    var row: [String] = []
    var field = ""
    var inQuotes = false
    var chars = Array(text.unicodeScalars)[...]
    while let c = chars.popFirst() {
        if inQuotes {
            if c == "\"" {
                if chars.first == "\"" { field.unicodeScalars.append("\""); chars.removeFirst() } else { inQuotes = false }
            } else {
                field.unicodeScalars.append(c)
            }
            continue
        }
        switch c {
        case "\"": inQuotes = true
        case ",": row.append(field); field = ""
        case "\r": continue
        case "\n":
            row.append(field); field = ""
            rows.append(row); row = []
        default: field.unicodeScalars.append(c)
        }
    }
    if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
    return rows
}
