import Foundation
import Testing
import TestSupport

/// The core serves any agent: the embedded example's domain words live in its own target (FlywheelExample) and its
/// rules file, never in the core's sources, templates or site assets.
@Suite struct CoreVocabularyTests {
    static let vocabulary = #"\bNRR\b|SOC ?2|Lumora|Helix|dataroom|data room|investment[_ ]memo|risk_register|evidence_table|summary_answer|diligence|cohort_retention|parent account"#

    @Test("the core holds none of the example's vocabulary")
    func coreHasNoExampleVocabulary() throws {
        let pattern = try NSRegularExpression(pattern: Self.vocabulary, options: [.caseInsensitive])
        let roots = ["Sources/Flywheel", "Sources/FlywheelSupport", "Sources/FlywheelTraces", "Sources/FlywheelModels", "Sources/FlywheelEvals", "Sources/GitStore", "Sources/HTTP", "Sources/Markdown", "Templates", "Site"]
        var hits: [String] = []
        var scanned = 0
        for root in roots {
            let base = TestPaths.packageRoot.appendingPathComponent(root)
            guard let walker = FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil) else { continue }
            for case let url as URL in walker where ["swift", "mustache", "js", "css", "html", "md", "yaml"].contains(url.pathExtension) {
                let text = try String(contentsOf: url, encoding: .utf8)
                scanned += 1
                for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                    let l = String(line)
                    if pattern.firstMatch(in: l, range: NSRange(l.startIndex..., in: l)) != nil {
                        hits.append("\(root)/\(url.path.dropFirst(base.path.count + 1)):\(i + 1): \(l.trimmingCharacters(in: .whitespaces).prefix(100))")
                    }
                }
            }
        }
        #expect(scanned > 50, "scanned only \(scanned) files: is the package root right?")
        #expect(hits.isEmpty, "example vocabulary in the core:\n\(hits.joined(separator: "\n"))")
    }
}
