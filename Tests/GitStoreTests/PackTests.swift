import Foundation
import GitStore
import TestSupport
import Testing

/// Large change sets (`Repository.packThreshold` files or more) are stored as one pack.
@Suite("GitStore packed writes")
struct PackTests {
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

    static func packs(_ repo: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: repo.appendingPathComponent("objects/pack").path).sorted()
    }

    static func looseObjects(_ repo: URL) throws -> Int {
        let objects = repo.appendingPathComponent("objects")
        return try FileManager.default.contentsOfDirectory(atPath: objects.path)
            .filter { $0.count == 2 }
            .reduce(0) { $0 + (try FileManager.default.contentsOfDirectory(atPath: objects.appendingPathComponent($1).path)).count }
    }

    @Test("a large commit is one pack that git verifies, with the same tree git would write")
    func largeCommitIsOnePack() throws {
        let (repo, url) = try makeRepository("pack")
        // A small loose commit first: its blob is reused, not packed again.
        let shared = Data("span 0 of file 0, seed 1: tool call ok\n".utf8)
        _ = try repo.commit(onto: "refs/heads/main", message: "small\n", author: fixedAuthor) { _ in
            TreeChanges(writes: ["traces/0/file-0.jsonl": shared, "loop.yaml": Data("a: 1\n".utf8)])
        }
        let looseBefore = try Self.looseObjects(url)
        #expect(looseBefore == 6)  // 2 blobs, 3 trees (root, traces, traces/0), 1 commit
        #expect(try Self.packs(url).isEmpty)

        let files = Self.files(120, seed: 1)
        let commit = try #require(try repo.commit(onto: "refs/heads/main", message: "big\n", author: fixedAuthor) { _ in
            TreeChanges(writes: files)
        })
        #expect(try Self.looseObjects(url) == looseBefore)
        let packs = try Self.packs(url)
        #expect(packs.count == 2)
        #expect(packs.allSatisfy { $0.hasPrefix("pack-") && ($0.hasSuffix(".pack") || $0.hasSuffix(".idx")) })

        // git reads and checks every object of the pack.
        let idx = url.appendingPathComponent("objects/pack/" + (packs.first { $0.hasSuffix(".idx") } ?? ""))
        let verify = try git(["verify-pack", "-v", idx.path], in: url)
        let counted = verify.split(separator: "\n").filter { $0.contains(" blob ") || $0.contains(" tree ") || $0.contains(" commit ") }
        // New: 122 distinct blobs (120 files minus the reused one, binary, empty, one for both copies), trees
        // traces/ + 4 folders + root, the commit.
        #expect(counted.count == (120 - 1 + 3) + 6 + 1)
        try StressTests.expectFsckClean(url)

        // Contents round-trip, through a fresh handle and through git.
        let fresh = try Repository.open(at: url)
        let tree = try fresh.treeOfCommit(commit)
        var all = files
        all["loop.yaml"] = Data("a: 1\n".utf8)
        #expect(try fresh.files(inTree: tree) == all)
        #expect(try git(["cat-file", "blob", "main:traces/copy-b.txt"], in: url) == "same bytes\n")
        let work = url.deletingLastPathComponent().appendingPathComponent("work")
        for (path, data) in all {
            let file = work.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: file)
        }
        try git(["init", "-q", "."], in: work)
        try git(["add", "-A"], in: work)
        #expect(try git(["write-tree"], in: work).trimmed == tree.hex)

        // A second large commit packs only what is new.
        var next = Self.files(120, seed: 1)
        for i in 0..<70 { next["traces/\(i % 4)/file-\(i).jsonl"] = Data("rewritten \(i)\n".utf8) }
        let second = try #require(try repo.commit(onto: "refs/heads/main", message: "big 2\n", author: fixedAuthor) { _ in
            TreeChanges(writes: next)
        })
        #expect(try Self.packs(url).count == 4)
        #expect(try repo.log(from: "main").map(\.id).first == second)
        #expect(try repo.diff(from: commit.hex, to: second.hex).files.count == 70)
        try StressTests.expectFsckClean(url)
    }

    @Test("writeTree of many files outside a commit is packed too, and a refused change set writes nothing")
    func writeTreePacked() throws {
        let (repo, url) = try makeRepository("packtree")
        let files = Self.files(80, seed: 2, prefix: "harness")
        let tree = try repo.writeTree(files: files)
        #expect(try Self.packs(url).count == 2)
        #expect(try repo.files(inTree: tree) == files)
        #expect(try Self.looseObjects(url) == 0)

        var bad = Self.files(80, seed: 3)
        bad["../escape"] = Data("x".utf8)
        #expect(throws: GitError.self) { try repo.writeTree(files: bad) }
        #expect(try Self.packs(url).count == 2)
        let leftovers = try Self.packs(url).filter { $0.hasPrefix("tmp") }
        #expect(leftovers.isEmpty)

        // Stored uncompressed (level 0): larger, equally valid.
        repo.packCompressionLevel = 0
        let plain = Self.files(80, seed: 5, prefix: "plain")
        let plainTree = try repo.writeTree(files: plain)
        #expect(try Self.packs(url).count == 4)
        #expect(try Repository.open(at: url).files(inTree: plainTree) == plain)
        try StressTests.expectFsckClean(url)
        let sizes = try Self.packs(url).filter { $0.hasSuffix(".pack") }.map {
            try FileManager.default.attributesOfItem(atPath: url.appendingPathComponent("objects/pack/" + $0).path)[.size] as? Int ?? 0
        }
        #expect(sizes.max()! > 2 * sizes.min()!, "level 0 should be much larger than level 1: \(sizes)")
    }

    @Test("a packed commit through a linked work tree lands in the shared object folder")
    func linkedWorkTree() throws {
        let dir = TestPaths.scratch("gitstore-worktree")
        let main = dir.appendingPathComponent("main")
        try FileManager.default.createDirectory(at: main, withIntermediateDirectories: true)
        try git(["init", "-q", "-b", "main", "."], in: main)
        try git(["commit", "-q", "--allow-empty", "-m", "root"], in: main)
        try git(["worktree", "add", "-q", "-b", "side", dir.appendingPathComponent("side").path], in: main)

        let repo = try Repository.open(at: dir.appendingPathComponent("side"))
        let files = Self.files(70, seed: 4)
        let commit = try #require(try repo.commit(onto: "refs/heads/loop", message: "packed\n", author: fixedAuthor) { _ in
            TreeChanges(writes: files)
        })
        #expect(try Self.packs(main.appendingPathComponent(".git")).count == 2)
        #expect(try git(["rev-parse", "refs/heads/loop"], in: main).trimmed == commit.hex)
        #expect(try git(["ls-tree", "-r", "--name-only", "loop"], in: main).split(separator: "\n").count == files.count)
        try StressTests.expectFsckClean(main)
    }
}
