import FlywheelSupport
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

    /// The built-in credential patterns (formats after gitleaks' and trufflehog's rules). A secret glued to a
    /// word (`OPENAI_sk-…`, `key=ghp_…`) is found too: the patterns look behind for a letter or digit, not `\b`.
    public static let builtIn: [RedactionPattern] = builtInTable.map(\.0)

    /// Each built-in pattern with the literals (lowercase) one of which every match contains.
    static let builtInTable: [(RedactionPattern, [String])] = [
        (RedactionPattern(
            kind: "private_key",
            pattern: #"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----"#), ["private key"]),
        // A PEM key cut off before its END line: the header and every base64 line after it (real newlines or `\n`).
        (RedactionPattern(
            kind: "private_key",
            pattern: #"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?:(?:\s|\\[rn])+(?:[A-Za-z-]+: [^\r\n\\]*|[A-Za-z0-9+/=]{16,}))*"#), ["private key"]),
        (RedactionPattern(kind: "github_token", pattern: #"(?<![A-Za-z0-9])github_pat_[A-Za-z0-9_]{20,}"#), ["github_pat_"]),
        (RedactionPattern(kind: "github_token", pattern: #"(?<![A-Za-z0-9])gh[pousr]_[A-Za-z0-9]{30,}"#), ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]),
        (RedactionPattern(
            kind: "aws_secret_access_key",
            pattern: #"(?i)(aws_?secret(?:_?access)?(?:_?key)?\\?["']?\s*(?:[:=]|=>)\s*\\?["']?)([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"#,
            secretGroup: 2), ["aws_secret", "awssecret"]),
        (RedactionPattern(kind: "gitlab_token", pattern: #"(?<![A-Za-z0-9])gl(?:pat|ptt|rt)-[0-9A-Za-z_\-]{20,}"#), ["glpat-", "glptt-", "glrt-"]),
        (RedactionPattern(kind: "aws_access_key_id", pattern: #"(?<![A-Za-z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])"#), ["akia", "asia"]),
        (RedactionPattern(kind: "stripe_key", pattern: #"(?<![A-Za-z0-9])[sr]k_(?:live|test)_[0-9A-Za-z]{10,}"#), ["k_live_", "k_test_"]),
        (RedactionPattern(kind: "api_key", pattern: #"(?<![A-Za-z0-9])sk-(?:proj-|ant-|svcacct-|admin-)?[A-Za-z0-9_\-]{16,}"#), ["sk-"]),
        (RedactionPattern(kind: "google_api_key", pattern: #"(?<![A-Za-z0-9])AIza[0-9A-Za-z_\-]{35}(?![A-Za-z0-9_\-])"#), ["aiza"]),
        (RedactionPattern(kind: "slack_token", pattern: #"(?<![A-Za-z0-9])xox[abposr]-[0-9A-Za-z\-]{10,}"#), ["xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-"]),
        (RedactionPattern(kind: "huggingface_token", pattern: #"(?<![A-Za-z0-9])hf_[A-Za-z0-9]{30,}"#), ["hf_"]),
        // user:password@ in a URL (postgres://u:pw@host, https://u:pw@host): the password only.
        (RedactionPattern(
            kind: "url_password", pattern: #"(?i)(?<![A-Za-z0-9+.\-])([a-z][a-z0-9+.\-]{0,30}://[^\s:/@"'<>]{1,256}:)([^\s/@"'<>]{1,256})@"#,
            secretGroup: 2), ["://"]),
        (RedactionPattern(kind: "bearer_token", pattern: #"(?i)\b(bearer)(\s+)([A-Za-z0-9._~+/\-]{8,}=*)"#, secretGroup: 3), ["bearer"]),
        // `Basic <base64 of user:password>`; a word after "basic" ("basic understanding") has no digit, + / or =.
        (RedactionPattern(
            kind: "basic_auth", pattern: #"(?i)\b(basic)(\s+)((?=[A-Za-z0-9+/]{0,512}[0-9+/=])[A-Za-z0-9+/]{8,}={0,2})(?![A-Za-z0-9+/=])"#,
            secretGroup: 3), ["basic"]),
        (RedactionPattern(
            kind: "jwt", pattern: #"(?<![A-Za-z0-9_\-])ey[A-Za-z0-9_\-]{10,}\.ey[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]*"#), [".ey"]),
        (RedactionPattern(
            kind: "api_key_header",
            pattern: #"(?i)(?<![A-Za-z0-9])((?:x-)?api[-_]?key\\?["']?\s*[:=]\s*\\?["']?)(?!\[REDACTED)([A-Za-z0-9._~+/\-]{12,})"#,
            secretGroup: 2), ["api-key", "api_key", "apikey"]),
        // password=…, passwd: …, secret = "…" (the value only).
        (RedactionPattern(
            kind: "password",
            pattern: #"(?i)(?<![A-Za-z0-9])((?:password|passwd|pwd|secret|client_secret)\\?["']?\s*(?:[:=]|=>)\s*\\?["']?)(?!\[REDACTED)([^\s"'\\&,;<>]{4,})"#,
            secretGroup: 2), ["password", "passwd", "pwd", "secret"]),
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

/// Which span lines a redactor may change, as a look at their raw bytes can tell (the scan's
/// ``TraceValidationOptions/importPlan``, for `traces import`).
public enum RedactionScreen: Sendable, Hashable {
    /// No redactor: no line is redacted.
    case none
    /// Built-in rules only: a line may be redacted only when ``Redactor/mayFindSecrets(inJSON:)`` says so.
    case builtInHints
    /// Custom rules (they have no hints): every line may be.
    case everything

    /// Whether a redactor so screened may change the span line `raw` (one the scan accepted).
    /// - Parameter predicted: the line's ``SpanLineNormalizer/predictedLength(_:)`` was not nil, so the line holds no
    ///   `\u` or `\/` escape (the prediction declines those) and only the hints are left to look for.
    @inline(__always) func mayRedact(_ raw: UnsafeRawBufferPointer, predicted: Bool) -> Bool {
        switch self {
        case .none: false
        case .everything: true
        case .builtInHints:
            predicted ? Redactor.containsHint(raw.bindMemory(to: UInt8.self)) : Redactor.mayFindBuiltInSecrets(inJSON: raw)
        }
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

    /// Built-in patterns plus `extraPatterns`; throws ``TraceStoreError/badRegex(pattern:reason:)`` for a bad regex,
    /// and ``RegexSafety/Unsafe`` for a pattern whose matching time can explode (nested quantifiers).
    public init(extraPatterns: [RedactionPattern] = []) throws {
        var rules: [(RedactionPattern, NSRegularExpression)] = []
        for p in RedactionPattern.builtIn { rules.append((p, try compileRegex(p.pattern))) }
        for p in extraPatterns {
            try RegexSafety.check(p.pattern, origin: "redact.patterns.\(p.kind)")
            rules.append((p, try compileRegex(p.pattern)))
        }
        self.rules = rules
        self.ruleTriggers = rules.indices.map { $0 < RedactionPattern.builtInTable.count ? RedactionPattern.builtInTable[$0].1 : [] }
    }

    /// Built-in patterns plus plain regexes labelled `custom`.
    public init(extraRegexes: [String]) throws {
        try self.init(extraPatterns: extraRegexes.map { RedactionPattern(kind: "custom", pattern: $0) })
    }

    /// Every distinct hint, as lowercase ASCII bytes.
    static let hintBytes: [[UInt8]] = Array(Set(RedactionPattern.builtInTable.flatMap(\.1))).sorted().map { Array($0.utf8) }
    /// Per first byte (lowercase): the hints starting with it.
    static let hintsByFirstByte: [[Int]] = {
        var t = [[Int]](repeating: [], count: 256)
        for (i, h) in hintBytes.enumerated() { t[Int(h[0])].append(i) }
        return t
    }()

    /// Calls `found(hint, offset)` for every hint occurrence in `buf`, ASCII case-insensitively, in one pass: the
    /// hints are compared only where ``hintFilter`` says one may start.
    static func scanHints(_ buf: UnsafeBufferPointer<UInt8>, _ found: (Int, Int) -> Void) {
        guard let p = buf.baseAddress else { return }
        let n = buf.count
        let filter = hintFilter
        var i = filter.candidate(p, from: 0, count: n)
        while i < n {
            for hi in hintsByFirstByte[Int(lowercase[Int(p[i])])] where matches(hintBytes[hi], p, at: i, count: n) {
                found(hi, i)
            }
            i = filter.candidate(p, from: i + 1, count: n)
        }
    }

    /// Whether redacting the values decoded from the JSON text `raw` (a span's line) could change anything. False
    /// only when every rule is a built-in one and no built-in hint occurs in `raw` while no escape that could spell
    /// one (`\u…`, `\/`) does either: every string decoded from `raw` then lacks every hint, so the per-rule
    /// prefilter of ``redact(_:report:)`` skips every rule and the text comes back unchanged. Custom patterns always
    /// run (they have no hints).
    public func mayFindSecrets(inJSON raw: UnsafeRawBufferPointer) -> Bool {
        if rules.count > RedactionPattern.builtInTable.count { return true }
        return Self.mayFindBuiltInSecrets(inJSON: raw)
    }

    /// How a scan can screen span lines for this redactor (``RedactionScreen``).
    public var screen: RedactionScreen { rules.count > RedactionPattern.builtInTable.count ? .everything : .builtInHints }

    /// ``mayFindSecrets(inJSON:)`` of a redactor with the built-in rules only.
    static func mayFindBuiltInSecrets(inJSON raw: UnsafeRawBufferPointer) -> Bool {
        let bytes = raw.bindMemory(to: UInt8.self)
        // An escape that could spell a hint's character.
        var p = 0
        let n = bytes.count
        while p < n, let base = bytes.baseAddress, let hit = memchr(base + p, 0x5C, n - p) {
            let i = UnsafePointer<UInt8>(hit.assumingMemoryBound(to: UInt8.self)) - base
            if i + 1 < n, bytes[i + 1] == UInt8(ascii: "u") || bytes[i + 1] == UInt8(ascii: "/") { return true }
            p = i + 2  // the escaped character is consumed with its backslash
        }
        return Self.containsHint(bytes)
    }

    /// ASCII lowercase of each byte.
    static let lowercase: [UInt8] = (0..<256).map { (b: Int) -> UInt8 in
        let byte = UInt8(b)
        return byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
    }

    /// Where a hint may start (its first three bytes, any case).
    static let hintFilter = StartFilter(hintBytes)

    /// Whether any hint occurs in `buf` (ASCII case-insensitively): ``scanHints(_:_:)``'s answer to "any at all".
    /// The hints are compared only where ``hintFilter`` says one may start (16 positions are ruled out at a time).
    static func containsHint(_ buf: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let p = buf.baseAddress else { return false }
        let n = buf.count
        let filter = hintFilter
        var i = filter.candidate(p, from: 0, count: n)
        while i < n {
            for hi in hintsByFirstByte[Int(lowercase[Int(p[i])])] where matches(hintBytes[hi], p, at: i, count: n) {
                return true
            }
            i = filter.candidate(p, from: i + 1, count: n)
        }
        return false
    }

    /// Whether `hint` (lowercase) starts at `i` of the `n` bytes at `p`, ASCII case-insensitively.
    @inline(__always) static func matches(_ hint: [UInt8], _ p: UnsafePointer<UInt8>, at i: Int, count n: Int) -> Bool {
        guard i + hint.count <= n else { return false }
        var k = 0
        while k < hint.count, lowercase[Int(p[i + k])] == hint[k] { k += 1 }
        return k == hint.count
    }

    /// Which hints occur in `text` (no allocation for native strings; most text holds none).
    static func hintsPresent(_ text: String) -> Set<String> {
        var found = Set<Int>()
        var text = text
        text.withUTF8 { scanHints($0) { h, _ in found.insert(h) } }
        return Set(found.map { String(decoding: hintBytes[$0], as: UTF8.self) })
    }

    /// Time a `redact.patterns` regex may take over one text before the text is withheld whole.
    static let customPatternTimeLimit: TimeInterval = 5

    /// Texts longer than this are redacted in windows around the built-in patterns' hints (linear time).
    static let windowThreshold = 1 << 16
    /// Bytes before / after a hint a window spans (longer than any built-in secret).
    static let windowBefore = 1024
    static let windowAfter = 32 * 1024

    /// Redacts `text`, adding counts to `report`. Linear in the text's length for the built-in patterns: a long text
    /// is matched only in windows around the places its hints occur.
    public func redact(_ text: String, report: inout RedactionReport) -> String {
        let builtInCount = RedactionPattern.builtInTable.count
        if text.utf8.count <= Self.windowThreshold {
            return redact(text, rules: rules.indices, report: &report)
        }
        // Windows around hints, merged, on UTF-8 scalar boundaries.
        var utf8 = Array(text.utf8)
        var windows: [Range<Int>] = []
        utf8.withUnsafeBufferPointer { buf in
            Self.scanHints(buf) { _, off in
                var lo = max(0, off - Self.windowBefore), hi = min(buf.count, off + Self.windowAfter)
                while lo > 0, buf[lo] & 0xC0 == 0x80 { lo -= 1 }
                while hi < buf.count, buf[hi] & 0xC0 == 0x80 { hi += 1 }
                if let last = windows.last, lo <= last.upperBound {
                    windows[windows.count - 1] = last.lowerBound..<max(last.upperBound, hi)
                } else {
                    windows.append(lo..<hi)
                }
            }
        }
        if !windows.isEmpty {
            var out: [UInt8] = []
            out.reserveCapacity(utf8.count)
            var pos = 0
            for w in windows {
                out.append(contentsOf: utf8[pos..<w.lowerBound])
                let piece = String(decoding: utf8[w], as: UTF8.self)
                out.append(contentsOf: redact(piece, rules: 0..<builtInCount, report: &report).utf8)
                pos = w.upperBound
            }
            out.append(contentsOf: utf8[pos...])
            utf8 = out
        }
        var s = windows.isEmpty ? text : String(decoding: utf8, as: UTF8.self)
        if rules.count > builtInCount { s = redact(s, rules: builtInCount..<rules.count, report: &report) }
        return s
    }

    /// Runs the rules at `indices` over the whole of `text`.
    private func redact(_ text: String, rules indices: Range<Int>, report: inout RedactionReport) -> String {
        var present: Set<String>?
        var s = text
        for i in indices {
            let (p, re) = rules[i]
            let triggers = ruleTriggers[i]
            if !triggers.isEmpty {
                if present == nil { present = Self.hintsPresent(text) }
                guard triggers.contains(where: { present!.contains($0) }) else { continue }
            }
            let ns = s as NSString
            let found: [NSTextCheckingResult]
            if i < RedactionPattern.builtInTable.count {
                found = re.matches(in: s, range: NSRange(location: 0, length: ns.length))
            } else if let m = RegexSafety.matches(re, in: s, range: NSRange(location: 0, length: ns.length), limit: Self.customPatternTimeLimit) {
                found = m
            } else {
                // A user pattern that ran out of time: the whole text goes, rather than risk leaking it.
                report.counts[p.kind, default: 0] += 1
                return "[REDACTED:\(p.kind):timeout]"
            }
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

    /// Redacts bytes of any encoding: UTF-8 as text; UTF-16 (with a byte-order mark, or mostly ASCII with every
    /// other byte zero) decoded, redacted and re-encoded; anything else (an invalid byte, Latin-1, binary) byte for
    /// byte, so a file with one bad byte is still redacted. Bytes are returned unchanged when nothing was found.
    public func redact(bytes: Data, report: inout RedactionReport) -> Data {
        if bytes.isEmpty { return bytes }
        var data = bytes
        // UTF-16 first: its ASCII is valid UTF-8 too, with a zero between letters that no pattern matches. A file
        // that only looks like UTF-16 (a stray FF FE) still gets the passes below.
        if let (text, encoding, bom) = Self.decodeUTF16(data) {
            var r = RedactionReport()
            let out = redact(text, report: &r)
            if r.total > 0, let encoded = out.data(using: encoding) {
                report.add(r)
                data = bom + encoded
            }
        }
        if let text = String(data: data, encoding: .utf8) {
            var r = RedactionReport()
            let out = redact(text, report: &r)
            if r.total == 0 { return data }
            report.add(r)
            return Data(out.utf8)
        }
        // Byte for byte: each byte one scalar (U+0000…U+00FF), so the ASCII patterns match and nothing is lost. A
        // large blob is matched only in windows around the built-in patterns' hints, as long text is.
        let builtInCount = RedactionPattern.builtInTable.count
        var result = data
        var r = RedactionReport()
        if data.count > Self.windowThreshold {
            var windows: [Range<Int>] = []
            data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                Self.scanHints(raw.bindMemory(to: UInt8.self)) { _, off in
                    let lo = max(0, off - Self.windowBefore), hi = min(raw.count, off + Self.windowAfter)
                    if let last = windows.last, lo <= last.upperBound {
                        windows[windows.count - 1] = last.lowerBound..<max(last.upperBound, hi)
                    } else {
                        windows.append(lo..<hi)
                    }
                }
            }
            if !windows.isEmpty {
                var out = Data()
                out.reserveCapacity(data.count)
                var pos = 0
                for w in windows {
                    out.append(data[(data.startIndex + pos)..<(data.startIndex + w.lowerBound)])
                    let piece = Self.latin1String(data[(data.startIndex + w.lowerBound)..<(data.startIndex + w.upperBound)])
                    out.append(Self.latin1Bytes(redact(piece, rules: 0..<builtInCount, report: &r)))
                    pos = w.upperBound
                }
                out.append(data[(data.startIndex + pos)...])
                result = out
            }
            if rules.count > builtInCount {
                result = Self.latin1Bytes(redact(Self.latin1String(result), rules: builtInCount..<rules.count, report: &r))
            }
        } else {
            result = Self.latin1Bytes(redact(Self.latin1String(data), rules: rules.indices, report: &r))
        }
        if r.total == 0 { return data }
        report.add(r)
        return result
    }

    /// Each byte as one scalar U+0000…U+00FF.
    static func latin1String(_ bytes: Data) -> String {
        String(data: bytes, encoding: .isoLatin1) ?? String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
    }

    /// Back to bytes: scalars below U+0100 as one byte each (the original bytes), others (replacement labels) as UTF-8.
    static func latin1Bytes(_ text: String) -> Data {
        if let d = text.data(using: .isoLatin1) { return d }
        var result = Data()
        result.reserveCapacity(text.utf8.count)
        for u in text.unicodeScalars {
            if u.value < 0x100 { result.append(UInt8(u.value)) } else { result.append(contentsOf: Array(String(u).utf8)) }
        }
        return result
    }

    /// Redacts bytes, returning them and the report.
    public func redact(bytes: Data) -> (Data, RedactionReport) {
        var r = RedactionReport()
        let out = redact(bytes: bytes, report: &r)
        return (out, r)
    }

    /// UTF-16 text: by its byte-order mark, or (without one) when at least 40% of the odd or even bytes are zero.
    static func decodeUTF16(_ bytes: Data) -> (String, String.Encoding, Data)? {
        let b = [UInt8](bytes.prefix(2))
        if b == [0xFF, 0xFE] || b == [0xFE, 0xFF] {
            let enc: String.Encoding = b[0] == 0xFF ? .utf16LittleEndian : .utf16BigEndian
            guard let s = String(data: bytes.dropFirst(2), encoding: enc) else { return nil }
            return (s, enc, Data(b))
        }
        guard bytes.count >= 4, bytes.count % 2 == 0 else { return nil }
        var zeroEven = 0, zeroOdd = 0
        for (i, x) in bytes.enumerated() where x == 0 { if i % 2 == 0 { zeroEven += 1 } else { zeroOdd += 1 } }
        let half = bytes.count / 2
        let enc: String.Encoding
        if zeroOdd * 10 >= half * 4 { enc = .utf16LittleEndian } else if zeroEven * 10 >= half * 4 { enc = .utf16BigEndian } else { return nil }
        guard let s = String(data: bytes, encoding: enc) else { return nil }
        return (s, enc, Data())
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

    /// An id (trace, span, feedback) that holds a secret becomes `redacted-<kind>-<12 hex digits of its SHA-256>`:
    /// still distinct and stable (spans of one trace keep one id), but the secret is gone. Other ids are kept.
    public func redactID(_ id: String, report: inout RedactionReport) -> String {
        var r = RedactionReport()
        _ = redact(id, report: &r)
        guard r.total > 0 else { return id }
        report.add(r)
        return "redacted-\(r.counts.keys.sorted().first ?? "secret")-\(StableHash.short(id, 12))"
    }

    /// Redacts every string of a span (name, status message, attributes, resource, extra keys) and any id that
    /// holds a secret (``redactID(_:report:)``); times are kept.
    public func redact(_ span: Span, report: inout RedactionReport) -> Span {
        var s = span
        s.traceID = redactID(span.traceID, report: &report)
        s.spanID = redactID(span.spanID, report: &report)
        s.parentSpanID = redactID(span.parentSpanID, report: &report)
        s.name = redact(span.name, report: &report)
        s.status.message = redact(span.status.message, report: &report)
        s.traceState = redact(span.traceState, report: &report)
        if case .object(let o) = redact(.object(span.attributes), report: &report) { s.attributes = o.dictionary }
        if case .object(let o) = redact(.object(span.resourceAttributes), report: &report) { s.resourceAttributes = o.dictionary }
        if case .object(let o) = redact(.object(span.extra), report: &report) { s.extra = o.dictionary }
        return s
    }

    /// Redacts many spans.
    public func redact(_ spans: [Span]) -> ([Span], RedactionReport) {
        var r = RedactionReport()
        let out = spans.map { redact($0, report: &r) }
        return (out, r)
    }
}
