import Markdown
import Testing

@Suite("Markdown rendering (cmark-gfm)")
struct MarkdownTests {
    @Test func rendersTables() {
        let html = Markdown.renderHTML("""
            | name | score |
            |:-----|------:|
            | a    | 1     |
            | b    | 2     |
            """).html
        #expect(html.contains("<table>"))
        #expect(html.contains("<th align=\"left\">name</th>"))
        #expect(html.contains("<td align=\"right\">2</td>"))
        #expect(!html.contains("|"))
    }

    @Test func rendersStrikethroughAndTaskLists() {
        let html = Markdown.renderHTML("""
            This is ~~gone~~ now.

            - [x] done
            - [ ] todo
            """).html
        #expect(html.contains("<del>gone</del>"))
        #expect(html.contains("<input type=\"checkbox\" checked=\"\" disabled=\"\" />"))
        #expect(html.contains("<input type=\"checkbox\" disabled=\"\" />"))
    }

    @Test func autolinksBareURLs() {
        let html = Markdown.renderHTML("See https://example.com/docs and www.example.org.").html
        #expect(html.contains("<a href=\"https://example.com/docs\">https://example.com/docs</a>"))
        #expect(html.contains("<a href=\"http://www.example.org\">www.example.org</a>"))
    }

    @Test(arguments: [
        "<script>alert(1)</script>",
        "Hello <script>alert(1)</script> inline",
        "<img src=x onerror=alert(1)>",
        "text <img src=x onerror=\"alert(1)\"> more",
        "<div onclick=\"x()\">block</div>",
        "<iframe src=\"https://evil\"></iframe>",
    ])
    func rawHTMLIsOmitted(source: String) {
        let html = Markdown.renderHTML(source).html
        #expect(!html.contains("<script"))
        #expect(!html.contains("<img"))
        #expect(!html.contains("onerror"))
        #expect(!html.contains("onclick"))
        #expect(!html.contains("<iframe"))
        #expect(html.contains("raw HTML omitted"))
    }

    @Test(arguments: [
        "[x](javascript:alert(1))",
        "[x](JAVASCRIPT:alert(1))",
        "[x](vbscript:msgbox)",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        "<javascript:alert(1)>",
        "![y](javascript:alert(1))",
    ])
    func unsafeURLsAreNotClickable(source: String) {
        let html = Markdown.renderHTML(source).html.lowercased()
        let targets = Self.attributeValues(in: html, names: ["href", "src"])
        #expect(!targets.isEmpty, "the link or image is still rendered: \(html)")
        for target in targets {
            #expect(!target.contains("javascript:") && !target.contains("vbscript:") && !target.contains("data:"), "\(html)")
        }
    }

    /// Values of `name="…"` attributes.
    static func attributeValues(in html: String, names: [String]) -> [String] {
        var values: [String] = []
        for name in names {
            var rest = html[...]
            while let start = rest.range(of: " \(name)=\"") {
                let after = rest[start.upperBound...]
                guard let end = after.firstIndex(of: "\"") else { break }
                values.append(String(after[..<end]))
                rest = after[end...]
            }
        }
        return values
    }

    @Test func safeLinksStay() {
        let html = Markdown.renderHTML("[docs](https://example.com/a?b=1&c=2 \"T\")").html
        #expect(html.contains("<a href=\"https://example.com/a?b=1&amp;c=2\" title=\"T\">docs</a>"))
    }

    @Test func textIsEscaped() {
        let html = Markdown.renderHTML("a < b & \"c\" `<tag>`").html
        #expect(html.contains("a &lt; b &amp; &quot;c&quot; <code>&lt;tag&gt;</code>"))
    }

    @Test func headingsGetAnchorsAndPlainText() {
        let rendered = Markdown.renderHTML("""
            # Flywheel *loop* report

            ## Step 1: run `agent`

            ### Ünïcode & symbols!?
            """)
        #expect(rendered.headings == [
            Heading(level: 1, text: "Flywheel loop report", anchor: "flywheel-loop-report"),
            Heading(level: 2, text: "Step 1: run agent", anchor: "step-1-run-agent"),
            Heading(level: 3, text: "Ünïcode & symbols!?", anchor: "ünïcode--symbols"),
        ])
        #expect(rendered.html.contains("<h1 id=\"flywheel-loop-report\">Flywheel <em>loop</em> report</h1>"))
        #expect(rendered.html.contains("<h2 id=\"step-1-run-agent\">Step 1: run <code>agent</code></h2>"))
        #expect(rendered.html.contains("<h3 id=\"ünïcode--symbols\">Ünïcode &amp; symbols!?</h3>"))
    }

    @Test func duplicateHeadingSlugsAreUnique() {
        let rendered = Markdown.renderHTML("""
            # Notes
            ## Notes
            ## Notes-1
            ### Notes
            ## !!!
            ## ???
            """)
        let anchors = rendered.headings.map(\.anchor)
        #expect(anchors == ["notes", "notes-1", "notes-1-1", "notes-2", "section", "section-1"])
        #expect(Set(anchors).count == anchors.count)
        for anchor in anchors { #expect(rendered.html.contains("id=\"\(anchor)\"")) }
    }

    @Test func idPrefixIsApplied() {
        let rendered = Markdown.renderHTML("# Top\n## Top", idPrefix: "hand\"off-")
        #expect(rendered.headings.map(\.anchor) == ["handoff-top", "handoff-top-1"])
        #expect(rendered.html.contains("<h1 id=\"handoff-top\">"))
    }

    @Test func headingLikeTextInCodeIsNotTouched() {
        let rendered = Markdown.renderHTML("""
            ```
            <h2>not a heading</h2>
            ```

            ## Real
            """)
        #expect(rendered.headings.map(\.anchor) == ["real"])
        #expect(rendered.html.contains("&lt;h2&gt;not a heading&lt;/h2&gt;"))
        #expect(rendered.html.contains("<h2 id=\"real\">Real</h2>"))
    }

    @Test func emptyAndOddInputDoesNotCrash() {
        #expect(Markdown.renderHTML("").html == "")
        #expect(Markdown.renderHTML("").headings.isEmpty)
        let weird = Markdown.renderHTML("\u{0}\u{FFFD}# x\n\n#\n")
        #expect(weird.headings.map(\.anchor) == ["section"])
    }

    @Test func concurrentRenderingIsConsistent() async {
        let source = "# T\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<script>x</script>"
        let expected = Markdown.renderHTML(source)
        await withTaskGroup(of: RenderedMarkdown.self) { group in
            for _ in 0..<32 { group.addTask { Markdown.renderHTML(source) } }
            for await result in group { #expect(result == expected) }
        }
    }

    @Test func escapeHTMLEscapesAllFive() {
        #expect(Markdown.escapeHTML("<a href='x'>\"&\"</a>") == "&lt;a href=&#39;x&#39;&gt;&quot;&amp;&quot;&lt;/a&gt;")
        #expect(Markdown.escapeHTML("a\u{0}b é") == "a\u{FFFD}b é")
        #expect(Markdown.escapeHTML("plain ünïcode") == "plain ünïcode")
    }
}
