import Foundation
internal import CGit2

// MARK: - Writing trees

extension Repository {
    /// Writes the tree that results from applying `changes` to `base` (or to an empty tree).
    /// Folders left empty disappear, as in git. Blobs are written as regular files (mode 100644).
    /// - Returns: the id of the new root tree.
    /// - SeeAlso: git_treebuilder_new, git_treebuilder_write
    ///
    /// Every path is checked before anything is written. The blobs are written first (on all cores for a large
    /// change set, see `writeBlobs(_:)`), then the trees on this handle, deepest first, so every object a tree
    /// names exists before the tree does.
    public func writeTree(base: ObjectID?, changes: TreeChanges) throws(GitError) -> ObjectID {
        var node = Node()
        for path in changes.removals {
            let parts = try pathComponents(path)
            try node.add(parts, removal: true)
        }
        for (path, data) in changes.writes {
            let parts = try pathComponents(path)
            try node.add(parts, data: data)
        }
        for (path, id) in changes.blobs {
            if changes.writes[path] != nil {
                throw .store("TreeChanges", "\"\(PathRules.printable(path))\" is written both as bytes and as a blob id")
            }
            guard try objectExists(id) else {
                throw .store("TreeChanges", "blob \(id.hex) for \"\(PathRules.printable(path))\" is not in the object database")
            }
            try node.add(try pathComponents(path), data: Data())
        }
        var blobIDs = try writeBlobs(changes.writes)
        for (path, id) in changes.blobs { blobIDs[path] = id }
        if let tree = try build(node, base: base, path: "", blobIDs: blobIDs) { return tree }
        return try emptyTree()
    }

    /// Writes the tree holding exactly `files` (path → bytes).
    public func writeTree(files: [String: Data]) throws(GitError) -> ObjectID {
        try writeTree(base: nil, changes: TreeChanges(writes: files))
    }

    private func emptyTree() throws(GitError) -> ObjectID {
        var builder: OpaquePointer?
        try check(git_treebuilder_new(&builder, pointer, nil), "git_treebuilder_new")
        defer { git_treebuilder_free(builder) }
        var oid = git_oid()
        try check(git_treebuilder_write(&oid, builder), "git_treebuilder_write")
        return ObjectID(oid)
    }

    /// Builds one level; nil when the result is empty.
    /// - Parameters:
    ///   - path: the folder's path with a trailing slash ("" for the root).
    ///   - blobIDs: blobs already written, by path.
    private func build(_ node: Node, base: ObjectID?, path: String, blobIDs: [String: ObjectID]) throws(GitError) -> ObjectID? {
        var baseTree: OpaquePointer?
        if let base { baseTree = try lookup(base, GIT_OBJECT_TREE, "git_tree_lookup") }
        defer { if let baseTree { git_object_free(baseTree) } }
        var builder: OpaquePointer?
        try check(git_treebuilder_new(&builder, pointer, baseTree), "git_treebuilder_new")
        defer { git_treebuilder_free(builder) }

        for name in node.removals.sorted() where git_treebuilder_get(builder, name) != nil {
            try check(git_treebuilder_remove(builder, name), "git_treebuilder_remove")
        }
        for (name, data) in node.files.sorted(by: { $0.key < $1.key }) {
            var blob: git_oid
            if let known = blobIDs[path + name] { blob = known.oid } else { blob = try writeBlob(data).oid }
            try check(git_treebuilder_insert(nil, builder, name, &blob, GIT_FILEMODE_BLOB), "git_treebuilder_insert")
        }
        for (name, child) in node.children.sorted(by: { $0.key < $1.key }) {
            var existing: ObjectID?
            if !node.removals.contains(name), let e = git_treebuilder_get(builder, name),
                git_tree_entry_type(e) == GIT_OBJECT_TREE
            {
                existing = ObjectID(git_tree_entry_id(e))
            }
            if let sub = try build(child, base: existing, path: path + name + "/", blobIDs: blobIDs) {
                var oid = sub.oid
                try check(git_treebuilder_insert(nil, builder, name, &oid, GIT_FILEMODE_TREE), "git_treebuilder_insert")
            } else if git_treebuilder_get(builder, name) != nil {
                try check(git_treebuilder_remove(builder, name), "git_treebuilder_remove")
            }
        }
        if git_treebuilder_entrycount(builder) == 0 { return nil }
        var oid = git_oid()
        try check(git_treebuilder_write(&oid, builder), "git_treebuilder_write")
        return ObjectID(oid)
    }
}

/// One folder level of pending edits.
private struct Node {
    var files: [String: Data] = [:]
    var removals: Set<String> = []
    var children: [String: Node] = [:]

    mutating func add(_ parts: [String], data: Data? = nil, removal: Bool = false) throws(GitError) {
        let name = parts[0]
        if parts.count == 1 {
            if removal {
                removals.insert(name)
            } else if let data {
                if children[name] != nil {
                    throw .store("TreeChanges", "\"\(name)\" is written both as a file and as a folder")
                }
                files[name] = data
            }
            return
        }
        if files[name] != nil { throw .store("TreeChanges", "\"\(name)\" is written both as a file and as a folder") }
        var child = children[name] ?? Node()
        try child.add(Array(parts.dropFirst()), data: data, removal: removal)
        children[name] = child
    }
}
