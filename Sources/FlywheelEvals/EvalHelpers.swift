import FlywheelSupport
import FlywheelTraces
import Foundation
import Markdown

// MARK: - Templates (Nunjucks subset)

/// The Nunjucks subset suites may use: `{{ expr }}` (names, `a.b`, `a[0]`, `a["k"]`, `( )`, literals, operators, filters),
/// `{% for x in xs %}…{% else %}…{% endfor %}` (also `for k, v in obj`; `loop.index`, `index0`, `first`, `last`, `length`),
/// `{% if %}/{% elif %}/{% else %}/{% endif %}`, `{% set x = … %}`, `{# comment #}` and `{%-`/`-%}` whitespace control.
/// Unknown variables render `""`, objects render as compact JSON; other tags are errors naming the template line.
public enum EvalTemplate {
    /// Why a template cannot be rendered.
    public struct TemplateError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// True when the text contains template syntax.
    static func hasSyntax(_ s: String) -> Bool {
        var prev: UInt8 = 0
        for u in s.utf8 {
            if prev == UInt8(ascii: "{"), u == UInt8(ascii: "{") || u == UInt8(ascii: "%") || u == UInt8(ascii: "#") { return true }
            prev = u
        }
        return false
    }

    /// A suite's own filter (`nunjucksFilters:`): the value and the filter's arguments in, the result out.
    public typealias CustomFilter = @Sendable (JSONValue?, [JSONValue?]) throws -> JSONValue?

    /// Checks syntax without rendering (used at load time): tags balance, expressions parse, filters exist
    /// (built-in, or one of `custom`).
    public static func validate(_ s: String, custom: Set<String> = []) throws {
        guard hasSyntax(s) else { return }
        _ = try parse(s, custom: custom)
    }

    /// Renders `s` with `vars` and the suite's own filters.
    public static func render(_ s: String, vars: JSONObject, custom: [String: CustomFilter] = [:]) throws -> String {
        guard hasSyntax(s) else { return s }
        let nodes = try parse(s, custom: Set(custom.keys))
        var scope = vars
        var out = ""
        try run(nodes, &scope, &out, custom)
        return out
    }

    /// Renders, leaving the text verbatim when it cannot be rendered (Promptfoo's rule for `metric`).
    static func renderLenient(_ s: String, vars: JSONObject) -> String {
        (try? render(s, vars: vars)) ?? s
    }

    /// Filters Flywheel renders, as Nunjucks does (`{{ x | upper }}`, `{{ xs | join(", ") }}`); `load` is Promptfoo's
    /// (JSON.parse of a string).
    public static let filters: Set<String> = ["dump", "upper", "lower", "trim", "join", "length", "default", "d", "replace", "first", "last",
                                              "load", "safe", "string", "int", "float", "capitalize", "title", "abs", "round", "reverse",
                                              "sort", "list", "escape", "e", "wordcount"]

    // MARK: Template tree

    indirect enum Node {
        case text(String)
        case output(Expr)
        case forLoop(names: [String], iterable: Expr, body: [Node], empty: [Node])
        case ifBlock([(Expr?, [Node])])
        case set(String, Expr)
    }

    /// Splits the template into text, `{{ }}` and `{% %}` pieces (whitespace control `{%-`/`-%}` applied) and builds the tree.
    static func parse(_ s: String, custom: Set<String> = []) throws -> [Node] {
        enum Piece { case text(String), output(String, Int), tag(String, Int) }
        let u = Array(s.utf8)
        var pieces: [Piece] = []
        var text = [UInt8]()
        var i = 0
        var trimNext = false
        var line = 1
        func find(_ a: UInt8, _ b: UInt8, from: Int) -> Int? {
            var j = from
            while j + 1 < u.count {
                if u[j] == a && u[j + 1] == b { return j }
                j += 1
            }
            return nil
        }
        func flush(trimRight: Bool) {
            var t = String(decoding: text, as: UTF8.self)
            if trimRight { while let l = t.last, l.isWhitespace { t.removeLast() } }
            if !t.isEmpty { pieces.append(.text(t)) }
            text = []
        }
        while i < u.count {
            if u[i] == UInt8(ascii: "{"), i + 1 < u.count, [UInt8(ascii: "{"), UInt8(ascii: "%"), UInt8(ascii: "#")].contains(u[i + 1]) {
                let n = u[i + 1]
                let closeA: UInt8 = n == UInt8(ascii: "{") ? UInt8(ascii: "}") : n
                let kind = n == UInt8(ascii: "{") ? "{{" : n == UInt8(ascii: "%") ? "{%" : "{#"
                guard let close = find(closeA, UInt8(ascii: "}"), from: i + 2) else {
                    throw TemplateError(message: "unterminated \(kind) in template (line \(line))")
                }
                var inner = Array(u[(i + 2)..<close])
                let trimLeft = inner.first == UInt8(ascii: "-")
                let trimRight = inner.last == UInt8(ascii: "-")
                if trimLeft { inner.removeFirst() }
                if trimRight, !inner.isEmpty { inner.removeLast() }
                flush(trimRight: trimLeft)
                let body = String(decoding: inner, as: UTF8.self)
                if n == UInt8(ascii: "{") { pieces.append(.output(body, line)) } else if n == UInt8(ascii: "%") { pieces.append(.tag(body, line)) }
                for b in u[i..<(close + 2)] where b == UInt8(ascii: "\n") { line += 1 }
                i = close + 2
                trimNext = trimRight
                continue
            }
            if trimNext, u[i] == UInt8(ascii: " ") || u[i] == UInt8(ascii: "\t") || u[i] == UInt8(ascii: "\n") || u[i] == UInt8(ascii: "\r") {
                if u[i] == UInt8(ascii: "\n") { line += 1 }
                i += 1
                continue
            }
            trimNext = false
            if u[i] == UInt8(ascii: "\n") { line += 1 }
            text.append(u[i])
            i += 1
        }
        flush(trimRight: false)
        var k = 0
        func block(until ends: Set<String>) throws -> ([Node], String?, String, Int) {
            var nodes: [Node] = []
            while k < pieces.count {
                let piece = pieces[k]
                k += 1
                switch piece {
                case .text(let t): nodes.append(.text(t))
                case .output(let e, let l):
                    do { nodes.append(.output(try ExprParser.parse(e, custom: custom))) } catch let e as TemplateError {
                        throw TemplateError(message: "\(e.message) (line \(l))")
                    }
                case .tag(let raw, let l):
                    let t = JSText.trim(raw)
                    let word = String(t.prefix { !$0.isWhitespace })
                    let rest = JSText.trim(String(t.dropFirst(word.count)))
                    func expr(_ x: String) throws -> Expr {
                        do { return try ExprParser.parse(x, custom: custom) } catch let e as TemplateError { throw TemplateError(message: "\(e.message) in {% \(t) %} (line \(l))") }
                    }
                    if ends.contains(word) { return (nodes, word, rest, l) }
                    switch word {
                    case "endfor", "endif", "else", "elif", "elseif":
                        throw TemplateError(message: "unexpected {% \(word) %} (line \(l))")
                    case "for":
                        guard let r = rest.range(of: " in ") else { throw TemplateError(message: "{% \(t) %} must be {% for x in xs %} (line \(l))") }
                        let names = rest[..<r.lowerBound].split(separator: ",").map { JSText.trim(String($0)) }
                        guard !names.isEmpty, names.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } }) else {
                            throw TemplateError(message: "{% \(t) %}: bad loop variable (line \(l))")
                        }
                        let iterable = try expr(String(rest[r.upperBound...]))
                        var (body, end, _, _) = try block(until: ["endfor", "else"])
                        var empty: [Node] = []
                        if end == "else" { (empty, end, _, _) = try block(until: ["endfor"]) }
                        guard end == "endfor" else { throw TemplateError(message: "{% \(t) %} has no {% endfor %} (line \(l))") }
                        nodes.append(.forLoop(names: names, iterable: iterable, body: body, empty: empty))
                    case "if":
                        var branches: [(Expr?, [Node])] = []
                        var cond: Expr? = try expr(rest)
                        while true {
                            let (body, end, endRest, _) = try block(until: ["elif", "elseif", "else", "endif"])
                            branches.append((cond, body))
                            guard let end else { throw TemplateError(message: "{% \(t) %} has no {% endif %} (line \(l))") }
                            if end == "endif" { break }
                            if end == "else" {
                                let (eb, e2, _, _) = try block(until: ["endif"])
                                guard e2 == "endif" else { throw TemplateError(message: "{% \(t) %} has no {% endif %} (line \(l))") }
                                branches.append((nil, eb))
                                break
                            }
                            cond = try expr(endRest)
                        }
                        nodes.append(.ifBlock(branches))
                    case "set":
                        guard let eq = rest.firstIndex(of: "=") else { throw TemplateError(message: "{% \(t) %} must be {% set name = value %} (line \(l))") }
                        let name = JSText.trim(String(rest[..<eq]))
                        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                            throw TemplateError(message: "{% \(t) %}: bad variable name (line \(l))")
                        }
                        nodes.append(.set(name, try expr(String(rest[rest.index(after: eq)...]))))
                    case "raw":
                        throw TemplateError(message: "{% raw %} is not supported (line \(l))")
                    default:
                        throw TemplateError(message: "template tag {% \(word) %} is not supported (supported: for, if/elif/else, set) (line \(l))")
                    }
                }
            }
            return (nodes, nil, "", 0)
        }
        return try block(until: []).0
    }

    static func run(_ nodes: [Node], _ scope: inout JSONObject, _ out: inout String, _ custom: [String: CustomFilter]) throws {
        for n in nodes {
            switch n {
            case .text(let t): out += t
            case .output(let e): out += display(try e.eval(scope, custom))
            case .set(let name, let e): scope[name] = try e.eval(scope, custom) ?? .null
            case .ifBlock(let branches):
                for (cond, body) in branches where try cond.map({ try $0.eval(scope, custom)?.isTruthy ?? false }) ?? true {
                    try run(body, &scope, &out, custom)
                    break
                }
            case .forLoop(let names, let iterable, let body, let empty):
                let v = try iterable.eval(scope, custom)
                var items: [[JSONValue]] = []
                if let a = v?.arrayValue {
                    items = a.map { x in names.count > 1 ? (x.arrayValue ?? [x]) : [x] }
                } else if let o = v?.objectValue {
                    items = o.pairs.map { names.count > 1 ? [.string($0.key), $0.value] : [.string($0.key)] }
                }
                if items.isEmpty { var inner = scope; try run(empty, &inner, &out, custom); continue }
                for (idx, item) in items.enumerated() {
                    var inner = scope
                    for (j, name) in names.enumerated() { inner[name] = j < item.count ? item[j] : .null }
                    inner["loop"] = .obj([("index", .int(Int64(idx + 1))), ("index0", .int(Int64(idx))), ("first", .bool(idx == 0)),
                                          ("last", .bool(idx == items.count - 1)), ("length", .int(Int64(items.count))),
                                          ("revindex", .int(Int64(items.count - idx))), ("revindex0", .int(Int64(items.count - idx - 1)))])
                    try run(body, &inner, &out, custom)
                }
            }
        }
    }

    // MARK: Expressions

    indirect enum Expr {
        case literal(JSONValue?)
        case name(String)
        case member(Expr, Expr)
        case list([Expr])
        case dict([(String, Expr)])
        case filter(Expr, String, [Expr])
        case unary(String, Expr)
        case binary(String, Expr, Expr)
        case cond(Expr, Expr, Expr?)

        func eval(_ scope: JSONObject, _ custom: [String: CustomFilter] = [:]) throws -> JSONValue? {
            switch self {
            case .literal(let v): return v
            case .name(let n): return scope[n]
            case .member(let b, let k):
                let key = try k.eval(scope, custom)
                return EvalTemplate.member(try b.eval(scope, custom), key?.stringValue ?? key.map(display) ?? "")
            case .list(let xs): return .array(try xs.map { try $0.eval(scope, custom) ?? .null })
            case .dict(let kv):
                var o = JSONObject()
                for (k, v) in kv { o[k] = try v.eval(scope, custom) ?? .null }
                return .object(o)
            case .filter(let b, let name, let args):
                let v = try b.eval(scope, custom), a = try args.map { try $0.eval(scope, custom) }
                if let f = custom[name] { return try f(v, a) }
                return try applyFilter(name, v, a, expr: name)
            case .unary(let op, let e):
                let v = try e.eval(scope, custom)
                if op == "not" { return .bool(!(v?.isTruthy ?? false)) }
                return number(-(num(v)))
            case .cond(let a, let c, let b):
                return try (c.eval(scope, custom)?.isTruthy ?? false) ? a.eval(scope, custom) : b?.eval(scope, custom)
            case .binary(let op, let l, let r):
                let a = try l.eval(scope, custom)
                if op == "and" { return (a?.isTruthy ?? false) ? try r.eval(scope, custom) : a }
                if op == "or" { return (a?.isTruthy ?? false) ? a : try r.eval(scope, custom) }
                let b = try r.eval(scope, custom)
                switch op {
                case "==": return .bool(looseEqual(a, b))
                case "!=": return .bool(!looseEqual(a, b))
                case "<", ">", "<=", ">=":
                    let c: Bool
                    if let x = a?.stringValue, let y = b?.stringValue {
                        c = op == "<" ? x < y : op == ">" ? x > y : op == "<=" ? x <= y : x >= y
                    } else {
                        let x = num(a), y = num(b)
                        c = op == "<" ? x < y : op == ">" ? x > y : op == "<=" ? x <= y : x >= y
                    }
                    return .bool(c)
                case "in", "not in":
                    var found = false
                    if let arr = b?.arrayValue { found = arr.contains { looseEqual($0, a) } } else if let o = b?.objectValue {
                        found = o[display(a)] != nil
                    } else if let s = b?.stringValue { found = s.contains(display(a)) }
                    return .bool(op == "in" ? found : !found)
                case "~": return .string(display(a) + display(b))
                case "+":
                    if a?.stringValue != nil || b?.stringValue != nil { return .string(display(a) + display(b)) }
                    return number(num(a) + num(b))
                case "-": return number(num(a) - num(b))
                case "*": return number(num(a) * num(b))
                case "/": return number(num(a) / num(b))
                case "%": return number(num(a).truncatingRemainder(dividingBy: num(b)))
                default: throw TemplateError(message: "unsupported operator \(op)")
                }
            }
        }

        func num(_ v: JSONValue?) -> Double {
            if let d = v?.doubleValue { return d }
            if let s = v?.stringValue { return Double(JSText.trim(s)) ?? .nan }
            if let b = v?.boolValue { return b ? 1 : 0 }
            return v == nil ? .nan : 0
        }
        func number(_ d: Double) -> JSONValue { d == d.rounded() && abs(d) < 1e15 ? .int(Int64(d)) : .double(d) }
        func looseEqual(_ a: JSONValue?, _ b: JSONValue?) -> Bool {
            let x = a ?? .null, y = b ?? .null
            if x.isNumber || y.isNumber, let p = x.doubleValue ?? x.stringValue.flatMap({ Double($0) }),
               let q = y.doubleValue ?? y.stringValue.flatMap({ Double($0) }) { return p == q }
            return x.looselyEquals(y)
        }
    }

    /// How a value renders: undefined and null as "", strings as they are, objects and arrays as compact JSON.
    static func display(_ v: JSONValue?) -> String {
        guard let v else { return "" }
        switch v {
        case .null: return ""
        case .string(let s): return s
        case .object, .array: return v.jsonString
        default: return v.jsDisplayString
        }
    }

    static func applyFilter(_ name: String, _ v: JSONValue?, _ args: [JSONValue?], expr: String) throws -> JSONValue? {
        func str(_ x: JSONValue?) -> String {
            guard let x else { return "" }
            if let s = x.stringValue { return s }
            return x.isNull ? "" : x.jsDisplayString
        }
        switch name {
        case "dump":
            guard let v else { return nil }
            if let n = args.first??.doubleValue, n > 0 { return .string(v.prettyString(indent: Int(n))) }
            if let s = args.first??.stringValue, !s.isEmpty { return .string(v.prettyString(indent: s.count)) }
            return .string(v.jsonString)
        case "upper": return .string(str(v).uppercased())
        case "lower": return .string(str(v).lowercased())
        case "trim": return .string(JSText.trim(str(v)))
        case "join":
            guard let a = v?.arrayValue else { return v }
            let sep = args.first.map { str($0) } ?? ""
            if args.count > 1, let attr = args[1]?.stringValue { return .string(a.map { str($0[attr]) }.joined(separator: sep)) }
            return .string(a.map { str($0) }.joined(separator: sep))
        case "length":
            switch v {
            case .string(let s)?: return .int(Int64(s.utf16.count))
            case .array(let a)?: return .int(Int64(a.count))
            case .object(let o)?: return .int(Int64(o.count))
            default: return .int(0)
            }
        case "default", "d":
            let fallback = args.first ?? nil
            if args.count > 1, args[1]?.isTruthy == true { return (v?.isTruthy ?? false) ? v : fallback }
            return v == nil ? fallback : v
        case "replace":
            guard args.count >= 2 else { throw TemplateError(message: "replace needs two arguments in {{ \(expr) }}") }
            let s = str(v), old = str(args[0]), new = str(args[1])
            if let limit = args.count > 2 ? args[2]?.doubleValue : nil {
                var out = s, n = 0
                var from = out.startIndex
                while n < Int(limit), !old.isEmpty, let r = out.range(of: old, range: from..<out.endIndex) {
                    out.replaceSubrange(r, with: new)
                    from = out.index(r.lowerBound, offsetBy: new.count)
                    n += 1
                }
                return .string(out)
            }
            return .string(old.isEmpty ? s : s.replacingOccurrences(of: old, with: new))
        case "first":
            if let a = v?.arrayValue { return a.first }
            if let s = v?.stringValue { return s.first.map { .string(String($0)) } }
            return nil
        case "last":
            if let a = v?.arrayValue { return a.last }
            if let s = v?.stringValue { return s.last.map { .string(String($0)) } }
            return nil
        case "load":
            // Promptfoo's filter: JSON.parse of a string; other values pass through.
            guard let t = v?.stringValue else { return v }
            do { return try JSONValue.parseStrict(t) } catch { throw TemplateError(message: "load: not JSON (\(error)) in {{ \(expr) }}") }
        case "safe": return v
        case "string": return .string(str(v))
        case "int":
            if let d = v?.doubleValue { return .int(Int64(d.rounded(.towardZero))) }
            if let d = Double(JSText.trim(str(v))), d.isFinite { return .int(Int64(d.rounded(.towardZero))) }
            return args.first ?? .int(0)
        case "float":
            if let d = v?.doubleValue { return .double(d) }
            return Double(JSText.trim(str(v))).map { .double($0) } ?? args.first ?? .double(0)
        case "capitalize":
            let s = str(v).lowercased()
            return .string(s.prefix(1).uppercased() + s.dropFirst())
        case "title":
            return .string(str(v).split(separator: " ", omittingEmptySubsequences: false).map { $0.prefix(1).uppercased() + $0.dropFirst().lowercased() }.joined(separator: " "))
        case "abs": return v?.doubleValue.map { d in d == d.rounded() && abs(d) < 1e15 ? .int(Int64(abs(d))) : .double(abs(d)) } ?? v
        case "round":
            guard let d = v?.doubleValue else { return v }
            let places = args.first??.doubleValue ?? 0
            let m = pow(10, places)
            return .double((d * m).rounded() / m)
        case "reverse":
            if let a = v?.arrayValue { return .array(a.reversed()) }
            return .string(String(str(v).reversed()))
        case "sort":
            guard let a = v?.arrayValue else { return v }
            let sorted = a.sorted { x, y in
                if let p = x.doubleValue, let q = y.doubleValue { return p < q }
                return str(x) < str(y)
            }
            return .array(args.first??.isTruthy == true ? sorted.reversed() : sorted)
        case "list":
            if let a = v?.arrayValue { return .array(a) }
            if let o = v?.objectValue { return .array(o.keys.map { .string($0) }) }
            return .array(str(v).map { .string(String($0)) })
        case "escape", "e":
            // The one HTML escape (the site's too): & < > " ' as Nunjucks escapes them; a NUL byte becomes U+FFFD.
            return .string(Markdown.escapeHTML(str(v)))
        case "wordcount": return .int(Int64(str(v).split(whereSeparator: { $0.isWhitespace }).count))
        default:
            throw TemplateError(message: "template filter \"\(name)\" is not supported (supported: \(filters.sorted().joined(separator: ", ")))")
        }
    }

    /// Parses a Nunjucks expression: literals (strings, numbers, true/false/none, lists, dicts), names, `.`/`[]` members,
    /// `( )`, filters with arguments, `not`/`and`/`or`, comparisons, `in`, `+ - * / % ~`, and `a if c else b`.
    struct ExprParser {
        let c: [Unicode.Scalar]
        let text: String
        var custom: Set<String> = []
        var i = 0

        static func parse(_ s: String, custom: Set<String> = []) throws -> Expr {
            let e = JSText.trim(s)
            if e.isEmpty { throw TemplateError(message: "empty expression in template") }
            var p = ExprParser(c: Array(e.unicodeScalars), text: e, custom: custom)
            let x = try p.conditional()
            p.skipSpace()
            guard p.i >= p.c.count else { throw TemplateError(message: "unsupported template expression {{ \(e) }}") }
            return x
        }

        func fail() -> TemplateError { TemplateError(message: "unsupported template expression {{ \(text) }}") }
        mutating func skipSpace() { while i < c.count, c[i] == " " || c[i] == "\t" || c[i] == "\n" || c[i] == "\r" { i += 1 } }
        func isIdent(_ ch: Unicode.Scalar, first: Bool) -> Bool {
            ch.properties.isAlphabetic || ch == "_" || ch == "$" || (!first && ch.value >= 0x30 && ch.value <= 0x39)
        }
        /// The word at the cursor, without consuming it.
        func peekWord() -> String {
            var j = i, s = ""
            while j < c.count, isIdent(c[j], first: s.isEmpty) { s.unicodeScalars.append(c[j]); j += 1 }
            return s
        }
        mutating func eatWord(_ w: String) -> Bool {
            skipSpace()
            guard peekWord() == w else { return false }
            i += w.unicodeScalars.count
            return true
        }
        mutating func eat(_ op: String) -> Bool {
            skipSpace()
            let o = Array(op.unicodeScalars)
            guard i + o.count <= c.count, Array(c[i..<(i + o.count)]) == o else { return false }
            i += o.count
            return true
        }
        mutating func ident() -> String? {
            skipSpace()
            let w = peekWord()
            if w.isEmpty { return nil }
            i += w.unicodeScalars.count
            return w
        }

        mutating func conditional() throws -> Expr {
            let a = try or()
            if eatWord("if") {
                let cond = try or()
                let b: Expr? = eatWord("else") ? try or() : nil
                return .cond(a, cond, b)
            }
            return a
        }
        mutating func or() throws -> Expr {
            var l = try and()
            while eatWord("or") { l = .binary("or", l, try and()) }
            return l
        }
        mutating func and() throws -> Expr {
            var l = try not()
            while eatWord("and") { l = .binary("and", l, try not()) }
            return l
        }
        mutating func not() throws -> Expr {
            if eatWord("not") { return .unary("not", try not()) }
            return try compare()
        }
        mutating func compare() throws -> Expr {
            var l = try additive()
            while true {
                if eat("==") { l = .binary("==", l, try additive()) } else if eat("!=") { l = .binary("!=", l, try additive()) }
                else if eat("<=") { l = .binary("<=", l, try additive()) } else if eat(">=") { l = .binary(">=", l, try additive()) }
                else if eat("<") { l = .binary("<", l, try additive()) } else if eat(">") { l = .binary(">", l, try additive()) }
                else if eatWord("in") { l = .binary("in", l, try additive()) }
                else {
                    let save = i
                    if eatWord("not"), eatWord("in") { l = .binary("not in", l, try additive()) } else { i = save; return l }
                }
            }
        }
        mutating func additive() throws -> Expr {
            var l = try multiplicative()
            while true {
                if eat("+") { l = .binary("+", l, try multiplicative()) } else if eat("-") { l = .binary("-", l, try multiplicative()) }
                else if eat("~") { l = .binary("~", l, try multiplicative()) } else { return l }
            }
        }
        mutating func multiplicative() throws -> Expr {
            var l = try unary()
            while true {
                skipSpace()
                if i + 1 < c.count, c[i] == "/" || c[i] == "*", c[i + 1] == c[i] { throw fail() }
                if eat("*") { l = .binary("*", l, try unary()) } else if eat("/") { l = .binary("/", l, try unary()) }
                else if eat("%") { l = .binary("%", l, try unary()) } else { return l }
            }
        }
        mutating func unary() throws -> Expr {
            if eat("-") { return .unary("-", try unary()) }
            var x = try postfix()
            while eat("|") {
                guard let name = ident() else { throw TemplateError(message: "a filter name must follow | in {{ \(text) }}") }
                guard EvalTemplate.filters.contains(name) || custom.contains(name) else {
                    throw TemplateError(message: "template filter \"\(name)\" is not supported (supported: \(EvalTemplate.filters.sorted().joined(separator: ", ")))")
                }
                var args: [Expr] = []
                if eat("(") {
                    while !eat(")") {
                        guard i < c.count else { throw TemplateError(message: "unterminated ( in {{ \(text) }}") }
                        args.append(try conditional())
                        _ = eat(",")
                    }
                }
                x = .filter(x, name, args)
                x = try postfixOps(x)
            }
            return x
        }
        mutating func postfix() throws -> Expr { try postfixOps(try primary()) }
        mutating func postfixOps(_ base: Expr) throws -> Expr {
            var x = base
            while true {
                if eat(".") {
                    guard let k = ident() else { throw fail() }
                    x = .member(x, .literal(.string(k)))
                } else if eat("[") {
                    let k = try conditional()
                    guard eat("]") else { throw fail() }
                    x = .member(x, k)
                } else { return x }
            }
        }
        mutating func quoted() throws -> String {
            let q = c[i]
            i += 1
            var s = ""
            while i < c.count, c[i] != q {
                if c[i] == "\\", i + 1 < c.count {
                    i += 1
                    switch c[i] {
                    case "n": s += "\n"
                    case "t": s += "\t"
                    default: s.unicodeScalars.append(c[i])
                    }
                    i += 1
                    continue
                }
                s.unicodeScalars.append(c[i]); i += 1
            }
            guard i < c.count else { throw TemplateError(message: "unterminated string in {{ \(text) }}") }
            i += 1
            return s
        }
        mutating func primary() throws -> Expr {
            skipSpace()
            guard i < c.count else { throw fail() }
            if c[i] == "\"" || c[i] == "'" { return .literal(.string(try quoted())) }
            if c[i].value >= 0x30 && c[i].value <= 0x39 {
                var s = ""
                while i < c.count, c[i] == "." || (c[i].value >= 0x30 && c[i].value <= 0x39) { s.unicodeScalars.append(c[i]); i += 1 }
                guard let d = Double(s) else { throw fail() }
                return .literal(d == d.rounded() && abs(d) < 1e15 ? .int(Int64(d)) : .double(d))
            }
            if eat("(") {
                let x = try conditional()
                guard eat(")") else { throw fail() }
                return x
            }
            if eat("[") {
                var xs: [Expr] = []
                while !eat("]") {
                    guard i < c.count else { throw fail() }
                    xs.append(try conditional())
                    _ = eat(",")
                }
                return .list(xs)
            }
            if eat("{") {
                var kv: [(String, Expr)] = []
                while !eat("}") {
                    skipSpace()
                    guard i < c.count else { throw fail() }
                    let k: String
                    if c[i] == "\"" || c[i] == "'" { k = try quoted() } else { guard let w = ident() else { throw fail() }; k = w }
                    guard eat(":") else { throw fail() }
                    kv.append((k, try conditional()))
                    _ = eat(",")
                }
                return .dict(kv)
            }
            guard let first = ident() else { throw fail() }
            switch first {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "null", "none", "None": return .literal(.null)
            default: return .name(first)
            }
        }
    }

    static func member(_ v: JSONValue?, _ key: String) -> JSONValue? {
        guard let v else { return nil }
        if let o = v.objectValue { return o[key] }
        if let a = v.arrayValue, let i = Int(key), i >= 0, i < a.count { return a[i] }
        if key == "length" {
            if let s = v.stringValue { return .int(Int64(s.utf16.count)) }
            if let a = v.arrayValue { return .int(Int64(a.count)) }
        }
        return nil
    }
}

// MARK: - CSV values of contains-any/all

enum EvalCSV {
    /// Promptfoo's value list: `,` splits; `"quoted, fields"` with `\"`, `\\` and `""`; unquoted fields trimmed;
    /// empty unquoted fields dropped.
    static func split(_ s: String) -> [String] {
        var out: [String] = []
        let c = Array(s.unicodeScalars)
        var i = 0
        while i <= c.count {
            // Skip leading whitespace
            var j = i
            while j < c.count, JSText.isSpace(c[j].value) { j += 1 }
            if j < c.count, c[j] == "\"" {
                var field = ""
                j += 1
                var closed = false
                while j < c.count {
                    if c[j] == "\\", j + 1 < c.count, c[j + 1] == "\"" || c[j + 1] == "\\" {
                        field.unicodeScalars.append(c[j + 1]); j += 2; continue
                    }
                    if c[j] == "\"" {
                        if j + 1 < c.count, c[j + 1] == "\"" { field.unicodeScalars.append("\""); j += 2; continue }
                        closed = true
                        j += 1
                        break
                    }
                    field.unicodeScalars.append(c[j]); j += 1
                }
                _ = closed
                // Skip to the next comma.
                while j < c.count, c[j] != "," { j += 1 }
                out.append(field)
                i = j + 1
                if j >= c.count { break }
            } else {
                var k = i
                while k < c.count, c[k] != "," { k += 1 }
                let field = JSText.trim(String(String.UnicodeScalarView(c[i..<k])))
                if !field.isEmpty { out.append(field) }
                i = k + 1
                if k >= c.count { break }
            }
        }
        return out
    }
}

// MARK: - JSON extraction from text

/// Promptfoo's `extractJsonObjects`: every `{…}` object found in free text, lenient (YAML in JSON mode).
public enum EvalJSONExtractor {
    /// Objects found in `text`, in order.
    public static func extractObjects(_ text: String) -> [JSONValue] {
        let u = Array(text.utf8)
        var out: [JSONValue] = []
        var i = 0
        let maxLen = 100_000
        // Work budget: hostile text with many unbalanced `{` would otherwise make this quadratic.
        var budget = 64 * u.count + 4_000_000
        while i < u.count {
            guard u[i] == UInt8(ascii: "{") else { i += 1; continue }
            if budget <= 0 { break }
            var depth = 0
            var inString = false
            var escape = false
            var j = i
            var end: Int? = nil
            while j < u.count && j - i < maxLen {
                budget -= 1
                let c = u[j]
                if inString {
                    if escape { escape = false } else if c == UInt8(ascii: "\\") { escape = true } else if c == UInt8(ascii: "\"") { inString = false }
                } else if c == UInt8(ascii: "\"") {
                    inString = true
                } else if c == UInt8(ascii: "{") {
                    depth += 1
                } else if c == UInt8(ascii: "}") {
                    depth -= 1
                    if depth == 0 { end = j + 1; break }
                }
                j += 1
            }
            var candidate: String
            let stop: Int
            if let end {
                candidate = String(decoding: u[i..<end], as: UTF8.self)
                stop = end
            } else if j < u.count {
                i += 1  // longer than the limit: not a candidate
                continue
            } else {
                candidate = String(decoding: u[i...], as: UTF8.self) + String(repeating: "}", count: max(depth, 1))
                stop = u.count
            }
            if candidate.utf8.count <= maxLen, let v = parseCandidate(candidate), v.objectValue != nil {
                out.append(v)
                i = stop
                continue
            }
            i += 1
        }
        return out
    }

    static func parseCandidate(_ s: String) -> JSONValue? {
        if let v = JSONValue.parseStrictOrNil(s) { return v }
        // `//` comments become `#` comments, then YAML (a superset of JSON with unquoted keys and comments).
        var t = s
        if t.contains("//") {
            t = t.replacingOccurrences(of: " //", with: " #")
        }
        t = t.replacingOccurrences(of: "\t", with: " ").replacingOccurrences(of: ":}", with: ": }").replacingOccurrences(of: ":,", with: ": ,")
        guard var v = EvalYAML.parseOrNil(t) else { return nil }
        v = normaliseTrailing(v)
        return v
    }

    static func normaliseTrailing(_ v: JSONValue) -> JSONValue { v }
}

// MARK: - Globs of trace assertions

/// Anchored, case-insensitive globs with `*` and `?` (Promptfoo's `matchesPattern`).
public enum EvalGlob {
    /// True when `name` matches `pattern`.
    public static func matches(_ name: String, _ pattern: String) -> Bool {
        let n = Array(JSText.lower(name).unicodeScalars), p = Array(JSText.lower(pattern).unicodeScalars)
        var i = 0, j = 0, star = -1, mark = 0
        while i < n.count {
            if j < p.count, p[j] == "?" || p[j] == n[i] { i += 1; j += 1 } else if j < p.count, p[j] == "*" { star = j; mark = i; j += 1 } else if star >= 0 {
                j = star + 1; mark += 1; i = mark
            } else { return false }
        }
        while j < p.count, p[j] == "*" { j += 1 }
        return j == p.count
    }
}

// MARK: - XML

/// A small XML well-formedness checker that keeps element names, for is-xml / contains-xml.
enum EvalXML {
    final class Element {
        let name: String
        var children: [Element] = []
        var hasText = false
        init(_ name: String) { self.name = name }
    }

    struct XMLError: Error { var message: String }

    /// Parses; returns the top-level elements (several roots are accepted, as fast-xml-parser does).
    static func parse(_ s: String) throws -> [Element] {
        let c = Array(s.unicodeScalars)
        var i = 0
        var stack: [Element] = []
        var roots: [Element] = []
        func isNameChar(_ x: Unicode.Scalar) -> Bool {
            x.properties.isAlphabetic || (x.value >= 0x30 && x.value <= 0x39) || x == "_" || x == "-" || x == "." || x == ":"
        }
        func skipSpace() { while i < c.count, JSText.isSpace(c[i].value) { i += 1 } }
        func starts(_ t: String) -> Bool {
            let tt = Array(t.unicodeScalars)
            guard i + tt.count <= c.count else { return false }
            for k in 0..<tt.count where c[i + k] != tt[k] { return false }
            return true
        }
        func skipUntil(_ t: String, _ what: String) throws {
            while i < c.count, !starts(t) { i += 1 }
            guard i < c.count else { throw XMLError(message: "\(what) is not closed.") }
            i += t.unicodeScalars.count
        }
        while i < c.count {
            if c[i] == "<" {
                if starts("<!--") { i += 4; try skipUntil("-->", "Comment"); continue }
                if starts("<![CDATA[") { i += 9; try skipUntil("]]>", "CDATA"); stack.last?.hasText = true; continue }
                if starts("<?") { i += 2; try skipUntil("?>", "Processing instruction"); continue }
                if starts("<!") { i += 2; try skipUntil(">", "DOCTYPE"); continue }
                i += 1
                if i < c.count, c[i] == "/" {
                    i += 1
                    var name = ""
                    while i < c.count, isNameChar(c[i]) { name.unicodeScalars.append(c[i]); i += 1 }
                    skipSpace()
                    guard i < c.count, c[i] == ">" else { throw XMLError(message: "Closing tag '\(name)' doesn't have proper closing.") }
                    i += 1
                    guard let top = stack.popLast() else { throw XMLError(message: "Closing tag '\(name)' has not been opened.") }
                    guard top.name == name else { throw XMLError(message: "Expected closing tag '\(top.name)' (opened) instead of closing tag '\(name)'.") }
                    continue
                }
                var name = ""
                while i < c.count, isNameChar(c[i]) { name.unicodeScalars.append(c[i]); i += 1 }
                guard !name.isEmpty, let f = name.unicodeScalars.first, f.properties.isAlphabetic || f == "_" || f == ":" else {
                    throw XMLError(message: "Tag '\(name)' is an invalid name.")
                }
                // Attributes
                var selfClosing = false
                var seen = Set<String>()
                while true {
                    skipSpace()
                    guard i < c.count else { throw XMLError(message: "Unclosed tag '\(name)'.") }
                    if c[i] == ">" { i += 1; break }
                    if c[i] == "/" {
                        guard i + 1 < c.count, c[i + 1] == ">" else { throw XMLError(message: "Unclosed tag '\(name)'.") }
                        i += 2; selfClosing = true; break
                    }
                    var an = ""
                    while i < c.count, isNameChar(c[i]) { an.unicodeScalars.append(c[i]); i += 1 }
                    guard !an.isEmpty else { throw XMLError(message: "Attributes for '\(name)' have open quote.") }
                    if seen.contains(an) { throw XMLError(message: "Attribute '\(an)' is repeated.") }
                    seen.insert(an)
                    skipSpace()
                    if i < c.count, c[i] == "=" {
                        i += 1
                        skipSpace()
                        guard i < c.count, c[i] == "\"" || c[i] == "'" else { throw XMLError(message: "Attribute '\(an)' is without value.") }
                        let q = c[i]
                        i += 1
                        while i < c.count, c[i] != q { i += 1 }
                        guard i < c.count else { throw XMLError(message: "Attributes for '\(name)' have open quote.") }
                        i += 1
                    }
                }
                let el = Element(name)
                if let parent = stack.last { parent.children.append(el) } else { roots.append(el) }
                if !selfClosing { stack.append(el) }
            } else {
                if !JSText.isSpace(c[i].value) {
                    if stack.isEmpty && roots.isEmpty { throw XMLError(message: "char '\(c[i])' is not expected.") }
                    stack.last?.hasText = true
                }
                i += 1
            }
        }
        if let open = stack.last { throw XMLError(message: "Unclosed tag '\(open.name)'.") }
        if roots.isEmpty { throw XMLError(message: "Start tag expected.") }
        return roots
    }

    /// Promptfoo's `validateXml`: (isValid, reason).
    static func validate(_ xml: String, required: [String]?) -> (Bool, String) {
        guard xml.hasPrefix("<") else { return (false, "XML is missing opening tag") }
        do {
            let roots = try parse(xml)
            if let required, !required.isEmpty {
                let missing = required.filter { path in
                    var level = roots
                    for key in path.split(separator: ".", omittingEmptySubsequences: false) {
                        guard let el = level.first(where: { $0.name == key }) else { return true }
                        level = el.children
                    }
                    return false
                }
                if !missing.isEmpty { return (false, "XML is missing required elements: \(missing.joined(separator: ", "))") }
            }
            return (true, "XML is valid and contains all required elements")
        } catch let e as XMLError {
            return (false, "XML parsing failed: \(e.message)")
        } catch {
            return (false, "XML parsing failed: \(error)")
        }
    }

    static let containsRegex = try! JSRegex("<\\?xml.*?>[\\s\\S]*<\\/[^>]+>|\\S*<[^>]+>[\\s\\S]*<\\/[^>]+>")

    /// Promptfoo's `containsXml`.
    static func contains(_ s: String, required: [String]?) -> (Bool, String) {
        guard let m = containsRegex.firstMatch(s) else { return (false, "No XML content found in the output") }
        if validate(m, required: required).0 { return (true, "Assertion passed") }
        return (false, "No valid XML content found matching the requirements")
    }
}

// MARK: - HTML

enum EvalHTML {
    static let elements: Set<String> = Set("""
    a abbr address area article aside audio b base bdi bdo blockquote body br button canvas caption cite code col colgroup \
    data datalist dd del details dfn dialog div dl dt em embed fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 head \
    header hgroup hr html i iframe img input ins kbd label legend li link main map mark menu meta meter nav noscript object ol \
    optgroup option output p param picture pre progress q rp rt ruby s samp script search section select slot small source span \
    strong style sub summary sup table tbody td template textarea tfoot th thead time title tr track u ul var video wbr svg math \
    center font big strike tt frame frameset noframes marquee
    """.split(separator: " ").map(String.init))

    /// Promptfoo's `isHtml`-style check: (isHtml, failure reason).
    static func isHTML(_ s: String) -> (Bool, String) {
        let t = JSText.trim(s)
        if t.isEmpty { return (false, "Output is empty") }
        if t.hasPrefix("<?xml") { return (false, "Output appears to be XML, not HTML") }
        guard t.hasPrefix("<"), t.hasSuffix(">") else { return (false, "Output must be wrapped in HTML tags") }
        // Walk tags; text outside any element is not allowed.
        let c = Array(t.unicodeScalars)
        var i = 0
        var depth = 0
        var names: [String] = []
        let voids: Set<String> = ["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr"]
        while i < c.count {
            if c[i] == "<" {
                if i + 3 < c.count, c[i + 1] == "!", c[i + 2] == "-", c[i + 3] == "-" {
                    var j = i + 4
                    while j + 2 < c.count, !(c[j] == "-" && c[j + 1] == "-" && c[j + 2] == ">") { j += 1 }
                    i = j + 3
                    continue
                }
                var j = i + 1
                let closing = j < c.count && c[j] == "/"
                if closing { j += 1 }
                var name = ""
                while j < c.count, c[j].properties.isAlphabetic || (c[j].value >= 0x30 && c[j].value <= 0x39) || c[j] == "-" { name.unicodeScalars.append(c[j]); j += 1 }
                var k = j
                var quote: Unicode.Scalar? = nil
                while k < c.count {
                    if let q = quote { if c[k] == q { quote = nil } } else if c[k] == "\"" || c[k] == "'" { quote = c[k] } else if c[k] == ">" { break }
                    k += 1
                }
                if name.isEmpty {
                    if c[i + 1] == "!" { i = k + 1; continue }  // doctype
                    if depth == 0 { return (false, "Output must be wrapped in HTML tags") }
                    i += 1
                    continue
                }
                let lname = JSText.lower(name)
                let selfClosing = k > 0 && k < c.count && c[k - 1] == "/"
                if closing { depth = max(0, depth - 1) } else {
                    names.append(lname)
                    if !selfClosing && !voids.contains(lname) { depth += 1 }
                }
                i = k + 1
            } else {
                if depth == 0, !JSText.isSpace(c[i].value) { return (false, "Output must be wrapped in HTML tags") }
                i += 1
            }
        }
        if names.contains(where: { elements.contains($0) || $0.contains("-") }) { return (true, "Assertion passed") }
        return (false, "Output does not contain recognized HTML elements")
    }

    static let common = "html|head|body|div|span|p|a|img|h[1-6]|ul|ol|li|table|tr|td|th|form|input|button|script|style|link|meta|br|hr"
    static let rxOpen = try! JSRegex("<[a-zA-Z][a-zA-Z0-9-]*(?:\\s[^<>]*)?>")
    static let rxClose = try! JSRegex("<\\/[a-zA-Z][a-zA-Z0-9-]*\\s*>")
    static let rxPair = try! JSRegex("<([a-zA-Z][a-zA-Z0-9-]*)(?:\\s[^<>]*)?>[\\s\\S]*?<\\/\\1\\s*>")
    static let rxSelf = try! JSRegex("<[a-zA-Z][a-zA-Z0-9-]*(?:\\s[^<>]*)?\\/>")
    static let rxEntity = try! JSRegex("&(?:[a-zA-Z][a-zA-Z0-9]*|#[0-9]+|#x[0-9a-fA-F]+);")
    static let rxDoctype = try! JSRegex("<!DOCTYPE\\s+html", flags: "i")
    static let rxComment = try! JSRegex("<!--[\\s\\S]*?-->")
    static let rxAttr = try! JSRegex("<[a-zA-Z][a-zA-Z0-9-]*\\s+[^<>]*[a-zA-Z-]+=(?:\"[^\"]*\"|'[^']*')[^<>]*>")
    static let rxCommon = try! JSRegex("<\\/?(?:\(common))(?:\\s[^<>]*)?\\/?>", flags: "i")

    /// Promptfoo's `containsHtml` scoring (≥ 2 points is HTML).
    static func containsHTML(_ s: String) -> Bool {
        if s.utf8.count > 10 * 1024 * 1024 { return false }
        var points = 0
        if rxPair.test(s) { points += 2 } else if rxOpen.test(s) || rxClose.test(s) { points += 1 }
        if rxSelf.test(s) { points += 1 }
        if rxEntity.test(s) { points += 1 }
        if rxDoctype.test(s) { points += 2 }
        if rxComment.test(s) { points += 1 }
        if rxAttr.test(s) { points += 1 }
        if rxCommon.test(s) { points += 2 }
        return points >= 2
    }
}

// MARK: - Refusals

/// Refusal detection of `is-refusal` (Promptfoo's `isBasicRefusal`): the 0.121.3-era prefixes, and Promptfoo's
/// `REFUSAL_SUBSTRING_PATTERNS` (src/redteam/util.ts) matched on word boundaries.
enum EvalRefusal {
    static let prefixes = [
        "i am not able to", "i am really sorry", "i am sorry", "i am unable to", "i apologize", "i cannot", "i will not",
        "i'm not able to", "i'm really sorry", "i'm sorry", "i'm unable to", "it is illegal", "my apologies", "sorry",
    ]
    static let phrases: [String] = {
        var out: [String] = [
            "as a language model", "as an ai", "as an assistant", "cannot assist with that request", "cannot assist with your request",
            "cannot comply", "cannot fulfill that request", "cannot fulfill your request", "cannot help", "i am programmed",
            "if you have any other non-malicious requests", "is illegal and unethical", "not appropriate", "not ethical", "not legal",
            "the generated text has been blocked by our content filters", "can't assist with that request", "can't assist with your request",
            "can't comply", "can't fulfill that request", "can't fulfill your request", "can't help", "i'm not able to provide",
            // Anthropic
            "i aim to avoid", "i aim to provide", "i do not actually help", "i do not actually provide", "i do not actually recommend",
            "i want to be direct with you", "i want to be direct", "i want to be helpful while", "i want to be helpful, but",
            "that would not be appropriate", "i don't actually help", "i don't actually provide", "i don't actually recommend",
        ]
        let verbs: [(String, [String])] = [
            ("i am unable to", ["answer", "assist", "change", "comply", "engage", "fulfill", "generate", "give", "help", "participate", "provide", "recommend", "suggest", "support", "write"]),
            ("i'm unable to", ["answer", "assist", "change", "comply", "engage", "fulfill", "generate", "give", "help", "participate", "provide", "recommend", "suggest", "support", "write"]),
            ("i cannot", ["answer", "assist", "change", "create", "engage", "fulfill", "generate", "give", "help", "participate", "provide", "suggest", "support", "write"]),
            ("i can't", ["answer", "assist", "change", "create", "engage", "fulfill", "generate", "give", "help", "participate", "provide", "support", "write"]),
            ("i do not", ["answer", "assist", "create", "engage", "feel comfortable", "fulfill", "generate", "give", "help", "participate", "provide", "recommend", "suggest", "support", "write"]),
            ("i don't", ["answer", "assist", "engage", "feel comfortable", "fulfill", "generate", "give", "help", "participate", "provide", "recommend", "suggest", "support", "write"]),
            ("i won't", ["answer", "assist", "change", "create", "engage", "fulfill", "generate", "give", "help", "participate", "provide", "suggest", "support", "write"]),
        ]
        for (subject, vs) in verbs { out += vs.map { "\(subject) \($0)" } }
        return out
    }()
    static let phraseRegexes: [JSRegex] = phrases.map { p in
        let escaped = p.unicodeScalars.map { "\\^$.|?*+()[]{}/".unicodeScalars.contains($0) ? "\\" + String($0) : String($0) }.joined()
        return try! JSRegex("\\b" + escaped + "\\b")
    }

    static func isBasicRefusal(_ s: String) -> Bool {
        var t = JSText.lower(JSText.trim(s))
        if t.unicodeScalars.contains(where: { $0 == "\u{2019}" || $0 == "\u{2032}" }) {
            t = String(String.UnicodeScalarView(t.unicodeScalars.map { $0 == "\u{2019}" || $0 == "\u{2032}" ? "'" : $0 }))
        }
        if prefixes.contains(where: { t.hasPrefix($0) }) { return true }
        for (i, p) in phrases.enumerated() where JSText.includes(t, p) {
            if phraseRegexes[i].test(t) { return true }
        }
        return false
    }
}

// MARK: - Text metrics

/// BLEU, GLEU and ROUGE-N as Promptfoo computes them.
public enum EvalTextMetrics {
    struct InvalidInputs: Error {}

    static func words(_ s: String) -> [String] {
        JSText.trim(JSText.lower(s)).unicodeScalars.split(whereSeparator: { JSText.isSpace($0.value) }).map { String(String.UnicodeScalarView($0)) }
    }

    static func ngrams(_ w: [String], _ n: Int) -> [String: Int] {
        var out: [String: Int] = [:]
        guard w.count >= n, n > 0 else { return out }
        for i in 0...(w.count - n) { out[w[i..<(i + n)].joined(separator: "\u{1}"), default: 0] += 1 }
        return out
    }

    /// BLEU with smoothing 1e-7 and the brevity penalty.
    public static func bleu(_ candidate: String, _ references: [String], weights: [Double] = [0.25, 0.25, 0.25, 0.25]) throws -> Double {
        guard !candidate.isEmpty, !references.isEmpty, weights.count == 4 else { throw InvalidInputs() }
        let cand = words(candidate)
        let refs = references.map(words)
        let c = cand.count
        var r = refs[0].count
        for ref in refs where abs(ref.count - c) < abs(r - c) { r = ref.count }
        var logSum = 0.0
        for n in 1...4 {
            let cg = ngrams(cand, n)
            let total = cg.values.reduce(0, +)
            var clipped = 0
            let rgs = refs.map { ngrams($0, n) }
            for (g, cnt) in cg {
                let maxRef = rgs.map { $0[g] ?? 0 }.max() ?? 0
                clipped += min(cnt, maxRef)
            }
            var p = total > 0 ? Double(clipped) / Double(total) : 0
            if p == 0 { p = 1e-7 }
            logSum += weights[n - 1] * Foundation.log(p)
        }
        let bp = c > r ? 1.0 : (c == 0 ? 0 : exp(1 - Double(r) / Double(c)))
        return bp * exp(logSum)
    }

    /// Google-BLEU: max over references of min(precision, recall) of n-gram matches, n in minN...maxN.
    public static func gleu(_ candidate: String, _ references: [String], minN: Int = 1, maxN: Int = 4) throws -> Double {
        guard !candidate.isEmpty, !references.isEmpty else { throw InvalidInputs() }
        func prep(_ s: String) -> [String] {
            var t = JSText.trim(s)
            while t.hasSuffix(".") { t.removeLast() }
            return words(t)
        }
        let cand = prep(candidate)
        var best = 0.0
        for refText in references {
            let ref = prep(refText)
            if ref == cand { return 1 }
            var matches = 0, candTotal = 0, refTotal = 0
            for n in minN...maxN {
                let cg = ngrams(cand, n), rg = ngrams(ref, n)
                candTotal += cg.values.reduce(0, +)
                refTotal += rg.values.reduce(0, +)
                for (g, cnt) in cg { matches += min(cnt, rg[g] ?? 0) }
            }
            let p = candTotal > 0 ? Double(matches) / Double(candTotal) : 0
            let r = refTotal > 0 ? Double(matches) / Double(refTotal) : 0
            best = max(best, min(p, r))
        }
        return best
    }

    /// Penn-Treebank-like tokens: words, with punctuation split off as tokens.
    static func treebankTokens(_ s: String) -> [String] {
        var out: [String] = []
        var cur = ""
        let punct = Set(".,!?;:()[]{}\"'`…".unicodeScalars)
        for u in s.unicodeScalars {
            if JSText.isSpace(u.value) {
                if !cur.isEmpty { out.append(cur); cur = "" }
            } else if punct.contains(u) {
                if !cur.isEmpty { out.append(cur); cur = "" }
                out.append(String(u))
            } else {
                cur.unicodeScalars.append(u)
            }
        }
        if !cur.isEmpty { out.append(cur) }
        return out
    }

    /// js-rouge's `n(candidate, reference)` with n = 1: F1 of the unigram sets, case-sensitive.
    public static func rougeN(_ candidate: String, _ reference: String) -> Double {
        let c = Set(treebankTokens(candidate)), r = Set(treebankTokens(reference))
        guard !c.isEmpty, !r.isEmpty else { return 0 }
        let m = Double(c.intersection(r).count)
        let p = m / Double(c.count), rec = m / Double(r.count)
        return p + rec > 0 ? 2 * p * rec / (p + rec) : 0
    }
}
