import Foundation
import Mustache
import FlywheelTemplates

/// One unit of the site (a page, or all trace pages of a cycle) with the key of its inputs.
struct SiteUnit {
    var id: String
    /// Computed when asked: the units of a cycle whose group is unchanged are skipped without it (see `SitePlan`).
    private let makeKey: () -> String
    var key: String { makeKey() }
    var prepare: (SiteReader) throws -> PageJob

    init(id: String, key: @autoclosure @escaping () -> String, prepare: @escaping (SiteReader) throws -> PageJob) {
        self.id = id
        makeKey = key
        self.prepare = prepare
    }
}

/// A unit ready to render: pure values only.
struct PageJob: Sendable {
    var unitID: String
    var key: String
    var render: @Sendable (PageRenderer) -> [(String, Data)]
}

/// Templates, layout and shared rendering settings (immutable, shared by the rendering tasks).
struct PageRenderer: Sendable {
    let library: MustacheLibrary
    let markdown: any MarkdownRendering
    let baseURL: String?
    let fingerprint: String
    /// Whether a unit with many pages renders them on every core: in a build that renders a cycle or two (the
    /// incremental one) that unit is most of the work and the other core would wait for it; in a larger build every
    /// core already renders whole units, and nesting would only add contention.
    var spreadPages = false

    /// `items.map(transform)`, on every core when `spreadPages`.
    func pages<E: Sendable, T: Sendable>(_ items: [E], _ transform: @Sendable (E) -> T) -> [T] {
        spreadPages ? items.concurrentMap(transform) : items.map(transform)
    }

    static let kinds = [
        "layout", "overview", "cycle", "trace", "matrix", "diffs", "diff", "search", "task", "task-cycle", "tasks", "compare",
        "recommendations",
    ]

    static func load(markdown: any MarkdownRendering, baseURL: String?) throws -> PageRenderer {
        var library = MustacheLibrary()
        let dir = FlywheelTemplates.directory
        for name in kinds {
            let url = dir.appendingPathComponent(name + ".mustache")
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw SiteError.template(name: name, reason: "missing \(url.path)")
            }
            do { try library.register(String(decoding: data, as: UTF8.self), named: name) } catch {
                throw SiteError.template(name: name, reason: "\(error)")
            }
        }
        var base = baseURL
        if let b = baseURL {
            let lower = b.lowercased()
            base = (lower.hasPrefix("https://") || lower.hasPrefix("http://")) ? (b.hasSuffix("/") ? b : b + "/") : nil
        }
        return PageRenderer(
            library: library, markdown: markdown, baseURL: base, fingerprint: SiteBuilder.rendererFingerprint())
    }

    /// Renders a page template with `view`, wrapped in the layout.
    func page(
        kind: String, path: String, title: String, project: String, view: Any, crumbs: [Crumb] = [],
        scripts: [String] = []
    ) -> Data {
        let body = library.render(MustacheTree.of(view), withTemplate: kind) ?? ""
        let root = PageRenderer.root(of: path)
        let layout = LayoutView(
            title: title, project: project, root: root, kind: kind, body: body,
            hasCanonical: baseURL != nil, canonical: (baseURL ?? "") + path,
            navOverview: kind == "overview", navMatrix: kind == "matrix", navDiffs: kind == "diffs" || kind == "diff",
            navSearch: kind == "search", navTasks: kind == "tasks" || kind == "task", navCompare: kind == "compare",
            navRecommendations: kind == "recommendations", hasBreadcrumbs: !crumbs.isEmpty, breadcrumbs: crumbs,
            scripts: scripts.map { ScriptRef(src: $0) })
        let html = library.render(MustacheTree.of(layout), withTemplate: "layout") ?? ""
        return Data(html.utf8)
    }

    /// `""`, `"../"`, `"../../"` for a page at `path`.
    static func root(of path: String) -> String {
        String(repeating: "../", count: path.split(separator: "/").count - 1)
    }
}

struct Crumb: Sendable {
    var label: String
    var href: String
    /// Stored (Mustache reads stored properties only).
    var hasHref: Bool
    init(label: String, href: String) {
        self.label = label
        self.href = href
        hasHref = !href.isEmpty
    }
}

struct ScriptRef: Sendable { var src: String }

struct LayoutView {
    var title, project, root, kind, body: String
    var hasCanonical: Bool
    var canonical: String
    var navOverview, navMatrix, navDiffs, navSearch, navTasks, navCompare, navRecommendations: Bool
    var hasBreadcrumbs: Bool
    var breadcrumbs: [Crumb]
    var scripts: [ScriptRef]
}

/// Where pages live (all relative to the site root).
enum SitePaths {
    static func cycle(_ n: Int) -> String { "cycles/\(Layout.cycleName(n)).html" }
    static func traceFolder(_ n: Int) -> String { "traces/\(Layout.cycleName(n))" }
    static func trace(_ n: Int, _ id: String) -> String { "\(traceFolder(n))/\(HTML.fileName(id)).html" }
    /// Chunk `k` of a trace's span bodies (see `TracePage.chunkSize`).
    static func traceChunk(_ n: Int, _ id: String, _ k: Int) -> String { "\(traceFolder(n))/\(HTML.fileName(id)).\(k).data.js" }
    static func diff(_ a: Int, _ b: Int) -> String { "diffs/\(Layout.cycleName(a))-\(Layout.cycleName(b)).html" }
    static func searchShard(_ n: Int) -> String { "search/\(Layout.cycleName(n)).js" }
    static func task(_ id: String) -> String { "tasks/\(HTML.fileName(id)).html" }
    static func taskData(_ id: String) -> String { "tasks/\(HTML.fileName(id)).data.js" }
    /// Cycle `n`'s run texts of a task (for the task page's diff, loaded on demand).
    static func taskRuns(_ id: String, _ n: Int) -> String { "tasks/\(HTML.fileName(id))/\(Layout.cycleName(n)).js" }
    static func compareShard(_ n: Int) -> String { "compare/\(Layout.cycleName(n)).js" }
    /// `target` (a site-root-relative path) as seen from the page at `from`.
    static func rel(_ target: String, from: String) -> String { PageRenderer.root(of: from) + target }
}
