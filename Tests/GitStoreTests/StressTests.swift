import Foundation
import GitStore
import TestSupport
import Testing

/// Several processes writing one repository at once, and processes killed part-way (`gitstore-stress`).
/// The full crash run (50+ kills) is `Tests/scripts/crash-safety.sh`.
@Suite("GitStore concurrency and crash safety", .serialized)
struct StressTests {
    static var stress: URL { TestPaths.product("gitstore-stress") }

    /// Starts `gitstore-stress` with `arguments`, its output going to a file beside the repository.
    static func start(_ arguments: [String], output: URL) throws -> Process {
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let p = Process()
        p.executableURL = stress
        p.arguments = arguments
        p.standardOutput = try FileHandle(forWritingTo: output)
        p.standardError = p.standardOutput
        try p.run()
        return p
    }

    /// `git fsck --strict` must pass without errors or warnings (dangling objects of lost races are fine).
    static func expectFsckClean(_ repo: URL, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let fsck = try git(["fsck", "--strict", "--no-dangling", "--no-progress"], in: repo, check: false)
        let result = try runTool("git", ["-C", repo.path, "fsck", "--strict", "--no-dangling", "--no-progress"])
        #expect(result.status == 0, "git fsck: \(result.stdout)\(result.stderr)", sourceLocation: sourceLocation)
        #expect(fsck.trimmed.isEmpty, "git fsck printed: \(fsck)", sourceLocation: sourceLocation)
        #expect(!result.stderr.lowercased().contains("error"), "\(result.stderr)", sourceLocation: sourceLocation)
    }

    @Test("8 processes × 10 commits on one ref: every commit reachable, every file present, fsck clean")
    func eightWriters() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.stress.path), "build gitstore-stress first")
        let dir = TestPaths.scratch("gitstore-writers")
        let url = dir.appendingPathComponent("repo.git")
        _ = try Repository.create(at: url)
        let ref = "refs/heads/main"
        let writers = 8, each = 10

        var processes: [(Process, URL)] = []
        for w in 0..<writers {
            let out = dir.appendingPathComponent("w\(w).out")
            processes.append((try Self.start([url.path, "--ref", ref, "--count", "\(each)", "--label", "w\(w)"], output: out), out))
        }
        let deadline = Date().addingTimeInterval(180)
        for (p, _) in processes {
            while p.isRunning && Date() < deadline { usleep(20_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
        }
        var printed = Set<String>()
        for (p, out) in processes {
            let text = try String(contentsOf: out, encoding: .utf8)
            #expect(p.terminationStatus == 0, "\(text)")
            let lines = text.split(separator: "\n")
            #expect(lines.count == each, "\(text)")
            for line in lines { printed.insert(String(line.split(separator: " ").last ?? "")) }
        }
        #expect(printed.count == writers * each)

        let repo = try Repository.open(at: url)
        let log = try repo.log(from: ref)
        #expect(log.count == writers * each)
        #expect(Set(log.map(\.id.hex)) == printed)
        #expect(try git(["rev-list", "--count", ref], in: url).trimmed == "\(writers * each)")
        let files = try repo.files(inTree: try repo.treeOfCommit(try #require(log.first).id))
        #expect(files.count == writers * each)
        for w in 0..<writers {
            for n in 1...each {
                let text = files["cycles/w\(w)/\(n).txt"].map { String(decoding: $0, as: UTF8.self) }
                #expect(text?.hasPrefix("w\(w) \(n) 0\n") == true, "cycles/w\(w)/\(n).txt")
            }
        }
        try Self.expectFsckClean(url)
    }

    @Test("4 processes × 4 large commits (blobs on several threads each) on one ref: nothing lost, fsck clean")
    func largeConcurrentWriters() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.stress.path), "build gitstore-stress first")
        let dir = TestPaths.scratch("gitstore-large-writers")
        let url = dir.appendingPathComponent("repo.git")
        _ = try Repository.create(at: url)
        let ref = "refs/heads/main"
        let writers = 4, each = 4, files = 60
        var processes: [(Process, URL)] = []
        for w in 0..<writers {
            let out = dir.appendingPathComponent("w\(w).out")
            processes.append((try Self.start(
                [url.path, "--ref", ref, "--count", "\(each)", "--files-per-commit", "\(files)", "--bytes", "30000",
                 "--label", "w\(w)"],
                output: out), out))
        }
        let deadline = Date().addingTimeInterval(180)
        for (p, _) in processes {
            while p.isRunning && Date() < deadline { usleep(20_000) }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
        }
        for (p, out) in processes {
            let text = try String(contentsOf: out, encoding: .utf8)
            #expect(p.terminationStatus == 0, "\(text)")
            #expect(text.split(separator: "\n").count == each, "\(text)")
        }
        let repo = try Repository.open(at: url)
        let log = try repo.log(from: ref)
        #expect(log.count == writers * each)
        let tree = try repo.fileIDs(inTree: try repo.treeOfCommit(try #require(log.first).id))
        #expect(tree.count == writers * each * files)
        for w in 0..<writers {
            for n in 1...each {
                let text = try repo.file("cycles/w\(w)/\(n)-\(files - 1).txt", at: ref).map { String(decoding: $0, as: UTF8.self) }
                #expect(text?.hasPrefix("w\(w) \(n) \(files - 1)\n") == true, "cycles/w\(w)/\(n)-\(files - 1).txt")
            }
        }
        try Self.expectFsckClean(url)
    }

    @Test("a writer killed at random moments (10 times, some in large commits) leaves a consistent repository")
    func killedWriter() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.stress.path), "build gitstore-stress first")
        let dir = TestPaths.scratch("gitstore-crash")
        let url = dir.appendingPathComponent("repo.git")
        _ = try Repository.create(at: url)
        let ref = "refs/heads/main"
        var staleLocks = 0
        for round in 1...10 {
            let out = dir.appendingPathComponent("round\(round).out")
            // Every third round commits 80 files at a time: blobs written on several threads.
            let (files, bytes) = round % 3 == 0 ? (80, 20_000) : (3, 2000)
            let p = try Self.start(
                [url.path, "--ref", ref, "--count", "0", "--files-per-commit", "\(files)", "--bytes", "\(bytes)",
                 "--label", "r\(round)"],
                output: out)
            usleep(UInt32.random(in: 80_000...400_000))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            let output = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
            #expect(p.terminationReason == .uncaughtSignal, "round \(round): \(output)")
            // A kill between taking and releasing the ref's lock leaves the lock, as it would for git itself.
            let lock = url.appendingPathComponent("refs/heads/main.lock")
            if FileManager.default.fileExists(atPath: lock.path) {
                staleLocks += 1
                try FileManager.default.removeItem(at: lock)
            }
            try Self.expectFsckClean(url)
            let repo = try Repository.open(at: url)
            if let tip = try repo.referenceTarget(ref) {
                _ = try repo.verifyReachable(from: ref)
                #expect(try git(["cat-file", "-t", tip.hex], in: url).trimmed == "commit")
                try git(["ls-tree", "-r", ref], in: url)
            }
        }
        let repo = try Repository.open(at: url)
        let commits = try repo.log(from: ref).count
        #expect(commits > 0, "no commit was made in 10 rounds")
        print("killedWriter: \(commits) commits, \(staleLocks) stale ref locks in 10 kills")
    }
}
