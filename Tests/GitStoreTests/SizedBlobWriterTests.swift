import Foundation
import GitStore
import TestSupport
import Testing

@Suite("GitStore: blobs of a known size written in pieces")
struct SizedBlobWriterTests {
    /// Files under objects/ (loose objects and any temporary file left behind).
    func objectFiles(_ url: URL) -> [String] {
        let objects = url.appendingPathComponent("objects")
        let all = (FileManager.default.enumerator(atPath: objects.path)?.allObjects as? [String]) ?? []
        return all.filter { path in
            var isDir: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: objects.appendingPathComponent(path).path, isDirectory: &isDir)
            return !isDir.boolValue
        }.sorted()
    }

    @Test(
        "pieces of any size make the same blob as writing it whole (and as git hash-object), hashed and deflated on one thread or two; fsck --strict clean",
        arguments: [false, true])
    func sameBlobAsWhole(pipelined: Bool) throws {
        let (repo, url) = try makeRepository("sized-blob-\(pipelined)")
        var text = ""
        for i in 0..<20_000 { text += "{\"line\":\(i),\"text\":\"ünïcødé ✓ \(i * 7919 % 1000)\"}\n" }
        let data = Data(text.utf8)
        let writer = try repo.sizedBlobWriter(size: data.count, pipelined: pipelined)
        #expect(writer.isPipelined == pipelined)
        var at = 0
        var owned = false
        var step = 1
        while at < data.count {
            let end = min(data.count, at + step)
            // Pieces alternate between a borrowed buffer (copied when pipelined) and an array handed over.
            if owned { try writer.write([UInt8](data[at..<end])) } else { try data[at..<end].withUnsafeBytes { try writer.write($0) } }
            owned.toggle()
            at = end
            step = step * 3 + 1  // 1, 4, 13, … bytes: pieces of very different sizes
        }
        #expect(writer.byteCount == data.count)
        let id = try writer.commit()
        #expect(id == (try repo.writeBlob(data)))
        #expect(try repo.blob(id) == data)
        let file = url.deletingLastPathComponent().appendingPathComponent("whole.jsonl")
        try data.write(to: file)
        #expect(id.hex == (try git(["hash-object", file.path], in: url.deletingLastPathComponent()).trimmed))
        #expect(throws: GitError.self) { try writer.commit() }
        _ = try git(["fsck", "--strict"], in: url)
        // The empty blob too.
        let empty = try repo.sizedBlobWriter(size: 0, pipelined: pipelined)
        #expect(try empty.commit() == (try repo.writeBlob(Data())))
    }

    @Test(
        "fewer or more bytes than announced fail; a writer dropped unfinished leaves no object and no temporary file",
        arguments: [false, true])
    func wrongSizeAndDropped(pipelined: Bool) throws {
        let (repo, url) = try makeRepository("sized-blob-wrong-\(pipelined)")
        let before = objectFiles(url)
        let data = Data("twelve bytes".utf8)
        // Each writer lives in its own scope, so it is gone (its temporary file with it) before the check.
        do {
            let short = try repo.sizedBlobWriter(size: data.count + 1, pipelined: pipelined)
            try data.withUnsafeBytes { try short.write($0) }
            #expect(throws: GitError.self) { try short.commit() }
        }
        do {
            let long = try repo.sizedBlobWriter(size: data.count - 1, pipelined: pipelined)
            #expect(throws: GitError.self) { try data.withUnsafeBytes { try long.write($0) } }
        }
        do {
            let dropped = try repo.sizedBlobWriter(size: data.count, pipelined: pipelined)
            try data.withUnsafeBytes { try dropped.write($0) }
        }
        do {
            // Dropped with pieces still waiting to be deflated (pipelined): they are written, then the file removed.
            let big = [UInt8](repeating: 0x61, count: 3 << 20)
            let busy = try repo.sizedBlobWriter(size: big.count * 4, pipelined: pipelined)
            for _ in 0..<3 { try busy.write(big) }
        }
        #expect(objectFiles(url) == before)
        #expect(throws: GitError.self) { try repo.sizedBlobWriter(size: -1) }
    }

    @Test("a large blob is pipelined by default (on several cores), a small one is not; both make git's object")
    func pipelinedByDefault() throws {
        let (repo, url) = try makeRepository("sized-blob-default")
        var bytes = [UInt8]()
        // More than the pipe holds at once (it waits, then goes on), and past the threshold.
        let total = max(SizedBlobWriter.pipelineThreshold, SizedBlobWriter.pipelineBytes) + (3 << 20) + 100
        bytes.reserveCapacity(total)
        var i = 0
        while bytes.count < total {
            bytes += Array("{\"span\":\(i),\"name\":\"step \(i % 97)\"}\n".utf8)
            i += 1
        }
        let large = try repo.sizedBlobWriter(size: bytes.count)
        #expect(large.isPipelined == (ProcessInfo.processInfo.activeProcessorCount > 1))
        // Arrays handed over of 1 byte, exactly one piece, and 2.5 pieces and a few bytes (cut into pieces that share
        // the array), in turn.
        let sizes = [1, SizedBlobWriter.pipelinePieceBytes, SizedBlobWriter.pipelinePieceBytes * 5 / 2 + 7]
        var at = 0
        var k = 0
        while at < bytes.count {
            let end = min(bytes.count, at + sizes[k % sizes.count])
            try large.write(Array(bytes[at..<end]))
            at = end
            k += 1
        }
        let id = try large.commit()
        #expect(id == (try repo.writeBlob(Data(bytes))))
        #expect(try repo.blob(id) == Data(bytes))
        let small = try repo.sizedBlobWriter(size: 5)
        #expect(!small.isPipelined)
        _ = try git(["fsck", "--strict"], in: url)
    }
}
