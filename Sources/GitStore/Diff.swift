/// The changes between two trees, file by file, as libgit2 computed them.
public struct TreeDiff: Sendable, Hashable {
    public let files: [FileDiff]

    public init(files: [FileDiff]) { self.files = files }

    /// Lines added across all files.
    public var additions: Int { files.reduce(0) { $0 + $1.additions } }
    /// Lines removed across all files.
    public var deletions: Int { files.reduce(0) { $0 + $1.deletions } }
    /// The whole unified diff, as `git diff` prints it.
    public var patch: String { files.map(\.patch).joined() }
    public var isEmpty: Bool { files.isEmpty }
}

/// One file's change.
public struct FileDiff: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable, Codable {
        case added, deleted, modified, renamed, copied, typeChange = "type-change", other
    }

    public let oldPath: String
    public let newPath: String
    public let status: Status
    public let additions: Int
    public let deletions: Int
    public let isBinary: Bool
    /// The unified patch text of this file (`diff --git …` header included).
    public let patch: String
    /// The hunks, line by line (for side-by-side views).
    public let hunks: [Hunk]

    /// The path to show: the new path, or the old one for a deletion.
    public var path: String { status == .deleted ? oldPath : newPath }
}

/// One hunk of a file's patch.
public struct Hunk: Sendable, Hashable {
    /// `@@ -a,b +c,d @@ …`
    public let header: String
    public let oldStart: Int
    public let oldLines: Int
    public let newStart: Int
    public let newLines: Int
    public let lines: [DiffLine]
}

/// One line of a hunk.
public struct DiffLine: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable { case context, added, removed, noNewlineAtEnd }
    public let kind: Kind
    /// Line number in the old file (nil for an added line).
    public let oldLine: Int?
    /// Line number in the new file (nil for a removed line).
    public let newLine: Int?
    /// The text, without its trailing newline.
    public let content: String
}
