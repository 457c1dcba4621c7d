import FlywheelSupport
import Foundation

/// OTel span status as HALO stores it: `code` (`STATUS_CODE_OK`, `STATUS_CODE_ERROR`, `STATUS_CODE_UNSET`) and a message.
public struct SpanStatus: Sendable, Hashable, Codable {
    public var code: String
    public var message: String
    public init(code: String, message: String = "") {
        self.code = code
        self.message = message
    }
    public static let ok = SpanStatus(code: "STATUS_CODE_OK")
    public static let unset = SpanStatus(code: "STATUS_CODE_UNSET")
    public static func error(_ message: String) -> SpanStatus { SpanStatus(code: "STATUS_CODE_ERROR", message: message) }
}

/// The instrumentation scope of a span (`name`, `version`).
public struct SpanScope: Sendable, Hashable, Codable {
    public var name: String
    public var version: String
    public init(name: String, version: String = "") {
        self.name = name
        self.version = version
    }
}

/// One span: a line of a HALO trace JSONL file (spec §2). Unknown top-level keys are kept in `extra`, so
/// read → write keeps every JSON value.
public struct Span: Sendable, Hashable, Codable {
    public var traceID: String
    public var spanID: String
    /// `""` for a root span.
    public var parentSpanID: String
    public var traceState: String
    public var name: String
    /// `SPAN_KIND_INTERNAL`, `SPAN_KIND_CLIENT`, … (not checked).
    public var kind: String
    /// UTC `YYYY-MM-DDTHH:MM:SS.fffffffffZ` when Flywheel writes it; any string when read.
    public var startTime: String
    public var endTime: String
    public var status: SpanStatus
    /// `resource.attributes` (e.g. `service.name`).
    public var resourceAttributes: [String: JSONValue]
    public var scope: SpanScope
    public var attributes: [String: JSONValue]
    /// Top-level keys outside the schema (e.g. `events`, `links`), kept as read.
    public var extra: [String: JSONValue]

    public init(
        traceID: String, spanID: String, parentSpanID: String = "", traceState: String = "", name: String,
        kind: String, startTime: String, endTime: String, status: SpanStatus,
        resourceAttributes: [String: JSONValue] = [:], scope: SpanScope, attributes: [String: JSONValue] = [:],
        extra: [String: JSONValue] = [:]
    ) {
        self.traceID = traceID
        self.spanID = spanID
        self.parentSpanID = parentSpanID
        self.traceState = traceState
        self.name = name
        self.kind = kind
        self.startTime = startTime
        self.endTime = endTime
        self.status = status
        self.resourceAttributes = resourceAttributes
        self.scope = scope
        self.attributes = attributes
        self.extra = extra
    }

    /// The twelve top-level keys in writer order (spec §2).
    public static let topLevelKeys = [
        "trace_id", "span_id", "parent_span_id", "trace_state", "name", "kind", "start_time", "end_time", "status",
        "resource", "scope", "attributes",
    ]

    /// The `service.name` resource attribute when it is a string.
    public var serviceName: String? { resourceAttributes["service.name"]?.stringValue }

    // MARK: - Codable (the JSON line shape)

    public init(from decoder: any Decoder) throws {
        let value = try JSONValue(from: decoder)
        self = try Span(json: value)
    }

    public func encode(to encoder: any Encoder) throws {
        try jsonValue.encode(to: encoder)
    }
}

/// Why a JSON value is not a span HALO accepts: a field path and a reason.
public struct SpanDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// `code` of the problem (`missing`, `wrong_type`, `extra_key`, `not_object`, `invalid_json`).
    public var code: String
    /// Path such as `status.message`.
    public var field: String
    public var message: String
    public var description: String { "\(field): \(message)" }
}

// MARK: - JSON conversion

extension Span {
    /// Builds a span from a parsed JSON object with HALO's rules: required keys must be present with the right
    /// type (`null` is a wrong type), `status`/`resource`/`scope` allow no other keys, defaults fill the rest.
    public init(json: JSONValue) throws {
        guard case .object(let o) = json else {
            throw SpanDecodingError(code: "not_object", field: "<line>", message: "a span must be a JSON object")
        }
        func str(_ key: String, _ dict: JSONObject, path: String, default def: String? = nil) throws -> String {
            guard let v = dict[key] else {
                if let def { return def }
                throw SpanDecodingError(code: "missing", field: path, message: "required field is missing")
            }
            guard case .string(let s) = v else {
                throw SpanDecodingError(code: "wrong_type", field: path, message: "expected a string, found \(v.typeName)")
            }
            return s
        }
        func obj(_ key: String, _ dict: JSONObject, path: String) throws -> JSONObject {
            guard let v = dict[key] else {
                throw SpanDecodingError(code: "missing", field: path, message: "required field is missing")
            }
            guard case .object(let d) = v else {
                throw SpanDecodingError(code: "wrong_type", field: path, message: "expected an object, found \(v.typeName)")
            }
            return d
        }
        func noExtra(_ d: JSONObject, allowed: Set<String>, path: String) throws {
            if let k = d.keys.filter({ !allowed.contains($0) }).sorted().first {
                throw SpanDecodingError(code: "extra_key", field: "\(path).\(k)", message: "extra key not permitted in \(path)")
            }
        }
        // Checked in the order of the keys (§2), so the first problem reported is the first field.
        let traceID = try str("trace_id", o, path: "trace_id")
        let spanID = try str("span_id", o, path: "span_id")
        let parentSpanID = try str("parent_span_id", o, path: "parent_span_id", default: "")
        let traceState = try str("trace_state", o, path: "trace_state", default: "")
        let name = try str("name", o, path: "name")
        let kind = try str("kind", o, path: "kind")
        let startTime = try str("start_time", o, path: "start_time")
        let endTime = try str("end_time", o, path: "end_time")
        let statusObj = try obj("status", o, path: "status")
        try noExtra(statusObj, allowed: ["code", "message"], path: "status")
        let status = SpanStatus(
            code: try str("code", statusObj, path: "status.code"),
            message: try str("message", statusObj, path: "status.message", default: ""))
        let resourceObj = try obj("resource", o, path: "resource")
        try noExtra(resourceObj, allowed: ["attributes"], path: "resource")
        let resourceAttributes = try obj("attributes", resourceObj, path: "resource.attributes")
        let scopeObj = try obj("scope", o, path: "scope")
        try noExtra(scopeObj, allowed: ["name", "version"], path: "scope")
        let scope = SpanScope(
            name: try str("name", scopeObj, path: "scope.name"),
            version: try str("version", scopeObj, path: "scope.version", default: ""))
        let attributes = try obj("attributes", o, path: "attributes")
        self.init(
            traceID: traceID, spanID: spanID, parentSpanID: parentSpanID, traceState: traceState, name: name,
            kind: kind, startTime: startTime, endTime: endTime, status: status,
            resourceAttributes: resourceAttributes.dictionary, scope: scope, attributes: attributes.dictionary,
            extra: o.filter { !Span.topLevelKeySet.contains($0.key) }.dictionary)
    }

    static let topLevelKeySet = Set(topLevelKeys)

    /// Parses one JSONL line (raw bytes, without the newline) into a span; nesting deeper than HALO's parser
    /// accepts (201 levels) is an error.
    public init(line: UnsafeRawBufferPointer, maxDepth: Int = 201) throws {
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes: line, maxDepth: maxDepth)
        } catch let e as JSONScanError {
            throw SpanDecodingError(code: "invalid_json", field: "<line>", message: e.description)
        }
        try self.init(json: value)
    }

    /// Parses one JSONL line given as text.
    public init(line: String) throws {
        var t = line
        self = try t.withUTF8 { try Span(line: UnsafeRawBufferPointer($0)) }
    }

    /// The span as a JSON object (defaults filled in, extra keys included).
    public var jsonValue: JSONValue {
        var o = extra
        o["trace_id"] = .string(traceID)
        o["span_id"] = .string(spanID)
        o["parent_span_id"] = .string(parentSpanID)
        o["trace_state"] = .string(traceState)
        o["name"] = .string(name)
        o["kind"] = .string(kind)
        o["start_time"] = .string(startTime)
        o["end_time"] = .string(endTime)
        o["status"] = .object(["code": .string(status.code), "message": .string(status.message)])
        o["resource"] = .object(["attributes": .object(resourceAttributes)])
        o["scope"] = .object(["name": .string(scope.name), "version": .string(scope.version)])
        o["attributes"] = .object(attributes)
        return .object(o)
    }

    /// The exact line Flywheel writes (without the trailing `\n`): compact JSON, the twelve keys in §2 order, then
    /// extra keys sorted; nested keys sorted by UTF-8 bytes; `/` unescaped; raw UTF-8 except U+2028/U+2029.
    public var jsonLine: String {
        // One writer: the byte writer import uses (so the two can never drift apart).
        var out: [UInt8] = []
        out.reserveCapacity(512)
        writeJSONLine(to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}

extension Span {
    /// Appends ``jsonLine``'s exact bytes (without the `\n`) to `out`, without building a String (import's hot path).
    public func writeJSONLine(to out: inout [UInt8]) {
        func key(_ k: StaticString, first: Bool = false) {
            if !first { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            k.withUTF8Buffer { out.append(contentsOf: $0) }
            out.append(contentsOf: "\":".utf8)
        }
        out.append(UInt8(ascii: "{"))
        key("trace_id", first: true); JSONValue.writeString(traceID, to: &out)
        key("span_id"); JSONValue.writeString(spanID, to: &out)
        key("parent_span_id"); JSONValue.writeString(parentSpanID, to: &out)
        key("trace_state"); JSONValue.writeString(traceState, to: &out)
        key("name"); JSONValue.writeString(name, to: &out)
        key("kind"); JSONValue.writeString(kind, to: &out)
        key("start_time"); JSONValue.writeString(startTime, to: &out)
        key("end_time"); JSONValue.writeString(endTime, to: &out)
        key("status")
        out.append(contentsOf: "{\"code\":".utf8)
        JSONValue.writeString(status.code, to: &out)
        out.append(contentsOf: ",\"message\":".utf8)
        JSONValue.writeString(status.message, to: &out)
        out.append(UInt8(ascii: "}"))
        key("resource")
        out.append(contentsOf: "{\"attributes\":".utf8)
        JSONValue.object(resourceAttributes).write(to: &out)
        out.append(UInt8(ascii: "}"))
        key("scope")
        out.append(contentsOf: "{\"name\":".utf8)
        JSONValue.writeString(scope.name, to: &out)
        out.append(contentsOf: ",\"version\":".utf8)
        JSONValue.writeString(scope.version, to: &out)
        out.append(UInt8(ascii: "}"))
        key("attributes")
        JSONValue.object(attributes).write(to: &out)
        for k in extra.keys.sorted(by: JSONValue.bytesLess) {
            out.append(UInt8(ascii: ","))
            JSONValue.writeString(k, to: &out)
            out.append(UInt8(ascii: ":"))
            extra[k]!.write(to: &out)
        }
        out.append(UInt8(ascii: "}"))
    }
}

extension JSONValue {
    /// `null`, `bool`, `int`, `float`, `string`, `array` or `object`.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    /// Orders strings by their UTF-8 bytes (= code point order), as the writer sorts keys.
    public static func utf8Less(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }
}

// MARK: - Writing files

/// Writes spans as HALO JSONL exactly as the spec asks: UTF-8, no BOM, one compact line per span ending in `\n`.
public enum SpanWriter {
    /// The bytes of `spans` as JSONL (each line followed by `\n`).
    public static func data(_ spans: [Span]) -> Data {
        var out: [UInt8] = []
        for s in spans {
            s.writeJSONLine(to: &out)
            out.append(0x0A)
        }
        return Data(out)
    }

    /// Writes (or appends to) a JSONL file.
    public static func write(_ spans: [Span], to url: URL, append: Bool = false) throws {
        let bytes = data(spans)
        if append, FileManager.default.fileExists(atPath: url.path) {
            let h = try FileHandle(forWritingTo: url)
            defer { try? h.close() }
            try h.seekToEnd()
            try h.write(contentsOf: bytes)
        } else {
            try bytes.write(to: url, options: .atomic)
        }
    }
}

// MARK: - Timestamps

/// HALO timestamps: UTC `YYYY-MM-DDTHH:MM:SS.fffffffffZ`, always 9 fractional digits.
public enum TraceTime {
    /// Formats nanoseconds since the Unix epoch.
    public static func format(unixNanos: Int64) -> String {
        var secs = unixNanos / 1_000_000_000
        var nanos = unixNanos % 1_000_000_000
        if nanos < 0 {
            nanos += 1_000_000_000
            secs -= 1
        }
        var days = secs / 86400
        var rem = secs % 86400
        if rem < 0 {
            rem += 86400
            days -= 1
        }
        let (y, m, d) = civil(fromDays: days)
        func pad(_ v: Int64, _ w: Int) -> String {
            let s = String(v)
            return s.count >= w ? s : String(repeating: "0", count: w - s.count) + s
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(rem / 3600, 2)):\(pad(rem / 60 % 60, 2)):\(pad(rem % 60, 2)).\(pad(nanos, 9))Z"
    }

    /// Formats a `Date` (microsecond precision, padded with `000`).
    public static func format(_ date: Date) -> String {
        // Dates outside 1970…2262 (a hostile SOURCE_DATE_EPOCH, say) are clamped, never a trap.
        let micros = (date.timeIntervalSince1970 * 1_000_000).rounded()
        guard micros.isFinite, micros > 0 else { return format(unixNanos: 0) }
        guard micros < Double(Int64.max / 1000) else { return format(unixNanos: Int64.max / 1000 * 1000) }
        return format(unixNanos: Int64(micros) * 1000)
    }

    /// The current time, read from a microsecond clock.
    public static func now() -> String { format(unixNanos: nowNanos()) }

    /// Nanoseconds since the epoch (microsecond resolution).
    public static func nowNanos() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1_000_000).rounded()) * 1000
    }

    /// The decimal number written by the ASCII digits `b[r]`; nil when one is not a digit.
    @inline(__always) static func decimal(_ b: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Int64? {
        var v: Int64 = 0
        for i in r {
            guard b[i] >= 0x30, b[i] <= 0x39 else { return nil }
            v = v * 10 + Int64(b[i] - 0x30)
        }
        return v
    }

    /// Parses a 9-digit HALO timestamp back to nanoseconds; nil if it is not in that exact format.
    public static func parse(_ s: String) -> Int64? {
        var s = s
        return s.withUTF8 { parse(utf8: $0) }
    }

    /// ``parse(_:)`` of UTF-8 bytes.
    public static func parse(utf8 b: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard b.count == 30, b[4] == 0x2D, b[7] == 0x2D, b[10] == 0x54, b[13] == 0x3A, b[16] == 0x3A, b[19] == 0x2E,
            b[29] == 0x5A
        else { return nil }
        func num(_ r: Range<Int>) -> Int64? { decimal(b, r) }
        guard let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13),
            let mi = num(14..<16), let se = num(17..<19), let ns = num(20..<29),
            (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, se < 61
        else { return nil }
        // Nanoseconds since 1970 fit Int64 only from 1677-09-21 to 2262-04-11: outside, nil (never a trap).
        let days = daysFromCivil(y, mo, d)
        let secs = days * 86400 + h * 3600 + mi * 60 + se
        // Before 1970 the seconds are borrowed from first, so Int64.min itself is reachable.
        let borrow: Int64 = secs < 0 ? 1 : 0
        let (n, o1) = (secs + borrow).multipliedReportingOverflow(by: 1_000_000_000)
        let (t, o2) = n.addingReportingOverflow(ns - borrow * 1_000_000_000)
        return o1 || o2 ? nil : t
    }

    /// Parses a UTC time written by others, leniently: `YYYY-MM-DD[T ]HH:MM:SS[.f…][Z]` with any number of fraction
    /// digits (the first nine count), to nanoseconds since 1970; nil for any other shape or outside 1970–2250. The
    /// site's trace timelines and diagnosis' latency figures read times this way; ``parse(_:)`` is the exact 9-digit
    /// form Flywheel writes.
    public static func nanoseconds(lenient s: String) -> Int64? {
        var s = s
        return s.withUTF8 { nanoseconds(lenientUTF8: $0) }
    }

    /// ``nanoseconds(lenient:)`` of UTF-8 bytes.
    public static func nanoseconds(lenientUTF8 u: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard u.count >= 19, u[4] == 0x2D, u[7] == 0x2D, u[10] == 0x54 || u[10] == 0x20, u[13] == 0x3A, u[16] == 0x3A else {
            return nil
        }
        func num(_ r: Range<Int>) -> Int64? { decimal(u, r) }
        guard let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13), let mi = num(14..<16),
            let se = num(17..<19),
            // Within these years nanoseconds since 1970 and their differences fit in 64 bits.
            (1970...2250).contains(y), (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, se < 61
        else { return nil }
        var frac: Int64 = 0
        var i = 19
        if i < u.count, u[i] == 0x2E {
            i += 1
            var digits = 0
            while i < u.count, u[i] >= 0x30, u[i] <= 0x39 {
                if digits < 9 { frac = frac * 10 + Int64(u[i] - 0x30); digits += 1 }
                i += 1
            }
            while digits < 9 { frac *= 10; digits += 1 }
        }
        return (daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se) * 1_000_000_000 + frac
    }

    /// True when `s` has the 9-digit UTC shape but lies outside what nanoseconds since 1970 in 64 bits can hold
    /// (before 1677-09-21T00:12:43.145224192Z or after 2262-04-11T23:47:16.854775807Z).
    public static func isOutOfRange(_ s: String) -> Bool {
        guard parse(s) == nil, s.utf8.count == 30 else { return false }
        // Same shape with an in-range year: then only the year was the problem.
        var probe = Array(s.utf8)
        for (i, b) in "2000".utf8.enumerated() { probe[i] = b }
        return parse(String(decoding: probe, as: UTF8.self)) != nil
    }

    /// `end - start` in nanoseconds, nil when either is not a representable timestamp or the difference overflows.
    public static func duration(from start: String, to end: String) -> Int64? {
        guard let s = parse(start), let e = parse(end) else { return nil }
        let (d, o) = e.subtractingReportingOverflow(s)
        return o ? nil : d
    }

    /// True when `s` is a valid 9-digit UTC timestamp.
    public static func isCanonical(_ s: String) -> Bool { parse(s) != nil }

    // Howard Hinnant's civil-from-days algorithms.
    static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    static func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }
}

// MARK: - Ids

/// Trace and span ids as Flywheel generates them: 32 / 16 lowercase hex digits, never all zeros.
public enum TraceIDs {
    /// A new random 32-hex trace id.
    public static func newTraceID() -> String {
        var g = SystemRandomNumberGenerator()
        return newTraceID(using: &g)
    }
    /// A new random 16-hex span id.
    public static func newSpanID() -> String {
        var g = SystemRandomNumberGenerator()
        return newSpanID(using: &g)
    }
    /// A 32-hex trace id from `generator` (deterministic with a seeded generator).
    public static func newTraceID<G: RandomNumberGenerator>(using generator: inout G) -> String {
        hex(bytes: 16, using: &generator)
    }
    /// A 16-hex span id from `generator`.
    public static func newSpanID<G: RandomNumberGenerator>(using generator: inout G) -> String {
        hex(bytes: 8, using: &generator)
    }

    static func hex<G: RandomNumberGenerator>(bytes n: Int, using g: inout G) -> String {
        while true {
            var bytes = [UInt8]()
            for _ in 0..<n { bytes.append(UInt8.random(in: 0...255, using: &g)) }
            if bytes.contains(where: { $0 != 0 }) { return hexString(bytes) }
        }
    }

    static func hexString(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// True for a 32-lowercase-hex, not-all-zero trace id.
    public static func isCanonicalTraceID(_ s: String) -> Bool { isHex(s, count: 32) }
    /// True for a 16-lowercase-hex, not-all-zero span id.
    public static func isCanonicalSpanID(_ s: String) -> Bool { isHex(s, count: 16) }
    /// ``isCanonicalSpanID(_:)`` of an id's UTF-8 bytes.
    static func isCanonicalSpanID(utf8 b: UnsafeBufferPointer<UInt8>) -> Bool { b.count == 16 && isHex(b) }

    static func isHex(_ s: String, count: Int) -> Bool {
        let u = s.utf8
        guard u.count == count else { return false }
        // Over the contiguous bytes (the scan checks every span's ids; iterating the UTF-8 view was slower).
        return u.withContiguousStorageIfAvailable { isHex($0) } ?? Array(u).withUnsafeBufferPointer { isHex($0) }
    }

    /// Lowercase hex digits, not all zero.
    static func isHex(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        var nonZero = false
        for c in b {
            switch c {
            case 0x30: break
            case 0x31...0x39, 0x61...0x66: nonZero = true
            default: return false
            }
        }
        return nonZero
    }
}
