import Foundation
import Markdown

/// Turns untrusted Markdown into safe HTML for the site. The real implementation is the cmark-gfm wrapper
/// (`CmarkMarkdown`: tagfilter, no raw HTML, unsafe URL schemes dropped); `EscapingMarkdown` is a fallback that keeps
/// every byte escaped.
public protocol MarkdownRendering: Sendable {
    /// Safe HTML for `markdown` (no raw HTML passes through); heading anchors start with `idPrefix`.
    func html(_ markdown: String, idPrefix: String) -> String
}

extension MarkdownRendering {
    /// Safe HTML for `markdown`.
    public func html(_ markdown: String) -> String { html(markdown, idPrefix: "") }
}

/// cmark-gfm through the `Markdown` wrapper module (GFM tables, strikethrough, autolinks, task lists, tagfilter;
/// raw HTML omitted).
public struct CmarkMarkdown: MarkdownRendering {
    public init() {}

    public func html(_ markdown: String, idPrefix: String) -> String {
        Markdown.renderHTML(markdown, idPrefix: idPrefix).html
    }
}

/// Remembers the HTML of each Markdown text it rendered (by text and anchor prefix), so a text that repeats across
/// pages (answers, handoffs and instructions recur from cycle to cycle) is parsed once per process. cmark-gfm parses
/// one document at a time (see `CmarkLibrary.lock`), which makes repeats costly in a parallel site build; a cached
/// rendering is the same bytes, so the output stays deterministic. Texts above `maxText` bytes are not kept, and
/// the cache is emptied when it holds more than `maxBytes`.
public final class CachedMarkdown: MarkdownRendering, @unchecked Sendable {
    let base: any MarkdownRendering
    let maxText: Int
    let maxBytes: Int
    private var cache: [String: String] = [:]
    private var bytes = 0
    private let lock = NSLock()
    /// Lookups answered from the cache / rendered (for the benchmark).
    public private(set) var hits = 0, misses = 0

    public init(_ base: any MarkdownRendering, maxText: Int = 64 << 10, maxBytes: Int = 64 << 20) {
        self.base = base
        self.maxText = maxText
        self.maxBytes = maxBytes
    }

    public func html(_ markdown: String, idPrefix: String) -> String {
        guard markdown.utf8.count <= maxText else { return base.html(markdown, idPrefix: idPrefix) }
        let key = idPrefix + "\u{0}" + markdown
        lock.lock()
        if let hit = cache[key] {
            hits += 1
            lock.unlock()
            return hit
        }
        misses += 1
        lock.unlock()
        let html = base.html(markdown, idPrefix: idPrefix)
        lock.lock()
        if bytes > maxBytes { cache.removeAll(); bytes = 0 }
        if cache.updateValue(html, forKey: key) == nil { bytes += key.utf8.count + html.utf8.count }
        lock.unlock()
        return html
    }
}

/// A minimal, always-safe renderer: headings, fenced code and paragraphs, every piece of text HTML-escaped.
public struct EscapingMarkdown: MarkdownRendering {
    public init() {}

    public func html(_ markdown: String, idPrefix: String) -> String {
        var out: [String] = []
        var paragraph: [String] = []
        var code: [String]? = nil
        var codeLang = ""
        func flush() {
            if !paragraph.isEmpty {
                out.append("<p>" + paragraph.map(HTML.escape).joined(separator: "\n") + "</p>")
                paragraph = []
            }
        }
        for rawLine in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(rawLine).replacingOccurrences(of: "\r", with: "")
            if var c = code {
                if line.hasPrefix("```") {
                    let cls = codeLang.isEmpty ? "" : " class=\"language-\(HTML.escape(HTML.fileName(codeLang)))\""
                    out.append("<pre><code\(cls)>" + c.map(HTML.escape).joined(separator: "\n") + "</code></pre>")
                    code = nil
                } else {
                    c.append(line)
                    code = c
                }
                continue
            }
            if line.hasPrefix("```") {
                flush()
                code = []
                codeLang = String(line.dropFirst(3)).trimmingCharacters(in: .whitespaces)
                continue
            }
            let hashes = line.prefix(while: { $0 == "#" }).count
            if hashes >= 1, hashes <= 6, line.dropFirst(hashes).hasPrefix(" ") {
                flush()
                let text = String(line.dropFirst(hashes + 1)).trimmingCharacters(in: .whitespaces)
                out.append("<h\(hashes + 1) id=\"\(HTML.escape(HTML.anchor(idPrefix)))\(Self.slug(text))\">\(HTML.escape(text))</h\(hashes + 1)>")
                continue
            }
            if line.trimmingCharacters(in: .whitespaces).isEmpty { flush(); continue }
            if line.hasPrefix("- ") || line.hasPrefix("* ") {
                flush()
                out.append("<ul><li>" + HTML.escape(String(line.dropFirst(2))) + "</li></ul>")
                continue
            }
            paragraph.append(line)
        }
        flush()
        if let c = code { out.append("<pre><code>" + c.map(HTML.escape).joined(separator: "\n") + "</code></pre>") }
        return out.joined(separator: "\n").replacingOccurrences(of: "</ul>\n<ul>", with: "")
    }

    /// GitHub-like heading anchor: lowercase letters, digits, `-`.
    static func slug(_ text: String) -> String {
        var out = ""
        for ch in text.lowercased().unicodeScalars {
            if CharacterSet.alphanumerics.contains(ch) && ch.isASCII { out.unicodeScalars.append(ch) }
            else if ch == " " || ch == "-" || ch == "_" { out += "-" }
        }
        return out.isEmpty ? "section" : out
    }
}
