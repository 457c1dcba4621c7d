import Foundation

/// How serious a trace problem is (spec §6): `error` = HALO would reject the file; `warning` = HALO accepts it but
/// its spec checker fails or results degrade; `note` never fails.
public enum TraceSeverity: String, Sendable, Hashable, Codable, Comparable {
    case error, warning, note
    var rank: Int { self == .error ? 0 : self == .warning ? 1 : 2 }
    public static func < (a: TraceSeverity, b: TraceSeverity) -> Bool { a.rank < b.rank }
}

/// One problem in a trace file: where (file, 1-based line counting blank lines, byte offset of the line), which
/// field (`status.message`, `attributes["inference.llm.input_tokens"]`, `<line>`), a stable code and a reason.
public struct TraceIssue: Sendable, Hashable, Codable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var byteOffset: Int
    public var severity: TraceSeverity
    public var field: String
    /// Stable code from spec §6 (`invalid_json`, `wrong_type`, `missing_parent`, …).
    public var code: String
    /// Human-readable reason.
    public var message: String
    /// Same as `message`.
    public var reason: String { message }

    public init(
        file: String, line: Int, byteOffset: Int, severity: TraceSeverity, field: String, code: String, message: String
    ) {
        self.file = file
        self.line = line
        self.byteOffset = byteOffset
        self.severity = severity
        self.field = field
        self.code = code
        self.message = message
    }

    enum CodingKeys: String, CodingKey {
        case file, line, byteOffset = "byte_offset", severity, field, code, message
    }

    public var description: String { "\(file):\(line): \(severity.rawValue): \(field): \(message) [\(code)]" }
}

/// Options of the validator.
public struct TraceValidationOptions: Sendable, Hashable {
    /// Lines longer than this many bytes (without `\n`) are errors (`line_too_long`). HALO has no limit: nil.
    public var maxLineBytes: Int?
    /// Stop at the first error (strict mode of `validate`): the report then holds that one error.
    public var stopAtFirstError: Bool
    /// Warnings make the verdict fail (`--strict`).
    public var warningsFail: Bool
    /// Deepest JSON nesting accepted in a line, counting the span object itself (HALO's parser accepts 201).
    public var maxDepth: Int

    public init(maxLineBytes: Int? = nil, stopAtFirstError: Bool = false, warningsFail: Bool = false, maxDepth: Int = 201) {
        self.maxLineBytes = maxLineBytes
        self.stopAtFirstError = stopAtFirstError
        self.warningsFail = warningsFail
        self.maxDepth = maxDepth
    }
}

/// The validation result for one file (`--json` shape of spec §6).
public struct TraceFileReport: Sendable, Hashable, Codable {
    public var file: String
    /// `ok` or `failed`.
    public var verdict: String
    /// Lines HALO's span model accepts.
    public var spansOK: Int
    public var errors: Int
    public var warnings: Int
    public var notes: Int
    public var problems: [TraceIssue]

    enum CodingKeys: String, CodingKey {
        case file, verdict, spansOK = "spans_ok", errors, warnings, notes, problems
    }
}

/// The validation result for a dataset (one or more files).
public struct TraceValidationReport: Sendable, Hashable, Codable {
    /// One report per file, in the order given.
    public var files: [TraceFileReport]
    /// Every problem of every file, in file then line order.
    public var issues: [TraceIssue]
    /// True when no file failed (errors, or warnings with `warningsFail`).
    public var ok: Bool

    /// Problems of severity `error`.
    public var errors: [TraceIssue] { issues.filter { $0.severity == .error } }
    /// True when HALO would accept every file (no errors).
    public var haloAccepts: Bool { !issues.contains { $0.severity == .error } }
}

/// Validates trace files and in-memory trace bytes (spec §6). Never throws on bad content: every problem is a
/// ``TraceIssue``; only unreadable files throw.
public enum TraceValidator {
    /// Validates the files of one dataset (trace ids must be unique across them).
    public static func validate(files: [URL], options: TraceValidationOptions = .init()) throws -> TraceValidationReport {
        let sources = try files.map { try TraceSource(url: $0) }
        return TraceDatasetScan.scan(sources, options: options).report
    }

    /// Validates in-memory JSONL bytes named `name` in the report.
    public static func validate(data: Data, name: String = "traces.jsonl", options: TraceValidationOptions = .init())
        -> TraceValidationReport
    {
        TraceDatasetScan.scan([TraceSource(name: name, data: data)], options: options).report
    }
}

/// A named buffer of JSONL bytes: a file (memory-mapped, never read into a String) or bytes in memory.
public struct TraceSource: Sendable {
    /// The name used in reports (the path for files).
    public var name: String
    /// The bytes.
    public var data: Data

    public init(name: String, data: Data) {
        self.name = name
        self.data = data
    }

    /// Maps the file at `url` (read-only).
    public init(url: URL) throws {
        name = url.path
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw TraceStoreError.unreadable(path: url.path, reason: error.localizedDescription)
        }
    }
}

// MARK: - JSON in the spec's field order

extension TraceIssue {
    /// `{"file","line","byte_offset","severity","field","code","message"}`.
    public var orderedJSON: OrderedJSON {
        .obj([
            ("file", .string(file)), ("line", .int(line)), ("byte_offset", .int(byteOffset)),
            ("severity", .string(severity.rawValue)), ("field", .string(field)), ("code", .string(code)),
            ("message", .string(message)),
        ])
    }
}

extension TraceFileReport {
    /// `{"file","verdict","spans_ok","errors","warnings","notes","problems":[…]}` (spec §6, `validate --json`).
    public var orderedJSON: OrderedJSON {
        .obj([
            ("file", .string(file)), ("verdict", .string(verdict)), ("spans_ok", .int(spansOK)), ("errors", .int(errors)),
            ("warnings", .int(warnings)), ("notes", .int(notes)), ("problems", .array(problems.map(\.orderedJSON))),
        ])
    }

    /// The report as JSON text (compact, or indented when `pretty`).
    public func jsonText(pretty: Bool = false) -> String { orderedJSON.text(pretty: pretty) }
}
