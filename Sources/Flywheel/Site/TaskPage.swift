import Foundation

/// One page per task across every cycle (`tasks/<task id>.html`, with its answers in `tasks/<id>.data.js` for the
/// in-page diff) and the task index (`tasks.html`). A run's task is `task_id` (or `question_id`) of its `task.json`.
enum TaskPage {
    /// Answer texts above this size are cut in the data file (the diff works on the cut text).
    static let dataCap = 200_000

    struct Run: Sendable {
        var cycle: Int
        var traceID: String
        var hasTrace: Bool
        var files: [String: Data]
    }
    struct Graded: Sendable { var cycle: Int; var row: SiteEvalRow }
    struct Note: Sendable { var cycle: Int; var item: FeedbackItem }
    struct Task: Sendable {
        var id: String
        var question: String
        var runs: [Run]
        var rows: [Graded]
        var feedback: [Note]
    }

    struct FileView: Sendable { var name, anchor, size, html: String; var isAnswer: Bool }
    struct RunView: Sendable { var traceID, traceLabel, traceHref: String; var hasTrace: Bool; var files: [FileView]; var hasFiles: Bool }
    struct RowView: Sendable { var caseID, status, score, reason, cycleHref: String; var hasReason: Bool }
    struct NoteView: Sendable { var category, severity, source, author, observation, href: String }
    struct CycleView: Sendable {
        var number, anchor, href, statusSummary: String
        var runs: [RunView]
        var rows: [RowView]
        var notes: [NoteView]
        var hasRuns, hasRows, hasNotes: Bool
    }
    struct SummaryCell: Sendable { var number, anchor, status, statusClass: String }
    struct View: Sendable {
        var id, question, dataFile: String
        var hasQuestion: Bool
        var summary: [SummaryCell]
        var cycles: [CycleView]
        var canDiff: Bool
    }
    struct IndexRow: Sendable { var id, href, question, cycles, latest, latestClass: String }
    struct IndexView: Sendable { var hasTasks: Bool; var tasks: [IndexRow] }

    /// Every task of the history, in id order.
    static func collect(reader: SiteReader) throws -> [Task] {
        var tasks: [String: Task] = [:]
        for e in reader.index.cycles {
            let n = e.number
            let map = try reader.taskMap(n)
            guard !map.isEmpty else { continue }
            let outputs = try reader.runOutputs(n)
            // Which runs have a trace page: a byte search for the quoted id in traces.jsonl (parsing every cycle's
            // spans again on each new cycle would make this unit the slowest of the site).
            let traceBytes = try reader.data(n, Layout.CycleFile.traces) ?? Data()
            for (trace, task) in map.sorted(by: { ($0.value, $0.key) < ($1.value, $1.key) }) {
                var t = tasks[task] ?? Task(id: task, question: "", runs: [], rows: [], feedback: [])
                let files = outputs[trace] ?? [:]
                if let data = files[RunFiles.task], let v = FastJSON.parse(data), let q = v["question"]?.stringValue, !q.isEmpty {
                    t.question = q
                }
                t.runs.append(Run(cycle: n, traceID: trace, hasTrace: traceBytes.range(of: Data(("\"" + trace + "\"").utf8)) != nil, files: files.filter { $0.key != RunFiles.task }))
                tasks[task] = t
            }
            for r in try reader.results(n) ?? [] {
                guard let trace = r.traceID, let task = map[trace] else { continue }
                tasks[task]?.rows.append(Graded(cycle: n, row: r))
            }
            for f in try reader.feedback(n) ?? [] {
                guard let task = map[f.traceID] else { continue }
                tasks[task]?.feedback.append(Note(cycle: n, item: f))
            }
        }
        return tasks.keys.sorted().map { tasks[$0]! }
    }

    /// The worst status of a task's rows in one cycle (`none` without a graded row).
    static func status(_ rows: [SiteEvalRow]) -> String {
        if rows.isEmpty { return "none" }
        for s in [SiteEvalRow.Status.error, .fail, .skipped] where rows.contains(where: { $0.status == s }) { return s.rawValue }
        return "pass"
    }

    /// The answer file first, then the other artifacts by name.
    static func orderedFiles(_ files: [String: Data]) -> [String] {
        files.keys.sorted { a, b in
            let fa = a == RunFiles.finalAnswer, fb = b == RunFiles.finalAnswer
            return fa != fb ? fa : a < b
        }
    }

    static func job(reader: SiteReader) throws -> PageJob {
        let tasks = try collect(reader: reader)
        let project = reader.index.project
        return PageJob(unitID: "", key: "") { r in
            var out: [(String, Data)] = []
            var seen = Set<String>()
            var index: [IndexRow] = []
            for t in tasks where seen.insert(HTML.fileName(t.id)).inserted {
                out += render(t, project: project, renderer: r)
                let cycles = Array(Set(t.runs.map(\.cycle))).sorted()
                let last = cycles.last
                let latest = status(t.rows.filter { $0.cycle == last }.map(\.row))
                index.append(IndexRow(
                    id: t.id, href: SitePaths.task(t.id), question: String(t.question.prefix(300)),
                    cycles: cycles.map(String.init).joined(separator: ", "), latest: latest, latestClass: latest))
            }
            let view = IndexView(hasTasks: !index.isEmpty, tasks: index)
            out.append(("tasks.html", r.page(kind: "tasks", path: "tasks.html", title: "Tasks", project: project, view: view)))
            return out
        }
    }

    static func render(_ t: Task, project: String, renderer r: PageRenderer) -> [(String, Data)] {
        let path = SitePaths.task(t.id)
        let dataPath = SitePaths.taskData(t.id)
        let dataName = String(dataPath.split(separator: "/").last!)
        let numbers = Array(Set(t.runs.map(\.cycle) + t.rows.map(\.cycle) + t.feedback.map(\.cycle))).sorted()
        var cycles: [CycleView] = []
        var summary: [SummaryCell] = []
        for n in numbers {
            let rows = t.rows.filter { $0.cycle == n }.map(\.row).sorted { ($0.caseID, $0.testIdx) < ($1.caseID, $1.testIdx) }
            let st = status(rows)
            let anchor = "cycle-\(n)"
            summary.append(SummaryCell(number: String(n), anchor: anchor, status: st == "none" ? "not graded" : st, statusClass: st))
            let runs = t.runs.filter { $0.cycle == n }.map { run -> RunView in
                let files = orderedFiles(run.files).map { name -> FileView in
                    let data = run.files[name]!
                    return FileView(
                        name: name, anchor: "c\(n)-" + HTML.anchor(run.traceID) + "-" + HTML.anchor(name),
                        size: Format.int(data.count) + " bytes",
                        html: TracePage.artifactHTML(name: name, data: data, markdown: r.markdown), isAnswer: name == RunFiles.finalAnswer)
                }
                return RunView(
                    traceID: run.traceID, traceLabel: CyclePage.shortID(run.traceID),
                    traceHref: SitePaths.rel(SitePaths.trace(n, run.traceID), from: path), hasTrace: run.hasTrace,
                    files: files, hasFiles: !files.isEmpty)
            }
            let cycleHref = SitePaths.rel(SitePaths.cycle(n), from: path)
            let rowViews = rows.map {
                RowView(
                    caseID: $0.caseID, status: $0.status.rawValue, score: Format.number($0.score),
                    reason: String($0.reason.prefix(2000)), cycleHref: cycleHref + "#" + $0.anchor, hasReason: !$0.reason.isEmpty)
            }
            let notes = t.feedback.filter { $0.cycle == n }.map(\.item).map {
                NoteView(
                    category: $0.category, severity: $0.severity, source: $0.source, author: $0.author, observation: $0.observation,
                    href: cycleHref + "#feedback-" + HTML.anchor($0.id))
            }
            cycles.append(CycleView(
                number: String(n), anchor: anchor, href: cycleHref, statusSummary: st, runs: runs, rows: rowViews, notes: notes,
                hasRuns: !runs.isEmpty, hasRows: !rowViews.isEmpty, hasNotes: !notes.isEmpty))
        }
        let view = View(
            id: t.id, question: t.question, dataFile: dataName, hasQuestion: !t.question.isEmpty, summary: summary,
            cycles: cycles, canDiff: t.runs.count > 1)
        let crumbs = [
            Crumb(label: "Overview", href: "../index.html"), Crumb(label: "Tasks", href: "../tasks.html"),
            Crumb(label: "Task " + CyclePage.shortID(t.id), href: ""),
        ]
        let html = r.page(
            kind: "task", path: path, title: "Task \(CyclePage.shortID(t.id))", project: project, view: view, crumbs: crumbs,
            scripts: [dataName, "../assets/views.js"])
        // The data file: every run with its files' texts, for the diff between any two runs (any two cycles).
        var runs: [JSONValue] = []
        for run in t.runs {
            var files: [String: JSONValue] = [:]
            for name in orderedFiles(run.files) {
                files[name] = .string(String(decoding: run.files[name]!.prefix(dataCap), as: UTF8.self))
            }
            runs.append(.object([
                "cycle": .int(Int64(run.cycle)), "trace": .string(run.traceID), "files": .object(files),
                "order": .array(orderedFiles(run.files).map { .string($0) }),
            ]))
        }
        // JSON.parse of a string literal: file names such as "__proto__" stay plain keys.
        var js = Array("window.FLYWHEEL_TASK = JSON.parse(".utf8)
        JSLiteral.append(JSONValue.object(["id": .string(t.id), "runs": .array(runs)]).canonicalText, to: &js)
        js.append(contentsOf: Array(");\n".utf8))
        return [(path, html), (dataPath, Data(js))]
    }
}
