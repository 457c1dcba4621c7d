import FlywheelSupport
import Foundation

/// Checks model replies against the JSON Schemas Flywheel sends as `response_format`, through the evals stage's
/// draft-07 validator (one validator for the whole loop). Messages read as Ajv's
/// (`data/findings/0 must have required property 'severity'`).
package enum ModelReply {
    /// The first problem of `value` against `schema`, prefixed with `path`, or nil when it conforms.
    package static func firstError(_ value: JSONValue, schema: JSONValue, path: String = "data") -> String? {
        let validator: JSONSchemaValidator
        do { validator = try JSONSchemaValidator(schema: schema.keysSorted) } catch { return "\(path): invalid schema: \(error)" }
        guard let failure = validator.validate(value.keysSorted) else { return nil }
        return "\(path)\(failure.instancePath) \(failure.message)"
    }

    /// Parses a model reply as JSON: the whole text, else the first `{…}` block (models sometimes wrap JSON in prose
    /// or a code fence).
    package static func parse(_ text: String) -> JSONValue? {
        if let v = try? JSONValue.parse(text) { return v }
        guard let start = text.firstIndex(of: "{"), let end = text.lastIndex(of: "}"), start < end else { return nil }
        return try? JSONValue.parse(String(text[start...end]))
    }
}
