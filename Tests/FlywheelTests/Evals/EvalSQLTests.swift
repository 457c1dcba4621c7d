@testable import Flywheel
@testable import FlywheelSupport
import Foundation
import Testing
@testable import FlywheelEvals

/// is-sql / contains-sql beyond the conformance vectors: dialects, joins, subqueries, allow-lists.
@Suite("Evals SQL checks")
struct EvalSQLTests {
    func pass(_ sql: String, _ db: String = "MySQL") -> Bool { EvalSQL.analyse(sql, dialect: EvalSQL.dialect(db)!) != nil }

    @Test("statement shapes the checker accepts and rejects")
    func shapes() {
        #expect(pass("SELECT a.id, COUNT(*) AS n FROM orders a LEFT JOIN users u ON u.id = a.user_id WHERE a.total > 10 GROUP BY a.id HAVING COUNT(*) > 1 ORDER BY n DESC LIMIT 5"))
        #expect(pass("SELECT name FROM t WHERE id IN (SELECT id FROM s WHERE x BETWEEN 1 AND 2) AND y IS NOT NULL"))
        #expect(pass("SELECT CASE WHEN x > 1 THEN 'a' ELSE 'b' END FROM t; SELECT 1"))
        #expect(pass("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y')"))
        #expect(pass("UPDATE t SET a = a + 1, b = 'z' WHERE id = 3"))
        #expect(pass("SELECT id::text FROM \"Users\" WHERE name ILIKE $1", "PostgreSQL"))
        #expect(!pass("SELECT id::text FROM t", "MySQL"))
        #expect(!pass("SELECT `id` FROM t", "PostgreSQL"))
        #expect(!pass("SELECT FROM t"))
        #expect(!pass("SELECT a FROM t WHERE"))
        #expect(!pass("INSERT t"))
        #expect(!pass("DROP TABLE users"))  // outside the known grammar: reported as not conforming
        #expect(!pass("SELECT 'unterminated FROM t"))
        #expect(!pass(""))
    }

    @Test("allow-lists name the unauthorized tables and columns; contains-sql reads the first sql block")
    func allowLists() throws {
        let v = JSONValue.obj([("allowedTables", .array(["select::null::orders"])), ("allowedColumns", .array(["select::null::(id|total)"]))])
        let ok = try EvalSQL.check("SELECT id, total FROM orders WHERE total > 3", value: v, inverse: false)
        #expect(ok.pass && ok.reason == "Assertion passed")
        let bad = try EvalSQL.check("SELECT o.id, u.email FROM orders o JOIN users u ON u.id = o.uid", value: v, inverse: false)
        #expect(!bad.pass)
        #expect(bad.reason.contains("Found: [select::null::users]"))
        #expect(bad.reason.contains("select::users::email"))
        #expect(EvalSQL.extract("text\n```sql\nSELECT 1\n```\nmore") == "SELECT 1")
        #expect(throws: EvalAssertionError.self) { try EvalSQL.check("SELECT 1", value: .string("x"), inverse: false) }
        let engine = EvalAssertionEngine(scripts: nil)
        let r = try engine.run(EvalAssertion(type: "contains-sql"), output: EvalOutput(output: .string("Here:\n```sql\nSELECT id FROM users\n```")), context: EvalAssertionContext())
        #expect(r.pass)
        let n = try engine.run(EvalAssertion(type: "not-contains-sql"), output: EvalOutput(output: .string("no sql here")), context: EvalAssertionContext())
        #expect(n.pass)
    }
}
