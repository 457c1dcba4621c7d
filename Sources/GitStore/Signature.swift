import Foundation
internal import CGit2

/// Who made a commit or tag, and when.
public struct Signature: Sendable, Hashable {
    public var name: String
    public var email: String
    /// Seconds since the epoch.
    public var time: Int64
    /// Offset from UTC in minutes.
    public var offsetMinutes: Int32

    public init(name: String, email: String, time: Int64, offsetMinutes: Int32 = 0) {
        self.name = name
        self.email = email
        self.time = time
        self.offsetMinutes = offsetMinutes
    }

    /// The signature Flywheel commits with: `FLYWHEEL_AUTHOR_NAME` / `FLYWHEEL_AUTHOR_EMAIL` when set,
    /// and the current time, or `SOURCE_DATE_EPOCH` when set (reproducible histories).
    public static func flywheel(environment: [String: String] = ProcessInfo.processInfo.environment) -> Signature {
        let time = environment["SOURCE_DATE_EPOCH"].flatMap(Int64.init) ?? Int64(Date().timeIntervalSince1970)
        return Signature(
            name: environment["FLYWHEEL_AUTHOR_NAME"] ?? "Flywheel",
            email: environment["FLYWHEEL_AUTHOR_EMAIL"] ?? "flywheel@localhost",
            time: time)
    }

    public var date: Date { Date(timeIntervalSince1970: TimeInterval(time)) }

    init(_ sig: UnsafePointer<git_signature>) {
        self.name = sig.pointee.name.map { String(cString: $0) } ?? ""
        self.email = sig.pointee.email.map { String(cString: $0) } ?? ""
        self.time = sig.pointee.when.time
        self.offsetMinutes = sig.pointee.when.offset
    }

    /// Calls `body` with a libgit2 signature that lives for the call.
    func withGitSignature<R>(_ body: (UnsafeMutablePointer<git_signature>) throws(GitError) -> R) throws(GitError) -> R {
        var sig: UnsafeMutablePointer<git_signature>?
        try check(git_signature_new(&sig, name, email, git_time_t(time), Int32(offsetMinutes)), "git_signature_new")
        guard let sig else { throw .store("git_signature_new", "no signature returned") }
        defer { git_signature_free(sig) }
        return try body(sig)
    }
}
