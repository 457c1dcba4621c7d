import FlywheelSupport
import Foundation

/// The spans of JSONL bytes, each line read on its own with `Span(line:)`, for a reader that shows a file which may be
/// old or damaged (the site): a line that is not a span is left out and named, and the rest is kept. Unlike
/// `TraceStore`, it does not apply HALO's dataset rules (an id's format, a missing parent, a line separator in an
/// indexed field): a span that reads is shown as it is.
public struct SpanLines: Sendable {
    /// A line that is not a span: its 1-based number, the field and why.
    public struct Skipped: Sendable, Hashable, CustomStringConvertible {
        public var line: Int
        public var field: String
        public var message: String
        public var description: String { "line \(line): \(field): \(message)" }
    }

    /// The spans in file order.
    public var spans: [Span] = []
    public var skipped: [Skipped] = []

    public init(_ data: Data) {
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var start = 0
            var line = 0
            let n = raw.count
            while start < n {
                line += 1
                let end = raw[start...].firstIndex(of: 0x0A) ?? n
                var bytes = UnsafeRawBufferPointer(rebasing: raw[start..<end])
                if bytes.last == 0x0D { bytes = UnsafeRawBufferPointer(rebasing: bytes.dropLast()) }
                start = end + 1
                if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
                do {
                    spans.append(try Span(line: bytes))
                } catch let e as SpanDecodingError {
                    skipped.append(Skipped(line: line, field: e.field, message: e.message))
                } catch {
                    skipped.append(Skipped(line: line, field: "<line>", message: "\(error)"))
                }
            }
        }
    }

    /// The spans grouped by trace id, traces in order of their first line, spans in file order.
    public var byTrace: [(traceID: String, spans: [Span])] {
        var order: [String] = []
        var groups: [String: [Span]] = [:]
        for s in spans {
            if groups[s.traceID] == nil { order.append(s.traceID) }
            groups[s.traceID, default: []].append(s)
        }
        return order.map { ($0, groups[$0] ?? []) }
    }
}
