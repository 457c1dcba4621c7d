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
}

extension TraceStage {
    /// Input bytes normalized per batch (split among the cores); bounds the memory of a batch's output too.
    public static let importBatchBytes = 16 << 20

    /// Imports trace files into the open cycle's `traces.jsonl` in one `traces` commit — what
    /// ``prepare(files:format:redactor:options:)`` followed by ``commit(_:to:policy:message:)`` do, with the same
    /// checks, errors and result, but streamed for HALO JSONL input: the files are mapped and validated + indexed in
    /// one pass, then each span is normalized and redacted on all cores, batch by batch in file order, and written
    /// straight into the blob (libgit2's blob stream); pages of the input already read are given back to the kernel.
    /// Neither the file, nor its spans, nor the blob is ever held in memory whole, so memory stays bounded whatever
    /// the file's size. Only the tree (ids) and `cycle.json` are built at the end. When the open cycle already holds
    /// traces, its `traces.jsonl` and the new spans make the new blob (the existing part is read into memory).
    /// OTLP input (or a mix) takes the in-memory path.
    /// - Throws: as ``prepare(files:format:redactor:options:)`` and ``commit(_:to:policy:message:)``; nothing is
    ///   committed when anything is thrown (a blob written meanwhile stays unreferenced).
    public static func importFiles(
        _ files: [URL], format: TraceInputFormat? = nil, redactor: Redactor?, into history: LoopHistory,
        options: TraceValidationOptions = .init(), batchBytes: Int = importBatchBytes
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
        // 1. Validate + index every file in one pass (the pages are given back behind the scan).
        let store = try TraceStore(sources: sources, options: options, skipInvalid: true)
        if !store.validation.errors.isEmpty { throw TraceStageError.invalidInput(store.validation.errors) }

        // Each file's span lines in file order (byte ranges only).
        var lines = [[(offset: Int, length: Int, line: Int)]](repeating: [], count: sources.count)
        for t in store.traces {
            for i in 0..<t.spanCount { lines[t.source].append((t.offsets[i], t.lengths[i], t.lines[i])) }
        }
        for i in lines.indices { lines[i].sort { $0.offset < $1.offset } }

        // 2. Normalize + redact, batch by batch, into the blob. A first pass only measures the output (the object
        // database needs the blob's size before its first byte); the second writes it, libgit2 hashing and deflating
        // one batch while the next is normalized.
        let normalized = try history.withRepository { repo -> (ObjectID, RedactionReport) in
            var plan: [(source: Int, lines: Range<Int>, flags: [UInt8])] = []
            var total = 0
            for (si, src) in sources.enumerated() {
                for range in batches(lines[si], batchBytes: batchBytes) {
                    let b = normalizeBatch(src, lines: lines[si][range], redactor: redactor, keepOutput: false, known: nil)
                    if let issue = b.failure { throw TraceStageError.invalidInput([issue]) }
                    total += b.bytes
                    plan.append((si, range, b.flags))
                    src.releasePages(pageRange(lines[si][range]))
                }
            }
            let writer = try viaGit { () throws(GitError) in try repo.sizedBlobWriter(size: total) }
            var redaction = RedactionReport()
            let sourcesCopy = sources, linesCopy = lines
            func start(_ k: Int) -> (box: BatchBox, done: DispatchGroup) {
                let box = BatchBox(), done = DispatchGroup()
                let step = plan[k]
                done.enter()
                DispatchQueue.global().async {
                    box.batch = normalizeBatch(
                        sourcesCopy[step.source], lines: linesCopy[step.source][step.lines], redactor: redactor, keepOutput: true, known: step.flags)
                    done.leave()
                }
                return (box, done)
            }
            var next = plan.isEmpty ? nil : start(0)
            for k in plan.indices {
                guard let current = next else { break }
                current.done.wait()
                let batch = current.box.batch!
                next = k + 1 < plan.count ? start(k + 1) : nil
                if let issue = batch.failure {
                    next?.done.wait()
                    throw TraceStageError.invalidInput([issue])
                }
                for r in batch.reports { redaction.add(r) }
                for o in batch.outputs {
                    try o.withUnsafeBytes { raw in try viaGit { () throws(GitError) in try writer.write(raw) } }
                }
                let step = plan[k]
                sources[step.source].releasePages(pageRange(lines[step.source][step.lines]))
            }
            return (try viaGit { () throws(GitError) in try writer.commit() }, redaction)
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
        return TraceImportOutcome(report: report, commit: result)
    }

    /// Runs a GitStore call, turning its error into ``HistoryError/git(_:)``.
    static func viaGit<T>(_ body: () throws(GitError) -> T) throws -> T {
        do { return try body() } catch { throw HistoryError.git(error.description) }
    }

    /// Holds a batch normalized on another thread until the writer takes it.
    final class BatchBox: @unchecked Sendable {
        var batch: NormalizedBatch?
    }

    /// A batch of span lines normalized (and redacted) in file order: the output of each worker's slice, the
    /// redactions, the first line that failed, and the output's size.
    struct NormalizedBatch {
        var outputs: [[UInt8]] = []
        var reports: [RedactionReport] = []
        var failure: TraceIssue?
        var bytes = 0
        /// Per line: ``redactFlag`` and ``slowFlag``, as found (``normalizeBatch(_:lines:redactor:keepOutput:known:)``
        /// with `known` nil).
        var flags: [UInt8] = []
    }

    /// The redactor may find something in the line: it is decoded and redacted.
    static let redactFlag: UInt8 = 1
    /// The byte-level path declined the line: it is decoded and written again.
    static let slowFlag: UInt8 = 2

    /// The lines cut into batches of about `batchBytes` input bytes (at least one line each).
    static func batches(_ lines: [(offset: Int, length: Int, line: Int)], batchBytes: Int) -> [Range<Int>] {
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
    static func pageRange(_ batch: ArraySlice<(offset: Int, length: Int, line: Int)>) -> Range<Int> {
        guard let first = batch.first, let last = batch.last else { return 0..<0 }
        return first.offset..<(last.offset + last.length + 1)
    }

    /// Normalizes (and redacts) a batch of span lines of `src`, split among the cores in contiguous slices; with
    /// `keepOutput` false only the output's size is kept (objects are then not reordered: the size is the same) and
    /// what was found about each line is returned in `flags`, which a second pass over the batch passes as `known`
    /// (so the raw-line redaction check runs once per line). A line goes through the byte-level
    /// ``SpanLineNormalizer`` unless the redactor may find something in it (then, or when the byte path declines
    /// the line, it is decoded into a ``Span``, redacted and written again): both give the same bytes.
    static func normalizeBatch(
        _ src: TraceSource, lines batch: ArraySlice<(offset: Int, length: Int, line: Int)>, redactor: Redactor?, keepOutput: Bool,
        known: [UInt8]?
    ) -> NormalizedBatch {
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let bytes = batch.reduce(0) { $0 + $1.length }
        let workers = bytes >= 1 << 20 ? min(cores, batch.count) : 1
        // Contiguous slices of about equal bytes, one per worker.
        var cuts = [batch.startIndex]
        var acc = 0
        for i in batch.indices {
            acc += batch[i].length
            if cuts.count < workers, acc >= bytes * cuts.count / workers, i + 1 < batch.endIndex { cuts.append(i + 1) }
        }
        cuts.append(batch.endIndex)
        let slices = cuts.count - 1
        nonisolated(unsafe) var outputs = [[UInt8]](repeating: [], count: slices)
        nonisolated(unsafe) var sizes = [Int](repeating: 0, count: slices)
        nonisolated(unsafe) var reports = [RedactionReport](repeating: RedactionReport(), count: slices)
        nonisolated(unsafe) var failures = [TraceIssue?](repeating: nil, count: slices)
        nonisolated(unsafe) var flags = known ?? [UInt8](repeating: 0, count: batch.count)
        let first = batch.startIndex
        let frozenCuts = cuts
        src.data.withUnsafeBytes { (buf: UnsafeRawBufferPointer) in
            nonisolated(unsafe) let buf = buf
            let work: @Sendable (Int) -> Void = { w in
                var out: [UInt8] = []
                var scratch: [UInt8] = []
                var size = 0
                var r = RedactionReport()
                if keepOutput { out.reserveCapacity(batch[frozenCuts[w]..<frozenCuts[w + 1]].reduce(0) { $0 + $1.length + 1 } + 4096) }
                for i in frozenCuts[w]..<frozenCuts[w + 1] {
                    let l = batch[i]
                    let raw = UnsafeRawBufferPointer(rebasing: buf[l.offset..<(l.offset + l.length)])
                    let mark = out.count
                    // Redaction is skipped only where it provably finds nothing (see mayFindSecrets).
                    let redact: Bool
                    var slow: Bool
                    if let known {
                        redact = known[i - first] & redactFlag != 0
                        slow = redact || known[i - first] & slowFlag != 0
                        if !slow, !SpanLineNormalizer.normalize(raw, into: &out, scratch: &scratch) { slow = true }
                    } else {
                        redact = redactor.map { $0.mayFindSecrets(inJSON: raw) } ?? false
                        slow = redact || !SpanLineNormalizer.normalize(raw, into: &out, scratch: &scratch, reorder: false)
                        flags[i - first] = (redact ? redactFlag : 0) | (slow ? slowFlag : 0)
                    }
                    if slow {
                        do {
                            var span = try Span(line: raw)
                            if redact, let redactor { span = redactor.redact(span, report: &r) }
                            span.writeJSONLine(to: &out)
                        } catch {
                            // The scan accepted this line, so this should not happen; report it as the scan would.
                            let e = error as? SpanDecodingError
                            failures[w] = TraceIssue(
                                file: src.name, line: l.line, byteOffset: l.offset, severity: .error,
                                field: e?.field ?? "<line>", code: e?.code ?? "invalid_span", message: e?.message ?? "\(error)")
                            break
                        }
                    }
                    out.append(0x0A)
                    if !keepOutput {
                        size += out.count - mark
                        out.removeAll(keepingCapacity: true)
                    }
                }
                if keepOutput { size = out.count }
                outputs[w] = out
                sizes[w] = size
                reports[w] = r
            }
            if slices == 1 { work(0) } else { DispatchQueue.concurrentPerform(iterations: slices, execute: work) }
        }
        return NormalizedBatch(
            outputs: keepOutput ? outputs : [], reports: reports, failure: failures.compactMap { $0 }.first, bytes: sizes.reduce(0, +),
            flags: known == nil ? flags : [])
    }
}
