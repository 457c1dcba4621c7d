// bench-redact: redaction stays linear on hostile sizes.
//
//   swift build -c release --product bench-redact && .build/release/bench-redact [--mb N]
//
// 1. `traces import` with redaction of one HALO span whose attribute is a single N MB line (default 200) holding
//    secrets at its start, middle and end: seconds and s/MB (the issue measured ~0.8 s/MB before windowed redaction).
// 2. Byte-level redaction of the same N MB as one invalid-UTF-8 blob (an output artifact).
// 3. A suite regex that backtracks catastrophically, `(x+x+)+y` on 40 characters, under the time limit.
import Flywheel
import FlywheelSupport
import FlywheelTraces
import Foundation

var mb = 200
var args = CommandLine.arguments.dropFirst()
while let a = args.first {
    args = args.dropFirst()
    if a == "--mb" { mb = Int(args.first ?? "") ?? mb; args = args.dropFirst() }
}

/// CPU seconds (user + system) of this process: the figure that holds on a shared, loaded machine.
func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
}

/// CPU seconds `body` took (wall-clock time is printed beside it).
func seconds(_ body: () throws -> Void) rethrows -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    let c0 = cpuSeconds()
    try body()
    let cpu = cpuSeconds() - c0
    print(String(format: "  (%.2f s CPU, %.2f s wall)", cpu, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9))
    return cpu
}

let key = "sk-proj-" + String(repeating: "Bn7x", count: 8)
let chunk = "lorem ipsum dolor sit amet, consectetur adipiscing elit; "
var text = key + " "
let target = mb * 1024 * 1024
text.reserveCapacity(target + 1024)
while text.utf8.count < target / 2 { text += chunk }
text += " Bearer " + String(repeating: "tk9Z", count: 8) + " "
while text.utf8.count < target { text += chunk }
text += " ghp_" + String(repeating: "Qw3e", count: 9)

let span: JSONValue = [
    "trace_id": "0123456789abcdef0123456789abcdef", "span_id": "0123456789abcdef", "parent_span_id": "", "trace_state": "",
    "name": "agent", "kind": "SPAN_KIND_INTERNAL", "start_time": "2026-01-01T00:00:00.000000000Z",
    "end_time": "2026-01-01T00:00:01.000000000Z", "status": ["code": "STATUS_CODE_OK", "message": ""],
    "resource": ["attributes": ["service.name": "bench"]], "scope": ["name": "bench", "version": "1"],
    "attributes": ["inference.export.schema_version": 1, "inference.project_id": "bench", "inference.observation_kind": "AGENT",
                   "output.value": .string(text)],
]
let line = Data((span.canonicalText + "\n").utf8)
let redactor = try Redactor()

var imported: TraceImportResult?
let t1 = try seconds { imported = try TraceImporter.importData(line, name: "big.jsonl", format: .halo, redactor: redactor) }
let counts = imported?.redaction.counts ?? [:]
print(String(format: "import + redact, one %d MB line: %.2f CPU s (%.4f s/MB); redacted %@", mb, t1, t1 / Double(mb), counts.description))

var blob = Data(text.utf8)
blob.append(0xFF)
var report = RedactionReport()
var out = Data()
let t2 = seconds { out = redactor.redact(bytes: blob, report: &report) }
print(String(format: "redact %d MB of bytes that are not UTF-8: %.2f CPU s (%.4f s/MB); redacted %d; key gone: %@", mb, t2, t2 / Double(mb),
             report.total, out.range(of: Data(key.utf8)) == nil ? "yes" : "NO"))

let re = try JSRegex("(x+x+)+y")
var verdict: Bool??
let t3 = seconds { verdict = .some(re.testWithinLimit(String(repeating: "x", count: 40))) }
print(String(format: "(x+x+)+y on 40 characters: stopped after %.2f CPU s (%@)", t3, verdict! == nil ? "time limit" : "finished"))
