import Foundation
import GitStore
import Testing
import TestSupport

/// Hostile tree entry names: every name git (fsck, a remote with receive.fsckObjects, checkout on NTFS or HFS+)
/// would refuse is refused before any object is written; the history stays `git fsck --strict` clean.
@Suite("GitStore: tree entries pass git's own path rules")
struct PathRulesTests {
    /// Names git refuses, and the kind of problem the message must name.
    static let hostile: [(String, String)] = [
        (".git", ".git"), (".GIT", ".git"), (".Git", ".git"), (".git\u{200C}", ".git"), (".g\u{200D}it", ".git"),
        ("\u{FEFF}.git", ".git"), (".git.", ".git"), (".git ", ".git"), (".git. . ", ".git"), ("git~1", ".git"),
        ("GIT~1", ".git"), ("git~2", ".git"), (".git::$INDEX_ALLOCATION", ".git"), (".gitmodules", ".gitmodules"),
        (".GITMODULES.", ".gitmodules"), ("gitmod~1", ".gitmodules"), ("", "empty"), (".", "traversal"), ("..", "traversal"),
        ("a\u{0}b", "control"), ("tab\there", "control"), ("line\nbreak", "control"), ("del\u{7F}", "control"),
        ("back\\slash", "backslash"), (String(repeating: "x", count: 256), "bytes"),
        (String(repeating: "é", count: 128), "bytes"),
    ]

    @Test("each hostile name is refused with a message naming the problem, and writes no object", arguments: hostile)
    func refused(_ name: String, _ problem: String) throws {
        let (repo, url) = try makeRepository("pathrules")
        let objects = url.appendingPathComponent("objects")
        let before = try FileManager.default.subpathsOfDirectory(atPath: objects.path).count
        for path in [name, "cycles/0001/outputs/\(name)/final_answer.md", "cycles/\(name)"] where !(name.isEmpty && path == name) {
            do {
                _ = try repo.writeTree(files: ["ok.txt": Data("ok\n".utf8), path: Data("x\n".utf8)])
                Issue.record("\(PathRules.printable(path)) was accepted")
            } catch {
                #expect(error.message.contains("invalid repository path"), "\(error)")
                #expect(error.message.lowercased().contains(problem), "\(error.message)")
                // The message prints invisible and control characters escaped.
                #expect(!error.message.contains("\u{200C}") && !error.message.contains("\n"))
            }
        }
        #expect(try FileManager.default.subpathsOfDirectory(atPath: objects.path).count == before)
    }

    @Test("a path longer than 4096 bytes is refused; ordinary names, dot files and Unicode pass")
    func lengthsAndOrdinaryNames() throws {
        let long = Array(repeating: String(repeating: "d", count: 200), count: 21).joined(separator: "/")
        #expect(PathRules.problem(path: long)?.contains("4096") == true)
        for ok in ["final_answer.md", ".gitignore", ".github", "git", ".gitx", "gitmodules", "git~", "résumé.md", "日本語.txt",
                   ".git-notes", "x.git", String(repeating: "x", count: 255)] {
            #expect(PathRules.problem(component: ok) == nil, "\(ok)")
        }
    }

    @Test("a history written with every ordinary name passes git fsck --strict and a push to a receive.fsckObjects remote")
    func fsckAndPush() throws {
        guard toolExists("git") else {
            Issue.record("git is not installed: the peer check cannot run")
            return
        }
        let (repo, url) = try makeRepository("pathrules-fsck")
        let names = [".gitignore", "git", "résumé.md", ".gitx", "x.git", "a b", String(repeating: "y", count: 255)]
        _ = try repo.commit(onto: "refs/heads/main", message: "names\n", author: fixedAuthor) { _ in
            TreeChanges(writes: Dictionary(uniqueKeysWithValues: names.map { ("dir/\($0)", Data("\($0)\n".utf8)) }))
        }
        // A hostile name in a later change set is refused; the ref does not move.
        let tip = try repo.resolveCommit("refs/heads/main")
        #expect(throws: GitError.self) {
            _ = try repo.commit(onto: "refs/heads/main", message: "bad\n", author: fixedAuthor) { _ in
                TreeChanges(writes: ["outputs/.git\u{200C}/config": Data("x".utf8)])
            }
        }
        #expect(try repo.resolveCommit("refs/heads/main") == tip)
        try git(["fsck", "--strict", "--no-dangling"], in: url)

        let remote = url.deletingLastPathComponent().appendingPathComponent("remote.git")
        try git(["init", "--bare", "-q", remote.path], in: url.deletingLastPathComponent())
        try git(["config", "receive.fsckObjects", "true"], in: remote)
        try git(["push", "-q", remote.path, "refs/heads/main:refs/heads/main"], in: url)
        #expect(try git(["rev-parse", "refs/heads/main"], in: remote).trimmed == tip.hex)
    }
}
