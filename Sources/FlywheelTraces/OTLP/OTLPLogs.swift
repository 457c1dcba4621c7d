import FlywheelSupport
import Foundation

/// Turns OTLP log records (an `ExportLogsServiceRequest`, as `/v1/logs` receives it) into HALO spans.
///
/// Records are grouped into traces by their `traceId` when they carry one (each record becomes a child span of the
/// record's `spanId`), else by a session attribute (`conversation.id` as Codex CLI writes it, or `session.id`,
/// `gen_ai.conversation.id`); a session's trace id and its AGENT root's span id are derived from the session id, so
/// the batches an exporter sends for one session land in one trace. Every record's own span id is derived from its
/// content, so a retried request is de-duplicated.
///
/// Codex CLI's events (the `event.name` attribute, or the record's `eventName`):
///
/// | event | becomes |
/// |---|---|
/// | `codex.user_prompt` | the AGENT root's `input.value` (`prompt`; Codex redacts it unless `log_user_prompt`) |
/// | `codex.conversation_starts` | root attributes (`model`, `provider_name`, … kept as they are) |
/// | `codex.api_request` | an LLM span `codex.api_request`: ends at the record time, lasts `duration_ms`; `model`; ERROR with `error.message` or an HTTP status ≥ 400 |
/// | `codex.sse_event` with `event.kind` = `response.completed` | an LLM span `codex.response`: `model`, `input_token_count`, `output_token_count`, `cached_token_count`, `reasoning_token_count` → `inference.llm.*` |
/// | `codex.sse_event` with `error.message` | an LLM span with ERROR status; other SSE events are left out |
/// | `codex.tool_result` | a TOOL span named after `tool_name`: `tool.name`, `input.value` = `arguments`, `output.value` = `output`, lasts `duration_ms`, ERROR when `success` is false |
/// | `codex.tool_decision` | a SPAN `codex.tool_decision` (`tool_name`, `decision`, `source` kept) |
/// | any other record | a SPAN named after its event name (or `log`), ERROR when its severity is ERROR or worse |
public struct OTLPLogMapper: Sendable {
    public init() {}

    /// Session attributes, in order of preference.
    public static let sessionKeys = ["conversation.id", "session.id", "gen_ai.conversation.id"]

    struct Record {
        var path: String
        var nanos: Int64
        var event: String
        var attributes: [String: JSONValue]
        var body: JSONValue
        var severity: Int
        var traceID: String
        var spanID: String
        var resource: [String: JSONValue]
        var scope: SpanScope
        var canonical: String
    }

    /// Decodes one parsed `ExportLogsServiceRequest`.
    public func decode(request: JSONValue, line: Int = 1) throws -> [Span] {
        let d = OTLPDecoder()
        func fail(_ field: String, _ msg: String) -> OTLPDecodingError { OTLPDecodingError(line: line, field: field, message: msg) }
        guard case .object(let root) = request else { throw fail("<root>", "an ExportLogsServiceRequest must be a JSON object") }
        guard case .array(let resourceLogs)? = root["resourceLogs"] ?? root["resource_logs"] else {
            throw fail("resourceLogs", "missing or not an array (not an OTLP ExportLogsServiceRequest)")
        }
        var records: [Record] = []
        for (ri, rl) in resourceLogs.enumerated() {
            let rp = "resourceLogs[\(ri)]"
            guard case .object(let rlo) = rl else { throw fail(rp, "expected an object") }
            var resource: [String: JSONValue] = [:]
            if case .object(let res)? = rlo["resource"] {
                resource = try d.keyValues(res["attributes"], path: "\(rp).resource.attributes", line: line)
            }
            guard case .array(let scopeLogs) = rlo["scopeLogs"] ?? rlo["scope_logs"] ?? .array([]) else {
                throw fail("\(rp).scopeLogs", "expected an array")
            }
            for (si, sl) in scopeLogs.enumerated() {
                let sp = "\(rp).scopeLogs[\(si)]"
                guard case .object(let slo) = sl else { throw fail(sp, "expected an object") }
                var scope = SpanScope(name: "", version: "")
                if case .object(let sc)? = slo["scope"] {
                    scope.name = sc["name"]?.stringValue ?? ""
                    scope.version = sc["version"]?.stringValue ?? ""
                }
                guard case .array(let logRecords) = slo["logRecords"] ?? slo["log_records"] ?? .array([]) else {
                    throw fail("\(sp).logRecords", "expected an array")
                }
                for (i, lr) in logRecords.enumerated() {
                    records.append(try record(lr, path: "\(sp).logRecords[\(i)]", line: line, resource: resource, scope: scope, decoder: d))
                }
            }
        }
        return try spans(records, line: line)
    }

    func record(
        _ v: JSONValue, path: String, line: Int, resource: [String: JSONValue], scope: SpanScope, decoder d: OTLPDecoder
    ) throws -> Record {
        guard case .object(let o) = v else { throw OTLPDecodingError(line: line, field: path, message: "expected an object") }
        let attrs = try d.keyValues(o["attributes"], path: "\(path).attributes", line: line)
        let body = try d.anyValue(o["body"], path: "\(path).body", line: line)
        let event = (o["eventName"] ?? o["event_name"])?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
            ?? attrs["event.name"]?.stringValue ?? ""
        let label = event.isEmpty ? "" : "(log record \(event))"
        var nanos: Int64 = 0
        for key in ["timeUnixNano", "time_unix_nano", "observedTimeUnixNano", "observed_time_unix_nano"] {
            guard let t = o[key] else { continue }
            let text = try d.time(t, OTLPDecodingError(line: line, field: "\(path).\(key)", message: label))
            if let n = TraceTime.parse(text), n > 0 {
                nanos = n
                break
            }
        }
        if nanos == 0, let ts = attrs["event.timestamp"]?.stringValue, let date = Self.iso8601(ts) {
            let s = date.timeIntervalSince1970
            guard s >= 0, s < 9.2e9 else {
                throw OTLPDecodingError(line: line, field: "\(path).attributes[\"event.timestamp\"]", message: "\(ts) is out of range (1970 to 2262) \(label)")
            }
            nanos = Int64((s * 1_000_000).rounded()) * 1000
        }
        guard nanos > 0 else {
            throw OTLPDecodingError(line: line, field: "\(path).timeUnixNano", message: "missing: a log record needs a time (timeUnixNano, observedTimeUnixNano or event.timestamp) \(label)")
        }
        var severity = 0
        if let s = o["severityNumber"] ?? o["severity_number"] {
            switch s {
            case .int(let i) where (0...24).contains(i): severity = Int(i)
            case .string(let t):
                severity = Int(t) ?? Self.severityNames.firstIndex(of: t.replacingOccurrences(of: "SEVERITY_NUMBER_", with: "")).map { $0 } ?? 0
            default:
                throw OTLPDecodingError(line: line, field: "\(path).severityNumber", message: "expected 0…24 \(label)")
            }
        }
        let traceRaw = (o["traceId"] ?? o["trace_id"])?.stringValue ?? ""
        let spanRaw = (o["spanId"] ?? o["span_id"])?.stringValue ?? ""
        let canonical = JSONValue.object(["attributes": .object(attrs), "body": body, "t": .int(nanos), "e": .string(event)]).canonicalText
        return Record(
            path: path, nanos: nanos, event: event, attributes: attrs, body: body, severity: severity,
            traceID: OTLPDecoder.normalizeID(traceRaw, bytes: 16), spanID: OTLPDecoder.normalizeID(spanRaw, bytes: 8),
            resource: resource, scope: scope, canonical: canonical)
    }

    /// Index = severity number / 4 (TRACE=1…4, DEBUG=5…8, INFO=9…12, WARN=13…16, ERROR=17…20, FATAL=21…24).
    static let severityNames = [
        "UNSPECIFIED", "TRACE", "TRACE2", "TRACE3", "TRACE4", "DEBUG", "DEBUG2", "DEBUG3", "DEBUG4", "INFO", "INFO2", "INFO3",
        "INFO4", "WARN", "WARN2", "WARN3", "WARN4", "ERROR", "ERROR2", "ERROR3", "ERROR4", "FATAL", "FATAL2", "FATAL3", "FATAL4",
    ]

    static func iso8601(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = f.date(from: s) { return d }
        f.formatOptions = [.withInternetDateTime]
        return f.date(from: s)
    }

    static func hexID(_ text: String, bytes: Int) -> String {
        var h = SHA256.hex(text)
        h = String(h.prefix(bytes * 2))
        return h.allSatisfy({ $0 == "0" }) ? String(h.dropLast()) + "1" : h
    }

    func spans(_ records: [Record], line: Int) throws -> [Span] {
        var out: [Span] = []
        // Sessions in order of first appearance.
        var sessions: [String: [Record]] = [:]
        var order: [String] = []
        for r in records {
            let key: String
            if !r.traceID.isEmpty {
                key = "trace:" + r.traceID
            } else if let s = Self.sessionKeys.lazy.compactMap({ r.attributes[$0]?.stringValue }).first(where: { !$0.isEmpty }) {
                key = "session:" + s
            } else {
                key = "service:" + (r.resource["service.name"]?.stringValue ?? "")
            }
            if sessions[key] == nil { order.append(key) }
            sessions[key, default: []].append(r)
        }
        for key in order {
            let group = sessions[key]!.sorted { $0.nanos < $1.nanos }
            let first = group[0]
            let traceID: String
            var rootID = ""
            if key.hasPrefix("trace:") {
                traceID = first.traceID
            } else {
                traceID = Self.hexID("flywheel.logs.trace:" + key, bytes: 16)
                rootID = Self.hexID("flywheel.logs.root:" + key, bytes: 8)
            }
            var children: [Span] = []
            var prompt: JSONValue?
            var rootAttrs: [String: JSONValue] = [:]
            for r in group {
                if r.event == "codex.user_prompt" {
                    prompt = r.attributes["prompt"] ?? prompt
                    for (k, v) in r.attributes where rootAttrs[k] == nil { rootAttrs[k] = v }
                    continue
                }
                if r.event == "codex.conversation_starts" {
                    for (k, v) in r.attributes { rootAttrs[k] = v }
                    continue
                }
                guard var s = try span(for: r, traceID: traceID, parent: r.spanID.isEmpty ? rootID : r.spanID, line: line) else { continue }
                try SemanticConventions.apply(to: &s, path: r.path, line: line)
                children.append(s)
            }
            if !rootID.isEmpty {
                let start = group.first!.nanos
                let end = max(group.last!.nanos, children.compactMap { TraceTime.parse($0.endTime) }.max() ?? 0)
                let service = first.resource["service.name"]?.stringValue ?? ""
                var attrs = rootAttrs
                attrs.removeValue(forKey: "prompt")
                attrs["inference.observation_kind"] = .string("AGENT")
                attrs["openinference.span.kind"] = .string("AGENT")
                let agent = service.isEmpty ? (first.event.hasPrefix("codex.") ? "codex" : "agent") : service
                attrs["agent.name"] = attrs["agent.name"] ?? .string(agent)
                attrs["inference.agent_name"] = attrs["agent.name"]
                if let prompt { attrs["input.value"] = prompt }
                let failed = children.contains { $0.status.code == "STATUS_CODE_ERROR" && $0.attributes["inference.observation_kind"] == .string("LLM") }
                let root = Span(
                    traceID: traceID, spanID: rootID, name: first.event.hasPrefix("codex.") ? "codex.conversation" : "session",
                    kind: "SPAN_KIND_INTERNAL", startTime: TraceTime.format(unixNanos: start), endTime: TraceTime.format(unixNanos: end),
                    status: failed ? .error("a model request failed") : .unset, resourceAttributes: first.resource, scope: first.scope,
                    attributes: attrs)
                out.append(root)
                // The session's agent is every span's agent (HALO counts spans without one).
                for i in children.indices where children[i].attributes["inference.agent_name"] == nil {
                    children[i].attributes["inference.agent_name"] = attrs["inference.agent_name"]
                }
            }
            out += children
        }
        return out
    }

    func span(for r: Record, traceID: String, parent: String, line: Int) throws -> Span? {
        var a = r.attributes
        var name = r.event.isEmpty ? "log" : r.event
        var status = SpanStatus.unset
        var start = r.nanos
        func duration() throws -> Int64 {
            guard let v = a["duration_ms"] else { return 0 }
            let ms: Double
            switch v {
            case .int(let i): ms = Double(i)
            case .double(let d): ms = d
            case .string(let s): ms = Double(s) ?? 0
            default: ms = 0
            }
            guard ms.isFinite, ms >= 0, ms <= 31_536_000_000 else {
                throw OTLPDecodingError(line: line, field: "\(r.path).attributes[\"duration_ms\"]", message: "\(v) is out of range (0 ms to a year) (log record \(name))")
            }
            return min(Int64(ms * 1_000_000), r.nanos)
        }
        switch r.event {
        case "codex.api_request":
            start = r.nanos - (try duration())
            a["inference.observation_kind"] = .string("LLM")
            a["openinference.span.kind"] = .string("LLM")
            let code = a["http.response.status_code"].flatMap { $0.intValue ?? $0.stringValue.flatMap { Int64($0) } } ?? 0
            if let m = a["error.message"]?.stringValue, !m.isEmpty {
                status = .error(m)
            } else if code >= 400 {
                status = .error("HTTP \(code)")
            }
        case "codex.sse_event":
            let kind = a["event.kind"]?.stringValue ?? ""
            let err = a["error.message"]?.stringValue ?? ""
            guard kind == "response.completed" || !err.isEmpty else { return nil }
            start = r.nanos - (try duration())
            name = kind == "response.completed" ? "codex.response" : "codex.sse_event"
            a["inference.observation_kind"] = .string("LLM")
            a["openinference.span.kind"] = .string("LLM")
            if !err.isEmpty { status = .error(err) }
        case "codex.tool_result":
            start = r.nanos - (try duration())
            let tool = a["tool_name"]?.stringValue ?? "tool"
            name = "tool.\(tool)"
            a["inference.observation_kind"] = .string("TOOL")
            a["openinference.span.kind"] = .string("TOOL")
            a["tool.name"] = .string(tool)
            if let v = a["arguments"] { a["input.value"] = v }
            if let v = a["output"] { a["output.value"] = v }
            let success = a["success"]
            if success == .bool(false) || success == .string("false") {
                status = .error(String((a["output"]?.stringValue ?? "tool call failed").prefix(200)))
            } else if success != nil {
                status = .ok
            }
        default:
            a["inference.observation_kind"] = a["inference.observation_kind"] ?? .string("SPAN")
            if r.severity >= 17 {
                status = .error(r.body.stringValue.map { String($0.prefix(200)) } ?? "severity \(r.severity)")
            }
        }
        if r.body != .null { a["log.body"] = r.body }
        if r.severity > 0 { a["log.severity_number"] = .int(Int64(r.severity)) }
        let spanID = Self.hexID("flywheel.logs.span:" + traceID + r.path + r.canonical, bytes: 8)
        return Span(
            traceID: traceID, spanID: spanID, parentSpanID: parent, name: name, kind: "SPAN_KIND_INTERNAL",
            startTime: TraceTime.format(unixNanos: start), endTime: TraceTime.format(unixNanos: r.nanos), status: status,
            resourceAttributes: r.resource, scope: r.scope, attributes: a)
    }
}
