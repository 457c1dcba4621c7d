import Foundation
import Testing
import TestSupport

/// `flywheel run --agent-format codex-json | claude-stream-json`: coding agents' event streams read from stdout as
/// they arrive; Flywheel writes the HALO trace and the answer.
@Suite("Loop: run a coding agent's event stream (--agent-format)")
struct RunAgentFormatTests {
    /// A stand-in for `codex exec --json` / `claude -p --output-format stream-json`: replays a recorded stream, a
    /// line every 50 ms, flushing each (as the CLIs do).
    static let replay = #"""
        import sys, time
        sys.stdin.read()
        for line in open(sys.argv[1]):
            sys.stdout.write(line)
            sys.stdout.flush()
            time.sleep(0.05)
        """#

    static func fixture(_ name: String) -> String {
        TestPaths.packageRoot.appendingPathComponent("Tests/FlywheelTests/Fixtures/AgentStreams/\(name)").path
    }

    @Test("codex-json: tokens, model-less turns, failed command visible in traces overview; the last message is the answer")
    func codex() throws {
        let folder = try LoopTest.example("agent-format-codex")
        try Self.replay.write(to: folder.appendingPathComponent("replay.py"), atomically: true, encoding: .utf8)
        #expect(try flywheel(["cycle", "start"], in: folder).status == 0)
        let r = try flywheel(
            ["run", "--agent-cmd", "python3 replay.py \(Self.fixture("codex_exec.jsonl"))", "--agent-format", "codex-json", "--tasks", "1", "--json"],
            in: folder)
        try #require(r.status == 0, "\(r.stderr)\n\(r.stdout)")
        let report = try LoopTest.object(r.stdout)
        let id = try #require((report["trace_ids"] as? [String])?.first)
        let traces = try #require(try LoopTest.show(folder, "refs/heads/main", "cycles/0001/traces.jsonl"))
        let spans = traces.split(separator: "\n").compactMap { try? json(String($0)) as? [String: Any] }
        #expect(spans.count == 7, "AGENT root, one turn, five tools")
        // Arrival stamps: the spans follow the stream (50 ms apart), so the turn lasts at least the 12 lines between.
        let llm = try #require(spans.first { ($0["name"] as? String)?.hasPrefix("generation.") == true })
        let start = try #require(llm["start_time"] as? String), end = try #require(llm["end_time"] as? String)
        let nanos = (parse(end) ?? 0) - (parse(start) ?? 0)
        #expect(nanos >= 500_000_000, "\(start) → \(end)")
        let answer = try #require(try LoopTest.show(folder, "refs/heads/main", "cycles/0001/outputs/\(id)/final_answer.md"))
        #expect(answer.hasPrefix("Fixed the off-by-one in parser.go"))

        let overview = try flywheel(["traces", "overview"], in: folder)
        #expect(overview.status == 0, "\(overview.stderr)")
        #expect(overview.stdout.contains("24763"), "input tokens: \(overview.stdout)")
        #expect(overview.stdout.contains("codex"))
    }

    @Test("claude-stream-json: LLM spans with Claude's model and tokens, tool errors, cost on the root")
    func claude() throws {
        let folder = try LoopTest.example("agent-format-claude")
        try Self.replay.write(to: folder.appendingPathComponent("replay.py"), atomically: true, encoding: .utf8)
        #expect(try flywheel(["cycle", "start"], in: folder).status == 0)
        let r = try flywheel(
            ["run", "--agent-cmd", "python3 replay.py \(Self.fixture("claude_stream.jsonl"))", "--agent-format", "claude-stream-json", "--tasks", "1", "--json"],
            in: folder)
        try #require(r.status == 0, "\(r.stderr)\n\(r.stdout)")
        let report = try LoopTest.object(r.stdout)
        #expect(report["tool_errors"] as? Int == 1)
        #expect(report["tokens"] as? Int == (4 + 5210 + 11980) + (6 + 310 + 17190) + (6 + 220 + 17500) + (4 + 180 + 17720) + 393)
        let traces = try #require(try LoopTest.show(folder, "refs/heads/main", "cycles/0001/traces.jsonl"))
        #expect(traces.contains("claude-sonnet-4-5-20250929"))
        #expect(traces.contains(#""agent.cost_usd":0.0612"#))
        let bad = try flywheel(["run", "--agent-cmd", "true", "--agent-format", "codex"], in: folder)
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("--agent-format must be"))
    }

    func parse(_ s: String) -> Int64? {
        var s = s
        return s.withUTF8 { b -> Int64? in
            guard b.count == 30 else { return nil }
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.timeZone = TimeZone(identifier: "UTC")
            f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
            guard let d = f.date(from: String(decoding: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(b)[0..<19]), as: UTF8.self)),
                let frac = Int64(String(decoding: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(b)[20..<29]), as: UTF8.self))
            else { return nil }
            return Int64(d.timeIntervalSince1970) * 1_000_000_000 + frac
        }
    }
}
