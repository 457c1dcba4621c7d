import FlywheelSupport
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
    /// Attribute keys whose values' places in each span line the scan keeps (``IndexedTrace/keptFields``), with
    /// those of the small top-level fields, so a reader that needs only these can decode them without scanning the
    /// line again. Empty (the default): nothing is kept. It changes no verdict and no other result of the scan.
    public var keptAttributes: [String] = []
    /// When set, the scan also plans each span line it accepts for `traces import` while the line is at hand: its
    /// ``SpanLineNormalizer/predictedLength(_:)`` and whether a redactor screened so may change it
    /// (``TraceStore/importPlans``), so the import needs no pass of its own over the file before it writes. Nil (the
    /// default, validate and the explorers): nothing is planned. It changes no verdict and no other result of the scan.
    public var importPlan: RedactionScreen?

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
    /// True when `data` is a private read-only mapping of a file made by ``init(streaming:)``: pages already read
    /// may be given back to the kernel (`madvise(MADV_DONTNEED)`) and are read from the file again if touched, so
    /// a pass over a file larger than memory keeps its resident size bounded.
    public internal(set) var releasablePages = false

    public init(name: String, data: Data) {
        self.name = name
        self.data = data
    }

    /// Maps the file at `url` read-only for one-pass work (import): passes over it give back the pages they have
    /// read, so the resident memory of a pass stays small whatever the file's size (see ``releasePages(_:)``).
    public init(streaming url: URL) throws {
        name = url.path
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else {
            throw TraceStoreError.unreadable(path: url.path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw TraceStoreError.unreadable(path: url.path, reason: String(cString: strerror(errno)))
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            // Not a regular file (a pipe, /dev/stdin): read it whole.
            do { data = try Data(contentsOf: url) } catch {
                throw TraceStoreError.unreadable(path: url.path, reason: error.localizedDescription)
            }
            return
        }
        let size = Int(st.st_size)
        guard size > 0 else {
            data = Data()
            return
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw TraceStoreError.unreadable(path: url.path, reason: String(cString: strerror(errno)))
        }
        data = Data(bytesNoCopy: p, count: size, deallocator: .custom { ptr, count in munmap(ptr, count) })
        releasablePages = true
    }

    /// Gives back the whole pages inside `range` of a ``init(streaming:)`` mapping (nothing for other sources).
    /// Safe at any time: a page touched again is read from the file again.
    public func releasePages(_ range: Range<Int>) {
        guard releasablePages else { return }
        data.withUnsafeBytes { buf in
            guard let base = buf.baseAddress else { return }
            Self.release(base, range, count: buf.count)
        }
    }

    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// `madvise(MADV_DONTNEED)` on the whole pages inside `range` of the mapping at `base`.
    static func release(_ base: UnsafeRawPointer, _ range: Range<Int>, count: Int) {
        let page = pageSize
        // The mapping starts on a page boundary: round the start up and the end down to whole pages.
        let lo = (max(0, range.lowerBound) + page - 1) / page * page
        let hi = min(count, range.upperBound) / page * page
        guard hi > lo else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + lo), hi - lo, Int32(MADV_DONTNEED))
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
    public var orderedJSON: JSONValue {
        .obj([
            ("file", .string(file)), ("line", .integer(line)), ("byte_offset", .integer(byteOffset)),
            ("severity", .string(severity.rawValue)), ("field", .string(field)), ("code", .string(code)),
            ("message", .string(message)),
        ])
    }
}

extension TraceFileReport {
    /// `{"file","verdict","spans_ok","errors","warnings","notes","problems":[…]}` (spec §6, `validate --json`).
    public var orderedJSON: JSONValue {
        .obj([
            ("file", .string(file)), ("verdict", .string(verdict)), ("spans_ok", .integer(spansOK)), ("errors", .integer(errors)),
            ("warnings", .integer(warnings)), ("notes", .integer(notes)), ("problems", .array(problems.map(\.orderedJSON))),
        ])
    }

    /// The report as JSON text (compact, or indented when `pretty`).
    public func jsonText(pretty: Bool = false) -> String { orderedJSON.orderedText(indent: pretty ? 2 : 0) }
}
