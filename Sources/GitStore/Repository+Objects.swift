import Foundation
internal import CGit2

/// One entry of a tree.
public struct TreeEntry: Sendable, Hashable {
    public enum Kind: Sendable, Hashable { case blob, tree, commit }
    public let name: String
    public let id: ObjectID
    public let kind: Kind
    /// The git file mode (0o100644, 0o100755, 0o040000, …).
    public let mode: UInt32
}

// MARK: - Blobs and trees (read)

extension Repository {
    /// Writes `data` as a blob.
    /// - SeeAlso: git_blob_create_from_buffer
    public func writeBlob(_ data: Data) throws(GitError) -> ObjectID {
        var oid = git_oid()
        let rc = data.withUnsafeBytes { raw in
            git_blob_create_from_buffer(&oid, pointer, raw.baseAddress, raw.count)
        }
        try check(rc, "git_blob_create_from_buffer")
        return ObjectID(oid)
    }

    /// The bytes of a blob.
    /// - SeeAlso: git_blob_rawcontent
    public func blob(_ id: ObjectID) throws(GitError) -> Data {
        let obj = try lookup(id, GIT_OBJECT_BLOB, "git_blob_lookup")
        defer { git_object_free(obj) }
        let size = Int(git_blob_rawsize(obj))
        guard size > 0, let raw = git_blob_rawcontent(obj) else { return Data() }
        return Data(bytes: raw, count: size)
    }

    /// The tree of a commit.
    public func treeOfCommit(_ commit: ObjectID) throws(GitError) -> ObjectID {
        let obj = try lookup(commit, GIT_OBJECT_COMMIT, "git_commit_lookup")
        defer { git_object_free(obj) }
        return ObjectID(git_commit_tree_id(obj))
    }

    /// The entries of a tree, in git's order.
    public func entries(ofTree tree: ObjectID) throws(GitError) -> [TreeEntry] {
        let obj = try lookup(tree, GIT_OBJECT_TREE, "git_tree_lookup")
        defer { git_object_free(obj) }
        let count = git_tree_entrycount(obj)
        var result: [TreeEntry] = []
        result.reserveCapacity(count)
        for i in 0..<count {
            guard let e = git_tree_entry_byindex(obj, i) else { continue }
            result.append(Self.entry(e))
        }
        return result
    }

    static func entry(_ e: OpaquePointer) -> TreeEntry {
        let type = git_tree_entry_type(e)
        let kind: TreeEntry.Kind = type == GIT_OBJECT_TREE ? .tree : (type == GIT_OBJECT_COMMIT ? .commit : .blob)
        return TreeEntry(
            name: String(cString: git_tree_entry_name(e)), id: ObjectID(git_tree_entry_id(e)), kind: kind,
            mode: git_tree_entry_filemode(e).rawValue)
    }

    /// The entry at `path` inside `tree`, or nil when there is none.
    /// - SeeAlso: git_tree_entry_bypath
    public func entry(atPath path: String, inTree tree: ObjectID) throws(GitError) -> TreeEntry? {
        let trimmed = path.split(separator: "/").joined(separator: "/")
        if trimmed.isEmpty { return TreeEntry(name: "", id: tree, kind: .tree, mode: 0o040000) }
        let obj = try lookup(tree, GIT_OBJECT_TREE, "git_tree_lookup")
        defer { git_object_free(obj) }
        var e: OpaquePointer?
        let rc = git_tree_entry_bypath(&e, obj, trimmed)
        if rc == GIT_ENOTFOUND.rawValue { return nil }
        try check(rc, "git_tree_entry_bypath")
        guard let e else { return nil }
        defer { git_tree_entry_free(e) }
        return Self.entry(e)
    }

    /// The bytes of the file at `path` in the commit named by `revision`, or nil when it has no such file.
    public func file(_ path: String, at revision: String) throws(GitError) -> Data? {
        let tree = try treeOfCommit(try resolveCommit(revision))
        guard let e = try entry(atPath: path, inTree: tree), e.kind == .blob else { return nil }
        return try blob(e.id)
    }

    /// Every file below `prefix` (or the whole tree) as path → bytes, paths relative to the tree's root.
    public func files(inTree tree: ObjectID, under prefix: String = "") throws(GitError) -> [String: Data] {
        var out: [String: Data] = [:]
        try walkFiles(inTree: tree, under: prefix) { (path: String, id: ObjectID) throws(GitError) in
            out[path] = try blob(id)
        }
        return out
    }

    /// Every file path below `prefix` with its blob id, without reading contents.
    public func fileIDs(inTree tree: ObjectID, under prefix: String = "") throws(GitError) -> [String: ObjectID] {
        var out: [String: ObjectID] = [:]
        try walkFiles(inTree: tree, under: prefix) { (path: String, id: ObjectID) throws(GitError) in out[path] = id }
        return out
    }

    private func walkFiles(
        inTree tree: ObjectID, under prefix: String, _ visit: (String, ObjectID) throws(GitError) -> Void
    ) throws(GitError) {
        let base = prefix.split(separator: "/").joined(separator: "/")
        guard let start = try entry(atPath: base, inTree: tree) else { return }
        if start.kind == .blob {
            try visit(base, start.id)
            return
        }
        var stack: [(String, ObjectID)] = [(base, start.id)]
        while let (dir, id) = stack.popLast() {
            for e in try entries(ofTree: id) {
                let path = dir.isEmpty ? e.name : dir + "/" + e.name
                switch e.kind {
                case .blob: try visit(path, e.id)
                case .tree: stack.append((path, e.id))
                case .commit: continue
                }
            }
        }
    }
}
