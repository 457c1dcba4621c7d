import Dispatch
import FlywheelTraces
import Foundation
import GitStore

// MARK: - Streaming import (`flywheel traces import`)

/// What ``TraceStage/importFiles(_:format:redactor:into:options:)`` did.
public struct TraceImportOutcome: Sendable {
    /// Spans and traces prepared, per file, and the redactions.
    public var report: TraceStageReport
    /// The commit.
    public var commit: TraceCommitResult
    /// Wall seconds of each step (zero for OTLP input, which takes the in-memory path).
    public var timings = ImportTimings()
}

/// Wall seconds of the steps of a streamed import (for benchmarks and profiling).
public struct ImportTimings: Sendable, Equatable {
    /// Validate + index (the scan).
    public var scan = 0.0
    /// Normalize + redact every span: into the object stream while libgit2 hashes and deflates the batch before
    /// (which ``store`` then includes), or into the spool on the path without predicted lengths.
    public var normalize = 0.0
    /// libgit2 hashing and deflating the blob from the spool (zero when it overlapped with ``normalize``).
    public var store = 0.0
    /// The tree, `cycle.json` and the commit.
    public var commit = 0.0
    /// Normalized bytes that went to the spool's temporary file (0 when the output fit in memory).
    public var spooledBytes = 0
    /// The output lengths the scan did not predict, found by normalizing those lines (before the object stream opens).
    public var plan = 0.0
    /// Whether a predicted length proved wrong, so the spooled path ran after the pipelined one gave up.
    public var fallback = false
}

extension TraceStage {
    /// Input bytes normalized per batch (split among the cores); bounds the memory of a batch's output too.
    public static let importBatchBytes = 16 << 20
    /// Normalized output import keeps in memory before it spools the rest to a temporary file (see ``ImportSpool``).
    public static let importMemoryBytes = 40 << 20

    /// Imports trace files into the open cycle's `traces.jsonl` in one `traces` commit — what
    /// ``prepare(files:format:redactor:options:)`` followed by ``commit(_:to:policy:message:)`` do, with the same
    /// checks, errors and result, but streamed for HALO JSONL input: the files are mapped and validated + indexed in
    /// one pass, which also predicts each span's output length (the spans it cannot predict, a secret to redact or a
    /// float, are normalized once more to find theirs), so one libgit2 object stream of the blob's size opens, and each
    /// span is normalized and redacted on all cores, batch by batch in file order, while libgit2 hashes and deflates
    /// the batch before. Should a span's output differ from its planned length, that stream is dropped (no object) and
    /// the spans go through an ``ImportSpool`` (memory up to `memoryBytes`, an unlinked temporary file past it) into an
    /// object of the spool's size. Pages of the input already read are given back to the kernel. Neither the file, nor
    /// its spans, nor the blob is held in memory whole (past `memoryBytes`), so memory stays bounded whatever the
    /// file's size. Only the tree (ids) and `cycle.json` are built at the end. When the open cycle already holds
    /// traces, its `traces.jsonl` and the new spans make the new blob (the existing part is read into memory).
    /// OTLP input (or a mix) takes the in-memory path.
    /// - Throws: as ``prepare(files:format:redactor:options:)`` and ``commit(_:to:policy:message:)``; nothing is
    ///   committed when anything is thrown (a blob written meanwhile stays unreferenced).
    public static func importFiles(
        _ files: [URL], format: TraceInputFormat? = nil, redactor: Redactor?, into history: LoopHistory,
        options: TraceValidationOptions = .init(), batchBytes: Int = importBatchBytes, memoryBytes: Int = importMemoryBytes
    ) throws -> TraceImportOutcome {
        guard !files.isEmpty else { throw TraceStageError.noInput }
        let number = try history.openCycle().number
        var sources: [TraceSource] = []
        for url in files {
            let src = try TraceSource(streaming: url)
            guard (format ?? TraceInputFormat.detect(src.data)) == .halo else {
                let prepared = try prepare(files: files, format: format, redactor: redactor, options: options)
                return TraceImportOutcome(report: prepared.report, commit: try commit(prepared, to: history))
            }
            sources.append(src)
        }
        var timings = ImportTimings()
        var clock = DispatchTime.now().uptimeNanoseconds
        func lap() -> Double {
            let now = DispatchTime.now().uptimeNanoseconds
            defer { clock = now }
            return Double(now - clock) / 1e9
        }
        // 1. Validate + index every file in one pass (the pages are given back behind the scan), which also plans
        // each span line for step 2 while it has the line at hand (its predicted output length, whether the
        // redactor may change it): a pass of its own read the whole file again.
        var scanOptions = options
        scanOptions.importPlan = redactor?.screen ?? RedactionScreen.none
        let store = try TraceStore(sources: sources, options: scanOptions, skipInvalid: true)
        if !store.validation.errors.isEmpty { throw TraceStageError.invalidInput(store.validation.errors) }

        // Each file's span lines in file order (byte ranges only): the scan's plan lists them (with no error, every
        // line it accepted is a span of the index).
        let spanTotal = store.traces.reduce(0) { $0 + $1.spanCount }
        var scanned: [[PlannedLine]]? = store.importPlans
        if store.importPlans.count != sources.count || store.importPlans.reduce(0, { $0 + $1.count }) != spanTotal { scanned = nil }
        var lines: [[ImportLine]]
        if let scanned {
            lines = scanned.map { plan in plan.map { ($0.offset, $0.length, $0.line) } }
        } else {
            lines = [[ImportLine]](repeating: [], count: sources.count)
            for t in store.traces {
                for i in 0..<t.spanCount { lines[t.source].append((t.offsets[i], t.lengths[i], t.lines[i])) }
            }
            for i in lines.indices { lines[i].sort { $0.offset < $1.offset } }
        }
        timings.scan = lap()

        // 2. Normalize + redact into one libgit2 object stream, which needs the blob's size before its first byte.
        // First each line's output length: predicted from the input where a cheap pass can (see
        // SpanLineNormalizer.predictedLength), else by normalizing the line once. With the size known, the object
        // stream opens at once and libgit2 hashes and deflates each batch while the next is normalized on the other
        // cores. A prediction the real output contradicts drops that stream (no object is written) and the import
        // takes the spooled path, which needs none.
        let normalized = try history.withRepository { repo -> (ObjectID, RedactionReport) in
            let plan = try planLengths(sources, lines: lines, redactor: redactor, batchBytes: batchBytes, scanned: scanned)
            timings.plan = lap()
            if let piped = try pipelined(repo, sources, lines: lines, plan: plan, redactor: redactor, batchBytes: batchBytes) {
                timings.normalize = lap()
                return piped
            }
            timings.fallback = true
            let spool = try ImportSpool(memoryBytes: memoryBytes)
            var redaction = RedactionReport()
            for (si, src) in sources.enumerated() {
                for range in batches(lines[si], batchBytes: batchBytes) {
                    let batch = normalizeBatch(src, lines: lines[si][range], redactor: redactor)
                    if let issue = batch.failure { throw TraceStageError.invalidInput([issue]) }
                    for r in batch.reports { redaction.add(r) }
                    try spool.append(batch.outputs)
                    src.releasePages(pageRange(lines[si][range]))
                }
            }
            timings.normalize = lap()
            timings.spooledBytes = spool.spooledBytes
            let writer = try viaGit { () throws(GitError) in try repo.sizedBlobWriter(size: spool.byteCount) }
            try spool.drain { chunk in try viaGit { () throws(GitError) in try writer.write(chunk) } }
            let blob = try viaGit { () throws(GitError) in try writer.commit() }
            timings.store = lap()
            return (blob, redaction)
        }
        let (newBlob, redaction) = normalized

        // Trace ids as they are written (an id holding a secret is replaced), in first-appearance order.
        var idReport = RedactionReport()
        let traceIDs = store.traces.map { redactor?.redactID($0.traceID, report: &idReport) ?? $0.traceID }
        var fileReports: [TraceStageFileReport] = []
        for (si, src) in sources.enumerated() {
            fileReports.append(
                TraceStageFileReport(
                    file: src.name, format: .halo, spans: lines[si].count, traces: store.traces.filter { $0.source == si }.count))
        }
        let spanCount = lines.reduce(0) { $0 + $1.count }
        let report = TraceStageReport(
            files: fileReports, spans: spanCount, traces: traceIDs.count, redactions: redaction.counts,
            redacted: redactor != nil)

        // 3. One commit: the tree names the blob; the cycle's figures come from the indexes.
        let path = Layout.cycleFile(number, Layout.CycleFile.traces)
        var result = TraceCommitResult(cycle: number, commit: nil, spansAdded: 0, spansSkipped: 0, totalSpans: 0, totalTraces: 0)
        let commit = try history.commitStage(.traces, cycle: number, body: describe(report)) { snap in
            guard let open = try snap.lastCycle(), open.status == .open, open.number == number else {
                throw HistoryError.noOpenCycle
            }
            let existing = try snap.file(path) ?? Data()
            var all = store.traces
            var blob = newBlob
            if !existing.isEmpty {
                let old = try TraceStore(data: existing, name: path, skipInvalid: true)
                let have = Set(old.traces.map(\.traceID))
                let clash = traceIDs.filter(have.contains)
                if !clash.isEmpty { throw TraceStageError.traceAlreadyInCycle(cycle: number, traceIDs: clash) }
                all = old.traces + all
                blob = try history.withRepository { repo in
                    try viaGit { () throws(GitError) in
                        let w = try repo.blobStreamWriter()
                        try w.write(existing)
                        if existing.last != 0x0A { try w.write(Data([0x0A])) }
                        try w.write(try repo.blob(newBlob))
                        return try w.commit()
                    }
                }
            }
            result.spansAdded = spanCount
            result.totalSpans = all.reduce(0) { $0 + $1.spanCount }
            result.totalTraces = all.count
            if spanCount == 0 { return nil }
            var cycle = open
            cycle.scores.traces = all.count
            cycle.scores.spans = result.totalSpans
            cycle.scores.toolErrors = all.reduce(0) { $0 + $1.toolErrorSpanCount }
            cycle.scores.tokens = Int(all.reduce(Int64(0)) { TraceLimits.adding($0, $1.inputTokens, $1.outputTokens) })
            let durations = all.compactMap(\.durationNanos).map { Double($0) / 1e6 }
            if !durations.isEmpty { cycle.scores.latencyMs = durations.reduce(0, +) / Double(durations.count) }
            var changes = TreeChanges(writes: [Layout.cycleFile(number, Layout.CycleFile.cycle): cycle.encoded()])
            changes.write(path, blob: blob)
            return changes
        }
        result.commit = commit?.hex
        if commit == nil { result.spansAdded = 0 }
        timings.commit = lap()
        return TraceImportOutcome(report: report, commit: result, timings: timings)
    }

    /// Runs a GitStore call, turning its error into ``HistoryError/git(_:)``.
    static func viaGit<T>(_ body: () throws(GitError) -> T) throws -> T {
        do { return try body() } catch { throw HistoryError.git(error.description) }
    }

    /// A span line of a source: byte offset and length, 1-based line number.
    typealias ImportLine = (offset: Int, length: Int, line: Int)

    /// A batch of span lines normalized (and redacted) in file order: the output of each worker's slice, the
    /// redactions, the first line that failed, and whether a line's output length differed from the one expected.
    struct NormalizedBatch: Sendable {
        var outputs: [[UInt8]] = []
        var reports: [RedactionReport] = []
        var failure: TraceIssue?
        var mismatch = false
    }

    /// Each line's output length (without its `\n`) and whether the redactor may find something in it, per source,
    /// and the blob's size (every line and its `\n`).
    struct ImportPlan: Sendable {
        var lengths: [[Int]]
        var redact: [[Bool]]
        var total = 0
    }

    /// The lines cut into batches of about `batchBytes` input bytes (at least one line each).
    static func batches(_ lines: [ImportLine], batchBytes: Int) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var start = 0
        while start < lines.count {
            var end = start
            var bytes = 0
            while end < lines.count, bytes < batchBytes || end == start {
                bytes += lines[end].length
                end += 1
            }
            out.append(start..<end)
            start = end
        }
        return out
    }

    /// The input bytes of a batch of lines (to give their pages back).
    static func pageRange(_ batch: ArraySlice<ImportLine>) -> Range<Int> {
        guard let first = batch.first, let last = batch.last else { return 0..<0 }
        return first.offset..<(last.offset + last.length + 1)
    }

    /// `batch` cut into contiguous slices of about equal bytes, one per core (one slice under 1 MB).
    static func slices(_ batch: ArraySlice<ImportLine>) -> [Range<Int>] {
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let bytes = batch.reduce(0) { $0 + $1.length }
        let workers = bytes >= 1 << 20 ? min(cores, batch.count) : 1
        var cuts = [batch.startIndex]
        var acc = 0
        for i in batch.indices {
            acc += batch[i].length
            if cuts.count < workers, acc >= bytes * cuts.count / workers, i + 1 < batch.endIndex { cuts.append(i + 1) }
        }
        cuts.append(batch.endIndex)
        return (0..<(cuts.count - 1)).map { cuts[$0]..<cuts[$0 + 1] }
    }

    /// Runs `work` for each slice, on all cores when there are several.
    static func forEachSlice(_ count: Int, _ work: @Sendable (Int) -> Void) {
        if count == 1 { work(0) } else { DispatchQueue.concurrentPerform(iterations: count, execute: work) }
    }

    /// Appends the normalized line to `out`: through the byte-level ``SpanLineNormalizer`` unless `redact` (then, or
    /// when the byte path declines the line, it is decoded into a ``Span``, redacted when `redact`, and written
    /// again): both give the same bytes. The line is one the scan accepted (valid JSON).
    @inline(__always) static func normalizeLine(
        _ raw: UnsafeRawBufferPointer, redact: Bool, redactor: Redactor?, into out: inout [UInt8],
        workspace: inout SpanLineNormalizer.Workspace, report: inout RedactionReport
    ) throws {
        if redact || !SpanLineNormalizer.normalize(raw, into: &out, workspace: &workspace, validated: true) {
            var span = try Span(line: raw)
            if redact, let redactor { span = redactor.redact(span, report: &report) }
            span.writeJSONLine(to: &out)
        }
    }

    /// A line the scan accepted that failed to decode, reported as the scan would.
    static func failure(_ error: Error, _ src: TraceSource, _ l: ImportLine) -> TraceIssue {
        let e = error as? SpanDecodingError
        return TraceIssue(
            file: src.name, line: l.line, byteOffset: l.offset, severity: .error, field: e?.field ?? "<line>",
            code: e?.code ?? "invalid_span", message: e?.message ?? "\(error)")
    }

    /// Each line's output length, batch by batch on all cores (pages given back behind): each line is planned as the
    /// scan plans it (``PlannedLine``: predicted by ``SpanLineNormalizer/predictedLength(_:)`` when the redactor can
    /// find nothing in it), and the lines it does not predict are normalized (and redacted) into working space to
    /// find theirs. With `scanned` (the scan's plan of the same lines, ``TraceStore/importPlans``), the plan is the
    /// scan's, and only the lines it could not predict are read again (a batch with none is not touched).
    static func planLengths(
        _ sources: [TraceSource], lines: [[ImportLine]], redactor: Redactor?, batchBytes: Int, scanned: [[PlannedLine]]? = nil
    ) throws -> ImportPlan {
        var plan = ImportPlan(lengths: [], redact: [])
        let screen = redactor?.screen ?? RedactionScreen.none
        for (si, src) in sources.enumerated() {
            var lengths = [Int](repeating: 0, count: lines[si].count)
            var redacts = [Bool](repeating: false, count: lines[si].count)
            let known = scanned?[si]
            if let known {
                for (i, p) in known.enumerated() {
                    lengths[i] = p.predicted
                    redacts[i] = p.redact
                }
            }
            for range in batches(lines[si], batchBytes: batchBytes) {
                if known != nil, !lengths[range].contains(where: { $0 < 0 }) { continue }
                let batch = lines[si][range]
                let cuts = slices(batch)
                nonisolated(unsafe) var failures = [TraceIssue?](repeating: nil, count: cuts.count)
                lengths.withUnsafeMutableBufferPointer { lengthsBuffer in
                    redacts.withUnsafeMutableBufferPointer { redactBuffer in
                        src.data.withUnsafeBytes { (buf: UnsafeRawBufferPointer) in
                            nonisolated(unsafe) let buf = buf, lengthsOut = lengthsBuffer, redactOut = redactBuffer
                            forEachSlice(cuts.count) { w in
                                var out: [UInt8] = []
                                var workspace = SpanLineNormalizer.Workspace()
                                var report = RedactionReport()
                                for i in cuts[w] {
                                    let l = batch[i]
                                    let raw = UnsafeRawBufferPointer(rebasing: buf[l.offset..<(l.offset + l.length)])
                                    if known == nil {
                                        // Planned here as the scan plans a line (redaction is skipped only where
                                        // it provably finds nothing).
                                        let p = PlannedLine(raw, offset: l.offset, line: l.line, screen: screen)
                                        lengthsOut[i] = p.predicted
                                        redactOut[i] = p.redact
                                    }
                                    if lengthsOut[i] >= 0 { continue }
                                    let redact = redactOut[i]
                                    out.removeAll(keepingCapacity: true)
                                    do {
                                        try normalizeLine(raw, redact: redact, redactor: redactor, into: &out, workspace: &workspace, report: &report)
                                    } catch {
                                        failures[w] = failure(error, src, l)
                                        break
                                    }
                                    lengthsOut[i] = out.count
                                }
                            }
                        }
                    }
                }
                if let issue = failures.compactMap({ $0 }).first { throw TraceStageError.invalidInput([issue]) }
                src.releasePages(pageRange(batch))
            }
            plan.total += lengths.reduce(0, +) + lines[si].count
            plan.lengths.append(lengths)
            plan.redact.append(redacts)
        }
        return plan
    }

    /// Normalizes every line into one sized libgit2 object stream of `plan.total` bytes: the next batch is
    /// normalized on the other cores while this thread hands the previous one to libgit2 (which hashes and deflates
    /// it). Each line's output must have the planned length; nil when one does not (the stream is dropped: no
    /// object is written).
    static func pipelined(
        _ repo: Repository, _ sources: [TraceSource], lines: [[ImportLine]], plan: ImportPlan, redactor: Redactor?,
        batchBytes: Int
    ) throws -> (ObjectID, RedactionReport)? {
        final class Pending: @unchecked Sendable {
            let group = DispatchGroup()
            var batch = NormalizedBatch()
        }
        let work = sources.indices.flatMap { si in batches(lines[si], batchBytes: batchBytes).map { (si, $0) } }
        // The first batch is normalized on this thread, which has nothing else to do yet (a batch handed to a
        // global queue while this thread waits ran on one core: the waiting thread holds a place of the pool);
        // each later one is normalized on another thread while this one hands over the batch before.
        func start(_ k: Int, here: Bool = false) -> Pending {
            let pending = Pending()
            let (si, range) = work[k]
            let (src, batch) = (sources[si], lines[si][range])
            let (redact, expected) = (plan.redact[si][range], plan.lengths[si][range])
            let normalize: @Sendable () -> NormalizedBatch = { normalizeBatch(src, lines: batch, redactor: redactor, redactFlags: redact, expected: expected) }
            if here {
                pending.batch = normalize()
            } else {
                DispatchQueue.global().async(group: pending.group) { pending.batch = normalize() }
            }
            return pending
        }
        let writer = try viaGit { () throws(GitError) in try repo.sizedBlobWriter(size: plan.total) }
        var redaction = RedactionReport()
        var next: Pending? = work.isEmpty ? nil : start(0, here: true)
        // Never leave a batch running behind a throw or a return.
        defer { next?.group.wait() }
        for k in work.indices {
            guard let current = next else { break }
            current.group.wait()
            next = k + 1 < work.count ? start(k + 1) : nil
            let batch = current.batch
            if let issue = batch.failure { throw TraceStageError.invalidInput([issue]) }
            if batch.mismatch { return nil }
            // The batch's input is read: its pages go back now, not after its output is handed over (which waits
            // while libgit2's deflating thread is behind), so they are not resident alongside that output.
            let (si, range) = work[k]
            sources[si].releasePages(pageRange(lines[si][range]))
            for r in batch.reports { redaction.add(r) }
            // Handed over, not copied: a large blob is deflated on a thread of its own (SizedBlobWriter).
            for output in batch.outputs { try viaGit { () throws(GitError) in try writer.write(output) } }
        }
        let blob = try viaGit { () throws(GitError) in try writer.commit() }
        return (blob, redaction)
    }

    /// Normalizes (and redacts) a batch of span lines of `src`, split among the cores in contiguous slices (see
    /// ``normalizeLine(_:redact:redactor:into:workspace:report:)``). `redactFlags`, when given, says which lines to
    /// redact (else the redactor's ``Redactor/mayFindSecrets(inJSON:)`` decides); with `expected`, a line whose
    /// output length differs stops its slice and marks the batch ``NormalizedBatch/mismatch``.
    static func normalizeBatch(
        _ src: TraceSource, lines batch: ArraySlice<ImportLine>, redactor: Redactor?, redactFlags: ArraySlice<Bool>? = nil,
        expected: ArraySlice<Int>? = nil
    ) -> NormalizedBatch {
        let cuts = slices(batch)
        nonisolated(unsafe) var outputs = [[UInt8]](repeating: [], count: cuts.count)
        nonisolated(unsafe) var reports = [RedactionReport](repeating: RedactionReport(), count: cuts.count)
        nonisolated(unsafe) var failures = [TraceIssue?](repeating: nil, count: cuts.count)
        nonisolated(unsafe) var mismatches = [Bool](repeating: false, count: cuts.count)
        src.data.withUnsafeBytes { (buf: UnsafeRawBufferPointer) in
            nonisolated(unsafe) let buf = buf
            forEachSlice(cuts.count) { w in
                var out: [UInt8] = []
                var workspace = SpanLineNormalizer.Workspace()
                var r = RedactionReport()
                out.reserveCapacity(batch[cuts[w]].reduce(0) { $0 + $1.length + 1 } + 4096)
                for i in cuts[w] {
                    let l = batch[i]
                    let raw = UnsafeRawBufferPointer(rebasing: buf[l.offset..<(l.offset + l.length)])
                    // Redaction is skipped only where it provably finds nothing (see mayFindSecrets).
                    let redact = redactFlags.map { $0[i] } ?? redactor.map { $0.mayFindSecrets(inJSON: raw) } ?? false
                    let mark = out.count
                    do {
                        try normalizeLine(raw, redact: redact, redactor: redactor, into: &out, workspace: &workspace, report: &r)
                    } catch {
                        // The scan accepted this line, so this should not happen; report it as the scan would.
                        failures[w] = failure(error, src, l)
                        break
                    }
                    if let expected, out.count - mark != expected[i] {
                        mismatches[w] = true
                        break
                    }
                    out.append(0x0A)
                }
                outputs[w] = out
                reports[w] = r
            }
        }
        return NormalizedBatch(
            outputs: outputs, reports: reports, failure: failures.compactMap { $0 }.first, mismatch: mismatches.contains(true))
    }
}
