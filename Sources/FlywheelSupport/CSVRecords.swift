import CSV
import Foundation

/// Flywheel's one reader of RFC 4180 CSV (Promptfoo test files, CSV artifacts the critic checks, the example's data
/// files), on CSV.swift. It adds what messages need: the line each record starts on, and a refusal of a quoted field
/// that never closes (CSV.swift would read it to the end of the file).
public enum CSVRecords {
    /// Why a CSV text cannot be read, and where.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var line: Int
        public var reason: String
        public var description: String { "line \(line): \(reason)" }
    }

    /// One record: its fields, and the line it starts on (1-based).
    public struct Record: Sendable, Equatable {
        public var fields: [String]
        public var line: Int
    }

    /// The records of `text` (quoted fields with `""`, CRLF or LF, a leading BOM dropped), blank lines skipped.
    /// - Throws: `Failure` naming the line where a quoted field opened and never closed.
    public static func read(_ text: String) throws -> [Record] {
        var body = Substring(text)
        if body.unicodeScalars.first == "\u{FEFF}" { body = Substring(body.unicodeScalars.dropFirst()) }
        if let open = unterminatedQuoteLine(body) { throw Failure(line: open, reason: "unterminated quoted field") }
        let reader = try CSVReader(string: String(body))
        var out: [Record] = []
        var line = 1
        while let fields = reader.next() {
            if !(fields.count == 1 && fields[0].isEmpty) { out.append(Record(fields: fields, line: line)) }
            // The record's own line break, plus the ones inside its quoted fields.
            line += 1 + fields.reduce(0) { $0 + lineBreaks($1) }
        }
        return out
    }

    /// A header and rows of the same width: each row's line, and its (column, value) pairs in column order.
    /// - Throws: `Failure` for an unterminated quote, or a row whose width differs from the header's (its line).
    public static func table(_ text: String) throws -> [(line: Int, columns: [(String, String)])] {
        let records = try read(text)
        guard let header = records.first?.fields else { return [] }
        return try records.dropFirst().map { r in
            guard r.fields.count == header.count else {
                throw Failure(line: r.line, reason: "row has \(r.fields.count) fields, the header has \(header.count)")
            }
            return (r.line, Array(zip(header, r.fields)))
        }
    }

    /// Line breaks in `text`: LF, CR, and CRLF counted once.
    static func lineBreaks(_ text: String) -> Int {
        var n = 0, previousCR = false
        for c in text.unicodeScalars {
            if c == "\r" || c == "\n" && !previousCR { n += 1 }
            previousCR = c == "\r"
        }
        return n
    }

    /// The line of a quote that opens a field and is never closed (nil when every quoted field closes). A quote
    /// inside an unquoted field is literal.
    static func unterminatedQuoteLine(_ text: Substring) -> Int? {
        var line = 1, openedAt = 0
        var inQuotes = false, atFieldStart = true, previousCR = false
        var it = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar?
        while let c = pending ?? it.next() {
            pending = nil
            if c == "\n" && !previousCR || c == "\r" { line += 1 }
            previousCR = c == "\r"
            if inQuotes {
                guard c == "\"" else { continue }
                let next = it.next()
                if next == "\"" { continue }  // an escaped quote
                inQuotes = false
                atFieldStart = false
                pending = next
                continue
            }
            switch c {
            case "\"" where atFieldStart:
                inQuotes = true
                openedAt = line
            case ",", "\n", "\r": atFieldStart = true
            default: atFieldStart = false
            }
        }
        return inQuotes ? openedAt : nil
    }
}
