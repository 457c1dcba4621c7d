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

    /// Whether the work tree of the git repository containing `folder` has uncommitted changes to tracked files (or
    /// untracked files), nil when `folder` is not in a work tree.
    /// - SeeAlso: git_status_list_new
    public static func hasUncommittedChanges(containing folder: URL) -> Bool? {
        _ = LibGit2.initialized
        var repo: OpaquePointer?
        guard git_repository_open_ext(&repo, folder.path, 0, nil) == 0, let repo else { return nil }
        defer { git_repository_free(repo) }
        guard git_repository_is_bare(repo) == 0 else { return nil }
        var opts = git_status_options()
        guard git_status_options_init(&opts, UInt32(GIT_STATUS_OPTIONS_VERSION)) == 0 else { return nil }
        opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR
        opts.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED.rawValue | GIT_STATUS_OPT_EXCLUDE_SUBMODULES.rawValue
        var list: OpaquePointer?
        guard git_status_list_new(&list, repo, &opts) == 0, let list else { return nil }
        defer { git_status_list_free(list) }
        return git_status_list_entrycount(list) > 0
    }
}
