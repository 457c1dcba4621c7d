import Foundation

/// Short excerpts of untrusted or long text for notes, titles, prompts and evidence: clipped to a length, folded
/// onto one line, or cut around a match. Shared by the critics, diagnosis, eval generation and the model adapters.
package enum Excerpt {
    /// The first `n` characters and `…` when the text is longer, else the text itself.
    package static func clip(_ s: String, _ n: Int) -> String { s.count <= n ? s : String(s.prefix(n)) + "…" }

    /// The lines joined by single spaces, trimmed.
    package static func oneLine(_ s: String) -> String {
        s.split(whereSeparator: \.isNewline).joined(separator: " ").trimmingCharacters(in: .whitespaces)
    }

    /// `radius` characters either side of `range`, on one line (the start of the text when the range is not in it).
    package static func around(_ text: String, range: NSRange, radius: Int = 60) -> String {
        guard let r = Range(range, in: text) else { return clip(text, radius * 2) }
        let start = text.index(r.lowerBound, offsetBy: -radius, limitedBy: text.startIndex) ?? text.startIndex
        let end = text.index(r.upperBound, offsetBy: radius, limitedBy: text.endIndex) ?? text.endIndex
        return oneLine(String(text[start..<end]))
    }
}
