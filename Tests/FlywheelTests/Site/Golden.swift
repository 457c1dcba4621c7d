import Foundation
import Testing
import TestSupport

/// Golden-file comparison: `RECORD_GOLDENS=1` rewrites the baseline (and fails with "recorded new baseline").
enum Golden {
    static var directory: URL { TestPaths.packageRoot.appendingPathComponent("Tests/FlywheelTests/Golden", isDirectory: true) }

    static func check(_ actual: String, named name: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let url = directory.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["RECORD_GOLDENS"] == "1" {
            try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try? Data(actual.utf8).write(to: url)
            Issue.record("recorded new baseline \(name)", sourceLocation: sourceLocation)
            return
        }
        guard let expected = try? String(contentsOf: url, encoding: .utf8) else {
            Issue.record("missing golden \(name): run with RECORD_GOLDENS=1", sourceLocation: sourceLocation)
            return
        }
        if expected != actual {
            Issue.record(Comment(rawValue: "golden \(name) differs:\n" + lineDiff(expected, actual)), sourceLocation: sourceLocation)
        }
    }

    /// The first differing lines with a little context (expected `-`, actual `+`).
    static func lineDiff(_ a: String, _ b: String, limit: Int = 12) -> String {
        let la = a.components(separatedBy: "\n"), lb = b.components(separatedBy: "\n")
        var out: [String] = []
        var i = 0
        while i < max(la.count, lb.count), out.count < limit * 3 {
            let x = i < la.count ? la[i] : nil, y = i < lb.count ? lb[i] : nil
            if x != y {
                if i > 0, out.isEmpty { out.append("  \(i): \(la[i - 1].prefix(200))") }
                if let x { out.append("- \(i + 1): \(x.prefix(300))") }
                if let y { out.append("+ \(i + 1): \(y.prefix(300))") }
            }
            i += 1
        }
        if la.count != lb.count { out.append("(expected \(la.count) lines, got \(lb.count))") }
        return out.joined(separator: "\n")
    }
}
