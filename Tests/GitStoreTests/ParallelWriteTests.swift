import Foundation
import GitStore
import TestSupport
import Testing

/// Large change sets have their blobs written by libgit2 on several threads, each with its own repository handle.
@Suite("GitStore large change sets")
struct ParallelWriteTests {
    /// `count` files of mixed sizes under `prefix`, plus a binary file, an empty file and two identical files.
    static func files(_ count: Int, seed: UInt8, prefix: String = "traces") -> [String: Data] {
        var out: [String: Data] = [:]
        for i in 0..<count {
            let text = (0..<(i * 7 % 50 + 1)).map { "span \($0) of file \(i), seed \(seed): tool call ok\n" }.joined()
            out["\(prefix)/\(i % 4)/file-\(i).jsonl"] = Data(text.utf8)
        }
        out["\(prefix)/binary.bin"] = Data((0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) } + [seed])
        out["\(prefix)/empty.txt"] = Data()
        out["\(prefix)/copy-a.txt"] = Data("same bytes\n".utf8)
        out["\(prefix)/copy-b.txt"] = Data("same bytes\n".utf8)
        return out
    }

    /// The loose objects of a repository, as hex ids.
    static func looseObjects(_ repo: URL) throws -> Set<String> {
        let objects = repo.appendingPathComponent("objects")
        var out = Set<String>()
        for dir in try FileManager.default.contentsOfDirectory(atPath: objects.path) where dir.count == 2 {
            for name in try FileManager.default.contentsOfDirectory(atPath: objects.appendingPathComponent(dir).path) {
                out.insert(dir + name)
            }
        }
        return out
    }

    static func packFiles(_ repo: URL) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: repo.appendingPathComponent("objects/pack").path)) ?? []
    }

    /// The tree `git add -A && git write-tree` makes of `files` in a fresh work tree beside `near`.
    static func gitWriteTree(_ files: [String: Data], near: URL) throws -> String {
        let work = near.deletingLastPathComponent().appendingPathComponent("work-\(UUID().uuidString.prefix(6))")
        for (path, data) in files {
            let file = work.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: file)
        }
        try git(["init", "-q", "."], in: work)
        try git(["add", "-A"], in: work)
        return try git(["write-tree"], in: work).trimmed
    }

    @Test("a large commit is loose objects in git's format, with the tree git would write")
    func largeCommit() throws {
        let (repo, url) = try makeRepository("parallel")
        // A small commit first (written on this thread): its blob is reused by the large one.
        let shared = Data("span 0 of file 0, seed 1: tool call ok\n".utf8)
        _ = try repo.commit(onto: "refs/heads/main", message: "small\n", author: fixedAuthor) { _ in
            TreeChanges(writes: ["traces/0/file-0.jsonl": shared, "loop.yaml": Data("a: 1\n".utf8)])
        }
        let before = try Self.looseObjects(url)
        #expect(before.count == 6)  // 2 blobs, 3 trees (root, traces, traces/0), 1 commit

        let files = Self.files(120, seed: 1)
        let commit = try #require(try repo.commit(onto: "refs/heads/main", message: "big\n", author: fixedAuthor) { _ in
            TreeChanges(writes: files)
        })
        // New: 122 distinct blobs (120 files minus the reused one, binary, empty, one for both copies), trees
        // traces/ + 4 folders + root, the commit. All loose: no pack is written.
        let after = try Self.looseObjects(url)
        #expect(after.count == before.count + (120 - 1 + 3) + 6 + 1)
        #expect(after.isSuperset(of: before))
        #expect(after.contains(commit.hex))
        #expect(Self.packFiles(url).isEmpty)
        try StressTests.expectFsckClean(url)

        // Contents round-trip, through a fresh handle and through git.
        let fresh = try Repository.open(at: url)
        let tree = try fresh.treeOfCommit(commit)
        var all = files
        all["loop.yaml"] = Data("a: 1\n".utf8)
        #expect(try fresh.files(inTree: tree) == all)
        #expect(try git(["cat-file", "blob", "main:traces/copy-b.txt"], in: url) == "same bytes\n")
        #expect(try git(["cat-file", "-s", "main:traces/binary.bin"], in: url).trimmed == "70001")
        #expect(try Self.gitWriteTree(all, near: url) == tree.hex)

        // A second large commit writes only what is new.
        var next = files
        for i in 0..<70 { next["traces/\(i % 4)/file-\(i).jsonl"] = Data("rewritten \(i)\n".utf8) }
        let second = try #require(try repo.commit(onto: "refs/heads/main", message: "big 2\n", author: fixedAuthor) { _ in
            TreeChanges(writes: next)
        })
        // 70 blobs, root, traces/ and its 4 folders, the commit.
        #expect(try Self.looseObjects(url).count == after.count + 70 + 6 + 1)
        #expect(try repo.log(from: "main").map(\.id).first == second)
        #expect(try repo.diff(from: commit.hex, to: second.hex).files.count == 70)
        try StressTests.expectFsckClean(url)
    }

    @Test("one large change set makes the same ids as the same files written a few at a time")
    func sameIDsAsSerial() throws {
        let files = Self.files(90, seed: 7, prefix: "evals")
        let (big, bigURL) = try makeRepository("parallel-one", bare: false)  // workers open its .git folder
        let (small, _) = try makeRepository("parallel-steps")
        let whole = try big.writeTree(files: files)

        var tree: ObjectID?
        let paths = files.keys.sorted()
        for start in stride(from: 0, to: paths.count, by: 5) {  // 5 files, a few KB: written on this thread
            var changes = TreeChanges()
            for path in paths[start..<min(start + 5, paths.count)] { changes.write(path, files[path]!) }
            tree = try small.writeTree(base: tree, changes: changes)
        }
        #expect(tree == whole)
        #expect(try big.fileIDs(inTree: whole) == small.fileIDs(inTree: try #require(tree)))
        #expect(try Self.gitWriteTree(files, near: bigURL) == whole.hex)
    }

    @Test("a refused change set writes no object")
    func refusedWritesNothing() throws {
        let (repo, url) = try makeRepository("parallel-refused")
        var bad = Self.files(80, seed: 3)
        bad["../escape"] = Data("x".utf8)
        #expect(throws: GitError.self) { try repo.writeTree(files: bad) }
        var clash = Self.files(80, seed: 3)
        clash["traces/0"] = Data("a file where a folder is\n".utf8)
        #expect(throws: GitError.self) { try repo.writeTree(files: clash) }
        #expect(try Self.looseObjects(url).isEmpty)
    }

    @Test("a write failing on a worker thread is thrown, and the reference does not move")
    func workerFailure() throws {
        let (repo, url) = try makeRepository("parallel-failure")
        let first = try #require(try repo.commit(onto: "refs/heads/main", message: "one\n", author: fixedAuthor) { _ in
            TreeChanges(writes: ["a.txt": Data("a\n".utf8)])
        })
        let files = Self.files(60, seed: 9)
        // A regular file where the fan-out folder of one blob must go: libgit2 cannot store that blob.
        let victim = try git(["hash-object", "--stdin"], in: url, stdin: "span 0 of file 0, seed 9: tool call ok\n").trimmed
        #expect(files.values.contains(Data("span 0 of file 0, seed 9: tool call ok\n".utf8)))
        let blocker = url.appendingPathComponent("objects/" + victim.prefix(2))
        #expect(!FileManager.default.fileExists(atPath: blocker.path))
        try Data("not a folder\n".utf8).write(to: blocker)

        var thrown: GitError?
        do {
            try repo.commit(onto: "refs/heads/main", message: "two\n", author: fixedAuthor) { _ in TreeChanges(writes: files) }
        } catch let error as GitError {
            thrown = error
        }
        let error = try #require(thrown)
        #expect(error.function == "git_blob_create_from_buffer")
        #expect(error.message.contains(String(victim.prefix(2))), "\(error)")
        #expect(try repo.referenceTarget("refs/heads/main") == first)

        // With the obstacle gone the same commit succeeds.
        try FileManager.default.removeItem(at: blocker)
        let second = try #require(try repo.commit(onto: "refs/heads/main", message: "two\n", author: fixedAuthor) { _ in
            TreeChanges(writes: files)
        })
        #expect(try repo.commitInfo(second).parents == [first])
        try StressTests.expectFsckClean(url)
    }

    @Test("a large commit through a linked work tree lands in the shared object folder")
    func linkedWorkTree() throws {
        let dir = TestPaths.scratch("gitstore-worktree")
        let main = dir.appendingPathComponent("main")
        try FileManager.default.createDirectory(at: main, withIntermediateDirectories: true)
        try git(["init", "-q", "-b", "main", "."], in: main)
        try git(["commit", "-q", "--allow-empty", "-m", "root"], in: main)
        try git(["worktree", "add", "-q", "-b", "side", dir.appendingPathComponent("side").path], in: main)

        let repo = try Repository.open(at: dir.appendingPathComponent("side"))
        let files = Self.files(70, seed: 4)
        let commit = try #require(try repo.commit(onto: "refs/heads/loop", message: "large\n", author: fixedAuthor) { _ in
            TreeChanges(writes: files)
        })
        #expect(try Self.looseObjects(main.appendingPathComponent(".git")).contains(commit.hex))
        #expect(try git(["rev-parse", "refs/heads/loop"], in: main).trimmed == commit.hex)
        #expect(try git(["ls-tree", "-r", "--name-only", "loop"], in: main).split(separator: "\n").count == files.count)
        try StressTests.expectFsckClean(main)
    }
}
