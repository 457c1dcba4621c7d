import Foundation
internal import CGit2

/// A git repository opened through libgit2. Flywheel never needs a work tree: every write goes to the
/// object database and references directly.
///
/// Assumes ownership of the `git_repository*` and frees it in `deinit`. Not `Sendable`: confine a
/// `Repository` to one task (see CONVENTIONS 3.7) and pass its `Sendable` value results around.
public final class Repository {
    let pointer: OpaquePointer

    private init(pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit { git_repository_free(pointer) }

    /// Opens the repository at `url` (a bare repository, a `.git` folder or a work tree), without searching parents.
    /// - Throws: `GitError` naming `git_repository_open_ext` when `url` is not a repository.
    public static func open(at url: URL) throws(GitError) -> Repository {
        _ = LibGit2.initialized
        var repo: OpaquePointer?
        let rc = git_repository_open_ext(&repo, url.path, GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue, nil)
        if rc == GIT_ENOTFOUND.rawValue {
            throw GitError(
                code: rc, function: "git_repository_open_ext",
                message: "\(url.path) is not a git repository (run `flywheel init` to create one)")
        }
        try check(rc, "git_repository_open_ext")
        guard let repo else { throw .store("git_repository_open_ext", "no repository returned") }
        return Repository(pointer: repo)
    }

    /// Creates a repository at `url` (making folders as needed) whose HEAD points at `initialHead`.
    /// - Parameter bare: true for a bare repository (Flywheel's default for the loop history).
    public static func create(at url: URL, bare: Bool = true, initialHead: String = "main") throws(GitError) -> Repository {
        _ = LibGit2.initialized
        var opts = git_repository_init_options()
        try check(git_repository_init_options_init(&opts, UInt32(GIT_REPOSITORY_INIT_OPTIONS_VERSION)), "git_repository_init_options_init")
        opts.flags = GIT_REPOSITORY_INIT_MKPATH.rawValue | (bare ? GIT_REPOSITORY_INIT_BARE.rawValue : 0)
        var repo: OpaquePointer?
        let rc: Int32 = initialHead.withCString { head in
            opts.initial_head = head
            return git_repository_init_ext(&repo, url.path, &opts)
        }
        try check(rc, "git_repository_init_ext")
        guard let repo else { throw .store("git_repository_init_ext", "no repository returned") }
        return Repository(pointer: repo)
    }

    /// Opens the repository at `url`, creating it (bare unless `bare` is false) when nothing is there yet.
    ///
    /// A new repository is made in a temporary folder beside `url` and renamed into place, so a process killed while
    /// creating it leaves no half-made repository at `url` (the next run would refuse it as "not a git repository").
    /// When another process creates it first, that one is opened.
    public static func openOrCreate(at url: URL, bare: Bool = true) throws(GitError) -> Repository {
        let fm = FileManager.default
        if fm.fileExists(atPath: url.path) {
            let contents = (try? fm.contentsOfDirectory(atPath: url.path)) ?? []
            if !contents.isEmpty { return try open(at: url) }
        }
        let parent = url.deletingLastPathComponent()
        do { try fm.createDirectory(at: parent, withIntermediateDirectories: true) } catch {
            throw .store("openOrCreate", "cannot create \(parent.path): \(error.localizedDescription)")
        }
        let staging = parent.appendingPathComponent(".\(url.lastPathComponent).creating-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        do {
            _ = try create(at: staging, bare: bare)
        } catch {
            try? fm.removeItem(at: staging)
            throw error
        }
        if rename(staging.path, url.path) != 0 {
            let why = String(cString: strerror(errno))
            try? fm.removeItem(at: staging)
            // Someone else made it meanwhile: use theirs.
            if let other = try? open(at: url) { return other }
            throw .store("openOrCreate", "cannot move the new repository into \(url.path): \(why)")
        }
        return try open(at: url)
    }

    /// True for a repository without a work tree.
    public var isBare: Bool { git_repository_is_bare(pointer) == 1 }

    /// The git folder (for a bare repository, the repository itself).
    public var gitDirectory: URL {
        URL(fileURLWithPath: String(cString: git_repository_path(pointer)), isDirectory: true)
    }

    /// The work tree of a non-bare repository.
    public var workDirectory: URL? {
        git_repository_workdir(pointer).map { URL(fileURLWithPath: String(cString: $0), isDirectory: true) }
    }

    // MARK: - Object lookup helpers (owned pointers, freed by the caller's defer)

    func lookup(_ id: ObjectID, _ type: git_object_t, _ function: StaticString) throws(GitError) -> OpaquePointer {
        var oid = id.oid
        var obj: OpaquePointer?
        try check(git_object_lookup(&obj, pointer, &oid, type), function)
        guard let obj else { throw .store("\(function)", "object \(id) missing") }
        return obj
    }

    /// Resolves a revision (`main`, `cycle-0003`, `HEAD~2`, a hex id) to the commit it names.
    /// - Throws: `GitError` with `isNotFound` when nothing matches.
    public func resolveCommit(_ spec: String) throws(GitError) -> ObjectID {
        var obj: OpaquePointer?
        try check(git_revparse_single(&obj, pointer, spec), "git_revparse_single")
        defer { git_object_free(obj) }
        var peeled: OpaquePointer?
        try check(git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT), "git_object_peel")
        defer { git_object_free(peeled) }
        return ObjectID(git_object_id(peeled))
    }

    /// Checks every reachable object can be read and parsed; the first unreadable one is thrown.
    /// A cheap integrity check (`git fsck` remains the peer in tests).
    public func verifyReachable(from ref: String) throws(GitError) -> Int {
        guard let tip = try referenceTarget(ref) else { return 0 }
        var seen = Set<ObjectID>()
        var stack: [ObjectID] = []
        for commit in try log(from: tip.hex) {
            seen.insert(commit.id)
            stack.append(commit.tree)
        }
        while let tree = stack.popLast() {
            guard seen.insert(tree).inserted else { continue }
            for entry in try entries(ofTree: tree) {
                switch entry.kind {
                case .tree: stack.append(entry.id)
                case .blob:
                    if seen.insert(entry.id).inserted { _ = try blob(entry.id) }
                case .commit: continue
                }
            }
        }
        return seen.count
    }
}
