import FlywheelSupport
import Foundation

/// Encoding and merging of `feedback.jsonl`: one compact JSON object per line with sorted keys, records in a
/// stable order (`created_at`, then `feedback_id`), no duplicate ids.
public enum FeedbackStore {
    /// The file's bytes: one line per record, each ending in `\n`; records deduplicated and sorted.
    public static func encode(_ records: [FeedbackRecord]) -> Data {
        Data(sorted(dedupe(records)).map { $0.jsonLine + "\n" }.joined().utf8)
    }

    /// Reads a `feedback.jsonl` (or JSON array); throws every validation problem.
    public static func decode(_ data: Data, file: String = "feedback.jsonl", knownTraceIDs: Set<String>? = nil) throws(FeedbackValidationError) -> [FeedbackRecord] {
        try FeedbackParser.load(data, file: file, knownTraceIDs: knownTraceIDs)
    }

    /// Reads a stored feedback file in the site's mode for a history whose files are old or damaged: the records
    /// that read (fields this version does not know pass unread), and one issue per line or field that did not.
    public static func read(lenient data: Data, file: String) -> FeedbackParser.Result {
        FeedbackParser.parse(data, file: file, lenient: true)
    }

    /// Drops records whose `feedback_id` was already seen (the first one wins), keeping order.
    public static func dedupe(_ records: [FeedbackRecord]) -> [FeedbackRecord] {
        var seen = Set<String>()
        return records.filter { seen.insert($0.feedbackID).inserted }
    }

    /// `existing` plus the records of `new` whose id is not there yet, in the stable order.
    public static func merge(_ existing: [FeedbackRecord], _ new: [FeedbackRecord]) -> [FeedbackRecord] {
        sorted(dedupe(existing + new))
    }

    /// The stable order: `created_at`, then `feedback_id` (byte order).
    public static func sorted(_ records: [FeedbackRecord]) -> [FeedbackRecord] {
        records.sorted { a, b in
            if a.createdAt != b.createdAt { return byteOrder(a.createdAt, b.createdAt) }
            return byteOrder(a.feedbackID, b.feedbackID)
        }
    }
}
