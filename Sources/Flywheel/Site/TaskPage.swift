import FlywheelSupport
import Foundation

/// One page per task across every cycle (`tasks/<task id>.html`) and the task index (`tasks.html`). A run's task is
/// `task_id` (or `question_id`) of its `task.json`. The page shows every cycle in its summary and the latest
/// `recentCycles` cycles in full; the answer diff loads each cycle's run texts on demand from `tasks/<id>/NNNN.js`
/// (written once, by that cycle), listed in `tasks/<id>.data.js`. So a new cycle costs each task page the same
/// whatever the history's length, and the cross-cycle facts come from the cycles' cached summaries.
enum TaskPage {
    /// Answer texts above this size are cut in the data files (the diff works on the cut text).
    static let dataCap = 200_000
    /// Cycles shown in full on a task page (the latest ones); earlier cycles link to their cycle pages.
    static let recentCycles = 20

    struct Run: Sendable {
        var cycle: Int
        var traceID: String
        var hasTrace: Bool
        var files: [String: Data]
    }
    struct Graded: Sendable { var cycle: Int; var row: SiteEvalRow }
    struct Note: Sendable { var cycle: Int; var item: FeedbackRecord }
    /// One cycle of a task, from the cycle's summary.
    struct Seen: Sendable { var cycle: Int; var entry: CycleSummary.TaskEntry }
    struct Task: Sendable {
        var id: String
        var question: String
        /// The latest cycles the task ran in (ascending; at most `catalogCycles(window:)` of them).
        var seen: [Seen]
        /// How many cycles the task ran in, and the first of them.
        var total: Int
        var firstCycle: Int
        /// The runs, rows and feedback of the recent cycles whose sections are not cached.
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
    struct SummaryCell: Sendable { var number, href, status, statusClass: String }
    struct View: Sendable {
        var id, question, dataFile: String
        var hasQuestion: Bool
        var summary: [SummaryCell]
        /// The recent cycles' sections (`task-cycle` template), oldest first.
        var cyclesHTML: String
        var canDiff: Bool
        var hasEarlier: Bool
        var earlier: String
    }
    struct IndexRow: Sendable { var id, href, question, cycles, latest, latestClass: String }
    struct IndexView: Sendable { var hasTasks: Bool; var tasks: [IndexRow] }

    /// The rendered cycle sections of one cycle (file name of the task → HTML), kept in the build cache.
    /// A task and one cycle it ran in (a section to render).
    struct Pair: Sendable { var task: Task; var seen: Seen }
    struct Sections: Sendable {
        var name: String
        var key: String
        var html: [String: String]
    }

    /// Cycles of a task kept in the catalog: enough for the page's summary (`window`) and the cycle before the ones
    /// shown in full.
    static func catalogCycles(window: Int) -> Int { max(window, recentCycles + 1) }

    /// Every task of the history, in id order, with its latest cycles (from the summaries), the recent cycles in full
    /// (their sections from the build cache when it has them, else the cycle's artifacts to render them from). The
    /// tasks come from a catalog in the build cache (each task's count, first cycle and latest cycles) made from the
    /// history's leading cycles: only the cycles after those are folded in, so a build after one more cycle reads
    /// one cycle's summary, not every cycle's tasks.
    static func collect(
        reader: SiteReader, sectionKey: String, window: Int = 50
    ) throws -> (tasks: [Task], sections: [Int: Sections], missing: Set<Int>) {
        let keep = catalogCycles(window: window)
        var tasks = try catalog(reader: reader, keep: keep)
        var wanted: [Int: Set<String>] = [:]
        for t in tasks.values { for s in t.seen.suffix(recentCycles) { wanted[s.cycle, default: []].insert(t.id) } }
        var sections: [Int: Sections] = [:]
        var missing = Set<Int>()
        for n in wanted.keys.sorted() {
            let ids = wanted[n]!
            guard let e = reader.index.entry(n) else { continue }
            let name = "task-sections-" + Layout.cycleName(n)
            let key = "task-sections-1|" + sectionKey + "|" + e.folderID
            var cached: [String: String] = [:]
            for (k, v) in reader.cache.get(name, key: key)?.objectValue ?? [:] { if let h = v.stringValue { cached[k] = h } }
            sections[n] = Sections(name: name, key: key, html: cached)
            if ids.allSatisfy({ cached[HTML.fileName($0)] != nil }) { continue }
            // Not cached (or not for every task): read the cycle once and render its sections.
            missing.insert(n)
            let map = try reader.taskMap(n).filter { ids.contains($0.value) }
            let outputs = try reader.runOutputs(n)
            for s in ids.sorted() {
                guard let entry = tasks[s]?.seen.first(where: { $0.cycle == n })?.entry else { continue }
                for run in entry.runs {
                    tasks[s]?.runs.append(Run(
                        cycle: n, traceID: run.trace, hasTrace: run.hasTrace,
                        files: (outputs[run.trace] ?? [:]).filter { $0.key != RunFiles.task }))
                }
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
        return (tasks.keys.sorted().map { tasks[$0]! }, sections, missing)
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

    /// The catalog of tasks (see `collect`): the cached one when it was made from a prefix of this history's cycles
    /// (same numbers and folder ids), folded forward with the newer cycles' summaries, and stored again.
    static func catalog(reader: SiteReader, keep: Int) throws -> [String: Task] {
        let chain = reader.index.cycles.map { "\($0.number):\($0.folderID)" }
        let name = "task-catalog", key = "task-catalog-1|" + CycleSummary.version + "|" + String(keep)
        var tasks: [String: Task] = [:]
        var done = 0
        if let v = reader.cache.get(name, key: key), let n = v["cycles"]?.intValue.map({ Int(clamping: $0) }), n <= chain.count,
            v["chain"]?.stringValue == SiteHash.hex(chain.prefix(n).joined(separator: "\n")),
            let decoded = decodeCatalog(v["tasks"])
        {
            tasks = decoded
            done = n
        }
        guard done < chain.count || done == 0 else { return tasks }
        for e in reader.index.cycles.dropFirst(done) {
            let n = e.number
            for entry in try reader.summary(n).tasks {
                // Edited in place (a copy taken out and put back would copy the task's cycles each time).
                if tasks[entry.id] == nil {
                    tasks[entry.id] = Task(id: entry.id, question: "", seen: [], total: 0, firstCycle: n, runs: [], rows: [], feedback: [])
                }
                if !entry.question.isEmpty { tasks[entry.id]!.question = entry.question }
                tasks[entry.id]!.seen.append(Seen(cycle: n, entry: entry))
                if tasks[entry.id]!.seen.count > keep { tasks[entry.id]!.seen.removeFirst(tasks[entry.id]!.seen.count - keep) }
                tasks[entry.id]!.total += 1
            }
        }
        reader.cache.put(name, key: key, value: .object([
            "cycles": .int(Int64(chain.count)), "chain": .string(SiteHash.hex(chain.joined(separator: "\n"))),
            "tasks": encodeCatalog(tasks),
        ]))
        return tasks
    }

    static func encodeCatalog(_ tasks: [String: Task]) -> JSONValue {
        .array(tasks.keys.sorted().map { id in
            let t = tasks[id]!
            var s = CycleSummary()
            s.tasks = t.seen.map(\.entry)
            return .array([
                .string(t.id), .string(t.question), .int(Int64(t.total)), .int(Int64(t.firstCycle)),
                .array(t.seen.map { .int(Int64($0.cycle)) }), s.tasksJSON,
            ])
        })
    }

    /// Nil when damaged (the catalog is then made again from the summaries).
    static func decodeCatalog(_ v: JSONValue?) -> [String: Task]? {
        guard let items = v?.arrayValue else { return nil }
        var out: [String: Task] = [:]
        for item in items {
            guard let a = item.arrayValue, a.count == 6, let id = a[0].stringValue, let q = a[1].stringValue,
                let total = a[2].intValue, let first = a[3].intValue, let cycles = a[4].arrayValue?.compactMap(\.intValue),
                let entries = CycleSummary.tasks(json: a[5]), entries.count == cycles.count
            else { return nil }
            out[id] = Task(
                id: id, question: q, seen: zip(cycles, entries).map { Seen(cycle: Int(clamping: $0), entry: $1) },
                total: Int(clamping: total), firstCycle: Int(clamping: first), runs: [], rows: [], feedback: [])
        }
        return out
    }

    static func job(reader: SiteReader, sectionKey: String, window: Int = 50) throws -> PageJob {
        let (tasks, cachedSections, missing) = try collect(reader: reader, sectionKey: sectionKey, window: window)
        let project = reader.index.project
        let cache = reader.cache
        return PageJob(unitID: "", key: "") { r in
            var sections = cachedSections
            // Render the sections of the cycles the cache did not have, and keep them for the next build.
            var seenFiles = Set<String>()
            var toRender: [(Task, Seen)] = []
            for t in tasks where seenFiles.insert(HTML.fileName(t.id)).inserted {
                for s in t.seen.suffix(recentCycles) where missing.contains(s.cycle) { toRender.append((t, s)) }
            }
            let rendered = r.pages(toRender.map { Pair(task: $0.0, seen: $0.1) }) { section($0.task, $0.seen, renderer: r) }
            for ((t, s), html) in zip(toRender, rendered) { sections[s.cycle]?.html[HTML.fileName(t.id)] = html }
            for n in missing.sorted() {
                guard let s = sections[n] else { continue }
                cache.put(s.name, key: s.key, value: .object(s.html.mapValues { .string($0) }))
            }
            var seen = Set<String>()
            var index: [IndexRow] = []
            let pages = tasks.filter { seen.insert(HTML.fileName($0.id)).inserted }
            let sectionsByCycle = sections
            var out = r.pages(pages) { t in
                let html = t.seen.suffix(recentCycles).map { sectionsByCycle[$0.cycle]?.html[HTML.fileName(t.id)] ?? "" }.joined()
                return render(t, sectionsHTML: html, project: project, renderer: r, window: window)
            }.flatMap { $0 }
            for t in pages {
                let latest = t.seen.last?.entry.status ?? "none"
                let cycles = t.total > window
                    ? "\(t.firstCycle)–\(t.seen.last!.cycle) (\(t.total) cycles)"
                    : t.seen.map { String($0.cycle) }.joined(separator: ", ")
                index.append(IndexRow(
                    id: t.id, href: SitePaths.task(t.id), question: String(t.question.prefix(300)),
                    cycles: cycles, latest: latest, latestClass: latest))
            }
            let view = IndexView(hasTasks: !index.isEmpty, tasks: index)
            out.append(("tasks.html", r.page(kind: "tasks", path: "tasks.html", title: "Tasks", project: project, view: view)))
            return out
        }
    }

    /// Cycle `n`'s runs of every task that ran in it, as one data file per task (`tasks/<id>/NNNN.js`) that hands
    /// the run texts to `window.FLYWHEEL_TASK_RUNS` when the task page's diff asks for it (works from file://).
    static func runsJob(reader: SiteReader, number n: Int) throws -> PageJob {
        let summary = try reader.summary(n)
        let outputs = summary.tasks.isEmpty ? [:] : try reader.runOutputs(n)
        var files: [(String, Data)] = []
        var seen = Set<String>()
        for t in summary.tasks where seen.insert(HTML.fileName(t.id)).inserted {
            var runs: [JSONValue] = []
            for run in t.runs {
                var texts: [String: JSONValue] = [:]
                let data = outputs[run.trace] ?? [:]
                for name in run.files { if let d = data[name] { texts[name] = .string(String(decoding: d.prefix(dataCap), as: UTF8.self)) } }
                runs.append(.object(["trace": .string(run.trace), "files": .object(texts)]))
            }
            // JSON.parse of a string literal: file names such as "__proto__" stay plain keys.
            var js = Array("window.FLYWHEEL_TASK_RUNS(JSON.parse(".utf8)
            JSLiteral.append(JSONValue.object(["task": .string(t.id), "cycle": .int(Int64(n)), "runs": .array(runs)]).canonicalText, to: &js)
            js.append(contentsOf: Array("));\n".utf8))
            files.append((SitePaths.taskRuns(t.id, n), Data(js)))
        }
        let out = files
        return PageJob(unitID: "", key: "") { _ in out }
    }

    /// One cycle's section of a task page (`task-cycle` template): its graded rows, runs with their artifacts, feedback.
    static func section(_ t: Task, _ s: Seen, renderer r: PageRenderer) -> String {
        let path = SitePaths.task(t.id)
        let n = s.cycle
        let st = s.entry.status
        let rows = t.rows.filter { $0.cycle == n }.map(\.row).sorted { ($0.caseID, $0.testIdx) < ($1.caseID, $1.testIdx) }
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
                category: $0.category, severity: $0.severity.rawValue, source: $0.source.rawValue, author: $0.author, observation: $0.observation,
                href: cycleHref + "#feedback-" + HTML.anchor($0.feedbackID))
        }
        let view = CycleView(
            number: String(n), anchor: "cycle-\(n)", href: cycleHref, statusSummary: st, runs: runs, rows: rowViews, notes: notes,
            hasRuns: !runs.isEmpty, hasRows: !rowViews.isEmpty, hasNotes: !notes.isEmpty)
        return r.library.render(MustacheTree.of(view), withTemplate: "task-cycle") ?? ""
    }

    /// A task page and its data file: the summary and the answer diff cover the latest `window` cycles the task ran
    /// in (so a task's page costs the same at cycle 50 and at cycle 500); earlier ones are on their cycle pages.
    static func render(_ t: Task, sectionsHTML: String, project: String, renderer r: PageRenderer, window: Int = 50) -> [(String, Data)] {
        let path = SitePaths.task(t.id)
        let dataPath = SitePaths.taskData(t.id)
        let dataName = String(dataPath.split(separator: "/").last!)
        let recent = Set(t.seen.suffix(recentCycles).map(\.cycle))
        let shown = t.seen.suffix(window)
        var summary: [SummaryCell] = []
        for s in shown {
            let n = s.cycle
            let st = s.entry.status
            summary.append(SummaryCell(
                number: String(n), href: recent.contains(n) ? "#cycle-\(n)" : SitePaths.rel(SitePaths.cycle(n), from: path),
                status: st == "none" ? "not graded" : st, statusClass: st))
        }
        let allRuns = shown.flatMap { s in s.entry.runs.map { (s.cycle, $0) } }
        var earlierText: [String] = []
        if t.total > window, let first = shown.first {
            earlierText.append("The task ran in \(t.total) cycles; this page covers the latest \(window) (from cycle \(first.cycle)), earlier runs are on their cycle pages.")
        }
        // (The catalog keeps at least `recentCycles + 1` cycles of a task that ran in more.)
        let earlier = t.total > recentCycles && t.seen.count > recentCycles ? t.seen[t.seen.count - recentCycles - 1].cycle : nil
        if let earlier {
            earlierText.append("Cycles up to \(earlier) are in the summary above, each linked to its cycle page; the latest \(recentCycles) are shown in full here.")
        }
        let view = View(
            id: t.id, question: t.question, dataFile: dataName, hasQuestion: !t.question.isEmpty, summary: summary,
            cyclesHTML: sectionsHTML, canDiff: allRuns.count > 1, hasEarlier: !earlierText.isEmpty,
            earlier: earlierText.joined(separator: " "))
        let crumbs = [
            Crumb(label: "Overview", href: "../index.html"), Crumb(label: "Tasks", href: "../tasks.html"),
            Crumb(label: "Task " + CyclePage.shortID(t.id), href: ""),
        ]
        let html = r.page(
            kind: "task", path: path, title: "Task \(CyclePage.shortID(t.id))", project: project, view: view, crumbs: crumbs,
            scripts: [dataName, "../assets/views.js"])
        // The data file: every run (cycle, trace, file names) and where its texts are (one file per cycle).
        let runs: [JSONValue] = allRuns.map { n, run in
            .object([
                "cycle": .int(Int64(n)), "trace": .string(run.trace), "order": .array(run.files.map { .string($0) }),
            ])
        }
        // JSON.parse of a string literal: file names such as "__proto__" stay plain keys.
        var js = Array("window.FLYWHEEL_TASK = JSON.parse(".utf8)
        JSLiteral.append(JSONValue.object([
            "id": .string(t.id), "runs": .array(runs), "dir": .string(HTML.fileName(t.id)),
        ]).canonicalText, to: &js)
        js.append(contentsOf: Array(");\n".utf8))
        return [(path, html), (dataPath, Data(js))]
    }
}
