import FlywheelSupport
import Foundation

// One pass over JSONL bytes that validates every line (spec §6) and builds the per-trace index (spec §3, §5) at
// the same time. Lines are scanned with a byte-level parser that only materializes the fields HALO reads; large
// attribute values are validated and skipped without allocation. Big buffers are split at line boundaries and
// scanned in parallel; partial results merge in file order.

/// Per-trace rollup built in one pass; the rows behind query/overview and the byte slices behind view/search.
public struct IndexedTrace: Sendable, Hashable {
    public var traceID: String
    /// Index of the source (file) in the dataset.
    public var source: Int
    /// 1-based line of the trace's first span.
    public var firstLine: Int
    /// Byte offset and length (without `\n`) of each span line, in file order.
    public var offsets: [Int] = []
    public var lengths: [Int] = []
    public var lines: [Int] = []
    /// Each span's `span_id` and `parent_span_id` (`""` for a root), in file order.
    public var spanIDs = SpanIDList()
    public var parentIDs = SpanIDList()
    public var startTime = ""
    public var endTime = ""
    public var hasErrors = false
    public var serviceNames: [String] = []
    public var modelNames: [String] = []
    public var agentNames: [String] = []
    public var agentIDs: [String] = []
    public var inputTokens: Int64 = 0
    public var outputTokens: Int64 = 0
    /// The first non-empty `inference.project_id`.
    public var projectID: String?
    public var projectIDs: [String] = []
    public var missingAgentIdentityCount = 0
    public var otelErrorSpanCount = 0
    public var toolErrorSpanCount = 0
    /// (span name, first 200 code points of status.message) of each error span, in file order.
    public var errorSignatures: [ErrorSignature] = []
    /// Name of the first span without a parent (the root), if any.
    public var rootSpanName: String?
    /// Where the kept fields' values are in the span lines, when the scan was asked to keep them
    /// (``TraceValidationOptions/keptAttributes``); else empty. One flat array for the whole trace, span after span
    /// (span `i`'s places, in line order, are ``keptRange(_:)``), instead of an array per span.
    public var keptPlaces: [KeptField] = []
    /// Per span (parallel to `offsets`) when places are kept: where its places end in ``keptPlaces`` (they start
    /// where the previous span's end); else empty.
    public var keptEnds: [Int] = []

    /// The indices in ``keptPlaces`` of span `i`'s places.
    @inline(__always) public func keptRange(_ i: Int) -> Range<Int> { (i == 0 ? 0 : keptEnds[i - 1])..<keptEnds[i] }

    /// Per span, its kept places (``keptPlaces`` cut at ``keptEnds``); setting it sets both.
    public var keptFields: [[KeptField]] {
        get { keptEnds.indices.map { Array(keptPlaces[keptRange($0)]) } }
        set {
            keptPlaces = newValue.flatMap { $0 }
            keptEnds = []
            var end = 0
            for f in newValue {
                end += f.count
                keptEnds.append(end)
            }
        }
    }

    public struct ErrorSignature: Sendable, Hashable {
        public var spanName: String
        public var message: String
    }

    public var spanCount: Int { offsets.count }
    /// Line bytes without `\n`, summed.
    public var rawJSONLBytes: Int { lengths.reduce(0, +) }

    /// Distinct non-empty parent ids with no span of that id in the trace (settled after the scan).
    public internal(set) var missingParentCount = 0
    public var projectIDMismatchCount: Int { max(0, projectIDs.count - 1) }

    /// Duration from the first start to the last end when both are 9-digit timestamps.
    public var durationNanos: Int64? {
        TraceTime.duration(from: startTime, to: endTime)
    }

    mutating func merge(_ o: IndexedTrace) {
        offsets += o.offsets
        lengths += o.lengths
        lines += o.lines
        spanIDs += o.spanIDs
        parentIDs += o.parentIDs
        if startTime.isEmpty || (!o.startTime.isEmpty && codePointLess(o.startTime, startTime)) { startTime = o.startTime }
        if endTime.isEmpty || codePointLess(endTime, o.endTime) { endTime = o.endTime }
        hasErrors = hasErrors || o.hasErrors
        for s in o.serviceNames { addUnique(&serviceNames, s) }
        for s in o.modelNames { addUnique(&modelNames, s) }
        for s in o.agentNames { addUnique(&agentNames, s) }
        for s in o.agentIDs { addUnique(&agentIDs, s) }
        inputTokens &+= o.inputTokens
        outputTokens &+= o.outputTokens
        if projectID == nil { projectID = o.projectID }
        for s in o.projectIDs { addUnique(&projectIDs, s) }
        missingAgentIdentityCount += o.missingAgentIdentityCount
        otelErrorSpanCount += o.otelErrorSpanCount
        toolErrorSpanCount += o.toolErrorSpanCount
        errorSignatures += o.errorSignatures
        let shift = keptPlaces.count
        keptPlaces += o.keptPlaces
        keptEnds.reserveCapacity(keptEnds.count + o.keptEnds.count)
        for e in o.keptEnds { keptEnds.append(e + shift) }
        if rootSpanName == nil { rootSpanName = o.rootSpanName }
    }
}

@inline(__always) func addUnique(_ a: inout [String], _ s: String) {
    if !a.contains(s) { a.append(s) }
}

/// Code point order (= UTF-8 byte order), as Python compares strings.
@inline(__always) func codePointLess(_ a: String, _ b: String) -> Bool {
    // memcmp over the contiguous bytes (unsigned bytes compare as code points); the generic comparison of the
    // two UTF-8 views, per span for the trace's first and last time, was a visible part of the scan.
    let r = a.utf8.withContiguousStorageIfAvailable { x in
        b.utf8.withContiguousStorageIfAvailable { y -> Bool in
            let n = min(x.count, y.count)
            let c = n == 0 ? 0 : memcmp(x.baseAddress!, y.baseAddress!, n)
            return c != 0 ? c < 0 : x.count < y.count
        }
    }
    if let r, let r { return r }
    return a.utf8.lexicographicallyPrecedes(b.utf8)
}

/// The result of scanning a dataset.
struct TraceDatasetScan: Sendable {
    var report: TraceValidationReport
    var traces: [IndexedTrace]
    var traceIndex: [String: Int]
    var sources: [TraceSource]
    /// Per source scanned, its span lines planned for import, in file order (``TraceValidationOptions/importPlan``;
    /// empty arrays when not asked for). A line of a trace left out (a trace id of an earlier file) is still there.
    var plans: [[PlannedLine]] = []

    /// - Parameter workers: slices per file (tests force it on small inputs); by default one per core from 8 MB on.
    static func scan(_ sources: [TraceSource], options: TraceValidationOptions, workers: Int? = nil) -> TraceDatasetScan {
        var traces: [IndexedTrace] = []
        var traceIndex: [String: Int] = [:]
        var fileReports: [TraceFileReport] = []
        var all: [TraceIssue] = []
        var plans: [[PlannedLine]] = []
        var stopped = false
        for (si, src) in sources.enumerated() {
            if stopped { break }
            var part = src.data.withUnsafeBytes { buf in
                FileScan.run(buf, name: src.name, source: si, options: options, releasePages: src.releasablePages, workers: workers)
            }
            var problems = part.problems
            plans.append(part.plan)
            part.plan = []
            // Cross-file: a trace id already seen in an earlier file is an error, and is not merged. The first file
            // with traces has no earlier ones: its index is the dataset's as it is (appending copied every trace).
            if traces.isEmpty {
                traces = part.traces
                traceIndex = part.traceIndex
                part.traces = []
            }
            for t in part.traces {
                if traceIndex[t.traceID] != nil {
                    let earlier = sources[traces[traceIndex[t.traceID]!].source].name
                    problems.append(
                        TraceIssue(
                            file: src.name, line: t.firstLine, byteOffset: t.offsets.first ?? 0, severity: .error,
                            field: "trace_id", code: "duplicate_trace_across_files",
                            message: "trace_id \(t.traceID) also appears in \(earlier); traces are never merged across files"))
                    part.spansOK -= t.spanCount
                } else {
                    traceIndex[t.traceID] = traces.count
                    traces.append(t)
                }
            }
            let inOrder = zip(problems, problems.dropFirst()).allSatisfy { a, b in
                (a.line, a.severity.rank) <= (b.line, b.severity.rank)
            }
            if !inOrder {
                let order = problems.indices.sorted {
                    (problems[$0].line, problems[$0].severity.rank, $0) < (problems[$1].line, problems[$1].severity.rank, $1)
                }
                problems = order.map { problems[$0] }
            }
            if options.stopAtFirstError, let first = problems.first(where: { $0.severity == .error }) {
                problems = [first]
                stopped = true
            }
            let errors = problems.reduce(0) { $0 + ($1.severity == .error ? 1 : 0) }
            let warnings = problems.reduce(0) { $0 + ($1.severity == .warning ? 1 : 0) }
            // Notes past the first of each kind are counted, not listed (NoteTally); the count stays exact.
            let notes = problems.count - errors - warnings + (stopped ? 0 : part.unlistedNotes)
            let failed = errors > 0 || (options.warningsFail && warnings > 0)
            fileReports.append(
                TraceFileReport(
                    file: src.name, verdict: failed ? "failed" : "ok", spansOK: part.spansOK, errors: errors,
                    warnings: warnings, notes: notes, problems: problems))
            all += problems
        }
        let ok = !fileReports.contains { $0.verdict != "ok" }
        return TraceDatasetScan(
            report: TraceValidationReport(files: fileReports, issues: all, ok: ok), traces: traces,
            traceIndex: traceIndex, sources: sources, plans: plans)
    }
}

/// The per-span notes (spec §6: they never fail) of a file, counted per kind as linters do: the first ``listed`` of
/// each kind are issues of their own, in line order; the rest are counted, and ``summaries(file:)`` gives one note
/// per kind at the first line not listed, saying how many more lines have it and up to which line. Every span of a
/// file from an exporter that writes 24-hex span ids, or no agent identity, has these notes: listing each one cost
/// the scan an issue (strings, copies, reference counting) per span, for output nobody reads line by line.
struct NoteTally: Sendable, Equatable {
    static let listed = 100

    enum Kind: Int, CaseIterable {
        case traceIDFormat, spanIDFormat, missingAgentIdentity

        var field: String {
            switch self {
            case .traceIDFormat: "trace_id"
            case .spanIDFormat: "span_id"
            case .missingAgentIdentity: "attributes[\"inference.agent_name\"]"
            }
        }
        var code: String { self == .missingAgentIdentity ? "missing_agent_identity" : "id_format" }
        var message: String {
            switch self {
            case .traceIDFormat: "trace_id is not 32 lowercase hex digits"
            case .spanIDFormat: "span_id is not 16 lowercase hex digits (HALO's SDK exporter writes 24)"
            case .missingAgentIdentity: "no inference.agent_name / inference.agent_id / agent.id"
            }
        }

        func issue(file: String, line: Int, offset: Int) -> TraceIssue {
            TraceIssue(file: file, line: line, byteOffset: offset, severity: .note, field: field, code: code, message: message)
        }

        /// The kind of a note issue made by ``issue(file:line:offset:)``.
        init?(_ i: TraceIssue) {
            guard i.severity == .note else { return nil }
            switch (i.code, i.field) {
            case ("id_format", "trace_id"): self = .traceIDFormat
            case ("id_format", "span_id"): self = .spanIDFormat
            case ("missing_agent_identity", _): self = .missingAgentIdentity
            default: return nil
            }
        }
    }

    /// Per kind: notes counted; the line and byte offset of the first one not listed; the line of the last one.
    var counts = [0, 0, 0]
    var firstLine = [0, 0, 0]
    var firstOffset = [0, 0, 0]
    var lastLine = [0, 0, 0]

    /// Notes counted and not listed.
    var unlisted: Int { counts.reduce(0) { $0 + max(0, $1 - Self.listed) } }

    /// Counts a note of `kind` at `line`; true when it is to be listed.
    @inline(__always) mutating func count(_ kind: Kind, line: Int, offset: Int) -> Bool {
        let k = kind.rawValue
        counts[k] += 1
        if counts[k] <= Self.listed { return true }
        if counts[k] == Self.listed + 1 {
            firstLine[k] = line
            firstOffset[k] = offset
        }
        lastLine[k] = line
        return false
    }

    mutating func shiftLines(by shift: Int) {
        for k in 0..<3 where counts[k] > Self.listed {
            firstLine[k] += shift
            lastLine[k] += shift
        }
    }

    /// Adds the tally of the slice after this one, whose problems are `problems`; returns those problems without the
    /// notes that are no longer among the first listed of their kind (they are counted).
    mutating func merge(_ o: NoteTally, listedIn problems: [TraceIssue]) -> [TraceIssue] {
        var room = (0..<3).map { max(0, Self.listed - counts[$0]) }
        var out = problems
        if (0..<3).contains(where: { min(o.counts[$0], Self.listed) > room[$0] }) {
            out = []
            out.reserveCapacity(problems.count)
            var dropFirst: [(Int, Int)?] = [nil, nil, nil]
            var dropLast = [0, 0, 0]
            for i in problems {
                if let kind = Kind(i) {
                    let k = kind.rawValue
                    if room[k] == 0 {
                        if dropFirst[k] == nil { dropFirst[k] = (i.line, i.byteOffset) }
                        dropLast[k] = i.line
                        continue
                    }
                    room[k] -= 1
                }
                out.append(i)
            }
            for k in 0..<3 {
                guard let d = dropFirst[k] else { continue }
                if counts[k] <= Self.listed { (firstLine[k], firstOffset[k]) = d }
                lastLine[k] = dropLast[k]
            }
        }
        for k in 0..<3 {
            if o.counts[k] > Self.listed {
                if counts[k] == 0 { (firstLine[k], firstOffset[k]) = (o.firstLine[k], o.firstOffset[k]) }
                lastLine[k] = o.lastLine[k]
            }
            counts[k] += o.counts[k]
        }
        return out
    }

    /// One note per kind for the notes not listed (the note itself when only one is left out).
    func summaries(file: String) -> [TraceIssue] {
        Kind.allCases.compactMap { kind in
            let k = kind.rawValue
            let unlisted = counts[k] - Self.listed
            guard unlisted > 0 else { return nil }
            var i = kind.issue(file: file, line: firstLine[k], offset: firstOffset[k])
            if unlisted > 1 {
                i.message += "; also on \(unlisted - 1) more lines up to line \(lastLine[k]) (\(counts[k]) lines in all, the first \(Self.listed) listed one by one)"
            }
            return i
        }
    }
}

/// Scan of one file's bytes.
struct FileScan {
    var traces: [IndexedTrace] = []
    var traceIndex: [String: Int] = [:]
    var problems: [TraceIssue] = []
    var spansOK = 0
    /// The per-span notes counted by kind (the first of each kind are in `problems`).
    var notes = NoteTally()
    /// Notes counted but not in `problems` one by one (set by ``run``, which adds a note per kind for them).
    var unlistedNotes = 0
    /// Lines read (the newlines crossed; with stopAtFirstError, up to the line that stopped the scan).
    var lineCount = 0
    /// Every span line absorbed, in file order, planned for import (``TraceValidationOptions/importPlan``); else empty.
    var plan: [PlannedLine] = []

    /// Adds `shift` to every line number (a slice scanned with its first line numbered 1).
    mutating func shiftLines(by shift: Int) {
        guard shift != 0 else { return }
        for i in problems.indices { problems[i].line += shift }
        notes.shiftLines(by: shift)
        for t in traces.indices {
            traces[t].firstLine += shift
            for j in traces[t].lines.indices { traces[t].lines[j] += shift }
        }
        for i in plan.indices { plan[i].line += shift }
    }

    /// - Parameter releasePages: give back each chunk's pages as the scan passes them (a ``TraceSource/init(streaming:)``
    ///   mapping), so scanning a file larger than memory keeps the resident size bounded.
    /// - Parameter forcedWorkers: the number of slices (tests use it to split small inputs); by default, for 8 MB and
    ///   more on several cores, four per core (at most 8 cores) and none under 4 MB, else one. The result is the same
    ///   for any number of slices.
    static func run(
        _ buf: UnsafeRawBufferPointer, name: String, source: Int, options: TraceValidationOptions, releasePages: Bool = false,
        workers forcedWorkers: Int? = nil
    ) -> FileScan {
        let n = buf.count
        guard n > 0, let base = buf.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return FileScan() }
        if n >= 2, base[0] == 0x1F, base[1] == 0x8B {
            var f = FileScan()
            f.problems.append(
                TraceIssue(
                    file: name, line: 1, byteOffset: 0, severity: .error, field: "<file>", code: "gzip",
                    message: "the file is gzip-compressed; HALO reads plain UTF-8 JSONL"))
            return f
        }
        // Split into chunks at line boundaries for parallel scanning. More slices than cores, taken in turn by the
        // threads: with one slice per core, the core that finished first (the other busy with another process for a
        // moment, or its half slower to read) waited for the other; 105 MB took 0.096 s instead of 0.074 s.
        let cores = min(8, ProcessInfo.processInfo.activeProcessorCount)
        let workers = max(1, forcedWorkers ?? (n >= 8 << 20 ? (cores > 1 ? min(cores * 4, n >> 22) : 1) : 1))
        var bounds = [0]
        for w in 1..<workers {
            var p = n * w / workers
            if p <= bounds.last! { continue }
            if let nl = memchr(base + p, 0x0A, n - p) {
                p = UnsafePointer<UInt8>(nl.assumingMemoryBound(to: UInt8.self)) - base + 1
                if p > bounds.last!, p < n { bounds.append(p) }
            }
        }
        bounds.append(n)
        let chunks = bounds.count - 1
        let cuts = bounds
        nonisolated(unsafe) let ubase = base
        // Each slice numbers its lines from 1 and counts them as it scans; the numbers are shifted below, once the
        // slices before it are counted (a pass counting the newlines first kept one core busy alone).
        nonisolated(unsafe) var parts = [FileScan?](repeating: nil, count: chunks)
        if chunks == 1 {
            parts[0] = scanChunk(base, 0, n, line: 1, name: name, source: source, options: options, release: releasePages ? n : 0)
        } else {
            let lock = NSLock()
            DispatchQueue.concurrentPerform(iterations: chunks) { i in
                let r = scanChunk(
                    ubase, cuts[i], cuts[i + 1], line: 1, name: name, source: source, options: options,
                    release: releasePages ? n : 0)
                lock.lock()
                parts[i] = r
                lock.unlock()
            }
        }
        // Stopping at the first error: a slice after one that stopped would not have been reached by a serial scan.
        var used = chunks
        if options.stopAtFirstError, let k = parts.firstIndex(where: { $0!.problems.contains { $0.severity == .error } }) { used = k + 1 }
        // Taken out of `parts`, not copied: a copy still referenced there made the first write to each array copy it.
        let lineCounts = parts.map { $0!.lineCount }
        var merged = parts[0].take()!
        var lineBase = 1
        for i in 1..<used {
            lineBase += lineCounts[i - 1]
            var p = parts[i].take()!
            p.shiftLines(by: lineBase - 1)
            merged.problems += merged.notes.merge(p.notes, listedIn: p.problems)
            merged.spansOK += p.spansOK
            merged.plan += p.plan
            for t in p.traces {
                if let j = merged.traceIndex[t.traceID] {
                    merged.traces[j].merge(t)
                } else {
                    merged.traceIndex[t.traceID] = merged.traces.count
                    merged.traces.append(t)
                }
            }
        }
        let summaries = merged.notes.summaries(file: name)
        merged.problems += summaries
        merged.unlistedNotes = merged.notes.unlisted - summaries.count
        merged.crossLineChecks(name: name, workers: chunks)
        return merged
    }

    static func scanChunk(
        _ base: UnsafePointer<UInt8>, _ from: Int, _ to: Int, line firstLine: Int, name: String, source: Int,
        options: TraceValidationOptions, release mappingSize: Int = 0
    ) -> FileScan {
        var f = FileScan()
        let analyzer = LineAnalyzer(file: name, options: options)
        var pos = from
        var line = firstLine
        // With a releasable mapping (mappingSize > 0): pages behind the scan are given back every 16 MB.
        var released = from
        defer { if mappingSize > 0 { TraceSource.release(base, released..<to, count: mappingSize) } }
        while pos < to {
            if mappingSize > 0, pos - released >= 16 << 20 {
                TraceSource.release(base, released..<pos, count: mappingSize)
                released = pos
            }
            let lineEnd: Int
            if let nl = memchr(base + pos, 0x0A, to - pos) {
                lineEnd = UnsafePointer<UInt8>(nl.assumingMemoryBound(to: UInt8.self)) - base
            } else {
                lineEnd = to
            }
            let len = lineEnd - pos
            let problemsBefore = f.problems.count
            if len > 0 {
                if let facts = analyzer.analyze(base + pos, len, line: line, offset: pos, into: &f.problems, notes: &f.notes) {
                    f.spansOK += 1
                    f.absorb(facts, offset: pos, length: len, line: line, source: source, keeping: !options.keptAttributes.isEmpty, places: analyzer.keptPlaces)
                    // The line was just read: planning it now costs no second pass over the file (and its pages).
                    if let screen = options.importPlan {
                        f.plan.append(PlannedLine(UnsafeRawBufferPointer(start: base + pos, count: len), offset: pos, line: line, screen: screen))
                    }
                }
            }
            pos = lineEnd + 1
            line += 1
            // Only this line's problems: an earlier line's error would have stopped the scan there.
            if options.stopAtFirstError, f.problems[problemsBefore...].contains(where: { $0.severity == .error }) { break }
        }
        f.lineCount = line - firstLine
        return f
    }

    mutating func absorb(
        _ s: SpanFacts, offset: Int, length: Int, line: Int, source: Int, keeping: Bool = false, places: UnsafeBufferPointer<KeptField> = UnsafeBufferPointer(start: nil, count: 0)
    ) {
        let ti: Int
        if let last = traces.indices.last, traces[last].traceID == s.traceID {
            ti = last
        } else if let j = traceIndex[s.traceID] {
            ti = j
        } else {
            ti = traces.count
            traceIndex[s.traceID] = ti
            traces.append(IndexedTrace(traceID: s.traceID, source: source, firstLine: line))
        }
        traces[ti].absorb(s, offset: offset, length: length, line: line, keeping: keeping, places: places)
    }

    /// Checks that need the whole trace: duplicate span ids, missing parents, parent cycles, project id
    /// mismatches, negative token totals. Also settles each trace's missing-parent count.
    mutating func crossLineChecks(name: String, workers: Int = 1) {
        // Traces are independent: when the file was scanned in slices, as many ranges of traces (balanced by
        // spans) are checked in parallel and their problems joined in trace order, as one pass gives them.
        let spans = traces.reduce(0) { $0 + $1.spanCount }
        let parts = max(1, min(workers, traces.count))
        if parts == 1 {
            let r = Self.crossLineChecks(traces[...], name: name)
            problems += r.problems
            for (ti, m) in zip(traces.indices, r.missing) { traces[ti].missingParentCount = m }
            return
        }
        var cuts = [0]
        var acc = 0
        for (ti, t) in traces.enumerated() {
            acc += t.spanCount
            if acc * parts >= spans * cuts.count, cuts.count < parts, ti + 1 < traces.count { cuts.append(ti + 1) }
        }
        cuts.append(traces.count)
        nonisolated(unsafe) var results = [(problems: [TraceIssue], missing: [Int])](repeating: ([], []), count: cuts.count - 1)
        let ranges = zip(cuts, cuts.dropFirst()).map { $0..<$1 }
        do {
            // (A copy of the array's reference, gone before the traces are written below: no copy-on-write.)
            let all = traces
            let lock = NSLock()
            DispatchQueue.concurrentPerform(iterations: ranges.count) { i in
                let r = Self.crossLineChecks(all[ranges[i]], name: name)
                lock.lock()
                results[i] = r
                lock.unlock()
            }
        }
        for (i, r) in results.enumerated() {
            problems += r.problems
            for (ti, m) in zip(ranges[i], r.missing) { traces[ti].missingParentCount = m }
        }
    }

    /// ``crossLineChecks(name:workers:)`` of some traces: their problems, and each one's missing-parent count.
    static func crossLineChecks(_ traces: ArraySlice<IndexedTrace>, name: String) -> (problems: [TraceIssue], missing: [Int]) {
        var problems: [TraceIssue] = []
        var missingCounts: [Int] = []
        missingCounts.reserveCapacity(traces.count)
        for ti in traces.indices {
            let t = traces[ti]
            let n = t.spanIDs.count
            var table = SpanIDTable(count: n)
            var isFirst = [Bool](repeating: false, count: n)
            for i in 0..<n {
                if let first = table.insert(i, of: t.spanIDs) {
                    problems.append(
                        TraceIssue(
                            file: name, line: t.lines[i], byteOffset: t.offsets[i], severity: .warning, field: "span_id",
                            code: "duplicate_span_id",
                            message: "span_id \(t.spanIDs[i]) already used at line \(t.lines[first]) in trace \(t.traceID)"))
                } else {
                    isFirst[i] = true
                }
            }
            // parent[i]: index of the parent span, -1 for a root, -2 for a parent that does not exist.
            var parent = [Int](repeating: -1, count: n)
            var missing = Set<String>()
            for i in 0..<n where !t.parentIDs.isEmpty(at: i) {
                if let j = t.parentIDs.withBytes(at: i, { table.find($0, in: t.spanIDs) }) {
                    parent[i] = j
                } else {
                    let p = t.parentIDs[i]
                    parent[i] = -2
                    missing.insert(p)
                    problems.append(
                        TraceIssue(
                            file: name, line: t.lines[i], byteOffset: t.offsets[i], severity: .warning,
                            field: "parent_span_id", code: "missing_parent",
                            message: "parent_span_id \(p) names no span of trace \(t.traceID)"))
                }
            }
            missingCounts.append(missing.count)
            // Cycles: follow parent links; a walk that meets a span of the same walk is a cycle.
            var state = [UInt8](repeating: 0, count: n)  // 1 = on the current walk, 2 = done
            var walk: [Int] = []
            for i in 0..<n where state[i] == 0 && isFirst[i] {
                walk.removeAll(keepingCapacity: true)
                var cur = i
                var cycleAt = -1
                while true {
                    if state[cur] != 0 {
                        if state[cur] == 1 { cycleAt = cur }
                        break
                    }
                    state[cur] = 1
                    walk.append(cur)
                    guard parent[cur] >= 0 else { break }
                    cur = parent[cur]
                }
                for w in walk { state[w] = 2 }
                if cycleAt >= 0 {
                    problems.append(
                        TraceIssue(
                            file: name, line: t.lines[i], byteOffset: t.offsets[i], severity: .warning,
                            field: "parent_span_id", code: "parent_cycle",
                            message: "parent links of trace \(t.traceID) form a cycle through span \(t.spanIDs[cycleAt])"))
                }
            }
            if t.projectIDs.count > 1 {
                problems.append(
                    TraceIssue(
                        file: name, line: t.firstLine, byteOffset: t.offsets.first ?? 0, severity: .warning,
                        field: "attributes[\"inference.project_id\"]", code: "project_id_mismatch",
                        message: "trace \(t.traceID) has \(t.projectIDs.count) project ids: \(t.projectIDs.sorted(by: codePointLess).joined(separator: ", "))"))
            }
            for (v, key) in [(t.inputTokens, "input_tokens"), (t.outputTokens, "output_tokens")] where v < 0 {
                problems.append(
                    TraceIssue(
                        file: name, line: t.firstLine, byteOffset: t.offsets.first ?? 0, severity: .error,
                        field: "attributes[\"inference.llm.\(key)\"]", code: "negative_token_total",
                        message: "trace \(t.traceID) sums to \(v) \(key); HALO's index build fails on a negative total"))
            }
        }
        return (problems, missingCounts)
    }
}

/// The span ids of one trace: the index of the first span with each id, in an open-addressing table on a hash of
/// the id's bytes (a `[String: Int]` hashed every id with SipHash, three times per span). Ids are the same when their
/// bytes are (as HALO's Python compares them: code point by code point).
struct SpanIDTable {
    var slots: [Int]
    let mask: Int

    init(count n: Int) {
        var size = 16
        while size < 2 * n { size <<= 1 }
        slots = [Int](repeating: -1, count: size)
        mask = size - 1
    }

    /// The first slot to look in for the id `id` (a hash of its bytes, as the analyzer hashes keys).
    @inline(__always) func slot(_ id: UnsafeBufferPointer<UInt8>) -> Int { LineAnalyzer.slot(LineAnalyzer.Key(bytes: id).hash, mask) }

    /// The index of the first span of `ids` with the id of span `i` when there is one; else records `i` and
    /// returns nil.
    mutating func insert(_ i: Int, of ids: SpanIDList) -> Int? {
        ids.withBytes(at: i) { id in
            var k = slot(id)
            while true {
                let e = slots[k]
                if e < 0 {
                    slots[k] = i
                    return nil
                }
                if ids.equals(at: e, id) { return e }
                k = (k + 1) & mask
            }
        }
    }

    /// The index of the first span of `ids` whose id is the bytes `id`, if any.
    func find(_ id: UnsafeBufferPointer<UInt8>, in ids: SpanIDList) -> Int? {
        var k = slot(id)
        while true {
            let e = slots[k]
            if e < 0 { return nil }
            if ids.equals(at: e, id) { return e }
            k = (k + 1) & mask
        }
    }
}

/// Ids of a trace's spans (span ids, or parent ids), in span order: their UTF-8 bytes end to end and where each
/// ends, so the scan makes no `String` per id (a 24-character id is a heap allocation); a `String` is made when an
/// element is read. Equal when the ids' bytes are.
public struct SpanIDList: RandomAccessCollection, Sendable, Hashable, ExpressibleByArrayLiteral {
    /// The ids' bytes, end to end.
    var bytes: [UInt8] = []
    /// Where each id ends in ``bytes`` (it starts where the one before ends).
    var ends: [Int] = []

    public init() {}
    public init(arrayLiteral ids: String...) { self.init(ids) }
    public init<S: Sequence>(_ ids: S) where S.Element == String {
        for id in ids { append(id) }
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { ends.count }
    public subscript(i: Int) -> String {
        bytes.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[range(i)]), as: UTF8.self) }
    }

    /// The bytes of id `i` in ``bytes``.
    @inline(__always) func range(_ i: Int) -> Range<Int> { (i == 0 ? 0 : ends[i - 1])..<ends[i] }

    /// Whether id `i` is `""`.
    @inline(__always) public func isEmpty(at i: Int) -> Bool { range(i).isEmpty }

    /// Calls `body` with the bytes of id `i`.
    @inline(__always) func withBytes<R>(at i: Int, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        let r = range(i)
        return bytes.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[r])) }
    }

    /// Whether id `i` is the bytes `id`.
    @inline(__always) func equals(at i: Int, _ id: UnsafeBufferPointer<UInt8>) -> Bool {
        let r = range(i)
        guard r.count == id.count else { return false }
        return r.isEmpty || bytes.withUnsafeBufferPointer { bytesEqual($0.baseAddress! + r.lowerBound, id.baseAddress!, r.count) }
    }

    /// Appends an id given as bytes.
    @inline(__always) mutating func append(bytes id: UnsafeBufferPointer<UInt8>) {
        bytes.append(contentsOf: id)
        ends.append(bytes.count)
    }

    public mutating func append(_ id: String) {
        var id = id
        id.withUTF8 { append(bytes: $0) }
    }

    public static func += (list: inout SpanIDList, more: SpanIDList) {
        let base = list.bytes.count
        list.bytes += more.bytes
        list.ends += more.ends.map { $0 + base }
    }
}

extension IndexedTrace {
    /// - Parameter keeping: the scan keeps fields (``keptEnds`` gets an entry per span; `places`, the span's kept
    ///   places, are added to ``keptPlaces``: none when the line was too long).
    mutating func absorb(
        _ s: SpanFacts, offset: Int, length: Int, line: Int, keeping: Bool = false, places: UnsafeBufferPointer<KeptField> = UnsafeBufferPointer(start: nil, count: 0)
    ) {
        offsets.append(offset)
        lengths.append(length)
        lines.append(line)
        s.spanID.withBytes { spanIDs.append(bytes: $0) }
        s.parentSpanID.withBytes { parentIDs.append(bytes: $0) }
        if keeping {
            keptPlaces.append(contentsOf: places)
            keptEnds.append(keptPlaces.count)
        }
        if startTime.isEmpty || s.startText.compare(startTime) < 0 { startTime = s.startTime }
        if endTime.isEmpty || s.endText.compare(endTime) > 0 { endTime = s.endTime }
        if s.isError {
            hasErrors = true
            otelErrorSpanCount += 1
            if s.isTool { toolErrorSpanCount += 1 }
            errorSignatures.append(ErrorSignature(spanName: s.name, message: prefixScalars(s.statusMessage, 200)))
        }
        if let v = s.serviceText, !serviceNames.contains(where: v.equals) { serviceNames.append(v.string) }
        if let v = s.modelName { addUnique(&modelNames, v) }
        if let v = s.agentName { addUnique(&agentNames, v) }
        if let v = s.agentID {
            addUnique(&agentIDs, v)
        } else if s.agentName == nil {
            missingAgentIdentityCount += 1
        }
        inputTokens &+= s.inputTokens
        outputTokens &+= s.outputTokens
        if let p = s.projectID {
            addUnique(&projectIDs, p)
            if projectID == nil { projectID = p }
        }
        if s.parentSpanID.isEmpty, rootSpanName == nil { rootSpanName = s.name }
    }
}

/// The first `n` Unicode scalars of `s`.
func prefixScalars(_ s: String, _ n: Int) -> String {
    if s.utf8.count <= n { return s }
    var out = String.UnicodeScalarView()
    var i = 0
    for u in s.unicodeScalars {
        if i == n { break }
        out.append(u)
        i += 1
    }
    return String(out)
}

/// A string value of the line being read: its bytes in the line when it had no escape (valid while the line's
/// bytes are: the scan absorbs a line's facts before it reads the next), else its decoded text. The index keeps few
/// of these (a trace's first start and last end, its distinct service names, an error span's name), so most are
/// never made into a `String`: 4 allocations per span fewer than reading each as one.
struct LineText {
    var raw: UnsafeBufferPointer<UInt8>?
    var decoded = ""

    init(raw: UnsafeBufferPointer<UInt8>) { self.raw = raw }
    init(decoded: String = "") { self.decoded = decoded }

    var string: String { raw.map { String(decoding: $0, as: UTF8.self) } ?? decoded }

    var isEmpty: Bool { raw.map { $0.isEmpty } ?? decoded.isEmpty }

    @inline(__always) func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        if let raw { return body(raw) }
        var d = decoded
        return d.withUTF8(body)
    }

    /// Code point order against `other` (as ``codePointLess(_:_:)``): negative when this text comes first, zero when
    /// the two are the same bytes, positive when `other` comes first.
    @inline(__always) func compare(_ other: String) -> Int {
        withBytes { a in
            var o = other
            return o.withUTF8 { b in
                let n = min(a.count, b.count)
                let c = n == 0 ? 0 : Int(memcmp(a.baseAddress!, b.baseAddress!, n))
                return c != 0 ? c : a.count - b.count
            }
        }
    }

    /// `string == other`, as `String` compares (canonical equivalence), without making the string when the bytes
    /// decide: equal bytes are equal strings, and different ASCII bytes different ones.
    func equals(_ other: String) -> Bool {
        guard let raw else { return decoded == other }
        var o = other
        let decided: Bool? = o.withUTF8 { b in
            if raw.count == b.count, raw.count == 0 || bytesEqual(raw.baseAddress!, b.baseAddress!, raw.count) { return true }
            return raw.allSatisfy({ $0 < 0x80 }) && b.allSatisfy({ $0 < 0x80 }) ? false : nil
        }
        return decided ?? (string == other)
    }
}

/// A span line planned for `traces import` by the scan (``TraceValidationOptions/importPlan``): where it is, the
/// length ``SpanLineNormalizer`` will write for it (when predicted) and whether it may be redacted.
package struct PlannedLine: Sendable, Equatable {
    /// Byte offset and length (without `\n`) of the line, and its 1-based number.
    package var offset: Int
    package var length: Int
    package var line: Int
    /// ``SpanLineNormalizer/predictedLength(_:)`` of the line when it is to be written without redaction and the
    /// prediction holds one; else -1 (the import finds the length by normalizing the line).
    package var predicted: Int
    /// A redactor screened as asked may change the line (``RedactionScreen/mayRedact(_:predicted:)``).
    package var redact: Bool

    package init(offset: Int, length: Int, line: Int, predicted: Int, redact: Bool) {
        self.offset = offset
        self.length = length
        self.line = line
        self.predicted = predicted
        self.redact = redact
    }

    /// Plans `raw`, a line the scan accepted, at `offset` of its file: what the import's own pass would find.
    package init(_ raw: UnsafeRawBufferPointer, offset: Int, line: Int, screen: RedactionScreen) {
        // Every line may be redacted: its length is found by redacting it, the prediction would be of no use.
        let predicted = screen == .everything ? nil : SpanLineNormalizer.predictedLength(raw)
        let redact = screen.mayRedact(raw, predicted: predicted != nil)
        self.init(offset: offset, length: raw.count, line: line, predicted: redact ? -1 : predicted ?? -1, redact: redact)
    }
}

/// What the index needs from one valid span line.
struct SpanFacts {
    var traceID = ""
    var spanID = LineText()
    var parentSpanID = LineText()
    var nameText = LineText()
    var startText = LineText()
    var endText = LineText()
    var name: String { nameText.string }
    var startTime: String { startText.string }
    var endTime: String { endText.string }
    var statusCode = ""
    var statusMessage = ""
    var isError = false
    var isTool = false
    var serviceText: LineText?
    var serviceName: String? { serviceText?.string }
    var modelName: String?
    var agentName: String?
    var agentID: String?
    var inputTokens: Int64 = 0
    var outputTokens: Int64 = 0
    var projectID: String?
}

/// Where one value of a span line is: bytes `from..<to` of the line (the value's JSON text). The scan keeps these
/// for the top-level fields below and for the attributes of ``TraceValidationOptions/keptAttributes``, in line
/// order (a repeated key appears twice: the last one wins, as when the line is decoded).
public struct KeptField: Sendable, Hashable {
    /// `0...`: the attribute `keptAttributes[field]`; negative: one of the top-level fields below.
    public var field: Int16
    public var from: Int32
    public var to: Int32

    public static let name: Int16 = -1, kind: Int16 = -2, startTime: Int16 = -3, endTime: Int16 = -4, traceState: Int16 = -5
    /// `status.code` and `status.message` of the line's `status` object.
    public static let statusCode: Int16 = -6, statusMessage: Int16 = -7
    /// A `status` object starts here (`from == to`): a repeated `status` replaces the earlier one whole.
    public static let status: Int16 = -8
}
