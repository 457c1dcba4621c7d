import Foundation

/// A small JSON Schema (draft-07 subset) checker for the schemas Flywheel itself sends as `response_format`:
/// `type` (object, array, string, number, integer, boolean), `enum`, `required`, `properties`,
/// `additionalProperties: false`, `items`, `minLength`, `minItems`. Returns the first problem in Ajv's wording
/// (`data/findings/0 must have required property 'severity'`), or nil.
enum MiniSchema {
    static func firstError(_ value: JSONValue, schema: JSONValue, path: String = "data") -> String? {
        if let type = schema["type"]?.stringValue {
            let ok: Bool
            switch type {
            case "object": ok = value.objectValue != nil
            case "array": ok = value.arrayValue != nil
            case "string": ok = value.stringValue != nil
            case "number": ok = value.doubleValue != nil
            case "integer": ok = value.intValue != nil
            case "boolean": ok = value.boolValue != nil
            case "null": ok = value.isNull
            default: ok = true
            }
            if !ok { return "\(path) must be \(type)" }
        }
        if let options = schema["enum"]?.arrayValue, !options.contains(value) {
            return "\(path) must be equal to one of the allowed values"
        }
        if let s = value.stringValue, let min = schema["minLength"]?.intValue, s.count < min {
            return "\(path) must NOT have fewer than \(min) characters"
        }
        if let object = value.objectValue {
            for key in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where object[key] == nil {
                return "\(path) must have required property '\(key)'"
            }
            let properties = schema["properties"]?.objectValue ?? [:]
            for key in object.keys.sorted(by: byteOrder) {
                if let sub = properties[key] {
                    if let e = firstError(object[key]!, schema: sub, path: "\(path)/\(key)") { return e }
                } else if schema["additionalProperties"] == .bool(false) {
                    return "\(path) must NOT have additional properties ('\(key)')"
                }
            }
        }
        if let array = value.arrayValue {
            if let min = schema["minItems"]?.intValue, array.count < min { return "\(path) must NOT have fewer than \(min) items" }
            if let items = schema["items"] {
                for (i, element) in array.enumerated() {
                    if let e = firstError(element, schema: items, path: "\(path)/\(i)") { return e }
                }
            }
        }
        return nil
    }

    /// Parses a model reply as JSON: the whole text, else the first `{…}` block (models sometimes wrap JSON in prose
    /// or a code fence).
    static func parseReply(_ text: String) -> JSONValue? {
        if let v = try? JSONValue.parse(text) { return v }
        guard let start = text.firstIndex(of: "{"), let end = text.lastIndex(of: "}"), start < end else { return nil }
        return try? JSONValue.parse(String(text[start...end]))
    }
}
