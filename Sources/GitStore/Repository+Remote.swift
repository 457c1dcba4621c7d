import Foundation
internal import CGit2

// MARK: - Remotes

extension Repository {
    /// Pushes `refspecs` (e.g. `refs/heads/main:refs/heads/main`, `refs/tags/*:refs/tags/*`, a leading `+` to force)
    /// to the remote at `url` (a path or `file://` URL, or any transport libgit2 was built with).
    ///
    /// libgit2 1.5 does not expand wildcards in push refspecs, so a refspec with `*` is expanded here against the
    /// local references first (a wildcard that matches nothing pushes nothing).
    /// - Throws: `GitError` naming `git_remote_push` when the transport fails or the remote rejects a reference
    ///   (for example a non-fast-forward without `+`), with the remote's reason per reference.
    /// - SeeAlso: git_remote_create_anonymous, git_remote_push
    public func push(to url: String, refspecs: [String], credentials: CredentialProvider? = nil) throws(GitError) {
        let expanded = try expandPushRefspecs(refspecs)
        guard !expanded.isEmpty else { return }
        var remote: OpaquePointer?
        try check(git_remote_create_anonymous(&remote, pointer, url), "git_remote_create_anonymous")
        defer { git_remote_free(remote) }
        var opts = git_push_options()
        try check(git_push_options_init(&opts, UInt32(GIT_PUSH_OPTIONS_VERSION)), "git_push_options_init")
        // libgit2 reports a reference the remote refused only through this callback; git_remote_push returns 0.
        // One payload serves both callbacks: the rejections box is also the credential box.
        let rejections = PushRejections(credentials)
        installCredentials(&opts.callbacks, rejections)
        opts.callbacks.push_update_reference = { refname, status, payload in
            if let status, let payload {
                let box = Unmanaged<PushRejections>.fromOpaque(payload).takeUnretainedValue()
                box.messages.append("\(refname.map { String(cString: $0) } ?? "?"): \(String(cString: status))")
            }
            return 0
        }
        var cStrings: [UnsafeMutablePointer<CChar>?] = expanded.map { strdup($0) }
        defer { for s in cStrings { free(s) } }
        let rc: Int32 = withExtendedLifetime(rejections) {
            cStrings.withUnsafeMutableBufferPointer { buf in
                var specs = git_strarray(strings: buf.baseAddress, count: buf.count)
                return git_remote_push(remote, &specs, &opts)
            }
        }
        if rc < 0 {
            let error = GitError.last(rc, "git_remote_push")
            throw GitError(
                code: error.code, klass: error.klass, function: error.function,
                message: error.message + " (pushing \(expanded.joined(separator: " ")) to \(url))")
        }
        if !rejections.messages.isEmpty {
            throw .store("git_remote_push", "the remote \(url) rejected " + rejections.messages.joined(separator: "; "))
        }
    }

    /// Replaces each wildcard refspec (`[+]src/*:dst/*`) by one refspec per matching local reference.
    func expandPushRefspecs(_ refspecs: [String]) throws(GitError) -> [String] {
        var out: [String] = []
        var names: [String]?
        for spec in refspecs {
            guard spec.contains("*") else {
                out.append(spec)
                continue
            }
            let force = spec.hasPrefix("+")
            let body = force ? String(spec.dropFirst()) : spec
            let sides = body.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            let source = sides[0]
            let destination = sides.count > 1 ? sides[1] : source
            guard sides.count <= 2, source.filter({ $0 == "*" }).count == 1,
                destination.filter({ $0 == "*" }).count == 1,
                let star = source.firstIndex(of: "*"), let dstStar = destination.firstIndex(of: "*")
            else {
                throw .store("git_remote_push", "invalid push refspec \"\(spec)\" (one '*' on each side)")
            }
            let prefix = source[..<star], suffix = source[source.index(after: star)...]
            if names == nil { names = try referenceNames() }
            for name in names ?? [] where name.hasPrefix(prefix) && name.hasSuffix(suffix)
                && name.count >= prefix.count + suffix.count
            {
                let middle = name.dropFirst(prefix.count).dropLast(suffix.count)
                let target = destination[..<dstStar] + middle + destination[destination.index(after: dstStar)...]
                out.append((force ? "+" : "") + name + ":" + target)
            }
        }
        return out
    }
}

/// Collects the references a push was refused for (filled by libgit2's callback on the pushing thread).
private final class PushRejections: CredentialBox {
    var messages: [String] = []
}
