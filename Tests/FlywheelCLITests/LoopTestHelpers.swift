import Foundation
import Testing
import TestSupport

/// Shared helpers of the loop's end-to-end tests (the `flywheel` binary, git as a peer).
enum LoopTest {
    /// A fresh folder scaffolded by `flywheel init --example diligence`.
    static func example(_ label: String) throws -> URL {
        let parent = TestPaths.scratch(label)
        let dir = parent.appendingPathComponent("example")
        let r = try flywheel(["init", "--example", "diligence", dir.path], in: parent)
        try #require(r.status == 0, "init --example failed: \(r.stderr)")
        return dir
    }

    /// Runs the git CLI (a peer, never in the product) on `repo`.
    static func git(_ repo: URL, _ args: [String]) throws -> ProcessResult {
        try runTool("git", ["-C", repo.path] + args, timeout: 60)
    }

    /// The commit id `ref` points at in the example's history (nil when the ref does not exist).
    static func head(_ folder: URL, ref: String = "refs/heads/main") throws -> String? {
        let r = try git(folder.appendingPathComponent("loop-history"), ["rev-parse", "--verify", "--quiet", ref])
        let id = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return r.status == 0 && !id.isEmpty ? id : nil
    }

    /// `git show REV:PATH` of the example's history.
    static func show(_ folder: URL, _ rev: String, _ path: String) throws -> String? {
        let r = try git(folder.appendingPathComponent("loop-history"), ["show", "\(rev):\(path)"])
        return r.status == 0 ? r.stdout : nil
    }

    /// Parses JSON text into a dictionary.
    static func object(_ text: String?) throws -> [String: Any] {
        let text = try #require(text)
        return try #require(try json(text) as? [String: Any])
    }

    /// Runs `args` and asserts it fails with `status`, its message contains every `needle`, and the history's ref
    /// did not move.
    @discardableResult
    static func expectRefused(
        _ args: [String], in folder: URL, status: Int32 = 1, mentions needles: [String], env: [String: String] = [:],
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> ProcessResult {
        let before = try head(folder)
        let r = try flywheel(args, in: folder, env: env)
        #expect(r.status == status, "\(args): exit \(r.status), stderr: \(r.stderr)", sourceLocation: sourceLocation)
        for n in needles {
            #expect(r.stderr.contains(n), "\(args): stderr lacks \"\(n)\": \(r.stderr)", sourceLocation: sourceLocation)
        }
        #expect(!r.stderr.contains("Fatal error"), sourceLocation: sourceLocation)
        #expect(try head(folder) == before, "\(args) moved the history ref", sourceLocation: sourceLocation)
        return r
    }

    /// The stage trailers of the history's commits, oldest first, as (cycle, stage) from `git log`.
    static func trailers(_ folder: URL) throws -> [(cycle: String, stage: String)] {
        let r = try git(folder.appendingPathComponent("loop-history"), [
            "log", "--reverse", "--format=%(trailers:key=Flywheel-Cycle,valueonly,separator=)|%(trailers:key=Flywheel-Stage,valueonly,separator=)",
            "refs/heads/main",
        ])
        return r.stdout.split(separator: "\n").map {
            let parts = $0.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            return (parts.first ?? "", parts.count > 1 ? parts[1] : "")
        }
    }
}
