import Foundation
import Flywheel
import FlywheelEvals

// Grades 10,000 rows × 10 deterministic assertions and prints the elapsed time and rows per second.
// Build and run in release mode: swift build -c release --product bench-evals && .build/release/bench-evals

let rowCount = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 10_000

func suiteText(rows: Int) -> String {
    var s = "description: bench\nprompts: ['Q: {{question}}']\nproviders: [echo]\ntests:\n"
    for i in 0..<rows {
        let answer = i % 7 == 0 ? "I cannot help with order \(i)." : "Your order \(i) ships on Monday. Tracking: TRK-\(100000 + i)."
        s += """
          - description: case \(i)
            vars: {question: 'Where is order \(i)?'}
            providerOutput: "\(answer)"
            assert:
              - {type: contains, value: 'order \(i)'}
              - {type: icontains, value: 'SHIPS'}
              - {type: regex, value: 'TRK-\\d{6}'}
              - {type: starts-with, value: 'Your'}
              - {type: word-count, value: {min: 3, max: 40}}
              - {type: not-contains, value: 'refund'}
              - {type: contains-any, value: ['Monday', 'Tuesday']}
              - {type: levenshtein, value: 'Your order \(i) ships on Monday.', threshold: 30}
              - {type: not-is-refusal}
              - {type: equals, value: 'nope', weight: 0}

        """
    }
    return s
}

let text = suiteText(rows: rowCount)
let t0 = Date()
let suite: EvalSuite
do {
    suite = try EvalSuite.parse(yaml: text, file: URL(fileURLWithPath: "/tmp/bench-evals/promptfooconfig.yaml"))
} catch {
    print("bench-evals: cannot load the suite: \(error)")
    exit(1)
}
let loadSeconds = Date().timeIntervalSince(t0)

let runner = EvalRunner(engine: EvalAssertionEngine(judge: nil, scripts: nil))
_ = runner.grade(suite: try! EvalSuite.parse(yaml: suiteText(rows: 50), file: URL(fileURLWithPath: "/tmp/w.yaml")))  // warm-up
func cpuSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
let t1 = Date()
let c1 = cpuSeconds()
let run = runner.grade(suite: suite)
let gradeSeconds = Date().timeIntervalSince(t1)
let gradeCPU = cpuSeconds() - c1

let t2 = Date()
let json = EvalResultsJSON.write(run, suite: suite, options: .init(createdAt: Date(timeIntervalSince1970: 0)))
let junit = EvalJUnit.write(run, name: "bench")
let writeSeconds = Date().timeIntervalSince(t2)

let assertions = run.rows.reduce(0) { $0 + ($1.gradingResult?.componentResults.count ?? 0) }
print("bench-evals: \(run.rows.count) rows × 10 assertions (\(assertions) graded)")
print(String(format: "  grade:  %.3f s  (%.0f rows/s, %.0f assertions/s)", gradeSeconds, Double(run.rows.count) / gradeSeconds, Double(assertions) / gradeSeconds))
print(String(format: "          %.3f s of CPU over all threads (%d cores)", gradeCPU, ProcessInfo.processInfo.activeProcessorCount))
print(String(format: "  load:   %.3f s  (YAML parse + checks of the %d-test suite)", loadSeconds, suite.tests.count))
print(String(format: "  write:  %.3f s  (results JSON %d KB, JUnit %d KB)", writeSeconds, json.utf8.count / 1024, junit.utf8.count / 1024))
print("  summary: \(run.summary.passed) passed, \(run.summary.failed) failed, \(run.summary.errors) errors, \(run.summary.skipped) skipped")
print(gradeSeconds < 1 ? "  target < 1 s: met" : "  target < 1 s: NOT met")
