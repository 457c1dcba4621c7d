import Foundation

/// A derived metric of a suite: its name and the expression over the named metrics of a column.
public struct EvalDerivedMetric: Sendable, Equatable {
    public var name: String
    public var expression: EvalMathExpression
}

/// The arithmetic subset of mathjs that Promptfoo's `derivedMetrics` use: numbers, metric names (letters, digits, `_`),
/// `+ - * / % ^`, unary minus, parentheses and `min`, `max`, `abs`, `sqrt`, `round`, `floor`, `ceil`, `log`, `exp`.
/// A name that is not a metric is 0 (Promptfoo starts every metric at 0). Division by zero gives ±Infinity or NaN, as in mathjs.
public struct EvalMathExpression: Sendable, Equatable {
    public struct ParseError: Error, Sendable { public var message: String }

    indirect enum Node: Sendable, Equatable {
        case number(Double)
        case name(String)
        case neg(Node)
        case binary(Character, Node, Node)
        case call(String, [Node])
    }

    public let source: String
    let root: Node
    static let functions: Set<String> = ["min", "max", "abs", "sqrt", "round", "floor", "ceil", "log", "exp"]

    public init(_ source: String) throws {
        self.source = source
        var p = Parser(Array(source.unicodeScalars))
        let n = try p.expression()
        p.skip()
        guard p.i == p.c.count else { throw ParseError(message: "unexpected \"\(String(String.UnicodeScalarView(p.c[p.i...])))\"") }
        self.root = n
    }

    /// The names the expression reads.
    public var names: Set<String> {
        func walk(_ n: Node) -> Set<String> {
            switch n {
            case .number: return []
            case .name(let s): return [s]
            case .neg(let x): return walk(x)
            case .binary(_, let a, let b): return walk(a).union(walk(b))
            case .call(_, let xs): return xs.reduce(into: Set<String>()) { $0.formUnion(walk($1)) }
            }
        }
        return walk(root)
    }

    public func evaluate(_ scope: [String: Double]) -> Double {
        func ev(_ n: Node) -> Double {
            switch n {
            case .number(let d): return d
            case .name(let s): return scope[s] ?? 0
            case .neg(let x): return -ev(x)
            case .binary(let op, let a, let b):
                let x = ev(a), y = ev(b)
                switch op {
                case "+": return x + y
                case "-": return x - y
                case "*": return x * y
                case "/": return x / y
                case "%": return y == 0 ? .nan : x - y * (x / y).rounded(.down)
                default: return pow(x, y)
                }
            case .call(let f, let xs):
                let v = xs.map(ev)
                switch f {
                case "min": return v.min() ?? .nan
                case "max": return v.max() ?? .nan
                case "abs": return abs(v.first ?? .nan)
                case "sqrt": return (v.first ?? .nan).squareRoot()
                case "round": return (v.first ?? .nan).rounded(.toNearestOrAwayFromZero)
                case "floor": return (v.first ?? .nan).rounded(.down)
                case "ceil": return (v.first ?? .nan).rounded(.up)
                case "log": return Foundation.log(v.first ?? .nan)
                default: return Foundation.exp(v.first ?? .nan)
                }
            }
        }
        return ev(root)
    }

    struct Parser {
        let c: [Unicode.Scalar]
        var i = 0
        init(_ c: [Unicode.Scalar]) { self.c = c }
        mutating func skip() { while i < c.count, c[i] == " " || c[i] == "\t" || c[i] == "\n" { i += 1 } }
        mutating func peek() -> Unicode.Scalar? { skip(); return i < c.count ? c[i] : nil }
        mutating func expression() throws -> Node {
            var n = try term()
            while let op = peek(), op == "+" || op == "-" { i += 1; n = .binary(Character(op), n, try term()) }
            return n
        }
        mutating func term() throws -> Node {
            var n = try unary()
            while let op = peek(), op == "*" || op == "/" || op == "%" { i += 1; n = .binary(Character(op), n, try unary()) }
            return n
        }
        mutating func unary() throws -> Node {
            if peek() == "-" { i += 1; return .neg(try unary()) }
            if peek() == "+" { i += 1; return try unary() }
            return try power()
        }
        mutating func power() throws -> Node {
            let base = try atom()
            if peek() == "^" { i += 1; return .binary("^", base, try unary()) }
            return base
        }
        mutating func atom() throws -> Node {
            guard let ch = peek() else { throw ParseError(message: "the expression ends too early") }
            if ch == "(" {
                i += 1
                let n = try expression()
                guard peek() == ")" else { throw ParseError(message: "missing )") }
                i += 1
                return n
            }
            if (ch.value >= 0x30 && ch.value <= 0x39) || ch == "." {
                var s = ""
                while i < c.count, (c[i].value >= 0x30 && c[i].value <= 0x39) || c[i] == "." || c[i] == "e" || c[i] == "E" { s.unicodeScalars.append(c[i]); i += 1 }
                guard let d = Double(s) else { throw ParseError(message: "bad number \"\(s)\"") }
                return .number(d)
            }
            if ch.properties.isAlphabetic || ch == "_" {
                var s = ""
                while i < c.count, c[i].properties.isAlphabetic || c[i] == "_" || (c[i].value >= 0x30 && c[i].value <= 0x39) { s.unicodeScalars.append(c[i]); i += 1 }
                if peek() == "(" {
                    guard EvalMathExpression.functions.contains(s) else { throw ParseError(message: "unknown function \(s)()") }
                    i += 1
                    var args: [Node] = []
                    if peek() != ")" {
                        args.append(try expression())
                        while peek() == "," { i += 1; args.append(try expression()) }
                    }
                    guard peek() == ")" else { throw ParseError(message: "missing ) after the arguments of \(s)") }
                    i += 1
                    return .call(s, args)
                }
                return .name(s)
            }
            throw ParseError(message: "unexpected \"\(Character(ch))\"")
        }
    }
}
