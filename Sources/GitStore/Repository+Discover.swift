import Foundation
internal import CGit2

// MARK: - Discovering the agent's own repository

extension Repository {
    /// The commit HEAD points at in the git repository containing `folder` (searching parent folders),
    /// or nil when `folder` is not inside a git repository or HEAD is unborn.
    /// - SeeAlso: git_repository_open_ext, git_reference_name_to_id
    public static func headCommit(containing folder: URL) -> ObjectID? {
        _ = LibGit2.initialized
        var repo: OpaquePointer?
        guard git_repository_open_ext(&repo, folder.path, 0, nil) == 0, let repo else { return nil }
        defer { git_repository_free(repo) }
        var oid = git_oid()
        guard git_reference_name_to_id(&oid, repo, "HEAD") == 0 else { return nil }
        return ObjectID(oid)
    }
}
