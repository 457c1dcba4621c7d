import FlywheelSupport
import Foundation

/// Why OTLP/JSON input could not be converted.
public struct OTLPDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// 1-based line for JSONL input (1 for a single document).
    public var line: Int
    /// Path such as `resourceSpans[0].scopeSpans[1].spans[3].startTimeUnixNano`.
    public var field: String
    public var message: String
    public var description: String { "line \(line): \(field): \(message)" }
}

/// Decodes an OTLP/JSON `ExportTraceServiceRequest` (as OTLP/HTTP JSON and the collector's file exporter write it;
/// the file exporter's one-request-per-line JSONL is accepted too) into HALO spans. For the live receiver.
public func decodeOTLPJSON(_ data: Data) throws -> [Span] {
    try OTLPDecoder().decode(data)
}

/// OTLP/JSON → HALO mapping: hex or base64 ids (base64 16/8-byte ids become lowercase hex; other ids are kept as
/// they are), `startTimeUnixNano` strings or numbers → 9-digit UTC timestamps, AnyValue attributes → plain JSON,
/// enum numbers or names for kind and status, `resource.attributes` and `scope` kept, events and links kept as
/// JSON strings in `flywheel.otlp.events` / `flywheel.otlp.links` (Flywheel writes no extra top-level keys).
public struct OTLPDecoder: Sendable {
    public init() {}

    /// Decodes one request document or JSONL of requests.
    public func decode(_ data: Data) throws -> [Span] {
        do {
            let doc = try JSONValue.parse(data)
            return try decode(request: doc, line: 1)
        } catch let e as JSONScanError {
            // Maybe JSONL (the collector's file exporter): one request per line.
            var spans: [Span] = []
            var any = false
            var lineNo = 0
            var lineError: OTLPDecodingError?
            data.withUnsafeBytes { (buf: UnsafeRawBufferPointer) in
                var start = 0
                let n = buf.count
                while start <= n, lineError == nil {
                    var end = start
                    while end < n, buf[end] != 0x0A { end += 1 }
                    lineNo += 1
                    let slice = UnsafeRawBufferPointer(rebasing: buf[start..<end])
                    if !slice.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) {
                        do {
                            let v = try JSONValue.parse(bytes: slice)
                            spans += try decode(request: v, line: lineNo)
                            any = true
                        } catch let le as JSONScanError {
                            lineError = OTLPDecodingError(line: lineNo, field: "<line>", message: "invalid JSON: \(le.description)")
                        } catch let oe as OTLPDecodingError {
                            lineError = oe
                        } catch {
                            lineError = OTLPDecodingError(line: lineNo, field: "<line>", message: "\(error)")
                        }
                    }
                    start = end + 1
                }
            }
            if let lineError {
                if lineNo <= 1 || !any { throw OTLPDecodingError(line: lineError.line, field: lineError.field, message: lineNo <= 1 ? "invalid JSON: \(e.description)" : lineError.message) }
                throw lineError
            }
            return spans
        }
    }

    /// Decodes one parsed `ExportTraceServiceRequest` (or `ExportLogsServiceRequest`, whose records become spans:
    /// see ``OTLPLogMapper``). Semantic conventions (GenAI, OpenInference) fill HALO's `inference.*` fields.
    public func decode(request: JSONValue, line: Int = 1) throws -> [Span] {
        if case .object(let root) = request, root["resourceSpans"] == nil, root["resource_spans"] == nil,
            root["resourceLogs"] != nil || root["resource_logs"] != nil
        {
            return try OTLPLogMapper().decode(request: request, line: line)
        }
        return try decodeSpans(request: request, line: line)
    }

    func decodeSpans(request: JSONValue, line: Int) throws -> [Span] {
        func fail(_ field: String, _ msg: String) -> OTLPDecodingError { OTLPDecodingError(line: line, field: field, message: msg) }
        guard case .object(let root) = request else { throw fail("<root>", "an ExportTraceServiceRequest must be a JSON object") }
        guard let rsv = root["resourceSpans"] ?? root["resource_spans"] else {
            throw fail("resourceSpans", "missing (not an OTLP/JSON ExportTraceServiceRequest)")
        }
        guard case .array(let resourceSpans) = rsv else { throw fail("resourceSpans", "expected an array") }
        var out: [Span] = []
        for (ri, rs) in resourceSpans.enumerated() {
            let rp = "resourceSpans[\(ri)]"
            guard case .object(let rso) = rs else { throw fail(rp, "expected an object") }
            var resourceAttrs: [String: JSONValue] = [:]
            if case .object(let res)? = rso["resource"] {
                resourceAttrs = try keyValues(res["attributes"], path: "\(rp).resource.attributes", line: line)
            }
            let scopeList = rso["scopeSpans"] ?? rso["scope_spans"] ?? rso["instrumentationLibrarySpans"] ?? .array([])
            guard case .array(let scopeSpans) = scopeList else { throw fail("\(rp).scopeSpans", "expected an array") }
            for (si, ss) in scopeSpans.enumerated() {
                let sp = "\(rp).scopeSpans[\(si)]"
                guard case .object(let sso) = ss else { throw fail(sp, "expected an object") }
                var scope = SpanScope(name: "", version: "")
                if case .object(let sc)? = sso["scope"] ?? sso["instrumentationLibrary"] {
                    scope.name = sc["name"]?.stringValue ?? ""
                    scope.version = sc["version"]?.stringValue ?? ""
                }
                guard case .array(let spans) = sso["spans"] ?? .array([]) else { throw fail("\(sp).spans", "expected an array") }
                for (i, s) in spans.enumerated() {
                    let path = "\(sp).spans[\(i)]"
                    var decoded = try span(s, path: path, line: line, resource: resourceAttrs, scope: scope)
                    try SemanticConventions.apply(to: &decoded, path: path, line: line)
                    out.append(decoded)
                }
            }
        }
        return out
    }

    func span(_ v: JSONValue, path: String, line: Int, resource: [String: JSONValue], scope: SpanScope) throws -> Span {
        guard case .object(let o) = v else { throw OTLPDecodingError(line: line, field: path, message: "expected an object") }
        // Errors name the span (its name and id when readable) as well as the field path.
        let label = OTLPDecoder.spanLabel(o)
        func fail(_ field: String, _ msg: String) -> OTLPDecodingError {
            OTLPDecodingError(line: line, field: "\(path).\(field)", message: label.isEmpty ? msg : msg.isEmpty ? "(\(label))" : "\(msg) (\(label))")
        }
        func str(_ k: String, _ alt: String? = nil) throws -> String? {
            switch o[k] ?? alt.flatMap({ o[$0] }) {
            case nil, .null?: return nil
            case .string(let s)?: return s
            case let other?: throw fail(k, "expected a string, found \(other.typeName)")
            }
        }
        guard let traceRaw = try str("traceId", "trace_id"), !traceRaw.isEmpty else { throw fail("traceId", "missing") }
        guard let spanRaw = try str("spanId", "span_id"), !spanRaw.isEmpty else { throw fail("spanId", "missing") }
        let name = try str("name") ?? ""
        let start = try time(o["startTimeUnixNano"] ?? o["start_time_unix_nano"], fail("startTimeUnixNano", ""))
        let end = try time(o["endTimeUnixNano"] ?? o["end_time_unix_nano"], fail("endTimeUnixNano", ""))
        var status = SpanStatus(code: "STATUS_CODE_UNSET", message: "")
        if case .object(let st)? = o["status"] {
            status.code = try Self.enumName(st["code"], names: ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"], prefix: "STATUS_CODE_") ?? "STATUS_CODE_UNSET"
            status.message = st["message"]?.stringValue ?? ""
        }
        let kind = try Self.enumName(o["kind"], names: Self.kinds, prefix: "SPAN_KIND_") ?? "SPAN_KIND_UNSPECIFIED"
        var attrs: [String: JSONValue]
        do { attrs = try keyValues(o["attributes"], path: "\(path).attributes", line: line) } catch var e as OTLPDecodingError {
            if !label.isEmpty { e.message += " (\(label))" }
            throw e
        }
        if case .array(let events)? = o["events"], !events.isEmpty {
            let mapped: [JSONValue] = try events.enumerated().map { i, e in
                guard case .object(let eo) = e else { throw fail("events[\(i)]", "expected an object") }
                var m: [String: JSONValue] = ["name": .string(eo["name"]?.stringValue ?? "")]
                if let t = eo["timeUnixNano"] ?? eo["time_unix_nano"] { m["time"] = .string(try time(t, fail("events[\(i)].timeUnixNano", ""))) }
                let ea = try keyValues(eo["attributes"], path: "\(path).events[\(i)].attributes", line: line)
                if !ea.isEmpty { m["attributes"] = .object(ea) }
                return .object(m)
            }
            attrs["flywheel.otlp.events"] = .string(JSONValue.array(mapped).canonicalText)
        }
        if case .array(let links)? = o["links"], !links.isEmpty {
            let mapped: [JSONValue] = try links.enumerated().map { i, l in
                guard case .object(let lo) = l else { throw fail("links[\(i)]", "expected an object") }
                var m: [String: JSONValue] = [
                    "trace_id": .string(Self.normalizeID(lo["traceId"]?.stringValue ?? "", bytes: 16)),
                    "span_id": .string(Self.normalizeID(lo["spanId"]?.stringValue ?? "", bytes: 8)),
                ]
                let la = try keyValues(lo["attributes"], path: "\(path).links[\(i)].attributes", line: line)
                if !la.isEmpty { m["attributes"] = .object(la) }
                return .object(m)
            }
            attrs["flywheel.otlp.links"] = .string(JSONValue.array(mapped).canonicalText)
        }
        return Span(
            traceID: Self.normalizeID(traceRaw, bytes: 16), spanID: Self.normalizeID(spanRaw, bytes: 8),
            parentSpanID: Self.normalizeID(try str("parentSpanId", "parent_span_id") ?? "", bytes: 8),
            traceState: try str("traceState", "trace_state") ?? "", name: name, kind: kind, startTime: start,
            endTime: end, status: status, resourceAttributes: resource, scope: scope, attributes: attrs)
    }

    /// `span "name" 0123abcd…` for error messages (empty when neither is a string).
    static func spanLabel(_ o: JSONObject) -> String {
        let name = (o["name"]?.stringValue).map { "\"\(String($0.prefix(80)))\"" }
        let id = (o["spanId"] ?? o["span_id"])?.stringValue.map { normalizeID(String($0.prefix(40)), bytes: 8) }
        let parts = [name, id.map { "spanId \($0)" }].compactMap { $0 }
        return parts.isEmpty ? "" : "span " + parts.joined(separator: " ")
    }

    static let kinds = [
        "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER",
        "SPAN_KIND_CONSUMER",
    ]

    static func enumName(_ v: JSONValue?, names: [String], prefix: String) throws -> String? {
        switch v {
        case nil, .null?: return nil
        case .int(let i)?: return i >= 0 && Int(i) < names.count ? names[Int(i)] : "\(prefix)\(i)"
        case .string(let s)?:
            if let i = Int(s), i >= 0, i < names.count { return names[i] }
            return s.hasPrefix(prefix) ? s : prefix + s.uppercased()
        default: return nil
        }
    }

    func time(_ v: JSONValue?, _ err: OTLPDecodingError) throws -> String {
        var e = err
        func outOfRange(_ text: String) -> OTLPDecodingError {
            var r = e
            r.message = "\(text) is out of range: nanoseconds since the epoch must be 0…\(Int64.max) (1970 to 2262)"
                + (e.message.isEmpty ? "" : " \(e.message)")
            return r
        }
        switch v {
        case .string(let s)?:
            guard let n = Int64(s) else {
                if s.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) || (s.hasPrefix("-") && Int64(s.dropFirst()) != nil) || Double(s) != nil {
                    throw outOfRange(s)
                }
                e.message = "expected nanoseconds since the epoch, found \(quoted(s))" + (e.message.isEmpty ? "" : " \(e.message)")
                throw e
            }
            guard n >= 0 else { throw outOfRange(s) }
            return TraceTime.format(unixNanos: n)
        case .int(let n)?:
            guard n >= 0 else { throw outOfRange(String(n)) }
            return TraceTime.format(unixNanos: n)
        case .double(let d)?:
            // 2^63 is the first double past Int64.max; NaN and infinities fail the range too.
            guard d >= 0, d < 9_223_372_036_854_775_808.0 else { throw outOfRange("\(d)") }
            return TraceTime.format(unixNanos: Int64(d))
        case nil, .null?:
            e.message = "missing" + (e.message.isEmpty ? "" : " \(e.message)")
            throw e
        case let other?:
            e.message = "expected a string of nanoseconds, found \(other.typeName)" + (e.message.isEmpty ? "" : " \(e.message)")
            throw e
        }
    }

    /// Hex ids are lowercased; base64 ids of the right byte length become hex; anything else is kept.
    static func normalizeID(_ s: String, bytes: Int) -> String {
        if s.isEmpty { return "" }
        if s.utf8.count == bytes * 2, s.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x66) }) {
            return s.lowercased()
        }
        if let d = Data(base64Encoded: s), d.count == bytes {
            return TraceIDs.hexString(Array(d))
        }
        return s
    }

    /// OTLP `KeyValue[]` → a JSON object (a plain object is accepted as is).
    func keyValues(_ v: JSONValue?, path: String, line: Int) throws -> [String: JSONValue] {
        switch v {
        case nil, .null?: return [:]
        case .object(let o)?: return o.dictionary
        case .array(let kvs)?:
            var out: [String: JSONValue] = [:]
            for (i, kv) in kvs.enumerated() {
                guard case .object(let o) = kv, case .string(let key)? = o["key"] else {
                    throw OTLPDecodingError(line: line, field: "\(path)[\(i)]", message: "expected {\"key\",\"value\"}")
                }
                out[key] = try anyValue(o["value"], path: "\(path)[\(i)].value", line: line)
            }
            return out
        case let other?:
            throw OTLPDecodingError(line: line, field: path, message: "expected a KeyValue array, found \(other.typeName)")
        }
    }

    /// OTLP `AnyValue` → plain JSON.
    func anyValue(_ v: JSONValue?, path: String, line: Int) throws -> JSONValue {
        guard case .object(let o)? = v else { return v ?? .null }
        if let s = o["stringValue"] ?? o["string_value"] { return s }
        if let b = o["boolValue"] ?? o["bool_value"] { return b }
        if let i = o["intValue"] ?? o["int_value"] {
            switch i {
            case .int: return i
            case .string(let s):
                guard let n = Int64(s) else {
                    throw OTLPDecodingError(
                        line: line, field: "\(path).intValue",
                        message: "not an integer in the int64 range (\(Int64.min)…\(Int64.max)): \(quoted(String(s.prefix(40))))")
                }
                return .int(n)
            case .double(let d):
                guard d.rounded() == d, d >= -9_223_372_036_854_775_808.0, d < 9_223_372_036_854_775_808.0 else {
                    throw OTLPDecodingError(
                        line: line, field: "\(path).intValue",
                        message: "\(d) is not an integer in the int64 range (\(Int64.min)…\(Int64.max))")
                }
                return .int(Int64(d))
            default: throw OTLPDecodingError(line: line, field: "\(path).intValue", message: "not an integer")
            }
        }
        if let d = o["doubleValue"] ?? o["double_value"] {
            switch d {
            case .int(let i): return .double(Double(i))
            case .string(let s):
                // Proto3 JSON writes non-finite doubles as "NaN", "Infinity", "-Infinity"; they stay strings (JSON
                // has no such numbers).
                guard let v = Double(s) else {
                    throw OTLPDecodingError(line: line, field: "\(path).doubleValue", message: "not a number: \(quoted(String(s.prefix(40))))")
                }
                return v.isFinite ? .double(v) : .string(s)
            case .double: return d
            default: throw OTLPDecodingError(line: line, field: "\(path).doubleValue", message: "expected a number, found \(d.typeName)")
            }
        }
        if let a = o["arrayValue"] ?? o["array_value"] {
            guard case .array(let values)? = a["values"] ?? .array([]) else { return .array([]) }
            return .array(try values.enumerated().map { try anyValue($1, path: "\(path).arrayValue.values[\($0)]", line: line) })
        }
        if let kv = o["kvlistValue"] ?? o["kvlist_value"] {
            return .object(try keyValues(kv["values"] ?? .array([]), path: "\(path).kvlistValue.values", line: line))
        }
        if let b = o["bytesValue"] ?? o["bytes_value"] { return b }
        return .null
    }
}

// MARK: - Import

/// The input formats of `traces import`.
public enum TraceInputFormat: String, Sendable, Hashable, Codable {
    /// HALO JSONL; `otlp-json`: an OTLP/JSON `ExportTraceServiceRequest` or `ExportLogsServiceRequest` (or JSONL of
    /// them); `otlp-protobuf`: either request in protobuf. OTLP files may be gzip-compressed.
    case halo, otlpJSON = "otlp-json", otlpProtobuf = "otlp-protobuf"

    /// The largest decompressed size of a gzip-compressed OTLP file (1 GiB).
    public static let maxDecompressedBytes = 1 << 30

    /// Guesses the format: a document (or first line) that is an object with `resourceSpans` or `resourceLogs` is
    /// OTLP/JSON; bytes that start like a protobuf request (field 1, length-delimited) are OTLP protobuf; gzip is
    /// looked into.
    public static func detect(_ data: Data) -> TraceInputFormat {
        if OTLPPayload.isGzip(data) {
            guard let plain = try? OTLPPayload.decompress(data, contentEncoding: "gzip", maxBytes: maxDecompressedBytes) else { return .halo }
            let inner = detect(plain)
            return inner == .halo ? .halo : inner
        }
        if let first = data.first, first == 0x0A { return .otlpProtobuf }
        let head = data.prefix(4096)
        let text = String(decoding: head, as: UTF8.self)
        let trimmed = text.drop { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" }
        if trimmed.hasPrefix("{"), let r = trimmed.range(of: "\""),
            ["resourceSpans", "resource_spans", "resourceLogs", "resource_logs"].contains(where: { trimmed[r.upperBound...].hasPrefix($0) })
        {
            return .otlpJSON
        }
        return .halo
    }
}

/// The result of importing traces: normalized spans, what was dropped and why, and the bytes to commit.
public struct TraceImportResult: Sendable {
    public var format: TraceInputFormat
    /// The spans to keep, in input order.
    public var spans: [Span]
    /// Validation of the input (HALO input only; OTLP input is validated after conversion).
    public var report: TraceValidationReport
    /// Lines left out (with `skipInvalid`).
    public var dropped: [TraceIssue]
    /// Secrets removed (when a redactor was given).
    public var redaction: RedactionReport
    /// The spans in the writer's exact format.
    public var normalizedData: Data { SpanWriter.data(spans) }
}

/// Imports trace files (HALO JSONL as is, or OTLP/JSON) and normalizes them to the writer's exact format.
public enum TraceImporter {
    /// Imports `data`. HALO input with errors is refused (``TraceStoreError/invalidDataset(_:)``) unless
    /// `skipInvalid`, which drops each bad line and reports it. A redactor, when given, cleans every span.
    public static func importData(
        _ data: Data, name: String = "traces.jsonl", format: TraceInputFormat? = nil, skipInvalid: Bool = false,
        redactor: Redactor? = nil, options: TraceValidationOptions = .init()
    ) throws -> TraceImportResult {
        let fmt = format ?? TraceInputFormat.detect(data)
        var spans: [Span]
        var report: TraceValidationReport
        var dropped: [TraceIssue] = []
        switch fmt {
        case .otlpJSON, .otlpProtobuf:
            do {
                var plain = data
                if OTLPPayload.isGzip(data) {
                    do {
                        plain = try OTLPPayload.decompress(data, contentEncoding: "gzip", maxBytes: TraceInputFormat.maxDecompressedBytes)
                    } catch {
                        throw OTLPDecodingError(line: 1, field: "<file>", message: error.description)
                    }
                }
                spans = fmt == .otlpJSON ? try decodeOTLPJSON(plain) : try OTLPPayload.decodeProtobufFile(plain)
            } catch let e as OTLPDecodingError {
                let issue = TraceIssue(
                    file: name, line: e.line, byteOffset: 0, severity: .error, field: e.field, code: "otlp_invalid",
                    message: e.message)
                throw TraceStoreError.invalidDataset(
                    TraceValidationReport(
                        files: [TraceFileReport(file: name, verdict: "failed", spansOK: 0, errors: 1, warnings: 0, notes: 0, problems: [issue])],
                        issues: [issue], ok: false))
            }
            report = TraceValidator.validate(data: SpanWriter.data(spans), name: name, options: options)
        case .halo:
            let store = try TraceStore(data: data, name: name, options: options, skipInvalid: true)
            report = store.validation
            dropped = report.errors
            if !dropped.isEmpty, !skipInvalid { throw TraceStoreError.invalidDataset(report) }
            spans = try store.allSpans()
        }
        var redaction = RedactionReport()
        if let redactor {
            spans = spans.map { redactor.redact($0, report: &redaction) }
        }
        return TraceImportResult(format: fmt, spans: spans, report: report, dropped: dropped, redaction: redaction)
    }

    /// Imports a file.
    public static func importFile(
        _ url: URL, format: TraceInputFormat? = nil, skipInvalid: Bool = false, redactor: Redactor? = nil,
        options: TraceValidationOptions = .init()
    ) throws -> TraceImportResult {
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw TraceStoreError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        return try importData(data, name: url.path, format: format, skipInvalid: skipInvalid, redactor: redactor, options: options)
    }
}

// MARK: - Streaming reader

/// One line of a JSONL file: its 1-based number, byte offset and bytes (without `\n`).
public struct JSONLLine: Sendable, Hashable {
    public var number: Int
    public var byteOffset: Int
    public var bytes: [UInt8]
}

/// Reads a JSONL file line by line in fixed-size chunks (never the whole file, never a String of it).
public final class JSONLLineReader {
    let handle: FileHandle
    var buffer: [UInt8] = []
    var start = 0
    var eof = false
    var lineNumber = 0
    var offset = 0
    let chunkSize: Int

    /// Opens `url` for reading.
    public init(url: URL, chunkSize: Int = 1 << 20) throws {
        do { handle = try FileHandle(forReadingFrom: url) } catch {
            throw TraceStoreError.unreadable(path: url.path, reason: error.localizedDescription)
        }
        self.chunkSize = chunkSize
    }

    deinit { try? handle.close() }

    /// The next line, or nil at the end of the file. An empty final segment after the last `\n` is not a line.
    public func next() throws -> JSONLLine? {
        while true {
            if let nl = buffer[start...].firstIndex(of: 0x0A) {
                let line = Array(buffer[start..<nl])
                lineNumber += 1
                let l = JSONLLine(number: lineNumber, byteOffset: offset, bytes: line)
                offset += nl - start + 1
                start = nl + 1
                return l
            }
            if eof {
                guard start < buffer.count else { return nil }
                let line = Array(buffer[start...])
                lineNumber += 1
                let l = JSONLLine(number: lineNumber, byteOffset: offset, bytes: line)
                offset += line.count
                start = buffer.count
                return l
            }
            if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            let chunk = try handle.read(upToCount: chunkSize) ?? Data()
            if chunk.isEmpty { eof = true } else { buffer.append(contentsOf: chunk) }
        }
    }
}

/// Streams the spans of a HALO JSONL file: `body` gets each non-empty line's number and either the span or why the
/// line is not one. Reads in chunks; memory stays bounded by the longest line.
public func forEachSpan(
    inFile url: URL, _ body: (_ line: Int, _ result: Result<Span, SpanDecodingError>) throws -> Void
) throws {
    let reader = try JSONLLineReader(url: url)
    while let line = try reader.next() {
        if line.bytes.isEmpty { continue }
        let result: Result<Span, SpanDecodingError>
        do {
            if line.number == 1, line.bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
                throw SpanDecodingError(code: "bom", field: "<line>", message: "the file starts with a BOM")
            }
            result = .success(try line.bytes.withUnsafeBytes { try Span(line: $0) })
        } catch let e as SpanDecodingError {
            result = .failure(e)
        }
        try body(line.number, result)
    }
}
