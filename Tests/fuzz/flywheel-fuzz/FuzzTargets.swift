import Flywheel
import Foundation
import Markdown

/// The fuzz targets: each takes arbitrary bytes and must neither crash nor break its invariant.
enum FuzzTargets {
    static let names = ["trace-line", "suite", "markdown", "otlp"]

    /// Runs `target` on `data`; an invariant that fails stops the process (a crash for the fuzzer to report).
    static func run(_ target: String, _ data: Data) {
        switch target {
        case "trace-line": traceLine(data)
        case "suite": suite(data)
        case "markdown": markdown(data)
        case "otlp": otlp(data)
        default: fatalError("unknown fuzz target \(target); known: \(names.joined(separator: ", "))")
        }
    }

    /// The trace line scanner (JSONScanner, LineAnalyzer) through the validator; `validate` and `import` agree:
    /// whatever validates without errors imports.
    static func traceLine(_ data: Data) {
        let report = TraceValidator.validate(data: data, name: "fuzz.jsonl")
        let imported = try? TraceImporter.importData(data, name: "fuzz.jsonl", format: .halo)
        if report.ok, !data.isEmpty, imported == nil {
            fatalError("validate said OK but import refused: \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
        if let imported { _ = try? TraceStore(data: imported.normalizedData) }
        if let line = data.split(separator: 0x0A).first { _ = try? line.withUnsafeBytes { try Span(line: $0) } }
    }

    /// The suite loader (EvalYAML, EvalSuiteLoader).
    static func suite(_ data: Data) {
        let text = String(decoding: data, as: UTF8.self)
        _ = try? EvalSuite.parse(yaml: text, file: URL(fileURLWithPath: "/nonexistent/fuzz/promptfooconfig.yaml"))
        _ = try? YAMLLimits.check(text, file: "fuzz.yaml")
    }

    /// The Markdown renderer: never a raw tag from the input in the HTML.
    static func markdown(_ data: Data) {
        let text = String(decoding: data, as: UTF8.self)
        let html = Markdown.renderHTML(text, idPrefix: "f-").html.lowercased()
        for tag in ["<script", "<iframe", "<img", "<style", "<object", "<svg", "<a href=\"javascript:"] where html.contains(tag) {
            fatalError("raw HTML passed through: \(tag) in \(html.prefix(300))")
        }
    }

    /// OTLP/JSON decoding.
    static func otlp(_ data: Data) {
        _ = try? decodeOTLPJSON(data)
        _ = try? TraceImporter.importData(data, name: "fuzz.json", format: .otlpJSON)
    }
}
