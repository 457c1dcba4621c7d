import Foundation

/// The rules every tree entry name passes before anything is written: git's own (`verify_path`, fsck's
/// `hasDot`/`hasDotdot`/`hasDotgit`, libgit2's `git_path_is_valid` with the NTFS and HFS protections on), so that
/// `git fsck --strict` and a remote with `receive.fsckObjects` accept every history GitStore writes, on any OS.
public enum PathRules {
    /// Longest entry name in bytes (the common file-system limit).
    public static let maxComponentBytes = 255
    /// Longest repository path in bytes (PATH_MAX).
    public static let maxPathBytes = 4096

    /// Code points HFS+ ignores when it compares names (git's `next_hfs_char`): `.git\u{200C}` is `.git` there.
    static let hfsIgnorable: Set<UInt32> = [
        0x200C, 0x200D, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E,
        0x206A, 0x206B, 0x206C, 0x206D, 0x206E, 0x206F, 0xFEFF,
    ]

    /// Why `name` cannot be one tree entry name, or nil when it can.
    public static func problem(component name: String) -> String? {
        if name.isEmpty { return "an empty name" }
        if name == "." || name == ".." { return "\"\(name)\" (a traversal)" }
        let bytes = Array(name.utf8)
        if bytes.count > maxComponentBytes { return "a name of \(bytes.count) bytes (the limit is \(maxComponentBytes))" }
        if let c = bytes.first(where: { $0 < 0x20 || $0 == 0x7F }) { return String(format: "a control character (0x%02X)", c) }
        if bytes.contains(0x2F) { return "a slash" }
        if bytes.contains(0x5C) { return "a backslash (a folder separator on Windows)" }
        if isDotGit(name, hfs: true, ntfs: true, base: "git", shortName: "git~1") {
            return "a name git treats as its own folder .git (fsck hasDotgit)"
        }
        if isDotGit(name, hfs: true, ntfs: true, base: "gitmodules", shortName: "gitmod~1") {
            return "a name git treats as .gitmodules"
        }
        return nil
    }

    /// Why `path` (slash-separated, relative) cannot be written into a tree, or nil when it can.
    public static func problem(path: String) -> String? {
        if path.isEmpty { return "an empty path" }
        if path.hasPrefix("/") { return "an absolute path" }
        if path.utf8.count > maxPathBytes { return "a path of \(path.utf8.count) bytes (the limit is \(maxPathBytes))" }
        for part in path.split(separator: "/", omittingEmptySubsequences: false) {
            if let p = problem(component: String(part)) { return p }
        }
        return nil
    }

    /// True when `name` names `.<base>` on some file system git protects: case-insensitively, with HFS+'s ignorable
    /// code points removed, with NTFS's trailing dots and spaces and `:stream` suffix removed, or as its 8.3 short name.
    static func isDotGit(_ name: String, hfs: Bool, ntfs: Bool, base: String, shortName: String) -> Bool {
        // HFS+: drop ignorable code points, fold case.
        let folded = String(String.UnicodeScalarView(name.unicodeScalars.filter { !hfsIgnorable.contains($0.value) })).lowercased()
        if hfs, folded == "." + base { return true }
        guard ntfs else { return false }
        // NTFS: `name:stream` is `name`; trailing dots and spaces vanish.
        var n = name.lowercased()
        if let colon = n.firstIndex(of: ":") { n = String(n[..<colon]) }
        while let last = n.last, last == "." || last == " " { n.removeLast() }
        if n == "." + base || n == shortName { return true }
        // Other short names NTFS may generate (`git~2` … `git~9`) only for `.git`.
        if base == "git", n.count == 5, n.hasPrefix("git~"), let d = n.last, d.isNumber { return true }
        return false
    }

    /// `text` with control characters and invisible code points shown as `\u{…}`, at most 120 characters: safe to
    /// print in a message.
    public static func printable(_ text: String) -> String {
        var out = ""
        for (i, u) in text.unicodeScalars.enumerated() {
            if i == 120 { out += "…"; break }
            if u.value < 0x20 || u.value == 0x7F || hfsIgnorable.contains(u.value) || (0x2028...0x2029).contains(u.value) {
                out += "\\u{\(String(u.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(u)
            }
        }
        return out
    }
}
