import Foundation

/// The overview (`index.html`): the latest cycle, trend charts and the cycles table.
enum OverviewPage {
    struct CycleRow: Sendable {
        var number, href, status, started, gate, gateClass, passRate, meanScore, passed, failed, errors, skipped: String
        var tokens, cost, latency, summary, counts, traces: String
        var hasSummary: Bool
    }
    struct EarlierLink: Sendable { var number, href: String }
    struct View: Sendable {
        var project: String
        var hasLatest: Bool
        var latest: CycleRow?
        var charts: String
        /// The latest `window` cycles, newest first; the ones before them are plain links.
        var cycles: [CycleRow]
        var hasEarlier: Bool
        var earlier: [EarlierLink]
    }

    static func gate(_ s: CycleScores) -> (String, String) {
        switch s.gatePassed {
        case true?: return ("passed", "pass")
        case false?: return ("failed", "fail")
        case nil: return ("not run", "none")
        }
    }

    static func row(_ c: Cycle, from path: String) -> CycleRow {
        let s = c.scores
        let (g, gc) = gate(s)
        let counts = [
            s.passed.map { "\($0) passed" }, s.failed.map { "\($0) failed" }, s.errors.map { "\($0) errors" },
            s.skipped.map { "\($0) skipped" },
        ].compactMap { $0 }.joined(separator: ", ")
        return CycleRow(
            number: String(c.number), href: SitePaths.rel(SitePaths.cycle(c.number), from: path), status: c.status.rawValue,
            started: c.startedAt, gate: g, gateClass: gc, passRate: Format.percent(s.passRate),
            meanScore: Format.number(s.meanScore), passed: Format.int(s.passed), failed: Format.int(s.failed),
            errors: Format.int(s.errors), skipped: Format.int(s.skipped), tokens: Format.int(s.tokens),
            cost: Format.cost(s.costUSD), latency: Format.ms(s.latencyMs), summary: c.summary ?? "",
            counts: counts.isEmpty ? "–" : counts, traces: Format.int(s.traces), hasSummary: !(c.summary ?? "").isEmpty)
    }

    static func charts(_ cycles: [Cycle]) -> String {
        func series(_ name: String, _ f: (CycleScores) -> Double?) -> Charts.Series {
            Charts.Series(name: name, points: cycles.map { ($0.number, f($0.scores)) })
        }
        let pct: (Double) -> String = { Format.percent($0) }
        var out: [String] = []
        out.append(Charts.line(title: "Pass rate per cycle", id: "pass-rate", series: [series("pass rate", \.passRate)], format: pct))
        out.append(Charts.line(title: "Mean score per cycle", id: "mean-score", series: [series("mean score", \.meanScore)], format: { Format.number($0) }))
        let metricNames = Set(cycles.flatMap { ($0.scores.metrics ?? [:]).keys }).sorted()
        for (i, name) in metricNames.prefix(12).enumerated() {
            out.append(Charts.line(
                title: "Metric “\(name)” per cycle", id: "metric-\(i)", series: [series(name, { $0.metrics?[name] })],
                format: { Format.number($0) }))
        }
        let categories = Set(cycles.flatMap { ($0.scores.failuresByCategory ?? [:]).keys }).sorted()
        if !categories.isEmpty {
            out.append(Charts.line(
                title: "Failures by category per cycle", id: "failures-by-category",
                series: categories.prefix(8).map { cat in
                    series(cat, { s in s.failuresByCategory.map { Double($0[cat] ?? 0) } })
                }, format: { Format.number($0, digits: 0) }))
        }
        out.append(Charts.line(title: "Tokens per cycle", id: "tokens", series: [series("tokens", { $0.tokens.map(Double.init) })], format: { Format.int(Int($0)) }))
        out.append(Charts.line(title: "Cost per cycle (USD)", id: "cost", series: [series("cost", \.costUSD)], format: { Format.cost($0) }))
        out.append(Charts.line(title: "Latency per cycle", id: "latency", series: [series("latency", \.latencyMs)], format: { Format.ms($0) }))
        return out.joined(separator: "\n")
    }

    static func job(index: HistoryIndex, window: Int = 50) -> PageJob {
        let cycles = index.cycles.map(\.cycle)
        let project = index.project
        let path = "index.html"
        return PageJob(unitID: "overview", key: "") { r in
            let rows = cycles.suffix(window).reversed().map { row($0, from: path) }
            let earlier = cycles.dropLast(window).reversed().map {
                EarlierLink(number: String($0.number), href: SitePaths.rel(SitePaths.cycle($0.number), from: path))
            }
            let view = View(
                project: project, hasLatest: !cycles.isEmpty, latest: cycles.last.map { row($0, from: path) },
                charts: charts(cycles), cycles: rows, hasEarlier: !earlier.isEmpty, earlier: earlier)
            return [(path, r.page(kind: "overview", path: path, title: "Overview", project: project, view: view))]
        }
    }
}
