import Foundation

/// A folder of files by relative path (the sources a project's agent cites, or a harness folder).
public struct SourceFolder: Sendable, Hashable {
    /// Relative path (`policies/returns.md`) → text.
    public var files: [String: String]
    /// The folder's own name, accepted as a prefix of cited paths (`docs/x.md` for `x.md` in `docs/`).
    public var name: String?

    public init(files: [String: String], name: String? = nil) {
        self.files = files
        self.name = name
    }

    /// Reads every regular file under `directory` recursively (symbolic links are not followed out of it).
    public static func load(from directory: URL) throws -> SourceFolder {
        let fm = FileManager.default
        var files: [String: String] = [:]
        let base = directory.resolvingSymlinksInPath().standardizedFileURL.path
        if let e = fm.enumerator(at: directory, includingPropertiesForKeys: [.isRegularFileKey]) {
            for case let url as URL in e {
                guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
                let full = url.resolvingSymlinksInPath().standardizedFileURL.path
                guard full.hasPrefix(base + "/") else { continue }
                files[String(full.dropFirst(base.count + 1))] = String(decoding: try Data(contentsOf: url), as: UTF8.self)
            }
        }
        return SourceFolder(files: files, name: directory.lastPathComponent)
    }

    /// The text at `path`, tolerating `./` and the folder's own name as prefixes.
    public func text(at path: String) -> String? {
        var p = path.trimmingCharacters(in: .whitespaces)
        while p.hasPrefix("./") { p.removeFirst(2) }
        if let t = files[p] { return t }
        if let name, p.hasPrefix(name + "/"), let t = files[String(p.dropFirst(name.count + 1))] { return t }
        return nil
    }
}

/// Text normalised for quote matching: lowercased, curly quotes straightened, whitespace runs collapsed.
func normalizedForQuote(_ text: String) -> String {
    var out = ""
    var space = false
    for ch in text.lowercased() {
        let c: Character
        switch ch {
        case "\u{2018}", "\u{2019}": c = "'"
        case "\u{201C}", "\u{201D}": c = "\""
        case "\u{2013}", "\u{2014}": c = "-"
        default: c = ch
        }
        if c.isWhitespace {
            if !space { out.append(" ") }
            space = true
        } else {
            out.append(c)
            space = false
        }
    }
    return out.trimmingCharacters(in: .whitespaces)
}
