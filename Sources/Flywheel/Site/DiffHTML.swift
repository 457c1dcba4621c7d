import Foundation
import GitStore

/// Unified and side-by-side HTML for a libgit2 `TreeDiff` (built from its hunks; every line escaped).
enum DiffHTML {
    /// Both views of `diff`: unified tables, with the side-by-side view in a disclosure.
    static func render(_ diff: TreeDiff, id: String, emptyText: String) -> String {
        if diff.isEmpty { return "<p class=\"placeholder\">\(HTML.escape(emptyText))</p>" }
        var out = "<p class=\"diffstat\">\(diff.files.count) file(s) changed, <span class=\"add\">+\(diff.additions)</span> <span class=\"del\">−\(diff.deletions)</span></p>"
        out += "<ul class=\"diff-files\">"
        for (i, f) in diff.files.enumerated() {
            out += "<li><a href=\"#\(HTML.escape(id))-f\(i)\">\(HTML.escape(f.path))</a> <span class=\"muted\">\(f.status.rawValue)</span> <span class=\"add\">+\(f.additions)</span> <span class=\"del\">−\(f.deletions)</span></li>"
        }
        out += "</ul>"
        out += "<div class=\"diff-view\" data-diff=\"\(HTML.escape(id))\">"
        out += "<div class=\"view-switch\" role=\"group\" aria-label=\"Diff view\"><button type=\"button\" class=\"show-unified\" aria-pressed=\"true\">Unified</button><button type=\"button\" class=\"show-split\" aria-pressed=\"false\">Side by side</button></div>"
        for (i, f) in diff.files.enumerated() {
            let fid = "\(id)-f\(i)"
            out += "<section class=\"diff-file\" id=\"\(HTML.escape(fid))\"><h3 class=\"diff-path\"><code>\(HTML.escape(f.oldPath == f.newPath || f.oldPath.isEmpty ? f.path : f.oldPath + " → " + f.newPath))</code> <span class=\"muted\">\(f.status.rawValue)</span></h3>"
            if f.isBinary {
                out += "<p class=\"placeholder\">Binary file.</p></section>"
                continue
            }
            out += unified(f)
            out += split(f)
            out += "</section>"
        }
        out += "</div>"
        return out
    }

    static func unified(_ f: FileDiff) -> String {
        var out = "<table class=\"diff unified\"><colgroup><col class=\"ln\"><col class=\"ln\"><col></colgroup><tbody>"
        for h in f.hunks {
            out += "<tr class=\"hunk\"><td colspan=\"3\">\(HTML.escape(h.header))</td></tr>"
            for l in h.lines {
                let (cls, sign) = style(l.kind)
                out += "<tr class=\"\(cls)\"><td class=\"ln\">\(l.oldLine.map(String.init) ?? "")</td><td class=\"ln\">\(l.newLine.map(String.init) ?? "")</td><td class=\"code\"><span class=\"sign\">\(sign)</span>\(HTML.escape(l.content))</td></tr>"
            }
        }
        return out + "</tbody></table>"
    }

    /// Side by side: within a hunk, each run of removed lines is paired with the following run of added lines.
    static func split(_ f: FileDiff) -> String {
        var out = "<table class=\"diff split\" hidden><colgroup><col class=\"ln\"><col><col class=\"ln\"><col></colgroup><tbody>"
        for h in f.hunks {
            out += "<tr class=\"hunk\"><td colspan=\"4\">\(HTML.escape(h.header))</td></tr>"
            var removed: [DiffLine] = [], added: [DiffLine] = []
            func flush() {
                for i in 0..<max(removed.count, added.count) {
                    let l = i < removed.count ? removed[i] : nil, r = i < added.count ? added[i] : nil
                    out += "<tr>" + cell(l, old: true) + cell(r, old: false) + "</tr>"
                }
                removed = []
                added = []
            }
            for l in h.lines {
                switch l.kind {
                case .removed:
                    if !added.isEmpty { flush() }
                    removed.append(l)
                case .added: added.append(l)
                case .context:
                    flush()
                    out += "<tr class=\"ctx\">" + cell(l, old: true) + cell(l, old: false) + "</tr>"
                case .noNewlineAtEnd:
                    flush()
                    out += "<tr class=\"meta\"><td colspan=\"4\">\(HTML.escape(l.content))</td></tr>"
                }
            }
            flush()
        }
        return out + "</tbody></table>"
    }

    static func cell(_ l: DiffLine?, old: Bool) -> String {
        guard let l else { return "<td class=\"ln\"></td><td class=\"code empty\"></td>" }
        let n = old ? l.oldLine : l.newLine
        let cls = l.kind == .context ? "" : (old ? " del" : " add")
        return "<td class=\"ln\">\(n.map(String.init) ?? "")</td><td class=\"code\(cls)\">\(HTML.escape(l.content))</td>"
    }

    static func style(_ k: DiffLine.Kind) -> (String, String) {
        switch k {
        case .added: return ("add", "+")
        case .removed: return ("del", "-")
        case .context: return ("ctx", " ")
        case .noNewlineAtEnd: return ("meta", "\\")
        }
    }
}
