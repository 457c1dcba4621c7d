import Foundation
internal import CGit2

/// Credentials for a remote, answered when the transport asks (https, ssh).
public enum RemoteCredential: Sendable {
    /// A user name and password or token (https).
    case userPass(username: String, password: String)
    /// A key held by the running ssh-agent (`SSH_AUTH_SOCK`).
    case sshAgent(username: String)
    /// A key pair on disk (ssh).
    case sshKey(username: String, publicKey: String?, privateKey: String, passphrase: String?)
}

/// What a transport accepts, as libgit2 reports it.
public struct CredentialKinds: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let userPass = CredentialKinds(rawValue: GIT_CREDENTIAL_USERPASS_PLAINTEXT.rawValue)
    public static let sshKey = CredentialKinds(rawValue: GIT_CREDENTIAL_SSH_KEY.rawValue)
    public static let username = CredentialKinds(rawValue: GIT_CREDENTIAL_USERNAME.rawValue)
}

/// Asked for credentials: the URL, the user name in it (if any) and what the transport accepts; nil for none.
public typealias CredentialProvider = @Sendable (_ url: String, _ username: String?, _ allowed: CredentialKinds) -> RemoteCredential?

/// The credential callback's state: the provider, and a limit so a refused credential is not offered forever.
class CredentialBox {
    let provider: CredentialProvider?
    var attempts = 0
    init(_ provider: CredentialProvider?) { self.provider = provider }
}

/// Fills `callbacks` with the credential callback answering from `box` (kept alive by the caller).
func installCredentials(_ callbacks: inout git_remote_callbacks, _ box: CredentialBox) {
    callbacks.payload = Unmanaged.passUnretained(box).toOpaque()
    callbacks.credentials = { out, url, usernameFromURL, allowed, payload in
        guard let out, let payload else { return GIT_PASSTHROUGH.rawValue }
        let box = Unmanaged<CredentialBox>.fromOpaque(payload).takeUnretainedValue()
        box.attempts += 1
        guard box.attempts <= 3, let provider = box.provider else { return GIT_PASSTHROUGH.rawValue }
        let user = usernameFromURL.map { String(cString: $0) }
        guard let credential = provider(url.map { String(cString: $0) } ?? "", user, CredentialKinds(rawValue: allowed)) else {
            return GIT_PASSTHROUGH.rawValue
        }
        switch credential {
        case .userPass(let u, let p):
            return git_credential_userpass_plaintext_new(out, u, p)
        case .sshAgent(let u):
            return git_credential_ssh_key_from_agent(out, u)
        case .sshKey(let u, let pub, let priv, let pass):
            return git_credential_ssh_key_new(out, u, pub, priv, pass)
        }
    }
}

extension Repository {
    /// Fetches `refspecs` (e.g. `+refs/heads/main:refs/flywheel/remote/main`, `+refs/tags/*:refs/tags/*`) from the
    /// remote at `url` (a path, `file://`, https or ssh: any transport libgit2 was built with).
    /// - Throws: `GitError` naming `git_remote_fetch` when the transport fails.
    /// - SeeAlso: git_remote_create_anonymous, git_remote_fetch
    public func fetch(from url: String, refspecs: [String], credentials: CredentialProvider? = nil) throws(GitError) {
        var remote: OpaquePointer?
        try check(git_remote_create_anonymous(&remote, pointer, url), "git_remote_create_anonymous")
        defer { git_remote_free(remote) }
        var opts = git_fetch_options()
        try check(git_fetch_options_init(&opts, UInt32(GIT_FETCH_OPTIONS_VERSION)), "git_fetch_options_init")
        let box = CredentialBox(credentials)
        installCredentials(&opts.callbacks, box)
        opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE
        var cStrings: [UnsafeMutablePointer<CChar>?] = refspecs.map { strdup($0) }
        defer { for s in cStrings { free(s) } }
        let rc: Int32 = withExtendedLifetime(box) {
            cStrings.withUnsafeMutableBufferPointer { buf in
                var specs = git_strarray(strings: buf.baseAddress, count: buf.count)
                return git_remote_fetch(remote, &specs, &opts, "flywheel: fetch")
            }
        }
        if rc < 0 {
            let error = GitError.last(rc, "git_remote_fetch")
            throw GitError(code: error.code, klass: error.klass, function: error.function, message: error.message + " (fetching from \(url))")
        }
    }

    /// The best common ancestor of two commits (nil when they share none).
    /// - SeeAlso: git_merge_base
    public func mergeBase(_ a: ObjectID, _ b: ObjectID) throws(GitError) -> ObjectID? {
        var out = git_oid()
        var x = a.oid, y = b.oid
        let rc = git_merge_base(&out, pointer, &x, &y)
        if rc == GIT_ENOTFOUND.rawValue { return nil }
        try check(rc, "git_merge_base")
        return ObjectID(out)
    }

    /// True when `ancestor` is `commit` or one of its ancestors.
    /// - SeeAlso: git_graph_descendant_of
    public func isAncestor(_ ancestor: ObjectID, of commit: ObjectID) throws(GitError) -> Bool {
        if ancestor == commit { return true }
        var x = commit.oid, y = ancestor.oid
        return try check(git_graph_descendant_of(pointer, &x, &y), "git_graph_descendant_of") == 1
    }

    /// Deletes a reference (nothing when it does not exist).
    /// - SeeAlso: git_reference_remove
    public func removeReference(_ name: String) throws(GitError) {
        let rc = git_reference_remove(pointer, name)
        if rc == GIT_ENOTFOUND.rawValue { return }
        try check(rc, "git_reference_remove")
    }

    /// A value of the user's git configuration (global, XDG and system files, then this repository's), nil when unset.
    /// - SeeAlso: git_repository_config_snapshot, git_config_get_string
    public func configValue(_ key: String) -> String? {
        var config: OpaquePointer?
        guard git_repository_config_snapshot(&config, pointer) == 0 else { return nil }
        defer { git_config_free(config) }
        var value: UnsafePointer<CChar>?
        guard git_config_get_string(&value, config, key) == 0, let value else { return nil }
        return String(cString: value)
    }
}
