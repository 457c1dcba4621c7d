import FlywheelSupport
import FlywheelTraces
import Foundation

/// What kind of root cause an error message names, from its key tokens. Messages of one tool that name the same
/// kind are one cause however they are worded ("page_limit 87 exceeds maximum 25" and "parameter 'limit' must be
/// <= 25 (got 60)" are both `limit`).
enum ErrorClass: String, Sendable, Hashable, CaseIterable {
    case limit, notFound = "not-found", timeout, permission = "permission-denied", other

    var verb: String {
        switch self {
        case .limit: return "rejects arguments above its limits"
        case .notFound: return "cannot find what it is asked for"
        case .timeout: return "times out"
        case .permission: return "is denied permission"
        case .other: return "fails"
        }
    }

    var short: String {
        switch self {
        case .limit: return "arguments above its limits"
        case .notFound: return "not found errors"
        case .timeout: return "timeouts"
        case .permission: return "permission denied"
        case .other: return "errors"
        }
    }

    var category: String {
        switch self {
        case .limit: return "tool-limit"
        case .notFound: return "tool-not-found"
        case .timeout: return "tool-timeout"
        case .permission: return "tool-permission"
        case .other: return "tool-error"
        }
    }
}

/// Causes that are not a tool's own: the provider's context window and rate limits, and arguments the model could
/// not write as JSON. Each is one failure mode across every tool and step.
enum GlobalErrorClass: String, Sendable, Hashable { case contextOverflow, rateLimit, invalidArguments }

/// Normalises error messages into templates and names their root-cause class.
enum ErrorText {
    static func regex(_ p: String) -> NSRegularExpression { try! NSRegularExpression(pattern: p, options: [.caseInsensitive]) }

    static let contextOverflow = regex(
        #"context_length_exceeded|maximum context length|context (?:window|length) (?:exceeded|is exceeded|limit)|exceeds? (?:the )?(?:model'?s? )?(?:maximum )?context|too many tokens|prompt is too long|input is too long|reduce the length of the (?:messages|prompt|input)|(?:input|prompt) tokens? exceed"#)
    static let rateLimit = regex(#"rate[ _-]?limit|too many requests|\b429\b|quota exceeded|exceeded (?:your |the )?(?:current )?quota|resource[_ ]exhausted|throttl|requests per minute|tokens per minute"#)
    static let invalidArguments = regex(
        #"invalid json|json ?decode|jsondecodeerror|expecting (?:value|property name|',' delimiter)|unterminated string|malformed (?:json|arguments)|(?:could not|cannot|failed to|unable to) (?:parse|decode) (?:the )?(?:tool )?(?:call )?arguments|unexpected (?:token|end of (?:json|input))|not valid json|arguments (?:are|is) not (?:valid )?json"#)
    static let timeout = regex(#"timed? ?out|timeout|deadline exceeded|took too long|time ?limit exceeded|exceeded (?:the |its )?time ?limit"#)
    static let limit = regex(
        #"exceeds?(?: the)?(?: allowed)? (?:max|limit|allowed|maximum)|must be (?:<=|<|less than|at most|no (?:more|greater|larger) than|smaller than|below|between|in range)|too (?:large|long|many|big)|out of range|greater than (?:the )?max|(?:max|maximum|limit) exceeded|above (?:the )?(?:max|limit)|must not exceed|cannot exceed|over the limit|maximum (?:allowed|is|of)|\bmax(?:imum)? \d|<= ?\d|at most \d"#)
    static let notFound = regex(
        #"not found|no such|does not exist|doesn'?t exist|\b404\b|could not find|cannot find|can't find|unknown (?:id|file|path|record|key|user|item|entity|resource)|no (?:record|result|match|entry)(?:es|s)? (?:found|for)"#)
    static let permission = regex(#"permission denied|forbidden|\b403\b|unauthori[sz]ed|\b401\b|access denied|not permitted|insufficient (?:permissions?|privileges|scope)|eacces"#)

    static func test(_ r: NSRegularExpression, _ s: String) -> Bool { r.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil }

    static func globalClass(_ text: String) -> GlobalErrorClass? {
        if test(contextOverflow, text) { return .contextOverflow }
        if test(rateLimit, text) { return .rateLimit }
        if test(invalidArguments, text) { return .invalidArguments }
        return nil
    }

    static func errorClass(_ text: String) -> ErrorClass {
        if test(timeout, text) { return .timeout }
        if test(limit, text) { return .limit }
        if test(notFound, text) { return .notFound }
        if test(permission, text) { return .permission }
        return .other
    }

    static let templateRules: [(NSRegularExpression, String)] = [
        (#"'[^']*'|"[^"]*"|`[^`]*`|“[^”]*”"#, "<q>"),
        (#"\b\d{4}-\d{2}-\d{2}[t ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:z|[+-]\d{2}:?\d{2})?"#, "<ts>"),
        (#"\bhttps?://\S+"#, "<url>"),
        (#"[\w.+-]+@[\w-]+\.[\w.-]+"#, "<email>"),
        (#"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"#, "<id>"),
        (#"(?<![\w/])(?:[\w.-]+/)+[\w.-]*|[\w-]+\.(?:csv|md|json|jsonl|yaml|yml|txt|pdf|xlsx|py|swift|js|ts|html|log)\b"#, "<path>"),
        (#"\b(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b"#, "<id>"),
        (#"\b[a-z]+[-_]?\d[\w-]*\b"#, "<id>"),
        (#"\d+(?:\.\d+)?"#, "<n>"),
        (#"\s+"#, " "),
    ].map { (regex($0.0), $0.1) }

    /// Lowercased error text with quoted values, timestamps, URLs, ids, paths and numbers replaced by placeholders.
    static func template(_ text: String) -> String {
        var s = text.lowercased()
        for (r, replacement) in templateRules {
            s = r.stringByReplacingMatches(in: s, range: NSRange(s.startIndex..., in: s), withTemplate: replacement)
        }
        s = s.trimmingCharacters(in: .whitespaces)
        return s.count > 120 ? String(s.prefix(120)) : s
    }

    /// The exception type named by the span (`error.type` / `exception.type`) or leading the message
    /// (`ValidationError: …`).
    static let typePrefix = regex(#"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Fault|Timeout|Failure))\b"#)
    static func exceptionType(_ span: Span, _ detail: String) -> String? {
        if let t = span.attributes["error.type"]?.stringValue ?? span.attributes["exception.type"]?.stringValue, !t.isEmpty { return t }
        guard let m = typePrefix.firstMatch(in: detail, range: NSRange(detail.startIndex..., in: detail)), let r = Range(m.range(at: 1), in: detail) else { return nil }
        return String(detail[r])
    }

    /// The words of a template that carry meaning (placeholders and short words dropped).
    static func keyWords(_ template: String) -> Set<String> {
        Set(template.replacingOccurrences(of: #"<[a-z]+>"#, with: " ", options: .regularExpression)
            .split { !$0.isLetter }.map(String.init).filter { $0.count >= 3 })
    }
}

/// One root cause among a tool's (or a step's) errors: its templates and where it occurred.
struct ErrorCluster {
    var source: String
    var isTool: Bool
    var errorClass: ErrorClass
    var exceptionType: String?
    /// template → (count, one original message), in first-seen order.
    var templates: [(template: String, count: Int, example: String)] = []
    var occurrences: [(traceID: String, spanID: String, detail: String)] = []
    var maxConsecutiveFailures = 1
    var keyWords: Set<String> = []

    var slug: String {
        let base = slugify(source, max: 24)
        if errorClass != .other { return base + "-" + errorClass.rawValue }
        let t = templates.first?.template ?? ""
        return base + "-" + slugify((exceptionType.map { $0 + " " } ?? "") + t.replacingOccurrences(of: #"<[a-z]+>"#, with: " ", options: .regularExpression), max: 32)
    }

    /// The most frequent original message, clipped.
    var exampleText: String {
        Excerpt.clip(Excerpt.oneLine(templates.max { $0.count < $1.count }?.example ?? ""), 120)
    }

    mutating func add(template: String, traceID: String, spanID: String, detail: String) {
        if let i = templates.firstIndex(where: { $0.template == template }) {
            templates[i].count += 1
        } else {
            templates.append((template, 1, detail))
            // A template already in the list brought its key words when it was added.
            keyWords.formUnion(ErrorText.keyWords(template))
        }
        occurrences.append((traceID, spanID, detail))
    }

    mutating func absorb(_ other: ErrorCluster) {
        for t in other.templates {
            if let i = templates.firstIndex(where: { $0.template == t.template }) { templates[i].count += t.count } else { templates.append(t) }
        }
        occurrences += other.occurrences
        maxConsecutiveFailures = max(maxConsecutiveFailures, other.maxConsecutiveFailures)
        keyWords.formUnion(other.keyWords)
    }

    /// Two clusters of one source and kind whose key words mostly agree (Jaccard ≥ 0.5) are one cause.
    func sharesCause(with other: ErrorCluster) -> Bool {
        guard source == other.source, errorClass == other.errorClass, exceptionType == other.exceptionType else { return false }
        guard errorClass == .other else { return true }
        let union = keyWords.union(other.keyWords)
        guard !union.isEmpty else { return true }
        return Double(keyWords.intersection(other.keyWords).count) / Double(union.count) >= 0.5
    }
}

/// Groups error spans into root-cause clusters: by source (tool or span name), class and exception type and
/// template, then merges clusters of one source that share their key tokens.
struct ErrorClusterer {
    private var clusters: [ErrorCluster] = []
    private var index: [String: Int] = [:]
    private var templates: [String: String] = [:]

    mutating func add(source: String, isTool: Bool, errorClass: ErrorClass, exceptionType: String?, traceID: String, spanID: String, detail: String, consecutive: Int) {
        let template = templates[detail] ?? {
            let t = ErrorText.template(detail)
            templates[detail] = t
            return t
        }()
        let key = errorClass == .other
            ? "\(source)\u{0}\(errorClass.rawValue)\u{0}\(exceptionType ?? "")\u{0}\(template)"
            : "\(source)\u{0}\(errorClass.rawValue)"
        if let i = index[key] {
            clusters[i].add(template: template, traceID: traceID, spanID: spanID, detail: detail)
            clusters[i].maxConsecutiveFailures = max(clusters[i].maxConsecutiveFailures, consecutive)
            return
        }
        var c = ErrorCluster(source: source, isTool: isTool, errorClass: errorClass, exceptionType: exceptionType)
        c.add(template: template, traceID: traceID, spanID: spanID, detail: detail)
        c.maxConsecutiveFailures = consecutive
        index[key] = clusters.count
        clusters.append(c)
    }

    /// The clusters after merging those that share a cause, in first-seen order.
    func merged() -> [ErrorCluster] {
        var out: [ErrorCluster] = []
        for c in clusters {
            if let i = out.firstIndex(where: { $0.sharesCause(with: c) }) { out[i].absorb(c) } else { out.append(c) }
        }
        return out
    }
}
