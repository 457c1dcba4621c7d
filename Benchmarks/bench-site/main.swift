// bench-site: the site's growth with the history (issue #17). Generates a synthetic history of the largest size
// straight through GitStore, one commit and tag per closed cycle (cached on disk between runs), then for each size N
// (default 50, 200, 500 cycles × 100 traces × 20 spans) runs, each in a fresh child process so its peak memory is
// its own: a full build of the site as of cycle N, then the incremental build after one more cycle (N + 1) over
// that output. Then a 5,000-span trace page: its size with the data it loads up front, its span chunks, and its
// first contentful paint in headless Chromium when available. Release build: `swift build -c release --product bench-site`.
//
//   bench-site [--sizes 50,200,500] [--traces 100] [--spans 20] [--cache DIR] [--keep DIR]
import Flywheel
import FlywheelSupport
import Foundation
import GitStore

#if canImport(Glibc)
import Glibc
#endif

func argument(_ name: String, _ fallback: Int) -> Int {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: name), i + 1 < args.count, let v = Int(args[i + 1]) { return v }
    return fallback
}
func stringArgument(_ name: String) -> String? {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: name), i + 1 < args.count { return args[i + 1] }
    return nil
}
let sizes = (stringArgument("--sizes") ?? "50,200,500").split(separator: ",").compactMap { Int($0) }.sorted()
let tracesPerCycle = argument("--traces", 100), spansPerTrace = argument("--spans", 20)
let keep: URL? = stringArgument("--keep").map { URL(fileURLWithPath: $0) }
let work = keep ?? FileManager.default.temporaryDirectory.appendingPathComponent("bench-site-\(getpid())")
func peakRSSMB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024  // kilobytes on Linux
}

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// CPU seconds (user + system) of the last `time` call: the machine is shared, so wall time alone overstates.
nonisolated(unsafe) var lastCPU = 0.0

func time<T>(_ body: () throws -> T) rethrows -> (T, Double) {
    let t0 = DispatchTime.now().uptimeNanoseconds
    let c0 = cpuSeconds()
    let r = try body()
    lastCPU = cpuSeconds() - c0
    return (r, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
}

let epoch = 1_780_000_000.0
let stamp: DateFormatter = {
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX")
    f.timeZone = TimeZone(identifier: "UTC")
    f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
    return f
}()
func ts(_ seconds: Double) -> String {
    let whole = floor(seconds)
    return stamp.string(from: Date(timeIntervalSince1970: whole)) + String(format: ".%09dZ", Int((seconds - whole) * 1e9))
}

/// The spans of one trace as JSONL (root last, as HALO writes them).
func traceLines(cycle: Int, trace: Int, spans: Int) -> (id: String, text: String) {
    let tid = String(format: "%016x%016x", cycle, trace)
    let base = epoch + Double(cycle) * 86_400 + Double(trace) * 30
    let root = String(format: "%08x%08x", cycle, trace * 10_000)
    var out = ""
    for s in 1..<max(2, spans) {
        let sid = String(format: "%08x%08x", cycle, trace * 10_000 + s)
        let isLLM = s % 3 == 1
        let failing = s % 17 == 0
        var attrs: [String: JSONValue] = [
            "inference.observation_kind": .string(isLLM ? "LLM" : "TOOL"), "inference.project_id": "bench",
            "openinference.span.kind": .string(isLLM ? "LLM" : "TOOL"),
        ]
        if isLLM {
            attrs["llm.model_name"] = "offline-example"
            attrs["inference.llm.model_name"] = "offline-example"
            attrs["inference.llm.input_tokens"] = .int(Int64(300 + s))
            attrs["inference.llm.output_tokens"] = 40
            attrs["llm.input_messages"] = .string(#"[{"content":"You are a diligence analyst. Cite every figure.","role":"system"},{"content":"What is the ARR?","role":"user"}]"#)
            attrs["llm.output_messages"] = .string(#"[{"content":"The ARR is $46.9M as of 2026-09.","role":"assistant"}]"#)
        } else {
            attrs["tool.name"] = "read_file"
            attrs["input.value"] = .string("{\"path\":\"financials/file_\(s).csv\"}")
            attrs["output.value"] = .string(failing ? "An error occurred while running the tool. Please try again. Error: no such file" : "month,arr_usd\n2026-08,46350000")
        }
        let span: JSONValue = .object([
            "trace_id": .string(tid), "span_id": .string(sid), "parent_span_id": .string(root), "trace_state": "",
            "name": .string(isLLM ? "generation.offline-example" : "function.read_file"),
            "kind": .string(isLLM ? "SPAN_KIND_CLIENT" : "SPAN_KIND_INTERNAL"),
            "start_time": .string(ts(base + Double(s) * 0.1)), "end_time": .string(ts(base + Double(s) * 0.1 + 0.08)),
            "status": .object(["code": .string(failing ? "STATUS_CODE_ERROR" : "STATUS_CODE_OK"), "message": .string(failing ? "Error running tool (non-fatal)" : "")]),
            "resource": .object(["attributes": .object(["service.name": "bench"])]),
            "scope": .object(["name": "flywheel", "version": "0.1.0"]), "attributes": .object(attrs),
        ])
        out += span.canonicalText + "\n"
    }
    let rootSpan: JSONValue = .object([
        "trace_id": .string(tid), "span_id": .string(root), "parent_span_id": "", "trace_state": "", "name": "agent.DiligenceAnalyst",
        "kind": "SPAN_KIND_INTERNAL", "start_time": .string(ts(base)), "end_time": .string(ts(base + Double(spans) * 0.1)),
        "status": .object(["code": "STATUS_CODE_OK", "message": ""]), "resource": .object(["attributes": .object(["service.name": "bench"])]),
        "scope": .object(["name": "flywheel", "version": "0.1.0"]),
        "attributes": .object(["inference.observation_kind": "AGENT", "openinference.span.kind": "AGENT", "inference.project_id": "bench"]),
    ])
    out += rootSpan.canonicalText + "\n"
    return (tid, out)
}

/// One complete, closed cycle written straight through GitStore: the cycle folder (traces + outputs, feedback,
/// results, diagnosis, handoff, cycle.json) and the harness in one commit, tagged `cycle-NNNN` as `closeCycle` tags
/// it. The stages' own commits are not replayed (the site reads the tree at each cycle's tag), and blobs that repeat
/// from cycle to cycle (answers) are written once and reused by id, so 500 cycles generate in minutes, not hours.
nonisolated(unsafe) var answerBlobs: [Int: ObjectID] = [:]
func addCycle(_ repo: Repository, _ n: Int, traces: Int, spans: Int) throws {
    let harness = "# Harness\n\nRule \(n): cite the ARR date.\n" + (1...n).map { "- rule \($0)\n" }.joined()
    var changes = TreeChanges()
    changes.remove(Layout.harness)
    changes.write(Layout.harness + "/instructions.md", Data(harness.utf8))
    let harnessTree = try repo.writeTree(files: ["instructions.md": Data(harness.utf8)]).hex
    func file(_ name: String, _ data: Data) { changes.write(Layout.cycleFile(n, name), data) }
    // The traces' text, on all cores (the bulk of a cycle's bytes).
    final class Texts: @unchecked Sendable { var items: [(id: String, text: String)]; init(_ n: Int) { items = Array(repeating: ("", ""), count: n) } }
    let texts = Texts(traces)
    DispatchQueue.concurrentPerform(iterations: traces) { t in texts.items[t] = traceLines(cycle: n, trace: t, spans: spans) }
    let ids = texts.items.map(\.id)
    file("traces.jsonl", Data(texts.items.map(\.text).joined().utf8))
    for t in 0..<traces {
        let answer: ObjectID
        if let id = answerBlobs[t] { answer = id } else {
            answer = try repo.writeBlob(Data("# Answer \(t)\n\nThe ARR is $46.9M.\n".utf8))
            answerBlobs[t] = answer
        }
        changes.write(Layout.cycleFile(n, "outputs/\(ids[t])/summary_answer.md"), blob: answer)
        file("outputs/\(ids[t])/task.json", Data("{\"question\":\"Question \(t)\",\"question_id\":\"q\(t)\",\"trace_id\":\"\(ids[t])\"}\n".utf8))
    }
    let feedback = ids.prefix(20).enumerated().map { i, id in
        "{\"author\":\"bench\",\"category\":\"citation\",\"created_at\":\"2026-05-28T00:00:00Z\",\"evidence\":\"\",\"feedback_id\":\"fb-\(n)-\(i)\",\"observation\":\"Missing date\",\"prohibited_claims\":[],\"required_observations\":[],\"severity\":\"high\",\"source\":\"human\",\"trace_id\":\"\(id)\"}"
    }.joined(separator: "\n") + "\n"
    file("feedback.jsonl", Data(feedback.utf8))
    var rows: [JSONValue] = []
    var passed = 0
    for c in 0..<min(100, 20 + n * 2) {
        let pass = (c * 7 + n * 3) % 5 != 0
        if pass { passed += 1 }
        rows.append(.object([
            "testIdx": .int(Int64(c)), "success": .bool(pass), "score": .double(pass ? 1 : 0), "failureReason": .int(pass ? 0 : 1),
            "description": .string("case \(c)"),
            "testCase": .object(["metadata": .object(["id": .string("case-\(c)"), "cycle": .int(Int64(max(1, c / 2 - 9))), "category": .string(c % 2 == 0 ? "citation" : "tools")]),
                                 "vars": .object(["trace_id": .string(ids[c % ids.count])])]),
            "namedScores": .object(["citations": .double(pass ? 1 : 0)]),
            "gradingResult": .object(["pass": .bool(pass), "reason": .string(pass ? "ok" : "missing date")]),
        ]))
    }
    let results: JSONValue = .object(["results": .object(["version": 3, "results": .array(rows)])])
    file("results.json", Data(results.canonicalText.utf8))
    let diag = "{\"cycle\":\(n),\"failure_modes\":[{\"count\":3,\"evidence\":[{\"note\":\"x\",\"span_id\":\"\",\"trace_id\":\"\(ids[0])\"}],\"id\":\"fm-a\",\"kind\":\"missing requirement\",\"title\":\"Missing date\"}],\"generated_by\":\"deterministic\",\"outcomes\":[],\"recommendations\":[{\"change\":\"Add a rule\",\"id\":\"rec-a\",\"rank\":1,\"title\":\"Cite dates\"}]}\n"
    file("diagnosis.json", Data(diag.utf8))
    file("handoff.md", Data("# Handoff \(n)\n\n- cite the ARR date (cycle \(n))\n".utf8))
    var c = Cycle(number: n, status: .closed, startedAt: ISO8601.string(Date(timeIntervalSince1970: epoch + Double(n) * 86_400)),
                  closedAt: ISO8601.string(Date(timeIntervalSince1970: epoch + Double(n) * 86_400 + 3600)), harnessTree: harnessTree,
                  models: ["agent": "offline-example"])
    c.scores.passRate = Double(passed) / Double(rows.count)
    c.scores.meanScore = c.scores.passRate
    c.scores.passed = passed
    c.scores.failed = rows.count - passed
    c.scores.total = rows.count
    c.scores.gatePassed = (c.scores.passRate ?? 0) > 0.7
    c.scores.tokens = traces * spans * 120
    c.scores.costUSD = Double(traces) * 0.001
    c.scores.latencyMs = 2000 + Double(n)
    c.scores.metrics = ["citations": c.scores.passRate ?? 0]
    c.scores.failuresByCategory = ["citation": (rows.count - passed) / 2, "tools": (rows.count - passed + 1) / 2]
    file(Layout.CycleFile.cycle, c.encoded())
    let author = Signature(name: "bench", email: "bench@example.invalid", time: Int64(epoch) + Int64(n) * 86_400 + 3600)
    let message = Repository.message("cycle \(n): close", trailers: [Trailer("Flywheel-Cycle", String(n)), Trailer("Flywheel-Stage", "close")])
    guard let commit = try repo.commit(onto: "refs/heads/main", message: message, author: author, change: { _ in changes }) else {
        throw NSError(domain: "bench-site", code: 2, userInfo: [NSLocalizedDescriptionKey: "cycle \(n): no commit"])
    }
    _ = try repo.createTag(Layout.cycleTag(n), target: commit, message: "Flywheel cycle \(n)\n", tagger: author)
}

setenv("SOURCE_DATE_EPOCH", "1780000000", 1)

/// One measured build in this (child) process: `--row full|inc N --history DIR --out DIR`.
if let kind = stringArgument("--row"), let history = stringArgument("--history"), let outPath = stringArgument("--out") {
    let n = argument("--" + kind, 0)
    let h = LoopHistory(repository: URL(fileURLWithPath: history))
    let out = URL(fileURLWithPath: outPath)
    let (r, seconds) = try time { try SiteBuilder.build(history: h, options: SiteOptions(outputDirectory: out, atCycle: n)) }
    print(String(format: "ROW %@ %d %.3f %.3f %.0f %d %d", kind, n, seconds, lastCPU, peakRSSMB(), r.pagesWritten, r.pagesSkipped))
    exit(0)
}

try? FileManager.default.removeItem(at: work)
try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
defer { if keep == nil { try? FileManager.default.removeItem(at: work) } }
print(String(format: "load average at start: %@", (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"))

// The history: cycles 1 … max(sizes) + 1, generated once per shape and kept (a build "at cycle N" reads cycle N's tag).
let largest = (sizes.last ?? 50) + 1
let cacheRoot = stringArgument("--cache").map { URL(fileURLWithPath: $0) }
    ?? FileManager.default.temporaryDirectory.appendingPathComponent("flywheel-bench-site-cache")
let cached = cacheRoot.appendingPathComponent("v2-t\(tracesPerCycle)-s\(spansPerTrace)", isDirectory: true)
try FileManager.default.createDirectory(at: cached, withIntermediateDirectories: true)
let historyURL = cached.appendingPathComponent("history.git")
let history = LoopHistory(repository: historyURL)
if !history.exists {
    try? FileManager.default.removeItem(at: historyURL)
    try history.initialize(files: ["loop.yaml": Data("project: bench\n".utf8), "harness/instructions.md": Data("# Harness\n".utf8)])
}
// Each cycle is one commit, so an interrupted generation leaves only whole cycles: it continues from the last.
let have = try history.cycles().count
if have < largest {
    let ((), genSeconds) = try time {
        try history.withRepository { repo in
            for n in (have + 1)...largest { try addCycle(repo, n, traces: tracesPerCycle, spans: spansPerTrace) }
        }
        try history.gc()
    }
    print(String(format: "generated cycles %d–%d × %d traces × %d spans in %.1f s, %.1f s CPU (kept in %@)", have + 1, largest,
                 tracesPerCycle, spansPerTrace, genSeconds, lastCPU, cached.path))
} else {
    print("history: \(have) cycles × \(tracesPerCycle) traces × \(spansPerTrace) spans, from the cache \(cached.path)")
}

/// Runs one measured build in a child process (its own peak memory) and parses its ROW line.
func row(_ kind: String, _ n: Int, out: URL) throws -> (seconds: Double, cpu: Double, rssMB: Double, written: Int, skipped: Int) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    p.arguments = ["--row", kind, "--\(kind)", String(n), "--history", historyURL.path, "--out", out.path]
    let pipe = Pipe()
    p.standardOutput = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    guard p.terminationStatus == 0, let line = text.split(separator: "\n").first(where: { $0.hasPrefix("ROW ") }) else {
        throw NSError(domain: "bench-site", code: 1, userInfo: [NSLocalizedDescriptionKey: "row \(kind) \(n) failed: \(text)"])
    }
    let f = line.split(separator: " ").map(String.init)
    return (Double(f[3]) ?? 0, Double(f[4]) ?? 0, Double(f[5]) ?? 0, Int(f[6]) ?? 0, Int(f[7]) ?? 0)
}

func loadAverage() -> String {
    ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(1).joined()
}
print("growth: site build by history length (each row a fresh process; incremental = the next cycle over that output;")
print("load = the 1-minute load average before each build: on a shared machine wall time overstates, CPU is comparable)")
print("  cycles | full build: wall    CPU      peak RSS  pages   load  | incremental +1: wall   CPU     peak RSS  written  skipped  load")
var figures: [Int: (full: Double, fullRSS: Double, inc: Double)] = [:]
for n in sizes {
    let out = work.appendingPathComponent("site-\(n)")
    let fullLoad = loadAverage()
    let full = try row("full", n, out: out)
    let incLoad = loadAverage()
    let inc = try row("inc", n + 1, out: out)
    figures[n] = (full.seconds, full.rssMB, inc.seconds)
    print(String(format: "  %6d | %9.2f s %7.2f s %7.0f MB %7d %@  | %12.3f s %6.3f s %7.0f MB %7d  %7d  %@", n, full.seconds, full.cpu, full.rssMB,
                 full.written, String(repeating: " ", count: max(0, 6 - fullLoad.count)) + fullLoad, inc.seconds, inc.cpu, inc.rssMB, inc.written, inc.skipped, incLoad))
    if keep == nil, n != sizes.last { try? FileManager.default.removeItem(at: out) }
}
if let n = sizes.last, let f = figures[n] {
    print(String(format: "full build of %d cycles × %d traces: %.1f s, peak RSS %.0f MB [targets at 500 cycles: ≤ 90 s, ≤ 1 GB]",
                 n, tracesPerCycle, f.full, f.fullRSS))
}
print("incremental build after one more cycle: " + sizes.map { String(format: "%.3f s at %d", figures[$0]?.inc ?? 0, $0) }.joined(separator: ", ")
      + " [target ≤ 0.5 s at 50 and at 500, independent of history length]")

// A 5,000-span trace page and its first paint.
let big = LoopHistory(repository: work.appendingPathComponent("big.git"))
try big.initialize(files: ["loop.yaml": Data("project: big trace\n".utf8)])
_ = try big.startCycle(harness: nil, now: Date(timeIntervalSince1970: epoch))
let (bigID, bigText) = traceLines(cycle: 1, trace: 1, spans: 5000)
try big.commitToOpenCycle(.traces, files: ["traces.jsonl": Data(bigText.utf8)])
let bigOut = work.appendingPathComponent("big-site")
let (_, bigSeconds) = try time { try SiteBuilder.build(history: big, options: SiteOptions(outputDirectory: bigOut)) }
let page = bigOut.appendingPathComponent("traces/0001/\(bigID).html")
func size(_ url: URL) -> Int { (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0 }
let pageSize = size(page)
// What the page loads up front: itself and its scripts (the site's shared assets); span chunks come on demand.
let assets = ["site.js", "style.css"].reduce(0) { $0 + size(bigOut.appendingPathComponent("assets/\($1)")) }
let chunkFiles = ((try? FileManager.default.contentsOfDirectory(atPath: page.deletingLastPathComponent().path)) ?? [])
    .filter { $0.hasPrefix(bigID + ".") && $0.hasSuffix(".data.js") }
let chunkSizes = chunkFiles.map { size(page.deletingLastPathComponent().appendingPathComponent($0)) }
print(String(format: "5,000-span trace: site built in %.2f s; page %d KB + assets %d KB loaded up front = %.2f MB [target ≤ 3 MB]; span details in %d chunk files of %d–%d KB (%.1f MB in all), each loaded only when one of its spans is shown",
             bigSeconds, pageSize / 1024, assets / 1024, Double(pageSize + assets) / 1_048_576, chunkFiles.count,
             (chunkSizes.min() ?? 0) / 1024, (chunkSizes.max() ?? 0) / 1024, Double(chunkSizes.reduce(0, +)) / 1_048_576))
func which(_ name: String) -> String? {
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
        let p = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    return nil
}
if let chromium = which("chromium") ?? which("chromium-browser") ?? which("google-chrome") {
    // A copy of the page with a probe that writes the paint timings into the DOM.
    let probe = """
        <script>window.addEventListener("load",function(){setTimeout(function(){var d=document.createElement("pre");d.id="paint";
        d.textContent=JSON.stringify(performance.getEntriesByType("paint").map(function(e){return [e.name,e.startTime]}).concat([["domContentLoaded",performance.timing.domContentLoadedEventEnd-performance.timing.navigationStart],["load",performance.timing.loadEventEnd-performance.timing.navigationStart]]));
        document.body.appendChild(d);},300);});</script></body>
        """
    let html = try String(contentsOf: page, encoding: .utf8).replacingOccurrences(of: "</body>", with: probe)
    let probed = page.deletingLastPathComponent().appendingPathComponent("paint-probe.html")
    try Data(html.utf8).write(to: probed)
    var firstPaints: [Double] = []
    for run in 0..<3 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: chromium)
        let profile = work.appendingPathComponent("chromium-\(run)")
        p.arguments = ["--headless=new", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(profile.path)", "--virtual-time-budget=5000", "--dump-dom", probed.absoluteString]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let dom = String(decoding: data, as: UTF8.self)
        if let r = dom.range(of: "<pre id=\"paint\">"), let e = dom[r.upperBound...].range(of: "</pre>") {
            let json = String(dom[r.upperBound..<e.lowerBound]).replacingOccurrences(of: "&quot;", with: "\"")
            if run == 0 { print("  paint timings (ms): \(json)") }
            if let v = try? JSONValue.parse(json), let arr = v.arrayValue {
                for entry in arr where entry.arrayValue?.first?.stringValue == "first-contentful-paint" {
                    if let t = entry.arrayValue?.last?.doubleValue { firstPaints.append(t) }
                }
            }
        }
    }
    if firstPaints.isEmpty {
        print("5,000-span trace first paint: no paint entry reported by headless Chromium")
    } else {
        let sorted = firstPaints.sorted()
        print(String(format: "5,000-span trace first contentful paint: median %.0f ms over %d runs [target ≤ 150 ms]", sorted[sorted.count / 2], sorted.count))
    }
} else {
    print("5,000-span trace first paint: chromium not installed, not measured")
}
