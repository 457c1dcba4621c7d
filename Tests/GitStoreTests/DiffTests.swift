import Foundation
import GitStore
import TestSupport
import Testing

@Suite("GitStore diff: libgit2's diff of two harness versions, checked against git")
struct DiffTests {
    static let promptV1 = (1...10).map { "line \($0) of the prompt" }.joined(separator: "\n") + "\n"
    static let promptV2: String = {
        var lines = (1...10).map { "line \($0) of the prompt" }
        lines[2] = "line 3, rewritten"
        lines[7] = "line 8, rewritten"
        lines += ["added line 11", "added line 12"]
        return lines.joined(separator: "\n") + "\n"
    }()

    /// Two commits: harness v1, then harness v2 (modified, added, deleted, binary, no-newline files) and a change
    /// outside `harness/` that the path filter must leave out.
    func twoVersions() throws -> (Repository, URL, ObjectID, ObjectID) {
        let (repo, url) = try makeRepository("diff")
        let ref = "refs/heads/main"
        let a = try #require(try repo.commit(onto: ref, message: "cycle 1\n", author: fixedAuthor) { _ in
            TreeChanges(writes: [
                "loop.yaml": Data("agent: one\n".utf8),
                "harness/prompt.md": Data(Self.promptV1.utf8),
                "harness/tools/search.py": Data("def search(q):\n    return []\n".utf8),
                "harness/old.txt": Data("gone 1\ngone 2\ngone 3\n".utf8),
                "harness/logo.bin": Data([0, 1, 2, 3, 0, 255, 254]),
                "harness/notes.txt": Data("first\nsecond\n".utf8),
            ])
        })
        let b = try #require(try repo.commit(onto: ref, message: "cycle 2\n", author: fixedAuthor) { _ in
            var c = TreeChanges()
            c.write("loop.yaml", text: "agent: two\n")
            c.write("harness/prompt.md", text: Self.promptV2)
            c.remove("harness/old.txt")
            c.write("harness/new.md", text: "# New\n\nfour\nlines\n")
            c.write("harness/logo.bin", Data([0, 1, 2, 3, 0, 255, 253, 9]))
            c.write("harness/notes.txt", text: "first\nsecond, no newline")
            return c
        })
        return (repo, url, a, b)
    }

    @Test("files, statuses and line counts")
    func filesAndCounts() throws {
        let (repo, _, a, b) = try twoVersions()
        let diff = try repo.diff(from: a.hex, to: b.hex, path: "harness/")
        #expect(diff.files.map(\.path) == [
            "harness/logo.bin", "harness/new.md", "harness/notes.txt", "harness/old.txt", "harness/prompt.md",
        ])
        let byPath = Dictionary(uniqueKeysWithValues: diff.files.map { ($0.path, $0) })
        #expect(byPath["harness/logo.bin"]?.status == .modified)
        #expect(byPath["harness/logo.bin"]?.isBinary == true)
        #expect(byPath["harness/new.md"].map { [$0.additions, $0.deletions] } == [4, 0])
        #expect(byPath["harness/new.md"]?.status == .added)
        #expect(byPath["harness/old.txt"].map { [$0.additions, $0.deletions] } == [0, 3])
        #expect(byPath["harness/old.txt"]?.status == .deleted)
        #expect(byPath["harness/prompt.md"].map { [$0.additions, $0.deletions] } == [4, 2])
        #expect(byPath["harness/notes.txt"].map { [$0.additions, $0.deletions] } == [1, 1])
        #expect(diff.additions == 9)
        #expect(diff.deletions == 6)

        // Hunks carry line numbers.
        let prompt = try #require(byPath["harness/prompt.md"])
        let removed = prompt.hunks.flatMap(\.lines).filter { $0.kind == .removed }
        #expect(removed.map(\.oldLine) == [3, 8])
        #expect(removed.map(\.content) == ["line 3 of the prompt", "line 8 of the prompt"])
        let added = prompt.hunks.flatMap(\.lines).filter { $0.kind == .added }
        #expect(added.map(\.newLine) == [3, 8, 11, 12])
        #expect(prompt.hunks.first?.header.hasPrefix("@@ -1,") == true)

        // Without a path the change outside harness/ shows too; the same tree diffs empty.
        #expect(try repo.diff(from: a.hex, to: b.hex).files.map(\.path).contains("loop.yaml"))
        #expect(try repo.diff(from: b.hex, to: b.hex).isEmpty)
        // From the empty tree, every file is added.
        let fromEmpty = try repo.diff(from: nil, to: try repo.treeOfCommit(a), paths: ["harness/"])
        #expect(fromEmpty.files.allSatisfy { $0.status == .added })
        #expect(fromEmpty.files.count == 5)
    }

    @Test("the patch text is what `git diff --no-color --no-renames A B -- harness/` prints")
    func patchMatchesGit() throws {
        let (repo, url, a, b) = try twoVersions()
        let ours = try repo.diff(from: a.hex, to: b.hex, path: "harness/").patch
        let peer = try git(
            ["-c", "core.abbrev=7", "diff", "--no-color", "--no-renames", "--no-ext-diff", a.hex, b.hex, "--", "harness/"],
            in: url)
        #expect(!ours.isEmpty)
        #expect(ours == peer)
    }

    @Test("rename detection pairs a moved file when asked")
    func renames() throws {
        let (repo, _) = try makeRepository("renames")
        let body = Data((1...20).map { "line \($0)\n" }.joined().utf8)
        let a = try repo.writeTree(files: ["harness/a.md": body])
        let b = try repo.writeTree(files: ["harness/b.md": body])
        #expect(try repo.diff(from: a, to: b).files.map(\.status) == [.deleted, .added])
        let renamed = try repo.diff(from: a, to: b, detectRenames: true).files
        #expect(renamed.map(\.status) == [.renamed])
        #expect(renamed.first.map { [$0.oldPath, $0.newPath] } == ["harness/a.md", "harness/b.md"])
    }
}
