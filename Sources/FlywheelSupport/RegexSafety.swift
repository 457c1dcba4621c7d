import Foundation

/// Guards against regular expressions whose matching time explodes (catastrophic backtracking, e.g. `(x+x+)+y` on
/// 40 characters takes minutes): patterns written by users (`redact.patterns`) are checked before use, and patterns
/// from eval suites run with a time limit per match.
public enum RegexSafety {
    /// A pattern refused before use.
    public struct Unsafe: Error, Sendable, CustomStringConvertible {
        /// Where the pattern came from (`redact.patterns.internal_id`, a suite path).
        public var origin: String
        public var pattern: String
        public var reason: String
        public var description: String { "\(origin): the regular expression \(quoted(pattern)) \(reason)" }
    }

    /// Longest pattern accepted, in characters.
    public static let maxPatternLength = 4096
    /// Time one match may take (suites' `regex` assertions, JSON-schema patterns).
    public static let matchTimeLimit: TimeInterval = 1

    /// Throws ``Unsafe`` when `pattern` nests an unbounded quantifier inside another (`(a+)+`, `(a*b*)*`,
    /// `(?:x+|y)+`) or is too long: the shapes whose backtracking is exponential.
    public static func check(_ pattern: String, origin: String) throws {
        if let reason = problem(pattern) { throw Unsafe(origin: origin, pattern: pattern, reason: reason) }
    }

    /// Why `pattern` is refused, or nil.
    public static func problem(_ pattern: String) -> String? {
        let c = Array(pattern.unicodeScalars)
        if c.count > maxPatternLength { return "is longer than \(maxPatternLength) characters" }
        // Per open group: does it contain an unbounded quantifier?
        var stack: [Bool] = [false]
        var i = 0
        /// Is there an unbounded quantifier at `j` (`*`, `+`, `{n,}`, `{n,m}` with m > 1)? Returns its end.
        func unboundedQuantifier(at j: Int) -> (Bool, Int) {
            guard j < c.count else { return (false, j) }
            if c[j] == "*" || c[j] == "+" { return (true, j + 1) }
            if c[j] == "{" {
                var k = j + 1
                var text = ""
                while k < c.count, c[k] != "}" { text.unicodeScalars.append(c[k]); k += 1 }
                guard k < c.count else { return (false, j) }
                let parts = text.split(separator: ",", omittingEmptySubsequences: false)
                if parts.count == 2, parts[1].isEmpty { return (true, k + 1) }
                if parts.count == 2, let hi = Int(parts[1]), hi > 1 { return (true, k + 1) }
                return (false, k + 1)
            }
            return (false, j)
        }
        while i < c.count {
            let ch = c[i]
            if ch == "\\" {
                i += 2
                let (q, end) = unboundedQuantifier(at: i)
                if q { stack[stack.count - 1] = true; i = end }
                continue
            }
            if ch == "[" {
                // Skip the class (a leading `]` or `^]` is literal).
                var k = i + 1
                if k < c.count, c[k] == "^" { k += 1 }
                if k < c.count, c[k] == "]" { k += 1 }
                while k < c.count, c[k] != "]" { k += c[k] == "\\" ? 2 : 1 }
                i = k + 1
                let (q, end) = unboundedQuantifier(at: i)
                if q { stack[stack.count - 1] = true; i = end }
                continue
            }
            if ch == "(" {
                stack.append(false)
                i += 1
                continue
            }
            if ch == ")" {
                let inner = stack.count > 1 ? stack.removeLast() : false
                i += 1
                let (q, end) = unboundedQuantifier(at: i)
                if q && inner { return "repeats a group that itself holds a repetition (like (a+)+): matching can take exponential time" }
                if q || inner { stack[stack.count - 1] = true }
                if q { i = end }
                continue
            }
            let (q, end) = unboundedQuantifier(at: i + 1)
            if q { stack[stack.count - 1] = true; i = end } else { i += 1 }
        }
        return nil
    }

    /// The first match of `regex` in `text` (within `range`), giving up after `limit` seconds.
    /// - Returns: `.some(match or nil)` when the search finished, `nil` when it ran out of time.
    public static func firstMatch(
        _ regex: NSRegularExpression, in text: String, range: NSRange, limit: TimeInterval = matchTimeLimit
    ) -> NSTextCheckingResult?? {
        let deadline = Date().addingTimeInterval(limit)
        var found: NSTextCheckingResult?
        var timedOut = false
        regex.enumerateMatches(in: text, options: [.reportProgress], range: range) { m, _, stop in
            if let m {
                found = m
                stop.pointee = true
            } else if Date() > deadline {
                timedOut = true
                stop.pointee = true
            }
        }
        return timedOut ? .none : .some(found)
    }

    /// Every match of `regex` in `text`, or nil when the search ran longer than `limit` seconds.
    public static func matches(
        _ regex: NSRegularExpression, in text: String, range: NSRange, limit: TimeInterval
    ) -> [NSTextCheckingResult]? {
        let deadline = Date().addingTimeInterval(limit)
        var found: [NSTextCheckingResult] = []
        var timedOut = false
        regex.enumerateMatches(in: text, options: [.reportProgress], range: range) { m, _, stop in
            if let m { found.append(m) } else if Date() > deadline {
                timedOut = true
                stop.pointee = true
            }
        }
        return timedOut ? nil : found
    }
}
