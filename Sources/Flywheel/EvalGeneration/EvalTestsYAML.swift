import FlywheelSupport
import Foundation
import FlywheelEvals

/// Eval tests as YAML: written by `EvalYAMLWriter` with keys sorted by UTF-8 bytes (deterministic), read by
/// `EvalYAML.load` (js-yaml's scalars: only `true`/`false` are booleans; no sexagesimal or legacy octal).
public enum EvalTestsYAML {
    /// Renders a JSON value as a YAML document ending in a newline.
    public static func render(_ value: JSONValue) -> String {
        EvalYAMLWriter.write(byteSorted(value))
    }

    /// Parses a YAML document into a JSON value.
    public static func parse(_ text: String) throws -> JSONValue {
        try EvalYAML.load(text, file: "<yaml>").value.keysSorted
    }

    /// Parses a YAML list of tests (a bare list, or a suite mapping with `tests:`).
    public static func parseTests(_ text: String) throws -> [JSONValue] {
        let v = try parse(text)
        if let a = v.arrayValue { return a }
        if let a = v["tests"]?.arrayValue { return a }
        if v.isNull { return [] }
        throw EvalGenerationError(message: "expected a YAML list of tests")
    }

    /// `value` with every object's keys in UTF-8 byte order.
    static func byteSorted(_ value: JSONValue) -> JSONValue {
        switch value {
        case .array(let a): return .array(a.map(byteSorted))
        case .object(let o): return .obj(o.keys.sorted(by: byteOrder).map { ($0, byteSorted(o[$0]!)) })
        default: return value
        }
    }
}

/// A problem in eval generation, the ratchet or pruning.
public struct EvalGenerationError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
