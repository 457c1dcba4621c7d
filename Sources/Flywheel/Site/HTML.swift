import FlywheelSupport
import Foundation
import Markdown

/// Escaping and sanitising helpers for everything the site builds itself. Untrusted text only ever reaches a page
/// through `HTML.escape` (or Mustache's `{{ }}`), URLs through `HTML.safeURL`, file names through `HTML.fileName`.
enum HTML {
    /// Escapes `& < > " '` (safe in text and in quoted attribute values); NUL becomes U+FFFD. Works on UTF-8 bytes
    /// and returns the string itself when nothing needs escaping.
    static func escape(_ text: String) -> String { Markdown.escapeHTML(text) }

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
        return ok ? id : "h" + SiteHash.hex(id)
    }

    /// An anchor-safe id fragment: the id itself when it is `[A-Za-z0-9_-]`, else a readable cleaned prefix plus a
    /// hash (stable, and never colliding with a clean id because of the hash suffix).
    static func anchor(_ id: String) -> String {
        let clean = fileName(id)
        if clean == id { return id }
        var readable = ""
        for u in id.unicodeScalars.prefix(40) {
            let ok = (u.value >= 0x30 && u.value <= 0x39) || (u.value >= 0x41 && u.value <= 0x5A) || (u.value >= 0x61 && u.value <= 0x7A) || u == "_" || u == "-"
            readable.unicodeScalars.append(ok ? u : "-")
        }
        return readable + "-" + String(SiteHash.hex(id).prefix(8))
    }

    /// JSON text for embedding in a `.js` data file: `<`, `>`, `&`, U+2028 and U+2029 escaped so the text can never
    /// close a script element or break a JS parser.
    static func jsonForScript(_ value: JSONValue) -> String {
        var text = value.canonicalText
        return text.withUTF8 { buf -> String in
            var out: [UInt8] = []
            out.reserveCapacity(buf.count + buf.count / 16)
            var i = 0
            let n = buf.count
            while i < n {
                let b = buf[i]
                switch b {
                case 0x3C: out.append(contentsOf: Array("\\u003c".utf8))
                case 0x3E: out.append(contentsOf: Array("\\u003e".utf8))
                case 0x26: out.append(contentsOf: Array("\\u0026".utf8))
                case 0xE2 where i + 2 < n && buf[i + 1] == 0x80 && (buf[i + 2] == 0xA8 || buf[i + 2] == 0xA9):
                    out.append(contentsOf: Array((buf[i + 2] == 0xA8 ? "\\u2028" : "\\u2029").utf8))
                    i += 2
                default: out.append(b)
                }
                i += 1
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}

/// Byte-level writer of JavaScript string literals that are also safe inside HTML (`<`, `>`, `&`, U+2028/U+2029
/// escaped), for the per-trace data files.
enum JSLiteral {
    static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    static func append(_ text: String, to out: inout [UInt8]) {
        var text = text
        out.append(0x22)
        text.withUTF8 { buf in
            var i = 0
            var run = 0  // start of the pending run of bytes that need no escaping
            let n = buf.count
            while i < n {
                let b = buf[i]
                let special = b < 0x20 || b == 0x22 || b == 0x5C || b == 0x3C || b == 0x3E || b == 0x26
                    || (b == 0xE2 && i + 2 < n && buf[i + 1] == 0x80 && (buf[i + 2] == 0xA8 || buf[i + 2] == 0xA9))
                if !special { i += 1; continue }
                if run < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[run..<i])) }
                switch b {
                case 0x22: out.append(0x5C); out.append(0x22)
                case 0x5C: out.append(0x5C); out.append(0x5C)
                case 0x0A: out.append(0x5C); out.append(0x6E)
                case 0x0D: out.append(0x5C); out.append(0x72)
                case 0x09: out.append(0x5C); out.append(0x74)
                case 0xE2:
                    out.append(contentsOf: [0x5C, 0x75, 0x32, 0x30, 0x32, buf[i + 2] == 0xA8 ? 0x38 : 0x39])
                    i += 2
                default:
                    out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xF)]])
                }
                i += 1
                run = i
            }
            if run < n { out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[run..<n])) }
        }
        out.append(0x22)
    }

    static func array(_ items: [String], to out: inout [UInt8]) {
        out.append(0x5B)
        for (i, s) in items.enumerated() {
            if i > 0 { out.append(0x2C) }
            append(s, to: &out)
        }
        out.append(0x5D)
    }
}

/// FNV-1a 64-bit: stable across runs and platforms (keys of the incremental manifest, hashed file names).
enum SiteHash {
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
    /// `v` with exactly `digits` fraction digits, rounded half away from zero (no locale, no Foundation formatting).
    static func fixed(_ v: Double, _ digits: Int) -> String {
        guard v.isFinite else { return "–" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (abs(v) * scale).rounded()
        guard scaled < 9e18 else { return String(v) }
        let n = Int64(scaled)
        let negative = v < 0 && n != 0
        let s = String(n)
        if digits == 0 { return (negative ? "-" : "") + s }
        let padded = s.count <= digits ? String(repeating: "0", count: digits - s.count + 1) + s : s
        let cut = padded.index(padded.endIndex, offsetBy: -digits)
        return (negative ? "-" : "") + padded[..<cut] + "." + padded[cut...]
    }

    static func percent(_ v: Double?) -> String {
        guard let v, v.isFinite else { return "–" }
        return fixed(v * 100, 1) + "%"
    }

    static func number(_ v: Double?, digits: Int = 2) -> String {
        guard let v, v.isFinite else { return "–" }
        return fixed(v, digits)
    }

    static func int(_ v: Int?) -> String {
        guard let v else { return "–" }
        // Thousands separators, deterministic.
        let s = String(v.magnitude)
        var out = ""
        for (i, c) in s.enumerated() {
            if i > 0 && (s.count - i) % 3 == 0 { out += "," }
            out.append(c)
        }
        return (v < 0 ? "-" : "") + out
    }

    static func cost(_ v: Double?) -> String {
        guard let v, v.isFinite else { return "–" }
        return "$" + fixed(v, 4)
    }

    static func ms(_ v: Double?) -> String {
        guard let v, v.isFinite else { return "–" }
        if v >= 1000 { return fixed(v / 1000, 2) + " s" }
        if v < 10 { return fixed(v, 1) + " ms" }
        return fixed(v, 0) + " ms"
    }

    /// A signed delta, e.g. `+2.5 pp` for rates.
    static func deltaPoints(_ a: Double?, _ b: Double?) -> String {
        guard let a, let b else { return "" }
        let d = (b - a) * 100
        if abs(d) < 0.05 { return "±0.0 pp" }
        return (d > 0 ? "+" : "") + fixed(d, 1) + " pp"
    }

    static func delta(_ a: Double?, _ b: Double?, digits: Int = 2) -> String {
        guard let a, let b else { return "" }
        let d = b - a
        if abs(d) < pow(10, Double(-digits)) / 2 { return "±0" }
        return (d > 0 ? "+" : "") + fixed(d, digits)
    }
}
