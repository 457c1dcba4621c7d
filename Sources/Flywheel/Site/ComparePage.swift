import FlywheelSupport
import Foundation

/// Any two cycles compared (`compare.html`): the reader picks A and B in the page. Each cycle's facts live in its
/// own data file (`compare/NNNN.js`: scores, graded rows, answers, failure modes, harness file texts) so a new cycle
/// writes only its own file and the page, and the page loads only the two files it compares (script elements, so
/// from file:// as well); the comparison itself runs in the browser.
enum ComparePage {
    /// Texts above this size are cut in the data files.
    static let textCap = 100_000

    struct Option: Sendable { var number, label: String; var selectedA, selectedB: Bool }
    struct View: Sendable { var hasPair: Bool; var options: [Option] }

    static func job(index: HistoryIndex) -> PageJob {
        let numbers = index.cycles.map(\.number)
        let project = index.project
        return PageJob(unitID: "", key: "") { r in
            let a = numbers.count >= 2 ? numbers[numbers.count - 2] : numbers.first
            let b = numbers.last
            let options = numbers.map { Option(number: String($0), label: "Cycle \($0)", selectedA: $0 == a, selectedB: $0 == b) }
            let view = View(hasPair: numbers.count >= 2, options: options)
            let diffs = DiffPage.pairs(numbers).map { JSONValue.string("\($0.0)-\($0.1)") }
            let meta: JSONValue = .object(["cycles": .array(numbers.map { .int(Int64($0)) }), "diffs": .array(diffs)])
            // The cycles' data files are loaded on demand by views.js (only the two being compared).
            let scripts = ["compare-index.js", "assets/views.js"]
            let page = r.page(kind: "compare", path: "compare.html", title: "Compare cycles", project: project, view: view, scripts: scripts)
            let js = "window.FLYWHEEL_COMPARE_INDEX = " + HTML.jsonForScript(meta) + ";\n"
            return [("compare.html", page), ("compare-index.js", Data(js.utf8))]
        }
    }

    /// A run's answer and artifacts as one text (the answer first, each further file under a `── name ──` line), so
    /// "answers that changed" covers the artifacts too; nil for a run that wrote nothing.
    static func answerText(_ files: [String: Data]) -> String? {
        let names = TaskPage.orderedFiles(files.filter { $0.key != RunFiles.task })
        guard !names.isEmpty else { return nil }
        var out = ""
        for (i, name) in names.enumerated() {
            if i > 0 || name != RunFiles.finalAnswer { out += (out.isEmpty ? "" : "\n") + "── \(name) ──\n" }
            out += String(decoding: files[name]!.prefix(textCap), as: UTF8.self)
        }
        return out
    }

    static func text(_ d: Data) -> JSONValue { .string(String(decoding: d.prefix(textCap), as: UTF8.self)) }

    static func shardJob(reader: SiteReader, number n: Int) throws -> PageJob {
        guard let e = reader.index.entry(n) else { throw HistoryError.noSuchCycle(n) }
        let c = e.cycle, s = c.scores
        let map = try reader.taskMap(n)
        var rows: [String: JSONValue] = [:]
        for r in try reader.results(n) ?? [] {
            // A case graded twice in one cycle keeps its worst status (as the matrix does).
            if let old = rows[r.caseID]?["s"]?.stringValue, old != "pass", r.status == .pass { continue }
            rows[r.caseID] = .object([
                "s": .string(r.status.rawValue), "t": .string(r.traceID.flatMap { map[$0] } ?? ""),
                "r": .string(String(r.reason.prefix(300))),
            ])
        }
        var answers: [String: JSONValue] = [:]
        let outputs = try reader.runOutputs(n)
        for (trace, task) in map.sorted(by: { $0.key < $1.key }) where answers[task] == nil {
            if let t = answerText(outputs[trace] ?? [:]) { answers[task] = .string(t) }
        }
        // Task id → its page's file name (a hashed name for ids that are not file-name safe).
        var taskFiles: [String: JSONValue] = [:]
        for task in Set(map.values) { taskFiles[task] = .string(HTML.fileName(task)) }
        var modes: [String: JSONValue] = [:]
        for m in try reader.diagnosis(n)?.failureModes ?? [] { modes[m.id] = .string(m.title) }
        var harness: [String: JSONValue] = [:]
        for (path, d) in try reader.harnessFiles(e.harnessTree) { harness[path] = text(d) }
        func num(_ v: Double?) -> JSONValue { v.map { .double($0) } ?? .null }
        func int(_ v: Int?) -> JSONValue { v.map { .int(Int64($0)) } ?? .null }
        var taskSet: JSONValue = .null
        if let t = c.experiment?.taskSet {
            taskSet = .object(["file": .string(t.file), "count": .int(Int64(t.count)), "changed": t.changed.map { .bool($0) } ?? .null])
        }
        let value: JSONValue = .object([
            "n": .int(Int64(n)), "status": .string(c.status.rawValue),
            "scores": .object([
                "pass_rate": num(s.passRate), "mean_score": num(s.meanScore), "passed": int(s.passed), "failed": int(s.failed),
                "errors": int(s.errors), "suite_size": int(s.suiteSize), "not_run": int(s.notRun),
                "gate_passed": s.gatePassed.map { .bool($0) } ?? .null,
            ]),
            "task_set": taskSet, "rows": .object(rows), "answers": .object(answers), "task_files": .object(taskFiles), "modes": .object(modes),
            "harness_tree": .string(e.harnessTree ?? ""), "harness": .object(harness),
        ])
        // JSON.parse of a string literal: ids such as "__proto__" stay plain keys (an object literal would not).
        var js = Array("(window.FLYWHEEL_COMPARE = window.FLYWHEEL_COMPARE || {})[\(n)] = JSON.parse(".utf8)
        JSLiteral.append(value.canonicalText, to: &js)
        js.append(contentsOf: Array(");\n".utf8))
        let data = Data(js)
        return PageJob(unitID: "", key: "") { _ in [(SitePaths.compareShard(n), data)] }
    }
}
