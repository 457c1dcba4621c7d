import Foundation

/// SIGPIPE, ignored once for the whole process.
///
/// Flywheel writes to children's stdin (agents, suite scripts, `exec:` providers, git credential helpers). A child that
/// exits without reading would otherwise kill Flywheel with SIGPIPE on that write, silently and only when the child
/// happens to be fast; ignored, the write fails with EPIPE, which each caller handles. Touch `BrokenPipe.ignored`
/// before any such write.
public enum BrokenPipe {
    /// Evaluated once: sets SIGPIPE's disposition to SIG_IGN.
    public static let ignored: Void = { _ = signal(SIGPIPE, SIG_IGN) }()
}
