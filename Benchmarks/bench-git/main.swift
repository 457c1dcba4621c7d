// bench-git: how long GitStore takes to commit one big cycle, against the git CLI doing the same.
//
//   swift build -c release --product bench-git && .build/release/bench-git [--runs N] [--files N] [--megabytes N]
//                                                                          [--gitstore-only]
//
// Makes `files` files totalling `megabytes` MB (deterministic: mixed sizes, mostly word-like text that compresses
// like logs and traces do, some random bytes), then times
//   GitStore: `commit(onto:message:author:change:)` of all of them into a new bare repository, and
//   git CLI: `git add -A && git commit -q` in a work tree holding the same files (both commands timed).
// Both must produce the same root tree id (checked). Prints each run's wall and CPU time (user + system, from
// getrusage: the machine is shared, so wall time is noisy and CPU time is the steadier figure), the medians of `runs`
// runs, the ratios and peak memory. The two sides alternate which goes first.
import Foundation
import GitStore
import TestSupport

// MARK: - Options

var runs = 3
var fileCount = 500
var megabytes = 50
var gitStoreOnly = false
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let arg = arguments.next() {
    switch arg {
    case "--runs": runs = Int(arguments.next() ?? "") ?? runs
    case "--files": fileCount = Int(arguments.next() ?? "") ?? fileCount
    case "--megabytes": megabytes = Int(arguments.next() ?? "") ?? megabytes
    case "--gitstore-only": gitStoreOnly = true  // for profiling
    default:
        FileHandle.standardError.write(
            Data("usage: bench-git [--runs N] [--files N] [--megabytes N] [--gitstore-only]\n".utf8))
        exit(2)
    }
}

// MARK: - Deterministic data

func makeFiles(count: Int, totalBytes: Int) -> [String: Data] {
    var rng = SplitMix64(seed: 20_261_121)
    let words = [
        "agent", "tool", "call", "result", "trace", "span", "model", "token", "prompt", "eval", "harness", "cycle",
        "the", "a", "of", "to", "and", "in", "is", "for", "with", "that", "score", "pass", "fail", "latency",
        "{\"role\":", "\"assistant\"", "\"content\":", "error", "retry", "timeout", "ms", "ok", "search", "read_file",
    ]
    // Mixed sizes: weights drawn from a skewed distribution, scaled so the total is exact.
    var weights = (0..<count).map { _ in pow(Double.random(in: 0.01...1, using: &rng), 3) + 0.002 }
    let sum = weights.reduce(0, +)
    weights = weights.map { $0 / sum }
    var sizes = weights.map { Int($0 * Double(totalBytes)) }
    sizes[0] += totalBytes - sizes.reduce(0, +)

    var files: [String: Data] = [:]
    for (i, size) in sizes.enumerated() {
        let folder = ["traces", "evals", "harness/prompts", "harness/tools", "cycles/0001/raw"][i % 5]
        let isRandom = i % 10 == 3
        let path = "\(folder)/file-\(String(format: "%04d", i))" + (isRandom ? ".bin" : ".txt")
        var bytes = [UInt8]()
        bytes.reserveCapacity(size)
        if isRandom {
            while bytes.count < size {
                withUnsafeBytes(of: rng.next()) { bytes.append(contentsOf: $0.prefix(size - bytes.count)) }
            }
        } else {
            var lineWords = 0
            while bytes.count < size {
                let r = rng.next()
                bytes.append(contentsOf: words[Int(r % UInt64(words.count))].utf8)
                if r >> 60 == 0 { bytes.append(contentsOf: String(r >> 20 & 0xFFFFF).utf8) }
                lineWords += 1
                bytes.append(lineWords % 12 == 0 ? 10 : 32)
            }
            bytes.removeLast(bytes.count - size)
        }
        files[path] = Data(bytes)
    }
    return files
}

// MARK: - Timing helpers

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

@discardableResult
func sh(_ command: String, cwd: URL) -> (Int32, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", command]
    p.currentDirectoryURL = cwd
    var env = ProcessInfo.processInfo.environment
    env["GIT_AUTHOR_NAME"] = "Bench"
    env["GIT_AUTHOR_EMAIL"] = "bench@localhost"
    env["GIT_COMMITTER_NAME"] = "Bench"
    env["GIT_COMMITTER_EMAIL"] = "bench@localhost"
    env["GIT_AUTHOR_DATE"] = "1700000000 +0000"
    env["GIT_COMMITTER_DATE"] = "1700000000 +0000"
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env["HOME"] = cwd.path
    p.environment = env
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    do { try p.run() } catch { return (-1, "\(error)") }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

/// CPU seconds (user, system) used so far by this process (all its threads), or by its waited-for children.
func cpuSeconds(children: Bool = false) -> (user: Double, system: Double) {
    var usage = rusage()
    getrusage(children ? RUSAGE_CHILDREN.rawValue : RUSAGE_SELF.rawValue, &usage)
    func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return (s(usage.ru_utime), s(usage.ru_stime))
}

/// Wall time and CPU time (user, system) of `body`.
struct Timing {
    var wall = 0.0, user = 0.0, system = 0.0
    var cpu: Double { user + system }
}

func measure(children: Bool, _ body: () throws -> Void) rethrows -> Timing {
    let c0 = cpuSeconds(children: children)
    let wall = try seconds(body)
    let c1 = cpuSeconds(children: children)
    return Timing(wall: wall, user: c1.user - c0.user, system: c1.system - c0.system)
}

func peakMemoryMB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024  // Linux: kilobytes
}

// MARK: - Run

let fm = FileManager.default
let files = makeFiles(count: fileCount, totalBytes: megabytes * 1_000_000)
let total = files.values.reduce(0) { $0 + $1.count }
print("bench-git: \(files.count) files, \(String(format: "%.1f", Double(total) / 1e6)) MB, \(runs) run(s),"
    + " \(ProcessInfo.processInfo.activeProcessorCount) cores")

var store: [Timing] = []
var cli: [Timing] = []
var storeTree = "", cliTree = ""
var storeSize = "", cliSize = ""
let author = Signature(name: "Bench", email: "bench@localhost", time: 1_700_000_000)
// Every run's folders are removed at the end, not between runs: ext4 skips recently freed inodes when it allocates
// new ones, so deleting thousands of files right before a timed run would slow down whichever side runs next.
var roots: [URL] = []
@MainActor func cleanUp() { for root in roots { try? fm.removeItem(at: root) } }

func format(_ t: Timing) -> String {
    String(format: "%.3f s (cpu %.3f = user %.3f + sys %.3f)", t.wall, t.cpu, t.user, t.system)
}

for run in 1...runs {
    let root = fm.temporaryDirectory.appendingPathComponent("bench-git-\(getpid())-\(run)", isDirectory: true)
    try? fm.removeItem(at: root)
    try fm.createDirectory(at: root, withIntermediateDirectories: true)
    roots.append(root)

    // The CLI's work tree and an empty repository for each side, written before any timing starts.
    let bare = root.appendingPathComponent("store.git")
    let repo = try Repository.create(at: bare)
    let work = root.appendingPathComponent("work")
    if !gitStoreOnly {
        for (path, data) in files {
            let url = work.appendingPathComponent(path)
            try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: url)
        }
        sh("git init -q -b main .", cwd: work)
    }
    sh("sync", cwd: root)

    func runGitStore() throws {
        var commit: ObjectID?
        store.append(try measure(children: false) {
            commit = try repo.commit(onto: "refs/heads/main", message: "cycle 1\n", author: author) { _ in
                TreeChanges(writes: files)
            }
        })
        storeTree = try repo.treeOfCommit(commit!).hex
        storeSize = sh("du -sk store.git | cut -f1", cwd: root).1.trimmingCharacters(in: .whitespacesAndNewlines)
    }
    func runCLI() {
        var status: Int32 = 0
        cli.append(measure(children: true) { status = sh("git add -A && git commit -q -m 'cycle 1'", cwd: work).0 })
        guard status == 0 else { print("git CLI failed"); cleanUp(); exit(1) }
        cliTree = sh("git rev-parse HEAD^{tree}", cwd: work).1.trimmingCharacters(in: .whitespacesAndNewlines)
        cliSize = sh("du -sk .git/objects | cut -f1", cwd: work).1.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    if gitStoreOnly {
        try runGitStore()
        print("  run \(run): GitStore \(format(store.last!))")
        continue
    }
    // Alternate which side goes first, so neither always meets a busier page cache or disk.
    if run % 2 == 1 {
        try runGitStore()
        runCLI()
    } else {
        runCLI()
        try runGitStore()
    }
    print("  run \(run): GitStore \(format(store.last!))")
    print("         git CLI  \(format(cli.last!))")
    print(String(format: "         ratio    wall %.2f, cpu %.2f", store.last!.wall / cli.last!.wall, store.last!.cpu / cli.last!.cpu))
}

cleanUp()
if gitStoreOnly { exit(0) }
let s = median(store.map(\.wall)), c = median(cli.map(\.wall))
let sc = median(store.map(\.cpu)), cc = median(cli.map(\.cpu))
print(String(format: "GitStore commit:        %.3f s wall, %.3f s cpu (median)", s, sc))
print(String(format: "git add -A && commit:   %.3f s wall, %.3f s cpu (median)", c, cc))
print(String(format: "ratio GitStore/CLI:     wall %.2f, cpu %.2f (target <= 0.50)", s / c, sc / cc))
print(String(format: "best run:               GitStore %.3f s, git CLI %.3f s wall (ratio %.2f)",
             store.map(\.wall).min()!, cli.map(\.wall).min()!, store.map(\.wall).min()! / cli.map(\.wall).min()!))
print(String(format: "cores busy (cpu/wall):  GitStore %.2f, git CLI %.2f (median)",
             median(store.map { $0.cpu / $0.wall }), median(cli.map { $0.cpu / $0.wall })))
print("load average at end:    \((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?")")
print("object store size:      GitStore \(storeSize) KB, git CLI \(cliSize) KB")
print("same root tree:         \(storeTree == cliTree ? "yes" : "NO") (\(storeTree.prefix(12)))")
print(String(format: "peak memory (maxrss):   %.1f MB", peakMemoryMB()))
if storeTree != cliTree { exit(1) }
