import Foundation
import GitStore
import TestSupport
import Testing

@Suite("GitStore bad input: clear errors, no crash")
struct ErrorTests {
    @Test("opening a folder that is not a repository names the function and the path")
    func notARepository() throws {
        let dir = TestPaths.scratch("gitstore-notrepo")
        for url in [dir, dir.appendingPathComponent("missing/deeper")] {
            do {
                _ = try Repository.open(at: url)
                Issue.record("opened \(url.path)")
            } catch {
                #expect(error.function == "git_repository_open_ext")
                #expect(error.isNotFound)
                #expect(error.message.contains(url.path))
                #expect(error.description.contains(url.path))
            }
        }
        // A file is not a repository either.
        let file = dir.appendingPathComponent("plain.txt")
        try Data("x".utf8).write(to: file)
        #expect(throws: GitError.self) { try Repository.open(at: file) }
    }

    @Test("openOrCreate makes the repository beside its place and moves it in: never a half-made one there, no leftovers; racing creators share one")
    func openOrCreateIsAtomic() throws {
        let parent = TestPaths.scratch("gitstore-create")
        let url = parent.appendingPathComponent("history")
        // Eight threads create the same repository at once: each gets a repository that opens, and one is there.
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            #expect((try? Repository.openOrCreate(at: url)) != nil)
        }
        _ = try Repository.open(at: url)
        #expect(try FileManager.default.contentsOfDirectory(atPath: parent.path) == ["history"], "a staging folder was left behind")
        // An empty folder in its place (made by hand, or by an older version) is filled the same way.
        let empty = parent.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        _ = try Repository.openOrCreate(at: empty, bare: false)
        #expect(try Repository.open(at: empty).isBare == false)
    }

    @Test("setReference with a stale expected id throws isConcurrentUpdate; commit(onto:) re-applies on top")
    func concurrentUpdate() throws {
        let (repo, url) = try makeRepository("race")
        let ref = "refs/heads/main"
        let first = try #require(try repo.commit(onto: ref, message: "first\n", author: fixedAuthor) { _ in
            TreeChanges(writes: ["first.txt": Data("1\n".utf8)])
        })
        let other = try Repository.open(at: url)
        let second = try #require(try other.commit(onto: ref, message: "second\n", author: fixedAuthor) { _ in
            TreeChanges(writes: ["second.txt": Data("2\n".utf8)])
        })

        // A commit made on the stale tip cannot move the ref.
        let tree = try repo.writeTree(base: try repo.treeOfCommit(first), changes: TreeChanges(writes: ["mine": Data()]))
        let mine = try repo.createCommit(tree: tree, parents: [first], message: "mine\n", author: fixedAuthor)
        do {
            try repo.setReference(ref, to: mine, expected: first, logMessage: "test")
            Issue.record("a stale compare-and-swap succeeded")
        } catch {
            #expect(error.isConcurrentUpdate)
            #expect(error.function == "git_reference_create_matching")
        }
        // Creating a ref that exists (expected nil) is a lost race too.
        do {
            try repo.setReference(ref, to: mine, expected: nil, logMessage: "test")
            Issue.record("an existing ref was overwritten")
        } catch {
            #expect(error.isConcurrentUpdate)
        }
        #expect(try repo.referenceTarget(ref) == second)
        // The right expected id moves it.
        try repo.setReference(ref, to: mine, expected: second, logMessage: "test")
        #expect(try repo.referenceTarget(ref) == mine)
        try repo.setReference(ref, to: second, expected: mine, logMessage: "test")

        // commit(onto:): another writer commits while this stage computes its changes; the stage is re-applied.
        var tips: [ObjectID?] = []
        var racer: ObjectID?
        let result = try repo.commit(onto: ref, message: "stage\n", author: fixedAuthor) { tip in
            tips.append(tip)
            if tips.count == 1 {
                racer = try other.commit(onto: ref, message: "racer\n", author: fixedAuthor) { _ in
                    TreeChanges(writes: ["racer.txt": Data("r\n".utf8)])
                }
            }
            return TreeChanges(writes: ["stage.txt": Data("s\n".utf8)])
        }
        let racerID = try #require(racer)
        let stage = try #require(result)
        #expect(tips == [second, racerID])
        #expect(try repo.commitInfo(stage).parents == [racerID])
        #expect(try repo.log(from: ref).map(\.summary) == ["stage", "racer", "second", "first"])
        #expect(Set(try repo.fileIDs(inTree: try repo.treeOfCommit(stage)).keys) == [
            "first.txt", "second.txt", "racer.txt", "stage.txt",
        ])
    }

    @Test("a ref lock left by a killed writer: commit(onto:) gives up with an error naming the lock")
    func staleLock() throws {
        let (repo, url) = try makeRepository("lock")
        let ref = "refs/heads/main"
        let first = try repo.commit(onto: ref, message: "first\n", author: fixedAuthor) { _ in
            TreeChanges(writes: ["a": Data("a".utf8)])
        }
        let lock = url.appendingPathComponent("refs/heads/main.lock")
        try Data().write(to: lock)
        do {
            try repo.commit(onto: ref, message: "second\n", author: fixedAuthor, maxAttempts: 3) { _ in
                TreeChanges(writes: ["b": Data("b".utf8)])
            }
            Issue.record("committed through a held lock")
        } catch let error as GitError {
            #expect(error.isConcurrentUpdate)
            #expect(error.message.contains("gave up moving refs/heads/main after 3 attempts"))
            #expect(error.message.contains(lock.path))
        }
        #expect(try repo.referenceTarget(ref) == first)
        // An old lock is a race that never ends: the commit gives up at its first attempt, not after a thousand.
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-60)], ofItemAtPath: lock.path)
        let started = Date()
        do {
            try repo.commit(onto: ref, message: "second\n", author: fixedAuthor) { _ in TreeChanges(writes: ["b": Data("b".utf8)]) }
            Issue.record("committed through an abandoned lock")
        } catch let error as GitError {
            #expect(error.message.contains("gave up moving refs/heads/main after 1 attempt:"), "\(error.message)")
            #expect(error.message.contains("rm '\(lock.path)'"))
        }
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(try repo.referenceTarget(ref) == first)
        try FileManager.default.removeItem(at: lock)
        #expect(try repo.commit(onto: ref, message: "second\n", author: fixedAuthor) { _ in
            TreeChanges(writes: ["b": Data("b".utf8)])
        } != nil)
    }

    @Test("a corrupt object throws libgit2's error, no crash")
    func corruptObject() throws {
        let (repo, url) = try makeRepository("corrupt")
        let blob = try repo.writeBlob(Data("precious contents\n".utf8))
        let commit = try #require(try repo.commit(onto: "refs/heads/main", message: "c\n", author: fixedAuthor) { _ in
            TreeChanges(writes: ["precious.txt": Data("precious contents\n".utf8)])
        })
        let object = url.appendingPathComponent("objects/\(blob.hex.prefix(2))/\(blob.hex.dropFirst(2))")
        #expect(FileManager.default.fileExists(atPath: object.path))
        try FileManager.default.removeItem(at: object)
        try Data("this is not a zlib stream at all".utf8).write(to: object)

        let fresh = try Repository.open(at: url)  // no cached copy
        do {
            _ = try fresh.blob(blob)
            Issue.record("read a corrupt object")
        } catch {
            #expect(error.function == "git_blob_lookup")
            #expect(!error.message.isEmpty)
            #expect(error.message != "unknown libgit2 error")
            #expect(error.klass != 0)
        }
        #expect(throws: GitError.self) { try fresh.file("precious.txt", at: commit.hex) }
        #expect(throws: GitError.self) { try fresh.verifyReachable(from: "refs/heads/main") }
        // Missing objects are reported as not found.
        let missing = try #require(ObjectID(hex: String(repeating: "ab", count: 20)))
        do {
            _ = try fresh.blob(missing)
            Issue.record("read a missing object")
        } catch {
            #expect(error.isNotFound)
        }
        #expect(throws: GitError.self) { try fresh.resolveCommit("no-such-branch") }
    }

    @Test("invalid paths are rejected", arguments: [
        "../x", ".git/x", "", "/abs", "a//b", "a/./b", "a/../b", ".GIT/config", "harness/.git", "a/", "./a", "nul\0byte",
    ])
    func invalidPaths(path: String) throws {
        let (repo, _) = try makeRepository("paths")
        do {
            _ = try repo.writeTree(base: nil, changes: TreeChanges(writes: [path: Data("x".utf8)]))
            Issue.record("wrote \(path.debugDescription)")
        } catch {
            #expect(error.function == "TreeChanges")
            #expect(error.message.contains("invalid repository path"))
        }
        #expect(throws: GitError.self) { try repo.writeTree(base: nil, changes: TreeChanges(removals: [path])) }
        // Nothing was committed by a refused stage.
        #expect(throws: GitError.self) {
            try repo.commit(onto: "refs/heads/main", message: "bad\n", author: fixedAuthor) { _ in
                TreeChanges(writes: [path: Data()])
            }
        }
        #expect(try repo.referenceTarget("refs/heads/main") == nil)
    }

    @Test("a path written both as a file and as a folder is rejected")
    func fileAndFolder() throws {
        let (repo, _) = try makeRepository("conflict")
        #expect(throws: GitError.self) {
            try repo.writeTree(files: ["a": Data("x".utf8), "a/b": Data("y".utf8)])
        }
        #expect(throws: GitError.self) {
            try repo.writeTree(files: ["a/b/c": Data("x".utf8), "a/b": Data("y".utf8)])
        }
    }
}
