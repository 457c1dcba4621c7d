import FlywheelSupport
import Foundation
import SwiftProtobuf

/// OTLP protobuf (`application/x-protobuf`) → the OTLP/JSON shape the JSON decoder reads, so both encodings share
/// one mapping and one set of range checks. Ids become lowercase hex, 64-bit times decimal strings, enums numbers.
enum OTLPProtobuf {
    typealias TraceRequest = Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest
    typealias LogsRequest = Opentelemetry_Proto_Collector_Logs_V1_ExportLogsServiceRequest

    /// Nesting limit for AnyValue (arrays and kvlists) and messages.
    static let depthLimit = 64

    static func parseOptions() -> BinaryDecodingOptions {
        var o = BinaryDecodingOptions()
        o.messageDepthLimit = depthLimit + 10
        o.discardUnknownFields = true
        return o
    }

    /// Decodes an `ExportTraceServiceRequest`.
    static func traces(_ data: Data) throws -> JSONValue {
        let req: TraceRequest
        do { req = try TraceRequest(serializedBytes: data, options: parseOptions()) } catch {
            throw OTLPDecodingError(line: 1, field: "<body>", message: "not a protobuf ExportTraceServiceRequest: \(error)")
        }
        return .object(["resourceSpans": .array(req.resourceSpans.map(resourceSpans))])
    }

    /// Decodes an `ExportLogsServiceRequest`.
    static func logs(_ data: Data) throws -> JSONValue {
        let req: LogsRequest
        do { req = try LogsRequest(serializedBytes: data, options: parseOptions()) } catch {
            throw OTLPDecodingError(line: 1, field: "<body>", message: "not a protobuf ExportLogsServiceRequest: \(error)")
        }
        return .object(["resourceLogs": .array(req.resourceLogs.map(resourceLogs))])
    }

    static func hex(_ d: Data) -> JSONValue { .string(d.isEmpty ? "" : TraceIDs.hexString([UInt8](d))) }

    static func resourceSpans(_ rs: Opentelemetry_Proto_Trace_V1_ResourceSpans) -> JSONValue {
        .object([
            "resource": .object(["attributes": keyValues(rs.resource.attributes)]),
            "scopeSpans": .array(
                rs.scopeSpans.map { ss in
                    .object([
                        "scope": .object(["name": .string(ss.scope.name), "version": .string(ss.scope.version)]),
                        "spans": .array(ss.spans.map(span)),
                    ])
                }),
        ])
    }

    static func span(_ s: Opentelemetry_Proto_Trace_V1_Span) -> JSONValue {
        var o: [String: JSONValue] = [
            "traceId": hex(s.traceID), "spanId": hex(s.spanID), "parentSpanId": hex(s.parentSpanID),
            "traceState": .string(s.traceState), "name": .string(s.name), "kind": .int(Int64(s.kind.rawValue)),
            "startTimeUnixNano": .string(String(s.startTimeUnixNano)), "endTimeUnixNano": .string(String(s.endTimeUnixNano)),
            "attributes": keyValues(s.attributes),
        ]
        if s.hasStatus {
            o["status"] = .object(["code": .int(Int64(s.status.code.rawValue)), "message": .string(s.status.message)])
        }
        if !s.events.isEmpty {
            o["events"] = .array(
                s.events.map { e in
                    .object([
                        "name": .string(e.name), "timeUnixNano": .string(String(e.timeUnixNano)), "attributes": keyValues(e.attributes),
                    ])
                })
        }
        if !s.links.isEmpty {
            o["links"] = .array(
                s.links.map { l in
                    .object(["traceId": hex(l.traceID), "spanId": hex(l.spanID), "attributes": keyValues(l.attributes)])
                })
        }
        return .object(o)
    }

    static func resourceLogs(_ rl: Opentelemetry_Proto_Logs_V1_ResourceLogs) -> JSONValue {
        .object([
            "resource": .object(["attributes": keyValues(rl.resource.attributes)]),
            "scopeLogs": .array(
                rl.scopeLogs.map { sl in
                    .object([
                        "scope": .object(["name": .string(sl.scope.name), "version": .string(sl.scope.version)]),
                        "logRecords": .array(sl.logRecords.map(logRecord)),
                    ])
                }),
        ])
    }

    static func logRecord(_ r: Opentelemetry_Proto_Logs_V1_LogRecord) -> JSONValue {
        var o: [String: JSONValue] = [
            "timeUnixNano": .string(String(r.timeUnixNano)), "observedTimeUnixNano": .string(String(r.observedTimeUnixNano)),
            "severityNumber": .int(Int64(r.severityNumber.rawValue)), "severityText": .string(r.severityText),
            "attributes": keyValues(r.attributes), "traceId": hex(r.traceID), "spanId": hex(r.spanID),
            "eventName": .string(r.eventName),
        ]
        if r.hasBody { o["body"] = anyValue(r.body, depth: 0) }
        return .object(o)
    }

    static func keyValues(_ kvs: [Opentelemetry_Proto_Common_V1_KeyValue]) -> JSONValue {
        .array(kvs.map { .object(["key": .string($0.key), "value": anyValue($0.value, depth: 0)]) })
    }

    /// One AnyValue in OTLP/JSON form (`{"stringValue": …}`, …); nesting past ``depthLimit`` is cut to a string.
    static func anyValue(_ v: Opentelemetry_Proto_Common_V1_AnyValue, depth: Int) -> JSONValue {
        guard depth < depthLimit else { return .object(["stringValue": .string("[nested too deep]")]) }
        switch v.value {
        case .stringValue(let s)?: return .object(["stringValue": .string(s)])
        case .boolValue(let b)?: return .object(["boolValue": .bool(b)])
        case .intValue(let i)?: return .object(["intValue": .string(String(i))])
        case .doubleValue(let d)?:
            return .object(["doubleValue": d.isFinite ? .double(d) : .string(d.isNaN ? "NaN" : d > 0 ? "Infinity" : "-Infinity")])
        case .arrayValue(let a)?:
            return .object(["arrayValue": .object(["values": .array(a.values.map { anyValue($0, depth: depth + 1) })])])
        case .kvlistValue(let kv)?:
            return .object([
                "kvlistValue": .object([
                    "values": .array(kv.values.map { .object(["key": .string($0.key), "value": anyValue($0.value, depth: depth + 1)]) })
                ])
            ])
        case .bytesValue(let b)?: return .object(["bytesValue": .string(b.base64EncodedString())])
        case .stringValueStrindex?, nil: return .null
        }
    }
}

/// Decodes an OTLP protobuf body: an `ExportTraceServiceRequest`, or an `ExportLogsServiceRequest` when `logs`.
public func decodeOTLPProtobuf(_ data: Data, logs: Bool = false) throws -> [Span] {
    let request = logs ? try OTLPProtobuf.logs(data) : try OTLPProtobuf.traces(data)
    return try OTLPDecoder().decode(request: request, line: 1)
}
