import Foundation
import Testing
import TestSupport

/// `flywheel report`: the pull-request / CI summary of a cycle against another (golden on the demo's history).
@Suite("Report: a cycle against another", .serialized)
struct ReportTests {
    static let golden = TestPaths.packageRoot.appendingPathComponent("Tests/FlywheelCLITests/Golden/report-demo.md")

    @Test("the demo's cycle 3 against cycle 2, as Markdown (golden) and JSON")
    func demoReport() throws {
        let parent = TestPaths.scratch("report")
        let demo = parent.appendingPathComponent("demo")
        // Fixed span times (the example's agent steps its clock from SOURCE_DATE_EPOCH): the report is byte-stable.
        let d = try flywheel(
            ["demo", "--dir", demo.path, "--out", demo.appendingPathComponent("site").path], in: parent,
            env: ["SOURCE_DATE_EPOCH": "1760000000"], timeout: 300)
        try #require(d.status == 0, "\(d.stderr)")
        let md = try flywheel(["report", "--base-url", "https://acme.github.io/loop"], in: demo)
        try #require(md.status == 0, "\(md.stderr)")
        if ProcessInfo.processInfo.environment["RECORD_GOLDENS"] == "1" {
            try md.stdout.write(to: Self.golden, atomically: true, encoding: .utf8)
            Issue.record("recorded new baseline \(Self.golden.lastPathComponent)")
        } else {
            let expected = try String(contentsOf: Self.golden, encoding: .utf8)
            #expect(md.stdout == expected, "report differs from \(Self.golden.lastPathComponent) (RECORD_GOLDENS=1 to re-record)\n\(md.stdout)")
        }
        let json = try LoopTest.object(try flywheel(["report", "--format", "json", "--cycle", "3", "--against", "1"], in: demo).stdout)
        #expect(json["cycle"] as? Int == 3 && json["against"] as? Int == 1)
        let fixed = try #require(json["fixed"] as? [[String: Any]])
        #expect(!fixed.isEmpty && fixed.allSatisfy { $0["to"] as? String == "pass" })
        // The flips match the two cycles' results.json as git holds them.
        let r1 = try #require(try LoopTest.show(demo, "cycle-0001", "cycles/0001/results.json"))
        for f in fixed { #expect(r1.contains(f["eval_id"] as? String ?? "?")) }
        #expect((json["links"] as? [String: String])?["cycle"] == "cycles/0003.html")
        let bad = try flywheel(["report", "--cycle", "9"], in: demo)
        #expect(bad.status == 1 && bad.stderr.contains("no cycle 9"))
    }
}
