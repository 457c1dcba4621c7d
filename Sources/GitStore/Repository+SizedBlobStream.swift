import Foundation
internal import CGit2
import Synchronization

// MARK: - Writing one large blob of a known size in pieces

/// Writes one blob whose size is known before its bytes arrive, in pieces, straight into the object database:
/// libgit2 hashes and deflates each piece as it is written (no temporary copy of the content to read back, as
/// ``BlobStreamWriter`` needs), so the cost of storing the blob overlaps with producing it.
///
/// A large blob (``pipelineThreshold`` and more, on a machine with more than one core) is hashed and deflated on two
/// threads: libgit2's object stream hashes a piece in ``write(_:)`` (the object's id, on the caller's thread) and
/// then hands it to its loose-object backend, which deflates it into the object's temporary file; that second step
/// runs here on a thread of its own, one piece behind (at most ``pipelineBytes`` waiting), so hashing the next piece
/// overlaps with deflating this one. Both steps are libgit2's own (the same hash with collision detection, the same
/// loose object file); only the thread the backend's step runs on changes.
///
/// ``commit()`` checks that exactly the announced number of bytes was written and returns the blob's id; the same
/// bytes written through ``BlobStreamWriter`` or `git_blob_create_from_buffer` make the same object. A writer
/// dropped without ``commit()`` removes its temporary file and writes no object. Not thread-safe: use it on one
/// thread at a time (any one).
/// - SeeAlso: git_odb_open_wstream, git_odb_stream_write, git_odb_stream_finalize_write, git_odb_stream (its `write`)
public final class SizedBlobWriter {
    private var odb: OpaquePointer?
    private var stream: UnsafeMutablePointer<git_odb_stream>?
    /// The backend's step on a thread of its own (nil: in `write`, as libgit2 does it).
    private var pipe: DeflatePipe?
    /// The size announced when the writer was made.
    public let size: Int
    /// Bytes written so far.
    public private(set) var byteCount = 0
    /// Whether the backend's step runs on a thread of its own (see the type's description).
    public var isPipelined: Bool { pipe != nil }

    /// Blobs of this size and more are hashed and deflated on two threads.
    public static let pipelineThreshold = 4 << 20
    /// The most bytes handed to the deflating thread and not yet deflated; `write` waits beyond it. Deflating is the
    /// slower step, so this is also what is left to deflate, on one core, after the last piece is hashed: small,
    /// so the hashing thread waits (and leaves its core to the deflating one) rather than running far ahead.
    public static let pipelineBytes = 6 << 20
    /// Pipelined, an array is hashed and handed over in pieces of this size (not copied: they share the array), so
    /// deflating starts after the first piece rather than after the whole array is hashed.
    public static let pipelinePieceBytes = 1 << 20

    init(repository: Repository, size: Int, pipelined: Bool? = nil) throws(GitError) {
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
        let wanted = pipelined ?? (size >= Self.pipelineThreshold && ProcessInfo.processInfo.activeProcessorCount > 1)
        if wanted, let s, let backendWrite = s.pointee.write {
            pipe = DeflatePipe(stream: s, backendWrite: backendWrite)
        }
    }

    deinit {
        // The deflating thread is done with the stream before the stream is freed.
        pipe?.finish()
        if let stream { git_odb_stream_free(stream) }
        if let odb { git_odb_free(odb) }
    }

    /// Appends `bytes` to the blob; more bytes than the announced size is an error. Pipelined, the bytes are copied
    /// (the caller may reuse its buffer at once); ``write(_:)-([UInt8])`` hands an array over without a copy.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(GitError) {
        try write(bytes, owner: nil)
    }

    /// Appends the bytes of `bytes` to the blob; pipelined, the array is kept (not copied) until it is deflated.
    public func write(_ bytes: [UInt8]) throws(GitError) {
        let failure: GitError? = bytes.withUnsafeBytes { raw in
            do throws(GitError) { try write(raw, owner: bytes) } catch { return error }
            return nil
        }
        if let failure { throw failure }
    }

    private func write(_ bytes: UnsafeRawBufferPointer, owner: [UInt8]?) throws(GitError) {
        guard let stream else { throw .store("git_odb_stream_write", "the blob was already committed") }
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        guard byteCount + bytes.count <= size else {
            throw .store("git_odb_stream_write", "\(byteCount + bytes.count) bytes written to a blob announced as \(size) bytes")
        }
        try pipe?.failure()
        pipe?.owner = owner
        defer { pipe?.owner = nil }
        // Pipelined, an owned array goes over in pieces (see pipelinePieceBytes); anything else in one call.
        let piece = pipe != nil && owner != nil ? Self.pipelinePieceBytes : bytes.count
        var done = 0
        while done < bytes.count {
            let count = min(piece, bytes.count - done)
            try check(git_odb_stream_write(stream, (base + done).assumingMemoryBound(to: CChar.self), count), "git_odb_stream_write")
            done += count
            byteCount += count
        }
    }

    /// Writes the blob into the object database and returns its id; the writer cannot be used afterwards.
    public func commit() throws(GitError) -> ObjectID {
        guard let s = stream else { throw .store("git_odb_stream_finalize_write", "the blob was already committed") }
        guard byteCount == size else {
            throw .store("git_odb_stream_finalize_write", "\(byteCount) bytes written to a blob announced as \(size) bytes")
        }
        stream = nil
        defer { git_odb_stream_free(s) }
        if let pipe {
            // Every piece deflated (or the first failure) before the object file is moved into place.
            pipe.finish()
            try pipe.failure()
        }
        var oid = git_oid()
        try check(git_odb_stream_finalize_write(&oid, s), "git_odb_stream_finalize_write")
        return ObjectID(oid)
    }
}

extension Repository {
    /// A writer for one blob of `size` bytes that arrive in pieces (see ``SizedBlobWriter``).
    /// - Parameter pipelined: hash and deflate on two threads (nil: for a blob of
    ///   ``SizedBlobWriter/pipelineThreshold`` and more on a machine with several cores).
    public func sizedBlobWriter(size: Int, pipelined: Bool? = nil) throws(GitError) -> SizedBlobWriter {
        try SizedBlobWriter(repository: self, size: size, pipelined: pipelined)
    }
}

// MARK: - The backend's step on a thread of its own

/// Runs an object stream's backend `write` (the loose backend's deflate into the temporary file) on a serial queue.
/// libgit2's `git_odb_stream_write` hashes a piece and then calls the stream's `write`; the stream's `write` is
/// replaced by ``DeflatePipe/enqueue``, which hands the piece to the queue and returns. The stream's other members
/// are untouched; the queue is the only caller of the backend's `write`, and ``finish()`` waits for it before the
/// stream is finalized or freed.
private final class DeflatePipe: @unchecked Sendable {
    typealias BackendWrite = @convention(c) (UnsafeMutablePointer<git_odb_stream>?, UnsafePointer<CChar>?, Int) -> Int32

    /// The pipe of each stream whose `write` was replaced (the callback has only the stream to go by).
    static let pipes = Mutex<[UInt: DeflatePipe]>([:])

    let stream: UnsafeMutablePointer<git_odb_stream>
    let backendWrite: BackendWrite
    let queue = DispatchQueue(label: "flywheel.git.deflate")
    /// Set by the writer around `git_odb_stream_write`: the array that holds the piece (nil: the piece is copied).
    var owner: [UInt8]?
    private let state = NSCondition()
    private var waiting = 0
    private var error: GitError?
    private var finished = false

    init(stream: UnsafeMutablePointer<git_odb_stream>, backendWrite: @escaping BackendWrite) {
        self.stream = stream
        self.backendWrite = backendWrite
        Self.pipes.withLock { $0[UInt(bitPattern: stream)] = self }
        stream.pointee.write = { stream, buffer, len in
            guard let stream, let buffer else { return -1 }
            guard let pipe = DeflatePipe.pipes.withLock({ $0[UInt(bitPattern: stream)] }) else { return -1 }
            pipe.enqueue(UnsafeRawBufferPointer(start: buffer, count: len))
            return 0
        }
    }

    /// Hands one piece to the queue, waiting while more than ``SizedBlobWriter/pipelineBytes`` are not yet deflated.
    func enqueue(_ piece: UnsafeRawBufferPointer) {
        // A piece inside the owner's storage is kept as the owner and the piece's place in it (an array's bytes stay
        // where they are while it lives); anything else is copied.
        let start: Int? = owner.flatMap { o in
            o.withUnsafeBytes { all -> Int? in
                guard let a = all.baseAddress, let p = piece.baseAddress, p >= a, p + piece.count <= a + all.count else { return nil }
                return p - a
            }
        }
        let bytes = start != nil ? owner! : [UInt8](piece)
        let offset = start ?? 0
        let count = piece.count
        state.lock()
        while waiting > 0, waiting + count > SizedBlobWriter.pipelineBytes { state.wait() }
        waiting += count
        state.unlock()
        queue.async { [self] in
            state.lock()
            let failed = error != nil
            state.unlock()
            var failure: GitError?
            if !failed {
                let rc = bytes.withUnsafeBytes { raw in
                    backendWrite(stream, (raw.baseAddress! + offset).assumingMemoryBound(to: CChar.self), count)
                }
                if rc < 0 { failure = GitError.last(rc, "git_odb_stream_write") }
            }
            state.lock()
            if let failure, error == nil { error = failure }
            waiting -= count
            state.broadcast()
            state.unlock()
        }
    }

    /// The first piece the backend failed to write, thrown on the writer's thread.
    func failure() throws(GitError) {
        state.lock()
        let e = error
        state.unlock()
        if let e { throw e }
    }

    /// Waits for every piece handed over; the stream's `write` is libgit2's again afterwards.
    func finish() {
        guard !finished else { return }
        finished = true
        queue.sync {}
        stream.pointee.write = backendWrite
        _ = Self.pipes.withLock { $0.removeValue(forKey: UInt(bitPattern: stream)) }
    }
}
