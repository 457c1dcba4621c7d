import Foundation
import Testing
import TestSupport

@testable import Flywheel
import FlywheelSupport

/// The detectors run three patterns on error texts only when the text may hold a word every match holds
/// (`Diagnoser.mayContain`): the pre-check must never rule out a text the pattern matches.
@Suite("Diagnosis: the word pre-checks of the error patterns")
struct ErrorPatternPrecheckTests {
    static var patterns: [(NSRegularExpression, [StaticString])] {
        [
            (Diagnoser.unknownToolPattern, Diagnoser.unknownToolWords), (Diagnoser.maxTurnsPattern, Diagnoser.maxTurnsWords),
            (Diagnoser.guardrailText, Diagnoser.guardrailWords),
        ]
    }

    static let texts = [
        "Unknown tool: foo", "NO SUCH TOOL", "tool `search` not found", "Tool 'x.y' is not found", "not a valid tool", "Invalid Tool call",
        "TOOL NOT FOUND", "unknown function bar", "MaxTurnsExceeded", "max_turns reached", "maximum turns", "Max-Turns", "turn limit hit",
        "Guardrail tripped", "TRIPWIRE triggered", "input guardrail", "timed out after 30s", "page_limit 87 exceeds maximum 25", "",
        "toolbox", "functional", "turnstile", "guard rail", "trip wire", "ſorry", "Kelvin \u{212A}", "tooł", "ᴛool", "the tool is unknown",
    ]

    @Test("a text the pre-check rules out never matches the pattern; crafted and seeded texts")
    func precheckNeverRulesOutAMatch() {
        var rng = SplitMix64(seed: 7)
        let pieces = ["tool", "TOOL", "function", "unknown ", "no such ", " not found", "turn", "max", "imum", "_", "-", " ", "limit", "guardrail",
                      "trip", "wire", "x", "é", "\u{212A}", "ß"]
        var all = Self.texts
        for _ in 0..<400 { all.append((0..<Int.random(in: 1...6, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()) }
        var ruledOut = 0
        for (pattern, words) in Self.patterns {
            for t in all where !Diagnoser.mayContain(t, anyOf: words) {
                ruledOut += 1
                #expect(!ErrorText.test(pattern, t), "\(pattern.pattern) matches \(t)")
            }
            for t in all where ErrorText.test(pattern, t) { #expect(Diagnoser.mayContain(t, anyOf: words), "\(t)") }
        }
        #expect(ruledOut > 100)
        // Stated outright.
        #expect(!Diagnoser.mayContain("timed out after 30s", anyOf: Diagnoser.unknownToolWords))
        #expect(Diagnoser.mayContain("Unknown TOOL", anyOf: Diagnoser.unknownToolWords) && Diagnoser.mayContain("é", anyOf: Diagnoser.guardrailWords))
    }
}

@Suite("Diagnosis: trimming tool arguments")
struct DiagnosisTrimTests {
    @Test("trimmed is Foundation's trimming of white space and newlines, with or without the ASCII shortcut")
    func trimmedAgreesWithFoundation() {
        let texts = [
            "", " ", "\n", "{\"q\":1}", " {\"q\":1}", "{\"q\":1} ", "\t{\"q\":1}\r\n", "\u{0B}x\u{0C}", "x", "a b", "\u{85}x", "x\u{A0}", "\u{2028}x\u{2029}",
            "é", " é ", "\u{3000}x", "x\u{200B}", "\u{1F600}", "{\"q\":\"\u{A0}\"}", "\r", "\r\n",
        ]
        for t in texts { #expect(DiagnosisLoading.trimmed(t) == t.trimmingCharacters(in: .whitespacesAndNewlines), "\(Array(t.unicodeScalars))") }
        for c in UInt8(0)..<0x80 {
            let s = String(UnicodeScalar(c))
            #expect(DiagnosisLoading.isASCIISpace(c) == (s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty), "\(c)")
        }
    }
}
