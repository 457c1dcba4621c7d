import Foundation
import GitStore
import Testing
import TestSupport

@testable import Flywheel

/// `flywheel gc`: the history packed through libgit2's packbuilder, checked with git itself.
@Suite("Loop history: packing")
struct PackTests {
    func git(_ repo: URL, _ args: [String]) throws -> ProcessResult { try runTool("git", ["-C", repo.path] + args, timeout: 120) }

    /// `cycles` cycles of a few files each, every one tagged.
    func history(cycles: Int, label: String) throws -> LoopHistory {
        let history = LoopHistory(repository: TestPaths.scratch(label).appendingPathComponent("loop-history"))
        try history.initialize(files: ["loop.yaml": Data("project: pack\n".utf8)])
        for n in 1...cycles {
            _ = try history.startCycle(harness: ["AGENTS.md": Data("Rule \(n % 3)\nshared line\n".utf8)])
            let traces = (0..<20).map { #"{"trace_id":"t\#(n)-\#($0)","payload":"\#(String(repeating: "x", count: 200))"}"# }.joined(separator: "\n")
            _ = try history.commitToOpenCycle(.traces, files: ["traces.jsonl": Data((traces + "\n").utf8), "outputs/a/final_answer.md": Data("answer \(n)\n".utf8)])
            _ = try history.closeCycle()
        }
        return history
    }

    func objectsSize(_ repo: URL) -> Int {
        let objects = repo.appendingPathComponent("objects")
        var total = 0
        if let e = FileManager.default.enumerator(at: objects, includingPropertiesForKeys: [.fileSizeKey]) {
            for case let url as URL in e { total += (try? url.resourceValues(forKeys: [.fileSizeKey]).fileSize) ?? 0 }
        }
        return total
    }

    @Test("gc packs every reachable object, removes the loose copies, keeps fsck clean and every read the same")
    func packsAndReadsTheSame() throws {
        try #require(toolExists("git"))
        let history = try history(cycles: 12, label: "pack")
        let repo = history.repository
        let before = try history.snapshot(at: "cycle-0007").text("cycles/0007/traces.jsonl")
        let log = try history.log()
        let loose = try history.withRepository { $0.looseObjectFiles().count }
        #expect(loose > 12 * 4)

        let report = try #require(try history.gc())
        #expect(report.looseRemoved == loose && report.looseLeft == 0 && report.objectsPacked == loose)
        #expect(try history.withRepository { $0.looseObjectFiles().count } == 0)
        #expect(try git(repo, ["fsck", "--strict"]).status == 0)
        let counted = try git(repo, ["count-objects", "-v"]).stdout
        #expect(counted.contains("count: 0") && counted.contains("packs: 1"), "\(counted)")
        #expect(try history.snapshot(at: "cycle-0007").text("cycles/0007/traces.jsonl") == before)
        #expect(try history.log() == log)
        #expect(try git(repo, ["cat-file", "-t", "cycle-0003"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "tag")

        // More cycles, then gc again: still one pack (the old one is redundant and goes), fsck clean.
        _ = try history.startCycle(harness: ["AGENTS.md": Data("Rule new\n".utf8)])
        _ = try history.closeCycle()
        _ = try history.gc()
        let again = try git(repo, ["count-objects", "-v"]).stdout
        #expect(again.contains("count: 0") && again.contains("packs: 1"), "\(again)")
        #expect(try git(repo, ["fsck", "--strict"]).status == 0)
        #expect(try history.gc() == nil, "nothing loose: nothing to do")

        // Within 1.1× of what git gc reaches on a copy.
        let copy = TestPaths.scratch("pack-gitgc").appendingPathComponent("copy.git")
        try FileManager.default.copyItem(at: repo, to: copy)
        #expect(try git(copy, ["gc", "--quiet"]).status == 0)
        let ours = objectsSize(repo), theirs = objectsSize(copy)
        #expect(Double(ours) <= 1.1 * Double(theirs), "packed \(ours) bytes vs git gc \(theirs)")
    }

    @Test("cycle close packs the history once loose objects pass the threshold")
    func closePacksPastTheThreshold() throws {
        let history = try history(cycles: 2, label: "pack-auto")
        #expect(try history.withRepository { $0.looseObjectFiles().count } > 0, "below the threshold nothing is packed")
        #expect(try history.gc(ifLooseObjectsExceed: 10_000) == nil)
        #expect(try history.gc(ifLooseObjectsExceed: 5) != nil)
        #expect(try history.withRepository { $0.looseObjectFiles().count } == 0)
    }
}
