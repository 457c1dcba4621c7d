import Foundation
import Testing
import TestSupport

/// `flywheel mcp` with the official MCP Python client (PyPI `mcp` in a venv made by Tests/scripts/mcp-venv.sh): it lists
/// the tools and calls each one against a demo history, and every answer is checked against `flywheel traces …`,
/// `flywheel diff` and git on the same data. Skipped, with the reason, when PyPI cannot be reached.
@Suite("MCP: the Python client against flywheel mcp", .serialized)
struct MCPPeerTests {
    static let venv: URL? = {
        let script = TestPaths.packageRoot.appendingPathComponent("Tests/scripts/mcp-venv.sh")
        guard let r = try? runProcess(URL(fileURLWithPath: "/bin/sh"), [script.path], timeout: 600), r.status == 0 else {
            print("MCP peer test skipped: Tests/scripts/mcp-venv.sh could not create the venv (PyPI unreachable?)")
            return nil
        }
        return URL(fileURLWithPath: r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }()

    @Test("every tool answers as the CLI and git do on the same history", .enabled(if: venv != nil, "mcp venv unavailable (no PyPI)"))
    func toolsMatchTheCLI() throws {
        let parent = TestPaths.scratch("mcp-peer")
        let demo = parent.appendingPathComponent("demo")
        let d = try flywheel(["demo", "--dir", demo.path, "--out", demo.appendingPathComponent("site").path], in: parent, timeout: 300)
        try #require(d.status == 0, "\(d.stderr)")
        let repo = demo.appendingPathComponent("loop-history")
        func cli(_ args: [String]) throws -> String {
            let r = try flywheel(args, in: demo)
            #expect(r.status == 0, "\(args): \(r.stderr)")
            return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let query = try LoopTest.object(try cli(["traces", "query", "--cycle", "2", "--limit", "3"]))
        let traces = try #require(((query["result"] as? [String: Any])?["traces"] as? [[String: Any]])?.compactMap { $0["trace_id"] as? String })
        let trace = try #require(traces.first)
        let view = try LoopTest.object(try cli(["traces", "view", "--cycle", "2", trace]))
        let spans = try #require(((view["result"] as? [String: Any])?["spans"] as? [[String: Any]])?.compactMap { $0["span_id"] as? String })
        let calls: [[Any]] = [
            ["get_dataset_overview", ["cycle": "2"]], ["query_traces", ["cycle": "2", "limit": 3]],
            ["count_traces", ["cycle": "2", "filters": ["has_errors": true]]], ["view_trace", ["cycle": "2", "trace_id": trace]],
            ["view_spans", ["cycle": "2", "trace_id": trace, "span_ids": Array(spans.prefix(2))]],
            ["search_trace", ["cycle": "2", "trace_id": trace, "pattern": "tool"]], ["list_cycles", [:]], ["get_cycle", ["cycle": "cycle-0002"]],
            ["get_results", ["cycle": "3", "status": "fail"]], ["diff_cycles", ["from": "1", "to": "3"]], ["get_diagnosis", ["cycle": "1"]],
            ["get_handoff", ["cycle": "1"]], ["recommendation_outcomes", [:]],
            ["view_trace", ["cycle": "2", "trace_id": "no-such-trace"]], ["get_cycle", ["cycle": "9"]],
        ]
        let script = TestPaths.packageRoot.appendingPathComponent("Tests/FlywheelCLITests/Fixtures/mcp/mcp_client.py")
        let payload = String(decoding: try JSONSerialization.data(withJSONObject: calls), as: UTF8.self)
        let r = try runProcess(Self.venv!.appendingPathComponent("bin/python"), [script.path, TestPaths.product("flywheel").path, repo.path, payload], timeout: 120)
        try #require(r.status == 0, "\(r.stderr)")
        let out = try LoopTest.object(r.stdout)
        #expect(out["server"] as? String == "flywheel")
        #expect(out["read_only"] as? Bool == true)
        #expect(Set(out["tools"] as? [String] ?? []) == [
            "get_dataset_overview", "query_traces", "count_traces", "view_trace", "view_spans", "search_trace", "list_cycles", "get_cycle",
            "get_results", "diff_cycles", "get_diagnosis", "get_handoff", "recommendation_outcomes",
        ])
        let answers = try #require(out["calls"] as? [String: [[String: Any]]])
        func text(_ name: String, _ i: Int = 0) -> String { (answers[name]?[i]["text"] as? String) ?? "" }
        func isError(_ name: String, _ i: Int = 0) -> Bool { (answers[name]?[i]["is_error"] as? Bool) ?? false }

        // HALO's tools: byte for byte what `flywheel traces …` prints.
        let expected: [(String, [String])] = [
            ("get_dataset_overview", ["traces", "overview", "--cycle", "2"]),
            ("query_traces", ["traces", "query", "--cycle", "2", "--limit", "3"]),
            ("count_traces", ["traces", "count", "--cycle", "2", "--has-errors"]),
            ("view_trace", ["traces", "view", "--cycle", "2", trace]),
            ("view_spans", ["traces", "view-spans", "--cycle", "2", trace] + Array(spans.prefix(2))),
            ("search_trace", ["traces", "search", "--cycle", "2", trace, "tool"]),
        ]
        for (tool, args) in expected {
            let fromCLI = try cli(args)
            #expect(text(tool) == fromCLI, "\(tool) differs from flywheel \(args.joined(separator: " "))")
        }
        // The history: the same records git holds.
        let cycles = try #require(try json(text("list_cycles")) as? [[String: Any]])
        #expect(cycles.map { $0["number"] as? Int } == [1, 2, 3] && cycles.allSatisfy { $0["status"] as? String == "closed" })
        let cycle2 = try LoopTest.object(text("get_cycle"))
        #expect(cycle2["cycle"] as? [String: Any] != nil && (cycle2["files"] as? [String])?.contains("cycles/0002/traces.jsonl") == true)
        let failing = try #require(try json(text("get_results")) as? [[String: Any]])
        #expect(failing.allSatisfy { $0["status"] as? String == "fail" })
        let diffText = try cli(["diff", "1", "3", "--json"])
        let diffCLI = try #require(try json(diffText) as? [[String: Any]])
        let diffMCP = try #require(try json(text("diff_cycles")) as? [[String: Any]])
        #expect(diffMCP.map { $0["patch"] as? String } == diffCLI.map { $0["patch"] as? String } && !diffMCP.isEmpty)
        let diagnosis = try LoopTest.show(demo, "cycle-0001", "cycles/0001/diagnosis.json")
        let handoff = try LoopTest.show(demo, "cycle-0001", "cycles/0001/handoff.md")
        #expect(text("get_diagnosis") == diagnosis)
        #expect(text("get_handoff") == handoff)
        let outcomes = try #require(try json(text("recommendation_outcomes")) as? [[String: Any]])
        #expect(outcomes.contains { $0["status"] as? String == "verified" }, "\(outcomes)")
        // Bad arguments are tool errors with a message, not a dead server.
        #expect(isError("view_trace", 1) && text("view_trace", 1).contains("no-such-trace"))
        #expect(isError("get_cycle", 1) && text("get_cycle", 1).contains("no cycle 9"))
        // Read-only: the history did not move.
        let refs = try LoopTest.git(repo, ["show-ref"]).stdout
        #expect(try LoopTest.git(repo, ["show-ref"]).stdout == refs)
    }
}
