import Flywheel
import Foundation

// The run stage's concurrency: a sleep-bound external agent (8 tasks of ~1.5 s each) run with --concurrency 1 and
// --concurrency 4 in one process, each into a fresh cycle of one project; prints both wall times and their ratio
// (target ≥ 2.5×). Build and run in release mode: swift build -c release --product bench-run && .build/release/bench-run
// Arguments: [TASKS] [SECONDS PER TASK] (default 8 1.5).

let args = CommandLine.arguments.dropFirst()
let taskCount = Int(args.first ?? "") ?? 8
let seconds = Double(args.dropFirst().first ?? "") ?? 1.5

let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flywheel-bench-run-\(UUID().uuidString.prefix(8))")
defer { try? FileManager.default.removeItem(at: dir) }
try FileManager.default.createDirectory(at: dir.appendingPathComponent("harness"), withIntermediateDirectories: true)
try "Answer briefly.\n".write(to: dir.appendingPathComponent("harness/AGENTS.md"), atomically: true, encoding: .utf8)
try """
    project: bench-run
    repository: loop-history
    harness: [harness]
    tasks: tasks.yaml
    agent_cmd: sh agent.sh

    """.write(to: dir.appendingPathComponent("loop.yaml"), atomically: true, encoding: .utf8)
try ("questions:\n" + (1...taskCount).map { "  - id: t\($0)\n    question: \"Task \($0)\"\n" }.joined())
    .write(to: dir.appendingPathComponent("tasks.yaml"), atomically: true, encoding: .utf8)
// One AGENT span per task after a sleep: the agent's time is all waiting (a model call, a tool), none of it CPU.
try """
    sleep \(seconds)
    printf '{"trace_id":"%s","span_id":"00000000000000a1","parent_span_id":"","trace_state":"","name":"agent.Bench","kind":"SPAN_KIND_INTERNAL","start_time":"2026-01-01T00:00:00.000000000Z","end_time":"2026-01-01T00:00:01.000000000Z","status":{"code":"STATUS_CODE_OK","message":""},"resource":{"attributes":{"service.name":"bench"}},"scope":{"name":"bench","version":"1"},"attributes":{"inference.project_id":"bench","inference.observation_kind":"AGENT","inference.agent_name":"Bench"}}\\n' "$FLYWHEEL_TRACE_ID" > "$FLYWHEEL_TRACE_FILE"
    echo done

    """.write(to: dir.appendingPathComponent("agent.sh"), atomically: true, encoding: .utf8)

let ctx = LoopContext(workspace: try Workspace.resolve(repo: nil, ref: nil, cwd: dir))
func timedRun(concurrency: Int) throws -> Double {
    if let open = try? ctx.history.openCycle(), open.status == .open { _ = try ctx.history.closeCycle() }
    _ = try CycleStart.start(ctx)
    let start = Date()
    let report = try RunStage.run(ctx, options: RunOptions(concurrency: concurrency))
    let elapsed = Date().timeIntervalSince(start)
    guard report.ran == taskCount, report.failed.isEmpty else {
        fatalError("bench-run: expected \(taskCount) good runs, got \(report.ran) with \(report.failed.count) failed: \(report.failed)")
    }
    return elapsed
}

let serial = try timedRun(concurrency: 1)
let parallel = try timedRun(concurrency: 4)
let ratio = serial / parallel
print(String(format: "bench-run: %d tasks of %.1f s — --concurrency 1: %.2f s, --concurrency 4: %.2f s, ratio %.2f× (target ≥ 2.5×)%@",
             taskCount, seconds, serial, parallel, ratio, ratio >= 2.5 ? "" : " BELOW TARGET"))
