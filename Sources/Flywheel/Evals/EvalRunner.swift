import Foundation

/// How a row ended (Flywheel's four states; Promptfoo's `failureReason` maps passed/failed to 0/1 and error/skipped to 2).
public enum EvalRowStatus: String, Sendable, Codable {
    case passed, failed, error, skipped
}

/// Which row a caller is asked to supply an output for.
public struct EvalRowKey: Sendable {
    /// Index of the test in `suite.tests`.
    public var testIndex: Int
    public var test: EvalTestCase
    /// The row's vars (after defaultTest merge and expansion).
    public var vars: EvalObject
    /// The merged metadata (look here for `trace_id`, `flywheelCaseId`, …).
    public var metadata: EvalObject
    public var prompt: EvalPrompt
    /// The prompt rendered with `vars`.
    public var renderedPrompt: String
    public var provider: EvalProvider
    public var repeatIndex: Int
}

/// One graded row: Promptfoo's EvaluateResult plus Flywheel's status.
public struct EvalRow: Sendable, Equatable {
    public var id: String
    public var testIdx: Int
    public var promptIdx: Int
    public var repeatIndex: Int
    public var promptId: String
    /// The rendered prompt.
    public var promptRaw: String
    public var promptLabel: String
    public var providerId: String
    public var providerLabel: String?
    /// The test case, merged and expanded.
    public var testCase: EvalJSON
    public var vars: EvalObject
    public var description: String?
    /// The graded output (nil when the row had none).
    public var response: EvalOutput?
    public var success: Bool
    public var score: Double
    public var latencyMs: Double
    public var cost: Double?
    public var gradingResult: EvalGradingResult?
    public var namedScores: [String: Double]
    /// 0 none, 1 assertion failure, 2 error (skips included).
    public var failureReason: Int
    public var error: String?
    public var metadata: EvalObject
    public var status: EvalRowStatus
    /// The test's id (`metadata.id` or the content hash).
    public var testId: String
}

/// Totals of a run.
public struct EvalSummary: Sendable, Equatable {
    public var total: Int
    public var passed: Int
    public var failed: Int
    /// Rows that errored (skipped rows not included).
    public var errors: Int
    /// Rows that could not be fully graded (a judge, runtime or module was missing).
    public var skipped: Int
    public var tokenUsage: EvalTokenUsage
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
        passed = rows.filter { $0.status == .passed }.count
        failed = rows.filter { $0.status == .failed }.count
        errors = rows.filter { $0.status == .error }.count
        skipped = rows.filter { $0.status == .skipped }.count
        tokenUsage = rows.reduce(EvalTokenUsage()) { $0 + ($1.response?.tokenUsage ?? EvalTokenUsage()) }
        self.durationMs = durationMs
    }
}

/// The outcome of grading a suite.
public struct EvalRunResult: Sendable {
    public var rows: [EvalRow]
    public var summary: EvalSummary
    public var prompts: [EvalPrompt]
    public var providers: [EvalProvider]
    /// One entry per column (provider-major): (provider, prompt).
    public var columns: [(provider: EvalProvider, prompt: EvalPrompt)]
}

/// Grades a suite against outputs: a test's `providerOutput`, else the caller's lookup, else (for `echo`) the rendered prompt.
public struct EvalRunner: Sendable {
    public let engine: EvalAssertionEngine

    public init(engine: EvalAssertionEngine = EvalAssertionEngine()) {
        self.engine = engine
    }

    /// Grades every row of `suite`. `outputs` supplies recorded outputs (e.g. a cycle's trace outputs by `trace_id`);
    /// returning nil for a non-echo provider makes the row an ERROR (`No output recorded for …`).
    public func grade(suite: EvalSuite, outputs: (EvalRowKey) -> EvalOutput? = { _ in nil }) -> EvalRunResult {
        let start = Date()
        var columns: [(EvalProvider, EvalPrompt)] = []
        for p in suite.providers {
            for pr in suite.prompts where p.prompts == nil || p.prompts!.contains(where: { EvalGlob.matches(pr.label, $0) || pr.id == $0 }) {
                columns.append((p, pr))
            }
        }
        var tests = suite.tests.enumerated().map { ($0.offset, $0.element) }
        if tests.isEmpty, let empty = try? EvalTestCase(node: .obj([]), file: suite.file.path) { tests = [(0, empty)] }
        var rows: [EvalRow] = []
        var testIdx = 0
        for r in 0..<suite.repeatCount {
            for (ti, test) in tests {
                let m = suite.merged(test)
                let disable = m.options["disableVarExpansion"]?.isTruthy ?? false
                for combo in EvalSuite.expand(m.vars, disabled: disable) {
                    for (ci, col) in columns.enumerated() {
                        rows.append(gradeRow(suite: suite, test: test, testIndex: ti, merged: m, vars: combo, column: col, promptIdx: ci,
                                             testIdx: testIdx, repeatIndex: r, outputs: outputs))
                    }
                    testIdx += 1
                }
            }
        }
        rows.sort { ($0.testIdx, $0.promptIdx) < ($1.testIdx, $1.promptIdx) }
        let ms = Date().timeIntervalSince(start) * 1000
        return EvalRunResult(rows: rows, summary: EvalSummary(rows: rows, durationMs: ms), prompts: suite.prompts, providers: suite.providers,
                             columns: columns.map { (provider: $0.0, prompt: $0.1) })
    }

    func gradeRow(suite: EvalSuite, test: EvalTestCase, testIndex: Int, merged m: (raw: EvalJSON, vars: EvalObject, assertions: [EvalAssertion], threshold: Double?, metadata: EvalObject, options: EvalObject),
                  vars: EvalObject, column: (EvalProvider, EvalPrompt), promptIdx: Int, testIdx: Int, repeatIndex: Int,
                  outputs: (EvalRowKey) -> EvalOutput?) -> EvalRow {
        let (provider, prompt) = column
        var promptText = EvalTemplate.renderLenient(prompt.raw, vars: vars)
        if let pre = m.options["prefix"]?.stringValue { promptText = pre + promptText }
        if let suf = m.options["suffix"]?.stringValue { promptText += suf }
        var testCase = m.raw.objectValue ?? EvalObject()
        testCase["vars"] = .object(vars)
        var metadata = m.metadata
        metadata["flywheelTestId"] = .string(test.id)
        let key = EvalRowKey(testIndex: testIndex, test: test, vars: vars, metadata: metadata, prompt: prompt, renderedPrompt: promptText,
                             provider: provider, repeatIndex: repeatIndex)
        var row = EvalRow(id: Self.rowId(test.id, testIdx, promptIdx, repeatIndex), testIdx: testIdx, promptIdx: promptIdx, repeatIndex: repeatIndex,
                          promptId: prompt.promptId, promptRaw: promptText, promptLabel: prompt.label, providerId: provider.id,
                          providerLabel: provider.label, testCase: .object(testCase), vars: vars, description: test.description, response: nil,
                          success: false, score: 0, latencyMs: 0, cost: nil, gradingResult: nil, namedScores: [:], failureReason: 2,
                          error: nil, metadata: metadata, status: .error, testId: test.id)
        let output: EvalOutput
        if let po = test.providerOutput ?? suite.defaultTest?.providerOutput {
            output = EvalOutput(output: po)
        } else if let o = outputs(key) {
            output = o
        } else if provider.id == "echo" {
            output = EvalOutput(output: .string(promptText), latencyMs: 0)
        } else {
            row.error = "No output recorded for this row (provider \(provider.id) is not run by the grader)"
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
        if output.output.isNull {
            row.error = "No output"
            row.failureReason = 0
            row.status = .failed
            return row
        }
        let ctx = EvalAssertionContext(vars: vars, prompt: promptText, promptLabel: prompt.label, test: .object(testCase),
                                       providerId: provider.id, providerLabel: provider.label, providerConfig: provider.config, metadata: metadata)
        do {
            let (r, agg) = try engine.runAssertions(m.assertions, threshold: m.threshold, output: output, context: ctx)
            row.gradingResult = r
            row.score = r.score
            row.namedScores = r.namedScores
            if let skip = agg.firstSkip, !(agg.hasRealFailure && agg.threshold == nil) {
                row.success = false
                row.failureReason = 2
                row.error = skip
                row.status = .skipped
                var fw = row.metadata["flywheel"]?.objectValue ?? EvalObject()
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

    /// A deterministic UUID-shaped id for a row.
    static func rowId(_ testId: String, _ testIdx: Int, _ promptIdx: Int, _ rep: Int) -> String {
        let h = Array(EvalSHA256.hex("\(testId)|\(testIdx)|\(promptIdx)|\(rep)").prefix(32))
        var s = String(h)
        s.insert("-", at: s.index(s.startIndex, offsetBy: 20))
        s.insert("-", at: s.index(s.startIndex, offsetBy: 16))
        s.insert("-", at: s.index(s.startIndex, offsetBy: 12))
        s.insert("-", at: s.index(s.startIndex, offsetBy: 8))
        return s
    }
}
