import Flywheel
import Foundation
import Testing
import TestSupport

@Suite("CLI: traces exploration")
struct TracesExploreTests {
    /// Positions of `"key":` in `text` are increasing (the spec's field order).
    func inOrder(_ text: String, _ keys: [String]) -> Bool {
        let positions = keys.compactMap { text.range(of: "\"\($0)\":")?.lowerBound }
        return positions.count == keys.count && positions == positions.sorted()
    }

    @Test("overview, query, count, view, view-spans and search agree on --file and --cycle, with the spec's fields")
    func fileAndCycleAgree() throws {
        let dir = try tracesWorkspace("traces-explore")
        #expect(try flywheel(["traces", "import", TraceFixtures.clean], in: dir).status == 0)
        // The cycle's file as stored, exported through git (a peer) to compare byte for byte.
        let exported = dir.appendingPathComponent("exported.jsonl")
        try Data(try git(dir, ["show", "HEAD:cycles/0001/traces.jsonl"]).stdout.utf8).write(to: exported)

        func both(_ args: [String]) throws -> (String, Any) {
            let viaFile = try flywheel(["traces"] + args + ["--file", exported.path], in: dir)
            let viaCycle = try flywheel(["traces"] + args + ["--cycle", "1"], in: dir)
            let viaDefault = try flywheel(["traces"] + args, in: dir)
            #expect(viaFile.status == 0, "\(args) \(viaFile.stderr)")
            #expect(viaCycle.status == 0, "\(args) \(viaCycle.stderr)")
            #expect(viaFile.stdout == viaCycle.stdout, "\(args)")
            #expect(viaDefault.stdout == viaCycle.stdout, "\(args): the latest cycle is the default")
            return (viaCycle.stdout, try json(viaCycle.stdout))
        }

        // overview
        var (text, doc) = try both(["overview"])
        let overview = try #require((doc as? [String: Any])?["result"] as? [String: Any])
        #expect(overview["total_traces"] as? Int == 3)
        #expect(overview["total_spans"] as? Int == 51)
        #expect(overview["error_trace_count"] as? Int == 2)
        #expect(overview["tool_error_span_count"] as? Int == 2)
        #expect(overview["total_input_tokens"] as? Int == 10215)
        #expect(overview["total_output_tokens"] as? Int == 1510)
        #expect(inOrder(text, [
            "total_traces", "total_spans", "earliest_start_time", "latest_end_time", "service_names", "model_names",
            "agent_names", "agent_ids", "error_trace_count", "missing_parent_count", "missing_agent_identity_count",
            "project_id_mismatch_count", "otel_error_span_count", "tool_error_span_count", "error_taxonomy",
            "total_input_tokens", "total_output_tokens", "raw_jsonl_bytes", "sample_trace_ids",
        ]))
        let ids = try #require(overview["sample_trace_ids"] as? [String])
        #expect(ids.count == 3)
        // Against the original fixture too (the import normalizes bytes, never meaning).
        let original = try flywheel(["traces", "count", "--file", TraceFixtures.clean], in: dir)
        #expect(original.stdout == #"{"result":{"total":3}}"# + "\n")

        // query with paging and filters
        (text, doc) = try both(["query", "--offset", "1", "--limit", "1"])
        let query = try #require((doc as? [String: Any])?["result"] as? [String: Any])
        #expect(query["total"] as? Int == 3)
        let rows = try #require(query["traces"] as? [[String: Any]])
        #expect(rows.count == 1)
        #expect(rows.first?["trace_id"] as? String == ids[1])
        #expect(inOrder(text, [
            "trace_id", "span_count", "start_time", "end_time", "has_errors", "service_names", "model_names",
            "total_input_tokens", "total_output_tokens", "agent_names", "agent_ids", "missing_parent_count",
            "missing_agent_identity_count", "project_id_mismatch_count", "otel_error_span_count",
            "tool_error_span_count", "raw_jsonl_bytes",
        ]))

        // count with filters; flags and --filters JSON agree
        (text, _) = try both(["count", "--has-errors"])
        #expect(text == #"{"result":{"total":2}}"# + "\n")
        (text, _) = try both(["count", "--no-has-errors"])
        #expect(text == #"{"result":{"total":1}}"# + "\n")
        (text, _) = try both(["count", "--filters", #"{"has_errors":true}"#])
        #expect(text == #"{"result":{"total":2}}"# + "\n")
        (text, _) = try both(["count", "--regex", "function\\.grep", "--until", "9999"])
        #expect(try ((json(text) as? [String: Any])?["result"] as? [String: Any])?["total"] as? Int ?? -1 >= 1)
        (text, _) = try both(["count", "--since", "9999"])
        #expect(text == #"{"result":{"total":0}}"# + "\n")

        // view and view-spans
        (text, doc) = try both(["view", ids[0]])
        let view = try #require((doc as? [String: Any])?["result"] as? [String: Any])
        #expect(view["trace_id"] as? String == ids[0])
        let spans = try #require(view["spans"] as? [[String: Any]])
        #expect(!spans.isEmpty)
        #expect(view.keys.contains("oversized"))
        #expect(inOrder(text, ["trace_id", "spans", "oversized"]))
        let spanIDs = spans.compactMap { $0["span_id"] as? String }
        try #require(spanIDs.count >= 2)
        (text, doc) = try both(["view-spans", ids[0], spanIDs[0], spanIDs[1]])
        let some = try #require(((doc as? [String: Any])?["result"] as? [String: Any])?["spans"] as? [[String: Any]])
        #expect(some.compactMap { $0["span_id"] as? String } == [spanIDs[0], spanIDs[1]])
        let viaOption = try flywheel(["traces", "view", ids[0], "--span", spanIDs[0], "--span", spanIDs[1]], in: dir)
        #expect(viaOption.stdout == text)

        // search
        (text, doc) = try both(["search", ids[0], "STATUS_CODE_[A-Z]+", "--max-matches", "2"])
        let search = try #require((doc as? [String: Any])?["result"] as? [String: Any])
        #expect(search["trace_id"] as? String == ids[0])
        #expect((search["match_count"] as? Int ?? 0) >= spans.count)
        #expect(search["returned_match_count"] as? Int == 2)
        #expect(search["has_more"] as? Bool == true)
        #expect(inOrder(text, ["trace_id", "match_count", "returned_match_count", "has_more", "matches"]))
        #expect(inOrder(text, [
            "span_id", "span_index", "span_name", "kind", "status_code", "parent_span_id", "raw_jsonl_bytes",
            "match_text", "matched_context", "match_start_char", "match_end_char",
        ]))
        (text, doc) = try both(["search", ids[0], "STATUS_CODE", "--span", spanIDs[0]])
        #expect(((doc as? [String: Any])?["result"] as? [String: Any])?["span_id"] as? String == spanIDs[0])
        #expect(inOrder(text, ["trace_id", "span_id", "match_count"]))
    }

    @Test("errors: JSON on stderr with a code, exit 1; usage errors exit 2")
    func errors() throws {
        let dir = try tracesWorkspace("traces-explore-errors")
        // The open cycle has no traces yet.
        var r = try flywheel(["traces", "overview"], in: dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("has no traces.jsonl"))
        r = try flywheel(["traces", "view", "nope", "--file", TraceFixtures.clean], in: dir)
        #expect(r.status == 1)
        let err = try #require((try json(r.stderr) as? [String: Any])?["error"] as? [String: Any])
        #expect(err["code"] as? String == "unknown_trace")
        #expect(r.stdout.isEmpty)
        r = try flywheel(["traces", "query", "--limit", "0", "--file", TraceFixtures.clean], in: dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("out_of_range"))
        r = try flywheel(["traces", "count", "--regex", "(", "--file", TraceFixtures.clean], in: dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("bad_regex"))
        r = try flywheel(["traces", "count", "--filters", #"{"colour":"red"}"#, "--file", TraceFixtures.clean], in: dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("unknown filter key colour"))
        r = try flywheel(["traces", "count", "--file", TraceFixtures.invalid], in: dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("invalid_dataset"))
        r = try flywheel(["traces", "count", "--file", TraceFixtures.clean, "--cycle", "1"], in: dir)
        #expect(r.status == 2)
        r = try flywheel(["traces", "view"], in: dir)
        #expect(r.status == 2)
    }
}
