internal import CGit2

/// Initialises libgit2 exactly once, lazily and thread-safely (Swift's lazy statics are once-only).
/// Every entry point that touches libgit2 references `LibGit2.initialized` first.
/// libgit2 is never shut down: the last `git_libgit2_shutdown` tears down global state.
enum LibGit2 {
    static let initialized: Void = { _ = git_libgit2_init() }()
}
