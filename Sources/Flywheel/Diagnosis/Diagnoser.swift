import FlywheelSupport
import FlywheelTraces
import Foundation

/// Deterministic diagnosis: failure modes from traces, feedback and gate results, ranked by impact, each mapped to
/// a concrete recommendation. It knows no domain: a project's own topics come in `DiagnosisInput.topics`.
///
/// Trace detectors: root-cause clusters of tool and step errors (messages normalised into templates, grouped by
/// source, class and exception type, merged when they share key tokens), context-window overflow, rate limits and
/// retries, invalid JSON tool arguments, calls to unknown tools, repeated identical calls, refusals, turn-limit
/// exhaustion, empty or missing final answers, handoff loops, guardrail trips, latency and token outliers per task,
/// and missing required outputs. Feedback (praise excluded) and failing eval rows are grouped by a project topic
/// when one matches, else one mode per category (eval rows without feedback: per category and metric).
///
/// Ranking: see `Ranking.standardFormula`.
public enum Diagnoser {
    /// Diagnoses a HALO JSONL file (or a folder of them); `feedback`, `results` and `harness` are optional.
    /// - Parameter processExits: the process ends right after (the `diagnose --traces` command): the spans read are
    ///   left for the operating system to reclaim at exit instead of being freed one by one (freeing them was a
    ///   serial tail of every diagnosis, and at exit it is wasted work). Leave it false in anything long-lived.
    public static func diagnose(
        traces: URL, feedback: [FeedbackRecord] = [], results: [ResultRowFacts] = [], harness: HarnessFiles = HarnessFiles(),
        rules: ProjectRules = .none, cycle: Int = 0, processExits: Bool = false
    ) throws -> Diagnosis {
        var isDir: ObjCBool = false
        let files = FileManager.default.fileExists(atPath: traces.path, isDirectory: &isDir) && isDir.boolValue ? try TraceStore.jsonlFiles(in: traces) : [traces]
        let input = DiagnosisInput(
            spans: [], feedback: feedback, results: results, harness: harness, requiredArtifacts: rules.requiredArtifacts, topics: rules.failureTopics,
            expectedDeclines: rules.expectedDeclines)
        let t0 = Date()
        let store = try TraceStore(files: files, options: DiagnosisLoading.scanOptions)
        DiagnosisTiming.mark("scan", since: t0)
        return try diagnose(store: store, input: input, cycle: cycle, processExits: processExits)
    }

    /// The validation options (the defaults) under which a store's scan keeps the places of the values diagnosis
    /// reads: a store built with them is diagnosed without reading its lines a second time.
    public static var traceScanOptions: TraceValidationOptions { DiagnosisLoading.scanOptions }

    /// Diagnoses the traces of a store (its spans are read straight from its lines, in parallel, without the
    /// attributes diagnosis never reads); `input.spans` is ignored.
    public static func diagnose(store: TraceStore, input: DiagnosisInput, cycle: Int, finalAnswers: [String: String] = [:]) throws -> Diagnosis {
        try diagnose(store: store, input: input, cycle: cycle, finalAnswers: finalAnswers, processExits: false)
    }

    /// - Parameter processExits: see ``diagnose(traces:feedback:results:harness:rules:cycle:processExits:)``.
    static func diagnose(store: TraceStore, input: DiagnosisInput, cycle: Int, finalAnswers: [String: String] = [:], processExits: Bool) throws -> Diagnosis {
        var t = Date()
        // Lean spans: what the records hold (kinds, token counts) is not kept a second time in every span's attributes.
        var (traces, records) = try DiagnosisLoading.tracesAndRecords(store, lean: true)
        DiagnosisTiming.mark("load", since: t)
        t = Date()
        let diagnosis = run(input, traces: traces, records: records, cycle: cycle, finalAnswers: finalAnswers)
        DiagnosisTiming.mark("detect", since: t)
        t = Date()
        if processExits {
            // Kept alive on purpose until the process ends (one retain, never released).
            // The store too: freeing its per-trace tables was the last serial step before the process ended.
            _ = Unmanaged.passRetained(SpansLeftToExit(store: store, traces: traces, records: records))
        } else {
            DiagnosisLoading.release(&traces)
        }
        DiagnosisTiming.mark("release", since: t)
        return diagnosis
    }

    /// The spans of a diagnosis whose process exits right after it (never freed).
    final class SpansLeftToExit {
        let store: TraceStore
        let traces: [(id: String, spans: [Span])]
        let records: [[SpanRecord]]
        init(store: TraceStore, traces: [(id: String, spans: [Span])], records: [[SpanRecord]]) {
            self.store = store
            self.traces = traces
            self.records = records
        }
    }

    /// Diagnoses spans (and optionally feedback, results, harness).
    public static func diagnose(
        spans: [Span], feedback: [FeedbackRecord] = [], results: [ResultRowFacts] = [], harness: HarnessFiles = HarnessFiles(),
        cycle: Int = 0
    ) -> Diagnosis {
        diagnose(DiagnosisInput(spans: spans, feedback: feedback, results: results, harness: harness), cycle: cycle)
    }

    /// The full entry point.
    /// - Parameter finalAnswers: trace id → the agent's final answer text (`final_answer.md`), when known; otherwise
    ///   the last assistant message without tool calls in the trace's LLM spans.
    public static func diagnose(_ input: DiagnosisInput, cycle: Int, finalAnswers: [String: String] = [:]) -> Diagnosis {
        run(input, traces: groupByTrace(input.spans), cycle: cycle, finalAnswers: finalAnswers)
    }

    /// - Parameter records: `records[t][i]` describes span `i` of trace `t` (nil: worked out here).
    static func run(
        _ input: DiagnosisInput, traces: [(id: String, spans: [Span])], records known: [[SpanRecord]]? = nil, cycle: Int, finalAnswers: [String: String]
    ) -> Diagnosis {
        let layout = HarnessLayout(input.harness, instructionsFile: input.instructionsFile)
        var builder = Builder(harness: input.harness)
        builder.projectTopics = input.topics
        builder.totalTraces = Set(traces.map(\.id)).union(finalAnswers.keys).count
        // The trace detectors only add findings (none reads another's, except the empty-answer detector), so they
        // run at the same time on all cores, each into a builder of its own; their findings merge in the order
        // they used to run one after another, which gives the same result (Builder.merge). What only one detector
        // needs (offered tools, task figures) is computed inside it; the answers, inside the refusal detector, are
        // kept for the empty-answer detector.
        let base = builder
        let expected = input.expectedDeclines
        let history = input.taskHistory
        let shared = SharedFacts()
        // Each span's kind and present attributes, worked out once (while the spans were read, when they came from
        // a store): the detectors ask for the kind on every span, and test the bits before looking an attribute up.
        let kinds = known ?? traces.map { t in t.spans.map(SpanRecord.init) }
        let detectors: [@Sendable (inout Builder) -> Void] = [
            { detectSpanProblems(traces, kinds: kinds, offered: offeredTools(input, traces: traces, kinds: kinds), layout: layout, into: &$0) },
            { detectLoops(traces, kinds: kinds, layout: layout, into: &$0) },
            {
                shared.answers = traces.indices.map { answerFacts(traces[$0].spans, records: kinds[$0]) }
                detectRefusals(traces, answers: shared.answers, finalAnswers: finalAnswers, expectedDeclines: expected, layout: layout, into: &$0)
            },
            { detectMaxTurns(traces, kinds: kinds, layout: layout, into: &$0) },
            { detectHandoffLoops(traces, kinds: kinds, layout: layout, into: &$0) },
            { detectGuardrails(traces, kinds: kinds, layout: layout, into: &$0) },
            {
                shared.runs = taskRunFigures(traces, kinds: kinds)
                detectOutliers(shared.runs.runs, history: history, layout: layout, into: &$0)
            },
        ]
        nonisolated(unsafe) var found = [Builder](repeating: base, count: detectors.count)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: detectors.count) { i in
            var b = base
            let t = Date()
            detectors[i](&b)
            DiagnosisTiming.mark("detector \(i)", since: t)
            lock.lock()
            found[i] = b
            lock.unlock()
        }
        for i in 0..<4 { builder.merge(found[i]) }
        // Reads what the turn-limit and context detectors found.
        detectEmptyAnswers(traces, answers: shared.answers, finalAnswers: finalAnswers, layout: layout, into: &builder)
        for i in 4..<detectors.count { builder.merge(found[i]) }
        if !input.requiredArtifacts.isEmpty { detectMissingArtifacts(traces, kinds: kinds, input: input, layout: layout, into: &builder) }
        addFeedback(input.feedback, topics: input.topics, layout: layout, into: &builder)
        addResults(input.results, feedback: input.feedback, topics: input.topics, layout: layout, into: &builder)
        var diagnosis = builder.build(cycle: cycle)
        diagnosis.taskRuns = shared.runs.figures
        return diagnosis
    }

    /// Facts one detector computes and the merge step reads after all detectors are done (each field is written by
    /// exactly one detector, and read only after `concurrentPerform` returns).
    final class SharedFacts: @unchecked Sendable {
        var answers: [AnswerFacts] = []
        var runs: (runs: [RunFacts], figures: [String: TaskRunFigures]?) = ([], nil)
    }

    /// A pattern's `ErrorText.test` of each distinct text, matched once (agents repeat the same error texts).
    struct RegexMemo {
        let pattern: NSRegularExpression
        /// Words (lowercase ASCII) one of which every match of the pattern contains (none: no pre-check).
        let words: [StaticString]
        var seen: [String: Bool] = [:]
        init(_ pattern: NSRegularExpression, words: [StaticString] = []) {
            self.pattern = pattern
            self.words = words
        }
        mutating func test(_ text: String) -> Bool {
            // Most texts hold none of the words: decided on their bytes, without hashing them or running the pattern.
            if !words.isEmpty, !Diagnoser.mayContain(text, anyOf: words) { return false }
            if let known = seen[text] { return known }
            let hit = ErrorText.test(pattern, text)
            seen[text] = hit
            return hit
        }
    }

    /// False when a pattern matched ignoring case, every match of which contains one of `words` (lowercase ASCII),
    /// cannot match `text`: an ASCII text holding none of the words whatever their case. True otherwise, e.g. for
    /// any non-ASCII text (case folding can make a non-ASCII letter match an ASCII one).
    static func mayContain(_ text: String, anyOf words: [StaticString]) -> Bool {
        var t = text
        return t.withUTF8 { b in
            let n = b.count
            if b.contains(where: { $0 >= 0x80 }) { return true }
            for word in words {
                let w = word.utf8Start, k = word.utf8CodeUnitCount
                guard k > 0, n >= k else { continue }
                for i in 0...(n - k) where b[i] | 0x20 == w[0] {
                    var j = 1
                    while j < k, b[i + j] | 0x20 == w[j] { j += 1 }
                    if j == k { return true }
                }
            }
            return false
        }
    }

    /// Words one of which every match of ``unknownToolPattern``, ``maxTurnsPattern``, ``guardrailText`` holds.
    static let unknownToolWords: [StaticString] = ["tool", "function"], maxTurnsWords: [StaticString] = ["turn"]
    static let guardrailWords: [StaticString] = ["guardrail", "tripwire"]

    /// Evidence items kept per failure mode (the ids lists stay complete).
    public static let maxEvidencePerMode = 25

    // MARK: - Grouping

    static func groupByTrace(_ spans: [Span]) -> [(id: String, spans: [Span])] {
        var order: [String] = []
        var groups: [String: [Span]] = [:]
        for s in spans {
            if groups[s.traceID] == nil { order.append(s.traceID) }
            groups[s.traceID, default: []].append(s)
        }
        return order.map { ($0, groups[$0]!) }
    }

    /// - Parameter kinds: the spans' records, when known.
    static func offeredTools(_ input: DiagnosisInput, traces: [(id: String, spans: [Span])], kinds: [[SpanRecord]]? = nil) -> Set<String> {
        if let o = input.offeredTools { return o }
        var set = Set<String>()
        // Agents repeat the same tool list on every span: each distinct text is parsed once.
        var parsed: [String: [JSONValue]] = [:]
        for (ti, trace) in traces.enumerated() {
            for i in trace.spans.indices {
                if let kinds, !kinds[ti][i].has(SpanRecord.agentTools) { continue }
                guard let v = trace.spans[i].attributes["agent.tools"] else { continue }
                let list: [JSONValue]
                if let a = v.arrayValue {
                    list = a
                } else if let text = v.stringValue {
                    if let known = parsed[text] {
                        list = known
                    } else {
                        list = DiagnosisLoading.parseJSON(text)?.arrayValue ?? []
                        parsed[text] = list
                    }
                } else {
                    list = []
                }
                for t in list {
                    if let name = t.stringValue ?? t["name"]?.stringValue { set.insert(name) }
                }
            }
        }
        for (name, enabled) in input.harness.tools where enabled { set.insert(name) }
        return set
    }

    /// The id of the first span without a parent (read in place: `spans.first { … }` copies every span it passes).
    static func rootSpanID(_ spans: [Span]) -> String? {
        spans.indices.first { spans[$0].parentSpanID.isEmpty }.map { spans[$0].spanID }
    }

    /// Spans in start order (file order breaks ties).
    static func chronological(_ spans: [Span]) -> [Span] { chronologicalOrder(spans).map { spans[$0] } }

    /// The indices of `spans` in start order (file order breaks ties), without moving the spans.
    static func chronologicalOrder(_ spans: [Span]) -> [Int] {
        spans.withUnsafeBufferPointer { chronologicalOrder($0) }
    }

    static func chronologicalOrder(_ spans: UnsafeBufferPointer<Span>) -> [Int] {
        let starts = spans.map(\.startTime)
        return starts.indices.sorted { (starts[$0], $0) < (starts[$1], $1) }
    }

    /// ``chronologicalOrder(_:)`` of spans described by `records`: by their parsed start times when every start
    /// time orders as its text does (``SpanRecord/startOrdered``, the usual case), without reading the texts.
    static func chronologicalOrder(_ spans: UnsafeBufferPointer<Span>, _ records: UnsafeBufferPointer<SpanRecord>) -> [Int] {
        startOrder(Array(records.indices), spans, records)
    }

    /// The indices `among` in start-time order (index order breaks ties), as `(spans[$0].startTime, $0)` sorts them:
    /// by the parsed start times when every one of them orders as its text does, else by the texts (a lean span's
    /// left-out text given back by its record).
    static func startOrder(_ among: [Int], _ spans: UnsafeBufferPointer<Span>, _ records: UnsafeBufferPointer<SpanRecord>) -> [Int] {
        timeOrder(among, spans, records, nanos: \.startNanos, ordered: \.startOrdered) { $0.startText($1) }
    }

    /// ``startOrder(_:_:_:)`` by end times.
    static func endOrder(_ among: [Int], _ spans: UnsafeBufferPointer<Span>, _ records: UnsafeBufferPointer<SpanRecord>) -> [Int] {
        timeOrder(among, spans, records, nanos: \.endNanos, ordered: \.endOrdered) { $0.endText($1) }
    }

    /// The indices `among` by one of the spans' times (index order breaks ties): by the parsed nanoseconds when every
    /// one orders as its text, else by the texts.
    private static func timeOrder(
        _ among: [Int], _ spans: UnsafeBufferPointer<Span>, _ records: UnsafeBufferPointer<SpanRecord>, nanos: KeyPath<SpanRecord, Int64>,
        ordered: KeyPath<SpanRecord, Bool>, text: (SpanRecord, Span) -> String
    ) -> [Int] {
        if among.allSatisfy({ records[$0][keyPath: ordered] }) {
            return among.sorted { (records[$0][keyPath: nanos], $0) < (records[$1][keyPath: nanos], $1) }
        }
        var texts: [Int: String] = [:]
        for i in among { texts[i] = text(records[i], spans[i]) }
        return among.sorted { (texts[$0]!, $0) < (texts[$1]!, $1) }
    }

    // MARK: - Errors, unknown tools, context, rate limits, invalid arguments

    static let unknownToolPattern = try! NSRegularExpression(
        pattern: #"unknown tool|no such tool|tool\s+['"`]?[\w.-]+['"`]?\s+(is )?not found|not a valid tool|invalid tool|tool not found|unknown function"#,
        options: [.caseInsensitive])

    static func errorDetail(_ s: Span) -> String {
        if let out = s.outputValueText, let r = out.range(of: "Error: ") { return String(out[r.upperBound...]) }
        if !s.status.message.isEmpty, !s.status.message.hasPrefix("Error running tool") { return s.status.message }
        if let out = s.outputValueText, !out.isEmpty { return out }
        if let m = s.attributes["exception.message"]?.stringValue ?? s.attributes["error.message"]?.stringValue, !m.isEmpty { return m }
        if let t = s.attributes["error.type"]?.stringValue { return t }
        return s.status.message
    }

    /// Lowercased error text with quoted values, timestamps, ids, paths and numbers replaced by placeholders.
    public static func normalizeError(_ text: String) -> String { ErrorText.template(text) }

    static let guardrailText = try! NSRegularExpression(pattern: #"guardrail|tripwire"#, options: [.caseInsensitive])

    /// - Parameter kinds: `kinds[t][i]` describes span `i` of trace `t`.
    static func detectSpanProblems(
        _ traces: [(id: String, spans: [Span])], kinds: [[SpanRecord]], offered: Set<String>, layout: HarnessLayout, into b: inout Builder
    ) {
        let unknown = FailureCatalog.unknownTool(layout, offered: offered.sorted(by: byteOrder))
        let context = FailureCatalog.contextOverflow(layout), rate = FailureCatalog.rateLimit(layout)
        let invalid = FailureCatalog.invalidToolArguments(layout)
        // The traces are read on all cores, in contiguous ranges, each into a builder of its own and a list of the
        // error clusterer's adds; the builders merge in range order and the adds are replayed in order, which gives
        // what one pass over the traces gives (Builder.merge).
        // A few traces are read in one range: starting threads would cost more than it saves.
        let ranges = traceRanges(traces, parts: traces.count < 64 ? 1 : ProcessInfo.processInfo.activeProcessorCount)
        var empty = b
        empty.modes = [:]
        let start = empty
        nonisolated(unsafe) var parts = [(Builder, [ClusterAdd])](repeating: (start, []), count: ranges.count)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: ranges.count) { r in
            var part = start
            var adds: [ClusterAdd] = []
            spanProblems(traces, ranges[r], kinds: kinds, offered: offered, topics: (unknown, context, rate, invalid), into: &part, adds: &adds)
            lock.lock()
            parts[r] = (part, adds)
            lock.unlock()
        }
        var clusterer = ErrorClusterer()
        for (part, adds) in parts {
            b.merge(part)
            for a in adds {
                clusterer.add(
                    source: a.source, isTool: a.isTool, errorClass: a.errorClass, exceptionType: a.exceptionType, traceID: a.traceID,
                    spanID: a.spanID, detail: a.detail, consecutive: a.consecutive)
            }
        }
        for c in clusterer.merged() {
            let topic = FailureCatalog.errorCluster(layout, c)
            for o in c.occurrences {
                b.add(topic, traceID: o.traceID, spanID: o.spanID, note: "\(c.source) error: \(Excerpt.clip(Excerpt.oneLine(o.detail), 160))",
                      quote: Excerpt.clip(o.detail, 200))
            }
            b.setTemplates("fm-" + topic.id, c.templates.map { ErrorTemplate(template: $0.template, count: $0.count, example: Excerpt.clip($0.example, 200)) })
        }
    }

    /// One `ErrorClusterer.add` call, kept to be replayed in trace order.
    struct ClusterAdd {
        var source: String
        var isTool: Bool
        var errorClass: ErrorClass
        var exceptionType: String?
        var traceID: String
        var spanID: String
        var detail: String
        var consecutive: Int
    }

    /// `parts` contiguous ranges of trace indices with about as many spans each (fewer when there are few traces).
    static func traceRanges(_ traces: [(id: String, spans: [Span])], parts: Int) -> [Range<Int>] {
        let total = traces.reduce(0) { $0 + $1.spans.count }
        guard parts > 1, total > 0 else { return [0..<traces.count] }
        var out: [Range<Int>] = []
        var start = 0, seen = 0
        for (i, t) in traces.enumerated() {
            seen += t.spans.count
            if out.count < parts - 1, seen * parts >= total * (out.count + 1) {
                out.append(start..<(i + 1))
                start = i + 1
            }
        }
        if start < traces.count || out.isEmpty { out.append(start..<traces.count) }
        return out
    }

    /// The per-trace part of `detectSpanProblems` over `range`: findings into `b`, error spans for the clusterer into
    /// `adds` (in trace order).
    static func spanProblems(
        _ traces: [(id: String, spans: [Span])], _ range: Range<Int>, kinds: [[SpanRecord]], offered: Set<String>,
        topics: (unknown: FailureTopic, context: FailureTopic, rate: FailureTopic, invalid: FailureTopic), into b: inout Builder,
        adds: inout [ClusterAdd]
    ) {
        let (unknown, context, rate, invalid) = topics
        var classes: [String: (global: GlobalErrorClass?, local: ErrorClass, type: String?)] = [:]
        var unknownSays = RegexMemo(unknownToolPattern, words: unknownToolWords), turnsSay = RegexMemo(maxTurnsPattern, words: maxTurnsWords)
        var guardrailSays = RegexMemo(guardrailText, words: guardrailWords)
        for ti in range {
            let (traceID, unordered) = traces[ti]
            var consecutive: [String: Int] = [:]
            var rateHits = 0
            // Read in place through a buffer pointer: a method called on `unordered[i]` copied the whole span first.
            unordered.withUnsafeBufferPointer { unordered in
                kinds[ti].withUnsafeBufferPointer { records in
                    for i in chronologicalOrder(unordered, records) {
                        // Read in place: a copy of the span (`let s = unordered[i]`) retained and released its every field.
                        let record = records[i]
                        let kind = record.kind
                        let isTool = kind == "TOOL"
                        let isError = record.isError
                        // Most spans are neither tool calls nor failures: of those, only a model span's output is checked
                        // (what the rest of the loop does with them, without reading their names).
                        if !isTool && !isError {
                            if kind == "LLM", record.has(SpanRecord.truncation) { checkTruncation(unordered, i, record, traceID: traceID, topic: context, into: &b) }
                            continue
                        }
                        // The span's fields are read one by one (a method called on `unordered[i]` copied the span).
                        let name = unordered[i].name
                        let source = isTool ? (Span.toolName(name: name, attributes: unordered[i].attributes, record) ?? name) : name
                        let detail = isError ? errorDetail(unordered[i]) : ""
                        if isTool {
                            let saysUnknown = isError && unknownSays.test(detail)
                            if (!offered.isEmpty && !offered.contains(source)) || saysUnknown {
                                b.add(unknown, traceID: traceID, spanID: unordered[i].spanID,
                                      note: "called tool \"\(source)\"" + (offered.isEmpty ? "" : " (not offered)") + (saysUnknown ? ": \(Excerpt.clip(detail, 120))" : ""),
                                      quote: saysUnknown ? Excerpt.clip(detail, 200) : nil)
                                continue
                            }
                            // Arguments that are not JSON although they look like it.
                            if let input = Span.inputValueText(unordered[i].attributes, record), let first = input.utf8.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x09 }),
                                first == UInt8(ascii: "{") || first == UInt8(ascii: "["), !DiagnosisLoading.isValidJSON(input)
                            {
                                b.add(invalid, traceID: traceID, spanID: unordered[i].spanID, note: "\(source) called with arguments that are not valid JSON: \(Excerpt.clip(input, 100))",
                                      quote: Excerpt.clip(input, 120))
                                if isError { continue }
                            }
                        }
                        if kind == "LLM", record.has(SpanRecord.truncation) { checkTruncation(unordered, i, record, traceID: traceID, topic: context, into: &b) }
                        guard isError else {
                            // A success ends the tool's run of failures (nothing to end while no tool has failed).
                            if isTool, !consecutive.isEmpty { consecutive[source] = 0 }
                            continue
                        }
                        let text = detail + " " + (unordered[i].attributes["error.type"]?.stringValue ?? "")
                        // Keyed by everything the classes are read from: the exception type can come from `exception.type`.
                        let classKey = text + "\u{0}" + (unordered[i].attributes["exception.type"]?.stringValue ?? "")
                        let known = classes[classKey] ?? {
                            let c = (global: ErrorText.globalClass(text), local: ErrorText.errorClass(text), type: ErrorText.exceptionType(unordered[i], detail))
                            classes[classKey] = c
                            return c
                        }()
                        if let global = known.global {
                            let topic = global == .contextOverflow ? context : global == .rateLimit ? rate : invalid
                            if global == .rateLimit { rateHits += 1 }
                            b.add(topic, traceID: traceID, spanID: unordered[i].spanID, note: "\(source): \(Excerpt.clip(Excerpt.oneLine(detail), 160))",
                                  quote: Excerpt.clip(detail, 200))
                            continue
                        }
                        // The agent's own span repeats a child's failure; turn limits and guardrails have their detectors.
                        if kind == "AGENT" || kind == "GUARDRAIL" || (!isTool && unordered[i].parentSpanID.isEmpty) { continue }
                        if turnsSay.test(text) || guardrailSays.test(text) { continue }
                        if isTool { consecutive[source, default: 0] += 1 }
                        adds.append(ClusterAdd(
                            source: source, isTool: isTool, errorClass: known.local, exceptionType: known.type,
                            traceID: traceID, spanID: unordered[i].spanID, detail: detail, consecutive: consecutive[source] ?? 1))
                    }
                }
            }
            if rateHits >= 3 { b.note(rate, traceID: traceID, "\(rateHits) rate-limited calls in one trace (retry storm)") }
        }
    }

    /// Attributes that state the model's context window, when an exporter records it.
    static let contextWindowKeys = ["llm.context_window", "llm.max_context_tokens", "gen_ai.request.context_window", "llm.model_context_window"]

    /// An LLM span (`spans[i]`, read in place, described by `record`) whose output stopped for length, or whose input
    /// filled the stated context window. Only the attributes the span has are looked up.
    static func checkTruncation(_ spans: UnsafeBufferPointer<Span>, _ i: Int, _ record: SpanRecord, traceID: String, topic: FailureTopic, into b: inout Builder) {
        func value(_ bit: UInt64, _ key: String) -> JSONValue? { record.has(bit) ? spans[i].attributes[key] : nil }
        var reason: String?
        if let f = value(SpanRecord.finishReason, "llm.finish_reason")?.stringValue ?? value(SpanRecord.genAIFinishReason, "gen_ai.response.finish_reason")?.stringValue,
            f == "length" || f == "max_tokens"
        {
            reason = "finish_reason=\(f)"
        } else if let list = value(SpanRecord.genAIFinishReasons, "gen_ai.response.finish_reasons")?.arrayValue, list.contains(where: { $0.stringValue == "length" }) {
            reason = "finish_reason=length"
        } else if let out = value(SpanRecord.outputMessages, "llm.output_messages")?.stringValue,
            DiagnosisLoading.contains(out, "\"finish_reason\":\"length\"") || DiagnosisLoading.contains(out, "\"finish_reason\": \"length\"")
        {
            reason = "finish_reason=length"
        } else if record.has(SpanRecord.contextWindow), let window = contextWindowKeys.lazy.compactMap({ spans[i].attributes[$0]?.doubleValue }).first, window > 0,
            let input = (spans[i].attributes["inference.llm.input_tokens"] ?? spans[i].attributes["llm.token_count.prompt"])?.doubleValue, input >= 0.98 * window
        {
            reason = "input tokens \(Int(input)) of a \(Int(window))-token context window"
        }
        guard let reason else { return }
        b.add(topic, traceID: traceID, spanID: spans[i].spanID, note: "\(spans[i].name): output truncated or context full (\(reason))", quote: reason)
    }

    // MARK: - Loops

    static func detectLoops(_ traces: [(id: String, spans: [Span])], kinds: [[SpanRecord]], layout: HarnessLayout, into b: inout Builder) {
        let topic = FailureCatalog.loop(layout)
        for (ti, (traceID, spans)) in traces.enumerated() {
            var groups: [CallKey: [Int]] = [:]
            var order: [CallKey] = []
            // Read through buffer pointers: called on `spans[i]`, each method copied the whole span first, and
            // `kinds[ti][i]` copied the record.
            spans.withUnsafeBufferPointer { spans in
                kinds[ti].withUnsafeBufferPointer { records in
                    for i in spans.indices where records[i].kind == "TOOL" {
                        // The tool and its arguments as they are (joined into one string, each call allocated one).
                        let name = spans[i].name, attributes = spans[i].attributes
                        let key = CallKey(
                            tool: Span.toolName(name: name, attributes: attributes, records[i]) ?? name,
                            arguments: DiagnosisLoading.trimmed(Span.inputValueText(attributes, records[i]) ?? ""))
                        if groups[key] == nil { order.append(key) }
                        groups[key, default: []].append(i)
                    }
                }
            }
            for key in order {
                guard let at = groups[key], at.count >= 3 else { continue }
                // Mostly failing calls are retries: their error cluster reports them.
                guard at.filter({ kinds[ti][$0].isError }).count * 2 < at.count else { continue }
                let calls = at.map { spans[$0] }
                // From the record (a lean span's attributes no longer say its kind).
                let tool = Span.toolName(name: calls[0].name, attributes: calls[0].attributes, kinds[ti][at[0]]) ?? calls[0].name
                b.add(
                    topic, traceID: traceID, spanIDs: calls.map(\.spanID), count: calls.count,
                    note: "\(tool) called \(calls.count)× with the same arguments \(Excerpt.clip(calls[0].inputValueText ?? "", 100))",
                    quote: Excerpt.clip(calls[0].inputValueText ?? "", 120))
            }
        }
    }

    /// A tool call as `detectLoops` groups calls: the tool and its trimmed arguments.
    struct CallKey: Hashable {
        var tool: String
        var arguments: String
    }

    // MARK: - Final answers: refusals and empty answers

    static let refusalPattern = try! NSRegularExpression(
        pattern: #"\b(i(?:'|’)?m sorry,? but|i(?:'|’)?m (?:unable|not able) to|i am (?:unable|not able) to|i can(?:not|'t|’t) (?:help|assist|provide|answer|comply|do that|complete|share|give)|i (?:won't|will not) be able to|i must decline|as an ai(?: language model)?,? i|unfortunately,? i can(?:not|'t|’t))"#,
        options: [.caseInsensitive])

    /// A decline that states the rule or reason that applies is an answer, not a refusal.
    static let statedReasonPattern = try! NSRegularExpression(
        pattern: #"\b(because|since|as per|per (?:our|the)|under (?:our|the)|due to|policy|policies|rule|rules|terms|window|limit|eligib\w*|allowed|permitted|requires?|required|restricted|only (?:available|for|within|if|after|before|to)|past (?:the|our)|outside (?:the|our)|exceeds?|expired|no longer|more than \d+|at least \d+)\b"#,
        options: [.caseInsensitive])

    /// The last assistant message of the trace's last LLM span: its text (possibly empty), whether it called tools,
    /// and the span.
    static func lastAssistantMessage(_ spans: UnsafeBufferPointer<Span>, _ records: UnsafeBufferPointer<SpanRecord>) -> (text: String, toolCalls: Bool, spanID: String)? {
        let llm = endOrder(records.indices.filter { records[$0].kind == "LLM" }, spans, records)
        for i in llm.reversed() {
            // Read in place (a copy of the span retained and released its every field).
            guard let text = spans[i].attributes["llm.output_messages"]?.stringValue, let messages = DiagnosisLoading.parseJSON(text)?.arrayValue else { continue }
            for m in messages.reversed() where m["role"]?.stringValue == "assistant" {
                let calls = m["tool_calls"]?.arrayValue ?? []
                return (m["content"]?.stringValue ?? "", !calls.isEmpty, spans[i].spanID)
            }
        }
        return nil
    }

    static func rootAgentOutput(_ spans: UnsafeBufferPointer<Span>, _ records: UnsafeBufferPointer<SpanRecord>) -> (text: String, spanID: String)? {
        guard let r = spans.indices.first(where: { spans[$0].parentSpanID.isEmpty && records[$0].kind == "AGENT" }) ?? records.firstIndex(where: { $0.kind == "AGENT" }),
            let out = spans[r].attributes["output.value"]?.stringValue ?? spans[r].attributes["agent.final_output"]?.stringValue
        else { return nil }
        return (out, spans[r].spanID)
    }

    static func finalAnswer(_ spans: [Span]) -> (text: String, spanID: String)? { answerFacts(spans).final }

    /// What a trace says about its final answer, computed once per trace.
    struct AnswerFacts {
        var root: (text: String, spanID: String)?
        var last: (text: String, toolCalls: Bool, spanID: String)?
        var final: (text: String, spanID: String)? {
            if let root, !root.text.isEmpty { return root }
            if let last, !last.toolCalls, !last.text.isEmpty { return (last.text, last.spanID) }
            return nil
        }
    }

    /// - Parameter records: the spans' records, when already known.
    static func answerFacts(_ spans: [Span], records known: [SpanRecord]? = nil) -> AnswerFacts {
        let records = known ?? spans.map(SpanRecord.init)
        // Read in place (a method called on `spans[i]` copied the span; `records.map(\.kind)` built an array per trace).
        return spans.withUnsafeBufferPointer { spans in
            records.withUnsafeBufferPointer { records in
                let root = rootAgentOutput(spans, records)
                if let root, !root.text.isEmpty { return AnswerFacts(root: root, last: nil) }
                return AnswerFacts(root: root, last: lastAssistantMessage(spans, records))
            }
        }
    }

    /// Whether the answer declines without answering: it opens with a refusal phrase, states no rule or reason, and
    /// matches none of the project's expected declines.
    static func refusalMatch(_ text: String, expected: [NSRegularExpression]) -> NSRange? {
        let head = refusalHead(text)
        guard mayRefuse(head) else { return nil }
        guard let m = refusalPattern.firstMatch(in: head, range: NSRange(head.startIndex..., in: head)) else { return nil }
        if expected.contains(where: { ErrorText.test($0, text) }) { return nil }
        if ErrorText.test(statedReasonPattern, head) { return nil }
        return m.range
    }

    /// The first 600 characters of `text` that the refusal pattern reads (the text itself when it has no more bytes).
    /// An ASCII head without a carriage return is its first 600 bytes (only CR LF joins ASCII scalars into one
    /// character, and no ASCII scalar extends the one before), cut without walking its characters.
    static func refusalHead(_ text: String) -> String {
        let u = text.utf8
        if u.count <= 600 { return text }
        var simple = true
        var n = 0
        for c in u {
            if n > 600 { break }
            if c >= 0x80 || c == 0x0D {
                simple = false
                break
            }
            n += 1
        }
        if simple { return String(Substring(u.prefix(600))) }
        return String(text.prefix(600))
    }

    /// False when ``refusalPattern`` cannot match `head`: an ASCII text (where matching ignoring case is matching
    /// letters whatever their case) without any of the words every phrase of the pattern contains (`sorry`, `able`,
    /// `can`, `decline`, `as an ai`). True otherwise, e.g. for any non-ASCII text.
    static func mayRefuse(_ head: String) -> Bool {
        var h = head
        return h.withUTF8 { b in
            let n = b.count
            /// Whether `word` (lowercase) is at `i`, ignoring case (`| 0x20` may also let a few non-letters pass:
            /// this only says "may").
            func at(_ i: Int, _ word: StaticString) -> Bool {
                let w = word.utf8Start
                let k = word.utf8CodeUnitCount
                guard i + k <= n else { return false }
                for j in 1..<k where b[i + j] | 0x20 != w[j] { return false }
                return true
            }
            for i in 0..<n {
                let c = b[i]
                if c >= 0x80 { return true }
                // The second letter first (what `at` compares first), so most of these common letters cost no call.
                let next = i + 1 < n ? b[i + 1] | 0x20 : 0
                switch c | 0x20 {
                case UInt8(ascii: "s"): if next == UInt8(ascii: "o"), at(i, "sorry") { return true }
                case UInt8(ascii: "a"):
                    if next == UInt8(ascii: "b"), at(i, "able") { return true }
                    if next == UInt8(ascii: "s"), at(i, "as an ai") { return true }
                case UInt8(ascii: "c"): if next == UInt8(ascii: "a"), at(i, "can") { return true }
                case UInt8(ascii: "d"): if next == UInt8(ascii: "e"), at(i, "decline") { return true }
                default: break
                }
            }
            return false
        }
    }

    static func detectRefusals(
        _ traces: [(id: String, spans: [Span])], answers: [AnswerFacts], finalAnswers: [String: String], expectedDeclines: [String], layout: HarnessLayout,
        into b: inout Builder
    ) {
        let topic = FailureCatalog.refusal(layout)
        let expected = expectedDeclines.compactMap { try? NSRegularExpression(pattern: $0, options: [.caseInsensitive]) }
        func check(_ traceID: String, _ text: String, _ spanID: String?) {
            guard let r = refusalMatch(text, expected: expected) else { return }
            let head = refusalHead(text)
            b.add(topic, traceID: traceID, spanID: spanID, note: "final answer declines without a reason: \"\(Excerpt.around(head, range: r, radius: 50))\"",
                  quote: Excerpt.clip(Excerpt.oneLine(head), 200))
        }
        var seen = Set<String>()
        for (i, (traceID, _)) in traces.enumerated() {
            seen.insert(traceID)
            if let given = finalAnswers[traceID] { check(traceID, given, nil) } else if let a = answers[i].final { check(traceID, a.text, a.spanID) }
        }
        for (traceID, text) in finalAnswers.sorted(by: { byteOrder($0.key, $1.key) }) where !seen.contains(traceID) { check(traceID, text, nil) }
    }

    static func detectEmptyAnswers(
        _ traces: [(id: String, spans: [Span])], answers: [AnswerFacts], finalAnswers: [String: String], layout: HarnessLayout, into b: inout Builder
    ) {
        let topic = FailureCatalog.emptyAnswer(layout)
        for (i, (traceID, spans)) in traces.enumerated() {
            let facts = answers[i]
            // A run stopped by the turn limit or a context overflow is reported there.
            if b.hasCategory("max-turns", traceID: traceID) || b.hasCategory("context-overflow", traceID: traceID) { continue }
            if !finalAnswers.isEmpty {
                if let given = finalAnswers[traceID] {
                    if DiagnosisLoading.isBlank(given) {
                        b.add(topic, traceID: traceID, spanID: nil, note: "the final answer file is empty", quote: "")
                    }
                    continue
                }
                if facts.final == nil {
                    b.add(topic, traceID: traceID, spanID: rootSpanID(spans), note: "no final answer was written")
                    continue
                }
            }
            if let root = facts.root, DiagnosisLoading.isBlank(root.text) {
                b.add(topic, traceID: traceID, spanID: root.spanID, note: "the agent's output is empty")
                continue
            }
            if facts.root == nil, let last = facts.last, !last.toolCalls,
                DiagnosisLoading.isBlank(last.text)
            {
                b.add(topic, traceID: traceID, spanID: last.spanID, note: "the last model message is empty and calls no tool")
            }
        }
    }

    // MARK: - Max turns

    static let maxTurnsPattern = try! NSRegularExpression(pattern: #"max(?:imum)?[ _-]?turns|maxturnsexceeded|turn limit"#, options: [.caseInsensitive])

    static func detectMaxTurns(_ traces: [(id: String, spans: [Span])], kinds: [[SpanRecord]], layout: HarnessLayout, into b: inout Builder) {
        let topic = FailureCatalog.maxTurns(layout)
        var turnsSay = RegexMemo(maxTurnsPattern, words: maxTurnsWords)
        let texts = SpanRecord.stopReason | SpanRecord.outcome | SpanRecord.errorType
        for (ti, (traceID, spans)) in traces.enumerated() {
            for i in spans.indices {
                // A span with none of the attributes and no status message has nothing to say.
                guard kinds[ti][i].has(texts) || !spans[i].status.message.isEmpty else { continue }
                let attributes = spans[i].attributes
                // Most spans have none of these texts: the list is built only when one is there.
                let stop = attributes["agent.stop_reason"]?.stringValue, outcome = attributes["agent.outcome"]?.stringValue
                let type = attributes["error.type"]?.stringValue, message = spans[i].status.message
                guard stop != nil || outcome != nil || type != nil || !message.isEmpty else { continue }
                let texts = [stop, outcome, type, message].compactMap { $0 }.filter { !$0.isEmpty }
                guard !texts.isEmpty, let hit = texts.first(where: { turnsSay.test($0) }) else { continue }
                b.add(topic, traceID: traceID, spanID: spans[i].spanID, note: "\(spans[i].name) stopped: \(Excerpt.clip(hit, 120))", quote: Excerpt.clip(hit, 120))
                break
            }
        }
    }

    // MARK: - Handoffs and guardrails

    static func detectHandoffLoops(_ traces: [(id: String, spans: [Span])], kinds: [[SpanRecord]], layout: HarnessLayout, into b: inout Builder) {
        let topic = FailureCatalog.handoffLoop(layout)
        for (ti, (traceID, spans)) in traces.enumerated() {
            // Found by index (filtering the spans copied each one the test was run on).
            let at = spans.indices.filter { kinds[ti][$0].has(SpanRecord.handoffTo) || spans[$0].name == "handoff" }
            guard at.count >= 3 else { continue }
            // In start order by the records (a lean span's time text may be left out).
            let handoffs = spans.withUnsafeBufferPointer { s in kinds[ti].withUnsafeBufferPointer { r in startOrder(at, s, r) } }.map { spans[$0] }
            let targets = handoffs.map { $0.attributes["agent.handoff.to"]?.stringValue ?? $0.attributes["inference.agent_name"]?.stringValue ?? "" }
            var visits: [String: Int] = [:]
            for t in targets where !t.isEmpty { visits[t, default: 0] += 1 }
            guard visits.values.contains(where: { $0 >= 2 }) else { continue }
            let path = handoffs.map { ($0.attributes["agent.handoff.from"]?.stringValue ?? "?") + "→" + ($0.attributes["agent.handoff.to"]?.stringValue ?? "?") }
            b.add(topic, traceID: traceID, spanIDs: handoffs.map(\.spanID), count: handoffs.count,
                  note: "\(handoffs.count) handoffs: \(path.joined(separator: ", "))", quote: path.joined(separator: ", "))
        }
    }

    static func detectGuardrails(_ traces: [(id: String, spans: [Span])], kinds: [[SpanRecord]], layout: HarnessLayout, into b: inout Builder) {
        var guardrailSays = RegexMemo(guardrailText, words: guardrailWords)
        for (ti, (traceID, spans)) in traces.enumerated() {
            for i in spans.indices {
                let record = kinds[ti][i]
                let kind = record.kind
                let isGuardrail = kind == "GUARDRAIL" || record.has(SpanRecord.guardrailName)
                // Neither a guardrail nor a failure: nothing to report (the common case, decided without a lookup).
                guard isGuardrail || record.isError else { continue }
                let triggered = record.has(SpanRecord.guardrailTriggered) && spans[i].attributes["guardrail.triggered"]?.boolValue == true
                let text = record.isError ? errorDetail(spans[i]) + " " + (spans[i].attributes["error.type"]?.stringValue ?? "") : ""
                let errorSays = record.isError && guardrailSays.test(text) && kind != "AGENT"
                guard (isGuardrail && (triggered || record.isError)) || errorSays else { continue }
                let name = spans[i].attributes["guardrail.name"]?.stringValue
                    ?? (spans[i].name.hasPrefix("guardrail.") ? String(spans[i].name.dropFirst("guardrail.".count)) : spans[i].name)
                b.add(FailureCatalog.guardrail(layout, name: name), traceID: traceID, spanID: spans[i].spanID,
                      note: "guardrail \(name) tripped" + (text.isEmpty ? "" : ": \(Excerpt.clip(Excerpt.oneLine(text), 140))"),
                      quote: text.isEmpty ? nil : Excerpt.clip(text, 160))
            }
        }
    }

    // MARK: - Latency and token outliers

    /// Seconds since 1970 of an ISO-8601 UTC time `YYYY-MM-DDTHH:MM:SS[.fff…]Z` (nil otherwise).
    static func seconds(_ t: String) -> Double? {
        // Whole seconds and the fraction apart, as a Double cannot hold nanoseconds since 1970 exactly.
        TraceTime.nanoseconds(lenient: t).map { Double($0 / 1_000_000_000) + Double($0 % 1_000_000_000) / 1e9 }
    }

    static let taskKeys = [TraceIdentity.taskAttribute, "flywheel.task_id", "task.id", "task_id", "inference.task_id"]

    /// A run needs this many figures of its task (this cycle's runs plus earlier cycles') before it can be an outlier.
    static let outlierMinimumRuns = 5

    /// This cycle's latency and token figures per task (`Diagnosis.taskRuns`), in trace order, rounded to the
    /// millisecond and the token; nil when no trace names its task.
    static func taskRunFigures(_ traces: [(id: String, spans: [Span])], kinds: [[SpanRecord]]) -> (runs: [RunFacts], figures: [String: TaskRunFigures]?) {
        var runs: [RunFacts] = []
        var figures: [String: TaskRunFigures] = [:]
        for (ti, (traceID, spans)) in traces.enumerated() {
            var start = Double.infinity, end = -Double.infinity
            var tokens = 0.0, sawTokens = false
            var task: String?
            for i in spans.indices {
                let record = kinds[ti][i]
                // The times were parsed while the spans were read (`seconds(span.startTime)` of each span).
                if let a = SpanRecord.seconds(record.startNanos) { start = min(start, a) }
                if let z = SpanRecord.seconds(record.endNanos) { end = max(end, z) }
                // The counts were taken while the span was read (no attribute is looked up here).
                if let v = record.inputTokens { tokens += v; sawTokens = true }
                if let v = record.outputTokens { tokens += v; sawTokens = true }
                if task == nil, spans[i].parentSpanID.isEmpty || record.kind == "AGENT" {
                    task = record.has(SpanRecord.task) ? taskKeys.lazy.compactMap { spans[i].attributes[$0]?.stringValue }.first : nil
                }
            }
            let run = RunFacts(
                id: traceID, root: rootSpanID(spans), task: task ?? "",
                latency: end > start ? ((end - start) * 1000).rounded() / 1000 : nil, tokens: sawTokens ? tokens.rounded() : nil)
            runs.append(run)
            guard !run.task.isEmpty else { continue }
            if let v = run.latency { figures[run.task, default: TaskRunFigures()].latency.append(v) }
            if let v = run.tokens { figures[run.task, default: TaskRunFigures()].tokens.append(v) }
        }
        return (runs, figures.isEmpty ? nil : figures)
    }

    struct RunFacts: Sendable {
        var id: String
        var root: String?
        var task: String
        var latency: Double?
        var tokens: Double?
        func value(_ metric: String) -> Double? { metric == "latency" ? latency : tokens }
    }

    /// A run is an outlier when it is far above the median of its task's runs: this cycle's runs of the task together
    /// with the task's runs in earlier cycles (`history`), so a task run once per cycle is compared with its own past.
    /// Runs of different tasks are never compared with each other.
    static func detectOutliers(_ runs: [RunFacts], history: [String: TaskRunFigures], layout: HarnessLayout, into b: inout Builder) {
        func median(_ v: [Double]) -> Double {
            let s = v.sorted()
            return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }
        for metric in ["latency", "tokens"] {
            let topic = FailureCatalog.outlier(layout, metric: metric)
            let groups = Dictionary(grouping: runs.filter { $0.value(metric) != nil && !$0.task.isEmpty }, by: \.task)
            for task in groups.keys.sorted(by: byteOrder) {
                let group = groups[task]!
                let earlier = history[task]?.values(metric) ?? []
                let values = earlier + group.map { $0.value(metric)! }
                guard values.count >= outlierMinimumRuns else { continue }
                let m = median(values)
                let mad = median(values.map { abs($0 - m) })
                guard m > 0 else { continue }
                let base = earlier.isEmpty ? "" : " (\(values.count) runs, \(earlier.count) in earlier cycles)"
                for f in group {
                    let v = f.value(metric)!
                    // Relative and absolute: a run 4× slower by milliseconds is timing noise, not a failure mode.
                    let floor = metric == "latency" ? 2.0 : 2000.0
                    guard v > 4 * m, v > m + 6 * max(mad, m * 0.05), v - m >= floor else { continue }
                    let shown = metric == "latency" ? String(format: "%.1fs vs a median of %.1fs", v, m) : String(format: "%.0f tokens vs a median of %.0f", v, m)
                    b.add(topic, traceID: f.id, spanID: f.root, note: "task \(task): " + shown + base, quote: shown)
                }
            }
        }
    }

    // MARK: - Missing artifacts

    static func detectMissingArtifacts(
        _ traces: [(id: String, spans: [Span])], kinds: [[SpanRecord]], input: DiagnosisInput, layout: HarnessLayout, into b: inout Builder
    ) {
        let topic = FailureCatalog.missingArtifacts(layout, required: input.requiredArtifacts)
        var seen = Set<String>()
        for (ti, (traceID, spans)) in traces.enumerated() {
            seen.insert(traceID)
            var present: Set<String>
            var anchor: String? = rootSpanID(spans)
            if let given = input.artifacts[traceID] {
                present = given
            } else {
                // Kinds and failures from the records (a lean span's attributes no longer say its kind).
                let at = spans.indices.filter { i in
                    let tool = Span.toolName(name: spans[i].name, attributes: spans[i].attributes, kinds[ti][i]) ?? ""
                    return tool == "write_artifact" || tool == "write_file"
                }
                let writes = at.map { spans[$0] }
                guard !writes.isEmpty else { continue }
                present = []
                for (w, i) in zip(writes, at) where !kinds[ti][i].isError {
                    guard let args = w.inputValueText.flatMap({ try? JSONValue.parse($0) }) else { continue }
                    if let name = args["name"]?.stringValue ?? args["path"]?.stringValue ?? args["file"]?.stringValue ?? args["artifact"]?.stringValue {
                        present.insert((name as NSString).lastPathComponent)
                    }
                }
                anchor = anchor ?? writes.last?.spanID
            }
            let missing = input.requiredArtifacts.filter { !present.contains($0) && !present.contains(($0 as NSString).lastPathComponent) }
            guard !missing.isEmpty else { continue }
            b.add(topic, traceID: traceID, spanID: anchor, count: missing.count, note: "missing outputs: \(missing.joined(separator: ", "))")
        }
        for (traceID, present) in input.artifacts.sorted(by: { byteOrder($0.key, $1.key) }) where !seen.contains(traceID) {
            let missing = input.requiredArtifacts.filter { !present.contains($0) }
            if !missing.isEmpty { b.add(topic, traceID: traceID, spanID: nil, count: missing.count, note: "missing outputs: \(missing.joined(separator: ", "))") }
        }
    }

    // MARK: - Feedback and results

    static func confirmation(_ source: FeedbackRecord.Source) -> Confirmation {
        switch source {
        case .human: return .human
        case .model: return .model
        case .rule: return .heuristic
        }
    }

    /// The topic of a category: the project's topic when one matches, else the category's own (titled with `words`).
    static func topic(category: String, observation: String, words: String, source: String, topics: [FailureTopic], layout: HarnessLayout) -> FailureTopic {
        FailureCatalog.projectTopic(category: category, observation: observation, topics: topics)
            ?? FailureCatalog.category(layout, category: category, words: words, source: source)
    }

    static func addFeedback(_ feedback: [FeedbackRecord], topics: [FailureTopic], layout: HarnessLayout, into b: inout Builder) {
        // Most severe first, so a category's mode is titled with its most severe observation.
        let ordered = FeedbackStore.sorted(feedback).enumerated().sorted { a, c in
            a.element.severity != c.element.severity ? a.element.severity > c.element.severity : a.offset < c.offset
        }.map(\.element)
        for r in ordered where !r.isPraise {
            let topic = topic(category: r.category, observation: r.observation, words: r.observation, source: "feedback", topics: topics, layout: layout)
            b.add(topic, traceID: r.traceID, spanID: nil, severity: r.severity, feedbackID: r.feedbackID, confirmation: confirmation(r.source),
                  note: "\(r.source.rawValue) feedback \(r.feedbackID) (\(r.author)): \(Excerpt.clip(Excerpt.oneLine(r.observation), 200))",
                  quote: Excerpt.clip(r.observation, 300))
        }
    }

    static func addResults(_ results: [ResultRowFacts], feedback: [FeedbackRecord], topics: [FailureTopic], layout: HarnessLayout, into b: inout Builder) {
        let byID = Dictionary(feedback.map { ($0.feedbackID, $0) }, uniquingKeysWith: { a, _ in a })
        for row in results where row.failedForReal {
            let note = "eval \(row.evalID) \(row.status.rawValue)" + (row.reason.isEmpty ? "" : ": " + Excerpt.clip(Excerpt.oneLine(row.reason), 160))
            if let record = row.feedbackID.flatMap({ byID[$0] }) {
                // The case compiled from a feedback record joins that record's mode (praise's cases included: a good
                // verdict's regression case failing is a failure).
                let topic = topic(category: record.category, observation: record.observation, words: record.observation, source: "feedback", topics: topics, layout: layout)
                b.add(topic, traceID: row.traceID, spanID: nil, severity: record.isPraise ? row.severity : record.severity, evalID: row.evalID,
                      confirmation: record.isPraise ? .model : max(confirmation(record.source), .model), note: note)
                continue
            }
            let category = row.category ?? "uncategorized"
            if let t = FailureCatalog.projectTopic(category: category, observation: row.reason, topics: topics) {
                b.add(t, traceID: row.traceID, spanID: nil, severity: row.severity, evalID: row.evalID, confirmation: .model, note: note)
                continue
            }
            let label = row.metric.map { "\(category) (\($0))" } ?? category
            var topic = FailureCatalog.category(layout, category: label, words: row.reason.isEmpty ? "failing eval cases" : row.reason, source: "eval cases")
            topic.id = "eval-" + slugify(label, max: 48)
            topic.category = category
            topic.recommendation.id = "rec-" + topic.id + "-prompt"
            b.add(topic, traceID: row.traceID, spanID: nil, severity: row.severity, evalID: row.evalID, confirmation: .model, note: note)
        }
    }

    // MARK: - Builder

    struct Accumulator {
        var topic: FailureTopic
        var severity: FeedbackRecord.Severity
        var confirmation: Confirmation = .heuristic
        /// The highest severity a human reviewer gave (nil: no human record).
        var humanSeverity: FeedbackRecord.Severity?
        var traceIDs: [String] = []
        var traceSet: Set<String> = []
        var spanIDs: [String] = []
        var spanSet: Set<String> = []
        var evalIDs: [String] = []
        var feedbackIDs: [String] = []
        var evidence: [EvidenceRef] = []
        /// The indices in `evidence` of items `note` appended (never capped, unlike those `add` appends).
        var noteIndices: Set<Int> = []
        var evidenceTraces: Set<String> = []
        var templates: [ErrorTemplate]?
        var count = 0

        var impact: Impact {
            Impact(traces: traceIDs.count, failingEvals: evalIDs.count, severity: severity, confirmation: confirmation, humanSeverity: humanSeverity ?? .low)
        }
    }

    struct Builder {
        var harness: HarnessFiles
        /// A project topic owning a detector's category (e.g. `artifact-missing`) takes that detector's findings.
        var projectTopics: [FailureTopic] = []
        var totalTraces = 0
        var modes: [String: Accumulator] = [:]

        func hasMode(_ id: String, traceID: String) -> Bool { modes[id]?.traceSet.contains(traceID) ?? false }

        /// Whether the trace is in the mode of a detector's category (whichever topic took it).
        func hasCategory(_ category: String, traceID: String) -> Bool {
            modes.values.contains { $0.topic.category == category && $0.traceSet.contains(traceID) }
                || modes.values.contains { $0.topic.categories.contains(category) && $0.traceSet.contains(traceID) }
        }

        mutating func add(
            _ topic: FailureTopic, traceID: String?, spanID: String? = nil, spanIDs: [String] = [], count: Int = 1,
            severity: FeedbackRecord.Severity? = nil, evalID: String? = nil, feedbackID: String? = nil, confirmation: Confirmation = .heuristic,
            note: String, quote: String? = nil
        ) {
            let topic = projectTopics.first { $0.categories.contains { FailureCatalog.sameCategory($0, topic.category) } } ?? topic
            let id = "fm-" + topic.id
            // Updated in place: a copy taken out of `modes` and stored back copied its id lists and sets on every add.
            func update(_ acc: inout Accumulator) {
                if let severity, severity > acc.severity { acc.severity = severity }
                if confirmation > acc.confirmation { acc.confirmation = confirmation }
                if confirmation == .human, feedbackID != nil, let severity { acc.humanSeverity = max(acc.humanSeverity ?? severity, severity) }
                if let traceID, !traceID.isEmpty, acc.traceSet.insert(traceID).inserted { acc.traceIDs.append(traceID) }
                for s in ([spanID].compactMap { $0 } + spanIDs) where !s.isEmpty && acc.spanSet.insert(s).inserted { acc.spanIDs.append(s) }
                if let evalID, !evalID.isEmpty, !acc.evalIDs.contains(evalID) { acc.evalIDs.append(evalID) }
                if let feedbackID, !feedbackID.isEmpty, !acc.feedbackIDs.contains(feedbackID) { acc.feedbackIDs.append(feedbackID) }
                acc.count += count
                // Evidence: one item per trace first (so the kept items cover many traces), then more up to the cap.
                let ref = EvidenceRef(traceID: traceID ?? "", spanID: spanID ?? spanIDs.first, evalID: evalID, note: note, quote: quote)
                if acc.evidence.count < Diagnoser.maxEvidencePerMode * 4 { acc.evidence.append(ref) }
            }
            update(&modes[id, default: Accumulator(topic: topic, severity: topic.severity)])
        }

        /// Adds a note to a trace's evidence of a mode it is already in.
        mutating func note(_ topic: FailureTopic, traceID: String, _ note: String) {
            guard var acc = modes["fm-" + topic.id] else { return }
            acc.noteIndices.insert(acc.evidence.count)
            acc.evidence.append(EvidenceRef(traceID: traceID, note: note))
            modes["fm-" + topic.id] = acc
        }

        mutating func setTemplates(_ id: String, _ templates: [ErrorTemplate]) { modes[id]?.templates = templates }

        /// Adds the findings of `other` (a builder that started from this one's settings with no modes) as if its
        /// `add` and `note` calls had been made on this builder after this builder's own (notes are not capped, adds
        /// are: an item `other` kept is kept here while this builder's mode is under the cap).
        mutating func merge(_ other: Builder) {
            for (id, theirs) in other.modes {
                guard var acc = modes[id] else {
                    modes[id] = theirs
                    continue
                }
                if theirs.severity > acc.severity { acc.severity = theirs.severity }
                if theirs.confirmation > acc.confirmation { acc.confirmation = theirs.confirmation }
                if let h = theirs.humanSeverity { acc.humanSeverity = max(acc.humanSeverity ?? h, h) }
                for t in theirs.traceIDs where acc.traceSet.insert(t).inserted { acc.traceIDs.append(t) }
                for s in theirs.spanIDs where acc.spanSet.insert(s).inserted { acc.spanIDs.append(s) }
                for e in theirs.evalIDs where !acc.evalIDs.contains(e) { acc.evalIDs.append(e) }
                for f in theirs.feedbackIDs where !acc.feedbackIDs.contains(f) { acc.feedbackIDs.append(f) }
                acc.count += theirs.count
                for (i, e) in theirs.evidence.enumerated() {
                    // As `note` and `add` would have: a note always, an added item up to the cap.
                    if theirs.noteIndices.contains(i) {
                        acc.noteIndices.insert(acc.evidence.count)
                        acc.evidence.append(e)
                    } else if acc.evidence.count < Diagnoser.maxEvidencePerMode * 4 {
                        acc.evidence.append(e)
                    }
                }
                if let t = theirs.templates { acc.templates = t }
                modes[id] = acc
            }
        }

        /// Evidence spread over traces: the first item of each trace, then the rest, capped.
        static func spread(_ evidence: [EvidenceRef]) -> [EvidenceRef] {
            var seen = Set<String>()
            var first: [EvidenceRef] = [], rest: [EvidenceRef] = []
            for e in evidence { if seen.insert(e.traceID).inserted { first.append(e) } else { rest.append(e) } }
            return Array((first + rest).prefix(Diagnoser.maxEvidencePerMode))
        }

        func build(cycle: Int) -> Diagnosis {
            let ranked = modes.sorted { a, b in Impact.ranksBefore(a.value.impact, b.value.impact) ?? byteOrder(a.key, b.key) }
            let failureModes = ranked.map { id, acc in
                FailureMode(
                    id: id, title: acc.topic.title, kind: acc.topic.hasRule(harness) ? .presentButNotFollowed : acc.topic.defaultKind,
                    category: acc.topic.category, count: acc.count, traceIDs: acc.traceIDs, spanIDs: acc.spanIDs, evalIDs: acc.evalIDs,
                    feedbackIDs: acc.feedbackIDs, evidence: Self.spread(acc.evidence), impact: acc.impact, templates: acc.templates,
                    traceShare: totalTraces > 0 && !acc.traceIDs.isEmpty ? (Double(acc.traceIDs.count) / Double(totalTraces) * 1000).rounded() / 1000 : nil)
            }
            var recs: [Recommendation] = []
            var index: [String: Int] = [:]
            var scores: [String: (tier: Int, score: Double)] = [:]
            for (id, acc) in ranked {
                let t = acc.topic.recommendation
                let impact = acc.impact
                if let i = index[t.id] {
                    recs[i].failureModeIDs.append(id)
                    recs[i].predictedImpact.evalIDs += acc.evalIDs.filter { !recs[i].predictedImpact.evalIDs.contains($0) }
                    recs[i].predictedImpact.traceIDs += acc.traceIDs.filter { !recs[i].predictedImpact.traceIDs.contains($0) }
                    recs[i].evidence = Array((recs[i].evidence + Self.spread(acc.evidence)).prefix(8))
                    let s = scores[t.id]!
                    scores[t.id] = (max(s.tier, impact.tier), s.score + impact.score)
                    continue
                }
                index[t.id] = recs.count
                scores[t.id] = (impact.tier, impact.score)
                recs.append(
                    Recommendation(
                        id: t.id, rank: 0, title: t.title, area: t.area, change: t.change, patch: t.patch,
                        predictedImpact: PredictedImpact(evalIDs: acc.evalIDs, traceIDs: acc.traceIDs, summary: ""),
                        confidence: .low, effort: t.effort, evidence: Array(Self.spread(acc.evidence).prefix(8)), validation: t.validation,
                        failureModeIDs: [id], targetFile: t.targetFile))
            }
            for i in recs.indices {
                let r = recs[i]
                let evals = r.predictedImpact.evalIDs.count, traces = r.predictedImpact.traceIDs.count
                recs[i].confidence = r.patch != nil && (evals > 0 || traces >= 2) ? .high : (r.patch != nil || traces >= 2) ? .medium : .low
                let s = scores[r.id] ?? (0, 0)
                recs[i].predictedImpact.summary =
                    "Should fix \(evals) failing eval\(evals == 1 ? "" : "s") across \(traces) trace\(traces == 1 ? "" : "s") (impact score \(String(format: "%.1f", s.score))\(s.tier > 0 ? ", human-reported high severity" : ""))."
            }
            recs.sort { a, b in
                let sa = scores[a.id] ?? (0, 0), sb = scores[b.id] ?? (0, 0)
                if sa.tier != sb.tier { return sa.tier > sb.tier }
                return sa.score != sb.score ? sa.score > sb.score : byteOrder(a.id, b.id)
            }
            for i in recs.indices { recs[i].rank = i + 1 }
            return Diagnosis(cycle: cycle, failureModes: failureModes, recommendations: recs, ranking: Ranking())
        }
    }
}

extension FeedbackRecord {
    /// Praise (a good verdict) is never a failure mode.
    var isPraise: Bool { verdict == .good }
}


/// Each step's wall time on stderr when `FLYWHEEL_DIAGNOSE_TIMING=1` (scan, load, each detector, detect, release),
/// with the resident memory after it (Linux): where a diagnosis spends its time and memory, without a profiler.
enum DiagnosisTiming {
    static let on = ProcessInfo.processInfo.environment["FLYWHEEL_DIAGNOSE_TIMING"] == "1"
    static func mark(_ label: String, since: Date) {
        guard on else { return }
        // Resident memory so far (Linux), to see which step grows it.
        let statm = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8))?.split(separator: " ")
        let rss = statm.flatMap { $0.count > 1 ? Double($0[1]) : nil }.map { $0 * 4096 / 1e6 } ?? 0
        FileHandle.standardError.write(Data(String(format: "%@ %.4f (rss %.0f MB)\n", label, Date().timeIntervalSince(since), rss).utf8))
    }
}

