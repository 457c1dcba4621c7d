import Foundation
internal import CCmark

/// One-time registration of cmark-gfm's core extensions, done lazily and thread-safely.
///
/// The upstream `cmark_gfm_core_extensions_ensure_registered` guards itself with an
/// unsynchronised `static int`, so it must run once before any concurrent parsing: Swift's
/// `static let` initialiser gives exactly that.
enum CmarkLibrary {
    static let registered: Void = { cmark_gfm_core_extensions_ensure_registered() }()

    /// Serialises parsing. cmark-gfm 0.29 keeps the inline parser's table of special characters in a global: attaching
    /// the autolink extension adds `w` and `:` to it and freeing a parser resets it, so two parsers at once (the
    /// site renders pages in parallel) can drop each other's autolinks (`www.example.org` seen unlinked in a full
    /// test run). One parse at a time keeps the output deterministic.
    static let lock = NSLock()

    /// The GFM extensions attached to every parser.
    static let extensionNames = ["table", "strikethrough", "autolink", "tasklist", "tagfilter"]
}
