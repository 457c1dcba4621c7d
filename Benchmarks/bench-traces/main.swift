// bench-traces: validate + index a ~105 MB HALO trace file with Flywheel and with HALO's own indexer, in one run.
//
//   swift build -c release --product bench-traces && .build/release/bench-traces [--repeats N] [--file PATH]
//
// Generates the file with `gen_spans.py` defaults (deterministic) under .build/bench-traces/ unless --file is
// given, makes HALO's venv with Tests/scripts/halo-venv.sh, and prints both times, the ratio and Flywheel's peak
// memory (getrusage). Targets: Flywheel ≥ 10× faster than HALO's build_index; peak memory < 2× the file size.
// It also times `flywheel diagnose --traces FILE` (load every span + deterministic diagnosis) against
// `flywheel traces overview` (validate + index + overview) on the same file. Target: diagnose ≤ 2× overview.
//
// Import (`flywheel traces import`, the path users take: scan, validate, redact, write the blob through libgit2)
// runs as a child `flywheel` process (the one built next to this benchmark) into a fresh history; wall time and the
// child's peak RSS (wait4's rusage) are printed. Targets: ≥ 150 MB/s on the 105 MB file with peak memory ≤ 1.5× the
// file; a 2 GB file with peak memory ≤ 600 MB. A growth table follows: import of 10 MB / 100 MB / 1 GB and
// `flywheel diagnose --traces` of 1k / 10k / 100k spans (time and peak memory of the child process).
// `--large` (or FLYWHEEL_BENCH_LARGE=1) adds the 1 GB row and the 2 GB import: generating those files takes
// minutes and 3 GB of disk under .build/bench-traces/. `--only-import` skips the other parts.
import Flywheel
import FlywheelSupport
import FlywheelTraces
import Foundation

let packageRoot: URL = {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
    }
    return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
}()
let sharedTools = URL(
    fileURLWithPath: ProcessInfo.processInfo.environment["FLYWHEEL_SHARED_TOOLS"]
        ?? packageRoot.deletingLastPathComponent().appendingPathComponent("shared/tools").path)

var repeats = 5
var fileArg: String?
var withHALO = true
var withDiagnose = true
var large = ProcessInfo.processInfo.environment["FLYWHEEL_BENCH_LARGE"] == "1"
var onlyImport = false
var withImport = true
var importStepsFile: String?
var args = CommandLine.arguments.dropFirst()
while let a = args.first {
    args = args.dropFirst()
    switch a {
    case "--repeats": repeats = Int(args.first ?? "") ?? repeats; args = args.dropFirst()
    case "--file": fileArg = args.first; args = args.dropFirst()
    case "--no-halo": withHALO = false
    case "--no-diagnose": withDiagnose = false
    case "--large": large = true
    case "--only-import": onlyImport = true
    case "--no-import": withImport = false
    case "--import-steps": importStepsFile = args.first; args = args.dropFirst()
    case "--raw-scan":
        // Diagnostic: one thread, memchr + JSONScanner.skipValue per line (the floor of validation cost).
        let data = try Data(contentsOf: URL(fileURLWithPath: fileArg ?? ""), options: .alwaysMapped)
        for _ in 0..<3 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            var lines = 0, bad = 0
            data.withUnsafeBytes { (buf: UnsafeRawBufferPointer) in
                var start = 0
                while start < buf.count {
                    var end = buf.count
                    if let nl = memchr(buf.baseAddress! + start, 0x0A, buf.count - start) {
                        end = UnsafeRawPointer(nl) - buf.baseAddress!
                    }
                    var sc = JSONScanner(UnsafeRawBufferPointer(rebasing: buf[start..<end]))
                    do { try sc.skipValue() } catch { bad += 1 }
                    lines += 1
                    start = end + 1
                }
            }
            print(String(format: "raw scan: %d lines (%d bad) in %.3fs", lines, bad, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9))
        }
        exit(0)
    case "--overview-json":
        // Prints Flywheel's overview of --file (for comparing with halo_index_check.py --json) and exits.
        let store = try TraceStore(files: [URL(fileURLWithPath: fileArg ?? "")])
        print(try store.overview().haloJSON.orderedText())
        exit(0)
    default:
        print("usage: bench-traces [--repeats N] [--file PATH] [--no-halo] [--no-diagnose] [--no-import] [--only-import] [--large]")
        exit(2)
    }
}

@discardableResult
func run(_ exe: String, _ arguments: [String], capture: Bool = true) -> (Int32, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exe)
    p.arguments = arguments
    let pipe = Pipe()
    if capture {
        p.standardOutput = pipe
        p.standardError = FileHandle.standardError
    }
    do { try p.run() } catch { return (127, "\(error)") }
    let data = capture ? pipe.fileHandleForReading.readDataToEndOfFile() : Data()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// This process's peak memory: its address space's high-water mark (`VmHWM`). `ru_maxrss` would also count the
/// memory of the process that spawned it (see ``runChild``).
func peakRSSBytes() -> Int {
    let own = vmHWM(getpid())
    if own > 0 { return own }
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Int(u.ru_maxrss) * 1024  // kilobytes on Linux
}

func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
}

struct StepError: Error { var message: String }

func mb(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }

// 1. The input file.
let file: URL
if let fileArg {
    file = URL(fileURLWithPath: fileArg)
} else {
    let dir = packageRoot.appendingPathComponent(".build/bench-traces")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    file = dir.appendingPathComponent("gen_spans_default.jsonl")
    if !FileManager.default.fileExists(atPath: file.path) {
        print("generating \(file.path) with gen_spans.py defaults …")
        let (rc, _) = run("/usr/bin/env", ["python3", sharedTools.appendingPathComponent("gen_spans.py").path, file.path])
        guard rc == 0 else { print("gen_spans.py failed (\(rc))"); exit(1) }
    }
}
let size = (try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int) ?? 0
print("file: \(file.path)  \(size) bytes (\(mb(size)))")

// 1b. Import: `flywheel traces import` in a child process, its wall time and peak RSS.
/// Runs `exe args` in `cwd` with stdout and stderr to a file; returns exit status, wall seconds, peak RSS (bytes)
/// of the child (wait4's rusage), and what it printed.
func runChild(_ exe: String, _ arguments: [String], in cwd: URL) -> (status: Int32, seconds: Double, peakRSS: Int, output: String, cpu: Double) {
    let log = cwd.appendingPathComponent("child-\(getpid()).log")
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, log.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let argv = ([exe] + arguments).map { strdup($0) } + [nil]
    defer { for a in argv { free(a) } }
    var pid: pid_t = 0
    // The child starts in `cwd` (the benchmark is single-threaded here, so changing ours for the spawn is safe).
    let here = FileManager.default.currentDirectoryPath
    _ = FileManager.default.changeCurrentDirectoryPath(cwd.path)
    let t0 = DispatchTime.now().uptimeNanoseconds
    let spawned = posix_spawn(&pid, exe, &actions, nil, argv, environ)
    _ = FileManager.default.changeCurrentDirectoryPath(here)
    guard spawned == 0 else { return (127, 0, 0, "cannot start \(exe)", 0) }
    var status: Int32 = 0
    var usage = rusage()
    // The child's own peak: its address space's high-water mark (VmHWM), read every 2 ms until it exits. wait4's
    // ru_maxrss would also count this benchmark's memory: posix_spawn shares our address space until the child's
    // exec, and Linux keeps that space's high-water mark in the child's figure.
    var peak = 0
    while true {
        let r = wait4(pid, &status, WNOHANG, &usage)
        if r == pid || (r < 0 && errno != EINTR) { break }
        if r == 0 {
            peak = max(peak, vmHWM(pid))
            usleep(2000)
        }
    }
    let secs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    let out = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
    try? FileManager.default.removeItem(at: log)
    let exited = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    return (exited, secs, peak, out, cpu)
}

/// `VmHWM` of /proc/PID/status in bytes (0 when it cannot be read, e.g. the process has just exited).
func vmHWM(_ pid: pid_t) -> Int {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
    else { return 0 }
    return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
}

let flywheelExe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    .appendingPathComponent("flywheel").path
let benchDir = packageRoot.appendingPathComponent(".build/bench-traces")

/// A trace file made by gen_spans.py with `flags` (cached under .build/bench-traces/).
func generated(_ name: String, _ flags: [String]) -> URL? {
    let url = benchDir.appendingPathComponent(name)
    if FileManager.default.fileExists(atPath: url.path) { return url }
    print("generating \(url.lastPathComponent) (gen_spans.py \(flags.joined(separator: " "))) …")
    let tmp = benchDir.appendingPathComponent(name + ".part")
    let (rc, _) = run("/usr/bin/env", ["python3", sharedTools.appendingPathComponent("gen_spans.py").path, tmp.path] + flags)
    guard rc == 0, (try? FileManager.default.moveItem(at: tmp, to: url)) != nil else { print("gen_spans.py failed (\(rc))"); return nil }
    return url
}

func fileSize(_ url: URL) -> Int { (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0 }

/// Imports `traces` into a fresh history with the child `flywheel`; nil when a step failed (printed).
func timeImport(_ traces: URL) -> (seconds: Double, peakRSS: Int, cpu: Double)? {
    let dir = benchDir.appendingPathComponent("import-\(getpid())")
    try? FileManager.default.removeItem(at: dir)
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    try? "Answer briefly.\n".write(to: dir.appendingPathComponent("AGENTS.md"), atomically: true, encoding: .utf8)
    let start = runChild(flywheelExe, ["cycle", "start", "--repo", "loop-history", "--harness", "AGENTS.md"], in: dir)
    guard start.status == 0 else { print("  cycle start failed: \(start.output)"); return nil }
    let r = runChild(flywheelExe, ["traces", "import", "--repo", "loop-history", traces.path], in: dir)
    guard r.status == 0 else { print("  traces import failed (\(r.status)): \(r.output.prefix(2000))"); return nil }
    return (r.seconds, r.peakRSS, r.cpu)
}

/// `--import-steps FILE`: imports FILE into a fresh history in this process and prints each step's wall time and
/// the process's CPU time (run by the import benchmark as a child).
func importSteps(_ file: URL) {
    do {
        let dir = benchDir.appendingPathComponent("import-steps-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "Answer briefly.\n".write(to: dir.appendingPathComponent("AGENTS.md"), atomically: true, encoding: .utf8)
        let start = runChild(flywheelExe, ["cycle", "start", "--repo", "loop-history", "--harness", "AGENTS.md"], in: dir)
        guard start.status == 0 else { throw StepError(message: "cycle start failed: \(start.output)") }
        let cpu0 = cpuSeconds()
        let t0 = DispatchTime.now().uptimeNanoseconds
        let outcome = try TraceStage.importFiles(
            [file], redactor: try TraceStage.redactor(config: nil), into: LoopHistory(repository: dir.appendingPathComponent("loop-history")))
        let wall = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        let t = outcome.timings
        print(String(format: "steps (in-process, %.3fs, cpu %.3fs): scan %.3fs, plan lengths %.3fs, normalize + redact %@ %.3fs, libgit2 hash + deflate from the spool %.3fs (%@ spooled to disk), commit %.3fs%@; peak RSS %@; %@",
                     wall, cpuSeconds() - cpu0, t.scan, t.plan, t.store == 0 ? "overlapped with libgit2 hash + deflate" : "into the spool", t.normalize,
                     t.store, mb(t.spooledBytes), t.commit, t.fallback ? " (a predicted length was wrong: spooled path)" : "", mb(peakRSSBytes()), loadAverage()))
    } catch {
        print("in-process import failed: \(error)")
    }
}
if let importStepsFile {
    importSteps(URL(fileURLWithPath: importStepsFile))
    exit(0)
}

func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count) }

func loadAverage() -> String {
    var load = [Double](repeating: 0, count: 3)
    _ = getloadavg(&load, 3)
    return String(format: "load average %.1f %.1f %.1f on %d cores", load[0], load[1], load[2], ProcessInfo.processInfo.activeProcessorCount)
}

var growthRows: [String] = []
if withImport {
    guard FileManager.default.isExecutableFile(atPath: flywheelExe) else {
        print("no flywheel binary next to bench-traces (\(flywheelExe)): build it with swift build -c release")
        exit(1)
    }
    print("import: \(flywheelExe) traces import (\(loadAverage()))")
    var importTimes: [(Double, Int, Double)] = []
    for i in 0..<max(1, min(repeats, 3)) {
        guard let r = timeImport(file) else { exit(1) }
        importTimes.append(r)
        print(String(format: "  import run %d: %.3fs (%.0f MB/s), cpu %.3fs, peak RSS %@ = %.2f× the file; %@", i + 1, r.0, Double(size) / 1e6 / r.0, r.2, mb(r.1), Double(r.1) / Double(size), loadAverage()))
    }
    let med = importTimes.sorted { $0.0 < $1.0 }[importTimes.count / 2]
    let peakMax = importTimes.map(\.1).max() ?? 0
    print(String(format: "IMPORT %@ (median of %d): %.3fs -> %.0f MB/s (target ≥ 150 MB/s), cpu %.3fs (%.0f MB per cpu-second); peak RSS %@ = %.2f× the file (target ≤ 1.5×); %@",
                 mb(size), importTimes.count, med.0, Double(size) / 1e6 / med.0, med.2, Double(size) / 1e6 / max(med.2, 1e-9), mb(peakMax), Double(peakMax) / Double(size), loadAverage()))
    // Where the import's wall time goes, step by step (in a child: this process's peak RSS stays out of it).
    let benchExe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
    let steps = runChild(benchExe, ["--import-steps", file.path], in: benchDir)
    print(steps.output.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
    if large, let big = generated("gen_spans_2gb.jsonl", ["--target-mb", "2000"]) {
        let bigSize = fileSize(big)
        if let r = timeImport(big) {
            print(String(format: "IMPORT 2 GB file (%@): %.1fs -> %.0f MB/s, cpu %.1fs; peak RSS %@ (target ≤ 600 MB); %@",
                         mb(bigSize), r.0, Double(bigSize) / 1e6 / r.0, r.2, mb(r.1), loadAverage()))
        }
    }
    // Growth: import of 10 MB / 100 MB / 1 GB.
    var importFiles: [(String, URL?)] = [("10 MB", generated("gen_spans_10mb.jsonl", ["--target-mb", "10"])), ("100 MB", file)]
    if large { importFiles.append(("1 GB", generated("gen_spans_1gb.jsonl", ["--target-mb", "1000"]))) }
    for (label, url) in importFiles {
        guard let url, let r = timeImport(url) else { continue }
        let n = fileSize(url)
        growthRows.append(pad("  import     \(label)", 24) + pad(mb(n), 12) + String(format: "%8.2fs  %6.0f MB/s  cpu %6.2fs  peak ", r.0, Double(n) / 1e6 / r.0, r.2) + pad(mb(r.1), 10) + String(format: "  (%.2f× input)", Double(r.1) / Double(n)))
    }
    if !large { growthRows.append(pad("  import     1 GB", 24) + "(run with --large or FLYWHEEL_BENCH_LARGE=1)") }
    // Growth: diagnose of 1k / 10k / 100k spans (gen_spans writes about 19 spans per trace).
    for (label, tracesCount) in [("1k", 53), ("10k", 527), ("100k", 5270)] {
        guard let url = generated("gen_spans_\(tracesCount)traces.jsonl", ["--traces", String(tracesCount)]) else { continue }
        let r = runChild(flywheelExe, ["diagnose", "--traces", url.path, "--json"], in: benchDir)
        guard r.status == 0 else { print("  diagnose failed (\(r.status)): \(r.output.prefix(500))"); continue }
        let n = fileSize(url)
        growthRows.append(pad("  diagnose   \(label) spans", 24) + pad(mb(n), 12) + String(format: "%8.2fs  %6.0f MB/s  cpu %6.2fs  peak ", r.seconds, Double(n) / 1e6 / r.seconds, r.cpu) + pad(mb(r.peakRSS), 10))
    }
    print("GROWTH (child process: wall time, peak RSS; \(loadAverage())):")
    print("  site rows: see bench-site")
    for row in growthRows { print(row) }
}
if onlyImport { exit(0) }

let rssBefore = peakRSSBytes()

// 2. Flywheel: validate every line and build the index in one pass (memory-mapped file, all cores).
var times: [Double] = []
var cpuTimes: [Double] = []
var summary = ""
for i in 0..<repeats {
    let t0 = DispatchTime.now().uptimeNanoseconds
    let c0 = cpuSeconds()
    let store = try TraceStore(files: [file])
    let t1 = DispatchTime.now().uptimeNanoseconds
    let ov = try store.overview()
    let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    let cpu = cpuSeconds() - c0
    cpuTimes.append(cpu)
    print(String(format: "    (scan %.3fs, overview %.3fs, cpu %.3fs on %d cores)", Double(t1 - t0) / 1e9, Double(DispatchTime.now().uptimeNanoseconds - t1) / 1e9, cpu, ProcessInfo.processInfo.activeProcessorCount))
    times.append(dt)
    if i == 0 {
        summary = "traces=\(ov.totalTraces) spans=\(ov.totalSpans) error_traces=\(ov.errorTraceCount) tool_errors=\(ov.toolErrorSpanCount) tokens=\(ov.totalInputTokens)/\(ov.totalOutputTokens) problems=\(store.validation.issues.count) (errors \(store.validation.errors.count))"
    }
    print(String(format: "  flywheel run %d: %.3fs (%.0f MB/s)", i + 1, dt, Double(size) / 1e6 / dt))
}
let flywheel = times.sorted()[times.count / 2]
let flywheelCPU = cpuTimes.sorted()[cpuTimes.count / 2]
let peak = peakRSSBytes()
print("flywheel: \(summary)")
print(String(format: "FLYWHEEL validate+index (median of %d): %.3fs  ->  %.0f MB/s, cpu %.3fs; %@", times.count, flywheel, Double(size) / 1e6 / flywheel, flywheelCPU, loadAverage()))
print("flywheel peak RSS: \(mb(peak)) (before indexing: \(mb(rssBefore))) = \(String(format: "%.2f", Double(peak) / Double(max(size, 1))))× file size (target < 2×)")

// 2b. `diagnose --traces FILE` against `traces overview` on the same file.
if withDiagnose {
    var diagnoseTimes: [Double] = []
    var diagnoseCPU: [Double] = []
    var modes = 0, top = ""
    for i in 0..<max(1, min(repeats, 3)) {
        // What `flywheel diagnose --traces FILE` does: validate + index, read the spans, run the detectors.
        let t0 = DispatchTime.now().uptimeNanoseconds
        let c0 = cpuSeconds()
        let d = try Diagnoser.diagnose(traces: file)
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        diagnoseTimes.append(dt)
        diagnoseCPU.append(cpuSeconds() - c0)
        modes = d.failureModes.count
        top = d.failureModes.prefix(3).map { "\($0.id) (\($0.traceIDs.count) traces)" }.joined(separator: ", ")
        print(String(format: "  diagnose run %d: %.3fs, cpu %.3fs; %@", i + 1, dt, diagnoseCPU.last ?? 0, loadAverage()))
    }
    let diagnose = diagnoseTimes.sorted()[diagnoseTimes.count / 2]
    print("diagnose: \(modes) failure modes; top: \(top)")
    // Where diagnose's time goes: its scan (the overview's, keeping the places of what diagnosis reads) and the rest.
    var scanCPU: [Double] = []
    for _ in 0..<max(1, min(repeats, 3)) {
        let c0 = cpuSeconds()
        _ = try TraceStore(files: [file], options: Diagnoser.traceScanOptions)
        scanCPU.append(cpuSeconds() - c0)
    }
    print(String(format: "  diagnose's scan (keeping places, store freed): cpu %.3fs (median); %@", scanCPU.sorted()[scanCPU.count / 2], loadAverage()))
    let diagnoseCPUMedian = diagnoseCPU.sorted()[diagnoseCPU.count / 2]
    // In this process diagnose also frees every span and the store it read (a library caller's cost), the overview
    // above frees nothing inside its timing, and neither gets the command's process setup: a profile, not the
    // target's measure, which is the COMMANDS line below (the two commands as a user runs them).
    print(String(format: "IN-PROCESS (median, diagnose's time includes freeing its spans; not the target's measure): overview %.3fs, cpu %.3fs   diagnose %.3fs, cpu %.3fs   ratio %.2f× wall, %.2f× cpu; %@",
                 flywheel, flywheelCPU, diagnose, diagnoseCPUMedian, diagnose / flywheel, diagnoseCPUMedian / flywheelCPU, loadAverage()))
    // The same comparison as a user sees it: the two commands as processes (start-up, first touch of the mapped
    // file, output and freeing included), run alternately so both meet the same load.
    var overviewRuns: [(Double, Double)] = [], diagnoseRuns: [(Double, Double)] = []
    for _ in 0..<max(3, repeats) {
        let o = runChild(flywheelExe, ["traces", "overview", "--file", file.path], in: benchDir)
        let d = runChild(flywheelExe, ["diagnose", "--traces", file.path, "--json"], in: benchDir)
        guard o.status == 0, d.status == 0 else {
            print("  commands failed: overview \(o.status), diagnose \(d.status): \(o.output.prefix(300)) \(d.output.prefix(300))")
            break
        }
        overviewRuns.append((o.seconds, o.cpu))
        diagnoseRuns.append((d.seconds, d.cpu))
    }
    if !overviewRuns.isEmpty {
        func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
        let (ow, oc) = (median(overviewRuns.map(\.0)), median(overviewRuns.map(\.1)))
        let (dw, dc) = (median(diagnoseRuns.map(\.0)), median(diagnoseRuns.map(\.1)))
        print(String(format: "COMMANDS (median of %d, alternately): traces overview %.3fs, cpu %.3fs   diagnose --json %.3fs, cpu %.3fs   RATIO diagnose/overview = %.2f× wall, %.2f× cpu  (target ≤ 2×); %@",
                     overviewRuns.count, ow, oc, dw, dc, dw / ow, dc / oc, loadAverage()))
    }
}

// 3. HALO's own indexer on the same file, in its venv.
if !withHALO { exit(0) }
let (vrc, venvOut) = run("/bin/sh", [packageRoot.appendingPathComponent("Tests/scripts/halo-venv.sh").path])
guard vrc == 0 else {
    print("HALO venv unavailable (no PyPI?): HALO timing skipped")
    exit(0)
}
let python = venvOut.trimmingCharacters(in: .whitespacesAndNewlines) + "/bin/python"
let indexDir = packageRoot.appendingPathComponent(".build/bench-traces/halo-index")
print("running HALO's bench_halo_index.py (build_index with its process pool) …")
let (hrc, haloOut) = run(python, [
    sharedTools.appendingPathComponent("bench_halo_index.py").path, file.path, "--repeats", "3", "--index-dir", indexDir.path,
])
print(haloOut.split(separator: "\n").map { "  halo| " + $0 }.joined(separator: "\n"))
guard hrc == 0, let line = haloOut.split(separator: "\n").first(where: { $0.hasPrefix("FULL build_index") }),
    let colon = line.range(of: "): "), let secs = Double(line[colon.upperBound...].prefix { $0 != "s" })
else {
    print("could not read HALO's timing")
    exit(1)
}
// HALO's validation pass (halo_index_check.py: SpanRecord per line + build + overview), timed end to end.
let t0 = DispatchTime.now().uptimeNanoseconds
let (crc, _) = run(python, [sharedTools.appendingPathComponent("halo_index_check.py").path, file.path, "--json", "--no-spec"])
let checkSecs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
print(String(format: "HALO build_index (median of 3): %.3fs  ->  %.0f MB/s", secs, Double(size) / 1e6 / secs))
print(String(format: "HALO halo_index_check.py (validate each line + index + overview, one process): %.3fs (exit %d)", checkSecs, crc))
// CPU cost per byte: HALO's single-process parse+accumulate (its per-core speed) against Flywheel's CPU time.
if let single = haloOut.split(separator: "\n").first(where: { $0.hasPrefix("single-process parse+accumulate") }),
    let c = single.range(of: "): "), let singleSecs = Double(single[c.upperBound...].prefix { $0 != "s" })
{
    print(String(format: "CPU: HALO single-process parse+accumulate %.3fs vs Flywheel %.3fs of CPU (all threads) = %.1f×", singleSecs, flywheelCPU, singleSecs / flywheelCPU))
}
var load = [Double](repeating: 0, count: 3)
_ = getloadavg(&load, 3)
print(String(format: "machine: %d cores, load average %.1f (timings are wall clock; a loaded machine squeezes both sides)", ProcessInfo.processInfo.activeProcessorCount, load[0]))
print(String(format: "RATIO (wall) HALO build_index / Flywheel = %.1f×  (target ≥ 10×)", secs / flywheel))
print(String(format: "RATIO (wall) HALO validate+index / Flywheel = %.1f×", checkSecs / flywheel))
