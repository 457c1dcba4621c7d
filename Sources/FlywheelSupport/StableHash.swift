import Foundation

/// Short content ids (feedback ids, eval ids): the first hex digits of the text's SHA-256.
package enum StableHash {
    /// Lowercase hex SHA-256 of the UTF-8 text.
    package static func sha256Hex(_ text: String) -> String { SHA256.hex(text) }

    /// The first `n` hex digits of the SHA-256 of `text`.
    package static func short(_ text: String, _ n: Int = 12) -> String { String(sha256Hex(text).prefix(n)) }
}

/// Lowercase ASCII slug: letters and digits kept, everything else collapsed to single `-`, at most `max` chars.
package func slugify(_ text: String, max: Int = 48) -> String {
    var out = ""
    var dash = false
    for scalar in text.lowercased().unicodeScalars {
        if scalar.isASCII, CharacterSet.alphanumerics.contains(scalar) {
            out.unicodeScalars.append(scalar)
            dash = false
        } else if !dash, !out.isEmpty {
            out += "-"
            dash = true
        }
    }
    while out.hasSuffix("-") { out.removeLast() }
    if out.count > max {
        out = String(out.prefix(max))
        while out.hasSuffix("-") { out.removeLast() }
    }
    return out.isEmpty ? "x" : out
}

/// Sorts strings by their UTF-8 bytes (deterministic, locale-free).
package func byteOrder(_ a: String, _ b: String) -> Bool { Array(a.utf8).lexicographicallyPrecedes(Array(b.utf8)) }
