import FlywheelSupport
import Foundation

/// How a row ended (Flywheel's four states; Promptfoo's `failureReason` maps passed/failed to 0/1 and error/skipped to 2).
public enum EvalRowStatus: String, Sendable, Codable {
    case passed, failed, error, skipped
}

/// Which row a caller is asked to supply an output for.
public struct EvalRowKey: Sendable {
    /// Index of the test in `suite.tests`.
    var testIndex: Int
    /// The test as written (before the defaultTest merge).
    public var test: EvalTestCase
    /// The row's vars (after defaultTest merge and expansion).
    public var vars: JSONObject
    /// The merged metadata (look here for `trace_id`, `flywheelCaseId`, …).
    public var metadata: JSONObject
    /// The prompt (column).
    public var prompt: EvalPrompt
    /// The prompt rendered with `vars`.
    public var renderedPrompt: String
    /// The provider (column).
    public var provider: EvalProvider
    /// Which repetition (0-based, `evaluateOptions.repeat`).
    var repeatIndex: Int
}

/// One graded row: Promptfoo's EvaluateResult plus Flywheel's status.
public struct EvalRow: Sendable, Equatable {
    /// Row id: a deterministic UUID-shaped string.
    public var id: String
    /// Promptfoo's testIdx: counts (test, var combination, repeat).
    public var testIdx: Int
    /// The column index (provider-major).
    public var promptIdx: Int
    /// Which repetition (0-based, `evaluateOptions.repeat`).
    var repeatIndex: Int
    /// SHA-256 of the prompt label (Promptfoo's promptId).
    public var promptId: String
    /// The rendered prompt.
    public var promptRaw: String
    /// The prompt's label.
    public var promptLabel: String
    /// The provider id.
    public var providerId: String
    /// The provider label, when set.
    var providerLabel: String?
    /// The test case, merged and expanded.
    public var testCase: JSONValue
    /// The row's vars.
    public var vars: JSONObject
    /// The test description.
    public var description: String?
    /// The graded output (nil when the row had none).
    public var response: EvalOutput?
    /// Promptfoo's `success` (true only for passed rows).
    public var success: Bool
    /// The weighted test score (0 for errors).
    public var score: Double
    /// The output's latency (0 when unknown).
    public var latencyMs: Double
    /// The output's cost, when known.
    public var cost: Double?
    /// The aggregate grading (nil when a handler threw).
    public var gradingResult: EvalGradingResult?
    /// Named metric scores of the row.
    public var namedScores: [String: Double]
    /// 0 none, 1 assertion failure, 2 error (skips included).
    public var failureReason: Int
    /// Why the row did not pass (failure reason, error or skip reason).
    public var error: String?
    /// Test metadata merged with response metadata, plus `flywheelTestId`.
    public var metadata: JSONObject
    /// Flywheel's status (passed / failed / error / skipped).
    public var status: EvalRowStatus
    /// The test's id (`metadata.id` or the content hash).
    public var testId: String
}

/// Totals of a run.
public struct EvalSummary: Sendable, Equatable {
    /// All rows.
    public var total: Int
    /// Rows that passed.
    public var passed: Int
    /// Rows whose assertions failed (including `No output`).
    public var failed: Int
    /// Rows that errored (skipped rows not included).
    public var errors: Int
    /// Rows that could not be fully graded (a judge, runtime or module was missing).
    public var skipped: Int
    /// Summed response token usage.
    public var tokenUsage: EvalTokenUsage
    /// Wall time of the grading.
    public var durationMs: Double?

    /// Promptfoo's CLI pass rate, in percent: `passed / (passed + failed + errors)`, where errors include skipped rows
    /// (they are ERROR rows, §3.1/§6). 100 when there are no rows.
    public var passRate: Double {
        let d = passed + failed + errors + skipped
        return d == 0 ? 100 : Double(passed) / Double(d) * 100
    }

    /// The viewer's rate: `passed / (passed + failed)` (errors and skips left out), in percent.
    public var viewerPassRate: Double {
        let d = passed + failed
        return d == 0 ? 100 : Double(passed) / Double(d) * 100
    }

    public init(rows: [EvalRow], durationMs: Double? = nil) {
        total = rows.count
        var p = 0, f = 0, e = 0, s = 0
        var tokens = EvalTokenUsage()
        for r in rows {
            switch r.status {
            case .passed: p += 1
            case .failed: f += 1
            case .error: e += 1
            case .skipped: s += 1
            }
            if let t = r.response?.tokenUsage { tokens = tokens + t }
        }
        (passed, failed, errors, skipped) = (p, f, e, s)
        tokenUsage = tokens
        self.durationMs = durationMs
    }
}

/// The outcome of grading a suite.
public struct EvalRunResult: Sendable {
    /// Rows sorted by (testIdx, promptIdx).
    public var rows: [EvalRow]
    /// Totals and pass rates.
    public var summary: EvalSummary
    /// The suite's prompts.
    public var prompts: [EvalPrompt]
    /// The suite's providers.
    public var providers: [EvalProvider]
    /// One entry per column (provider-major): (provider, prompt).
    public var columns: [(provider: EvalProvider, prompt: EvalPrompt)]
    /// The suite's `derivedMetrics`, computed per column in the results JSON.
    public var derivedMetrics: [EvalDerivedMetric] = []
    /// Extension hooks that failed or could not run (`hook file:function: why`).
    public var hookProblems: [String] = []

    package init(
        rows: [EvalRow], summary: EvalSummary, prompts: [EvalPrompt], providers: [EvalProvider],
        columns: [(provider: EvalProvider, prompt: EvalPrompt)], derivedMetrics: [EvalDerivedMetric] = [],
        hookProblems: [String] = []
    ) {
        self.rows = rows
        self.summary = summary
        self.prompts = prompts
        self.providers = providers
        self.columns = columns
        self.derivedMetrics = derivedMetrics
        self.hookProblems = hookProblems
    }
}

/// Grades a suite against outputs: a test's `providerOutput`, else the caller's lookup, else (for `echo`) the rendered prompt.
public struct EvalRunner: Sendable {
    /// How the error of a row without any output begins.
    public static let noOutputPrefix = "No output recorded for this row"
    /// The assertion engine (judge, script runner).
    public let engine: EvalAssertionEngine
    /// Calls providers for rows without a recorded output (nil: such rows are ERRORs, `No output recorded …`).
    public let providers: EvalProviderCaller?

    public init(engine: EvalAssertionEngine = EvalAssertionEngine(), providers: EvalProviderCaller? = nil) {
        self.engine = engine
        self.providers = providers
    }

    /// Grades every row of `suite`. `outputs` supplies recorded outputs (e.g. a cycle's trace outputs by `trace_id`);
    /// returning nil for a non-echo provider makes the row an ERROR (`No output recorded for …`).
    public func grade(suite: EvalSuite, outputs: (EvalRowKey) -> EvalOutput? = { _ in nil }) -> EvalRunResult {
        let start = Date()
        let customFilters = Self.makeCustomFilters(suite.nunjucksFilters, scripts: engine.scripts)
        var columns: [(EvalProvider, EvalPrompt)] = []
        for p in suite.providers {
            for pr in suite.prompts where p.prompts == nil || p.prompts!.contains(where: { EvalGlob.matches(pr.label, $0) || pr.id == $0 }) {
                columns.append((p, pr))
            }
        }
        var tests = suite.tests.enumerated().map { ($0.offset, $0.element) }
        if tests.isEmpty, let empty = try? EvalTestCase(node: .obj([]), file: suite.file.path) { tests = [(0, empty)] }
        let promptIds = columns.map { $0.1.promptId }
        typealias Merged = (raw: JSONValue, vars: JSONObject, assertions: [EvalAssertion], threshold: Double?, metadata: JSONObject, options: JSONObject)
        struct Job: Sendable {
            var test: EvalTestCase, testIndex: Int, merged: Merged, vars: JSONObject, column: (EvalProvider, EvalPrompt)
            var promptIdx: Int, testIdx: Int, repeatIndex: Int, promptId: String, output: EvalOutput?
            var preError: String? = nil
            var scoringFunction: String? = nil
            var skipReason: String? = nil
            var needsCall = false
            var renderedPrompt = ""
        }
        let suiteEnv = suite.env
        let caller = providers
        // `options.storeOutputAs`: a test's output becomes a var of the tests after it (in order).
        var registers = JSONObject()
        var hookProblems: [String] = []
        runHooks("beforeAll", suite: suite, context: .obj([("suite", .object(suite.document))]), problems: &hookProblems)
        // 1. Rows and their outputs, in order (the caller's lookup runs on this thread).
        var jobs: [Job] = []
        var testIdx = 0
        for r in 0..<suite.repeatCount {
            for (ti, test) in tests {
                let m = suite.merged(test)
                let disable = m.options["disableVarExpansion"]?.isTruthy ?? false
                let providerFilter = Self.labels(m.raw["providers"])
                let promptFilter = Self.labels(m.raw["prompts"])
                let scoring = test.raw["assertScoringFunction"] != nil ? test.resolvedFiles["assertScoringFunction"]
                    : suite.defaultTest?.resolvedFiles["assertScoringFunction"]
                for expanded in EvalSuite.expand(m.vars, disabled: disable) {
                    var combo = expanded
                    for (k, v) in registers.pairs { combo[k] = v }
                    var preError: String? = nil
                    if let tv = m.options["transformVars"]?.stringValue {
                        let file = test.raw["options"]?["transformVars"] != nil ? test.resolvedFiles["transformVars"]
                            : suite.defaultTest?.resolvedFiles["transformVars"]
                        switch transformVars(tv, file: file, vars: combo, promptLabel: columns.first?.1.label ?? "") {
                        case .success(let v): combo = v
                        case .failure(let e): preError = e.message
                        }
                    }
                    if !suite.extensions.isEmpty {
                        var t = m.raw.objectValue ?? JSONObject()
                        t["vars"] = .object(combo)
                        runHooks("beforeEach", suite: suite, context: .obj([("test", .object(t))]), problems: &hookProblems)
                    }
                    let comboError = preError
                    for (ci, col) in columns.enumerated() {
                        var preError = comboError
                        if let f = providerFilter, !f.contains(where: { EvalGlob.matches(col.0.key, $0) || EvalGlob.matches(col.0.id, $0) }) { continue }
                        if let f = promptFilter, !f.contains(where: { p in EvalGlob.matches(col.1.label, p) || (col.1.id.map { EvalGlob.matches($0, p) } ?? false) }) { continue }
                        var output: EvalOutput? = nil
                        var rendered = ""
                        if let po = test.providerOutput ?? suite.defaultTest?.providerOutput {
                            output = EvalOutput(output: po)
                        } else {
                            let (text, renderError) = Self.renderPrompt(col.1, combo, m.options, custom: customFilters)
                            if let renderError, preError == nil { preError = "The prompt could not be rendered: \(renderError)" }
                            let key = EvalRowKey(testIndex: ti, test: test, vars: combo, metadata: m.metadata, prompt: col.1,
                                                 renderedPrompt: text, provider: col.0, repeatIndex: r)
                            output = outputs(key)
                            if output == nil, col.0.id == "echo", preError == nil {
                                output = EvalOutput(output: .string(key.renderedPrompt), latencyMs: 0)
                            }
                            rendered = key.renderedPrompt
                        }
                        var skipReason: String? = nil
                        var needsCall = false
                        if output == nil, preError == nil, let caller, EvalProviderCaller.isCallable(col.0.id) {
                            if m.options["storeOutputAs"] != nil || !registers.isEmpty {
                                // Later tests read this output: call now, in order.
                                switch caller.call(col.0, prompt: rendered, promptLabel: col.1.label, vars: combo, suiteEnv: suiteEnv,
                                                  promptConfig: col.1.config, useCache: r == 0) {
                                case .success(let o): output = o
                                case .failure(let s): skipReason = s.reason
                                }
                            } else {
                                needsCall = true
                            }
                        }
                        if let name = m.options["storeOutputAs"]?.stringValue, let o = output, o.error == nil, preError == nil {
                            registers[name] = o.output
                        }
                        jobs.append(Job(test: test, testIndex: ti, merged: m, vars: combo, column: col, promptIdx: ci, testIdx: testIdx,
                                        repeatIndex: r, promptId: promptIds[ci], output: output, preError: preError, scoringFunction: scoring,
                                        skipReason: skipReason, needsCall: needsCall, renderedPrompt: rendered))
                    }
                    testIdx += 1
                }
            }
        }
        // 1b. Provider calls, `evaluateOptions.maxConcurrency` at a time (default 4).
        let pending = jobs.indices.filter { jobs[$0].needsCall }
        if let caller, !pending.isEmpty {
            let limit = max(1, min(pending.count, Int(suite.document["evaluateOptions"]?["maxConcurrency"]?.doubleValue ?? 4)))
            let results = CallResults(count: jobs.count)
            let next = CallResults.Counter()
            let snapshot = jobs
            let group = DispatchGroup()
            for _ in 0..<limit {
                group.enter()
                DispatchQueue.global().async {
                    while let k = next.take(below: pending.count) {
                        let j = snapshot[pending[k]]
                        results.set(pending[k], caller.call(j.column.0, prompt: j.renderedPrompt, promptLabel: j.column.1.label, vars: j.vars,
                                                            suiteEnv: suiteEnv, promptConfig: j.column.1.config, useCache: j.repeatIndex == 0))
                    }
                    group.leave()
                }
            }
            group.wait()
            for i in pending {
                switch results.get(i) {
                case .success(let o)?: jobs[i].output = o
                case .failure(let s)?: jobs[i].skipReason = s.reason
                case nil: break
                }
            }
        }
        // 2. Grading, in parallel over chunks of rows (the engine is thread-safe). A judge model is confined to one
        //    thread (ChatModel's contract), so with a judge the rows are graded in order on this thread.
        let allJobs = jobs
        var rows = [EvalRow?](repeating: nil, count: allJobs.count)
        let chunk = 256
        let chunks = (allJobs.count + chunk - 1) / chunk
        if chunks > 0 { rows.withUnsafeMutableBufferPointer { out in
            nonisolated(unsafe) let dest = out.baseAddress!
            let work: @Sendable (Int) -> Void = { c in
                for i in (c * chunk)..<min(allJobs.count, (c + 1) * chunk) {
                    let j = allJobs[i]
                    dest[i] = gradeRow(suite: suite, test: j.test, testIndex: j.testIndex, merged: j.merged, vars: j.vars, column: j.column,
                                       promptIdx: j.promptIdx, testIdx: j.testIdx, repeatIndex: j.repeatIndex, promptId: j.promptId, resolved: j.output,
                                       preError: j.preError, scoringFunction: j.scoringFunction, skipReason: j.skipReason,
                                       customFilters: customFilters)
                }
            }
            if engine.judge == nil {
                DispatchQueue.concurrentPerform(iterations: chunks, execute: work)
            } else {
                for c in 0..<chunks { work(c) }
            }
        } }
        // Jobs were built in (testIdx, promptIdx) order, which is the order Promptfoo sorts rows into.
        var rows2 = rows.map { $0! }
        // 3. select-best / max-score compare the outputs of each row group.
        if allJobs.contains(where: { $0.merged.assertions.contains { Self.compareTypes.contains($0.baseType) } }) {
            let byRow = Dictionary(uniqueKeysWithValues: allJobs.enumerated().map { ($0.offset, $0.element.merged.assertions) })
            var index: [String: Int] = [:]
            for (i, r) in rows2.enumerated() { index[r.id] = i }
            applyCompareAssertions(&rows2) { row in byRow[index[row.id] ?? 0] ?? [] }
        }
        if !suite.extensions.isEmpty {
            for r in rows2 {
                runHooks("afterEach", suite: suite, context: .obj([("test", r.testCase), ("result", Self.hookResult(r))]), problems: &hookProblems)
            }
            runHooks("afterAll", suite: suite, context: .obj([("suite", .object(suite.document)), ("results", .array(rows2.map(Self.hookResult)))]),
                     problems: &hookProblems)
        }
        let ms = Date().timeIntervalSince(start) * 1000
        return EvalRunResult(rows: rows2, summary: EvalSummary(rows: rows2, durationMs: ms), prompts: suite.prompts, providers: suite.providers,
                             columns: columns.map { (provider: $0.0, prompt: $0.1) }, derivedMetrics: suite.derivedMetrics, hookProblems: hookProblems)
    }

    func gradeRow(suite: EvalSuite, test: EvalTestCase, testIndex: Int, merged m: (raw: JSONValue, vars: JSONObject, assertions: [EvalAssertion], threshold: Double?, metadata: JSONObject, options: JSONObject),
                  vars: JSONObject, column: (EvalProvider, EvalPrompt), promptIdx: Int, testIdx: Int, repeatIndex: Int, promptId: String,
                  resolved: EvalOutput?, preError: String? = nil, scoringFunction: String? = nil, skipReason: String? = nil,
                  customFilters: [String: EvalTemplate.CustomFilter] = [:]) -> EvalRow {
        let (provider, prompt) = column
        let promptText = Self.renderPrompt(prompt, vars, m.options, custom: customFilters).text
        var testCase = m.raw.objectValue ?? JSONObject()
        testCase["vars"] = .object(vars)
        var metadata = m.metadata
        metadata["flywheelTestId"] = .string(test.id)
        var row = EvalRow(id: Self.rowId(test.id, testIdx, promptIdx, repeatIndex), testIdx: testIdx, promptIdx: promptIdx, repeatIndex: repeatIndex,
                          promptId: promptId, promptRaw: promptText, promptLabel: prompt.label, providerId: provider.id,
                          providerLabel: provider.label, testCase: .object(testCase), vars: vars, description: test.description, response: nil,
                          success: false, score: 0, latencyMs: 0, cost: nil, gradingResult: nil, namedScores: [:], failureReason: 2,
                          error: nil, metadata: metadata, status: .error, testId: test.id)
        if let preError {
            row.error = preError
            return row
        }
        if let skipReason {
            row.error = skipReason
            row.status = .skipped
            var fw = row.metadata["flywheel"]?.objectValue ?? JSONObject()
            fw["status"] = .string("skipped")
            row.metadata["flywheel"] = .object(fw)
            return row
        }
        var output: EvalOutput
        if let o = resolved {
            output = o
        } else if provider.id == "echo" {
            output = EvalOutput(output: .string(promptText), latencyMs: 0)
        } else {
            row.error = Self.noOutputPrefix + " (provider \(provider.id) is not run by the grader)"
            return row
        }
        row.response = output
        row.latencyMs = output.latencyMs ?? 0
        row.cost = output.cost
        if let md = output.metadata { for (k, v) in md.pairs { metadata[k] = v } }
        row.metadata = metadata
        if let e = output.error {
            row.error = e
            return row
        }
        if let t = (m.options["transform"] ?? m.options["postprocess"])?.stringValue {
            guard let scripts = engine.scripts else {
                row.error = "The test's output transform needs node, and scripts are disabled"
                return row
            }
            let ctx = JSONValue.obj([("vars", .object(vars)), ("prompt", .obj([("label", .string(prompt.label))])), ("metadata", .object(metadata))])
            switch scripts.run(EvalScriptRequest(language: .javascript, body: EvalScriptBody.javascript(t), output: output.output, context: ctx)) {
            case .value(let v): output.output = v
            case .failure(let msg, _): row.error = "Error in the test's output transform: \(msg)"; return row
            case .unavailable(let why): row.error = "The test's output transform cannot run: \(why)"; return row
            case .timedOut: row.error = "The test's output transform timed out"; return row
            }
            row.response = output
        }
        if output.output.isNull {
            row.error = "No output"
            row.failureReason = 0
            row.status = .failed
            return row
        }
        let ctx = EvalAssertionContext(vars: vars, prompt: promptText, promptLabel: prompt.label, test: .object(testCase),
                                       providerId: provider.id, providerLabel: provider.label, providerConfig: provider.config, metadata: metadata)
        do {
            let (r, agg) = try engine.runAssertions(m.assertions.filter { !Self.compareTypes.contains($0.baseType) }, threshold: m.threshold, output: output, context: ctx, scoringFunction: scoringFunction)
            row.gradingResult = r
            row.score = r.score
            row.namedScores = r.namedScores
            if let skip = agg.firstSkip, agg.verdictSkipped || !(agg.hasRealFailure && agg.threshold == nil) {
                row.success = false
                row.failureReason = 2
                row.error = skip
                row.status = .skipped
                var fw = row.metadata["flywheel"]?.objectValue ?? JSONObject()
                fw["status"] = .string("skipped")
                row.metadata["flywheel"] = .object(fw)
            } else if r.pass {
                row.success = true
                row.failureReason = 0
                row.status = .passed
            } else {
                row.success = false
                row.failureReason = 1
                row.error = r.reason
                row.status = .failed
            }
        } catch {
            row.error = "\(error)"
            row.response = nil
            row.gradingResult = nil
            row.score = 0
        }
        return row
    }

    struct TransformError: Error { let message: String }

    /// Calls every extension as `fn(hookName, context)` (Promptfoo's contract) for its side effects; problems are
    /// collected, not fatal (one bad hook never sinks the run). Without scripts nothing is called.
    func runHooks(_ hook: String, suite: EvalSuite, context: JSONValue, problems: inout [String]) {
        guard !suite.extensions.isEmpty else { return }
        for ext in suite.extensions {
            let (path, fn) = EvalScriptRequest.fileReference(ext)
            let name = "\(URL(fileURLWithPath: path).lastPathComponent):\(fn ?? "")"
            guard let scripts = engine.scripts else {
                if hook == "beforeAll" { problems.append("extension \(name) was not run: scripts are disabled") }
                continue
            }
            let lang: EvalScriptRequest.Language = path.hasSuffix(".py") ? .python : .javascript
            switch scripts.run(EvalScriptRequest(language: lang, body: "", output: .string(hook), context: context, file: path, function: fn)) {
            case .value: break
            case .failure(let m, _): problems.append("extension \(name) failed in \(hook): \(m)")
            case .unavailable(let why): if hook == "beforeAll" { problems.append("extension \(name) was not run: \(why)") }
            case .timedOut: problems.append("extension \(name) timed out in \(hook)")
            }
        }
    }

    /// What a hook sees of a row.
    static func hookResult(_ r: EvalRow) -> JSONValue {
        .obj([("success", .bool(r.success)), ("score", .number(r.score)), ("error", r.error.map(JSONValue.string) ?? .null),
              ("response", .obj([("output", r.response?.output ?? .null)])), ("vars", .object(r.vars)),
              ("promptIdx", .int(Int64(r.promptIdx))), ("testIdx", .int(Int64(r.testIdx)))])
    }

    /// Provider results gathered from worker threads.
    final class CallResults: @unchecked Sendable {
        private let lock = NSLock()
        private var items: [Result<EvalOutput, EvalProviderCaller.Skip>?]
        init(count: Int) { items = Array(repeating: nil, count: count) }
        func set(_ i: Int, _ r: Result<EvalOutput, EvalProviderCaller.Skip>) { lock.lock(); items[i] = r; lock.unlock() }
        func get(_ i: Int) -> Result<EvalOutput, EvalProviderCaller.Skip>? { lock.lock(); defer { lock.unlock() }; return items[i] }
        final class Counter: @unchecked Sendable {
            private let lock = NSLock()
            private var n = 0
            func take(below limit: Int) -> Int? { lock.lock(); defer { lock.unlock() }; guard n < limit else { return nil }; n += 1; return n - 1 }
        }
    }

    /// Promptfoo's `options.transformVars`: code (or a file's function) given `(vars, context)` returning vars to merge.
    func transformVars(_ code: String, file: String?, vars: JSONObject, promptLabel: String) -> Result<JSONObject, TransformError> {
        guard let scripts = engine.scripts else { return .failure(TransformError(message: "options.transformVars needs a script runtime")) }
        let ctx = JSONValue.obj([("prompt", .obj([("label", .string(promptLabel))]))])
        var req = EvalScriptRequest(language: .javascript, body: "const vars = output;\n" + EvalScriptBody.javascript(code), output: .object(vars), context: ctx)
        if let file {
            let (path, fn) = EvalScriptRequest.fileReference(file)
            req.file = path
            req.body = ""
            if path.hasSuffix(".py") { req.language = .python; req.function = fn ?? "get_transform" } else { req.function = fn }
        }
        switch scripts.run(req) {
        case .value(let v):
            guard let o = v.objectValue else { return .failure(TransformError(message: "options.transformVars did not return an object (got \(v.jsonString))")) }
            var out = vars
            for (k, x) in o.pairs { out[k] = x }
            return .success(out)
        case .failure(let m, _): return .failure(TransformError(message: "Error in options.transformVars: \(m)"))
        case .unavailable(let why): return .failure(TransformError(message: "options.transformVars cannot run: \(why)"))
        case .timedOut: return .failure(TransformError(message: "options.transformVars timed out"))
        }
    }

    static func labels(_ v: JSONValue?) -> [String]? {
        guard let v else { return nil }
        if let s = v.stringValue { return [s] }
        return v.arrayValue?.compactMap(\.stringValue)
    }

    /// The prompt as sent: rendered with the row's vars (the raw text and the reason when it cannot be rendered).
    static func renderPrompt(_ prompt: EvalPrompt, _ vars: JSONObject, _ options: JSONObject,
                             custom: [String: EvalTemplate.CustomFilter] = [:]) -> (text: String, error: String?) {
        var text: String
        var problem: String? = nil
        do { text = try EvalTemplate.render(prompt.raw, vars: vars, custom: custom) } catch {
            text = prompt.raw
            problem = (error as? EvalTemplate.TemplateError)?.message ?? "\(error)"
        }
        if let pre = options["prefix"]?.stringValue { text = pre + text }
        if let suf = options["suffix"]?.stringValue { text += suf }
        return (text, problem)
    }

    /// The suite's own Nunjucks filters as functions: each runs its .js file's export in node (through the engine's
    /// script runner, so the script policy applies) with the value and the filter's arguments; results are cached.
    final class FilterCache: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [String: Result<JSONValue, EvalTemplate.TemplateError>] = [:]
        func get(_ k: String) -> Result<JSONValue, EvalTemplate.TemplateError>? { lock.lock(); defer { lock.unlock() }; return values[k] }
        func set(_ k: String, _ v: Result<JSONValue, EvalTemplate.TemplateError>) { lock.lock(); values[k] = v; lock.unlock() }
    }

    static func makeCustomFilters(_ files: [String: String], scripts: (any EvalScriptRunner)?) -> [String: EvalTemplate.CustomFilter] {
        let cache = FilterCache()
        var out: [String: EvalTemplate.CustomFilter] = [:]
        for (name, ref) in files {
            let path = EvalScriptRequest.fileReference(ref).path
            out[name] = { value, args in
                let key = [name, (value ?? .null).jsonString, JSONValue.array(args.map { $0 ?? .null }).jsonString].joined(separator: "\u{0}")
                if let hit = cache.get(key) { return try hit.get() }
                guard let scripts else {
                    throw EvalTemplate.TemplateError(message: "filter \"\(name)\" (\(path)) needs node, and scripts are disabled")
                }
                var pathLiteral = ""
                JSNumber.writeJSONString(path, to: &pathLiteral)
                let body = "const m = require(\(pathLiteral)); const f = typeof m === 'function' ? m : m.default;\n"
                    + "if (typeof f !== 'function') throw new Error('the file does not export a function');\nreturn f(output, ...context.args);"
                let result: Result<JSONValue, EvalTemplate.TemplateError>
                switch scripts.run(EvalScriptRequest(language: .javascript, body: body, output: value ?? .null,
                                                     context: .obj([("args", .array(args.map { $0 ?? .null }))]))) {
                case .value(let v): result = .success(v)
                case .failure(let m, _): result = .failure(.init(message: "filter \"\(name)\" (\(path)) failed: \(m)"))
                case .unavailable(let why): result = .failure(.init(message: "filter \"\(name)\" (\(path)) was not run: \(why)"))
                case .timedOut: result = .failure(.init(message: "filter \"\(name)\" (\(path)) timed out"))
                }
                cache.set(key, result)
                return try result.get()
            }
        }
        return out
    }

    /// A deterministic UUID-shaped id for a row.
    static func rowId(_ testId: String, _ testIdx: Int, _ promptIdx: Int, _ rep: Int) -> String {
        // Two FNV-1a 64-bit hashes with different offsets: 128 deterministic bits, cheap per row.
        func fnv(_ seed: UInt64) -> UInt64 {
            var h = seed
            for b in testId.utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 }
            for v in [testIdx, promptIdx, rep] {
                var x = UInt64(truncatingIfNeeded: v)
                for _ in 0..<8 { h = (h ^ (x & 0xff)) &* 0x100000001b3; x >>= 8 }
            }
            return h
        }
        func hex(_ v: UInt64) -> String {
            let s = String(v, radix: 16)
            return String(repeating: "0", count: 16 - s.count) + s
        }
        var s = hex(fnv(0xcbf29ce484222325)) + hex(fnv(0x84222325cbf29ce4))
        s.insert("-", at: s.index(s.startIndex, offsetBy: 20))
        s.insert("-", at: s.index(s.startIndex, offsetBy: 16))
        s.insert("-", at: s.index(s.startIndex, offsetBy: 12))
        s.insert("-", at: s.index(s.startIndex, offsetBy: 8))
        return s
    }
}
