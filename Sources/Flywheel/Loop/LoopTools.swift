import FlywheelSupport
import FlywheelTraces
import Foundation
import GitStore

/// The loop's read-only tool surface for agents (served by `flywheel mcp`): HALO's trace tools over any cycle's traces
/// (the same answers as `flywheel traces …`), and the history: cycles, results, harness diffs, diagnosis, handoff and
/// how recommendations fared. Nothing here writes.
public struct LoopTools: Sendable {
    public let history: LoopHistory

    public init(history: LoopHistory) { self.history = history }

    /// A tool: its name, what it does, and its arguments as a JSON Schema object.
    public struct Definition: Sendable {
        public var name: String
        public var description: String
        public var inputSchema: JSONValue
    }

    /// A call that could not be served, with a message for the caller.
    public struct ToolError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    static func object(_ properties: [String: JSONValue], required: [String] = []) -> JSONValue {
        ["type": "object", "properties": .object(properties), "required": .array(required.map { .string($0) })]
    }

    static let cycleArg: JSONValue = ["type": "string", "description": "A cycle: a number, cycle-NNNN or latest (default latest)."]
    static let filtersArg: JSONValue = [
        "type": "object",
        "description": "HALO's trace filters, all optional and ANDed: has_errors, model_names, service_names, agent_names, project_id, start_time_gte, end_time_lte, regex_pattern.",
    ]

    /// Every tool, in the order they are listed.
    public static let definitions: [Definition] = [
        Definition(name: "get_dataset_overview", description: "HALO's overview of a cycle's traces: totals, names, tokens, error counts and taxonomy.",
                   inputSchema: object(["cycle": cycleArg, "filters": filtersArg])),
        Definition(name: "query_traces", description: "Trace summaries of a cycle (id, span count, errors, agents, tokens), paged.",
                   inputSchema: object(["cycle": cycleArg, "filters": filtersArg, "limit": ["type": "integer"], "offset": ["type": "integer"]])),
        Definition(name: "count_traces", description: "How many of a cycle's traces match the filters.",
                   inputSchema: object(["cycle": cycleArg, "filters": filtersArg])),
        Definition(name: "view_trace", description: "Every span of one trace (attributes capped).",
                   inputSchema: object(["cycle": cycleArg, "trace_id": ["type": "string"]], required: ["trace_id"])),
        Definition(name: "view_spans", description: "Selected spans of one trace.",
                   inputSchema: object(["cycle": cycleArg, "trace_id": ["type": "string"], "span_ids": ["type": "array", "items": ["type": "string"]]],
                                       required: ["trace_id", "span_ids"])),
        Definition(name: "search_trace", description: "Regex search over the raw span lines of one trace.",
                   inputSchema: object(["cycle": cycleArg, "trace_id": ["type": "string"], "pattern": ["type": "string"],
                                        "context_buffer_chars": ["type": "integer"], "max_matches": ["type": "integer"]], required: ["trace_id", "pattern"])),
        Definition(name: "list_cycles", description: "Every cycle of the history: number, status, times, pass rate, gate, summary.",
                   inputSchema: object([:])),
        Definition(name: "get_cycle", description: "One cycle's record (cycle.json: scores, models, the experiment) and its files.",
                   inputSchema: object(["cycle": cycleArg])),
        Definition(name: "get_results", description: "A cycle's eval results, one row per case: id, status, reason, trace id (filter by status).",
                   inputSchema: object(["cycle": cycleArg, "status": ["type": "string", "enum": ["pass", "fail", "error", "skipped"]]])),
        Definition(name: "diff_cycles", description: "The git diff between two cycles (default: their harness/), as patches per file.",
                   inputSchema: object(["from": ["type": "string"], "to": ["type": "string"], "path": ["type": "string"]], required: ["from", "to"])),
        Definition(name: "get_diagnosis", description: "A cycle's diagnosis.json: failure modes with evidence and ranked recommendations.",
                   inputSchema: object(["cycle": cycleArg])),
        Definition(name: "get_handoff", description: "A cycle's handoff.md, the brief for the coding agent.", inputSchema: object(["cycle": cycleArg])),
        Definition(name: "recommendation_outcomes", description: "Every recommendation's outcome across the history: implemented, verified, ineffective, regressed.",
                   inputSchema: object([:])),
    ]

    /// Runs one tool. The answer is JSON text (Markdown for get_handoff).
    /// - Throws: `ToolError` for a bad argument or missing data, with a message for the caller.
    public func call(_ name: String, arguments: JSONValue = .object([:])) throws -> String {
        let args = arguments.objectValue?.dictionary ?? [:]
        func string(_ key: String) throws -> String {
            guard let s = args[key]?.stringValue, !s.isEmpty else { throw ToolError(message: "\(key) is required (a string)") }
            return s
        }
        do {
            if TraceStore.toolNames.contains(name), let answer = try store(args).callTool(name, arguments: .object(args)) { return answer }
            switch name {
            case "list_cycles": return try json(history.cycles().map(cycleSummary))
            case "get_cycle":
                let n = try cycle(args)
                let files = try history.snapshot(at: try history.revision(ofCycle: n)).fileIDs(under: Layout.cycleFolder(n)).keys.sorted().map { "\(Layout.cycleFolder(n))/\($0)" }
                let record = try JSONValue.parse(history.cycle(n).encoded())
                return JSONValue.object(["cycle": record, "files": .array(files.map { .string($0) })]).canonicalText
            case "get_results":
                let data = try CycleData.read(history, cycle: try cycle(args), parts: [])
                guard data.results != nil else { throw ToolError(message: "cycle \(data.cycle.number) has no results yet (the gate has not run)") }
                let wanted = args["status"]?.stringValue
                let rows = try data.resultRows().filter { wanted == nil || $0.status.rawValue == wanted }
                return JSONValue.array(rows.map { r in
                    .object([
                        "eval_id": .string(r.evalID), "status": .string(r.status.rawValue), "reason": .string(r.reason),
                        "trace_id": r.traceID.map { .string($0) } ?? .null, "category": r.category.map { .string($0) } ?? .null,
                    ])
                }).canonicalText
            case "diff_cycles":
                let from = try revision(try string("from")), to = try revision(try string("to"))
                let path = args["path"]?.stringValue ?? Layout.harness
                let diff = try history.diff(from: from, to: to, path: path.isEmpty ? nil : path)
                return JSONValue.array(diff.files.map { f in
                    .object([
                        "path": .string(f.path), "status": .string(f.status.rawValue), "additions": .int(Int64(f.additions)),
                        "deletions": .int(Int64(f.deletions)), "patch": .string(f.patch),
                    ])
                }).canonicalText
            case "get_diagnosis":
                let data = try CycleData.read(history, cycle: try cycle(args), parts: [])
                guard let d = data.diagnosis else { throw ToolError(message: "cycle \(data.cycle.number) has no diagnosis yet") }
                return String(decoding: d.encoded(), as: UTF8.self)
            case "get_handoff":
                let data = try CycleData.read(history, cycle: try cycle(args), parts: [])
                guard let h = data.handoff else { throw ToolError(message: "cycle \(data.cycle.number) has no handoff yet") }
                return h
            case "recommendation_outcomes":
                var out: [JSONValue] = []
                for c in try history.cycles() {
                    guard let d = try CycleData.read(history, cycle: c.number, parts: []).diagnosis else { continue }
                    for o in d.outcomes {
                        out.append(.object([
                            "recommendation_id": .string(o.recommendationID), "proposed_in": .int(Int64(o.fromCycle)),
                            "assessed_in": .int(Int64(c.number)), "implemented": .bool(o.implemented), "status": .string(o.status.rawValue),
                            "flipped_to_pass": .array(o.flippedToPass.map { .string($0) }), "still_failing": .array(o.stillFailing.map { .string($0) }),
                            "regressed": .array(o.regressed.map { .string($0) }), "note": .string(o.note),
                        ]))
                    }
                }
                return JSONValue.array(out).canonicalText
            default:
                throw ToolError(message: "unknown tool \(name); known: \(Self.definitions.map(\.name).joined(separator: ", "))")
            }
        } catch let e as ToolError {
            throw e
        } catch let e as TraceStoreError {
            throw ToolError(message: e.errorJSON)
        } catch {
            throw ToolError(message: "\(error)")
        }
    }

    // MARK: - Arguments

    func json(_ values: [JSONValue]) -> String { JSONValue.array(values).canonicalText }

    func cycleSummary(_ c: Cycle) -> JSONValue {
        .object([
            "number": .int(Int64(c.number)), "status": .string(c.status.rawValue), "started_at": .string(c.startedAt),
            "closed_at": c.closedAt.map { .string($0) } ?? .null, "pass_rate": c.scores.passRate.map { .double($0) } ?? .null,
            "gate_passed": c.scores.gatePassed.map { .bool($0) } ?? .null, "summary": c.summary.map { .string($0) } ?? .null,
            "tag": c.status == .closed ? .string(Layout.cycleTag(c.number)) : .null,
        ])
    }

    /// The cycle an argument names (default: the latest).
    func cycle(_ args: [String: JSONValue]) throws -> Int {
        let text = args["cycle"]?.stringValue ?? args["cycle"]?.intValue.map { String($0) } ?? "latest"
        if text == "latest" {
            guard let last = try history.lastCycle() else { throw ToolError(message: "the history has no cycle yet") }
            return last.number
        }
        let digits = text.hasPrefix("cycle-") ? String(text.dropFirst(6)) : text
        guard let n = Int(digits), n > 0 else { throw ToolError(message: "not a cycle: \(text) (a number, cycle-NNNN or latest)") }
        guard try history.cycles().contains(where: { $0.number == n }) else { throw ToolError(message: "no cycle \(n) in the history") }
        return n
    }

    /// A cycle or any revision, as a revision.
    func revision(_ text: String) throws -> String {
        if text == "latest" || Int(text) != nil || text.hasPrefix("cycle-") {
            return try history.revision(ofCycle: try cycle(["cycle": .string(text)]))
        }
        return text
    }

    func store(_ args: [String: JSONValue]) throws -> TraceStore {
        let n = try cycle(args)
        guard let data = try TraceStage.tracesData(cycle: n, history: history) else {
            throw ToolError(message: "cycle \(n) has no \(Layout.CycleFile.traces)")
        }
        return try TraceStore(data: data, name: Layout.cycleFile(n, Layout.CycleFile.traces))
    }
}
