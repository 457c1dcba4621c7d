import Foundation
internal import CGit2

// MARK: - Packing loose objects

extension Repository {
    /// What a pack run did.
    public struct PackReport: Sendable, Equatable {
        /// Objects written into the new pack (0: nothing reachable was loose, no pack written).
        public var objectsPacked: Int
        /// Loose object files removed because the new pack holds them.
        public var looseRemoved: Int
        /// Loose objects left (unreachable ones: git gc would prune them later).
        public var looseLeft: Int
        /// The new pack's file name (`pack-<hash>.pack`), when one was written.
        public var packName: String?
    }

    /// The loose object files of the object database (`objects/xx/yyyy…`).
    public func looseObjectFiles() -> [URL] {
        let objects = gitDirectory.appendingPathComponent("objects")
        let fm = FileManager.default
        var out: [URL] = []
        for dir in (try? fm.contentsOfDirectory(atPath: objects.path)) ?? [] where dir.count == 2 && dir.allSatisfy(\.isHexDigit) {
            let folder = objects.appendingPathComponent(dir)
            for name in (try? fm.contentsOfDirectory(atPath: folder.path)) ?? [] where name.count == 38 && name.allSatisfy(\.isHexDigit) {
                out.append(folder.appendingPathComponent(name))
            }
        }
        return out
    }

    /// Packs every object reachable from any reference (branches, tags — annotated tag objects included) into one
    /// new pack with libgit2's packbuilder, then removes the loose files that pack now holds. Objects already packed
    /// are packed again (one pack of the whole reachable history, as `git gc` leaves it); unreachable loose objects
    /// stay. Readers are never without an object: a loose file is removed only after the pack and its index are in
    /// place.
    /// - SeeAlso: git_packbuilder_insert_walk, git_packbuilder_write, git_odb_backend_one_pack
    public func pack() throws(GitError) -> PackReport {
        var pb: OpaquePointer?
        try check(git_packbuilder_new(&pb, pointer), "git_packbuilder_new")
        guard let pb else { throw .store("git_packbuilder_new", "no packbuilder returned") }
        defer { git_packbuilder_free(pb) }
        git_packbuilder_set_threads(pb, 0)

        var walk: OpaquePointer?
        try check(git_revwalk_new(&walk, pointer), "git_revwalk_new")
        guard let walk else { throw .store("git_revwalk_new", "no revwalk returned") }
        defer { git_revwalk_free(walk) }
        // Every reference's commit (annotated tags are peeled by the walk), and the tag objects themselves.
        var iterator: OpaquePointer?
        try check(git_reference_iterator_new(&iterator, pointer), "git_reference_iterator_new")
        defer { git_reference_iterator_free(iterator) }
        var ref: OpaquePointer?
        while git_reference_next(&ref, iterator) == 0, let r = ref {
            defer { git_reference_free(r) }
            var resolved: OpaquePointer?
            guard git_reference_resolve(&resolved, r) == 0, let resolved else { continue }
            defer { git_reference_free(resolved) }
            guard let target = git_reference_target(resolved) else { continue }
            var object: OpaquePointer?
            guard git_object_lookup(&object, pointer, target, GIT_OBJECT_ANY) == 0, let object else { continue }
            defer { git_object_free(object) }
            var oid = target.pointee
            if git_object_type(object) == GIT_OBJECT_TAG {
                try check(git_packbuilder_insert(pb, &oid, git_reference_name(r)), "git_packbuilder_insert")
                var peeled: OpaquePointer?
                guard git_object_peel(&peeled, object, GIT_OBJECT_COMMIT) == 0, let peeled else { continue }
                var commit = git_object_id(peeled).pointee
                git_object_free(peeled)
                try check(git_revwalk_push(walk, &commit), "git_revwalk_push")
            } else if git_object_type(object) == GIT_OBJECT_COMMIT {
                try check(git_revwalk_push(walk, &oid), "git_revwalk_push")
            }
        }
        try check(git_packbuilder_insert_walk(pb, walk), "git_packbuilder_insert_walk")
        let count = Int(git_packbuilder_object_count(pb))
        guard count > 0 else { return PackReport(objectsPacked: 0, looseRemoved: 0, looseLeft: looseObjectFiles().count, packName: nil) }
        try check(git_packbuilder_write(pb, nil, 0, nil, nil), "git_packbuilder_write")
        guard let cName = git_packbuilder_name(pb) else { throw .store("git_packbuilder_name", "the pack has no name") }
        let name = "pack-\(String(cString: cName))"
        let index = gitDirectory.appendingPathComponent("objects/pack/\(name).idx")

        // The new pack alone, as an object database: a loose object it holds can go.
        var backend: OpaquePointer?
        try check(git_odb_backend_one_pack(&backend, index.path), "git_odb_backend_one_pack")
        var odb: OpaquePointer?
        try check(git_odb_new(&odb), "git_odb_new")
        guard let odb else { throw .store("git_odb_new", "no object database returned") }
        defer { git_odb_free(odb) }
        try check(git_odb_add_backend(odb, backend, 1), "git_odb_add_backend")
        var removed = 0, left = 0
        for file in looseObjectFiles() {
            let hex = file.deletingLastPathComponent().lastPathComponent + file.lastPathComponent
            var oid = git_oid()
            guard git_oid_fromstr(&oid, hex) == 0 else { left += 1; continue }
            if git_odb_exists(odb, &oid) == 1, (try? FileManager.default.removeItem(at: file)) != nil {
                removed += 1
            } else {
                left += 1
            }
        }
        // Older packs whose every object the new pack holds are redundant now (git gc's repack -a -d).
        let packDir = gitDirectory.appendingPathComponent("objects/pack")
        for file in (try? FileManager.default.contentsOfDirectory(atPath: packDir.path)) ?? []
        where file.hasSuffix(".idx") && file != "\(name).idx" {
            let oldIndex = packDir.appendingPathComponent(file)
            guard Self.everyObject(ofPackIndex: oldIndex, isIn: odb) else { continue }
            let stem = String(file.dropLast(4))
            for ext in [".pack", ".idx", ".rev"] { try? FileManager.default.removeItem(at: packDir.appendingPathComponent(stem + ext)) }
        }
        // Empty fan-out folders go too, as git gc leaves them.
        let objects = gitDirectory.appendingPathComponent("objects")
        for dir in (try? FileManager.default.contentsOfDirectory(atPath: objects.path)) ?? [] where dir.count == 2 && dir.allSatisfy(\.isHexDigit) {
            let folder = objects.appendingPathComponent(dir)
            if (try? FileManager.default.contentsOfDirectory(atPath: folder.path))?.isEmpty == true { try? FileManager.default.removeItem(at: folder) }
        }
        return PackReport(objectsPacked: count, looseRemoved: removed, looseLeft: left, packName: name + ".pack")
    }

    /// True when every object of the pack behind `index` exists in `odb` (false on any doubt).
    static func everyObject(ofPackIndex index: URL, isIn odb: OpaquePointer) -> Bool {
        var backend: OpaquePointer?
        guard git_odb_backend_one_pack(&backend, index.path) == 0 else { return false }
        var old: OpaquePointer?
        guard git_odb_new(&old) == 0, let old else { return false }
        defer { git_odb_free(old) }
        guard git_odb_add_backend(old, backend, 1) == 0 else { return false }
        final class Box { let target: OpaquePointer; var allThere = true; init(_ t: OpaquePointer) { target = t } }
        let box = Box(odb)
        let rc = withExtendedLifetime(box) {
            git_odb_foreach(old, { oid, payload in
                guard let oid, let payload else { return -1 }
                let box = Unmanaged<Box>.fromOpaque(payload).takeUnretainedValue()
                if git_odb_exists(box.target, oid) != 1 { box.allThere = false; return 1 }
                return 0
            }, Unmanaged.passUnretained(box).toOpaque())
        }
        return rc == 0 && box.allThere
    }
}
