import Foundation
import Testing
import TestSupport

/// End-to-end: the built `flywheel` binary, its output and exit codes.
func flywheel(_ args: [String], in cwd: URL, env: [String: String] = [:], stdin: String? = nil, timeout: TimeInterval = 120) throws -> ProcessResult {
    var environment = ProcessInfo.processInfo.environment
    environment["NO_COLOR"] = "1"
    for (k, v) in env { environment[k] = v }
    return try runProcess(TestPaths.product("flywheel"), args, cwd: cwd, environment: environment, stdin: stdin, timeout: timeout)
}

func json(_ text: String) throws -> Any {
    try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
}

@Suite("CLI: history commands")
struct HistoryCommandTests {
    @Test("init, cycle start/close, log, show and diff, as text and JSON")
    func historyFlow() throws {
        let dir = TestPaths.scratch("cli")
        let harness = dir.appendingPathComponent("agent/prompts")
        try FileManager.default.createDirectory(at: harness, withIntermediateDirectories: true)
        try "Answer briefly.\n".write(to: harness.appendingPathComponent("system.md"), atomically: true, encoding: .utf8)

        var r = try flywheel(["init"], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("loop-history"))
        // A bare repository: no work tree files, HEAD at the top.
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("loop-history/HEAD").path))

        r = try flywheel(["cycle", "start", "--harness", "agent/prompts", "--json"], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        let c1 = try #require(try json(r.stdout) as? [String: Any])
        #expect(c1["number"] as? Int == 1)
        #expect(c1["status"] as? String == "open")
        #expect((c1["harness_tree"] as? String)?.count == 40)
        #expect(try flywheel(["cycle", "close"], in: dir).status == 0)

        try "Answer briefly.\nCite the file you used.\n".write(to: harness.appendingPathComponent("system.md"), atomically: true, encoding: .utf8)
        #expect(try flywheel(["cycle", "start", "--harness", "agent/prompts"], in: dir).status == 0)
        #expect(try flywheel(["cycle", "close"], in: dir).status == 0)

        r = try flywheel(["log", "--json"], in: dir)
        let log = try #require(try json(r.stdout) as? [[String: Any]])
        #expect(log.compactMap { $0["stage"] as? String } == ["close", "start", "close", "start", "init"])

        r = try flywheel(["show", "2", "--json"], in: dir)
        let shown = try #require(try json(r.stdout) as? [String: Any])
        #expect(shown["tag"] as? String == "cycle-0002")
        #expect(shown["files"] as? [String] == ["cycle.json"])

        r = try flywheel(["diff", "1", "2"], in: dir)
        #expect(r.status == 0)
        #expect(r.stdout.contains("+Cite the file you used."))
        #expect(!r.stdout.contains("\u{1B}["), "no colour when not a terminal")
        // The same diff as plain git prints (git is a peer here, never in the product).
        try #require(toolExists("git"), "git is the peer here (make test installs it)")
        let git = try runTool("git", ["-C", dir.appendingPathComponent("loop-history").path, "diff", "--no-color", "cycle-0001", "cycle-0002", "--", "harness/"])
        #expect(git.stdout == r.stdout)
        r = try flywheel(["diff", "1", "2", "--json"], in: dir)
        let files = try #require(try json(r.stdout) as? [[String: Any]])
        #expect(files.first?["path"] as? String == "harness/system.md")
        #expect(files.first?["additions"] as? Int == 1)
        #expect(files.first?["deletions"] as? Int == 0)
    }

    @Test("exit codes: 2 for usage, 1 for errors, with a clear message")
    func exitCodes() throws {
        let dir = TestPaths.scratch("cli-errors")
        var r = try flywheel(["diff"], in: dir)
        #expect(r.status == 2)
        #expect(r.stderr.contains("Missing expected argument"))
        r = try flywheel(["no-such-command"], in: dir)
        #expect(r.status == 2)
        r = try flywheel(["log"], in: dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("not a git repository"))
        r = try flywheel(["cycle", "close"], in: dir, env: [:])
        #expect(r.status == 1)
        // A repository path that is not a repository at all.
        try "x".write(to: dir.appendingPathComponent("file"), atomically: true, encoding: .utf8)
        r = try flywheel(["log", "--repo", "file"], in: dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("file"))
        // A broken loop.yaml names the file, line and field.
        try "project: x\ngate:\n  min_pass_rate: lots\n".write(to: dir.appendingPathComponent("loop.yaml"), atomically: true, encoding: .utf8)
        r = try flywheel(["log"], in: dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("loop.yaml:3: field gate.min_pass_rate"))
    }

    @Test("cycle start --harness works without loop.yaml or init; a second start is refused")
    func startWithoutConfig() throws {
        let dir = TestPaths.scratch("cli-noconfig")
        try "rules\n".write(to: dir.appendingPathComponent("AGENTS.md"), atomically: true, encoding: .utf8)
        var r = try flywheel(["cycle", "start", "--harness", "AGENTS.md"], in: dir)
        #expect(r.status == 0, "\(r.stderr)")
        r = try flywheel(["cycle", "start", "--harness", "AGENTS.md"], in: dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("cycle 1 is still open"))
        r = try flywheel(["cycle", "start", "--harness", "missing.md"], in: dir)
        #expect(r.status == 1)
        #expect(r.stderr.contains("missing.md"))
    }
}
