import Flywheel
import FlywheelSupport
import FlywheelTraces
import Foundation
import Markdown
import FlywheelEvals

/// The fuzz targets: each takes arbitrary bytes and must neither crash nor break its invariant.
enum FuzzTargets {
    static let names = ["trace-line", "suite", "markdown", "otlp"]

    /// Runs `target` on `data`; an invariant that fails stops the process (a crash for the fuzzer to report).
    static func run(_ target: String, _ data: Data) {
        switch target {
        case "trace-line": traceLine(data)
        case "suite": suite(data)
        case "markdown": markdown(data)
        case "otlp": otlp(data)
        default: fatalError("unknown fuzz target \(target); known: \(names.joined(separator: ", "))")
        }
    }

    /// The trace line scanner (JSONScanner, LineAnalyzer) through the validator; `validate` and `import` agree:
    /// whatever validates without errors imports.
    static func traceLine(_ data: Data) {
        let report = TraceValidator.validate(data: data, name: "fuzz.jsonl")
        let imported = try? TraceImporter.importData(data, name: "fuzz.jsonl", format: .halo)
        if report.ok, !data.isEmpty, imported == nil {
            fatalError("validate said OK but import refused: \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
        if let imported { _ = try? TraceStore(data: imported.normalizedData) }
        if let line = data.split(separator: 0x0A).first { _ = try? line.withUnsafeBytes { try Span(line: $0) } }
    }

    /// The suite loader (EvalYAML, EvalSuiteLoader).
    static func suite(_ data: Data) {
        let text = String(decoding: data, as: UTF8.self)
        _ = try? EvalSuite.parse(yaml: text, file: URL(fileURLWithPath: "/nonexistent/fuzz/promptfooconfig.yaml"))
        _ = try? YAMLLimits.check(text, file: "fuzz.yaml")
    }

    /// Tags cmark-gfm itself writes; anything else in the HTML came from the input.
    static let renderedTags: Set<String> = [
        "p", "h1", "h2", "h3", "h4", "h5", "h6", "em", "strong", "code", "pre", "a", "img", "ul", "ol", "li", "blockquote",
        "hr", "br", "table", "thead", "tbody", "tr", "th", "td", "del", "input", "sup", "section", "div", "span",
    ]

    /// The Markdown renderer: only tags cmark writes, no event-handler attribute, no `javascript:` / `vbscript:` /
    /// `data:` link (raw HTML from the input is never passed through).
    static func markdown(_ data: Data) {
        let text = String(decoding: data, as: UTF8.self)
        let html = Markdown.renderHTML(text, idPrefix: "f-").html
        let b = Array(html.utf8)
        var i = 0
        while i < b.count {
            guard b[i] == UInt8(ascii: "<") else { i += 1; continue }
            // cmark's placeholder for raw HTML it dropped.
            let omitted = Array("<!-- raw HTML omitted -->".utf8)
            if b.count - i >= omitted.count, Array(b[i..<(i + omitted.count)]) == omitted { i += omitted.count; continue }
            var j = i + 1
            if j < b.count, b[j] == UInt8(ascii: "/") { j += 1 }
            var name = ""
            while j < b.count, (b[j] >= 0x61 && b[j] <= 0x7A) || (b[j] >= 0x41 && b[j] <= 0x5A) || (b[j] >= 0x30 && b[j] <= 0x39) {
                name.unicodeScalars.append(Unicode.Scalar(b[j] | 0x20)); j += 1
            }
            var k = j
            while k < b.count, b[k] != UInt8(ascii: ">") { k += 1 }
            let tag = String(decoding: b[i..<min(k + 1, b.count)], as: UTF8.self).lowercased()
            if !renderedTags.contains(name) { fatalError("a tag cmark does not write: \(tag)") }
            // Attribute names only (values are quoted and escaped): " on…=" outside quotes.
            var inQuote = false
            var prev: UInt8 = 0
            let u = Array(tag.utf8)
            for (n, c) in u.enumerated() {
                if c == UInt8(ascii: "\"") { inQuote.toggle() }
                if !inQuote, prev == 0x20, c == UInt8(ascii: "o"), n + 2 < u.count, u[n + 1] == UInt8(ascii: "n") {
                    fatalError("an event handler attribute: \(tag)")
                }
                prev = c
            }
            for scheme in ["href=\"javascript:", "src=\"javascript:", "href=\"vbscript:", "src=\"vbscript:", "href=\"data:"] where tag.contains(scheme) {
                fatalError("an unsafe link: \(tag)")
            }
            i = k + 1
        }
    }

    /// OTLP/JSON decoding.
    static func otlp(_ data: Data) {
        _ = try? decodeOTLPJSON(data)
        _ = try? TraceImporter.importData(data, name: "fuzz.json", format: .otlpJSON)
    }
}
