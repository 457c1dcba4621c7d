import Foundation

/// A kind of secret and the regex that finds it. When the regex has a capture group named or numbered `secretGroup`,
/// only that group is replaced (e.g. the token after `Bearer `); otherwise the whole match.
public struct RedactionPattern: Sendable, Hashable, Codable {
    /// The label in `[REDACTED:<kind>]` and in the report.
    public var kind: String
    /// An ICU/Python-compatible regex.
    public var pattern: String
    /// Capture group to replace (0 = the whole match).
    public var secretGroup: Int

    public init(kind: String, pattern: String, secretGroup: Int = 0) {
        self.kind = kind
        self.pattern = pattern
        self.secretGroup = secretGroup
    }

    /// The built-in credential patterns.
    public static let builtIn: [RedactionPattern] = [
        RedactionPattern(
            kind: "private_key",
            pattern: #"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----"#),
        RedactionPattern(kind: "github_token", pattern: #"\bgithub_pat_[A-Za-z0-9_]{20,}"#),
        RedactionPattern(kind: "github_token", pattern: #"\bgh[pousr]_[A-Za-z0-9]{30,}"#),
        RedactionPattern(
            kind: "aws_secret_access_key",
            pattern: #"(?i)(aws_?secret(?:_?access)?(?:_?key)?\\?["']?\s*(?:[:=]|=>)\s*\\?["']?)([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"#,
            secretGroup: 2),
        RedactionPattern(kind: "aws_access_key_id", pattern: #"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"#),
        RedactionPattern(kind: "api_key", pattern: #"\bsk-(?:proj-|ant-|svcacct-|admin-)?[A-Za-z0-9_\-]{16,}"#),
        RedactionPattern(kind: "bearer_token", pattern: #"(?i)\b(bearer)(\s+)([A-Za-z0-9._~+/\-]{8,}=*)"#, secretGroup: 3),
    ]
}

/// Counts of redactions per kind.
public struct RedactionReport: Sendable, Hashable, Codable {
    /// Replacements per kind.
    public var counts: [String: Int] = [:]
    public init(counts: [String: Int] = [:]) { self.counts = counts }
    /// All replacements.
    public var total: Int { counts.values.reduce(0, +) }
    public mutating func add(_ other: RedactionReport) {
        for (k, v) in other.counts { counts[k, default: 0] += v }
    }
}

/// Replaces credentials inside strings by `[REDACTED:<kind>]`: OpenAI-style `sk-…` keys, `Bearer …` tokens, AWS
/// access key ids and secret keys, GitHub tokens, PEM private keys, and any extra patterns (e.g. from loop.yaml).
/// Works on plain text, on JSON values (every string at any depth, keys included) and on whole spans.
public struct Redactor: @unchecked Sendable {
    // NSRegularExpression is immutable and thread-safe for matching.
    let rules: [(RedactionPattern, NSRegularExpression)]
    /// Per rule: literals (lowercase) one of which must occur for the rule's regex to be worth running; empty for
    /// custom patterns (always run). Most text holds no credential, so most regexes never run.
    let ruleTriggers: [[String]]

    /// Built-in patterns plus `extraPatterns`; throws ``TraceStoreError/badRegex(pattern:reason:)`` for a bad regex.
    public init(extraPatterns: [RedactionPattern] = []) throws {
        var rules: [(RedactionPattern, NSRegularExpression)] = []
        for p in RedactionPattern.builtIn + extraPatterns {
            rules.append((p, try compileRegex(p.pattern)))
        }
        self.rules = rules
        self.ruleTriggers = rules.map { Self.builtInTriggers[$0.0.pattern] ?? [] }
    }

    /// Built-in patterns plus plain regexes labelled `custom`.
    public init(extraRegexes: [String]) throws {
        try self.init(extraPatterns: extraRegexes.map { RedactionPattern(kind: "custom", pattern: $0) })
    }

    /// Literal hints of the built-in patterns, keyed by pattern.
    static let builtInTriggers: [String: [String]] = {
        var t: [String: [String]] = [:]
        let hints: [[String]] = [
            ["private key"], ["github_pat_"], ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"], ["aws_secret", "awssecret"],
            ["akia", "asia"], ["sk-"], ["bearer"],
        ]
        for (p, h) in zip(RedactionPattern.builtIn, hints) { t[p.pattern] = h }
        return t
    }()

    /// Every distinct hint, as lowercase ASCII bytes, and the rules' hints as indices into it.
    static let hintBytes: [[UInt8]] = Array(Set(builtInTriggers.values.joined())).sorted().map { Array($0.utf8) }

    /// Which hints occur in `text`, ASCII case-insensitively, in one pass over its UTF-8 bytes (no allocation for
    /// native strings; most text holds none).
    static func hintsPresent(_ text: String) -> Set<String> {
        var found = Set<String>()
        func scan(_ buf: UnsafeBufferPointer<UInt8>) {
            let n = buf.count
            var i = 0
            while i < n {
                let c = buf[i] | 0x20  // ASCII lowercase (harmless for the non-letters we compare below)
                if c == 0x70 || c == 0x67 || c == 0x61 || c == 0x73 || c == 0x62 {  // p g a s b: first bytes of the hints
                    for h in hintBytes where h[0] == c && i + h.count <= n {
                        var k = 1
                        while k < h.count {
                            let b = buf[i + k]
                            let lb = (b >= 0x41 && b <= 0x5A) ? b | 0x20 : b
                            if lb != h[k] { break }
                            k += 1
                        }
                        if k == h.count { found.insert(String(decoding: h, as: UTF8.self)) }
                    }
                }
                i += 1
            }
        }
        var text = text
        text.withUTF8 { scan($0) }
        return found
    }

    /// Redacts `text`, adding counts to `report`.
    public func redact(_ text: String, report: inout RedactionReport) -> String {
        var present: Set<String>?
        var s = text
        for (i, (p, re)) in rules.enumerated() {
            let triggers = ruleTriggers[i]
            if !triggers.isEmpty {
                if present == nil { present = Self.hintsPresent(text) }
                guard triggers.contains(where: { present!.contains($0) }) else { continue }
            }
            let ns = s as NSString
            let found = re.matches(in: s, range: NSRange(location: 0, length: ns.length))
            if found.isEmpty { continue }
            let out = NSMutableString(string: s)
            var n = 0
            for m in found.reversed() {
                let r = p.secretGroup > 0 && p.secretGroup < m.numberOfRanges ? m.range(at: p.secretGroup) : m.range
                guard r.location != NSNotFound, r.length > 0 else { continue }
                out.replaceCharacters(in: r, with: "[REDACTED:\(p.kind)]")
                n += 1
            }
            if n > 0 {
                report.counts[p.kind, default: 0] += n
                s = out as String
            }
        }
        return s
    }

    /// Redacts a string, returning the text and its report.
    public func redact(_ text: String) -> (String, RedactionReport) {
        var r = RedactionReport()
        let s = redact(text, report: &r)
        return (s, r)
    }

    /// Redacts every string (and object key) inside `value`.
    public func redact(_ value: JSONValue, report: inout RedactionReport) -> JSONValue {
        switch value {
        case .string(let s): return .string(redact(s, report: &report))
        case .array(let a): return .array(a.map { redact($0, report: &report) })
        case .object(let o):
            var out: [String: JSONValue] = [:]
            for (k, v) in o { out[redact(k, report: &report)] = redact(v, report: &report) }
            return .object(out)
        default: return value
        }
    }

    /// Redacts every string of a span (name, status message, attributes, resource, extra keys); ids and times are kept.
    public func redact(_ span: Span, report: inout RedactionReport) -> Span {
        var s = span
        s.name = redact(span.name, report: &report)
        s.status.message = redact(span.status.message, report: &report)
        s.traceState = redact(span.traceState, report: &report)
        if case .object(let o) = redact(.object(span.attributes), report: &report) { s.attributes = o }
        if case .object(let o) = redact(.object(span.resourceAttributes), report: &report) { s.resourceAttributes = o }
        if case .object(let o) = redact(.object(span.extra), report: &report) { s.extra = o }
        return s
    }

    /// Redacts many spans.
    public func redact(_ spans: [Span]) -> ([Span], RedactionReport) {
        var r = RedactionReport()
        let out = spans.map { redact($0, report: &r) }
        return (out, r)
    }
}
