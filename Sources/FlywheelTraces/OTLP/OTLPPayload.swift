import FlywheelSupport
import Foundation
import Inflate

/// The two OTLP/HTTP signals Flywheel reads.
public enum OTLPSignal: String, Sendable, Hashable {
    case traces, logs

    /// `/v1/traces` or `/v1/logs`.
    public var path: String { "/v1/\(rawValue)" }
}

/// Why an OTLP/HTTP body was refused, with the HTTP status to answer.
public struct OTLPPayloadError: Error, Sendable, Hashable, CustomStringConvertible {
    /// 400, 413 or 415.
    public var status: Int
    public var message: String
    public var description: String { message }
}

/// Decoding of OTLP/HTTP bodies, shared by the receiver and `traces import`: the two encodings
/// (`application/x-protobuf`, `application/json`), `Content-Encoding` gzip / deflate / identity, with the body limit
/// applied after decompression.
public enum OTLPPayload {
    /// The encodings of OTLP/HTTP.
    public enum Encoding: String, Sendable {
        case json, protobuf
    }

    /// The encoding a `Content-Type` names, or nil for anything else (415). Parameters (`; charset=utf-8`) are
    /// ignored; no content type at all is nil too: browsers send CORS-safelisted types (`text/plain`, form types)
    /// or none from a no-cors fetch, so accepting only these two keeps a web page from posting spans.
    public static func encoding(contentType: String?) -> Encoding? {
        guard let contentType else { return nil }
        let media = contentType.split(separator: ";", maxSplits: 1).first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        } ?? ""
        switch media {
        case "application/json": return .json
        case "application/x-protobuf", "application/protobuf": return .protobuf
        default: return nil
        }
    }

    /// Expands the body per `Content-Encoding`; refuses more than `maxBytes` of output (413) and unknown codings (415).
    public static func decompress(_ body: Data, contentEncoding: String?, maxBytes: Int) throws(OTLPPayloadError) -> Data {
        let coding = (contentEncoding ?? "").trimmingCharacters(in: .whitespaces).lowercased()
        let format: Inflater.Format
        switch coding {
        case "", "identity":
            guard body.count <= maxBytes else { throw tooLarge(maxBytes) }
            return body
        case "gzip", "x-gzip": format = .gzip
        case "deflate": format = .deflate
        default:
            throw OTLPPayloadError(status: 415, message: "unsupported Content-Encoding \(coding.prefix(40)): send gzip, deflate or identity")
        }
        let result: Result<Data, InflateError>
        do { result = .success(try Inflater.decompress(body, format: format, maxOutput: maxBytes)) } catch { result = .failure(error) }
        switch result {
        case .success(let d): return d
        case .failure(.tooLarge): throw tooLarge(maxBytes)
        case .failure(.corrupt(let why)): throw OTLPPayloadError(status: 400, message: "Content-Encoding \(coding): \(why)")
        }
    }

    static func tooLarge(_ limit: Int) -> OTLPPayloadError {
        OTLPPayloadError(status: 413, message: "the request body is over the limit of \(limit) bytes after decompression (--max-body-bytes)")
    }

    /// Decodes an uncompressed body of `signal` into spans (log records are mapped by ``OTLPLogMapper``).
    public static func decode(_ body: Data, encoding: Encoding, signal: OTLPSignal) throws -> [Span] {
        switch encoding {
        case .protobuf:
            return try decodeOTLPProtobuf(body, logs: signal == .logs)
        case .json:
            let doc: JSONValue
            do { doc = try JSONValue.parse(body) } catch let e as JSONScanError {
                throw OTLPDecodingError(line: 1, field: "<body>", message: "invalid JSON: \(e.description)")
            }
            let key = signal == .logs ? "resourceLogs" : "resourceSpans"
            guard case .object(let root) = doc, root[key] != nil || root[signal == .logs ? "resource_logs" : "resource_spans"] != nil else {
                throw OTLPDecodingError(
                    line: 1, field: key,
                    message: "missing: POST \(signal.path) takes an OTLP Export\(signal == .logs ? "Logs" : "Trace")ServiceRequest")
            }
            return try OTLPDecoder().decode(request: doc, line: 1)
        }
    }

    /// True when `data` starts with the gzip magic bytes.
    public static func isGzip(_ data: Data) -> Bool {
        data.count >= 2 && data[data.startIndex] == 0x1F && data[data.startIndex + 1] == 0x8B
    }

    /// Decodes a protobuf file of either signal: an `ExportTraceServiceRequest` whose spans have ids or names, else
    /// an `ExportLogsServiceRequest` (the two share field numbers, so a logs request also parses as empty spans).
    public static func decodeProtobufFile(_ data: Data) throws -> [Span] {
        if let req = try? OTLPProtobuf.TraceRequest(serializedBytes: data, options: OTLPProtobuf.parseOptions()) {
            let looksLikeSpans = req.resourceSpans.contains { rs in
                rs.scopeSpans.contains { ss in ss.spans.contains { !$0.traceID.isEmpty || !$0.spanID.isEmpty || !$0.name.isEmpty } }
            }
            if looksLikeSpans || req.resourceSpans.allSatisfy({ $0.scopeSpans.allSatisfy { $0.spans.isEmpty } }) {
                return try decodeOTLPProtobuf(data, logs: false)
            }
        }
        if (try? OTLPProtobuf.LogsRequest(serializedBytes: data, options: OTLPProtobuf.parseOptions())) != nil {
            return try decodeOTLPProtobuf(data, logs: true)
        }
        throw OTLPDecodingError(
            line: 1, field: "<file>", message: "neither an OTLP ExportTraceServiceRequest nor an ExportLogsServiceRequest in protobuf")
    }
}
