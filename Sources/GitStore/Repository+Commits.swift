import Foundation
internal import CGit2

/// A commit, copied out of libgit2.
public struct CommitInfo: Sendable, Hashable {
    public let id: ObjectID
    public let tree: ObjectID
    public let parents: [ObjectID]
    /// The whole message.
    public let message: String
    /// The first line.
    public let summary: String
    public let author: Signature
    public let committer: Signature
    /// `Key: Value` trailers of the message's last paragraph, in order.
    public let trailers: [Trailer]

    /// The value of the first trailer named `key` (case-insensitive), if any.
    public func trailer(_ key: String) -> String? {
        trailers.first { $0.key.lowercased() == key.lowercased() }?.value
    }
}

/// One `Key: Value` line of a commit message's trailer block.
public struct Trailer: Sendable, Hashable {
    public let key: String
    public let value: String
    public init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
    }
}

// MARK: - Commits

extension Repository {
    /// Formats a commit message with a trailer block (`Key: Value` lines after a blank line).
    public static func message(_ body: String, trailers: [Trailer]) -> String {
        var text = body.trimmingCharacters(in: .whitespacesAndNewlines)
        if !trailers.isEmpty {
            text += "\n\n" + trailers.map { "\($0.key): \($0.value)" }.joined(separator: "\n")
        }
        return text + "\n"
    }

    /// Creates a commit object (no reference is moved; see `setReference` and `commit(onto:…)`).
    /// The message is UTF-8 and, as git does, no `encoding` header is written, so `git commit-tree` with the same
    /// tree, parents, identities and message makes the same id.
    /// - SeeAlso: git_commit_create
    public func createCommit(
        tree: ObjectID, parents: [ObjectID], message: String, author: Signature, committer: Signature? = nil
    ) throws(GitError) -> ObjectID {
        let treeObj = try lookup(tree, GIT_OBJECT_TREE, "git_tree_lookup")
        defer { git_object_free(treeObj) }
        var parentObjs: [OpaquePointer?] = []
        defer { for p in parentObjs { git_object_free(p) } }
        for p in parents { parentObjs.append(try lookup(p, GIT_OBJECT_COMMIT, "git_commit_lookup")) }
        var oid = git_oid()
        try author.withGitSignature { (a) throws(GitError) in
            try (committer ?? author).withGitSignature { (c) throws(GitError) in
                let rc = parentObjs.withUnsafeMutableBufferPointer { buf in
                    git_commit_create(&oid, pointer, nil, a, c, nil, message, treeObj, buf.count, buf.baseAddress)
                }
                _ = try check(rc, "git_commit_create")
            }
        }
        return ObjectID(oid)
    }

    /// Reads a commit.
    /// - SeeAlso: git_commit_lookup, git_message_trailers
    public func commitInfo(_ id: ObjectID) throws(GitError) -> CommitInfo {
        let c = try lookup(id, GIT_OBJECT_COMMIT, "git_commit_lookup")
        defer { git_object_free(c) }
        let message = git_commit_message(c).map { String(cString: $0) } ?? ""
        let summary = git_commit_summary(c).map { String(cString: $0) } ?? ""
        var parents: [ObjectID] = []
        for i in 0..<git_commit_parentcount(c) {
            if let p = git_commit_parent_id(c, i) { parents.append(ObjectID(p)) }
        }
        return CommitInfo(
            id: id, tree: ObjectID(git_commit_tree_id(c)), parents: parents, message: message, summary: summary,
            author: Signature(git_commit_author(c)), committer: Signature(git_commit_committer(c)),
            trailers: Self.trailers(of: message))
    }

    static func trailers(of message: String) -> [Trailer] {
        var arr = git_message_trailer_array()
        guard git_message_trailers(&arr, message) == 0 else { return [] }
        defer { git_message_trailer_array_free(&arr) }
        var out: [Trailer] = []
        for i in 0..<arr.count {
            let t = arr.trailers[i]
            out.append(Trailer(String(cString: t.key), String(cString: t.value)))
        }
        return out
    }

    /// The commits reachable from `revision`, newest first (topological, then time order).
    /// - Parameter limit: stop after this many.
    /// - SeeAlso: git_revwalk_next
    public func log(from revision: String, limit: Int = .max) throws(GitError) -> [CommitInfo] {
        let tip = try resolveCommit(revision)
        var walk: OpaquePointer?
        try check(git_revwalk_new(&walk, pointer), "git_revwalk_new")
        defer { git_revwalk_free(walk) }
        try check(git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL.rawValue | GIT_SORT_TIME.rawValue), "git_revwalk_sorting")
        var start = tip.oid
        try check(git_revwalk_push(walk, &start), "git_revwalk_push")
        var out: [CommitInfo] = []
        var oid = git_oid()
        while out.count < limit {
            let rc = git_revwalk_next(&oid, walk)
            if rc == GIT_ITEROVER.rawValue { break }
            try check(rc, "git_revwalk_next")
            out.append(try commitInfo(ObjectID(oid)))
        }
        return out
    }
}
