import Foundation
import GitStore
import TestSupport
import Testing

@Suite("GitStore objects: ids, trees, commits, tags")
struct ObjectTests {
    @Test("a blob's id is what `git hash-object` prints")
    func blobIDMatchesGit() throws {
        let (repo, url) = try makeRepository("blob")
        let samples: [Data] = [
            Data("hello\n".utf8), Data(), Data((0...255).map { UInt8($0) }),
            Data(String(repeating: "ünïcødé ✓ line\n", count: 500).utf8),
        ]
        let dir = url.deletingLastPathComponent()
        for (i, data) in samples.enumerated() {
            let id = try repo.writeBlob(data)
            let file = dir.appendingPathComponent("sample-\(i)")
            try data.write(to: file)
            let expected = try git(["hash-object", file.path], in: dir).trimmed
            #expect(id.hex == expected, "sample \(i)")
            #expect(try repo.blob(id) == data)
        }
        // The well-known id of "hello\n".
        #expect(try repo.writeBlob(Data("hello\n".utf8)).hex == "ce013625030ba8dba906f756967f9e9ca394464a")
    }

    @Test("a commit built twice with a fixed signature has the same id, and git agrees")
    func commitIDIsStable() throws {
        let files = ["loop.yaml": Data("agent: demo\n".utf8), "harness/prompt.md": Data("# Prompt\n".utf8)]
        let message = Repository.message("cycle 1: traces", trailers: [Trailer("Flywheel-Cycle", "1")])
        var ids: [ObjectID] = []
        var lastURL: URL?
        for label in ["a", "b"] {
            let (repo, url) = try makeRepository("stable-\(label)")
            let tree = try repo.writeTree(files: files)
            ids.append(try repo.createCommit(tree: tree, parents: [], message: message, author: fixedAuthor))
            lastURL = url
        }
        #expect(ids[0] == ids[1])
        // The git CLI, given the same tree, message and identity, writes the same commit.
        let url = try #require(lastURL)
        let repo = try Repository.open(at: url)
        let tree = try repo.treeOfCommit(ids[0])
        let peer = try git(["commit-tree", tree.hex, "-F", "-"], in: url, stdin: message).trimmed
        #expect(peer == ids[0].hex)
    }

    @Test("a tree with nested folders round-trips byte for byte, and git reads the same tree")
    func nestedTreeRoundTrip() throws {
        let (repo, url) = try makeRepository("tree")
        var random = SystemRandomNumberGenerator()
        let files: [String: Data] = [
            "binary.bin": Data((0..<4096).map { _ in UInt8.random(in: 0...255, using: &random) }),
            "all-bytes": Data((0...255).map { UInt8($0) } + [0, 0, 13, 10, 13]),
            "empty.txt": Data(),
            "données/ünïcødé ✓.md": Data("Grüße, 世界\n".utf8),
            "日本語/ファイル.txt": Data("テスト\n".utf8),
            "a/b/c/d/e/f/g/h/i/j/k/deep.txt": Data("deep\n".utf8),
            "a/b/sibling.txt": Data("sibling\n".utf8),
            "a/b.txt": Data("b.txt beside a/b/\n".utf8),
            "with space/and-dash_.txt": Data("spaces\n".utf8),
            "no-newline": Data("last line".utf8),
        ]
        let tree = try repo.writeTree(files: files)
        #expect(try repo.files(inTree: tree) == files)
        #expect(try repo.files(inTree: tree, under: "a/b") == [
            "a/b/c/d/e/f/g/h/i/j/k/deep.txt": Data("deep\n".utf8), "a/b/sibling.txt": Data("sibling\n".utf8),
        ])
        #expect(try repo.entry(atPath: "a/b/c", inTree: tree)?.kind == .tree)
        #expect(try repo.entry(atPath: "nope/x", inTree: tree) == nil)

        // The peer: git lists the same paths and blob ids, and a work tree with the same files has the same tree.
        let listing = try git(["-c", "core.quotepath=off", "ls-tree", "-r", "-z", tree.hex], in: url)
        var peerIDs: [String: String] = [:]
        for record in listing.split(separator: "\0") {
            let parts = record.split(separator: "\t", maxSplits: 1)
            peerIDs[String(parts[1])] = String(parts[0].split(separator: " ")[2])
        }
        #expect(peerIDs == (try repo.fileIDs(inTree: tree)).mapValues(\.hex))
        let work = url.deletingLastPathComponent().appendingPathComponent("work")
        for (path, data) in files {
            let file = work.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: file)
        }
        try git(["init", "-q", "."], in: work)
        try git(["add", "-A"], in: work)
        #expect(try git(["write-tree"], in: work).trimmed == tree.hex)
    }

    @Test("removing a folder then writing under it replaces it; emptied folders vanish")
    func treeChangesRemovals() throws {
        let (repo, _) = try makeRepository("changes")
        let base = try repo.writeTree(files: [
            "harness/a.txt": Data("a\n".utf8), "harness/sub/b.txt": Data("b\n".utf8),
            "evals/x/y/z.yaml": Data("z\n".utf8), "loop.yaml": Data("l\n".utf8),
        ])
        var replace = TreeChanges()
        replace.remove("harness")
        replace.write("harness/new.txt", text: "new\n")
        let replaced = try repo.writeTree(base: base, changes: replace)
        #expect(Set(try repo.fileIDs(inTree: replaced).keys) == ["harness/new.txt", "evals/x/y/z.yaml", "loop.yaml"])

        // Removing the only file of a deep folder removes every folder it leaves empty.
        var prune = TreeChanges()
        prune.remove("evals/x/y/z.yaml")
        prune.remove("does/not/exist")
        let pruned = try repo.writeTree(base: replaced, changes: prune)
        #expect(try repo.entry(atPath: "evals", inTree: pruned) == nil)
        #expect(try repo.entries(ofTree: pruned).map(\.name) == ["harness", "loop.yaml"])

        // Removing everything gives git's empty tree.
        var all = TreeChanges()
        all.remove("harness")
        all.remove("loop.yaml")
        #expect(try repo.writeTree(base: pruned, changes: all).hex == "4b825dc642cb6eb9a060e54bf8d69288fbee4904")

        // An unchanged change set gives back the same tree; writing a file over a folder replaces the folder.
        #expect(try repo.writeTree(base: base, changes: TreeChanges()) == base)
        var fileOverFolder = TreeChanges()
        fileOverFolder.remove("harness")
        fileOverFolder.write("harness", text: "now a file\n")
        let flat = try repo.writeTree(base: base, changes: fileOverFolder)
        #expect(try repo.entry(atPath: "harness", inTree: flat)?.kind == .blob)
    }

    @Test("trailers are parsed back from a commit message")
    func trailers() throws {
        let (repo, _) = try makeRepository("trailers")
        let message = Repository.message(
            "cycle 3: traces\n\nRan 12 tasks.",
            trailers: [Trailer("Flywheel-Cycle", "3"), Trailer("Flywheel-Stage", "traces"), Trailer("Flywheel-Run", "a b:c")])
        let id = try repo.commit(onto: "refs/heads/main", message: message, author: fixedAuthor) { _ in
            TreeChanges(writes: ["cycles/0003/cycle.json": Data("{}\n".utf8)])
        }
        let info = try repo.commitInfo(try #require(id))
        #expect(info.trailers == [Trailer("Flywheel-Cycle", "3"), Trailer("Flywheel-Stage", "traces"), Trailer("Flywheel-Run", "a b:c")])
        #expect(info.trailer("flywheel-stage") == "traces")
        #expect(info.trailer("Missing") == nil)
        #expect(info.summary == "cycle 3: traces")
        #expect(info.message == message)
        #expect(info.author == fixedAuthor)
        #expect(info.parents.isEmpty)
        // A message without a trailer block has none.
        #expect(try repo.commitInfo(try repo.createCommit(
            tree: info.tree, parents: [], message: "just text\n", author: fixedAuthor)).trailers.isEmpty)
    }

    @Test("log lists commits newest first and honours a limit")
    func logOrder() throws {
        let (repo, _) = try makeRepository("log")
        var made: [ObjectID] = []
        for n in 1...5 {
            var author = fixedAuthor
            author.time += Int64(n)
            let id = try repo.commit(onto: "refs/heads/main", message: "commit \(n)\n", author: author) { _ in
                TreeChanges(writes: ["n.txt": Data("\(n)\n".utf8)])
            }
            made.append(try #require(id))
        }
        let log = try repo.log(from: "refs/heads/main")
        #expect(log.map(\.id) == made.reversed())
        #expect(log.map(\.summary) == ["commit 5", "commit 4", "commit 3", "commit 2", "commit 1"])
        #expect(log.dropLast().map { $0.parents } == made.dropLast().reversed().map { [$0] })
        #expect(try repo.log(from: "main", limit: 2).map(\.id) == [made[4], made[3]])
        #expect(try repo.log(from: made[1].hex).map(\.id) == [made[1], made[0]])
        #expect(try repo.resolveCommit("main~2") == made[2])
        // change returning nil makes no commit.
        #expect(try repo.commit(onto: "refs/heads/main", message: "none\n", author: fixedAuthor) { _ in nil } == nil)
        #expect(try repo.referenceTarget("refs/heads/main") == made[4])
    }

    @Test("lightweight and annotated tags; reading a file at a tag or a commit")
    func tags() throws {
        let (repo, url) = try makeRepository("tags")
        let one = try #require(try repo.commit(onto: "refs/heads/main", message: "one\n", author: fixedAuthor) { _ in
            TreeChanges(writes: ["harness/prompt.md": Data("v1\n".utf8)])
        })
        let two = try #require(try repo.commit(onto: "refs/heads/main", message: "two\n", author: fixedAuthor) { _ in
            TreeChanges(writes: ["harness/prompt.md": Data("v2\n".utf8)])
        })
        let light = try repo.createTag("cycle-0001", target: one)
        #expect(light == one)
        let annotated = try repo.createTag("cycle-0002", target: two, message: "Cycle 2 finished\n", tagger: fixedAuthor)
        #expect(annotated != two)
        #expect(try git(["cat-file", "-t", "cycle-0001"], in: url).trimmed == "commit")
        #expect(try git(["cat-file", "-t", "cycle-0002"], in: url).trimmed == "tag")
        #expect(try git(["rev-parse", "cycle-0002^{commit}"], in: url).trimmed == two.hex)

        let tags = try repo.tags()
        #expect(tags.map(\.name) == ["cycle-0001", "cycle-0002"])
        #expect(tags.map(\.target) == [one, two])
        #expect(tags[0].message == nil)
        #expect(tags[1].message == "Cycle 2 finished\n")
        #expect(try repo.referenceNames() == ["refs/heads/main", "refs/tags/cycle-0001", "refs/tags/cycle-0002"])

        #expect(try repo.file("harness/prompt.md", at: "cycle-0001") == Data("v1\n".utf8))
        #expect(try repo.file("harness/prompt.md", at: "cycle-0002") == Data("v2\n".utf8))
        #expect(try repo.file("harness/prompt.md", at: one.hex) == Data("v1\n".utf8))
        #expect(try repo.file("harness/missing.md", at: "cycle-0002") == nil)
        #expect(try repo.file("harness", at: "cycle-0002") == nil)

        // A tag that exists is refused unless forced.
        do {
            try repo.createTag("cycle-0001", target: two)
            Issue.record("an existing tag was overwritten")
        } catch {
            #expect(error.isConcurrentUpdate)
            #expect(error.function == "git_tag_create_lightweight")
        }
        try repo.createTag("cycle-0001", target: two, force: true)
        #expect(try repo.resolveCommit("cycle-0001") == two)
    }

    @Test("push to a file:// remote moves the remote's refs")
    func push() throws {
        let (repo, url) = try makeRepository("push")
        let remote = url.deletingLastPathComponent().appendingPathComponent("remote.git")
        try git(["init", "-q", "--bare", remote.path], in: url.deletingLastPathComponent())
        var tip: ObjectID?
        for n in 1...3 {
            tip = try repo.commit(onto: "refs/heads/main", message: "c\(n)\n", author: fixedAuthor) { _ in
                TreeChanges(writes: ["cycles/000\(n)/cycle.json": Data("{\"n\":\(n)}\n".utf8)])
            }
        }
        try repo.createTag("cycle-0003", target: try #require(tip), message: "done\n", tagger: fixedAuthor)
        try repo.push(to: "file://" + remote.path, refspecs: ["refs/heads/main:refs/heads/main", "refs/tags/*:refs/tags/*"])
        #expect(try git(["rev-parse", "refs/heads/main"], in: remote).trimmed == tip?.hex)
        #expect(try git(["rev-parse", "cycle-0003^{commit}"], in: remote).trimmed == tip?.hex)
        #expect(try git(["rev-list", "--count", "main"], in: remote).trimmed == "3")
        try git(["fsck", "--strict"], in: remote)

        // A second push of one more commit is a fast-forward.
        let next = try repo.commit(onto: "refs/heads/main", message: "c4\n", author: fixedAuthor) { _ in
            TreeChanges(writes: ["x": Data("4\n".utf8)])
        }
        try repo.push(to: "file://" + remote.path, refspecs: ["refs/heads/main:refs/heads/main"])
        #expect(try git(["rev-parse", "refs/heads/main"], in: remote).trimmed == next?.hex)

        // A history that diverged from the remote's is refused (not silently ignored) unless forced with `+`.
        let base = try #require(tip)
        let diverged = try repo.createCommit(
            tree: try repo.treeOfCommit(base), parents: [base], message: "diverged\n", author: fixedAuthor)
        try repo.setReference("refs/heads/main", to: diverged, expected: next, logMessage: "test")
        do {
            try repo.push(to: "file://" + remote.path, refspecs: ["refs/heads/main:refs/heads/main"])
            Issue.record("a non-fast-forward push was accepted")
        } catch {
            #expect(error.function == "git_remote_push")
            #expect(error.message.contains("refs/heads/main"))
        }
        #expect(try git(["rev-parse", "refs/heads/main"], in: remote).trimmed == next?.hex)
        try repo.push(to: remote.path, refspecs: ["+refs/heads/main:refs/heads/main"])
        #expect(try git(["rev-parse", "refs/heads/main"], in: remote).trimmed == diverged.hex)

        // Pushing to something that is not a repository fails with libgit2's message.
        #expect(throws: GitError.self) {
            try repo.push(to: "file://" + url.deletingLastPathComponent().appendingPathComponent("nothing").path,
                          refspecs: ["refs/heads/main:refs/heads/main"])
        }
    }
}
