import Foundation

/// The site's bulk JSON reads go through the shared byte-level scanner (`JSONValue.parse(bytes:)`, written for
/// traces); Foundation's Codable path is an order of magnitude slower on large histories. Nil on malformed input.
enum FastJSON {
    static func parse(_ data: Data) -> JSONValue? {
        data.withUnsafeBytes { raw -> JSONValue? in try? JSONValue.parse(bytes: raw) }
    }

    static func parse(_ text: String) -> JSONValue? {
        var t = text
        return t.withUTF8 { buf -> JSONValue? in try? JSONValue.parse(bytes: UnsafeRawBufferPointer(buf)) }
    }
}
