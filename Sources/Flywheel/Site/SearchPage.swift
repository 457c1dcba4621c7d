import FlywheelSupport
import Foundation

/// Client-side search: `search.html`, `search-index.js` (cycles, and the list of shards) and one shard per cycle
/// (`search/NNNN.js`: eval cases, feedback, failure modes, trace names) so adding a cycle never re-reads older cycles'
/// traces. The page itself does not list the shards: `search.js` loads them once there is a query, newest first.
enum SearchPage {
    struct View: Sendable {}

    static func entry(_ kind: String, _ title: String, _ url: String, _ text: String) -> JSONValue {
        .object(["k": .string(kind), "t": .string(title), "u": .string(url), "x": .string(String(text.prefix(400)))])
    }

    static func script(_ entries: [JSONValue]) -> Data {
        Data(("(window.FLYWHEEL_SEARCH = window.FLYWHEEL_SEARCH || []).push(" + HTML.jsonForScript(.array(entries)) + ");\n").utf8)
    }

    static func job(index: HistoryIndex) -> PageJob {
        let cycles = index.cycles.map(\.cycle)
        let project = index.project
        return PageJob(unitID: "", key: "") { r in
            let entries = cycles.map { c in
                entry("cycle", "Cycle \(c.number)", SitePaths.cycle(c.number),
                    [c.summary ?? "", c.status.rawValue, "pass rate " + Format.percent(c.scores.passRate), c.startedAt].joined(separator: " · "))
            }
            let page = r.page(kind: "search", path: "search.html", title: "Search", project: project, view: View(),
                              scripts: ["search-index.js", "assets/search.js"])
            var index = script(entries)
            let shards: JSONValue = .array(cycles.map { .string(SitePaths.searchShard($0.number)) })
            index.append(Data(("window.FLYWHEEL_SEARCH_SHARDS = " + HTML.jsonForScript(shards) + ";\n").utf8))
            return [("search.html", page), ("search-index.js", index)]
        }
    }

    static func shardJob(reader: SiteReader, number n: Int) throws -> PageJob {
        var entries: [JSONValue] = []
        let cyclePage = SitePaths.cycle(n)
        for r in try reader.results(n) ?? [] {
            entries.append(entry("eval", r.caseID, cyclePage + "#" + r.anchor,
                "cycle \(n) · \(r.status.rawValue) · \(r.category) · \(r.description)"))
        }
        for f in try reader.feedback(n) ?? [] {
            entries.append(entry("feedback", f.category + " (" + f.severity.rawValue + ")", cyclePage + "#feedback-" + HTML.anchor(f.feedbackID),
                "cycle \(n) · " + f.observation))
        }
        if let d = try reader.diagnosis(n) {
            for m in d.failureModes {
                entries.append(entry("failure mode", m.title, cyclePage + "#fm-" + HTML.anchor(m.id), "cycle \(n) · \(m.kind.rawValue) · \(m.category)"))
            }
            for rec in d.recommendations {
                entries.append(entry("recommendation", rec.title, cyclePage + "#rec-" + HTML.anchor(rec.id), "cycle \(n) · " + rec.change))
            }
        }
        for t in try reader.traces(n) {
            entries.append(entry("trace", t.name + " " + CyclePage.shortID(t.id), SitePaths.trace(n, t.id),
                "cycle \(n) · \(t.id) · \(t.spans.count) spans" + (t.errorCount > 0 ? " · \(t.errorCount) errors" : "")))
        }
        let data = script(entries)
        return PageJob(unitID: "", key: "") { _ in [(SitePaths.searchShard(n), data)] }
    }
}
