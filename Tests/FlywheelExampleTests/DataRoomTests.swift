import Foundation
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelExample
@testable import FlywheelSupport

/// Reads a generated CSV into rows of header → value (quoted fields supported).
func csvRows(_ text: String) -> [[String: String]] {
    let records = try! CSVRecords.read(text)
    let header = records[0].fields
    return records.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(header, $0.fields)) }
}

/// The scaffold written once into a scratch folder, shared by the tests of this file.
let scaffoldFolder: URL = {
    let dir = TestPaths.scratch("example")
    try! ExampleScaffold.write(to: dir)
    return dir
}()

func scaffoldText(_ path: String) throws -> String {
    try String(contentsOf: scaffoldFolder.appendingPathComponent(path), encoding: .utf8)
}

@Suite("Example data room")
struct DataRoomTests {
    @Test func septemberARRIs46point9M() throws {
        let rows = csvRows(try scaffoldText("dataroom/financials/arr_by_month.csv"))
        #expect(rows.count == 24)
        #expect(rows.first?["month"] == "2024-10")
        #expect(rows.last?["month"] == "2026-09")
        #expect(Int(rows.last!["arr_usd"]!) == 46_900_000)
        // The bridge is consistent: each month's ARR = previous + new + expansion − contraction − churn.
        var previous: Int?
        for r in rows {
            let arr = Int(r["arr_usd"]!)!
            let delta = Int(r["new"]!)! + Int(r["expansion"]!)! - Int(r["contraction"]!)! - Int(r["churn"]!)!
            if let previous { #expect(arr == previous + delta, "month \(r["month"]!)") }
            #expect(Int(r["new"]!)! > 0 && Int(r["expansion"]!)! > 0)
            previous = arr
        }
    }

    @Test func concentrationByParentIs31PercentByEntity12() throws {
        let rows = csvRows(try scaffoldText("dataroom/customers/customers.csv"))
        let total = rows.reduce(0) { $0 + Int($1["arr_usd"]!)! }
        #expect(total == 46_900_000)
        let largest = rows.map { Int($0["arr_usd"]!)! }.max()!
        #expect(largest * 100 == total * 12)  // exactly 12 %
        #expect(rows.filter { Int($0["arr_usd"]!)! == largest }.count == 1)
        var byParent: [String: Int] = [:]
        for r in rows { byParent[r["parent_account"]!, default: 0] += Int(r["arr_usd"]!)! }
        let top = byParent.max { $0.value < $1.value }!
        #expect(top.key == "Helix Group")
        #expect(top.value * 100 == total * 31)  // exactly 31 %
        #expect(rows.filter { $0["parent_account"] == "Helix Group" }.count == 5)
        #expect(Set(rows.map { $0["legal_entity"]! }).count == rows.count)
        #expect(Set(rows.map { $0["customer_id"]! }).count == rows.count)
    }

    @Test func trailingNRRIs112Percent() throws {
        let rows = csvRows(try scaffoldText("dataroom/customers/cohort_retention.csv"))
        let start = rows.reduce(0) { $0 + Int($1["starting_arr"]!)! }
        let after = rows.reduce(0) { $0 + Int($1["arr_after_12m"]!)! }
        #expect(after * 100 == start * 112)
        // And the ARR bridge agrees: Sep 2025 ARR is the cohorts' starting ARR.
        let arr = csvRows(try scaffoldText("dataroom/financials/arr_by_month.csv"))
        #expect(arr.first { $0["month"] == "2025-09" }?["arr_usd"] == String(start))
    }

    @Test func weightedPipelineCoverageIs2point1() throws {
        let rows = csvRows(try scaffoldText("dataroom/sales/pipeline.csv"))
        let q4 = rows.filter { $0["close_quarter"] == "2026-Q4" }
        // Weighted in cents to stay exact: amount × probability (two decimals).
        let weightedCents = q4.reduce(0) { sum, r in
            let p = Int((Double(r["probability"]!)! * 100).rounded())
            return sum + Int(r["amount"]!)! * p
        }
        let unweighted = q4.reduce(0) { $0 + Int($1["amount"]!)! }
        let notes = try scaffoldText("dataroom/sales/pipeline_notes.md")
        #expect(notes.contains("Q4 2026 new-ARR target (board plan): $3.0M."))
        let target = 3_000_000
        #expect(weightedCents == target * 210)  // 2.1×
        #expect(unweighted == target * 4)  // the "4×" of the narrative is unweighted
    }

    @Test func narrativesCarryThePlantedConflicts() throws {
        let expectations: [(String, [String])] = [
            ("overview.md", ["ARR of $50M+"]),
            ("product_strategy.md", ["we estimate NRR of ~130 %"]),
            ("go_to_market.md", ["4× pipeline coverage"]),
            ("board_deck.md", ["ARR $52.0M", "SOC 2 complete", "no customer above 15 %"]),
            ("legal/contracts_summary.md", ["change-of-control", "Helix"]),
            ("legal/open_issues.md", ["IP dispute", "Data-processing complaint"]),
            ("security/security_overview.md", ["SOC 2 Type I report issued 2026-03", "Type II observation window ends 2026-12"]),
            ("sales/security_faq.md", ["Lumora is fully SOC 2 compliant"]),
            ("hr/org_chart.md", ["Headcount: 212", "| CFO | Priya Raman | 2026-05 |"]),
            ("financials/revenue_recognition_notes.md", ["$3.1M of committed launch ARR", "not recognised ARR"]),
            ("sales/pipeline_notes.md", ["target"]),
        ]
        for (path, needles) in expectations {
            let text = try scaffoldText("dataroom/" + path)
            for n in needles { #expect(text.contains(n), "\(path) lacks \(n)") }
        }
        let qa = try scaffoldText("dataroom/notes/qa_log.md")
        #expect(qa.components(separatedBy: "| unanswered |").count - 1 == 2)
    }

    @Test func manifestHashesMatchFiles() throws {
        let manifest = try JSONValue.parse(try scaffoldText("dataroom/manifest.json"))
        let files = try #require(manifest["files"]?.arrayValue)
        #expect(files.count == 16)
        var listed: Set<String> = []
        for f in files {
            let path = try #require(f["path"]?.stringValue)
            listed.insert(path)
            let data = try Data(contentsOf: scaffoldFolder.appendingPathComponent("dataroom/" + path))
            #expect(f["sha256"]?.stringValue == SHA256.hex(data), "\(path)")
            #expect(f["bytes"]?.intValue == Int64(data.count))
            let kind = f["kind"]?.stringValue
            #expect(kind == (path.hasSuffix(".csv") ? "structured" : "narrative"), "\(path)")
        }
        let onDisk = AgentToolbox(dataRoom: scaffoldFolder.appendingPathComponent("dataroom"), outputDirectory: scaffoldFolder, artifacts: [])
            .dataRoomFiles().filter { $0 != "manifest.json" }
        #expect(Set(onDisk) == listed)
    }

    @Test func scaffoldHasHarnessTasksAndFeedback() throws {
        let harness = try Harness.load(from: scaffoldFolder.appendingPathComponent("harness"))
        #expect(harness.modelName == "offline-example")
        #expect(harness.maxTurns == 12)
        #expect(harness.temperature == 0.2)
        #expect(harness.enabledTools.map(\.rawValue) == ["list_files", "read_file", "search_files", "write_artifact"])
        #expect(harness.tools.count == 6)
        #expect(harness.artifacts.map(\.path) == [
            "summary_answer.md", "investment_memo.md", "risk_register.json", "open_questions.md", "citations.json",
            "evidence_table.csv",
        ])
        #expect(ExampleRules.addressed(in: harness.instructions).isEmpty)

        let questions = try scaffoldText("tasks/questions.yaml")
        #expect(questions.contains("default_count: 5"))
        #expect(ExampleScaffold.questions.count >= 5 + 12)
        #expect(Set(ExampleScaffold.questions.map(\.id)).count == ExampleScaffold.questions.count)
        for q in ExampleScaffold.questions { #expect(questions.contains(q.question)) }

        let lines = try scaffoldText(ExampleScaffold.feedbackPath).split(separator: "\n")
        #expect(lines.count == 3)
        var questionsKeyed: [Int64] = []
        for line in lines {
            let r = try JSONValue.parse(String(line))
            for key in ["feedback_id", "source", "author", "category", "severity", "observation", "created_at"] {
                #expect(r[key]?.stringValue?.isEmpty == false, "\(key)")
            }
            #expect(r["source"] == "human")
            #expect(r["trace_id"] == .null)
            #expect(r["evidence"]?.arrayValue?.isEmpty == false)
            #expect(r["required_observations"]?.arrayValue?.isEmpty == false)
            #expect(r["prohibited_claims"]?.arrayValue?.isEmpty == false)
            questionsKeyed.append(r["question"]?.intValue ?? 0)
        }
        #expect(questionsKeyed == [3, 2, 4])
    }

    @Test func scaffoldIsTheShippedResources() throws {
        let shipped = TestPaths.packageRoot.appendingPathComponent("Sources/FlywheelExample/Resources/example")
        let files = try ExampleScaffold.resourceFiles()
        #expect(files.keys.contains("rules.yaml") && files.keys.contains("loop.yaml"))
        for (path, data) in files {
            #expect(try Data(contentsOf: scaffoldFolder.appendingPathComponent(path)) == data, "\(path)")
            #expect(try Data(contentsOf: shipped.appendingPathComponent(path)) == data, "\(path)")
        }
    }

    @Test func theExampleRulesFileValidates() throws {
        let rules = try ProjectRules.load(scaffoldFolder.appendingPathComponent("rules.yaml"), name: "rules.yaml")
        #expect(rules.answerFile == "summary_answer.md")
        #expect(rules.requiredArtifacts.count == 6)
        #expect(rules.critic.count == 5)
        #expect(rules.topics.map(\.id).contains("soc2-precision"))
        #expect(rules.sources?.folder == "dataroom")
    }
}
