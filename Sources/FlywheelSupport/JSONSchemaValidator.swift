import Foundation

/// A compact JSON Schema draft-07 validator with Ajv v8's behaviour where Promptfoo relies on it:
/// strict (unknown keywords and other drafts are errors), ajv-formats formats, first error only,
/// messages `data<instancePath> <msg>` (e.g. `data/latitude must be number`).
public struct JSONSchemaValidator: Sendable {
    /// A schema Ajv would refuse to compile (unknown keyword, unsupported draft, bad `$ref`, …).
    public struct SchemaError: Error, Sendable, CustomStringConvertible {
        public var message: String
        package init(message: String) { self.message = message }
        public var description: String { message }
    }

    /// One validation failure.
    public struct Failure: Sendable, Equatable, CustomStringConvertible {
        /// JSON pointer of the failing value (`""` for the root).
        public var instancePath: String
        /// Ajv's message, e.g. `must be number`.
        public var message: String
        /// Ajv's `errorsText` form: `data/latitude must be number`.
        public var description: String { "data\(instancePath) \(message)" }
    }

    let root: JSONValue

    static let ignoredKeywords: Set<String> = [
        "$schema", "$id", "id", "title", "description", "default", "examples", "$comment", "definitions", "$defs",
        "readOnly", "writeOnly", "contentMediaType", "contentEncoding", "nullable",
    ]
    static let knownKeywords: Set<String> = [
        "type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
        "maxLength", "minLength", "pattern", "format", "items", "additionalItems", "maxItems", "minItems",
        "uniqueItems", "contains", "maxProperties", "minProperties", "required", "properties", "patternProperties",
        "additionalProperties", "dependencies", "propertyNames", "if", "then", "else", "allOf", "anyOf", "oneOf",
        "not", "$ref",
    ]
    static let knownFormats: Set<String> = [
        "date", "time", "date-time", "email", "hostname", "ipv4", "ipv6", "uri", "uri-reference", "uuid",
        "json-pointer", "relative-json-pointer", "regex", "duration", "uri-template", "url", "byte", "int32", "int64",
        "float", "double", "password", "binary", "iso-time", "iso-date-time",
    ]

    /// Compiles a schema (object or boolean), checking it as Ajv's strict mode does.
    public init(schema: JSONValue) throws {
        root = schema
        try JSONSchemaValidator.check(schema, path: "#")
    }

    static func check(_ s: JSONValue, path: String) throws {
        switch s {
        case .bool: return
        case .object(let o):
            if let v = o["$schema"]?.stringValue, !v.contains("draft-07"), !v.contains("draft-06") {
                throw SchemaError(message: "no schema with key or ref \"\(v)\"")
            }
            for k in o.keys where !ignoredKeywords.contains(k) && !knownKeywords.contains(k) {
                throw SchemaError(message: "strict mode: unknown keyword: \"\(k)\"")
            }
            if let f = o["format"]?.stringValue, !knownFormats.contains(f) {
                throw SchemaError(message: "unknown format \"\(f)\" ignored in schema at path \"\(path)\"")
            }
            if let t = o["type"] {
                let names = t.arrayValue?.compactMap(\.stringValue) ?? [t.stringValue].compactMap { $0 }
                let valid: Set<String> = ["string", "number", "integer", "boolean", "object", "array", "null"]
                if names.isEmpty || names.contains(where: { !valid.contains($0) }) {
                    throw SchemaError(message: "schema is invalid: data\(path.dropFirst())/type must be equal to one of the allowed values")
                }
            }
            if let p = o["pattern"]?.stringValue {
                do { _ = try JSRegex(p, flags: "u") } catch { throw SchemaError(message: "\(error)") }
            }
            for k in ["properties", "patternProperties", "definitions", "$defs", "dependencies"] {
                if let m = o[k]?.objectValue {
                    for (name, sub) in m.pairs where sub.objectValue != nil || sub.boolValue != nil {
                        try check(sub, path: path + "/\(k)/\(name)")
                    }
                }
            }
            for k in ["additionalProperties", "additionalItems", "contains", "propertyNames", "if", "then", "else", "not"] {
                if let sub = o[k] { try check(sub, path: path + "/\(k)") }
            }
            if let items = o["items"] {
                if let a = items.arrayValue { for (i, x) in a.enumerated() { try check(x, path: path + "/items/\(i)") } } else { try check(items, path: path + "/items") }
            }
            for k in ["allOf", "anyOf", "oneOf"] {
                if let a = o[k]?.arrayValue { for (i, x) in a.enumerated() { try check(x, path: path + "/\(k)/\(i)") } }
            }
        default:
            throw SchemaError(message: "schema is invalid: data\(path.dropFirst()) must be object,boolean")
        }
    }

    /// The first failure, or nil when `instance` conforms.
    public func validate(_ instance: JSONValue) -> Failure? {
        var depth = 0
        return validate(instance, root, path: "", depth: &depth)
    }

    /// True when `instance` conforms.
    public func isValid(_ instance: JSONValue) -> Bool { validate(instance) == nil }

    func resolve(_ ref: String) -> JSONValue? {
        guard ref.hasPrefix("#") else { return nil }
        var node = root
        let pointer = ref.dropFirst()
        if pointer.isEmpty { return root }
        for raw in pointer.split(separator: "/", omittingEmptySubsequences: true) {
            let key = raw.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
                .removingPercentEncoding ?? String(raw)
            if let o = node.objectValue, let n = o[key] { node = n } else if let a = node.arrayValue, let i = Int(key), i < a.count { node = a[i] } else { return nil }
        }
        return node
    }

    static func typeName(_ v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .bool: return "boolean"
        case .int: return "integer"
        case .double(let d): return d.rounded() == d && d.isFinite ? "integer" : "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    static func matchesType(_ v: JSONValue, _ t: String) -> Bool {
        let actual = typeName(v)
        return t == actual || (t == "number" && actual == "integer")
    }

    func validate(_ v: JSONValue, _ s: JSONValue, path: String, depth: inout Int) -> Failure? {
        depth += 1
        defer { depth -= 1 }
        if depth > 200 { return Failure(instancePath: path, message: "must NOT have recursive schema deeper than 200") }
        if case .bool(let b) = s { return b ? nil : Failure(instancePath: path, message: "boolean schema is false") }
        guard let o = s.objectValue else { return nil }
        func fail(_ m: String) -> Failure { Failure(instancePath: path, message: m) }
        if let ref = o["$ref"]?.stringValue {
            guard let target = resolve(ref) else { return fail("can't resolve reference \(ref)") }
            if let f = validate(v, target, path: path, depth: &depth) { return f }
        }
        if let t = o["type"] {
            let names = t.arrayValue?.compactMap(\.stringValue) ?? [t.stringValue].compactMap { $0 }
            if !names.contains(where: { JSONSchemaValidator.matchesType(v, $0) }) {
                return fail("must be \(names.joined(separator: ","))")
            }
        }
        // Numbers
        if let n = v.doubleValue {
            if let m = o["maximum"]?.doubleValue, n > m { return fail("must be <= \(JSNumber.string(m))") }
            if let m = o["minimum"]?.doubleValue, n < m { return fail("must be >= \(JSNumber.string(m))") }
            if let m = o["exclusiveMaximum"]?.doubleValue, n >= m { return fail("must be < \(JSNumber.string(m))") }
            if let m = o["exclusiveMinimum"]?.doubleValue, n <= m { return fail("must be > \(JSNumber.string(m))") }
            if let m = o["multipleOf"]?.doubleValue, m > 0 {
                let q = n / m
                if abs(q - q.rounded()) > 1e-9 { return fail("must be multiple of \(JSNumber.string(m))") }
            }
        }
        // Strings
        if let str = v.stringValue {
            let len = str.unicodeScalars.count
            if let m = o["maxLength"]?.doubleValue, Double(len) > m { return fail("must NOT have more than \(JSNumber.string(m)) characters") }
            if let m = o["minLength"]?.doubleValue, Double(len) < m { return fail("must NOT have fewer than \(JSNumber.string(m)) characters") }
            if let p = o["pattern"]?.stringValue, let re = try? JSRegex(p, flags: "u"), !re.test(str) { return fail("must match pattern \"\(p)\"") }
            if let f = o["format"]?.stringValue, !JSONSchemaFormats.check(f, str) { return fail("must match format \"\(f)\"") }
        }
        // Arrays
        if let a = v.arrayValue {
            if let m = o["maxItems"]?.doubleValue, Double(a.count) > m { return fail("must NOT have more than \(JSNumber.string(m)) items") }
            if let m = o["minItems"]?.doubleValue, Double(a.count) < m { return fail("must NOT have fewer than \(JSNumber.string(m)) items") }
            if o["uniqueItems"]?.boolValue == true, a.count > 1 {
                for i in stride(from: a.count - 1, to: 0, by: -1) {
                    for j in stride(from: i - 1, through: 0, by: -1) where a[i].looselyEquals(a[j]) {
                        return fail("must NOT have duplicate items (items ## \(j) and \(i) are identical)")
                    }
                }
            }
            if let items = o["items"] {
                if let tuple = items.arrayValue {
                    for (i, sub) in tuple.enumerated() where i < a.count {
                        if let f = validate(a[i], sub, path: path + "/\(i)", depth: &depth) { return f }
                    }
                    if a.count > tuple.count, let add = o["additionalItems"] {
                        if case .bool(false) = add { return fail("must NOT have more than \(tuple.count) items") }
                        for i in tuple.count..<a.count {
                            if let f = validate(a[i], add, path: path + "/\(i)", depth: &depth) { return f }
                        }
                    }
                } else {
                    for (i, x) in a.enumerated() {
                        if let f = validate(x, items, path: path + "/\(i)", depth: &depth) { return f }
                    }
                }
            }
            if let c = o["contains"] {
                if !a.contains(where: { validate($0, c, path: path, depth: &depth) == nil }) { return fail("must contain at least 1 valid item(s)") }
            }
        }
        // Objects
        if let obj = v.objectValue {
            if let m = o["maxProperties"]?.doubleValue, Double(obj.count) > m { return fail("must NOT have more than \(JSNumber.string(m)) properties") }
            if let m = o["minProperties"]?.doubleValue, Double(obj.count) < m { return fail("must NOT have fewer than \(JSNumber.string(m)) properties") }
            if let req = o["required"]?.arrayValue {
                for r in req.compactMap(\.stringValue) where obj[r] == nil { return fail("must have required property '\(r)'") }
            }
            if let pn = o["propertyNames"] {
                for k in obj.keys where validate(.string(k), pn, path: path, depth: &depth) != nil {
                    return fail("property name must be valid")
                }
            }
            let props = o["properties"]?.objectValue
            let patterns: [(JSRegex, JSONValue)] = (o["patternProperties"]?.objectValue?.pairs ?? []).compactMap { p in
                (try? JSRegex(p.key, flags: "u")).map { ($0, p.value) }
            }
            if let add = o["additionalProperties"] {
                for k in obj.keys where props?[k] == nil && !patterns.contains(where: { $0.0.test(k) }) {
                    if case .bool(false) = add { return fail("must NOT have additional properties") }
                    if let f = validate(obj[k]!, add, path: path + "/" + JSONSchemaValidator.escape(k), depth: &depth) { return f }
                }
            }
            if let deps = o["dependencies"]?.objectValue {
                for (k, dep) in deps.pairs where obj[k] != nil {
                    if let names = dep.arrayValue {
                        for n in names.compactMap(\.stringValue) where obj[n] == nil {
                            return fail("must have property \(n) when property \(k) is present")
                        }
                    } else if let f = validate(v, dep, path: path, depth: &depth) { return f }
                }
            }
            if let props {
                for (k, sub) in props.pairs {
                    if let x = obj[k], let f = validate(x, sub, path: path + "/" + JSONSchemaValidator.escape(k), depth: &depth) { return f }
                }
            }
            for (re, sub) in patterns {
                for k in obj.keys where re.test(k) {
                    if let f = validate(obj[k]!, sub, path: path + "/" + JSONSchemaValidator.escape(k), depth: &depth) { return f }
                }
            }
        }
        // Any type
        if let e = o["enum"]?.arrayValue, !e.contains(where: { $0.looselyEquals(v) }) { return fail("must be equal to one of the allowed values") }
        if let c = o["const"], !c.looselyEquals(v) { return fail("must be equal to constant") }
        if let n = o["not"], validate(v, n, path: path, depth: &depth) == nil { return fail("must NOT be valid") }
        if let all = o["allOf"]?.arrayValue {
            for sub in all { if let f = validate(v, sub, path: path, depth: &depth) { return f } }
        }
        if let any = o["anyOf"]?.arrayValue {
            if !any.contains(where: { validate(v, $0, path: path, depth: &depth) == nil }) { return fail("must match a schema in anyOf") }
        }
        if let one = o["oneOf"]?.arrayValue {
            let n = one.filter { validate(v, $0, path: path, depth: &depth) == nil }.count
            if n != 1 { return fail("must match exactly one schema in oneOf") }
        }
        if let cond = o["if"] {
            if validate(v, cond, path: path, depth: &depth) == nil {
                if let t = o["then"], let f = validate(v, t, path: path, depth: &depth) { _ = f; return fail("must match \"then\" schema") }
            } else if let e = o["else"], let f = validate(v, e, path: path, depth: &depth) {
                _ = f
                return fail("must match \"else\" schema")
            }
        }
        return nil
    }

    static func escape(_ k: String) -> String {
        k.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }
}

/// The ajv-formats checks ("full" mode) for the formats suites use.
enum JSONSchemaFormats {
    static let cache: [String: NSRegularExpression] = {
        let pats: [String: String] = [
            "date": "^\\d\\d\\d\\d-[0-1]\\d-[0-3]\\d$",
            "time": "^(?:[0-2]\\d:[0-5]\\d:[0-5]\\d|23:59:60)(?:\\.\\d+)?(?:z|[+-]\\d\\d(?::?\\d\\d)?)?$",
            "date-time": "^\\d\\d\\d\\d-[0-1]\\d-[0-3]\\d[t\\s](?:[0-2]\\d:[0-5]\\d:[0-5]\\d|23:59:60)(?:\\.\\d+)?(?:z|[+-]\\d\\d(?::?\\d\\d)?)$",
            "email": "^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$",
            "hostname": "^(?=.{1,253}\\.?$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\\.[a-z0-9](?:[-0-9a-z]{0,61}[0-9a-z])?)*\\.?$",
            "ipv4": "^(?:(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)$",
            "uuid": "^(?:urn:uuid:)?[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$",
            "uri": "^(?:[a-z][a-z0-9+\\-.]*:)(?:\\/?\\/)?[^\\s]*$",
            "url": "^(?:https?|ftp):\\/\\/[^\\s/$.?#].[^\\s]*$",
            "json-pointer": "^(?:\\/(?:[^~/]|~0|~1)*)*$",
            "duration": "^P(?!$)((\\d+Y)?(\\d+M)?(\\d+D)?(T(?=\\d)(\\d+H)?(\\d+M)?(\\d+S)?)?|(\\d+W)?)$",
        ]
        var out: [String: NSRegularExpression] = [:]
        for (k, p) in pats { out[k] = try? NSRegularExpression(pattern: p, options: [.caseInsensitive]) }
        return out
    }()

    static func check(_ format: String, _ s: String) -> Bool {
        switch format {
        case "date":
            guard matches("date", s) else { return false }
            let parts = s.split(separator: "-").compactMap { Int($0) }
            guard parts.count == 3 else { return false }
            let (y, m, d) = (parts[0], parts[1], parts[2])
            let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
            let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
            return m >= 1 && m <= 12 && d >= 1 && d <= days[m - 1]
        case "date-time":
            guard matches("date-time", s) else { return false }
            return check("date", String(s.prefix(10)))
        case "regex":
            return (try? JSRegex(s)) != nil
        case "ipv6":
            var addr = in6_addr()
            return inet_pton(AF_INET6, s, &addr) == 1
        case "uri-reference", "uri-template", "relative-json-pointer", "byte", "int32", "int64", "float", "double", "password", "binary", "iso-time", "iso-date-time":
            return true
        default:
            return matches(format, s)
        }
    }

    static func matches(_ key: String, _ s: String) -> Bool {
        guard let re = cache[key] else { return true }
        return re.firstMatch(in: s, range: NSRange(location: 0, length: (s as NSString).length)) != nil
    }
}
