import Foundation

/// Escaping and sanitising helpers for everything the site builds itself. Untrusted text only ever reaches a page
/// through `HTML.escape` (or Mustache's `{{ }}`), URLs through `HTML.safeURL`, file names through `HTML.fileName`.
enum HTML {
    /// Escapes `& < > " '` (safe in text and in quoted attribute values).
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count + 16)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\u{0}": out += "\u{FFFD}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// An element with escaped text content: `tag("td", "a<b", ["class": "x"])`.
    static func tag(_ name: String, _ text: String, _ attributes: KeyValuePairs<String, String> = [:]) -> String {
        "<\(name)\(attrs(attributes))>\(escape(text))</\(name)>"
    }

    /// An element wrapping HTML the renderer built itself (already escaped).
    static func raw(_ name: String, _ inner: String, _ attributes: KeyValuePairs<String, String> = [:]) -> String {
        "<\(name)\(attrs(attributes))>\(inner)</\(name)>"
    }

    /// ` k="v"` pairs, values escaped; an empty value is written as a bare attribute only for known booleans.
    static func attrs(_ attributes: KeyValuePairs<String, String>) -> String {
        var out = ""
        for (k, v) in attributes {
            out += " \(k)=\"\(escape(v))\""
        }
        return out
    }

    /// A link whose target is checked with `safeURL` (an unsafe target becomes `#`).
    static func link(_ href: String, _ text: String, _ attributes: KeyValuePairs<String, String> = [:]) -> String {
        "<a href=\"\(escape(safeURL(href)))\"\(attrs(attributes))>\(escape(text))</a>"
    }

    /// The URL when it is relative (no scheme), `#…`, or http(s)/mailto; otherwise `#` (no `javascript:`, `data:`,
    /// `vbscript:` or any other scheme from untrusted input). Control characters and whitespace inside a scheme
    /// are taken into account the way browsers strip them.
    static func safeURL(_ url: String) -> String {
        let stripped = String(String.UnicodeScalarView(url.unicodeScalars.filter {
            !($0.value <= 0x20 || $0.value == 0x7F || (0x80...0x9F).contains($0.value))
        }))
        guard let colon = stripped.firstIndex(of: ":") else { return url }
        let beforeColon = stripped[..<colon]
        // A colon after the first / ? # is not a scheme separator.
        if beforeColon.contains(where: { $0 == "/" || $0 == "?" || $0 == "#" }) { return url }
        let scheme = beforeColon.lowercased()
        if ["http", "https", "mailto"].contains(scheme) { return url }
        return "#"
    }

    /// A file-name-safe form of an untrusted id: itself when it is 1–64 of `[A-Za-z0-9_-]`, else `h` + a hash.
    static func fileName(_ id: String) -> String {
        let ok = !id.isEmpty && id.utf8.count <= 64 && id.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F || $0 == 0x2D
        }
        return ok ? id : "h" + StableHash.hex(id)
    }

    /// An anchor-safe id fragment (same rule as file names).
    static func anchor(_ id: String) -> String { fileName(id) }

    /// JSON text for embedding in a `.js` data file: `<`, `>`, `&`, U+2028 and U+2029 escaped so the text can never
    /// close a script element or break a JS parser.
    static func jsonForScript(_ value: JSONValue) -> String {
        var out = ""
        for scalar in value.canonicalText.unicodeScalars {
            switch scalar {
            case "<": out += "\\u003c"
            case ">": out += "\\u003e"
            case "&": out += "\\u0026"
            case "\u{2028}": out += "\\u2028"
            case "\u{2029}": out += "\\u2029"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

/// FNV-1a 64-bit: stable across runs and platforms (keys of the incremental manifest, hashed file names).
enum StableHash {
    static func value(_ text: String) -> UInt64 { value(Data(text.utf8)) }

    static func value(_ data: Data) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in data {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        return h
    }

    static func hex(_ text: String) -> String { hex(value(text)) }
    static func hex(_ value: UInt64) -> String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}

/// Number and time formatting, fixed to `en_US_POSIX` and UTC.
enum Format {
    static func percent(_ v: Double?) -> String {
        guard let v, v.isFinite else { return "–" }
        return String(format: "%.1f%%", locale: Locale(identifier: "en_US_POSIX"), v * 100)
    }

    static func number(_ v: Double?, digits: Int = 2) -> String {
        guard let v, v.isFinite else { return "–" }
        return String(format: "%.\(digits)f", locale: Locale(identifier: "en_US_POSIX"), v)
    }

    static func int(_ v: Int?) -> String {
        guard let v else { return "–" }
        // Thousands separators, deterministic.
        let s = String(abs(v))
        var out = ""
        for (i, c) in s.enumerated() {
            if i > 0 && (s.count - i) % 3 == 0 { out += "," }
            out.append(c)
        }
        return (v < 0 ? "-" : "") + out
    }

    static func cost(_ v: Double?) -> String {
        guard let v, v.isFinite else { return "–" }
        return "$" + String(format: "%.4f", locale: Locale(identifier: "en_US_POSIX"), v)
    }

    static func ms(_ v: Double?) -> String {
        guard let v, v.isFinite else { return "–" }
        if v >= 1000 { return String(format: "%.2f s", locale: Locale(identifier: "en_US_POSIX"), v / 1000) }
        return String(format: "%.0f ms", locale: Locale(identifier: "en_US_POSIX"), v)
    }

    /// A signed delta, e.g. `+2.5 pp` for rates.
    static func deltaPoints(_ a: Double?, _ b: Double?) -> String {
        guard let a, let b else { return "" }
        let d = (b - a) * 100
        if abs(d) < 0.05 { return "±0.0 pp" }
        return (d > 0 ? "+" : "") + String(format: "%.1f pp", locale: Locale(identifier: "en_US_POSIX"), d)
    }

    static func delta(_ a: Double?, _ b: Double?, digits: Int = 2) -> String {
        guard let a, let b else { return "" }
        let d = b - a
        if abs(d) < pow(10, Double(-digits)) / 2 { return "±0" }
        return (d > 0 ? "+" : "") + String(format: "%.\(digits)f", locale: Locale(identifier: "en_US_POSIX"), d)
    }
}
