import Foundation
import Testing
import TestSupport

/// Scale-out and crash recovery: shards of one cycle run in separate clones and pushed at once; `loop --resume` after
/// the loop was killed (SIGKILL) at a random moment.
@Suite("Run: shards across clones, resume after a kill")
struct ShardResumeTests {
    @Test("two clones each run one shard and push at the same time: the remote's cycle holds every task once")
    func shardsPushedTogether() throws {
        let root = TestPaths.scratch("shards")
        let remote = root.appendingPathComponent("remote.git")
        #expect(try runTool("git", ["init", "--bare", "--quiet", remote.path]).status == 0)
        let url = "file://" + remote.path
        // The start job: a clone starts the cycle and pushes it.
        let starter = try OrderDesk.project("shards-start")
        #expect(try flywheel(["cycle", "start"], in: starter).status == 0)
        let pushed = try flywheel(["push", url], in: starter)
        #expect(pushed.status == 0, "\(pushed.stderr)")
        // Two shard jobs: each pulls the open cycle, runs its slice, and pushes, both at once.
        let shards = try (1...2).map { k -> URL in
            let clone = try OrderDesk.project("shards-\(k)")
            let pulled = try flywheel(["pull", url], in: clone)
            #expect(pulled.status == 0, "\(pulled.stderr)")
            let r = try flywheel(["run", "--shard", "\(k)/2", "--concurrency", "2", "--json"], in: clone, env: ["AGENT_DELAY": "0.02"])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(try LoopTest.object(r.stdout)["ran"] as? Int == 4)
            return clone
        }
        let results = LoopConcurrencyTests.together([["push", url], ["push", url]].map { $0 }, in: shards[0], folders: shards)
        for (i, r) in results.enumerated() { #expect(r?.status == 0, "shard \(i + 1) push: \(r?.stderr ?? "did not run")") }
        let traces = try runTool("git", ["-C", remote.path, "show", "refs/heads/main:cycles/0001/traces.jsonl"]).stdout
        let roots = OrderDesk.roots(traces.split(separator: "\n").compactMap { try? json(String($0)) as? [String: Any] })
        #expect(roots.keys.sorted() == (1...8).map { String(format: "t%02d", $0) }, "tasks on the remote: \(roots.keys.sorted())")
        #expect(roots.values.allSatisfy { $0.count == 1 }, "a task twice")
        let log = try runTool("git", ["-C", remote.path, "log", "--format=%s", "refs/heads/main"]).stdout
        #expect(log.components(separatedBy: "cycle 1: traces").count - 1 == 2, "\(log)")
        #expect(try runTool("git", ["-C", remote.path, "fsck", "--strict"]).status == 0)

        // The finish job: pull, finish the cycle (nothing left to run), push; the remote gets the cycle's tag.
        #expect(try flywheel(["pull", url], in: starter).status == 0)
        let finish = try flywheel(["loop", "--resume"], in: starter)
        #expect(finish.status == 0 || finish.status == 100, "\(finish.stderr)")
        #expect(finish.stdout.contains("Cycle 1 closed"), "\(finish.stdout)")
        #expect(try flywheel(["push", url], in: starter).status == 0)
        #expect(try runTool("git", ["-C", remote.path, "rev-parse", "--verify", "--quiet", "refs/tags/cycle-0001"]).status == 0)
        let closed = try runTool("git", ["-C", remote.path, "show", "refs/heads/main:cycles/0001/traces.jsonl"]).stdout
        #expect(closed == traces, "finishing the cycle changed its traces")
    }

    @Test("loop --resume after a SIGKILL at a random moment closes the cycle with every task once, fsck clean")
    func resumeAfterKill() throws {
        for round in 1...3 {
            let folder = try OrderDesk.project("resume-\(round)", tasks: 6)
            let env = ["AGENT_DELAY": "0.1", "BEHAVIOURS": "t04=crash"]
            // Kill the loop somewhere in its run stage (the agent takes ~0.1–0.3 s per task).
            let delay = Double.random(in: 0.2...1.5)
            let killed = try startFlywheel(["loop", "--concurrency", "2"], in: folder, env: env)
            usleep(UInt32(delay * 1_000_000))
            kill(killed.processIdentifier, SIGKILL)
            killed.waitUntilExit()
            // A kill between taking and releasing the ref's lock leaves it, as it would for git: resume is refused
            // (within the lock's 10 s, not after a thousand retries) with the command that clears it, as a user sees.
            let lock = folder.appendingPathComponent("loop-history/refs/heads/main.lock")
            if FileManager.default.fileExists(atPath: lock.path) {
                let refused = try flywheel(["loop", "--resume"], in: folder, env: env)
                #expect(refused.status != 0 && refused.stderr.contains("rm '"), "round \(round): \(refused.stderr)")
                try FileManager.default.removeItem(at: lock)
            }
            let record = try LoopTest.show(folder, "refs/heads/main", "cycles/0001/cycle.json")
            if record?.contains("\"status\" : \"closed\"") != true {
                let r = try flywheel(record != nil ? ["loop", "--resume"] : ["loop"], in: folder, env: env)
                #expect(r.status == 0 || r.status == 100, "round \(round) (killed after \(delay) s): \(r.stdout) \(r.stderr)")
            }
            let cycle = try LoopTest.object(try LoopTest.show(folder, "refs/heads/main", "cycles/0001/cycle.json"))
            #expect(cycle["status"] as? String == "closed", "round \(round)")
            let roots = OrderDesk.roots(try OrderDesk.spans(folder))
            #expect(roots.keys.sorted() == (1...6).map { String(format: "t%02d", $0) } && roots.values.allSatisfy { $0.count == 1 },
                    "round \(round): \(roots.mapValues(\.count))")
            #expect(try LoopTest.git(folder.appendingPathComponent("loop-history"), ["fsck", "--strict"]).status == 0)
        }
    }

    /// Starts `flywheel` without waiting for it.
    func startFlywheel(_ args: [String], in folder: URL, env: [String: String]) throws -> Process {
        let p = Process()
        p.executableURL = TestPaths.product("flywheel")
        p.arguments = args
        p.currentDirectoryURL = folder
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in env { environment[k] = v }
        p.environment = environment
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }
}
