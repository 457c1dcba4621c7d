import FlywheelSupport
import FlywheelTraces
import Foundation

/// `is-sql` / `contains-sql` without node-sql-parser: a conservative recursive-descent check of statement shape for
/// SELECT (joins, subqueries, GROUP BY/HAVING/ORDER BY/LIMIT, UNION), INSERT, UPDATE and DELETE in the MySQL (default)
/// and PostgreSQL dialects. Anything outside that grammar is reported as not conforming, so the check can reject valid
/// SQL that node-sql-parser accepts (DDL, CTEs, window functions), never the other way round for the shapes it knows.
/// It also lists the tables (`type::db::table`) and columns (`type::table::column`) for `allowedTables`/`allowedColumns`,
/// which are matched as anchored regular expressions, as node-sql-parser's `whiteListCheck` does.
enum EvalSQL {
    struct SyntaxError: Error { var message: String }

    enum Dialect { case mysql, postgres }

    struct Analysis {
        var tables: [String] = []
        var columns: [String] = []
    }

    enum Tok: Equatable {
        case word(String)      // bare word (keyword or identifier)
        case quoted(String)    // a quoted identifier
        case string(String)
        case number(String)
        case sym(String)
        case param
    }

    static let reserved: Set<String> = [
        "SELECT", "FROM", "WHERE", "GROUP", "BY", "HAVING", "ORDER", "LIMIT", "OFFSET", "INSERT", "INTO", "VALUES", "UPDATE", "SET",
        "DELETE", "JOIN", "ON", "INNER", "LEFT", "RIGHT", "FULL", "OUTER", "CROSS", "UNION", "ALL", "DISTINCT", "AS", "AND", "OR",
        "NOT", "IN", "IS", "NULL", "LIKE", "BETWEEN", "CASE", "WHEN", "THEN", "ELSE", "END", "EXISTS", "ASC", "DESC", "FOR", "LOCK",
        "TRUE", "FALSE", "WITH", "USING", "CREATE", "DROP", "ALTER", "TABLE", "NATURAL", "RETURNING", "EXCEPT", "INTERSECT", "ILIKE",
    ]

    static func tokenize(_ s: String, _ d: Dialect) throws -> [Tok] {
        let c = Array(s.unicodeScalars)
        var i = 0
        var out: [Tok] = []
        func isWord(_ x: Unicode.Scalar) -> Bool { x.properties.isAlphabetic || x == "_" || (x.value >= 0x30 && x.value <= 0x39) || x == "$" }
        while i < c.count {
            let x = c[i]
            if x.properties.isWhitespace { i += 1; continue }
            if x == "-", i + 1 < c.count, c[i + 1] == "-" { while i < c.count, c[i] != "\n" { i += 1 }; continue }
            if x == "#", d == .mysql { while i < c.count, c[i] != "\n" { i += 1 }; continue }
            if x == "/", i + 1 < c.count, c[i + 1] == "*" {
                i += 2
                while i + 1 < c.count, !(c[i] == "*" && c[i + 1] == "/") { i += 1 }
                guard i + 1 < c.count else { throw SyntaxError(message: "unterminated comment") }
                i += 2
                continue
            }
            if x == "'" || x == "\"" || x == "`" {
                if x == "`" && d == .postgres { throw SyntaxError(message: "backticks are not PostgreSQL") }
                i += 1
                var t = ""
                var closed = false
                while i < c.count {
                    if c[i] == x {
                        if i + 1 < c.count, c[i + 1] == x { t.unicodeScalars.append(x); i += 2; continue }
                        closed = true
                        i += 1
                        break
                    }
                    if c[i] == "\\", x == "'", d == .mysql, i + 1 < c.count { t.unicodeScalars.append(c[i + 1]); i += 2; continue }
                    t.unicodeScalars.append(c[i]); i += 1
                }
                guard closed else { throw SyntaxError(message: "unterminated quote") }
                if x == "'" || (x == "\"" && d == .mysql) { out.append(.string(t)) } else { out.append(.quoted(t)) }
                continue
            }
            if x.value >= 0x30 && x.value <= 0x39 || (x == "." && i + 1 < c.count && c[i + 1].value >= 0x30 && c[i + 1].value <= 0x39) {
                var t = ""
                while i < c.count, (c[i].value >= 0x30 && c[i].value <= 0x39) || c[i] == "." { t.unicodeScalars.append(c[i]); i += 1 }
                if i < c.count, isWord(c[i]) { throw SyntaxError(message: "bad number") }
                out.append(.number(t))
                continue
            }
            if isWord(x) {
                var t = ""
                while i < c.count, isWord(c[i]) { t.unicodeScalars.append(c[i]); i += 1 }
                out.append(.word(t))
                continue
            }
            if x == "?" { out.append(.param); i += 1; continue }
            let two = i + 1 < c.count ? String(String.UnicodeScalarView([x, c[i + 1]])) : ""
            if ["<=", ">=", "<>", "!=", "||", "::"].contains(two) { out.append(.sym(two)); i += 2; continue }
            if "(),.;*=<>+-/%".unicodeScalars.contains(x) { out.append(.sym(String(x))); i += 1; continue }
            throw SyntaxError(message: "unexpected character \(x)")
        }
        return out
    }

    final class Parser {
        let t: [Tok]
        let d: Dialect
        var i = 0
        var a = Analysis()
        /// The statement kind being parsed (select/insert/update/delete) and its tables (alias → name).
        var kind = "select"
        var aliases: [String: String] = [:]
        var stmtTables: [String] = []

        init(_ t: [Tok], _ d: Dialect) { self.t = t; self.d = d }

        func peekKw(_ k: String, _ off: Int = 0) -> Bool {
            if i + off < t.count, case .word(let w) = t[i + off] { return w.uppercased() == k }
            return false
        }
        func kw(_ k: String) -> Bool { if peekKw(k) { i += 1; return true }; return false }
        func expectKw(_ k: String) throws { guard kw(k) else { throw SyntaxError(message: "expected \(k)") } }
        func sym(_ s: String) -> Bool { if i < t.count, t[i] == .sym(s) { i += 1; return true }; return false }
        func expectSym(_ s: String) throws { guard sym(s) else { throw SyntaxError(message: "expected \(s)") } }

        /// An identifier: a non-reserved bare word or a quoted identifier.
        func ident() -> String? {
            guard i < t.count else { return nil }
            switch t[i] {
            case .word(let w) where !EvalSQL.reserved.contains(w.uppercased()): i += 1; return w
            case .quoted(let q): i += 1; return q
            default: return nil
            }
        }

        func statements() throws {
            repeat {
                if i >= t.count { break }
                try statement()
            } while sym(";")
            guard i == t.count else { throw SyntaxError(message: "unexpected token") }
        }

        func statement() throws {
            aliases = [:]
            stmtTables = []
            let first = a.columns.count
            if peekKw("SELECT") || (i < t.count && t[i] == .sym("(")) { kind = "select"; try select() }
            else if kw("INSERT") { kind = "insert"; try insert() }
            else if kw("UPDATE") { kind = "update"; try update() }
            else if kw("DELETE") { kind = "delete"; try delete() }
            else { throw SyntaxError(message: "not a statement") }
            // Qualifiers read before FROM (the select list) are aliases: name their tables.
            for j in first..<a.columns.count {
                let p = a.columns[j].components(separatedBy: "::")
                if p.count == 3, p[1] != "null", let real = aliases[p[1]] { a.columns[j] = "\(p[0])::\(real)::\(p[2])" }
            }
        }

        func addTable(_ db: String?, _ name: String, alias: String?) {
            a.tables.append("\(kind)::\(db ?? "null")::\(name)")
            stmtTables.append(name)
            aliases[name] = name
            if let alias { aliases[alias] = name }
        }

        func tableName() throws -> (String?, String) {
            guard let n = ident() else { throw SyntaxError(message: "expected a table name") }
            if sym(".") {
                guard let m = ident() else { throw SyntaxError(message: "expected a table name") }
                return (n, m)
            }
            return (nil, n)
        }

        func alias() -> String? {
            if kw("AS") { return ident() }
            return ident()
        }

        func select() throws {
            if sym("(") { try select(); try expectSym(")") } else {
                try expectKw("SELECT")
                _ = kw("DISTINCT") || kw("ALL")
                repeat { try selectItem() } while sym(",")
                if kw("FROM") { try tableRefs() }
                if kw("WHERE") { try expr() }
                if kw("GROUP") { try expectKw("BY"); repeat { try expr() } while sym(",") }
                if kw("HAVING") { try expr() }
            }
            if kw("UNION") || kw("EXCEPT") || kw("INTERSECT") { _ = kw("ALL") || kw("DISTINCT"); try select(); return }
            try orderLimit()
            if kw("FOR") {
                guard kw("UPDATE") || kw("SHARE") else { throw SyntaxError(message: "expected UPDATE or SHARE") }
            } else if d == .mysql, kw("LOCK") {
                try expectKw("IN"); guard i < t.count, case .word(let w) = t[i], w.uppercased() == "SHARE" else { throw SyntaxError(message: "expected SHARE") }
                i += 1
                guard i < t.count, case .word(let m) = t[i], m.uppercased() == "MODE" else { throw SyntaxError(message: "expected MODE") }
                i += 1
            }
        }

        func orderLimit() throws {
            if kw("ORDER") {
                try expectKw("BY")
                repeat { try expr(); _ = kw("ASC") || kw("DESC") } while sym(",")
            }
            if kw("LIMIT") {
                try expr()
                if sym(",") { try expr() }
            }
            if kw("OFFSET") { try expr() }
        }

        func selectItem() throws {
            if sym("*") { a.columns.append("\(kind)::null::(.*)"); return }
            if i + 2 < t.count, t[i + 1] == .sym("."), t[i + 2] == .sym("*") {
                let save = i
                if let q = ident() {
                    i += 2
                    a.columns.append("\(kind)::\(q)::(.*)")
                    return
                }
                i = save
            }
            try expr()
            _ = alias()
        }

        func tableRefs() throws {
            try tableRef()
            while true {
                if sym(",") { try tableRef(); continue }
                let save = i
                _ = kw("NATURAL")
                if kw("INNER") || kw("CROSS") || ((kw("LEFT") || kw("RIGHT") || kw("FULL")) && (kw("OUTER") || true)) || peekKw("JOIN") {
                    try expectKw("JOIN")
                    try tableRef()
                    if kw("ON") { try expr() } else if kw("USING") {
                        try expectSym("(")
                        repeat { guard ident() != nil else { throw SyntaxError(message: "expected a column") } } while sym(",")
                        try expectSym(")")
                    }
                    continue
                }
                i = save
                break
            }
        }

        func tableRef() throws {
            if sym("(") {
                try select()
                try expectSym(")")
                _ = alias()
                return
            }
            let (db, name) = try tableName()
            addTable(db, name, alias: alias())
        }

        func insert() throws {
            _ = kw("INTO")
            let (db, name) = try tableName()
            addTable(db, name, alias: nil)
            if sym("(") {
                repeat {
                    guard let c = ident() else { throw SyntaxError(message: "expected a column") }
                    a.columns.append("insert::\(name)::\(c)")
                } while sym(",")
                try expectSym(")")
            }
            if kw("VALUES") || (d == .mysql && kw("VALUE")) {
                repeat {
                    try expectSym("(")
                    repeat { try expr() } while sym(",")
                    try expectSym(")")
                } while sym(",")
            } else if peekKw("SELECT") {
                try select()
            } else if d == .mysql, kw("SET") {
                try assignments()
            } else {
                throw SyntaxError(message: "expected VALUES or SELECT")
            }
            if d == .mysql, kw("ON") { try expectKw("DUPLICATE"); try expectKw("KEY"); try expectKw("UPDATE"); try assignments() }
            if d == .postgres, kw("RETURNING") { repeat { try selectItem() } while sym(",") }
        }

        func assignments() throws {
            repeat {
                guard var c = ident() else { throw SyntaxError(message: "expected a column") }
                if sym(".") { guard let m = ident() else { throw SyntaxError(message: "expected a column") }; c = m }
                a.columns.append("\(kind)::null::\(c)")
                try expectSym("=")
                try expr()
            } while sym(",")
        }

        func update() throws {
            let (db, name) = try tableName()
            addTable(db, name, alias: peekKw("SET") ? nil : alias())
            try expectKw("SET")
            try assignments()
            if kw("WHERE") { try expr() }
            if d == .mysql { try orderLimit() }
            if d == .postgres, kw("RETURNING") { repeat { try selectItem() } while sym(",") }
        }

        func delete() throws {
            try expectKw("FROM")
            let (db, name) = try tableName()
            addTable(db, name, alias: peekKw("WHERE") ? nil : alias())
            a.columns.append("delete::\(name)::(.*)")
            if kw("WHERE") { try expr() }
            if d == .mysql { try orderLimit() }
            if d == .postgres, kw("RETURNING") { repeat { try selectItem() } while sym(",") }
        }

        // Expressions
        func expr() throws { try orExpr() }
        func orExpr() throws { try andExpr(); while kw("OR") || (d == .mysql && kw("XOR")) { try andExpr() } }
        func andExpr() throws { try notExpr(); while kw("AND") { try notExpr() } }
        func notExpr() throws { if kw("NOT") { try notExpr() } else { try comparison() } }
        func comparison() throws {
            try additive()
            while true {
                if sym("=") || sym("<>") || sym("!=") || sym("<") || sym(">") || sym("<=") || sym(">=") { try additive(); continue }
                if kw("IS") { _ = kw("NOT"); guard kw("NULL") || kw("TRUE") || kw("FALSE") else { throw SyntaxError(message: "expected NULL") }; continue }
                let negated = kw("NOT")
                if kw("LIKE") || (d == .postgres && kw("ILIKE")) { try additive(); continue }
                if kw("IN") {
                    try expectSym("(")
                    if peekKw("SELECT") { try subquery() } else { repeat { try expr() } while sym(",") }
                    try expectSym(")")
                    continue
                }
                if kw("BETWEEN") { try additive(); try expectKw("AND"); try additive(); continue }
                if negated { throw SyntaxError(message: "expected LIKE, IN or BETWEEN after NOT") }
                return
            }
        }
        func additive() throws { try multiplicative(); while sym("+") || sym("-") || sym("||") { try multiplicative() } }
        func multiplicative() throws { try unary(); while sym("*") || sym("/") || sym("%") { try unary() } }
        func unary() throws {
            if sym("-") || sym("+") { try unary(); return }
            try primary()
            while d == .postgres, sym("::") { guard ident() != nil else { throw SyntaxError(message: "expected a type") } }
        }

        func subquery() throws {
            let saved = (kind, stmtTables)
            try select()
            (kind, stmtTables) = saved
        }

        func primary() throws {
            guard i < t.count else { throw SyntaxError(message: "unexpected end") }
            switch t[i] {
            case .number, .string, .param: i += 1; return
            case .sym("("):
                i += 1
                if peekKw("SELECT") { try subquery() } else { repeat { try expr() } while sym(",") }
                try expectSym(")")
                return
            case .word(let w):
                let u = w.uppercased()
                if u == "NULL" || u == "TRUE" || u == "FALSE" { i += 1; return }
                if u == "EXISTS" { i += 1; try expectSym("("); try subquery(); try expectSym(")"); return }
                if u == "CASE" {
                    i += 1
                    if !peekKw("WHEN") { try expr() }
                    while kw("WHEN") { try expr(); try expectKw("THEN"); try expr() }
                    if kw("ELSE") { try expr() }
                    try expectKw("END")
                    return
                }
                if u.hasPrefix("$"), d == .postgres { i += 1; return }
            default: break
            }
            // A function call or a column reference.
            guard let n = ident() else { throw SyntaxError(message: "unexpected token") }
            if sym("(") {
                if sym("*") { try expectSym(")"); return }
                _ = kw("DISTINCT")
                if !sym(")") {
                    repeat { try expr() } while sym(",")
                    try expectSym(")")
                }
                return
            }
            if sym(".") {
                guard let c = ident() else { throw SyntaxError(message: "expected a column") }
                a.columns.append("\(kind)::\(n)::\(c)")
                return
            }
            a.columns.append("\(kind)::null::\(n)")
        }
    }

    static func dialect(_ name: String) -> Dialect? {
        switch name.lowercased() {
        case "mysql", "mariadb": return .mysql
        case "postgresql", "postgres", "redshift": return .postgres
        default: return nil
        }
    }

    /// Parses `sql`; nil when it does not conform.
    static func analyse(_ sql: String, dialect: Dialect) -> Analysis? {
        guard let toks = try? tokenize(sql, dialect), !toks.isEmpty else { return nil }
        let p = Parser(toks, dialect)
        do { try p.statements() } catch { return nil }
        return p.a
    }

    /// Whether `found` is allowed by one of the anchored patterns. A column entry's table part may be `null` on either
    /// side (an unqualified column in a single-table statement), as Promptfoo normalises the lists.
    static func allowed(_ found: String, _ patterns: [String], tables: [String]) -> Bool {
        let parts = found.components(separatedBy: "::")
        var candidates = [found]
        if parts.count == 3 {
            candidates.append("\(parts[0])::null::\(parts[2])")
            if parts[1] == "null" { candidates += tables.map { "\(parts[0])::\($0)::\(parts[2])" } }
        }
        return patterns.contains { p in
            guard let re = try? JSRegex("^(?:" + p + ")$", flags: "i") else { return p == found }
            return candidates.contains { re.test($0) }
        }
    }

    /// Promptfoo's is-sql handler (reasons per the vectors).
    static func check(_ outputString: String, value: JSONValue?, inverse: Bool) throws -> EvalGradingResult {
        var db = "MySQL"
        var tables: [String]? = nil, columns: [String]? = nil
        if let v = value, !v.isNull {
            guard let o = v.objectValue else { throw EvalAssertionError("is-sql assertion must have a object value.") }
            db = o["databaseType"]?.stringValue ?? "MySQL"
            tables = o["allowedTables"]?.arrayValue?.map(\.jsDisplayString)
            columns = o["allowedColumns"]?.arrayValue?.map(\.jsDisplayString)
        }
        guard let d = dialect(db) else { throw EvalAssertionError("is-sql: database type \"\(db)\" is not supported by Flywheel (MySQL, PostgreSQL)") }
        var reasons: [String] = []
        var pass: Bool
        let analysis = analyse(outputString, dialect: d)
        if analysis != nil { pass = !inverse } else {
            pass = inverse
            reasons.append("SQL statement does not conform to the provided \(db) database syntax.")
        }
        if let a = analysis {
            let names = a.tables.map { $0.components(separatedBy: "::").last ?? $0 }
            if let tables {
                let bad = uniq(a.tables.filter { !allowed($0, tables, tables: []) })
                if !bad.isEmpty {
                    pass = inverse
                    reasons.append("SQL references unauthorized table(s). Found: [\(bad.joined(separator: ", "))]. Allowed: [\(tables.joined(separator: ", "))].")
                }
            }
            if let columns {
                let bad = uniq(a.columns.filter { !allowed($0, columns, tables: names) })
                if !bad.isEmpty {
                    pass = inverse
                    reasons.append("SQL references unauthorized column(s). Found: [\(bad.joined(separator: ", "))]. Allowed: [\(columns.joined(separator: ", "))].")
                }
            }
        }
        if inverse, !pass, reasons.isEmpty { reasons.append("The output SQL statement is valid") }
        return EvalGradingResult(pass: pass, score: pass ? 1 : 0, reason: pass ? "Assertion passed" : reasons.joined(separator: " "))
    }

    static func uniq(_ xs: [String]) -> [String] {
        var seen = Set<String>()
        return xs.filter { seen.insert($0).inserted }
    }

    /// contains-sql: the first ```sql block, else the whole output.
    static func extract(_ s: String) -> String {
        if let r = s.range(of: "```sql") {
            let rest = s[r.upperBound...]
            if let end = rest.range(of: "```") { return JSText.trim(String(rest[..<end.lowerBound])) }
            return JSText.trim(String(rest))
        }
        return s
    }
}
