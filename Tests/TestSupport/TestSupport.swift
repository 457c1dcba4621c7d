import Foundation

/// Helpers shared by every test target: scratch folders, paths of the package, the built products,
/// and running a process with a time limit.
public enum TestPaths {
    /// The package root (the folder holding Package.swift).
    public static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        fatalError("Package.swift not found above \(#filePath)")
    }()

    /// `../shared` beside the package root (fixtures, specs, tools of the team).
    public static var shared: URL { packageRoot.deletingLastPathComponent().appendingPathComponent("shared") }

    /// The folder holding the built executables (`flywheel`, `gitstore-stress`, …): the test bundle's folder.
    public static let productsDirectory: URL = {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = bundle.deletingLastPathComponent()
        // swift-testing may run from inside the .xctest bundle on Linux.
        while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("flywheel").path) {
            dir.deleteLastPathComponent()
            if dir.lastPathComponent == "debug" || dir.lastPathComponent == "release" { break }
        }
        return dir
    }()

    /// The path of a built executable of this package.
    public static func product(_ name: String) -> URL { productsDirectory.appendingPathComponent(name) }

    /// A new empty folder under this process's scratch root, unique per call.
    public static func scratch(_ label: String = "test") -> URL {
        let url = scratchRoot.appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8))", isDirectory: true)
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Where this test process keeps its scratch folders: `$TMPDIR/flywheel-tests-PID`, removed when the process exits
    /// (a full run writes hundreds of MB; a CI disk must not fill up run after run). Roots left by processes that are
    /// gone (a crash) are removed on first use. `FLYWHEEL_KEEP_TEST_FILES=1` keeps them for a look afterwards.
    public static let scratchRoot: URL = {
        let fm = FileManager.default
        let tmp = fm.temporaryDirectory
        let prefix = "flywheel-tests-"
        for name in (try? fm.contentsOfDirectory(atPath: tmp.path)) ?? [] where name.hasPrefix(prefix) {
            if let pid = Int32(name.dropFirst(prefix.count)), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH {
                try? fm.removeItem(at: tmp.appendingPathComponent(name))
            }
        }
        let root = tmp.appendingPathComponent("\(prefix)\(getpid())", isDirectory: true)
        try? fm.createDirectory(at: root, withIntermediateDirectories: true)
        if ProcessInfo.processInfo.environment["FLYWHEEL_KEEP_TEST_FILES"] != "1" {
            atexit { try? FileManager.default.removeItem(at: TestPaths.scratchRoot) }
        }
        return root
    }()

    /// Where tests keep what a person may want to look at afterwards (screenshots, reports); not committed.
    public static var testOutput: URL {
        let url = packageRoot.appendingPathComponent("Tests/output", isDirectory: true)
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// The result of a finished process.
public struct ProcessResult: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
    public let timedOut: Bool
}

/// Runs `executable` with `arguments`, feeding `stdin`, and waits at most `timeout` seconds (then kills it).
public func runProcess(
    _ executable: URL, _ arguments: [String], cwd: URL? = nil, environment: [String: String]? = nil,
    stdin: String? = nil, timeout: TimeInterval = 120
) throws -> ProcessResult {
    let p = Process()
    p.executableURL = executable
    p.arguments = arguments
    if let cwd { p.currentDirectoryURL = cwd }
    if let environment { p.environment = environment }
    let out = Pipe(), err = Pipe(), inp = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = inp
    // A child that exits without reading its stdin must fail the write (EPIPE), not kill the test process.
    _ = signal(SIGPIPE, SIG_IGN)
    try p.run()
    if let stdin { try? inp.fileHandleForWriting.write(contentsOf: Data(stdin.utf8)) }
    try? inp.fileHandleForWriting.close()
    // Drain pipes concurrently so a chatty child never blocks on a full pipe.
    nonisolated(unsafe) var outData = Data(), errData = Data()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    group.enter()
    DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    let deadline = Date().addingTimeInterval(timeout)
    var timedOut = false
    while p.isRunning {
        if Date() > deadline {
            timedOut = true
            p.terminate()
            kill(p.processIdentifier, SIGKILL)
            break
        }
        usleep(10_000)
    }
    p.waitUntilExit()
    group.wait()
    return ProcessResult(
        status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData, as: UTF8.self), timedOut: timedOut)
}

/// Runs a command found on PATH (e.g. `git`, `python3`) — a peer in tests, never in the product.
public func runTool(
    _ name: String, _ arguments: [String], cwd: URL? = nil, environment: [String: String]? = nil,
    stdin: String? = nil, timeout: TimeInterval = 300
) throws -> ProcessResult {
    try runProcess(
        URL(fileURLWithPath: "/usr/bin/env"), [name] + arguments, cwd: cwd, environment: environment, stdin: stdin,
        timeout: timeout)
}

/// True when `name` is on PATH.
public func toolExists(_ name: String) -> Bool {
    (try? runTool("sh", ["-c", "command -v \(name)"]).status) == 0
}

/// HALO's own parser and indexer (PyPI halo-engine in a venv made by Tests/scripts/halo-venv.sh), shared by the
/// test targets that use it as a peer. nil when the venv cannot be made (no PyPI): those tests are skipped with
/// the reason, never passed.
public enum HALOVenv {
    public static let folder: URL? = {
        let script = TestPaths.packageRoot.appendingPathComponent("Tests/scripts/halo-venv.sh")
        guard let r = try? runProcess(URL(fileURLWithPath: "/bin/sh"), [script.path], timeout: 600), r.status == 0 else {
            print("HALO peer tests skipped: Tests/scripts/halo-venv.sh could not create the venv (PyPI unreachable?)")
            return nil
        }
        return URL(fileURLWithPath: r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }()
    /// The venv's python.
    public static var python: URL? { folder?.appendingPathComponent("bin/python") }
    /// HALO's index check script, kept beside the trace fixtures.
    public static let indexCheckScript = TestPaths.packageRoot.appendingPathComponent("Tests/FlywheelTests/Fixtures/Traces/tools/halo_index_check.py")
}

/// lxml in a venv made by Tests/scripts/lxml-venv.sh (to validate XML against an XSD). nil when PyPI is unreachable:
/// the tests that need it are skipped with the reason, never passed.
public enum LXMLVenv {
    public static let python: URL? = {
        let script = TestPaths.packageRoot.appendingPathComponent("Tests/scripts/lxml-venv.sh")
        guard let r = try? runProcess(URL(fileURLWithPath: "/bin/sh"), [script.path], timeout: 600), r.status == 0 else {
            print("XSD validation skipped: Tests/scripts/lxml-venv.sh could not create the venv (PyPI unreachable?)")
            return nil
        }
        return URL(fileURLWithPath: r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)).appendingPathComponent("bin/python")
    }()
}

/// SplitMix64: the tests' one small, fast, deterministic random generator (seeded corpora, shuffles).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
