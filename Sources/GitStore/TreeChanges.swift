import Foundation

/// A set of edits to apply to a tree: whole paths (files or folders) to remove, then files to write.
/// Removals are applied first, so `remove("harness")` plus writes under `harness/` replaces the folder.
public struct TreeChanges: Sendable, Equatable {
    /// Paths (files or whole folders) to remove.
    public var removals: Set<String>
    /// Files to write: path → bytes. Folders are created as needed.
    public var writes: [String: Data]
    /// Files whose blob is already in the object database (e.g. written with ``BlobStreamWriter``): path → blob id.
    public var blobs: [String: ObjectID]

    public init(removals: Set<String> = [], writes: [String: Data] = [:], blobs: [String: ObjectID] = [:]) {
        self.removals = removals
        self.writes = writes
        self.blobs = blobs
    }

    public var isEmpty: Bool { removals.isEmpty && writes.isEmpty && blobs.isEmpty }

    /// Sets `path` to `data`.
    public mutating func write(_ path: String, _ data: Data) { writes[path] = data }
    /// Sets `path` to the UTF-8 bytes of `text`.
    public mutating func write(_ path: String, text: String) { writes[path] = Data(text.utf8) }
    /// Sets `path` to the blob `id`, already written.
    public mutating func write(_ path: String, blob id: ObjectID) { blobs[path] = id }
    /// Removes `path` (a file or a folder).
    public mutating func remove(_ path: String) { removals.insert(path) }

    /// Every path touched, normalised.
    public var touchedPaths: [String] { (Array(removals) + Array(writes.keys) + Array(blobs.keys)).sorted() }
}

/// Splits a repository path into its components, rejecting anything git itself would refuse (see ``PathRules``).
func pathComponents(_ path: String) throws(GitError) -> [String] {
    if let problem = PathRules.problem(path: path) {
        throw .store("TreeChanges", "invalid repository path \"\(PathRules.printable(path))\": \(problem); nothing was written")
    }
    return path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
}
