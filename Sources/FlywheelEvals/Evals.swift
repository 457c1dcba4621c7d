import Foundation

/// Everything `flywheel evals run` produces for one suite: rows, files and the gate decision.
public struct EvalReport: Sendable {
    /// The graded rows and summary.
    public var run: EvalRunResult
    /// Promptfoo results JSON (v3) text.
    public var resultsJSON: String
    /// JUnit XML text.
    public var junitXML: String
    /// The plain-text summary table.
    public var table: String
    /// The gate decision (exit code 0, or the failed-test code, default 100).
    public var gate: EvalGateDecision
}

/// The Evals stage in one call (the CLI and the loop use this; each part is also usable alone).
public enum Evals {
    /// Loads nothing and writes nothing: grades `suite` with `engine`, using `outputs` for rows without
    /// `providerOutput`, and renders the results JSON, JUnit XML, table and gate decision.
    ///
    /// - Parameters:
    ///   - environment: the process environment (`PROMPTFOO_PASS_RATE_THRESHOLD`, `PROMPTFOO_FAILED_TEST_EXIT_CODE`);
    ///     the suite's `env:` overrides it and `loopThreshold` (percent, from `loop.yaml`) overrides both.
    public static func run(suite: EvalSuite, engine: EvalAssertionEngine, options: EvalResultsJSON.Options,
                           environment: [String: String] = [:], loopThreshold: Double? = nil,
                           outputs: (EvalRowKey) -> EvalOutput? = { _ in nil }) -> EvalReport {
        let run = EvalRunner(engine: engine).grade(suite: suite, outputs: outputs)
        return EvalReport(run: run, resultsJSON: EvalResultsJSON.write(run, suite: suite, options: options),
                          junitXML: EvalJUnit.write(run, name: suite.description ?? suite.file.lastPathComponent),
                          table: EvalSummaryTable.render(run),
                          gate: EvalGate.decide(run.summary, suiteEnv: suite.env, environment: environment, loopThreshold: loopThreshold))
    }
}
