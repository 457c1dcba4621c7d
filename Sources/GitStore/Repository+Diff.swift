import Foundation
internal import CGit2

// MARK: - Diff (libgit2's own diff; never a hand-written algorithm)

extension Repository {
    /// Diffs two trees (nil = the empty tree), limited to `paths` (pathspecs such as `harness/`).
    /// - Parameters:
    ///   - contextLines: lines of context around each hunk (git's default is 3).
    ///   - detectRenames: pair deletions and additions into renames (`git diff -M`).
    /// - SeeAlso: git_diff_tree_to_tree, git_patch_from_diff, git_patch_line_stats
    public func diff(
        from old: ObjectID?, to new: ObjectID?, paths: [String] = [], contextLines: Int = 3,
        detectRenames: Bool = false
    ) throws(GitError) -> TreeDiff {
        let oldTree = try old.map { (id) throws(GitError) in try lookup(id, GIT_OBJECT_TREE, "git_tree_lookup") }
        defer { if let oldTree { git_object_free(oldTree) } }
        let newTree = try new.map { (id) throws(GitError) in try lookup(id, GIT_OBJECT_TREE, "git_tree_lookup") }
        defer { if let newTree { git_object_free(newTree) } }

        var opts = git_diff_options()
        try check(git_diff_options_init(&opts, UInt32(GIT_DIFF_OPTIONS_VERSION)), "git_diff_options_init")
        opts.context_lines = UInt32(max(0, contextLines))
        var cStrings: [UnsafeMutablePointer<CChar>?] = paths.map { strdup($0) }
        defer { for s in cStrings { free(s) } }
        var diff: OpaquePointer?
        let rc: Int32 = cStrings.withUnsafeMutableBufferPointer { buf in
            opts.pathspec = git_strarray(strings: buf.baseAddress, count: buf.count)
            return git_diff_tree_to_tree(&diff, pointer, oldTree, newTree, &opts)
        }
        try check(rc, "git_diff_tree_to_tree")
        defer { git_diff_free(diff) }
        if detectRenames {
            var find = git_diff_find_options()
            try check(git_diff_find_options_init(&find, UInt32(GIT_DIFF_FIND_OPTIONS_VERSION)), "git_diff_find_options_init")
            try check(git_diff_find_similar(diff, &find), "git_diff_find_similar")
        }

        var files: [FileDiff] = []
        for i in 0..<git_diff_num_deltas(diff) {
            guard let delta = git_diff_get_delta(diff, i) else { continue }
            var patch: OpaquePointer?
            try check(git_patch_from_diff(&patch, diff, i), "git_patch_from_diff")
            defer { git_patch_free(patch) }
            files.append(try fileDiff(delta.pointee, patch))
        }
        return TreeDiff(files: files)
    }

    /// Diffs the trees of two revisions (commits, tags, branch names), limited to `path` when given.
    public func diff(from oldRevision: String, to newRevision: String, path: String? = nil, contextLines: Int = 3) throws(GitError) -> TreeDiff {
        let old = try treeOfCommit(try resolveCommit(oldRevision))
        let new = try treeOfCommit(try resolveCommit(newRevision))
        return try diff(from: old, to: new, paths: path.map { [$0] } ?? [], contextLines: contextLines)
    }

    private func fileDiff(_ delta: git_diff_delta, _ patch: OpaquePointer?) throws(GitError) -> FileDiff {
        var context = 0, adds = 0, dels = 0
        var binary = (delta.flags & GIT_DIFF_FLAG_BINARY.rawValue) != 0
        var text = ""
        var hunks: [Hunk] = []
        if let patch {
            try check(git_patch_line_stats(&context, &adds, &dels, patch), "git_patch_line_stats")
            var buf = git_buf()
            try check(git_patch_to_buf(&buf, patch), "git_patch_to_buf")
            if let ptr = buf.ptr { text = String(decoding: UnsafeRawBufferPointer(start: ptr, count: buf.size), as: UTF8.self) }
            git_buf_dispose(&buf)
            hunks = try self.hunks(patch)
            if let d = git_patch_get_delta(patch) { binary = binary || (d.pointee.flags & GIT_DIFF_FLAG_BINARY.rawValue) != 0 }
        }
        let status: FileDiff.Status
        switch delta.status {
        case GIT_DELTA_ADDED: status = .added
        case GIT_DELTA_DELETED: status = .deleted
        case GIT_DELTA_MODIFIED: status = .modified
        case GIT_DELTA_RENAMED: status = .renamed
        case GIT_DELTA_COPIED: status = .copied
        case GIT_DELTA_TYPECHANGE: status = .typeChange
        default: status = .other
        }
        return FileDiff(
            oldPath: delta.old_file.path.map { String(cString: $0) } ?? "",
            newPath: delta.new_file.path.map { String(cString: $0) } ?? "",
            status: status, additions: adds, deletions: dels, isBinary: binary, patch: text, hunks: hunks)
    }

    private func hunks(_ patch: OpaquePointer) throws(GitError) -> [Hunk] {
        var out: [Hunk] = []
        for h in 0..<git_patch_num_hunks(patch) {
            var hunkPtr: UnsafePointer<git_diff_hunk>?
            var lineCount = 0
            try check(git_patch_get_hunk(&hunkPtr, &lineCount, patch, h), "git_patch_get_hunk")
            guard let hunk = hunkPtr?.pointee else { continue }
            let header = withUnsafeBytes(of: hunk.header) { raw in
                String(decoding: raw.prefix(Int(hunk.header_len)), as: UTF8.self)
            }.trimmingCharacters(in: .newlines)
            var lines: [DiffLine] = []
            for l in 0..<lineCount {
                var linePtr: UnsafePointer<git_diff_line>?
                try check(git_patch_get_line_in_hunk(&linePtr, patch, h, l), "git_patch_get_line_in_hunk")
                guard let line = linePtr?.pointee else { continue }
                var content = line.content.map {
                    String(decoding: UnsafeRawBufferPointer(start: $0, count: line.content_len), as: UTF8.self)
                } ?? ""
                if content.hasSuffix("\n") { content.removeLast() }
                let kind: DiffLine.Kind
                switch UInt8(bitPattern: line.origin) {
                case UInt8(ascii: "+"): kind = .added
                case UInt8(ascii: "-"): kind = .removed
                case UInt8(ascii: " "): kind = .context
                default: kind = .noNewlineAtEnd
                }
                lines.append(DiffLine(
                    kind: kind, oldLine: line.old_lineno > 0 ? Int(line.old_lineno) : nil,
                    newLine: line.new_lineno > 0 ? Int(line.new_lineno) : nil, content: content))
            }
            out.append(Hunk(
                header: header, oldStart: Int(hunk.old_start), oldLines: Int(hunk.old_lines),
                newStart: Int(hunk.new_start), newLines: Int(hunk.new_lines), lines: lines))
        }
        return out
    }
}
