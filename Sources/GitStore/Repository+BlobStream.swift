import Foundation
internal import CGit2

// MARK: - Writing one large blob in pieces

/// Writes one blob whose bytes arrive in pieces, so a large file never has to be held in memory whole.
///
/// libgit2 collects the pieces in a temporary file inside the object folder (`objects/streamed…`); ``commit()``
/// hashes and deflates that file into a loose object in bounded memory and returns its id. A writer dropped without
/// ``commit()`` (an error while producing the bytes) removes its temporary file, and no object is written. No git
/// filters are applied: the blob holds exactly the bytes written. Not thread-safe: use it on one thread at a time.
/// - SeeAlso: git_blob_create_from_stream, git_blob_create_from_stream_commit
public final class BlobStreamWriter {
    private var stream: UnsafeMutablePointer<git_writestream>?
    /// Keeps the repository handle open while the stream lives.
    private let repository: Repository
    /// Bytes written so far.
    public private(set) var byteCount = 0

    init(repository: Repository) throws(GitError) {
        self.repository = repository
        var s: UnsafeMutablePointer<git_writestream>?
        try check(git_blob_create_from_stream(&s, repository.pointer, nil), "git_blob_create_from_stream")
        stream = s
    }

    deinit {
        if let stream { stream.pointee.free(stream) }
    }

    /// Appends `bytes` to the blob.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(GitError) {
        guard let stream else { throw .store("git_blob_create_from_stream", "the blob was already committed") }
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        let rc = stream.pointee.write(stream, base.assumingMemoryBound(to: CChar.self), bytes.count)
        try check(rc, "git_writestream.write")
        byteCount += bytes.count
    }

    /// Appends `data` to the blob.
    public func write(_ data: Data) throws(GitError) {
        var failure: GitError?
        data.withUnsafeBytes { raw in
            do throws(GitError) { try write(raw) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Writes the blob into the object database and returns its id; the writer cannot be used afterwards.
    public func commit() throws(GitError) -> ObjectID {
        guard let s = stream else { throw .store("git_blob_create_from_stream_commit", "the blob was already committed") }
        stream = nil  // commit closes and frees the stream, also when it fails
        var oid = git_oid()
        try check(git_blob_create_from_stream_commit(&oid, s), "git_blob_create_from_stream_commit")
        return ObjectID(oid)
    }
}

extension Repository {
    /// A writer for one blob whose bytes arrive in pieces (see ``BlobStreamWriter``).
    public func blobStreamWriter() throws(GitError) -> BlobStreamWriter {
        try BlobStreamWriter(repository: self)
    }

    /// Whether the object database holds `id`.
    /// - SeeAlso: git_odb_exists
    public func objectExists(_ id: ObjectID) throws(GitError) -> Bool {
        var odb: OpaquePointer?
        try check(git_repository_odb(&odb, pointer), "git_repository_odb")
        defer { git_odb_free(odb) }
        var oid = id.oid
        return git_odb_exists(odb, &oid) == 1
    }
}
