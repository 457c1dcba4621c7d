import Foundation
internal import CGit2

// MARK: - Writing one large blob of a known size in pieces

/// Writes one blob whose size is known before its bytes arrive, in pieces, straight into the object database:
/// libgit2 hashes and deflates each piece as it is written (no temporary copy of the content to read back, as
/// ``BlobStreamWriter`` needs), so the cost of storing the blob overlaps with producing it.
///
/// ``commit()`` checks that exactly the announced number of bytes was written and returns the blob's id; the same
/// bytes written through ``BlobStreamWriter`` or `git_blob_create_from_buffer` make the same object. A writer
/// dropped without ``commit()`` removes its temporary file and writes no object. Not thread-safe: use it on one
/// thread at a time (any one).
/// - SeeAlso: git_odb_open_wstream, git_odb_stream_write, git_odb_stream_finalize_write
public final class SizedBlobWriter {
    private var odb: OpaquePointer?
    private var stream: UnsafeMutablePointer<git_odb_stream>?
    /// The size announced when the writer was made.
    public let size: Int
    /// Bytes written so far.
    public private(set) var byteCount = 0

    init(repository: Repository, size: Int) throws(GitError) {
        guard size >= 0 else { throw .store("git_odb_open_wstream", "a blob size cannot be negative") }
        self.size = size
        var db: OpaquePointer?
        try check(git_repository_odb(&db, repository.pointer), "git_repository_odb")
        odb = db
        var s: UnsafeMutablePointer<git_odb_stream>?
        let rc = git_odb_open_wstream(&s, db, git_object_size_t(size), GIT_OBJECT_BLOB)
        if rc < 0 {
            let error = GitError.last(rc, "git_odb_open_wstream")
            git_odb_free(db)
            odb = nil
            throw error
        }
        stream = s
    }

    deinit {
        if let stream { git_odb_stream_free(stream) }
        if let odb { git_odb_free(odb) }
    }

    /// Appends `bytes` to the blob; more bytes than the announced size is an error.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(GitError) {
        guard let stream else { throw .store("git_odb_stream_write", "the blob was already committed") }
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        guard byteCount + bytes.count <= size else {
            throw .store("git_odb_stream_write", "\(byteCount + bytes.count) bytes written to a blob announced as \(size) bytes")
        }
        try check(git_odb_stream_write(stream, base.assumingMemoryBound(to: CChar.self), bytes.count), "git_odb_stream_write")
        byteCount += bytes.count
    }

    /// Writes the blob into the object database and returns its id; the writer cannot be used afterwards.
    public func commit() throws(GitError) -> ObjectID {
        guard let s = stream else { throw .store("git_odb_stream_finalize_write", "the blob was already committed") }
        guard byteCount == size else {
            throw .store("git_odb_stream_finalize_write", "\(byteCount) bytes written to a blob announced as \(size) bytes")
        }
        stream = nil
        defer { git_odb_stream_free(s) }
        var oid = git_oid()
        try check(git_odb_stream_finalize_write(&oid, s), "git_odb_stream_finalize_write")
        return ObjectID(oid)
    }
}

extension Repository {
    /// A writer for one blob of `size` bytes that arrive in pieces (see ``SizedBlobWriter``).
    public func sizedBlobWriter(size: Int) throws(GitError) -> SizedBlobWriter {
        try SizedBlobWriter(repository: self, size: size)
    }
}
