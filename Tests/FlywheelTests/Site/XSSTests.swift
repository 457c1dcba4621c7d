@testable import Flywheel
@testable import FlywheelSupport
import Foundation
import Testing
import TestSupport

@Suite("Site XSS corpus")
struct XSSTests {
    /// A site built from a history whose every untrusted field carries every payload.
    static func hostileSite() throws -> (SiteFixture, URL) {
        let dir = TestPaths.scratch("site-xss")
        let f = try SiteFixture.standard(in: dir, payload: XSSPayloads.joined, cycles: 2)
        let out = dir.appendingPathComponent("site")
        _ = try SiteBuilder.build(history: f.history, options: SiteOptions(outputDirectory: out))
        return (f, out)
    }

    /// Tags the site itself writes; anything else in a page would have come from a payload.
    static let allowedTags: Set<String> = [
        "html", "head", "meta", "title", "link", "body", "a", "header", "nav", "ul", "ol", "li", "form", "label", "input",
        "main", "footer", "p", "script", "h1", "h2", "h3", "h4", "h5", "h6", "section", "dl", "dt", "dd", "div", "span",
        "code", "pre", "strong", "em", "table", "caption", "thead", "tbody", "tr", "th", "td", "figure", "figcaption",
        "svg", "title", "g", "line", "text", "path", "circle", "button", "select", "option", "details", "summary",
        "article", "noscript", "br", "blockquote", "hr", "del", "img", "sup", "input", "colgroup", "col",
    ]

    /// Problems in one HTML text: unknown tags, `on*` attributes, script elements other than the site's own
    /// `<script src="…">`, and `javascript:` / `data:` URLs in attributes.
    static func problems(in html: String, file: String) -> [String] {
        var out: [String] = []
        let tag = try! NSRegularExpression(pattern: "<([A-Za-z][A-Za-z0-9:-]*)((?:[^<>\"']|\"[^\"]*\"|'[^']*')*)>")
        let attr = try! NSRegularExpression(pattern: "([^\\s=/\"']+)(?:\\s*=\\s*(\"[^\"]*\"|'[^']*'|[^\\s>]+))?")
        for m in tag.matches(in: html, range: NSRange(html.startIndex..., in: html)) {
            let name = String(html[Range(m.range(at: 1), in: html)!]).lowercased()
            let rest = m.range(at: 2).location == NSNotFound ? "" : String(html[Range(m.range(at: 2), in: html)!])
            if !allowedTags.contains(name) { out.append("\(file): unexpected <\(name)>") }
            for a in attr.matches(in: rest, range: NSRange(rest.startIndex..., in: rest)) {
                let an = String(rest[Range(a.range(at: 1), in: rest)!]).lowercased()
                var value = a.range(at: 2).location == NSNotFound ? "" : String(rest[Range(a.range(at: 2), in: rest)!])
                if value.hasPrefix("\"") || value.hasPrefix("'") { value = String(value.dropFirst().dropLast()) }
                if an.hasPrefix("on") { out.append("\(file): event handler attribute \(an) on <\(name)>") }
                if ["href", "src", "action", "formaction", "xlink:href", "data"].contains(an) {
                    let v = value.replacingOccurrences(of: "&#", with: "").lowercased().filter { !$0.isWhitespace }
                    if v.hasPrefix("javascript:") || v.hasPrefix("data:") || v.hasPrefix("vbscript:") {
                        out.append("\(file): \(an)=\(value) on <\(name)>")
                    }
                }
                if name == "script" && an == "src" && (value.contains(":") || value.contains("//")) {
                    out.append("\(file): script src \(value)")
                }
            }
            // A JSON data block (never run) is allowed; any other script without src is not.
            if name == "script" && !rest.contains("src=") && rest != " type=\"application/json\" id=\"span-data\"" {
                out.append("\(file): inline <script>")
            }
        }
        return out
    }

    @Test("≥ 50 payloads in every untrusted field never reach the HTML as markup")
    func staticScan() throws {
        #expect(XSSPayloads.all.count >= 50)
        let (f, out) = try Self.hostileSite()
        defer { try? FileManager.default.removeItem(at: out.deletingLastPathComponent()) }
        let files = try FileManager.default.subpathsOfDirectory(atPath: out.path).sorted()
        var problems: [String] = []
        var htmlCount = 0, dataCount = 0
        for file in files where file.hasSuffix(".html") {
            htmlCount += 1
            let html = try String(contentsOf: out.appendingPathComponent(file), encoding: .utf8)
            problems += Self.problems(in: html, file: file)
            // A small trace's span data in its page: JSON with no raw <, > or U+2028 (it cannot end its script element),
            // and the HTML inside passes the same check.
            let open = "<script type=\"application/json\" id=\"span-data\">"
            guard let start = html.range(of: open) else { continue }
            let end = try #require(html[start.upperBound...].range(of: "</script>"), "\(file): unterminated span data")
            let json = String(html[start.upperBound..<end.lowerBound])
            dataCount += 1
            #expect(!json.contains("<") && !json.contains(">") && !json.contains("\u{2028}") && !json.contains("\u{2029}"), "\(file): raw character in span data")
            let v = try JSONValue.parse(json)
            for (i, body) in ((v["bodies"]?.arrayValue ?? []) + (v["full"]?.arrayValue ?? [])).enumerated() {
                problems += Self.problems(in: body.stringValue ?? "", file: "\(file)[\(i)]")
            }
        }
        // The HTML inside the trace data files (inserted with innerHTML by the page) passes the same check.
        for file in files where file.hasSuffix(".data.js") && file.hasPrefix("traces/") {
            dataCount += 1
            let js = try String(contentsOf: out.appendingPathComponent(file), encoding: .utf8)
            #expect(!js.contains("<"), "\(file) has a raw <")
            #expect(!js.contains("\u{2028}"), "\(file) has a raw U+2028")
            #expect(js.hasPrefix("window.FLYWHEEL_SPANS({") && js.hasSuffix("});\n"), "\(file) is not a span chunk")
            let json = js.drop(while: { $0 != "{" }).dropLast(3)
            let v = try JSONValue.parse(String(json))
            for (i, body) in ((v["bodies"]?.arrayValue ?? []) + (v["full"]?.arrayValue ?? [])).enumerated() {
                problems += Self.problems(in: body.stringValue ?? "", file: "\(file)[\(i)]")
            }
        }
        // Search shards, task data and compare data: text only, never a raw < or U+2028.
        for file in files where file.hasSuffix(".js") && (file.hasPrefix("search") || file.hasPrefix("tasks/") || file.hasPrefix("compare")) {
            let js = try String(contentsOf: out.appendingPathComponent(file), encoding: .utf8)
            #expect(!js.contains("<"), "\(file) has a raw <")
            #expect(!js.contains("\u{2028}"), "\(file) has a raw U+2028")
        }
        // The new cross-cycle pages are among the scanned ones.
        for page in ["tasks.html", "compare.html", "recommendations.html", "tasks/q0.html"] { #expect(files.contains(page), "\(page)") }
        #expect(htmlCount >= 10)
        #expect(dataCount >= 4)
        #expect(problems.isEmpty, "\(problems.prefix(20).joined(separator: "\n"))")
        // The hostile trace id became a safe file name.
        let hostile = f.traceID(1, 1)
        #expect(files.contains("traces/0001/\(HTML.fileName(hostile)).html"))
        #expect(HTML.fileName(hostile).hasPrefix("h"))
        // The payload text is visible, escaped.
        let cycle = try String(contentsOf: out.appendingPathComponent("cycles/0001.html"), encoding: .utf8)
        #expect(cycle.contains("&lt;script&gt;window.__xss=1&lt;/script&gt;"))
    }

    @Test("the scanner itself catches markup, handlers and script URLs")
    func scannerCatches() {
        #expect(!Self.problems(in: "<p><img src=x onerror=window.__xss=1></p>", file: "t").isEmpty)
        #expect(!Self.problems(in: "<a href=\"javascript:x\">x</a>", file: "t").isEmpty)
        #expect(!Self.problems(in: "<div onclick='x'>", file: "t").isEmpty)
        #expect(!Self.problems(in: "<script>x</script>", file: "t").isEmpty)
        #expect(!Self.problems(in: "<iframe src=x>", file: "t").isEmpty)
        #expect(Self.problems(in: "<p class=\"a\">&lt;script&gt;</p><script src=\"assets/site.js\"></script>", file: "t").isEmpty)
    }

    @Test("the URL check refuses script and data schemes, however spelled")
    func urlCheck() {
        for bad in ["javascript:alert(1)", "JAVASCRIPT:x", " javascript:x", "java\tscript:x", "java\nscript:x", "data:text/html,x",
                    "vbscript:x", "\u{1}javascript:x", "jav&#x09;ascript:x".replacingOccurrences(of: "&#x09;", with: "\t")] {
            #expect(HTML.safeURL(bad) == "#", "\(bad)")
        }
        for good in ["../cycles/0001.html", "#span-a", "https://example.org/x", "mailto:a@b", "traces/0001/x.html#span-1", "a/b:c"] {
            #expect(HTML.safeURL(good) == good)
        }
        #expect(HTML.fileName("abc-DEF_123") == "abc-DEF_123")
        #expect(HTML.fileName("../etc/passwd").hasPrefix("h"))
        #expect(HTML.fileName("") .hasPrefix("h"))
        #expect(HTML.fileName("a b") != HTML.fileName("a_b"))
    }
}
