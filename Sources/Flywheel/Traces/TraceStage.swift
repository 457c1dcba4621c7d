import FlywheelSupport
import FlywheelTraces
import Foundation
import GitStore

// MARK: - Reports

/// What one input file contributed to a traces stage.
public struct TraceStageFileReport: Sendable, Hashable, Codable {
    /// The file's path as given (or a label such as `POST /v1/traces`).
    public var file: String
    /// `halo` or `otlp-json`.
    public var format: TraceInputFormat
    public var spans: Int
    public var traces: Int
}

/// The report of a traces stage: spans and traces prepared, secrets redacted per kind.
public struct TraceStageReport: Sendable, Hashable, Codable {
    public var files: [TraceStageFileReport]
    /// Spans prepared (all files).
    public var spans: Int
    /// Distinct trace ids prepared (all files).
    public var traces: Int
    /// Replacements per redaction kind (`api_key`, `bearer_token`, …, and loop.yaml's pattern names).
    public var redactions: [String: Int]
    /// False when redaction was turned off (`--no-redact`).
    public var redacted: Bool

    /// All replacements.
    public var redactionsTotal: Int { redactions.values.reduce(0, +) }

    enum CodingKeys: String, CodingKey {
        case files, spans, traces, redactions, redacted
    }
}

/// Validated, redacted spans in the writer's exact format, ready to commit as (part of) a cycle's `traces.jsonl`.
public struct PreparedTraces: Sendable {
    /// The spans' JSONL bytes (SpanWriter's format, every line ending in `\n`).
    public var data: Data
    /// The spans, in input order.
    public var spans: [Span]
    /// Distinct trace ids in order of first appearance.
    public var traceIDs: [String]
    public var report: TraceStageReport
}

/// What a traces commit did.
public struct TraceCommitResult: Sendable, Hashable, Codable {
    /// The open cycle the spans went into.
    public var cycle: Int
    /// The new commit (nil when nothing new was committed, e.g. every span was already there).
    public var commit: String?
    /// Spans appended by this commit.
    public var spansAdded: Int
    /// Spans left out because the cycle already held the same (trace_id, span_id) (receiver retries).
    public var spansSkipped: Int
    /// Spans and traces in the cycle's `traces.jsonl` after the commit.
    public var totalSpans: Int
    public var totalTraces: Int

    enum CodingKeys: String, CodingKey {
        case cycle, commit, spansAdded = "spans_added", spansSkipped = "spans_skipped", totalSpans = "total_spans"
        case totalTraces = "total_traces"
    }
}

/// How new spans join a cycle's existing `traces.jsonl`.
public enum TraceMergePolicy: Sendable, Hashable {
    /// `traces import`: a trace id already in the cycle is refused (``TraceStageError/traceAlreadyInCycle(cycle:traceIDs:)``).
    case refuseExistingTraces
    /// The live receiver: exporters send one trace's spans over several requests and retry failed ones, so spans
    /// join existing traces and a (trace_id, span_id) already in the cycle is skipped.
    case appendSkippingDuplicateSpans
}

/// Why a traces stage refused its input. Nothing is committed when one is thrown.
public enum TraceStageError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The input has errors: every problem, with file, line and field.
    case invalidInput([TraceIssue])
    /// These trace ids are already in the open cycle's traces.jsonl.
    case traceAlreadyInCycle(cycle: Int, traceIDs: [String])
    /// A bad `redact.patterns` regex in loop.yaml.
    case badRedactionPattern(name: String, reason: String)
    /// No input files.
    case noInput

    public var description: String {
        switch self {
        case .invalidInput(let issues):
            let errors = issues.filter { $0.severity == .error }
            let lines = errors.prefix(50).map { "  \($0.file):\($0.line): \($0.field): \($0.message)" }
            let more = errors.count > 50 ? "\n  … and \(errors.count - 50) more" : ""
            return "invalid trace input (\(errors.count) error\(errors.count == 1 ? "" : "s")), nothing committed:\n"
                + lines.joined(separator: "\n") + more
        case .traceAlreadyInCycle(let cycle, let ids):
            let shown = ids.prefix(10).joined(separator: ", ") + (ids.count > 10 ? ", …" : "")
            return "cycle \(cycle) already has trace\(ids.count == 1 ? "" : "s") \(shown) in traces.jsonl "
                + "(\(ids.count) in all); nothing committed — import only new traces"
        case .badRedactionPattern(let name, let reason):
            return "loop.yaml: field redact.patterns.\(name): \(reason)"
        case .noInput:
            return "no trace files given"
        }
    }
}

// MARK: - The stage

/// The traces stage as a library: read trace files (HALO JSONL or OTLP/JSON), validate, normalize to the writer's
/// exact format, redact secrets, and commit them into the open cycle's `traces.jsonl` in one `traces` commit.
/// Used by `flywheel traces import`, the live receiver, and `flywheel run` / `flywheel loop`.
public enum TraceStage {
    /// The redactor for a workspace: built-in kinds plus loop.yaml's `redact.patterns` (kind = the pattern's name),
    /// or nil when `enabled` is false.
    public static func redactor(config: LoopConfig?, enabled: Bool = true) throws -> Redactor? {
        guard enabled else { return nil }
        let extra = (config?.redact?.patterns ?? [:]).sorted { $0.key < $1.key }
        var patterns: [RedactionPattern] = []
        for (name, regex) in extra {
            do { _ = try NSRegularExpression(pattern: regex) } catch {
                throw TraceStageError.badRedactionPattern(name: name, reason: "invalid regular expression \(quoted(regex))")
            }
            if let problem = RegexSafety.problem(regex) {
                throw TraceStageError.badRedactionPattern(name: name, reason: "the regular expression \(quoted(regex)) \(problem)")
            }
            patterns.append(RedactionPattern(kind: name, pattern: regex))
        }
        return try Redactor(extraPatterns: patterns)
    }

    /// Reads, validates, normalizes and (when `redactor` is given) redacts `files`. `format` nil detects each
    /// file's format. HALO files are validated together as one dataset (a trace id in two files is an error).
    /// - Throws: ``TraceStageError/invalidInput(_:)`` listing every error of every file; unreadable files throw
    ///   ``TraceStoreError/unreadable(path:reason:)``.
    public static func prepare(
        files: [URL], format: TraceInputFormat? = nil, redactor: Redactor?,
        options: TraceValidationOptions = .init()
    ) throws -> PreparedTraces {
        guard !files.isEmpty else { throw TraceStageError.noInput }
        var sources: [(URL, TraceSource, TraceInputFormat)] = []
        for url in files {
            let src = try TraceSource(url: url)
            sources.append((url, src, format ?? TraceInputFormat.detect(src.data)))
        }
        var issues: [TraceIssue] = []
        // HALO files: one pass validates every line of every file (and traces split across files) and indexes them.
        let haloIndices = sources.indices.filter { sources[$0].2 == .halo }
        var haloSpans: [Int: [Span]] = [:]
        if !haloIndices.isEmpty {
            let store = try TraceStore(sources: haloIndices.map { sources[$0].1 }, options: options, skipInvalid: true)
            issues += store.validation.errors
            if issues.isEmpty {
                var rows: [Int: [(Int, Span)]] = [:]
                for t in store.traces {
                    for i in 0..<t.spanCount { rows[haloIndices[t.source], default: []].append((t.offsets[i], try store.span(t, at: i))) }
                }
                for (k, v) in rows { haloSpans[k] = v.sorted { $0.0 < $1.0 }.map(\.1) }
            }
        }
        var parts: [(TraceStageFileReport, [Span])] = []
        var redaction = RedactionReport()
        for (index, (_, src, fmt)) in sources.enumerated() {
            var fileSpans: [Span]
            if fmt == .halo {
                fileSpans = haloSpans[index] ?? []
            } else {
                do {
                    let result = try TraceImporter.importData(src.data, name: src.name, format: fmt, options: options)
                    issues += result.report.errors
                    fileSpans = result.spans
                } catch TraceStoreError.invalidDataset(let report) {
                    issues += report.errors
                    continue
                }
            }
            if let redactor { fileSpans = fileSpans.map { redactor.redact($0, report: &redaction) } }
            let traces = Set(fileSpans.map(\.traceID)).count
            parts.append((TraceStageFileReport(file: src.name, format: fmt, spans: fileSpans.count, traces: traces), fileSpans))
        }
        if !issues.isEmpty { throw TraceStageError.invalidInput(issues) }
        var spans: [Span] = []
        for p in parts { spans += p.1 }
        try checkDuplicateSpans(spans, names: parts.flatMap { p in p.1.map { _ in p.0.file } })
        return make(spans: spans, files: parts.map(\.0), redaction: redaction, redacted: redactor != nil)
    }

    /// Prepares spans already decoded (e.g. an OTLP/HTTP request body), redacting them when `redactor` is given and
    /// validating their normalized form.
    /// - Throws: ``TraceStageError/invalidInput(_:)`` when the spans fail validation.
    public static func prepare(
        spans input: [Span], label: String, format: TraceInputFormat = .otlpJSON, redactor: Redactor?
    ) throws -> PreparedTraces {
        var redaction = RedactionReport()
        let spans = redactor.map { r in input.map { r.redact($0, report: &redaction) } } ?? input
        let report = TraceValidator.validate(data: SpanWriter.data(spans), name: label)
        if !report.errors.isEmpty { throw TraceStageError.invalidInput(report.errors) }
        try checkDuplicateSpans(spans, names: spans.map { _ in label })
        let file = TraceStageFileReport(file: label, format: format, spans: spans.count, traces: Set(spans.map(\.traceID)).count)
        return make(spans: spans, files: [file], redaction: redaction, redacted: redactor != nil)
    }

    /// Prepares in-memory bytes (HALO JSONL or OTLP/JSON, detected when `format` is nil).
    public static func prepare(
        data: Data, name: String, format: TraceInputFormat? = nil, redactor: Redactor?,
        options: TraceValidationOptions = .init()
    ) throws -> PreparedTraces {
        let fmt = format ?? TraceInputFormat.detect(data)
        do {
            let result = try TraceImporter.importData(data, name: name, format: fmt, redactor: redactor, options: options)
            if !result.report.errors.isEmpty { throw TraceStageError.invalidInput(result.report.errors) }
            try checkDuplicateSpans(result.spans, names: result.spans.map { _ in name })
            let file = TraceStageFileReport(
                file: name, format: fmt, spans: result.spans.count, traces: Set(result.spans.map(\.traceID)).count)
            return make(spans: result.spans, files: [file], redaction: result.redaction, redacted: redactor != nil)
        } catch TraceStoreError.invalidDataset(let report) {
            throw TraceStageError.invalidInput(report.errors)
        }
    }

    /// The same (trace_id, span_id) twice in the input is an error (HALO would index both; results would double).
    static func checkDuplicateSpans(_ spans: [Span], names: [String]) throws {
        var seen: [String: Int] = [:]
        var issues: [TraceIssue] = []
        for (i, s) in spans.enumerated() {
            let key = s.traceID + "/" + s.spanID
            if let first = seen[key] {
                issues.append(
                    TraceIssue(
                        file: names[i], line: 0, byteOffset: 0, severity: .error, field: "span_id", code: "duplicate_span_id",
                        message: "span \(s.spanID) of trace \(s.traceID) appears twice (first in \(names[first]))"))
            } else {
                seen[key] = i
            }
        }
        if !issues.isEmpty { throw TraceStageError.invalidInput(issues) }
    }

    static func make(spans: [Span], files: [TraceStageFileReport], redaction: RedactionReport, redacted: Bool) -> PreparedTraces {
        var ids: [String] = []
        var seen = Set<String>()
        for s in spans where seen.insert(s.traceID).inserted { ids.append(s.traceID) }
        let report = TraceStageReport(
            files: files, spans: spans.count, traces: ids.count, redactions: redaction.counts, redacted: redacted)
        return PreparedTraces(data: SpanWriter.data(spans), spans: spans, traceIDs: ids, report: report)
    }

    /// Commits `prepared` into the open cycle's `traces.jsonl` as one `traces` stage commit, after the spans already
    /// there. The merge re-runs on the current tip if another writer commits meanwhile, so nothing is lost.
    /// - Throws: `HistoryError.noOpenCycle`; ``TraceStageError/traceAlreadyInCycle(cycle:traceIDs:)`` under
    ///   `.refuseExistingTraces`.
    @discardableResult
    public static func commit(
        _ prepared: PreparedTraces, to history: LoopHistory, policy: TraceMergePolicy = .refuseExistingTraces,
        message: String? = nil
    ) throws -> TraceCommitResult {
        let number = try history.openCycle().number
        let path = Layout.cycleFile(number, Layout.CycleFile.traces)
        var result = TraceCommitResult(cycle: number, commit: nil, spansAdded: 0, spansSkipped: 0, totalSpans: 0, totalTraces: 0)
        let body = message ?? describe(prepared.report)
        let commit = try history.commitStage(.traces, cycle: number, body: body) { snap in
            guard let open = try snap.lastCycle(), open.status == .open, open.number == number else {
                throw HistoryError.noOpenCycle
            }
            let existing = try snap.file(path) ?? Data()
            var existingTraces = Set<String>()
            var existingSpans = Set<String>()
            if !existing.isEmpty {
                let store = try TraceStore(data: existing, name: path, skipInvalid: true)
                for t in store.traces {
                    existingTraces.insert(t.traceID)
                    for s in t.spanIDs { existingSpans.insert(t.traceID + "/" + s) }
                }
            }
            var added: Data
            var skipped = 0
            var addedCount = prepared.spans.count
            switch policy {
            case .refuseExistingTraces:
                let clash = prepared.traceIDs.filter(existingTraces.contains)
                if !clash.isEmpty { throw TraceStageError.traceAlreadyInCycle(cycle: number, traceIDs: clash) }
                added = prepared.data
            case .appendSkippingDuplicateSpans:
                let fresh = prepared.spans.filter { !existingSpans.contains($0.traceID + "/" + $0.spanID) }
                skipped = prepared.spans.count - fresh.count
                addedCount = fresh.count
                added = fresh.count == prepared.spans.count ? prepared.data : SpanWriter.data(fresh)
            }
            result.spansAdded = addedCount
            result.spansSkipped = skipped
            result.totalSpans = existingSpans.count + addedCount
            result.totalTraces = existingTraces.union(prepared.spans.map(\.traceID)).count
            if addedCount == 0 { return nil }
            var merged = existing
            if let last = merged.last, last != 0x0A { merged.append(0x0A) }
            merged.append(added)
            // The cycle's figures follow its traces (the site's trends and the handoff read them from cycle.json).
            var cycle = open
            let all = try TraceStore(data: merged, name: path, skipInvalid: true).traces
            cycle.scores.traces = all.count
            cycle.scores.spans = all.reduce(0) { $0 + $1.spanCount }
            cycle.scores.toolErrors = all.reduce(0) { $0 + $1.toolErrorSpanCount }
            cycle.scores.tokens = Int(all.reduce(Int64(0)) { TraceLimits.adding($0, $1.inputTokens, $1.outputTokens) })
            let durations = all.compactMap(\.durationNanos).map { Double($0) / 1e6 }
            if !durations.isEmpty { cycle.scores.latencyMs = durations.reduce(0, +) / Double(durations.count) }
            return TreeChanges(writes: [path: merged, Layout.cycleFile(number, Layout.CycleFile.cycle): cycle.encoded()])
        }
        result.commit = commit?.hex
        if commit == nil { result.spansAdded = 0 }
        return result
    }

    /// The commit body: spans, traces, files and redactions (counts only, never the secrets).
    public static func describe(_ report: TraceStageReport) -> String {
        var lines = ["\(report.spans) span\(report.spans == 1 ? "" : "s") in \(report.traces) trace\(report.traces == 1 ? "" : "s")"]
        for f in report.files {
            lines.append("- \(URL(fileURLWithPath: f.file).lastPathComponent) (\(f.format.rawValue)): \(f.spans) spans, \(f.traces) traces")
        }
        if !report.redacted {
            lines.append("Redaction: off")
        } else if report.redactions.isEmpty {
            lines.append("Redactions: none")
        } else {
            let parts = report.redactions.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            lines.append("Redactions: " + parts.joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }

    /// The spans of a cycle's `traces.jsonl` read from git (at the cycle's tag when closed, else the tip), or nil
    /// when the cycle has none.
    public static func tracesData(cycle number: Int, history: LoopHistory) throws -> Data? {
        try history.snapshot(at: try history.revision(ofCycle: number)).cycleFile(number, Layout.CycleFile.traces)
    }
}
