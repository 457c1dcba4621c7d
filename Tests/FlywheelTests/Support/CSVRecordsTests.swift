import Foundation
import Testing

@testable import Flywheel
@testable import FlywheelSupport
@testable import FlywheelTraces

@Suite("CSV (one reader for test files, critic checks and the example's data)")
struct CSVRecordsTests {
    @Test("quoted fields, doubled quotes, CRLF and LF, a BOM, blank lines; each record with the line it starts on")
    func records() throws {
        let text = "\u{FEFF}q,expected\r\n\"hello, world\",\"say \"\"hi\"\"\"\r\n\r\n\"two\nlines\",x\nplain,\"\"\n"
        let r = try CSVRecords.read(text)
        #expect(r.map(\.fields) == [["q", "expected"], ["hello, world", "say \"hi\""], ["two\nlines", "x"], ["plain", ""]])
        #expect(r.map(\.line) == [1, 2, 4, 6])
    }

    @Test("a quote inside an unquoted field is literal; an unclosed quoted field is refused at the line it opened")
    func quotes() throws {
        #expect(try CSVRecords.read("size,note\n5\" screen,ok\n").map(\.fields) == [["size", "note"], ["5\" screen", "ok"]])
        do {
            _ = try CSVRecords.read("a,b\n1,2\n3,\"never\nclosed\n")
            Issue.record("an unterminated quote was accepted")
        } catch let e as CSVRecords.Failure {
            #expect(e.line == 3 && e.reason == "unterminated quoted field")
        }
    }

    @Test("a table refuses a row of another width, naming its line (after a multi-line field)")
    func table() throws {
        let rows = try CSVRecords.table("a,b\n\"x\ny\",1\n2,3\n")
        #expect(rows.map(\.line) == [2, 4])
        #expect(rows[0].columns.map(\.0) == ["a", "b"] && rows[0].columns.map(\.1) == ["x\ny", "1"])
        do {
            _ = try CSVRecords.table("a,b\n\"x\ny\",1\n2,3,4\n")
            Issue.record("a wide row was accepted")
        } catch let e as CSVRecords.Failure {
            #expect(e.line == 4 && e.reason.contains("3 fields"))
        }
    }
}
