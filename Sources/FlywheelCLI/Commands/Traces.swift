import ArgumentParser
import Flywheel
import FlywheelSupport
import FlywheelTraces
import Foundation

/// `flywheel traces …`: validate, import, explore and receive HALO traces.
struct TracesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "traces",
        abstract: "Validate, import, explore and receive agent traces (HALO span JSONL, OTLP/JSON).",
        discussion: """
            validate and import take files; the exploration commands (overview, query, count, view, view-spans, \
            search) read --file F or a cycle's traces.jsonl from git (--cycle N, default the latest cycle) and print \
            HALO's JSON; receive runs an OTLP/HTTP (JSON) receiver on 127.0.0.1 that commits into the open cycle.
            """,
        subcommands: [
            TracesValidate.self, TracesImport.self, TracesOverview.self, TracesQuery.self, TracesCount.self,
            TracesView.self, TracesViewSpans.self, TracesSearch.self, TracesReceive.self,
        ]
    )
}

/// Parses `--format`.
func parseTraceFormat(_ text: String?) throws -> TraceInputFormat? {
    guard let text else { return nil }
    guard let f = TraceInputFormat(rawValue: text) else {
        throw ValidationError("--format must be halo, otlp-json or otlp-protobuf, not \(text)")
    }
    return f
}

/// `flywheel traces validate FILE…`.
struct TracesValidate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check trace files against HALO's span format; list every problem as file:line: field: reason.",
        discussion: """
            Errors (HALO would reject the file) exit 1. Warnings (HALO accepts the file but results degrade) are \
            listed and exit 1 only with --strict, which also stops at the first failing problem. Notes never fail. \
            --json prints {"file","verdict","spans_ok","errors","warnings","notes","problems":[…]} for one file, \
            an array of those for several.
            """)

    @Argument(help: "HALO JSONL trace files (validated together: a trace id may not span two files).")
    var files: [String]
    @Flag(name: .long, help: "Warnings fail too; stop at the first failing problem.")
    var strict = false
    @Option(name: .long, help: "Lines longer than this many bytes are errors (HALO has no limit).")
    var maxLineBytes: Int?
    @OptionGroup var output: JSONOption

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one trace file") }
        if let n = maxLineBytes, n <= 0 { throw ValidationError("--max-line-bytes must be positive") }
    }

    func run() throws {
        let options = TraceValidationOptions(maxLineBytes: maxLineBytes, stopAtFirstError: strict, warningsFail: strict)
        let urls = files.map { URL(fileURLWithPath: $0) }
        let sources = try urls.map { try TraceSource(url: $0) }
        let store = try TraceStore(sources: sources, options: options, skipInvalid: true)
        var report = store.validation
        if strict {
            // Stop at the first failing problem, warnings included.
            if let first = report.issues.first(where: { $0.severity != .note }) {
                report.issues = [first]
                for i in report.files.indices {
                    report.files[i].problems = report.files[i].problems.filter { $0 == first }
                }
            }
        }
        if output.json {
            let docs = report.files.map(\.orderedJSON)
            print((docs.count == 1 ? docs[0] : JSONValue.array(docs)).orderedText(indent: 2))
        } else {
            for issue in report.issues where issue.severity != .note {
                let tag = issue.severity == .warning ? " [warning: \(issue.code)]" : " [\(issue.code)]"
                print("\(issue.file):\(issue.line): \(issue.field): \(issue.message)\(tag)")
            }
            let errors = report.issues.filter { $0.severity == .error }.count
            let warnings = report.issues.filter { $0.severity == .warning }.count
            let spans = report.files.reduce(0) { $0 + $1.spansOK }
            let fileWord = files.count == 1 ? "1 file" : "\(files.count) files"
            if report.ok {
                print("OK: \(spans) span\(spans == 1 ? "" : "s") in \(store.traces.count) trace\(store.traces.count == 1 ? "" : "s") (\(fileWord); \(warnings) warning\(warnings == 1 ? "" : "s"))")
            } else {
                let stopped = strict ? " (--strict: stopped at the first)" : ""
                Terminal.standardError.write(
                    "FAILED: \(errors) error\(errors == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s") in \(fileWord)\(stopped)\n")
            }
        }
        if !report.ok { throw ExitCode(1) }
    }
}

/// `flywheel traces import FILE…`.
struct TracesImport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Validate, normalize and redact trace files, then commit them into the open cycle's traces.jsonl.",
        discussion: """
            One commit (stage traces). Secrets are replaced by [REDACTED:<kind>] before anything reaches git: \
            sk-… API keys, Bearer tokens, AWS keys, GitHub tokens, PEM private keys, and loop.yaml's \
            redact.patterns. When the cycle already has traces.jsonl the new spans are appended; a trace id that is \
            already in the cycle is refused. Any invalid input: every problem is listed and nothing is committed.
            """)

    @OptionGroup var repoOptions: RepoOptions
    @Argument(help: "Trace files: HALO JSONL or OTLP/JSON (ExportTraceServiceRequest, or JSONL of them).")
    var files: [String]
    @Option(name: .long, help: "Input format: halo, otlp-json or otlp-protobuf (traces or logs; gzip allowed; default: detected per file).")
    var format: String?
    @Flag(name: .long, help: "Do not redact secrets (they will be committed as they are).")
    var noRedact = false
    @OptionGroup var output: JSONOption

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one trace file") }
        _ = try parseTraceFormat(format)
    }

    struct Imported: Encodable {
        let cycle: Int
        let commit: String?
        let spans: Int
        let traces: Int
        let totalSpans: Int
        let totalTraces: Int
        let files: [TraceStageFileReport]
        let redacted: Bool
        let redactions: [String: Int]
        enum CodingKeys: String, CodingKey {
            case cycle, commit, spans, traces, totalSpans = "total_spans", totalTraces = "total_traces", files, redacted
            case redactions
        }
    }

    func run() throws {
        let workspace = try repoOptions.workspace()
        let redactor = try TraceStage.redactor(config: workspace.config, enabled: !noRedact)
        // Streamed: the files, their spans and the blob are never held in memory whole.
        let outcome = try TraceStage.importFiles(
            files.map { URL(fileURLWithPath: $0) }, format: try parseTraceFormat(format), redactor: redactor,
            into: workspace.history)
        let result = outcome.commit
        let r = outcome.report
        if output.json {
            try Terminal.printJSON(
                Imported(
                    cycle: result.cycle, commit: result.commit, spans: r.spans, traces: r.traces,
                    totalSpans: result.totalSpans, totalTraces: result.totalTraces, files: r.files, redacted: r.redacted,
                    redactions: r.redactions))
            return
        }
        print("Imported \(r.spans) span\(r.spans == 1 ? "" : "s") in \(r.traces) trace\(r.traces == 1 ? "" : "s") into cycle \(result.cycle)"
              + (result.commit.map { " (commit \($0.prefix(7)))" } ?? " (nothing new)"))
        if result.totalSpans != r.spans {
            print("  traces.jsonl now holds \(result.totalSpans) spans in \(result.totalTraces) traces")
        }
        if !r.redacted {
            print("  redaction: off (--no-redact)")
        } else if r.redactions.isEmpty {
            print("  redactions: none")
        } else {
            let parts = r.redactions.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            print("  redactions: \(r.redactionsTotal) (\(parts.joined(separator: ", ")))")
        }
    }
}
