import Foundation

/// JavaScript string semantics Swift does not share: UTF-16 comparison, `trim`, `\s`, `toLowerCase`.
public enum JSText {
    /// JS whitespace (`trim`, `\s`): U+0009–000D, 0020, 00A0, 1680, 2000–200A, 2028, 2029, 202F, 205F, 3000, FEFF.
    @inline(__always)
    public static func isSpace(_ v: UInt32) -> Bool {
        switch v {
        case 0x09...0x0D, 0x20, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF: return true
        default: return false
        }
    }

    /// `s.trim()`.
    public static func trim(_ s: String) -> String {
        let u = s.unicodeScalars
        guard let first = u.firstIndex(where: { !isSpace($0.value) }) else { return "" }
        let last = u.lastIndex(where: { !isSpace($0.value) })!
        return String(u[first...last])
    }

    /// `s.trimEnd()`.
    public static func trimEnd(_ s: String) -> String {
        let u = s.unicodeScalars
        guard let last = u.lastIndex(where: { !isSpace($0.value) }) else { return "" }
        return String(u[...last])
    }

    /// `s.toLowerCase()` (Unicode default case mapping with final sigma).
    public static func lower(_ s: String) -> String {
        var ascii = true
        for u in s.utf8 where u >= 0x80 { ascii = false; break }
        if ascii { return s.lowercased() }
        return s.lowercased(with: nil)
    }

    /// `a.includes(b)` on UTF-16 code units.
    public static func includes(_ hay: String, _ needle: String) -> Bool {
        if needle.isEmpty { return true }
        // Byte search on UTF-8 is equivalent to UTF-16 unit search for well-formed strings.
        var hay = hay, needle = needle
        return hay.withUTF8 { h in needle.withUTF8 { n in indexOf(h, n) != nil } }
    }

    /// `a.startsWith(b)` on code units.
    public static func startsWith(_ s: String, _ prefix: String) -> Bool {
        s.utf8.starts(with: prefix.utf8)
    }

    /// `a === b` on code units.
    public static func equal(_ a: String, _ b: String) -> Bool { a.utf8.elementsEqual(b.utf8) }

    static func indexOf(_ hb: UnsafeBufferPointer<UInt8>, _ nb: UnsafeBufferPointer<UInt8>) -> Int? {
        if nb.isEmpty { return 0 }
        if nb.count > hb.count { return nil }
        let first = nb[0]
        let limit = hb.count - nb.count
        var i = 0
        while i <= limit {
            if hb[i] == first {
                var j = 1
                while j < nb.count && hb[i + j] == nb[j] { j += 1 }
                if j == nb.count { return i }
            }
            i += 1
        }
        return nil
    }

    /// Non-empty pieces of `s.trim().split(/\s+/)`.
    public static func wordCount(_ s: String) -> Int {
        var count = 0
        var inWord = false
        for u in s.unicodeScalars {
            if isSpace(u.value) { inWord = false } else if !inWord { inWord = true; count += 1 }
        }
        return count
    }

    /// UTF-16 Levenshtein distance.
    public static func levenshtein(_ a: String, _ b: String) -> Int {
        let x = Array(a.utf16), y = Array(b.utf16)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        var prev = Array(0...y.count)
        var cur = [Int](repeating: 0, count: y.count + 1)
        for i in 1...x.count {
            cur[0] = i
            for j in 1...y.count {
                let cost = x[i - 1] == y[j - 1] ? 0 : 1
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            }
            swap(&prev, &cur)
        }
        return prev[y.count]
    }
}

/// A JavaScript `RegExp` (no flags unless given) translated to ICU so it matches as V8 would:
/// ASCII `\d\w\b`, JS `\s`, `.` excluding line terminators, `$` only at the end of input, and the
/// lenient JS forms (`a{`, lone `]`, `\8`, `[^]`) accepted.
public struct JSRegex: @unchecked Sendable {
    /// The JavaScript source.
    public let source: String
    package let regex: NSRegularExpression

    /// Why a pattern is not a valid JavaScript regular expression (approximating V8's text).
    public struct SyntaxError: Error, Sendable, CustomStringConvertible {
        public var message: String
        package init(message: String) { self.message = message }
        public var description: String { message }
    }

    static let spaceClass = "\\t\\n\\x{0B}\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}"
    static let wordClass = "A-Za-z0-9_"

    /// Compiles `pattern` with JS `flags` (`i`, `m`, `s`, `g` ignored, `u` treated as none).
    public init(_ pattern: String, flags: String = "") throws {
        source = pattern
        let icu = try JSRegex.translate(pattern, multiline: flags.contains("m"), dotAll: flags.contains("s"))
        var opts: NSRegularExpression.Options = []
        if flags.contains("i") { opts.insert(.caseInsensitive) }
        do {
            regex = try NSRegularExpression(pattern: icu, options: opts)
        } catch {
            throw SyntaxError(message: "Invalid regular expression: /\(pattern)/: Invalid pattern")
        }
    }

    /// `re.test(s)`; false when the match ran out of time (``RegexSafety/matchTimeLimit``).
    public func test(_ s: String) -> Bool { testWithinLimit(s) ?? false }

    /// `re.test(s)`, or nil when matching took longer than `limit` seconds (a pattern from a suite may backtrack
    /// catastrophically: `(x+x+)+y`).
    public func testWithinLimit(_ s: String, limit: TimeInterval = RegexSafety.matchTimeLimit) -> Bool? {
        switch RegexSafety.firstMatch(regex, in: s, range: NSRange(location: 0, length: s.utf16.count), limit: limit) {
        case .none: return nil
        case .some(let m): return m != nil
        }
    }

    /// The first match's text, when there is one (nil too when matching ran out of time).
    public func firstMatch(_ s: String) -> String? {
        let ns = s as NSString
        guard case .some(let found) = RegexSafety.firstMatch(regex, in: s, range: NSRange(location: 0, length: ns.length)),
            let m = found
        else { return nil }
        return ns.substring(with: m.range)
    }

    static func translate(_ p: String, multiline: Bool, dotAll: Bool) throws -> String {
        let c = Array(p.unicodeScalars)
        var out = ""
        var i = 0
        var depth = 0
        var groupCount = 0
        var lastAtomQuantifiable = false
        func err(_ m: String) -> SyntaxError { SyntaxError(message: "Invalid regular expression: /\(p)/: \(m)") }
        func isDigit(_ s: Unicode.Scalar) -> Bool { s.value >= 0x30 && s.value <= 0x39 }
        // Count capture groups for backreference validity.
        do {
            var j = 0
            var inClass = false
            while j < c.count {
                if c[j] == "\\" { j += 2; continue }
                if inClass { if c[j] == "]" { inClass = false } } else if c[j] == "[" { inClass = true } else if c[j] == "(" {
                    if j + 1 < c.count, c[j + 1] == "?" {
                        if j + 2 < c.count, c[j + 2] == "<", j + 3 < c.count, c[j + 3] != "=", c[j + 3] != "!" { groupCount += 1 }
                    } else { groupCount += 1 }
                }
                j += 1
            }
        }
        func escapeLiteral(_ s: Unicode.Scalar) -> String {
            if s.value < 0x80, !(s.properties.isAlphabetic || isDigit(s)) && s != " " && s != "_" {
                return "\\" + String(s)
            }
            return String(s)
        }
        func classEscape(_ e: Unicode.Scalar, inClass: Bool) -> String? {
            switch e {
            case "d": return inClass ? "0-9" : "[0-9]"
            case "D": return "[^0-9]"
            case "w": return inClass ? wordClass : "[\(wordClass)]"
            case "W": return "[^\(wordClass)]"
            case "s": return inClass ? spaceClass : "[\(spaceClass)]"
            case "S": return "[^\(spaceClass)]"
            case "n": return "\\n"
            case "r": return "\\r"
            case "t": return "\\t"
            case "f": return "\\f"
            case "v": return "\\x{0B}"
            case "0": return "\\x{00}"
            default: return nil
            }
        }
        // Reads an escape at c[i] == "\\"; returns the ICU text.
        func readEscape(inClass: Bool) throws -> String {
            i += 1
            guard i < c.count else { throw err("\\ at end of pattern") }
            let e = c[i]
            i += 1
            if let t = classEscape(e, inClass: inClass) {
                if e == "0", i < c.count, isDigit(c[i]) { return "\\x{00}" }
                return t
            }
            switch e {
            case "b": return inClass ? "\\x{08}" : "(?:(?<=[\(wordClass)])(?![\(wordClass)])|(?<![\(wordClass)])(?=[\(wordClass)]))"
            case "B": return inClass ? "B" : "(?:(?<=[\(wordClass)])(?=[\(wordClass)])|(?<![\(wordClass)])(?![\(wordClass)]))"
            case "x":
                if i + 1 < c.count, c[i].properties.isASCIIHexDigit, c[i + 1].properties.isASCIIHexDigit {
                    let h = String(c[i]) + String(c[i + 1])
                    i += 2
                    return "\\x{\(h)}"
                }
                return "x"
            case "u":
                if i + 3 < c.count, (0..<4).allSatisfy({ c[i + $0].properties.isASCIIHexDigit }) {
                    let h = (0..<4).map { String(c[i + $0]) }.joined()
                    i += 4
                    return "\\x{\(h)}"
                }
                return "u"
            case "c":
                if i < c.count, c[i].properties.isAlphabetic, c[i].value < 0x80 {
                    let v = c[i].value % 32
                    i += 1
                    return "\\x{\(String(v, radix: 16))}"
                }
                return "\\\\c"
            case "k":
                if i < c.count, c[i] == "<", let close = c[i...].firstIndex(of: ">") {
                    let name = String(String.UnicodeScalarView(c[(i + 1)..<close]))
                    i = close + 1
                    return "\\k<\(name)>"
                }
                return "k"
            default:
                if isDigit(e) {
                    // Backreference when a group of that number exists, else octal/identity.
                    var num = String(e)
                    while i < c.count, isDigit(c[i]) { num.append(Character(c[i])); i += 1 }
                    if !inClass, let n = Int(num), n >= 1, n <= groupCount { return "\\\(n)" }
                    if e == "8" || e == "9" { return num }
                    let oct = num.prefix { $0 >= "0" && $0 <= "7" }.prefix(3)
                    let rest = num.dropFirst(oct.count)
                    let v = Int(oct, radix: 8) ?? 0
                    return "\\x{\(String(v, radix: 16))}" + rest
                }
                return escapeLiteral(e)
            }
        }
        while i < c.count {
            let ch = c[i]
            switch ch {
            case "\\":
                let before = i
                out += try readEscape(inClass: false)
                let e = c[before + 1]
                lastAtomQuantifiable = !(e == "b" || e == "B")
            case "[":
                i += 1
                var negate = false
                if i < c.count, c[i] == "^" { negate = true; i += 1 }
                var body = ""
                var closed = false
                var empty = true
                while i < c.count {
                    let d = c[i]
                    if d == "]" { closed = true; i += 1; break }
                    empty = false
                    if d == "\\" {
                        body += try readEscape(inClass: true)
                    } else {
                        if d == "[" || d == "&" || d == "~" || d == "{" || d == "}" || d == "$" || d == "^" || d == "\"" {
                            body += "\\" + String(d)
                        } else if d == "-" {
                            // A '-' that is first or last is literal; otherwise a range.
                            if body.isEmpty || (i + 1 < c.count && c[i + 1] == "]") { body += "\\-" } else { body += "-" }
                        } else {
                            body += String(d)
                        }
                        i += 1
                    }
                }
                if !closed { throw err("Unterminated character class") }
                if empty {
                    out += negate ? "[\\x{0}-\\x{10FFFF}]" : "(?!)"
                } else {
                    out += "[" + (negate ? "^" : "") + body + "]"
                }
                lastAtomQuantifiable = true
            case "(":
                i += 1
                if i < c.count, c[i] == "?" {
                    if i + 1 < c.count, c[i + 1] == ":" || c[i + 1] == "=" || c[i + 1] == "!" {
                        out += "(?" + String(c[i + 1])
                        i += 2
                    } else if i + 2 < c.count, c[i + 1] == "<", c[i + 2] == "=" || c[i + 2] == "!" {
                        out += "(?<" + String(c[i + 2])
                        i += 3
                    } else if i + 1 < c.count, c[i + 1] == "<", let close = c[(i + 2)...].firstIndex(of: ">") {
                        let name = String(String.UnicodeScalarView(c[(i + 2)..<close]))
                        guard !name.isEmpty, name.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || isDigit($0) || $0 == "_" || $0 == "$" }) else {
                            throw err("Invalid capture group name")
                        }
                        out += "(?<\(name)>"
                        i = close + 1
                    } else {
                        throw err("Invalid group")
                    }
                } else {
                    out += "("
                }
                depth += 1
                lastAtomQuantifiable = false
                continue
            case ")":
                if depth == 0 { throw err("Unmatched ')'") }
                depth -= 1
                out += ")"
                i += 1
                lastAtomQuantifiable = true
            case "*", "+", "?":
                if !lastAtomQuantifiable { throw err("Nothing to repeat") }
                out += String(ch)
                i += 1
                if i < c.count, c[i] == "?" { out += "?"; i += 1 }
                lastAtomQuantifiable = false
            case "{":
                // A quantifier only when it reads {n}, {n,} or {n,m}; otherwise a literal brace.
                var j = i + 1
                var lo = "", hi: String? = nil
                while j < c.count, isDigit(c[j]) { lo.append(Character(c[j])); j += 1 }
                if j < c.count, c[j] == "," {
                    j += 1
                    var h = ""
                    while j < c.count, isDigit(c[j]) { h.append(Character(c[j])); j += 1 }
                    hi = h
                }
                if !lo.isEmpty, j < c.count, c[j] == "}" {
                    if !lastAtomQuantifiable { throw err("Nothing to repeat") }
                    if let hi, !hi.isEmpty, let a = Int(lo), let b = Int(hi), a > b { throw err("numbers out of order in {} quantifier") }
                    out += "{" + lo + (hi.map { "," + $0 } ?? "") + "}"
                    i = j + 1
                    if i < c.count, c[i] == "?" { out += "?"; i += 1 }
                    lastAtomQuantifiable = false
                } else {
                    out += "\\{"
                    i += 1
                    lastAtomQuantifiable = true
                }
            case "}":
                out += "\\}"; i += 1; lastAtomQuantifiable = true
            case "]":
                out += "\\]"; i += 1; lastAtomQuantifiable = true
            case ".":
                out += dotAll ? "[\\x{0}-\\x{10FFFF}]" : "[^\\n\\r\\x{2028}\\x{2029}]"
                i += 1
                lastAtomQuantifiable = true
            case "$":
                out += multiline ? "(?=[\\n\\r\\x{2028}\\x{2029}]|\\z)" : "\\z"
                i += 1
                lastAtomQuantifiable = false
            case "^":
                out += multiline ? "(?<=[\\n\\r\\x{2028}\\x{2029}]|\\A)" : "\\A"
                i += 1
                lastAtomQuantifiable = false
            case "|":
                out += "|"; i += 1; lastAtomQuantifiable = false
            case "#", " ", "\"", "'", "&", "~", "-", "<", ">", "=", "!", ",", ":", "@", "%", "`", "/", ";":
                out += "\\" + String(ch); i += 1; lastAtomQuantifiable = true
            default:
                out.unicodeScalars.append(ch); i += 1; lastAtomQuantifiable = true
            }
        }
        if depth > 0 { throw err("Unterminated group") }
        return out
    }
}
