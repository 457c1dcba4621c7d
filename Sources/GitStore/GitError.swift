internal import CGit2

/// An error from libgit2 (or from GitStore's own checks), with libgit2's message and the failing function.
public struct GitError: Error, Sendable, CustomStringConvertible, Equatable {
    /// libgit2's return code (`git_error_code`), or one of GitStore's own negative codes.
    public let code: Int32
    /// libgit2's error class (`git_error_t`), 0 when unknown.
    public let klass: Int32
    /// The C function (or GitStore operation) that failed.
    public let function: String
    /// The message, as libgit2 gave it.
    public let message: String

    public init(code: Int32, klass: Int32 = 0, function: String, message: String) {
        self.code = code
        self.klass = klass
        self.function = function
        self.message = message
    }

    public var description: String { "\(function) failed (\(code)): \(message)" }

    /// The object, reference or path does not exist.
    public var isNotFound: Bool { code == GIT_ENOTFOUND.rawValue }
    /// A compare-and-swap lost: the reference moved (or was created) under us, or is locked by another writer.
    public var isConcurrentUpdate: Bool {
        code == GIT_EMODIFIED.rawValue || code == GIT_EEXISTS.rawValue || code == GIT_ELOCKED.rawValue
    }

    /// A GitStore-level failure that did not come from libgit2.
    static func store(_ function: String, _ message: String, code: Int32 = -1) -> GitError {
        GitError(code: code, klass: 0, function: function, message: message)
    }

    /// Reads `git_error_last()` synchronously, right after the failing call (it is thread-local and may be NULL in 1.5).
    static func last(_ rc: Int32, _ function: StaticString) -> GitError {
        var message = "unknown libgit2 error"
        var klass: Int32 = 0
        if let err = git_error_last() {
            klass = err.pointee.klass
            if let msg = err.pointee.message { message = String(cString: msg) }
        }
        return GitError(code: rc, klass: klass, function: "\(function)", message: message)
    }
}

/// Throws a `GitError` built from `git_error_last()` when `rc < 0`; returns `rc` otherwise.
@discardableResult
func check(_ rc: Int32, _ function: StaticString) throws(GitError) -> Int32 {
    if rc < 0 { throw GitError.last(rc, function) }
    return rc
}
