import Foundation
internal import CGit2

// MARK: - Writing many objects as one pack

extension Repository {
    /// How many new files a change set must write before `writeTree(base:changes:)` and `commit(onto:…)` collect
    /// the new objects in memory and write them as one pack instead of one loose file each.
    ///
    /// Creating hundreds of small files (and their fan-out folders) costs more than hashing and compressing them;
    /// one pack is a handful of files. Small stage commits stay loose so the repository does not fill up with
    /// tiny packs.
    public static let packThreshold = Int.max  // TEMP: packbuilder too slow

    /// Runs `body` against a second handle on this repository whose new objects go to an in-memory backend
    /// (`git_mempack`), then writes every object `body` created as one pack (`git_packbuilder_write`: a temporary
    /// file, indexed, then renamed into `objects/pack`). Nothing is written when `body` throws.
    ///
    /// Crash safety: the pack and its index are complete on disk before this returns, so a reference moved
    /// afterwards never points at a missing object; a kill part-way leaves at most an unreferenced temporary file.
    /// - SeeAlso: git_mempack_new, git_odb_add_backend, git_packbuilder_insert, git_packbuilder_write
    func withPackedWrites<R>(_ body: (Repository) throws(GitError) -> R) throws(GitError) -> R {
        let batch = try Repository.open(at: gitDirectory)
        var odb: OpaquePointer?
        try check(git_repository_odb(&odb, batch.pointer), "git_repository_odb")
        defer { git_odb_free(odb) }
        var mempack: UnsafeMutablePointer<git_odb_backend>?
        try check(git_mempack_new(&mempack), "git_mempack_new")
        let rc = git_odb_add_backend(odb, mempack, 1000)
        if rc < 0 {
            let error = GitError.last(rc, "git_odb_add_backend")
            mempack?.pointee.free(mempack)
            throw error
        }
        batch.written = []
        let result = try body(batch)
        let written = batch.written ?? []
        batch.written = nil

        // Only objects that are not already on disk go into the pack (this handle's odb has no mempack).
        var diskODB: OpaquePointer?
        try check(git_repository_odb(&diskODB, pointer), "git_repository_odb")
        defer { git_odb_free(diskODB) }
        var fresh: [git_oid] = []
        var seen = Set<ObjectID>()
        for id in written where seen.insert(id).inserted {
            var oid = id.oid
            if git_odb_exists(diskODB, &oid) == 0 { fresh.append(oid) }
        }
        guard !fresh.isEmpty else { return result }

        var builder: OpaquePointer?
        try check(git_packbuilder_new(&builder, batch.pointer), "git_packbuilder_new")
        defer { git_packbuilder_free(builder) }
        for var oid in fresh {
            try check(git_packbuilder_insert(builder, &oid, nil), "git_packbuilder_insert")
        }
        let packDir = gitDirectory.appendingPathComponent("objects/pack").path
        try check(git_packbuilder_write(builder, packDir, 0, nil, nil), "git_packbuilder_write")
        // Let this handle see the new pack at once.
        try check(git_odb_refresh(diskODB), "git_odb_refresh")
        return result
    }

    /// Records an object written through this handle while `withPackedWrites` collects them.
    func recordWritten(_ id: ObjectID) {
        if written != nil { written?.append(id) }
    }
}
