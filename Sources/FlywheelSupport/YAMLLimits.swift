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
    /// Most nodes after alias expansion, for a small document (see ``nodeBudget(_:bytes:)``).
    public static let maxNodes = 1_000_000

    /// The node limit of a document of `bytes` bytes: `base`, plus one node per two bytes. Written-out YAML takes at
    /// least two bytes a node (`[a,a,…]`), so an honest document of any allowed size fits, while a small file that
    /// expands through aliases is still stopped near `base`.
    public static func nodeBudget(_ base: Int, bytes: Int) -> Int { base + bytes / 2 }

    /// Why a document is refused.
    public struct Exceeded: Error, Sendable, CustomStringConvertible {
        public var file: String
        public var line: Int?
        /// The top-level key the limit was hit under ("" at the top).
        public var key: String = ""
        public var reason: String
        public var description: String { "\(file)\(line.map { ":\($0)" } ?? ""): \(reason)" }
    }

    /// Throws ``Exceeded`` naming `file` when `text` breaks a limit. Text that is not YAML passes (the reader that
    /// follows reports the syntax error in its own words).
    public static func check(_ text: String, file: String) throws {
        try check(text, file: file, maxNodes: nodeBudget(maxNodes, bytes: text.utf8.count), maxDepth: maxDepth)
    }

    /// ``check(_:file:)`` with other node and depth limits (a suite's); `maxNodes` is the limit for this very text.
    public static func check(_ text: String, file: String, maxNodes: Int, maxDepth: Int) throws {
        let size = text.utf8.count
        if size > maxBytes {
            throw Exceeded(file: file, line: nil, key: "", reason: "the YAML is \(size) bytes, above the limit of \(maxBytes)")
        }
        // Cheap exit: no alias and shallow indentation cannot explode.
        guard text.utf8.contains(UInt8(ascii: "*")) || text.utf8.contains(UInt8(ascii: "[")) || text.utf8.contains(UInt8(ascii: "{"))
            || size > 64 * 1024
        else { return }
        guard let node = try? Yams.compose(yaml: text) else { return }
        var count = 0
        // Explicit stack, in document order: the walk itself must not recurse deeply, and it stops at the first limit,
        // so it is linear. Each node carries the top-level key it is under (for the message).
        var stack: [(Node, Int, String)] = [(node, 1, "")]
        while let (n, depth, key) = stack.popLast() {
            count += 1
            if count > maxNodes {
                throw Exceeded(file: file, line: n.mark?.line, key: key, reason: "the YAML expands to more than \(maxNodes) nodes (an alias bomb?)")
            }
            if depth > maxDepth {
                throw Exceeded(file: file, line: n.mark?.line, key: key, reason: "nesting deeper than \(maxDepth) levels")
            }
            switch n {
            case .scalar, .alias: continue
            case .sequence(let s): for c in s.reversed() { stack.append((c, depth + 1, key)) }
            case .mapping(let m):
                for (k, v) in m.reversed() {
                    let top = depth == 1 ? (k.string ?? "") : key
                    stack.append((v, depth + 1, top))
                    stack.append((k, depth + 1, top))
                }
            }
        }
    }
}
