import Dispatch
import Foundation
internal import CGit2

// MARK: - Writing many objects as one pack

extension Repository {
    /// How many files a change set must write before `writeTree(base:changes:)` and `commit(onto:…)` collect the
    /// new objects in memory and store them as one pack instead of one loose file each.
    ///
    /// Creating hundreds of small files (and their fan-out folders) costs more than hashing and compressing them;
    /// a pack is two files. Small stage commits stay loose, so the repository does not fill up with tiny packs.
    public static let packThreshold = 64

    /// Runs `body` against a second handle on this repository whose new objects go to an in-memory backend
    /// (`git_mempack`), then stores every object `body` created (and the disk does not hold yet) as one pack,
    /// deflated at `packCompressionLevel`.
    /// Nothing is written when `body` throws.
    ///
    /// The pack and its index (formats version 2, objects deflated in parallel, no deltas: `git gc` can repack
    /// later) are written under temporary names and renamed into
    /// `objects/pack` only when complete; libgit2 then reads every new object id back through the new index before
    /// this returns. So a reference moved afterwards never points at a missing object, and a kill part-way leaves
    /// at most an unreferenced temporary file. Object ids are libgit2's (computed when `body` wrote them);
    /// `git_odb_write_pack` (libgit2's indexer) is not used because it inflates and hashes everything a second
    /// time, which doubled the cost of a large commit.
    /// - SeeAlso: git_mempack_new, git_odb_add_backend, git_odb_refresh
    func withPackedWrites<R>(_ body: (Repository) throws(GitError) -> R) throws(GitError) -> R {
        let handle = try Repository.open(at: gitDirectory)
        var memoryODB: OpaquePointer?
        try check(git_repository_odb(&memoryODB, handle.pointer), "git_repository_odb")
        defer { git_odb_free(memoryODB) }
        var mempack: UnsafeMutablePointer<git_odb_backend>?
        try check(git_mempack_new(&mempack), "git_mempack_new")
        guard let mempack else { throw .store("git_mempack_new", "no backend returned") }
        let rc = git_odb_add_backend(memoryODB, mempack, 1000)  // owned by the odb from here on
        if rc < 0 {
            let error = GitError.last(rc, "git_odb_add_backend")
            mempack.pointee.free(mempack)
            throw error
        }
        let batch = PackBatch(odb: memoryODB, mempack: mempack)
        handle.batch = batch
        handle.packCompressionLevel = packCompressionLevel
        defer { handle.batch = nil }
        let result = try body(handle)

        // Only objects the disk does not hold yet go into the pack.
        var diskODB: OpaquePointer?
        try check(git_repository_odb(&diskODB, pointer), "git_repository_odb")
        defer { git_odb_free(diskODB) }
        var fresh: [git_oid] = []
        var seen = Set<ObjectID>()
        for id in batch.written where seen.insert(id).inserted {
            var oid = id.oid
            if git_odb_exists_ext(diskODB, &oid, UInt32(GIT_ODB_LOOKUP_NO_REFRESH.rawValue)) == 0 { fresh.append(oid) }
        }
        guard !fresh.isEmpty else { return result }
        try writePackFiles(fresh, from: memoryODB, prepared: batch.entries)
        // Read the new pack back through libgit2 (it checks the index against the pack) before anyone refers to it.
        try check(git_odb_refresh(diskODB), "git_odb_refresh")
        for var oid in fresh where git_odb_exists_ext(diskODB, &oid, UInt32(GIT_ODB_LOOKUP_NO_REFRESH.rawValue)) == 0 {
            throw .store("git_odb_exists", "object \(ObjectID(oid)) is missing from the pack just written")
        }
        return result
    }

    /// The object folder (in the common folder of a linked work tree).
    /// - SeeAlso: git_repository_item_path
    func objectsDirectory() throws(GitError) -> URL {
        var buf = git_buf()
        defer { git_buf_dispose(&buf) }
        try check(git_repository_item_path(&buf, pointer, GIT_REPOSITORY_ITEM_OBJECTS), "git_repository_item_path")
        return URL(fileURLWithPath: String(cString: buf.ptr), isDirectory: true)
    }

    /// Records an object written through this handle while `withPackedWrites` collects them.
    func recordWritten(_ id: ObjectID) {
        batch?.written.append(id)
    }

    /// While collecting a pack: hashes and deflates every file of `writes` on all cores (one pass over the bytes),
    /// stores the new ones in the in-memory backend under the ids libgit2 computed, and returns path → blob id.
    /// - SeeAlso: git_odb_hash
    func prepareBlobs(_ writes: [String: Data], in batch: PackBatch) throws(GitError) -> [String: git_oid] {
        let items = Array(writes)
        let level = Int32(max(0, min(9, packCompressionLevel)))
        var results = [(oid: git_oid, entry: PackEntry)?](repeating: nil, count: items.count)
        results.withUnsafeMutableBufferPointer { out in
            nonisolated(unsafe) let out = out
            DispatchQueue.concurrentPerform(iterations: items.count) { i in
                items[i].value.withUnsafeBytes { raw in
                    var oid = git_oid()
                    guard git_odb_hash(&oid, raw.baseAddress, raw.count, GIT_OBJECT_BLOB) == 0,
                        let entry = Self.packEntry(
                            type: UInt8(GIT_OBJECT_BLOB.rawValue), raw.baseAddress, raw.count, level: level)
                    else { return }
                    out[i] = (oid, entry)
                }
            }
        }
        var ids: [String: git_oid] = [:]
        for (i, result) in results.enumerated() {
            guard let (found, entry) = result else { throw .store("git_odb_hash", "could not hash or compress \(items[i].key)") }
            var oid = found
            ids[items[i].key] = oid
            let id = ObjectID(oid)
            if batch.entries[id] != nil { continue }
            if git_odb_exists_ext(batch.odb, &oid, UInt32(GIT_ODB_LOOKUP_NO_REFRESH.rawValue)) != 0 { continue }
            guard let write = batch.mempack.pointee.write else { throw .store("git_mempack", "backend cannot write") }
            let rc = items[i].value.withUnsafeBytes { raw in
                write(batch.mempack, &oid, raw.baseAddress, raw.count, GIT_OBJECT_BLOB)
            }
            try check(rc, "git_mempack.write")
            batch.entries[id] = entry
            batch.written.append(id)
        }
        return ids
    }

    /// Writes `ids` (read from `source`) as one undeltified version-2 pack with its version-2 index into
    /// `objects/pack`: each file is written under a temporary name and renamed when complete, the pack first and
    /// the index last (readers find a pack through its index, and ignore a pack without one), so a kill never
    /// leaves an index pointing at an incomplete pack. Leftover `tmp_*` files are removed by `git prune`.
    private func writePackFiles(
        _ ids: [git_oid], from source: OpaquePointer?, prepared: [ObjectID: PackEntry]
    ) throws(GitError) {
        let packDir = try objectsDirectory().appendingPathComponent("pack", isDirectory: true)
        try? FileManager.default.createDirectory(at: packDir, withIntermediateDirectories: true)
        let tag = "\(getpid())_\(UInt32.random(in: 0...UInt32.max))"
        let tmpPack = packDir.appendingPathComponent("tmp_pack_flywheel_\(tag)").path
        let tmpIndex = packDir.appendingPathComponent("tmp_idx_flywheel_\(tag)").path
        var renamed = false
        defer {
            if !renamed {
                unlink(tmpPack)
                unlink(tmpIndex)
            }
        }

        // The pack: header, entries, SHA-1 of all of it.
        let pack = try PackFile(creating: tmpPack)
        var sum = SHA1()
        func emit(_ bytes: [UInt8]) throws(GitError) {
            sum.update(bytes)
            try pack.append(bytes)
        }
        let count = UInt32(ids.count)
        try emit(Array("PACK".utf8) + [0, 0, 0, 2] + Self.bigEndian(count))
        var entries: [(oid: git_oid, crc: UInt32, offset: UInt64)] = []
        entries.reserveCapacity(ids.count)
        var offset: UInt64 = 12
        func add(_ oid: git_oid, _ entry: PackEntry) throws(GitError) {
            try emit(entry.header)
            try emit(entry.data)
            entries.append((oid, entry.crc, offset))
            offset += UInt64(entry.header.count + entry.data.count)
        }
        // Objects compressed ahead (blobs), then the others, read and compressed a window at a time so memory
        // stays bounded.
        var others: [git_oid] = []
        for oid in ids {
            if let entry = prepared[ObjectID(oid)] { try add(oid, entry) } else { others.append(oid) }
        }
        let windowBytes = 32 << 20
        var next = 0
        while next < others.count {
            var objects: [OpaquePointer] = []
            defer { for o in objects { git_odb_object_free(o) } }
            var raw = 0
            let first = next
            while next < others.count && (objects.isEmpty || raw < windowBytes) {
                var obj: OpaquePointer?
                var oid = others[next]
                try check(git_odb_read(&obj, source, &oid), "git_odb_read")
                guard let obj else { throw .store("git_odb_read", "no object returned") }
                objects.append(obj)
                raw += git_odb_object_size(obj)
                next += 1
            }
            let level = Int32(max(0, min(9, packCompressionLevel)))
            for (k, entry) in try Self.packEntries(objects, level: level).enumerated() { try add(others[first + k], entry) }
        }
        let packSum = sum.finish()
        try pack.append(packSum)
        try pack.finish()

        // The index: fan-out, sorted ids, CRCs, offsets (large ones in a second table), pack sum, index sum.
        entries.sort { a, b in Self.bytes(a.oid).lexicographicallyPrecedes(Self.bytes(b.oid)) }
        var index: [UInt8] = [0xFF, 0x74, 0x4F, 0x63, 0, 0, 0, 2]
        var fanout = [UInt32](repeating: 0, count: 256)
        for e in entries { fanout[Int(Self.bytes(e.oid)[0])] += 1 }
        var running: UInt32 = 0
        for b in 0..<256 {
            running += fanout[b]
            index += Self.bigEndian(running)
        }
        for e in entries { index += Self.bytes(e.oid) }
        for e in entries { index += Self.bigEndian(e.crc) }
        var large: [UInt64] = []
        for e in entries {
            if e.offset < 0x8000_0000 {
                index += Self.bigEndian(UInt32(e.offset))
            } else {
                index += Self.bigEndian(0x8000_0000 | UInt32(large.count))
                large.append(e.offset)
            }
        }
        for o in large { index += Self.bigEndian(UInt32(o >> 32)) + Self.bigEndian(UInt32(o & 0xFFFF_FFFF)) }
        index += packSum
        var indexSum = SHA1()
        indexSum.update(index)
        index += indexSum.finish()
        let indexFile = try PackFile(creating: tmpIndex)
        try indexFile.append(index)
        try indexFile.finish()

        let name = "pack-" + packSum.map { String(format: "%02x", $0) }.joined()
        let finalPack = packDir.appendingPathComponent(name + ".pack").path
        let finalIndex = packDir.appendingPathComponent(name + ".idx").path
        guard rename(tmpPack, finalPack) == 0 else {
            throw .store("rename", "cannot rename \(tmpPack) to \(finalPack): \(String(cString: strerror(errno)))")
        }
        guard rename(tmpIndex, finalIndex) == 0 else {
            let message = String(cString: strerror(errno))
            unlink(tmpIndex)
            throw .store("rename", "cannot rename \(tmpIndex) to \(finalIndex): \(message)")
        }
        renamed = true
    }

    private static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8),
         UInt8(truncatingIfNeeded: value)]
    }

    private static func bytes(_ oid: git_oid) -> [UInt8] {
        withUnsafeBytes(of: oid.id) { Array($0.prefix(20)) }
    }

    /// A pack entry's header: type in bits 4–6 of the first byte, the size in 4 + 7·n bits, little-endian groups.
    private static func packEntryHeader(type: UInt8, size: Int) -> [UInt8] {
        var size = UInt64(size)
        var out: [UInt8] = [(type << 4) | UInt8(size & 0x0F)]
        size >>= 4
        while size > 0 {
            out[out.count - 1] |= 0x80
            out.append(UInt8(size & 0x7F))
            size >>= 7
        }
        return out
    }

    /// Each object's pack entry, compressed on all cores.
    private static func packEntries(_ objects: [OpaquePointer], level: Int32) throws(GitError) -> [PackEntry] {
        // The objects stay alive (and unchanged) until the caller frees them, after this returns.
        nonisolated(unsafe) let inputs = objects.map {
            (UnsafeRawPointer(git_odb_object_data($0)), git_odb_object_size($0), UInt8(git_odb_object_type($0).rawValue))
        }
        var results = [PackEntry?](repeating: nil, count: inputs.count)
        results.withUnsafeMutableBufferPointer { out in
            nonisolated(unsafe) let out = out
            DispatchQueue.concurrentPerform(iterations: inputs.count) { i in
                out[i] = packEntry(type: inputs[i].2, inputs[i].0, inputs[i].1, level: level)
            }
        }
        var entries: [PackEntry] = []
        entries.reserveCapacity(results.count)
        for r in results {
            guard let r else { throw .store("deflate", "zlib could not compress an object") }
            entries.append(r)
        }
        return entries
    }

    /// One object's pack entry: header, deflated data (zlib at `level`) and the CRC-32 of both.
    static func packEntry(type: UInt8, _ data: UnsafeRawPointer?, _ size: Int, level: Int32) -> PackEntry? {
        let header = packEntryHeader(type: type, size: size)
        guard let compressed = deflate(data, size, level: level) else { return nil }
        var crc = header.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
        crc = compressed.withUnsafeBufferPointer { crc32(crc, $0.baseAddress, uInt($0.count)) }
        return PackEntry(header: header, data: compressed, crc: UInt32(truncatingIfNeeded: crc))
    }

    private static func deflate(_ data: UnsafeRawPointer?, _ size: Int, level: Int32) -> [UInt8]? {
        var stream = z_stream()
        guard deflateInit_(&stream, level, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            return nil
        }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(size)))
        var ok = false
        let out = [UInt8](unsafeUninitializedCapacity: bound) { buf, written in
            stream.next_out = buf.baseAddress
            stream.avail_out = uInt(bound)
            var input = data?.assumingMemoryBound(to: Bytef.self)
            var left = size
            while true {
                let chunk = min(left, Int(UInt32.max / 2))
                stream.next_in = UnsafeMutablePointer(mutating: input)
                stream.avail_in = uInt(chunk)
                left -= chunk
                input = input.map { $0 + chunk }
                let rc = CGit2.deflate(&stream, left == 0 ? Z_FINISH : Z_NO_FLUSH)
                if rc == Z_STREAM_END { ok = true; break }
                if rc != Z_OK || (left == 0 && stream.avail_out == 0) { break }
            }
            written = Int(stream.total_out)
        }
        return ok ? out : nil
    }
}

/// A file written once, under a temporary name (read-only, as git's objects are).
private final class PackFile {
    let path: String
    private var fd: Int32

    init(creating path: String) throws(GitError) {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o444)
        if fd < 0 { throw .store("open", "cannot create \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { if fd >= 0 { _ = close(fd) } }

    func append(_ bytes: [UInt8]) throws(GitError) {
        let failed: Int32? = bytes.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                done += n
            }
            return nil
        }
        if let failed { throw .store("write", "cannot write \(path): \(String(cString: strerror(failed)))") }
    }

    func finish() throws(GitError) {
        let rc = close(fd)
        fd = -1
        if rc != 0 { throw .store("close", "cannot write \(path): \(String(cString: strerror(errno)))") }
    }
}

/// One object as stored in a pack.
struct PackEntry: Sendable {
    let header: [UInt8]
    let data: [UInt8]
    let crc: UInt32
}

/// The objects a handle collects for one pack (see `Repository.withPackedWrites`).
final class PackBatch {
    /// The handle's object database, with the in-memory backend first.
    let odb: OpaquePointer?
    /// The in-memory backend (owned by `odb`).
    let mempack: UnsafeMutablePointer<git_odb_backend>
    /// Every object written through the handle, in order.
    var written: [ObjectID] = []
    /// Objects already compressed (the blobs of `prepareBlobs`).
    var entries: [ObjectID: PackEntry] = [:]

    init(odb: OpaquePointer?, mempack: UnsafeMutablePointer<git_odb_backend>) {
        self.odb = odb
        self.mempack = mempack
    }
}
