internal import CCmark

/// One-time registration of cmark-gfm's core extensions, done lazily and thread-safely.
///
/// The upstream `cmark_gfm_core_extensions_ensure_registered` guards itself with an
/// unsynchronised `static int`, so it must run once before any concurrent parsing: Swift's
/// `static let` initialiser gives exactly that.
enum CmarkLibrary {
    static let registered: Void = { cmark_gfm_core_extensions_ensure_registered() }()

    /// The GFM extensions attached to every parser.
    static let extensionNames = ["table", "strikethrough", "autolink", "tasklist", "tagfilter"]
}
