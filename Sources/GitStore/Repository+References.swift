import Foundation
internal import CGit2

/// A tag, copied out of libgit2.
public struct TagInfo: Sendable, Hashable {
    /// The short name (`cycle-0003`).
    public let name: String
    /// The commit it points at (peeled through an annotated tag).
    public let target: ObjectID
    /// The tag message, for an annotated tag.
    public let message: String?
}

// MARK: - References

extension Repository {
    /// The object a reference points at (following symbolic references), or nil when it does not exist.
    /// - SeeAlso: git_reference_name_to_id
    public func referenceTarget(_ name: String) throws(GitError) -> ObjectID? {
        var oid = git_oid()
        let rc = git_reference_name_to_id(&oid, pointer, name)
        if rc == GIT_ENOTFOUND.rawValue { return nil }
        try check(rc, "git_reference_name_to_id")
        return ObjectID(oid)
    }

    /// Moves `name` to `target` only if it still points at `expected` (nil: only if it does not exist yet).
    /// - Throws: `GitError` with `isConcurrentUpdate` when another writer got there first.
    /// - SeeAlso: git_reference_create_matching
    public func setReference(_ name: String, to target: ObjectID, expected: ObjectID?, logMessage: String) throws(GitError) {
        var ref: OpaquePointer?
        var new = target.oid
        if let expected {
            var old = expected.oid
            try check(git_reference_create_matching(&ref, pointer, name, &new, 1, &old, logMessage), "git_reference_create_matching")
        } else {
            try check(git_reference_create(&ref, pointer, name, &new, 0, logMessage), "git_reference_create")
        }
        git_reference_free(ref)
    }

    /// Makes a commit on top of `ref` and moves `ref` to it with a compare-and-swap. On a lost race it re-reads
    /// the new tip and calls `change` again, so the stage is re-applied on top of the other writer's commit
    /// (never overwriting it).
    ///
    /// - Parameters:
    ///   - ref: the full reference name, e.g. `refs/heads/main`.
    ///   - message: the commit message (trailers included; see `Repository.message(_:trailers:)`).
    ///   - change: given the current tip (nil for an empty history), returns the edits of this stage, or nil
    ///     to make no commit. It may throw to refuse (for example, a closed cycle).
    ///   - maxAttempts: how many lost races to re-apply before giving up with `isConcurrentUpdate`.
    ///   - abandonedLockAge: a writer holds the ref's lock for milliseconds, so a lock older than this many seconds
    ///     was left by a killed writer: that race never ends, and the commit gives up at once with an error naming
    ///     the lock file (as git does, the lock is not removed: only the user knows no other writer is running).
    ///   - skipUnchanged: make no commit (return nil) when the edits leave the tip's tree as it is.
    /// - Returns: the new commit, or nil when `change` returned nil (or changed nothing, with `skipUnchanged`).
    @discardableResult
    public func commit(
        onto ref: String, message: String, author: Signature, maxAttempts: Int = 1000,
        abandonedLockAge: TimeInterval = 10, skipUnchanged: Bool = false,
        change: (ObjectID?) throws -> TreeChanges?
    ) throws -> ObjectID? {
        var attempt = 0
        while true {
            attempt += 1
            let tip = try referenceTarget(ref)
            guard let changes = try change(tip) else { return nil }
            let baseTree = try tip.map { (t) throws(GitError) in try treeOfCommit(t) }
            let tree = try writeTree(base: baseTree, changes: changes)
            if skipUnchanged, let baseTree, tree == baseTree { return nil }
            let commit = try createCommit(tree: tree, parents: tip.map { [$0] } ?? [], message: message, author: author)
            let moved: Bool
            do {
                try setReference(ref, to: commit, expected: tip, logMessage: "flywheel: " + (message.split(separator: "\n").first.map(String.init) ?? ""))
                moved = false
            } catch {
                guard error.isConcurrentUpdate else { throw error }
                guard attempt < maxAttempts, !lockAbandoned(ref, olderThan: abandonedLockAge) else {
                    throw gaveUp(on: ref, attempts: attempt, error)
                }
                moved = true
            }
            if !moved { return commit }
            // Lost the race: back off a little (jittered) and re-apply on the new tip.
            usleep(UInt32.random(in: 100...(1000 * UInt32(min(attempt, 20)))))
        }
    }

    /// Whether the ref's lock file exists and was last modified more than `age` seconds ago.
    private func lockAbandoned(_ ref: String, olderThan age: TimeInterval) -> Bool {
        let lock = gitDirectory.appendingPathComponent(ref + ".lock").path
        guard let modified = (try? FileManager.default.attributesOfItem(atPath: lock))?[.modificationDate] as? Date else {
            return false
        }
        return Date().timeIntervalSince(modified) > age
    }

    /// The error of a `commit(onto:)` that lost every race: says what to do about a lock a killed writer left.
    private func gaveUp(on ref: String, attempts: Int, _ error: GitError) -> GitError {
        var message = "gave up moving \(ref) after \(attempts == 1 ? "1 attempt" : "\(attempts) attempts"): \(error.message)"
        let lock = gitDirectory.appendingPathComponent(ref + ".lock").path
        if error.code == GIT_ELOCKED.rawValue || FileManager.default.fileExists(atPath: lock) {
            message += " (the lock \(lock) exists: another writer holds it, or a killed one left it;"
                + " if no writer is running, clear it with: rm '\(lock)')"
        }
        return GitError(code: error.code, klass: error.klass, function: error.function, message: message)
    }

    /// Creates a tag pointing at `target`: annotated when `message` is given, lightweight otherwise.
    /// - Throws: `GitError` (with code `GIT_EEXISTS`) when the tag exists and `force` is false.
    /// - SeeAlso: git_tag_create, git_tag_create_lightweight
    @discardableResult
    public func createTag(
        _ name: String, target: ObjectID, message: String? = nil, tagger: Signature? = nil, force: Bool = false
    ) throws(GitError) -> ObjectID {
        let obj = try lookup(target, GIT_OBJECT_ANY, "git_object_lookup")
        defer { git_object_free(obj) }
        var oid = git_oid()
        if let message {
            try (tagger ?? .flywheel()).withGitSignature { (sig) throws(GitError) in
                _ = try check(git_tag_create(&oid, pointer, name, obj, sig, message, force ? 1 : 0), "git_tag_create")
            }
        } else {
            try check(git_tag_create_lightweight(&oid, pointer, name, obj, force ? 1 : 0), "git_tag_create_lightweight")
        }
        return ObjectID(oid)
    }

    /// Every tag, sorted by name, peeled to its commit.
    /// - SeeAlso: git_tag_list
    public func tags() throws(GitError) -> [TagInfo] {
        var names = git_strarray()
        try check(git_tag_list(&names, pointer), "git_tag_list")
        defer { git_strarray_dispose(&names) }
        var out: [TagInfo] = []
        for i in 0..<names.count {
            guard let cName = names.strings[i] else { continue }
            let name = String(cString: cName)
            var obj: OpaquePointer?
            try check(git_revparse_single(&obj, pointer, "refs/tags/" + name), "git_revparse_single")
            defer { git_object_free(obj) }
            var message: String?
            if git_object_type(obj) == GIT_OBJECT_TAG {
                message = git_tag_message(obj).map { String(cString: $0) }
            }
            var peeled: OpaquePointer?
            guard git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT) == 0 else { continue }
            defer { git_object_free(peeled) }
            out.append(TagInfo(name: name, target: ObjectID(git_object_id(peeled)), message: message))
        }
        return out.sorted { $0.name < $1.name }
    }

    /// Every reference name (branches, tags, others), sorted.
    /// - SeeAlso: git_reference_list
    public func referenceNames() throws(GitError) -> [String] {
        var names = git_strarray()
        try check(git_reference_list(&names, pointer), "git_reference_list")
        defer { git_strarray_dispose(&names) }
        return (0..<names.count).compactMap { names.strings[$0].map { String(cString: $0) } }.sorted()
    }
}
