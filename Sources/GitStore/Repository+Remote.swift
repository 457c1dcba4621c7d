import Foundation
internal import CGit2

// MARK: - Remotes

extension Repository {
    /// Pushes `refspecs` (e.g. `refs/heads/main:refs/heads/main`, `refs/tags/*:refs/tags/*`) to the remote at `url`
    /// (a path or `file://` URL, or any transport libgit2 was built with).
    /// - SeeAlso: git_remote_create_anonymous, git_remote_push
    public func push(to url: String, refspecs: [String]) throws(GitError) {
        var remote: OpaquePointer?
        try check(git_remote_create_anonymous(&remote, pointer, url), "git_remote_create_anonymous")
        defer { git_remote_free(remote) }
        var opts = git_push_options()
        try check(git_push_options_init(&opts, UInt32(GIT_PUSH_OPTIONS_VERSION)), "git_push_options_init")
        var cStrings: [UnsafeMutablePointer<CChar>?] = refspecs.map { strdup($0) }
        defer { for s in cStrings { free(s) } }
        let rc: Int32 = cStrings.withUnsafeMutableBufferPointer { buf in
            var specs = git_strarray(strings: buf.baseAddress, count: buf.count)
            return git_remote_push(remote, &specs, &opts)
        }
        try check(rc, "git_remote_push")
    }
}
