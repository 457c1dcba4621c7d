import Dispatch
import Foundation
internal import CGit2

// MARK: - Writing many blobs on all cores

extension Repository {
    /// A change set writing at least this many files, or `parallelWriteMinimumBytes` bytes in two files or more,
    /// has its blobs written on several threads (see `writeBlobs(_:)`). Smaller ones (a stage's few files) are
    /// written on this handle's thread: opening extra handles would cost more than it saves.
    static let parallelWriteMinimumFiles = 32
    /// See `parallelWriteMinimumFiles`.
    static let parallelWriteMinimumBytes = 1 << 20

    /// Writes every file of `writes` as a blob and returns path → blob id.
    ///
    /// Large change sets are spread over one thread per core. libgit2 objects are not thread-safe, so each thread
    /// opens its own `git_repository` on this repository's git folder and writes through it with
    /// `git_blob_create_from_buffer` (libgit2's loose object backend: hash, deflate, temporary file, rename), and
    /// reads any error on the same thread right after the failing call. Object ids are content addresses, so the
    /// ids (and the trees and commit built from them afterwards on this handle) are the same as a serial write's.
    /// Every blob exists on disk when this returns; nothing refers to it yet.
    /// - Throws: the first `GitError` of any thread (the others stop taking files).
    /// - SeeAlso: git_blob_create_from_buffer, git_repository_open_ext
    func writeBlobs(_ writes: [String: Data]) throws(GitError) -> [String: ObjectID] {
        // Largest first, so the threads finish together.
        let items = writes.sorted { $0.value.count != $1.value.count ? $0.value.count > $1.value.count : $0.key < $1.key }
        let totalBytes = items.reduce(0) { $0 + $1.value.count }
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let parallel = items.count >= 2 && cores > 1
            && (items.count >= Self.parallelWriteMinimumFiles || totalBytes >= Self.parallelWriteMinimumBytes)
        guard parallel else {
            var ids: [String: ObjectID] = [:]
            for (path, data) in items { ids[path] = try writeBlob(data) }
            return ids
        }

        let threads = min(cores, items.count)
        let path = gitDirectory
        let queue = WorkQueue(count: items.count)
        var results = [ObjectID?](repeating: nil, count: items.count)
        results.withUnsafeMutableBufferPointer { out in
            // Each index is written by exactly one thread (the one `queue` handed it to).
            nonisolated(unsafe) let out = out
            DispatchQueue.concurrentPerform(iterations: threads) { _ in
                do throws(GitError) {
                    let handle = try Repository.open(at: path)
                    while let i = queue.next() { out[i] = try handle.writeBlob(items[i].value) }
                } catch {
                    queue.fail(error)
                }
            }
        }
        if let error = queue.error { throw error }
        var ids: [String: ObjectID] = [:]
        for (i, id) in results.enumerated() {
            guard let id else { throw .store("git_blob_create_from_buffer", "no id for \(items[i].key)") }
            ids[items[i].key] = id
        }
        return ids
    }
}

/// Hands out the indexes 0..<count to threads, one at a time, until they run out or a thread fails.
private final class WorkQueue: @unchecked Sendable {
    private let lock = NSLock()
    private let count: Int
    private var nextIndex = 0
    private var firstError: GitError?

    init(count: Int) { self.count = count }

    /// The next index to work on, or nil when all are taken or a thread failed.
    func next() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard firstError == nil, nextIndex < count else { return nil }
        nextIndex += 1
        return nextIndex - 1
    }

    /// Records a failure: no more indexes are handed out; the first error is kept.
    func fail(_ error: GitError) {
        lock.lock()
        defer { lock.unlock() }
        if firstError == nil { firstError = error }
    }

    var error: GitError? {
        lock.lock()
        defer { lock.unlock() }
        return firstError
    }
}

