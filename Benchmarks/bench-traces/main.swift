// bench-traces: validate + index a ~105 MB HALO trace file with Flywheel and with HALO's own indexer, in one run.
//
//   swift build -c release --product bench-traces && .build/release/bench-traces [--repeats N] [--file PATH]
//
// Generates the file with `gen_spans.py` defaults (deterministic) under .build/bench-traces/ unless --file is
// given, makes HALO's venv with Tests/scripts/halo-venv.sh, and prints both times, the ratio and Flywheel's peak
// memory (getrusage). Targets: Flywheel ≥ 10× faster than HALO's build_index; peak memory < 2× the file size.
// It also times `flywheel diagnose --traces FILE` (load every span + deterministic diagnosis) against
// `flywheel traces overview` (validate + index + overview) on the same file. Target: diagnose ≤ 2× overview.
import Flywheel
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
var args = CommandLine.arguments.dropFirst()
while let a = args.first {
    args = args.dropFirst()
    switch a {
    case "--repeats": repeats = Int(args.first ?? "") ?? repeats; args = args.dropFirst()
    case "--file": fileArg = args.first; args = args.dropFirst()
    case "--no-halo": withHALO = false
    case "--no-diagnose": withDiagnose = false
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
        print(try store.overview().haloJSON.text())
        exit(0)
    default: print("usage: bench-traces [--repeats N] [--file PATH] [--no-halo] [--no-diagnose]"); exit(2)
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

func peakRSSBytes() -> Int {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Int(u.ru_maxrss) * 1024  // kilobytes on Linux
}

func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
}

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
print(String(format: "FLYWHEEL validate+index (median of %d): %.3fs  ->  %.0f MB/s", times.count, flywheel, Double(size) / 1e6 / flywheel))
print("flywheel peak RSS: \(mb(peak)) (before indexing: \(mb(rssBefore))) = \(String(format: "%.2f", Double(peak) / Double(max(size, 1))))× file size (target < 2×)")

// 2b. `diagnose --traces FILE` against `traces overview` on the same file.
if withDiagnose {
    var diagnoseTimes: [Double] = []
    var modes = 0, top = ""
    for i in 0..<max(1, min(repeats, 3)) {
        // What `flywheel diagnose --traces FILE` does: validate + index, read the spans, run the detectors.
        let t0 = DispatchTime.now().uptimeNanoseconds
        let d = try Diagnoser.diagnose(traces: file)
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        diagnoseTimes.append(dt)
        modes = d.failureModes.count
        top = d.failureModes.prefix(3).map { "\($0.id) (\($0.traceIDs.count) traces)" }.joined(separator: ", ")
        print(String(format: "  diagnose run %d: %.3fs", i + 1, dt))
    }
    let diagnose = diagnoseTimes.sorted()[diagnoseTimes.count / 2]
    print("diagnose: \(modes) failure modes; top: \(top)")
    print(String(format: "TRACES OVERVIEW (median): %.3fs   DIAGNOSE (median): %.3fs   RATIO diagnose/overview = %.2f×  (target ≤ 2×)", flywheel, diagnose, diagnose / flywheel))
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
