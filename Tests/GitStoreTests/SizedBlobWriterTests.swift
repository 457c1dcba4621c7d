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

    @Test("pieces of any size make the same blob as writing it whole (and as git hash-object); fsck --strict clean")
    func sameBlobAsWhole() throws {
        let (repo, url) = try makeRepository("sized-blob")
        var text = ""
        for i in 0..<20_000 { text += "{\"line\":\(i),\"text\":\"ünïcødé ✓ \(i * 7919 % 1000)\"}\n" }
        let data = Data(text.utf8)
        let writer = try repo.sizedBlobWriter(size: data.count)
        var at = 0
        var step = 1
        while at < data.count {
            let end = min(data.count, at + step)
            try data[at..<end].withUnsafeBytes { try writer.write($0) }
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
        let empty = try repo.sizedBlobWriter(size: 0)
        #expect(try empty.commit() == (try repo.writeBlob(Data())))
    }

    @Test("fewer or more bytes than announced fail; a writer dropped unfinished leaves no object and no temporary file")
    func wrongSizeAndDropped() throws {
        let (repo, url) = try makeRepository("sized-blob-wrong")
        let before = objectFiles(url)
        let data = Data("twelve bytes".utf8)
        // Each writer lives in its own scope, so it is gone (its temporary file with it) before the check.
        do {
            let short = try repo.sizedBlobWriter(size: data.count + 1)
            try data.withUnsafeBytes { try short.write($0) }
            #expect(throws: GitError.self) { try short.commit() }
        }
        do {
            let long = try repo.sizedBlobWriter(size: data.count - 1)
            #expect(throws: GitError.self) { try data.withUnsafeBytes { try long.write($0) } }
        }
        do {
            let dropped = try repo.sizedBlobWriter(size: data.count)
            try data.withUnsafeBytes { try dropped.write($0) }
        }
        #expect(objectFiles(url) == before)
        #expect(throws: GitError.self) { try repo.sizedBlobWriter(size: -1) }
    }
}
