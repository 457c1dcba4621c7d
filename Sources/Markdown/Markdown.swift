import Foundation
internal import CCmark

/// A heading found in a Markdown document, for a table of contents.
public struct Heading: Sendable, Hashable, Codable {
    /// 1 to 6.
    public var level: Int
    /// The heading's plain text (inline markup removed; not HTML-escaped).
    public var text: String
    /// The `id` given to the heading element, unique within the document (link with `#anchor`).
    public var anchor: String

    /// A heading.
    public init(level: Int, text: String, anchor: String) {
        self.level = level
        self.text = text
        self.anchor = anchor
    }
}

/// Markdown rendered to safe HTML.
public struct RenderedMarkdown: Sendable, Hashable {
    /// The HTML fragment. Raw HTML from the source is omitted, `javascript:`-style link targets are
    /// emptied, and headings carry `id` attributes matching `headings`.
    public var html: String
    /// The headings in document order.
    public var headings: [Heading]

    /// A rendering.
    public init(html: String, headings: [Heading]) {
        self.html = html
        self.headings = headings
    }
}

/// Markdown → HTML through cmark-gfm, safe for untrusted input.
public enum Markdown {
    /// Renders GitHub-flavoured Markdown (tables, strikethrough, autolinks, task lists, tag filter)
    /// to an HTML fragment, safe to embed unescaped in a page.
    ///
    /// Safety: never renders with `CMARK_OPT_UNSAFE`, so raw HTML blocks and inline HTML become
    /// `<!-- raw HTML omitted -->`, and link or image URLs with `javascript:`, `vbscript:`, `file:`
    /// or (non-image) `data:` schemes render as empty `href`/`src`.
    ///
    /// - Parameters:
    ///   - markdown: the source text (invalid UTF-8 was already replaced by `String`).
    ///   - idPrefix: prepended to every heading anchor, so several documents can share one page
    ///     (e.g. `handoff-`); characters other than letters, digits, `-` and `_` are dropped.
    /// - Returns: the HTML and the headings with their anchors.
    /// - SeeAlso: cmark_parser_new, cmark_render_html
    public static func renderHTML(_ markdown: String, idPrefix: String = "") -> RenderedMarkdown {
        CmarkLibrary.lock.lock()
        defer { CmarkLibrary.lock.unlock() }
        _ = CmarkLibrary.registered
        let options = CMARK_OPT_DEFAULT | CMARK_OPT_VALIDATE_UTF8
        guard let parser = cmark_parser_new(options) else { return fallback(markdown) }
        defer { cmark_parser_free(parser) }
        for name in CmarkLibrary.extensionNames {
            if let ext = cmark_find_syntax_extension(name) {
                _ = cmark_parser_attach_syntax_extension(parser, ext)
            }
        }
        var source = markdown
        source.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { cmark_parser_feed(parser, $0.baseAddress, $0.count) }
        }
        guard let document = cmark_parser_finish(parser) else { return fallback(markdown) }
        defer { cmark_node_free(document) }

        var slugs = SlugSet(prefix: Slug.clean(idPrefix))
        let headings = collectHeadings(document).map { level, text in
            Heading(level: level, text: text, anchor: slugs.unique(Slug.make(text)))
        }
        // The parser's extension list makes the renderer apply `tagfilter`; it stays the parser's.
        guard let raw = cmark_render_html(document, options, cmark_parser_get_syntax_extensions(parser)) else {
            return fallback(markdown)
        }
        defer { free(raw) }
        let html = addHeadingIDs(String(cString: raw), headings)
        return RenderedMarkdown(html: html, headings: headings)
    }

    /// Escapes `&`, `<`, `>`, `"` and `'` for HTML text or attribute values; NUL becomes U+FFFD. Works on UTF-8 bytes and
    /// returns the string itself when nothing needs escaping.
    /// - Parameter text: untrusted text.
    /// - Returns: the escaped text.
    public static func escapeHTML(_ text: String) -> String {
        var text = text
        return text.withUTF8 { buf -> String in
            guard buf.contains(where: { $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27 || $0 == 0 }) else {
                return String(decoding: buf, as: UTF8.self)
            }
            var out: [UInt8] = []
            out.reserveCapacity(buf.count + buf.count / 8 + 16)
            for b in buf {
                switch b {
                case 0x26: out.append(contentsOf: [0x26, 0x61, 0x6D, 0x70, 0x3B])  // &amp;
                case 0x3C: out.append(contentsOf: [0x26, 0x6C, 0x74, 0x3B])  // &lt;
                case 0x3E: out.append(contentsOf: [0x26, 0x67, 0x74, 0x3B])  // &gt;
                case 0x22: out.append(contentsOf: [0x26, 0x71, 0x75, 0x6F, 0x74, 0x3B])  // &quot;
                case 0x27: out.append(contentsOf: [0x26, 0x23, 0x33, 0x39, 0x3B])  // &#39;
                case 0: out.append(contentsOf: [0xEF, 0xBF, 0xBD])  // U+FFFD
                default: out.append(b)
                }
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}

// MARK: - Internals

extension Markdown {
    /// When cmark cannot allocate: the text escaped in a `<pre>`, never raw.
    fileprivate static func fallback(_ markdown: String) -> RenderedMarkdown {
        RenderedMarkdown(html: "<pre>" + escapeHTML(markdown) + "</pre>\n", headings: [])
    }

    /// Level and plain text of every heading, in document order (copied out of the tree).
    fileprivate static func collectHeadings(_ document: OpaquePointer) -> [(Int, String)] {
        guard let iter = cmark_iter_new(document) else { return [] }
        defer { cmark_iter_free(iter) }
        var result: [(Int, String)] = []
        var event = cmark_iter_next(iter)
        while event != CMARK_EVENT_DONE {
            if event == CMARK_EVENT_ENTER, let node = cmark_iter_get_node(iter), typeName(node) == "heading" {
                var text = ""
                appendPlainText(of: node, to: &text)
                result.append((Int(cmark_node_get_heading_level(node)), text.trimmingCharacters(in: .whitespaces)))
            }
            event = cmark_iter_next(iter)
        }
        return result
    }

    fileprivate static func typeName(_ node: OpaquePointer) -> String {
        guard let name = cmark_node_get_type_string(node) else { return "" }
        return String(cString: name)
    }

    fileprivate static func appendPlainText(of node: OpaquePointer, to text: inout String) {
        var child = cmark_node_first_child(node)
        while let current = child {
            switch typeName(current) {
            case "text", "code":
                if let literal = cmark_node_get_literal(current) { text += String(cString: literal) }
            case "softbreak", "linebreak":
                text += " "
            case "html_inline":
                break
            default:
                appendPlainText(of: current, to: &text)
            }
            child = cmark_node_next(current)
        }
    }

    /// Gives the n-th `<hN>` opening tag the n-th heading's anchor. Safe because, without
    /// `CMARK_OPT_UNSAFE`, the only literal `<h1>`…`<h6>` tags in cmark's output are its headings.
    fileprivate static func addHeadingIDs(_ html: String, _ headings: [Heading]) -> String {
        guard !headings.isEmpty else { return html }
        let bytes = Array(html.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + headings.count * 24)
        var next = 0
        var i = 0
        while i < bytes.count {
            if next < headings.count, bytes[i] == UInt8(ascii: "<"), i + 3 < bytes.count,
                bytes[i + 1] == UInt8(ascii: "h"), (UInt8(ascii: "1")...UInt8(ascii: "6")).contains(bytes[i + 2]),
                bytes[i + 3] == UInt8(ascii: ">")
            {
                out += Array("<h".utf8) + [bytes[i + 2]] + Array(" id=\"\(escapeHTML(headings[next].anchor))\">".utf8)
                next += 1
                i += 4
                continue
            }
            out.append(bytes[i])
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// GitHub-style heading slugs.
enum Slug {
    /// Lower-cased; letters, digits, `-` and `_` kept; spaces become `-`; everything else dropped.
    static func make(_ text: String) -> String {
        var out = ""
        for c in text.lowercased().unicodeScalars {
            if c == " " {
                out += "-"
            } else if c == "-" || c == "_" || c.properties.isAlphabetic || c.properties.numericType != nil {
                out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// Keeps letters, digits, `-` and `_` only.
    static func clean(_ prefix: String) -> String {
        String(String.UnicodeScalarView(prefix.unicodeScalars.filter {
            $0 == "-" || $0 == "_" || $0.properties.isAlphabetic || $0.properties.numericType != nil
        }))
    }
}

/// Hands out slugs unique within one document: a repeat gets `-1`, `-2`, … (skipping any taken).
struct SlugSet {
    let prefix: String
    private var used: Set<String> = []

    init(prefix: String) { self.prefix = prefix }

    mutating func unique(_ slug: String) -> String {
        let base = prefix + (slug.isEmpty ? "section" : slug)
        var candidate = base
        var n = 0
        while used.contains(candidate) {
            n += 1
            candidate = "\(base)-\(n)"
        }
        used.insert(candidate)
        return candidate
    }
}
