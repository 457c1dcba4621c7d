import Foundation
import Yams

/// Limits every YAML document Flywheel reads must keep (loop.yaml, harness files, task sets, suites, history files):
/// its size, its nesting depth and the number of nodes it has once aliases are expanded, so an alias bomb
/// (`a: &a [x, x]`, `b: &b [*a, *a]`, …) is refused in linear time instead of filling memory.
public enum YAMLLimits {
    /// Largest document, in bytes.
    public static let maxBytes = 16 * 1024 * 1024
    /// Deepest nesting of sequences and mappings.
    public static let maxDepth = 200
    /// Most nodes after alias expansion.
    public static let maxNodes = 1_000_000

    /// Why a document is refused.
    public struct Exceeded: Error, Sendable, CustomStringConvertible {
        public var file: String
        public var line: Int?
        public var reason: String
        public var description: String { "\(file)\(line.map { ":\($0)" } ?? ""): \(reason)" }
    }

    /// Throws ``Exceeded`` naming `file` when `text` breaks a limit. Text that is not YAML passes (the reader that
    /// follows reports the syntax error in its own words).
    public static func check(_ text: String, file: String) throws {
        let size = text.utf8.count
        if size > maxBytes {
            throw Exceeded(file: file, line: nil, reason: "the YAML is \(size) bytes, above the limit of \(maxBytes)")
        }
        // Cheap exit: no alias and shallow indentation cannot explode.
        guard text.utf8.contains(UInt8(ascii: "*")) || text.utf8.contains(UInt8(ascii: "[")) || text.utf8.contains(UInt8(ascii: "{"))
            || size > 64 * 1024
        else { return }
        guard let node = try? Yams.compose(yaml: text) else { return }
        var count = 0
        // Explicit stack: the walk itself must not recurse deeply. Stops at the first limit, so it is linear.
        var stack: [(Node, Int)] = [(node, 1)]
        while let (n, depth) = stack.popLast() {
            count += 1
            if count > maxNodes {
                throw Exceeded(file: file, line: n.mark?.line, reason: "the YAML expands to more than \(maxNodes) nodes (an alias bomb?)")
            }
            if depth > maxDepth {
                throw Exceeded(file: file, line: n.mark?.line, reason: "the YAML nests deeper than \(maxDepth) levels")
            }
            switch n {
            case .scalar, .alias: continue
            case .sequence(let s): for c in s { stack.append((c, depth + 1)) }
            case .mapping(let m):
                for (k, v) in m {
                    stack.append((k, depth + 1))
                    stack.append((v, depth + 1))
                }
            }
        }
    }
}
