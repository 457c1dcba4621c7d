import FlywheelSupport
import FlywheelTraces
import Foundation
import GitStore
import FlywheelEvals

/// What `flywheel evals generate` committed.
public struct GenerateReport: Sendable, Codable {
    public var cycle: Int
    public var added: [String]
    public var skipped: [String]
    public var proposedByModel: Int
    public var rejectedProposals: [String]
    public var suiteSize: Int
    public var commit: String?
}

/// What the gate decided.
public struct GateReport: Sendable {
    public var run: EvalRunResult
    public var decision: EvalGateDecision
    public var resultsJSON: String
    public var junitXML: String
    public var cycle: Int?
    public var commit: String?
    /// Why nothing was committed (standalone, or a closed cycle), when so.
    public var note: String?
    /// Cases of the suite whose task has no run in this cycle (an import-only cycle, a smaller task set): "not run",
    /// neither failed nor passed, left out of the pass rate and of every comparison.
    public var notRun: [String] = []
    /// The suite loader's warnings (accepted-but-ignored forms), as `file:line: key: reason`.
    public var warnings: [String] = []
    /// Whether suite code was allowed to run, and why not when it was not.
    public var scriptsAllowed: Bool = true
}

/// Eval generation (feedback → Promptfoo tests, a ratchet) and the gate.
public enum EvalStages {
    /// The suite's path inside the history and, for `file://` resolution, in the workspace.
    static func suiteURL(_ ctx: LoopContext) -> URL { ctx.workspace.url(Layout.suite) }

    /// How an error names a file read from the history: git's `REV:PATH` (`refs/heads/main:evals/promptfooconfig.yaml`,
    /// which `git show` reads), never a working-folder path that may not exist.
    static func historyLabel(_ path: String, _ revision: String) -> String { "\(revision):\(path)" }

    /// The suite at `revision` (a new empty one when the history has none yet).
    public static func suite(_ ctx: LoopContext, at revision: String? = nil, allowedRoots: [URL]? = nil) throws -> EvalSuite {
        let snap = try ctx.history.snapshot(at: revision)
        let text = try snap.text(Layout.suite) ?? baseSuite(project: ctx.config.project)
        return try EvalSuite.parse(yaml: text, file: suiteURL(ctx), label: historyLabel(Layout.suite, revision ?? ctx.history.ref),
                                   allowedRoots: allowedRoots)
    }

    /// The suite a loop starts with: one prompt (the task's question) and the provider that stands for the
    /// cycle's recorded outputs.
    public static func baseSuite(project: String) -> String {
        """
        description: \(JSONValue.string("\(project): Flywheel eval suite (a ratchet: it grows each cycle; remove cases only with flywheel evals prune)").canonicalText)
        prompts:
          - "{{question}}"
        providers:
          - id: flywheel:cycle-outputs
            label: the cycle's agent outputs
        tests: []

        """
    }

    /// Compiles the open cycle's feedback into tests and merges them into `evals/promptfooconfig.yaml` (never
    /// dropping a case), writing the cycle's `evals.yaml`; one commit, stage `evals`. llm-rubric cases are added
    /// when a judge model is configured (without one they could only be reported as skipped).
    public static func generate(_ ctx: LoopContext) throws -> GenerateReport {
        let cycle = try ctx.history.openCycle()
        let data = try CycleData.read(ctx.history, cycle: cycle.number, revision: ctx.history.ref, parts: [.outputs, .harness])
        // A feedback stage that found nothing (a good cycle) adds no case; only a cycle with no feedback stage at all
        // is refused, so the loop goes on once the agent stops failing.
        let feedbackStageRan = try ctx.history.snapshot().cycleFile(cycle.number, Layout.CycleFile.feedback) != nil
        guard !data.feedback.isEmpty || feedbackStageRan else {
            throw StageError(.evals, "cycle \(cycle.number) has no feedback yet: run `flywheel feedback critique` or `feedback add` first")
        }
        let questions = data.questions
        let judge = ctx.modelName(for: .judge) != nil
        var candidates = EvalCompiler(cycle: cycle.number, includeRubric: judge).compile(data.feedback, questions: questions)
        var proposed = 0
        var rejected: [String] = []
        if !data.feedback.isEmpty, let model = try ctx.model(for: .evalGeneration) {
            do {
                let brief = ProjectBrief(config: ctx.config, harness: data.harnessFiles, rules: data.rules)
                let result = try EvalProposer(model: model, modelName: model.id, cycle: cycle.number, brief: brief)
                    .propose(data.feedback, questions: questions)
                candidates += result.tests
                proposed = result.tests.count
                rejected = result.rejected.map { "\($0)" }
            } catch {
                throw StageError(.evals, "eval-generation model \(model.id): \(error)")
            }
        }
        // The suite as read now; the commit is refused if another writer changes it meanwhile (nothing lost).
        let suiteBefore = try ctx.history.snapshot().text(Layout.suite)
        var suite = try EvalSuite.parse(yaml: suiteBefore ?? baseSuite(project: ctx.config.project), file: suiteURL(ctx), label: historyLabel(Layout.suite, ctx.history.ref))
        let existing = suite.tests.map(\.raw)
        let pruned = EvalRatchet.ledger(fromSuiteMetadata: suite.document["metadata"])
        let merge = EvalRatchet.merge(existing: existing, candidates: candidates, pruned: pruned)
        // One case that does not load (a phrase with `{{{`, say) is skipped with a warning; the others go in.
        var added: [JSONValue] = []
        var invalid: [String] = []
        let generatedLabel = "\(Layout.suite) (as generated in cycle \(cycle.number))"
        // Usually every case loads: one parse of the whole suite. Otherwise each case is tried on its own.
        var whole = suite
        var allLoad = true
        for test in merge.added {
            guard let c = try? EvalTestCase(node: test.keysSorted, file: Layout.suite) else { allLoad = false; break }
            _ = whole.append(c)
        }
        if allLoad, (try? EvalSuite.parse(yaml: whole.yamlText(), file: suiteURL(ctx), label: generatedLabel)) != nil {
            suite = whole
            added = merge.added
        } else {
            for test in merge.added {
                do {
                    let candidate = try EvalTestCase(node: test.keysSorted, file: Layout.suite)
                    var probe = suite
                    _ = probe.append(candidate)
                    _ = try EvalSuite.parse(yaml: probe.yamlText(), file: suiteURL(ctx), label: generatedLabel)
                    suite = probe
                    added.append(test)
                } catch {
                    let why = "\(EvalRatchet.id(of: test) ?? "?"): skipped, the generated case is invalid: \(error)"
                    invalid.append(why)
                    ctx.progress("warning: \(why)")
                }
            }
        }
        let suiteText = suite.yamlText()
        // The written suite must load back (nothing half-valid reaches the history).
        _ = try EvalSuite.parse(yaml: suiteText, file: suiteURL(ctx), label: "\(Layout.suite) (as generated in cycle \(cycle.number))")
        var extra = TreeChanges()
        extra.write(Layout.suite, text: suiteText)
        let ids = added.compactMap(EvalRatchet.id(of:))
        // The cycle's evals.yaml lists every case this cycle added, across repeated `evals generate` calls.
        let earlier = existing.filter { $0["metadata"]?["cycle"]?.intValue == Int64(cycle.number) }
        let cycleCases = earlier + added
        let suiteSize = suite.tests.count
        let (_, commit) = try ctx.history.commitMerging(
            .evals,
            body: "Added \(ids.count) case(s) from \(data.feedback.count) feedback record(s); suite has \(suiteSize) case(s).",
            updateCycle: { c in
                c.scores.suiteSize = suiteSize
                c.scores.evalsAdded = cycleCases.count
            }
        ) { snap, _ in
            guard try snap.text(Layout.suite) == suiteBefore else {
                throw StageError(.evals, "\(Layout.suite) changed while the cases were generated (another writer); nothing committed: run `flywheel evals generate` again")
            }
            return ([Layout.CycleFile.evals: Data(EvalRatchet.renderCycleEvals(cycleCases).utf8)], extra)
        }
        return GenerateReport(
            cycle: cycle.number, added: ids, skipped: merge.skipped.map { "\($0.id): \($0.reason)" } + invalid, proposedByModel: proposed,
            rejectedProposals: rejected, suiteSize: suite.tests.count, commit: commit?.hex)
    }

    /// Removes a case from the suite on purpose, recording why (stage `prune`).
    public static func prune(_ ctx: LoopContext, id: String, reason: String) throws -> String? {
        guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw StageError(.prune, "prune needs --why: the reason is recorded") }
        let before = try ctx.history.snapshot().text(Layout.suite)
        var suite = try EvalSuite.parse(yaml: before ?? baseSuite(project: ctx.config.project), file: suiteURL(ctx), label: historyLabel(Layout.suite, ctx.history.ref))
        guard suite.remove(id: id, reason: reason) != nil else {
            throw StageError(.prune, "no case \(id) in \(Layout.suite) (only inline cases can be pruned)")
        }
        let text = suite.yamlText()
        let cycle = try? ctx.history.openCycle().number
        let commit = try ctx.history.commitStage(.prune, cycle: cycle, title: "evals: prune \(id)", body: "Why: \(reason)") { snap in
            // Refused, not overwritten, when another writer changed the suite meanwhile.
            guard try snap.text(Layout.suite) == before else {
                throw StageError(.prune, "\(Layout.suite) changed while pruning (another writer); nothing committed: run `flywheel evals prune` again")
            }
            var changes = TreeChanges()
            changes.write(Layout.suite, text: text)
            return changes
        }
        return commit?.hex
    }

    // MARK: - The gate

    /// Options of `flywheel evals run`.
    public struct GateOptions: Sendable {
        public var suite: URL?
        public var cycle: Int?
        public var minPassRate: Double?
        public var standalone: Bool
        /// `--allow-scripts` (true) / `--no-scripts` (false); nil: loop.yaml's `evals.allow_scripts`, else scripts run
        /// only for a suite the user named (`suite`), never for the history's.
        public var scripts: Bool?
        /// `--allow-outside-files`; nil: loop.yaml's `evals.allow_outside_files`, else false.
        public var allowOutsideFiles: Bool?
        /// `--no-cache`: neither read nor write the on-disk response cache (`.cache/flywheel/evals`).
        public var noCache: Bool
        public init(suite: URL? = nil, cycle: Int? = nil, minPassRate: Double? = nil, standalone: Bool = false,
                    scripts: Bool? = nil, allowOutsideFiles: Bool? = nil, noCache: Bool = false) {
            self.noCache = noCache
            self.suite = suite
            self.cycle = cycle
            self.minPassRate = minPassRate
            self.standalone = standalone
            self.scripts = scripts
            self.allowOutsideFiles = allowOutsideFiles
        }
    }

    /// The script policy of a gate run (see `GateOptions.scripts`).
    public static func scriptPolicy(_ ctx: LoopContext, options: GateOptions) -> EvalScriptPolicy {
        let settings = ctx.workspace.config?.evals
        let fromHistory = options.suite == nil
        let allow = options.scripts ?? settings?.allowScripts ?? !fromHistory
        let reason: String
        if options.scripts == false {
            reason = "scripts are off (--no-scripts)"
        } else if settings?.allowScripts == false {
            reason = "scripts are off (evals.allow_scripts: false in loop.yaml)"
        } else {
            reason = "scripts are off for a suite from the history (another writer may have put code in it): pass --allow-scripts or set evals.allow_scripts: true in loop.yaml"
        }
        return EvalScriptPolicy(allowScripts: allow, disabledReason: reason, passEnvironment: settings?.scriptEnv ?? [],
                                timeout: settings?.scriptTimeout ?? 30, workingDirectory: ctx.workspace.folder)
    }

    /// The folders a gate's suite may read `file://` references from (nil: anywhere): the working folder, and the
    /// folder of a suite the user named.
    public static func allowedRoots(_ ctx: LoopContext, options: GateOptions) -> [URL]? {
        if options.allowOutsideFiles ?? ctx.workspace.config?.evals?.allowOutsideFiles ?? false { return nil }
        return [ctx.workspace.folder] + (options.suite.map { [$0.deletingLastPathComponent()] } ?? [])
    }

    /// Grades the suite: tests with `providerOutput` on it; otherwise, in a cycle, on the cycle's outputs (the final
    /// answer and summary of the trace named by `vars.trace_id` / `metadata.trace_id`, else the trace that answered the
    /// same question). In the open cycle it commits `results.json` (stage `results`) and the figures in `cycle.json`.
    public static func gate(_ ctx: LoopContext, options: GateOptions) throws -> GateReport {
        var data: CycleData?
        if !options.standalone, ctx.history.exists {
            let number = try options.cycle ?? (try? ctx.history.openCycle().number) ?? ctx.history.lastCycle()?.number
            if let number { data = try CycleData.read(ctx.history, cycle: number) }
        }
        let suite: EvalSuite
        let roots = allowedRoots(ctx, options: options)
        if let file = options.suite {
            suite = try EvalSuite.load(from: file, allowedRoots: roots)
        } else if let data {
            suite = try self.suite(ctx, at: data.revision, allowedRoots: roots)
        } else {
            throw StageError(.results, "no suite: pass --suite FILE or run inside a loop with a history")
        }
        if data == nil, !suite.hasExplicitProviders, !suite.allTestsRecorded {
            throw StageError(.results, "\(suite.file.path): no providers and no recorded outputs: you must specify at least 1 provider (e.g. providers: [echo], openai:chat:MODEL or exec: COMMAND), or give every test a providerOutput")
        }
        let policy = scriptPolicy(ctx, options: options)
        let judge = try ctx.model(for: .judge)
        let caller = EvalProviderCaller(policy: policy, environment: ctx.environment)
        if !options.noCache { caller.diskCache = EvalProviderCaller.defaultDiskCache(in: ctx.workspace.folder) }
        let runner = EvalRunner(engine: EvalAssertionEngine(judge: judge, scripts: SubprocessScriptRunner.forPolicy(policy),
                                                            embedder: { p, texts in try caller.embed(provider: p, texts: texts) },
                                                            moderator: { p, text in try caller.moderate(provider: p, text: text) }),
                                providers: caller)
        let outputs = try data.map { try CycleOutputs($0) }
        var run = runner.grade(suite: suite) { key in outputs?.output(for: key) }
        // In a cycle, a case whose task did not run here is "not run": no row, so it neither fails nor flips.
        var notRun: [String] = []
        if data != nil {
            let (kept, dropped) = run.rows.reduce(into: ([EvalRow](), [EvalRow]())) { acc, row in
                if row.response == nil, row.error?.hasPrefix(EvalRunner.noOutputPrefix) == true { acc.1.append(row) } else { acc.0.append(row) }
            }
            if !dropped.isEmpty {
                notRun = dropped.map(\.testId)
                run.rows = kept
                run.summary = EvalSummary(rows: kept, durationMs: run.summary.durationMs)
            }
        }
        let percent = (options.minPassRate ?? ctx.workspace.config?.gate.minPassRate).map { $0 * 100 }
        var decision = EvalGate.decide(run.summary, suiteEnv: suite.env, environment: ctx.environment, loopThreshold: percent)
        if run.rows.isEmpty, !notRun.isEmpty {
            // Nothing could be graded (e.g. a cycle that only imported traces): the gate cannot vouch for anything.
            decision.exitCode = decision.exitCode == 0 ? 100 : decision.exitCode
            decision.message = "No case ran in this cycle (\(notRun.count) not run: their tasks have no run here); nothing to gate"
        }
        let results = EvalResultsJSON.write(run, suite: suite, options: .init(createdAt: ctx.now(), cycle: data?.cycle.number))
        let junit = EvalJUnit.write(run, name: suite.description ?? "flywheel gate")
        var report = GateReport(run: run, decision: decision, resultsJSON: results, junitXML: junit, cycle: data?.cycle.number)
        report.notRun = notRun
        report.warnings = suite.warnings.map { "\($0)" } + run.hookProblems
        report.scriptsAllowed = policy.allowScripts
        guard let data else { report.note = "standalone: nothing committed"; return report }
        guard data.cycle.status == .open else {
            report.note = "cycle \(data.cycle.number) is closed: results not committed"
            return report
        }
        var scores = figures(run, decision: decision, minPassRate: percent.map { $0 / 100 })
        if run.rows.isEmpty { scores.passRate = nil }
        // Grading the same outputs again writes the same results: keep the committed file (its times differ only).
        var resultsData = Data(results.utf8)
        if let old = try ctx.history.snapshot().cycleFile(data.cycle.number, Layout.CycleFile.results),
           sameResults(old, resultsData) {
            resultsData = old
        }
        let (_, commit) = try ctx.history.commitToOpenCycle(
            .results, files: [Layout.CycleFile.results: resultsData], body: decision.message
        ) { c in
            c.scores.takeGateFigures(scores)
            c.scores.suiteSize = suite.tests.count
            c.scores.notRun = notRun.isEmpty ? nil : notRun.count
        }
        report.commit = commit?.hex
        return report
    }

    /// True when two results files differ at most in their times (timestamps, eval id, grading duration).
    static func sameResults(_ a: Data, _ b: Data) -> Bool {
        func strip(_ v: JSONValue) -> JSONValue {
            guard case .object(var o) = v else { return v }
            for key in ["timestamp", "evalId", "exportedAt", "evaluationCreatedAt", "durationMs"] { o[key] = nil }
            return .object(o.mapValues(strip))
        }
        guard let x = try? JSONValue.parse(String(decoding: a, as: UTF8.self)),
              let y = try? JSONValue.parse(String(decoding: b, as: UTF8.self)) else { return false }
        return strip(x) == strip(y)
    }

    /// The cycle figures of a run (the gate's part of `CycleScores`; `takeGateFigures` records them).
    static func figures(_ run: EvalRunResult, decision: EvalGateDecision, minPassRate: Double?) -> CycleScores {
        var s = CycleScores()
        let sum = run.summary
        s.passRate = sum.passRate / 100
        s.passed = sum.passed
        s.failed = sum.failed
        s.errors = sum.errors
        s.skipped = sum.skipped
        s.total = sum.total
        s.gatePassed = decision.exitCode == 0
        s.minPassRate = minPassRate ?? decision.threshold / 100
        s.meanScore = run.rows.isEmpty ? nil : run.rows.map(\.score).reduce(0, +) / Double(run.rows.count)
        var metricSum: [String: Double] = [:], metricCount: [String: Int] = [:]
        var byCategory: [String: Int] = [:]
        for row in run.rows {
            for (k, v) in row.namedScores { metricSum[k, default: 0] += v; metricCount[k, default: 0] += 1 }
            if row.status == .failed || row.status == .error {
                let category = row.metadata["category"]?.stringValue ?? "uncategorised"
                byCategory[category, default: 0] += 1
            }
        }
        s.metrics = metricSum.isEmpty ? nil : metricSum.reduce(into: [:]) { $0[$1.key] = $1.value / Double(metricCount[$1.key]!) }
        s.failuresByCategory = byCategory
        return s
    }

    /// Reads a results file written by Promptfoo itself (any of the three shapes) into the open cycle.
    public static func importResults(_ ctx: LoopContext, file: URL) throws -> (rows: Int, commit: String?) {
        guard let bytes = FileManager.default.contents(atPath: file.path) else { throw StageError(.results, "cannot read \(file.path)") }
        let text = String(decoding: bytes, as: UTF8.self)
        let parsed: EvalResultsFile
        do { parsed = try EvalResultsJSON.read(text) } catch { throw StageError(.results, "\(file.path): \(error)") }
        let summary = EvalSummary(rows: parsed.rows)
        let decision = EvalGate.decide(summary, loopThreshold: ctx.workspace.config.map { $0.gate.minPassRate * 100 })
        let run = EvalRunResult(rows: parsed.rows, summary: summary, prompts: [], providers: [], columns: [])
        let scores = figures(run, decision: decision, minPassRate: ctx.workspace.config?.gate.minPassRate)
        let (_, commit) = try ctx.history.commitToOpenCycle(
            .results, files: [Layout.CycleFile.results: bytes], body: "Imported Promptfoo results from \(file.lastPathComponent). \(decision.message)"
        ) { c in
            c.scores.takeGateFigures(scores)
        }
        return (parsed.rows.count, commit?.hex)
    }
}

/// A cycle's outputs as the gate sees them: per trace, the text graded and the spans.
struct CycleOutputs {
    var byTrace: [String: EvalOutput] = [:]
    var traceByQuestion: [String: String] = [:]

    init(_ data: CycleData) throws {
        let spans = try data.spans()
        var spansByTrace: [String: [Span]] = [:]
        for s in spans { spansByTrace[s.traceID, default: []].append(s) }
        let questions = data.questions
        for (trace, q) in questions.sorted(by: { $0.key < $1.key }) where traceByQuestion[Self.normalize(q)] == nil {
            traceByQuestion[Self.normalize(q)] = trace
        }
        for (trace, traceSpans) in spansByTrace {
            let files = data.outputs[trace] ?? [:]
            var parts: [String] = []
            // The graded text: the final answer, and the project's answer artifact when its rules name another.
            for name in [RunFiles.finalAnswer, data.rules.answerFile].uniqued() {
                if let text = files[name] { parts.append(text) }
            }
            if parts.isEmpty, let root = traceSpans.first(where: { $0.parentSpanID.isEmpty }),
               let out = root.attributes["output.value"]?.stringValue {
                parts.append(out)
            }
            let starts = traceSpans.compactMap { TraceTime.parse($0.startTime) }
            let ends = traceSpans.compactMap { TraceTime.parse($0.endTime) }
            let latency = (starts.min().flatMap { s in ends.max().map { (Double($0) - Double(s)) / 1e6 } })
            var prompt = 0, completion = 0
            for s in traceSpans {
                prompt = Int(TraceLimits.adding(Int64(prompt), s.attributes["llm.token_count.prompt"]?.intValue ?? 0))
                completion = Int(TraceLimits.adding(Int64(completion), s.attributes["llm.token_count.completion"]?.intValue ?? 0))
            }
            byTrace[trace] = EvalOutput(
                output: .string(parts.joined(separator: "\n\n")), latencyMs: latency,
                tokenUsage: EvalTokenUsage(total: Int(TraceLimits.adding(Int64(prompt), Int64(completion))), prompt: prompt, completion: completion, numRequests: 1),
                traceId: trace, traceSpans: traceSpans.map(Self.evalSpan))
            // A task whose run failed (crash, timeout, no trace) has no output to grade: its cases are errors.
            if let root = traceSpans.first(where: { $0.parentSpanID.isEmpty }),
               root.attributes[TraceIdentity.failedAttribute] == .bool(true) {
                byTrace[trace]?.error = "the task's run failed: " + (root.status.message.isEmpty ? "no output" : root.status.message)
            }
        }
    }

    func output(for key: EvalRowKey) -> EvalOutput? {
        for candidate in [key.vars["trace_id"], key.metadata["trace_id"]] {
            if let id = candidate?.stringValue, let out = byTrace[id] { return out }
        }
        if let q = key.vars["question"]?.stringValue, let trace = traceByQuestion[Self.normalize(q)] { return byTrace[trace] }
        if let trace = traceByQuestion[Self.normalize(key.renderedPrompt)] { return byTrace[trace] }
        return nil
    }

    static func normalize(_ q: String) -> String {
        q.lowercased().split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }

    static func evalSpan(_ s: Span) -> EvalTraceSpan {
        let isError = s.status.code == "STATUS_CODE_ERROR"
        return EvalTraceSpan(
            spanId: s.spanID, name: s.name, kind: s.kind, startNs: TraceTime.parse(s.startTime), endNs: TraceTime.parse(s.endTime),
            statusCode: isError ? 2 : (s.status.code == "STATUS_CODE_OK" ? 1 : 0), statusMessage: s.status.message, isError: isError,
            attributes: s.attributes.mapValues(\.keysSorted))
    }
}

