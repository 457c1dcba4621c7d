import ArgumentParser
import Flywheel
import FlywheelSupport
import FlywheelTraces
import Foundation

/// Where the exploration commands read traces: `--file F…` or a cycle's traces.jsonl from git.
struct TraceSourceOptions: ParsableArguments {
    @OptionGroup var repoOptions: RepoOptions

    @Option(name: .long, help: "A HALO JSONL file to explore (repeatable: one dataset).")
    var file: [String] = []

    @Option(name: .long, help: "The cycle whose traces.jsonl to explore: a number, cycle-NNNN or latest (default).")
    var cycle: String?

    @Flag(name: .long, help: "Indent the JSON.")
    var pretty = false

    func validate() throws {
        if !file.isEmpty, cycle != nil { throw ValidationError("give --file or --cycle, not both") }
    }

    /// The dataset to explore.
    func store() throws -> TraceStore {
        if !file.isEmpty { return try TraceStore(files: file.map { URL(fileURLWithPath: $0) }) }
        let history = try repoOptions.workspace().history
        let number = try parseCycle(cycle ?? "latest", history: history)
        guard let data = try TraceStage.tracesData(cycle: number, history: history) else {
            throw TraceStoreError.invalidArgument(
                name: "cycle", reason: "cycle \(number) has no \(Layout.CycleFile.traces) (import traces with `flywheel traces import`)")
        }
        return try TraceStore(data: data, name: Layout.cycleFile(number, Layout.CycleFile.traces))
    }
}

/// Runs an exploration command: prints the result's HALO envelope, or `{"error":{"code","message"}}` on stderr and
/// exits 1.
func explore(_ source: TraceSourceOptions, _ body: (TraceStore) throws -> any HALOResult) throws {
    do {
        let result = try body(try source.store())
        print(result.envelopeText(pretty: source.pretty))
    } catch let e as TraceStoreError {
        Terminal.standardError.write(e.errorJSON + "\n")
        throw ExitCode(1)
    } catch let e as ValidationError {
        throw e
    } catch {
        let inner = JSONValue.obj([("code", .string("error")), ("message", .string("\(error)"))])
        let json = JSONValue.obj([("error", inner)])
        Terminal.standardError.write(json.orderedText() + "\n")
        throw ExitCode(1)
    }
}

/// The filters of overview, query and count (spec §5), as flags or `--filters JSON`.
struct TraceFilterOptions: ParsableArguments {
    @Option(name: .long, help: "Filters as HALO's JSON object (flags below override its keys).")
    var filters: String?

    @Flag(name: .long, inversion: .prefixedNo, help: "Only traces with (or, --no-has-errors, without) error spans.")
    var hasErrors: Bool?

    @Option(name: .customLong("model"), help: "Only traces using this model (repeatable: any of them).")
    var models: [String] = []

    @Option(name: .customLong("agent"), help: "Only traces of this agent name (repeatable).")
    var agents: [String] = []

    @Option(name: .customLong("service"), help: "Only traces of this service name (repeatable).")
    var services: [String] = []

    @Option(name: .long, help: "Only traces whose inference.project_id equals this.")
    var projectID: String?

    @Option(name: [.customLong("since"), .customLong("start-time-gte")], help: "Only traces starting at or after this time (e.g. 2026-01-02T00:00:00Z).")
    var since: String?

    @Option(name: [.customLong("until"), .customLong("end-time-lte")], help: "Only traces ending at or before this time.")
    var until: String?

    @Option(name: .long, help: "Only traces with a raw span line matching this regex (unanchored, no flags).")
    var regex: String?

    func traceFilters() throws -> TraceFilters {
        var f = TraceFilters()
        if let filters {
            let value: JSONValue
            do { value = try JSONValue.parse(Data(filters.utf8)) } catch {
                throw TraceStoreError.invalidArgument(name: "filters", reason: "not JSON: \(error)")
            }
            f = try TraceFilters(json: value)
        }
        if let hasErrors { f.hasErrors = hasErrors }
        if !models.isEmpty { f.modelNames = models }
        if !agents.isEmpty { f.agentNames = agents }
        if !services.isEmpty { f.serviceNames = services }
        if let projectID { f.projectID = projectID }
        if let since { f.startTimeGte = since }
        if let until { f.endTimeLte = until }
        if let regex { f.regexPattern = regex }
        return f
    }
}

/// `flywheel traces overview` (HALO's get_dataset_overview).
struct TracesOverview: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "overview", abstract: "Dataset overview: totals, names, health counters, error taxonomy (JSON).")
    @OptionGroup var source: TraceSourceOptions
    @OptionGroup var filterOptions: TraceFilterOptions

    func run() throws {
        try explore(source) { try $0.overview(try filterOptions.traceFilters()) }
    }
}

/// `flywheel traces query` (HALO's query_traces).
struct TracesQuery: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query", abstract: "List trace summaries matching the filters, paged (JSON; total counted before paging).")
    @OptionGroup var source: TraceSourceOptions
    @OptionGroup var filterOptions: TraceFilterOptions
    @Option(name: .long, help: "Traces to skip (≥ 0).")
    var offset = 0
    @Option(name: .long, help: "Traces to return (1–500).")
    var limit = 50

    func run() throws {
        try explore(source) { try $0.query(try filterOptions.traceFilters(), limit: limit, offset: offset) }
    }
}

/// `flywheel traces count` (HALO's count_traces).
struct TracesCount: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "count", abstract: "Count traces matching the filters (JSON).")
    @OptionGroup var source: TraceSourceOptions
    @OptionGroup var filterOptions: TraceFilterOptions

    func run() throws {
        try explore(source) { try $0.count(try filterOptions.traceFilters()) }
    }
}

/// `flywheel traces view TRACE_ID [--span S…]` (HALO's view_trace / view_spans).
struct TracesView: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "view",
        abstract: "A trace's spans, attributes capped at 4096 code points; oversized traces get a summary (JSON).")
    @OptionGroup var source: TraceSourceOptions
    @Argument(help: "The trace id.")
    var traceID: String
    @Option(name: .long, help: "Only these span ids (as view-spans; caps at 16384).")
    var span: [String] = []

    func run() throws {
        try explore(source) { store in
            span.isEmpty ? try store.view(traceID: traceID) : try store.viewSpans(traceID: traceID, spanIDs: span)
        }
    }
}

/// `flywheel traces view-spans TRACE_ID SPAN_ID…` (HALO's view_spans).
struct TracesViewSpans: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "view-spans", abstract: "Chosen spans of a trace (1–200 ids), attributes capped at 16384 code points (JSON).")
    @OptionGroup var source: TraceSourceOptions
    @Argument(help: "The trace id.")
    var traceID: String
    @Argument(help: "Span ids (unknown ids are skipped).")
    var spanIDs: [String] = []

    func run() throws {
        try explore(source) { try $0.viewSpans(traceID: traceID, spanIDs: spanIDs) }
    }
}

/// `flywheel traces search TRACE_ID PATTERN [--span S]` (HALO's search_trace / search_span).
struct TracesSearch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search", abstract: "Regex matches in a trace's raw span lines, with context (JSON).")
    @OptionGroup var source: TraceSourceOptions
    @Argument(help: "The trace id.")
    var traceID: String
    @Argument(help: "The regex (unanchored, no flags; Python re's common subset).")
    var pattern: String
    @Option(name: .long, help: "Search only this span (HALO's search_span).")
    var span: String?
    @Option(name: .long, help: "Characters of context on each side (0–2000).")
    var contextBufferChars = 100
    @Option(name: .long, help: "Matches to return (1–500); match_count stays exact.")
    var maxMatches = 50

    func run() throws {
        try explore(source) { store in
            if let span {
                return try store.searchSpan(
                    traceID: traceID, spanID: span, pattern: pattern, contextBufferChars: contextBufferChars,
                    maxMatches: maxMatches)
            }
            return try store.search(traceID: traceID, pattern: pattern, contextBufferChars: contextBufferChars, maxMatches: maxMatches)
        }
    }
}
