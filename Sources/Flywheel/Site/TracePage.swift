import FlywheelSupport
import FlywheelTraces
import Foundation

/// One page per trace (`traces/NNNN/<id>.html`). A trace of at most `chunkSize` spans carries its span bodies in the
/// page itself (`<script type="application/json" id="span-data">`, read by site.js): one file per trace instead of
/// two, and file creation is the largest cost of a large build. A bigger trace keeps them in chunk files
/// `traces/NNNN/<id>.<k>.data.js` (`chunkSize` spans each, in tree order) that the page loads only when one of their
/// spans is shown: each chunk is a `<script>` that hands its data to `window.FLYWHEEL_SPANS` (JSONP style, so it works
/// from file:// where fetch and XHR of local files do not), which keeps the page of a 5,000-span trace small.
enum TracePage {
    /// Spans per chunk file.
    static let chunkSize = 100
    /// Attribute previews are capped at this many code points; the full value is in the data file.
    static let previewCap = 4096
    /// Above this many spans the tree starts collapsed below the first level.
    static let collapseAbove = 300
    /// Output artifacts above this size are shown truncated.
    static let artifactCap = 200_000

    struct FeedbackView: Sendable { var category, severity, source, author, observation, href: String }
    struct OutputView: Sendable { var name, anchor, size, html: String }
    struct View: Sendable {
        var id, name, cycle, cycleHref, spanCount, errorCount, duration, tokens, models, started, task, dataFile, chunkSize: String
        var spanTree: String
        /// The single chunk's JSON (already safe inside `<script>`), empty when the spans are in chunk files.
        var inlineData: String
        var hasInlineData: Bool
        var simulated, hasErrors, hasTask, hasFeedback, hasOutputs, collapsed: Bool
        var feedback: [FeedbackView]
        var outputs: [OutputView]
    }

    struct Inputs: Sendable {
        var project: String
        var cycle: Cycle
        var trace: TraceRecord
        var outputs: [String: Data]
        var feedback: [FeedbackRecord]
    }

    static func job(reader: SiteReader, number: Int) throws -> PageJob {
        guard let e = reader.index.entry(number) else { throw HistoryError.noSuchCycle(number) }
        let traces = try reader.traces(number)
        let feedback = try reader.feedback(number) ?? []
        var inputs: [Inputs] = []
        var seen = Set<String>()
        for t in traces where seen.insert(t.fileID).inserted {
            inputs.append(Inputs(
                project: reader.index.project, cycle: e.cycle, trace: t, outputs: try reader.outputs(number, traceID: t.id),
                feedback: feedback.filter { $0.traceID == t.id }))
        }
        let all = inputs
        return PageJob(unitID: "", key: "") { r in
            r.pages(all) { render($0, renderer: r) }.flatMap { $0 }
        }
    }

    static func render(_ i: Inputs, renderer r: PageRenderer) -> [(String, Data)] {
        let n = i.cycle.number
        let path = SitePaths.trace(n, i.trace.id)
        let dataName = HTML.fileName(i.trace.id)
        let (tree, chunks) = spanTree(i.trace)
        let t = i.trace
        // One chunk: its data goes into the page (no second file); JSON.parse reads it, so the same JSON as a chunk file.
        let inline = chunks.count == 1 ? String(decoding: chunkJSON(chunks[0], id: t.id, k: 0), as: UTF8.self) : ""
        var task = ""
        var outputs: [OutputView] = []
        for name in i.outputs.keys.sorted() {
            let data = i.outputs[name]!
            if name == "task.json", let v = JSONValue.parseOrNil(data) { task = v["question"]?.displayText ?? "" }
            outputs.append(OutputView(
                name: name, anchor: "artifact-" + HTML.anchor(name), size: Format.int(data.count) + " bytes",
                html: artifactHTML(name: name, data: data, markdown: r.markdown)))
        }
        let view = View(
            id: t.id, name: t.name, cycle: String(n), cycleHref: SitePaths.rel(SitePaths.cycle(n), from: path),
            spanCount: Format.int(t.spans.count), errorCount: Format.int(t.errorCount), duration: Format.ms(t.durationMs),
            tokens: Format.int(t.tokens), models: t.models.isEmpty ? "–" : t.models.joined(separator: ", "),
            started: t.spans.map(\.startTime).min() ?? "–", task: task, dataFile: dataName, chunkSize: String(chunkSize), spanTree: tree,
            inlineData: inline, hasInlineData: !inline.isEmpty,
            simulated: CyclePage.isSimulated(i.cycle), hasErrors: t.errorCount > 0, hasTask: !task.isEmpty,
            hasFeedback: !i.feedback.isEmpty, hasOutputs: !outputs.isEmpty, collapsed: t.spans.count > collapseAbove,
            feedback: i.feedback.map {
                FeedbackView(
                    category: $0.category, severity: $0.severity.rawValue, source: $0.source.rawValue, author: $0.author,
                    observation: $0.observation,
                    href: SitePaths.rel(SitePaths.cycle(n), from: path) + "#feedback-" + HTML.anchor($0.feedbackID))
            }, outputs: outputs)
        let crumbs = [
            Crumb(label: "Overview", href: "../../index.html"),
            Crumb(label: "Cycle \(n)", href: SitePaths.rel(SitePaths.cycle(n), from: path)),
            Crumb(label: "Trace " + CyclePage.shortID(t.id), href: ""),
        ]
        let html = r.page(
            kind: "trace", path: path, title: "Trace \(CyclePage.shortID(t.id)) · cycle \(n)", project: i.project, view: view,
            crumbs: crumbs)
        var files = [(path, html)]
        guard inline.isEmpty else { return files }
        for (k, chunk) in chunks.enumerated() {
            var js = Array("window.FLYWHEEL_SPANS(".utf8)
            js += chunkJSON(chunk, id: t.id, k: k)
            js.append(contentsOf: Array(");\n".utf8))
            files.append((SitePaths.traceChunk(n, i.trace.id, k), Data(js)))
        }
        return files
    }

    /// A chunk as JSON (`{"id":…,"chunk":k,"bodies":[…],"full":[…]}`), its strings escaped so that it is safe inside
    /// a `<script>` element (`<`, `>`, `&`, U+2028/U+2029 as `\u` escapes).
    static func chunkJSON(_ chunk: Chunk, id: String, k: Int) -> [UInt8] {
        var js: [UInt8] = []
        js.reserveCapacity(chunk.bodies.reduce(96) { $0 + $1.utf8.count + 8 } + chunk.full.reduce(0) { $0 + $1.utf8.count + 8 })
        js.append(contentsOf: Array("{\"id\":".utf8))
        JSLiteral.append(id, to: &js)
        js.append(contentsOf: Array(",\"chunk\":\(k),\"bodies\":".utf8))
        JSLiteral.array(chunk.bodies, to: &js)
        js.append(contentsOf: Array(",\"full\":".utf8))
        JSLiteral.array(chunk.full, to: &js)
        js.append(0x7D)
        return js
    }

    static func artifactHTML(name: String, data: Data, markdown: any MarkdownRendering) -> String {
        var text = String(decoding: data.prefix(artifactCap), as: UTF8.self)
        let truncated = data.count > artifactCap
        if name.lowercased().hasSuffix(".md") {
            return "<div class=\"markdown\">" + markdown.html(text, idPrefix: "md-art-") + "</div>"
                + (truncated ? "<p class=\"muted\">Truncated.</p>" : "")
        }
        if name.lowercased().hasSuffix(".json"), let v = JSONValue.parseOrNil(data), !truncated {
            text = pretty(v)
        }
        return "<pre class=\"artifact-text\">" + HTML.escape(text) + "</pre>" + (truncated ? "<p class=\"muted\">Truncated.</p>" : "")
    }

    /// Indented JSON with sorted keys (deterministic).
    static func pretty(_ v: JSONValue, indent: String = "") -> String {
        switch v {
        case .array(let a) where !a.isEmpty:
            let inner = indent + "  "
            return "[\n" + a.map { inner + pretty($0, indent: inner) }.joined(separator: ",\n") + "\n" + indent + "]"
        case .object(let o) where !o.isEmpty:
            let inner = indent + "  "
            return "{\n" + o.keys.sorted().map { inner + JSONValue.string($0).canonicalText + ": " + pretty(o[$0]!, indent: inner) }
                .joined(separator: ",\n") + "\n" + indent + "}"
        default: return v.canonicalText
        }
    }

    /// The span bodies of `chunkSize` consecutive spans (tree order) and the full values their buttons show
    /// (`data-full` indexes this chunk's `full`).
    struct Chunk: Sendable, Hashable {
        var bodies: [String] = []
        var full: [String] = []
    }

    /// The span tree rows (HTML) and the span bodies in chunks (HTML per span, in tree order, with full values).
    static func spanTree(_ t: TraceRecord) -> (String, [Chunk]) {
        let spans = t.spans
        var byID: [String: Int] = [:]
        for (i, s) in spans.enumerated() where byID[s.spanID] == nil { byID[s.spanID] = i }
        var children: [Int: [Int]] = [:]
        var roots: [Int] = []
        for (i, s) in spans.enumerated() {
            if let p = byID[s.parentSpanID], p != i, !s.parentSpanID.isEmpty { children[p, default: []].append(i) } else { roots.append(i) }
        }
        // Each time parsed once (the sort below compares them n log n times).
        let starts = spans.map(\.startNs), ends = spans.map(\.endNs)
        func order(_ a: Int, _ b: Int) -> Bool {
            let sa = starts[a] ?? 0, sb = starts[b] ?? 0
            return sa != sb ? sa < sb : a < b
        }
        // Iterative DFS (deep traces must not overflow the stack); cycles in parent links are broken by `visited`.
        var ordered: [(Int, Int)] = []
        var visited = Set<Int>()
        var stack: [(Int, Int)] = roots.sorted(by: order).reversed().map { ($0, 0) }
        while let (i, d) = stack.popLast() {
            guard visited.insert(i).inserted else { continue }
            ordered.append((i, d))
            for c in (children[i] ?? []).sorted(by: order).reversed() { stack.append((c, d + 1)) }
        }
        for i in spans.indices where !visited.contains(i) { ordered.append((i, 0)) }
        let t0 = starts.compactMap { $0 }.min() ?? 0, t1 = ends.compactMap { $0 }.max() ?? 0
        let total = Double(max(1, t1 - t0))
        let collapsed = spans.count > collapseAbove
        // Collapsed: show the first level when it is small enough, else only the roots.
        let visibleDepth = ordered.filter { $0.1 <= 1 }.count <= collapseAbove ? 1 : 0
        var rows = ""
        rows.reserveCapacity(spans.count * 400)
        var chunks: [Chunk] = []
        for (k, (i, d)) in ordered.enumerated() {
            let s = spans[i]
            let hasKids = !(children[i] ?? []).isEmpty
            let start = starts[i], end = ends[i]
            let left = start.map { Double($0 - t0) / total * 100 } ?? 0
            let width = (start != nil && end != nil) ? max(0.2, Double(end! - start!) / total * 100) : 0
            let durMs = (start != nil && end != nil) ? Double(end! - start!) / 1_000_000 : nil
            let hidden = collapsed && d > visibleDepth
            let expanded = !(collapsed && d >= visibleDepth)
            let anchor = "span-" + HTML.anchor(s.spanID)
            rows += "<div class=\"span-row\(s.isError ? " err" : "")\" id=\"\(anchor)\" role=\"treeitem\" aria-level=\"\(d + 1)\""
            if hasKids { rows += " aria-expanded=\"\(expanded)\"" }
            rows += " data-i=\"\(k)\" data-depth=\"\(d)\" style=\"--d:\(d)\"\(hidden ? " hidden" : "")>"
            rows += hasKids
                ? "<button type=\"button\" class=\"tog\" aria-label=\"Toggle children of \(HTML.escape(s.name))\"></button>"
                : "<span class=\"tog-pad\"></span>"
            rows += "<a class=\"span-name\" href=\"#\(anchor)\">\(HTML.escape(s.name))</a>"
            let kind = s.observationKind
            if !kind.isEmpty { rows += " <span class=\"kind k-\(HTML.escape(HTML.fileName(kind.lowercased())))\">\(HTML.escape(kind))</span>" }
            if s.isError { rows += " <span class=\"st st-error\">error</span>" }
            if let m = s.model { rows += " <span class=\"model\">\(HTML.escape(m))</span>" }
            let tok = s.inputTokens + s.outputTokens
            if tok > 0 { rows += " <span class=\"tok\">\(Format.int(tok)) tok</span>" }
            rows += " <span class=\"dur\">\(Format.ms(durMs))</span>"
            rows += "<span class=\"bar\" aria-hidden=\"true\"><span style=\"left:\(Format.number(left, digits: 2))%;width:\(Format.number(width, digits: 2))%\"></span></span></div>\n"
            if k % chunkSize == 0 { chunks.append(Chunk()) }
            chunks[chunks.count - 1].bodies.append(
                spanBody(s, durationMs: durMs, full: &chunks[chunks.count - 1].full, childCount: children[i]?.count ?? 0))
        }
        if chunks.isEmpty { chunks.append(Chunk()) }
        return (rows, chunks)
    }

    /// A preview capped at `previewCap` code points (nil when the text is short enough).
    static func cap(_ text: String) -> (String, Bool) {
        let scalars = text.unicodeScalars
        guard scalars.count > previewCap else { return (text, false) }
        return (String(String.UnicodeScalarView(scalars.prefix(previewCap))), true)
    }

    static func capped(_ text: String, full: inout [String], cls: String = "value") -> String {
        let (preview, cut) = cap(text)
        var out = "<pre class=\"\(cls)\">\(HTML.escape(preview))</pre>"
        if cut {
            full.append("<pre class=\"\(cls)\">\(HTML.escape(text))</pre>")
            out += "<button type=\"button\" class=\"show-full\" data-full=\"\(full.count - 1)\">Show full value (\(Format.int(text.unicodeScalars.count)) characters)</button>"
        }
        return out
    }

    static func spanBody(_ s: Span, durationMs: Double?, full: inout [String], childCount: Int) -> String {
        var out = "<h3>\(HTML.escape(s.name))</h3><dl class=\"span-meta\">"
        func item(_ k: String, _ v: String) { out += "<div><dt>\(HTML.escape(k))</dt><dd>\(HTML.escape(v))</dd></div>" }
        item("Span", s.spanID)
        item("Parent", s.parentSpanID.isEmpty ? "(root)" : s.parentSpanID)
        item("Kind", [s.kind, s.observationKind].filter { !$0.isEmpty }.joined(separator: " · "))
        item("Status", s.status.code)
        item("Start", s.startTime)
        item("End", s.endTime)
        item("Duration", Format.ms(durationMs))
        if let m = s.model { item("Model", m) }
        if s.inputTokens + s.outputTokens > 0 { item("Tokens", "\(s.inputTokens) in / \(s.outputTokens) out") }
        if !s.service.isEmpty { item("Service", s.service) }
        item("Children", String(childCount))
        out += "</dl>"
        if s.isError || !s.status.message.isEmpty {
            out += "<div class=\"\(s.isError ? "error-box" : "status-box")\" role=\"note\"><strong>\(s.isError ? "Error" : "Status")</strong>: \(HTML.escape(s.status.message))"
            if let et = s.attributes["error.type"] { out += " <code>\(HTML.escape(et.displayText))</code>" }
            out += "</div>"
        }
        var shown = Set<String>()
        // LLM messages as a conversation.
        for (key, label) in [("llm.input_messages", "Input messages"), ("llm.output_messages", "Output messages")] {
            guard let raw = s.attributes[key] else { continue }
            let parsed: [JSONValue]? = raw.arrayValue ?? raw.stringValue.flatMap { JSONValue.parseOrNil($0) }?.arrayValue
            guard let messages = parsed else { continue }
            shown.insert(key)
            out += "<h4>\(label)</h4><ol class=\"conversation\">"
            for m in messages {
                let role = m["role"]?.displayText ?? ""
                let roleClass = ["system", "user", "assistant", "tool"].contains(role) ? role : "other"
                out += "<li class=\"msg role-\(roleClass)\"><span class=\"role\">\(HTML.escape(role.isEmpty ? "message" : role))</span>"
                if let id = m["tool_call_id"]?.stringValue { out += " <span class=\"muted\">reply to \(HTML.escape(id))</span>" }
                if let content = m["content"], !content.isNull {
                    let text: String
                    if let parts = content.arrayValue {
                        text = parts.map { ($0["text"] ?? $0).displayText }.joined(separator: "\n")
                    } else { text = content.displayText }
                    out += capped(text, full: &full, cls: "content")
                }
                for call in m["tool_calls"]?.arrayValue ?? [] {
                    let name = call["function"]?["name"]?.displayText ?? ""
                    let args = call["function"]?["arguments"]?.displayText ?? ""
                    out += "<div class=\"tool-call\"><span class=\"muted\">calls</span> <code>\(HTML.escape(name))</code> <span class=\"muted\">\(HTML.escape(call["id"]?.displayText ?? ""))</span>"
                    out += capped(args, full: &full, cls: "args") + "</div>"
                }
                out += "</li>"
            }
            out += "</ol>"
        }
        // Tool input and output.
        for (key, label) in [("input.value", "Tool input"), ("output.value", "Tool output")] {
            guard let v = s.attributes[key] else { continue }
            shown.insert(key)
            out += "<h4>\(label)</h4>" + capped(v.displayText, full: &full, cls: key == "output.value" && s.isError ? "value err" : "value")
        }
        // Every attribute (the above included, so nothing is hidden).
        out += "<h4>Attributes</h4><table class=\"attrs\"><tbody>"
        for k in s.attributes.keys.sorted() {
            let v = s.attributes[k]!
            let cell = shown.contains(k) ? "<span class=\"muted\">shown above</span>" : capped(v.displayText, full: &full)
            out += "<tr><th scope=\"row\"><code>\(HTML.escape(k))</code></th><td>" + cell + "</td></tr>"
        }
        out += "</tbody></table>"
        return out
    }
}
