import FlywheelSupport
import Foundation

/// METEOR as Promptfoo computes it (`meteor` assertion): tokens split on white space with trailing dots removed,
/// lower-cased; exact matches, then Porter-stem matches (each scanning from the end, as Promptfoo does); then
/// `fmean = P·R / (α·P + (1−α)·R)`, `penalty = γ·(chunks/matches)^β`, score = `(1 − penalty)·fmean`, the best over the
/// references. Promptfoo's third stage (WordNet synonyms) is not done: Flywheel's score can be lower when a synonym
/// would have matched.
enum EvalMeteor {
    typealias Pair = (Int, String)

    static func tokens(_ s: String) -> [String] {
        // JavaScript's s.split(/\s+/): leading/trailing white space gives empty first/last tokens.
        var out: [String] = []
        var cur = ""
        var inSpace = false
        for ch in s.unicodeScalars {
            if JSText.isSpace(ch.value) {
                if !inSpace { out.append(cur); cur = ""; inSpace = true }
            } else {
                inSpace = false
                cur.unicodeScalars.append(ch)
            }
        }
        out.append(cur)
        return out.map { w in
            var w = w
            while w.hasSuffix(".") { w.removeLast() }
            return w
        }
    }

    static func matchExact(_ cand: [Pair], _ ref: [Pair]) -> ([(Int, Int)], [Pair], [Pair]) {
        var c = cand, r = ref
        var matches: [(Int, Int)] = []
        var i = c.count - 1
        while i >= 0 {
            var j = r.count - 1
            while j >= 0 {
                if c[i].1 == r[j].1 {
                    matches.append((c[i].0, r[j].0))
                    c.remove(at: i)
                    r.remove(at: j)
                    break
                }
                j -= 1
            }
            i -= 1
        }
        return (matches, c, r)
    }

    static func single(_ reference: [String], _ candidate: [String], alpha: Double, beta: Double, gamma: Double) -> Double {
        let cand = candidate.enumerated().map { ($0.offset, JSText.lower($0.element)) }
        let ref = reference.enumerated().map { ($0.offset, JSText.lower($0.element)) }
        let (exact, rc, rr) = matchExact(cand, ref)
        let (stem, _, _) = matchExact(rc.map { ($0.0, PorterStemmer.stem($0.1)) }, rr.map { ($0.0, PorterStemmer.stem($0.1)) })
        let all = (exact + stem).sorted { $0.0 < $1.0 }
        let m = Double(all.count)
        if all.isEmpty || cand.isEmpty || ref.isEmpty { return 0 }
        let p = m / Double(cand.count), r = m / Double(ref.count)
        let den = alpha * p + (1 - alpha) * r
        if den == 0 { return 0 }
        let fmean = p * r / den
        var chunks = 1
        for k in 0..<(all.count - 1) where all[k + 1].0 != all[k].0 + 1 || all[k + 1].1 != all[k].1 + 1 { chunks += 1 }
        let penalty = gamma * pow(Double(chunks) / m, beta)
        return (1 - penalty) * fmean
    }

    static func score(_ candidate: String, _ references: [String], alpha: Double = 0.9, beta: Double = 3, gamma: Double = 0.5) throws -> Double {
        if candidate.isEmpty || references.isEmpty { throw EvalAssertionError("Invalid inputs") }
        return references.map { single(tokens($0), tokens(candidate), alpha: alpha, beta: beta, gamma: gamma) }.max() ?? 0
    }

    static func assert(_ a: EvalAssertion, value: JSONValue?, output: String, inverse: Bool) throws -> EvalGradingResult {
        let refs: [String]
        if let s = value?.stringValue { refs = [s] } else if let arr = value?.arrayValue, arr.allSatisfy({ $0.stringValue != nil }) {
            refs = arr.compactMap(\.stringValue)
        } else { throw EvalAssertionError("\"meteor\" assertion must have a string or array of strings value") }
        let raw = a.raw.objectValue
        let alpha = raw?["alpha"]?.doubleValue ?? 0.9, beta = raw?["beta"]?.doubleValue ?? 3, gamma = raw?["gamma"]?.doubleValue ?? 0.5
        let t = a.threshold ?? 0.5
        let s = try score(output, refs, alpha: alpha, beta: beta, gamma: gamma)
        let pass = inverse ? s < t : s >= t
        return EvalGradingResult(pass: pass, score: inverse ? 1 - s : s,
                                 reason: pass ? "METEOR assertion passed" : "METEOR score \(JSNumber.toFixed(s, 4)) did not meet threshold \(JSNumber.string(t))")
    }
}

/// The Porter (1980) stemmer, as the `natural` package's PorterStemmer applies it to a lower-case word.
enum PorterStemmer {
    static func stem(_ word: String) -> String {
        var w = Array(word.lowercased().unicodeScalars).map { Character($0) }
        if w.count < 3 { return String(w) }
        func isCons(_ i: Int) -> Bool {
            switch w[i] {
            case "a", "e", "i", "o", "u": return false
            case "y": return i == 0 ? true : !isCons(i - 1)
            default: return true
            }
        }
        /// m(): the number of VC sequences in w[0..<end].
        func measure(_ end: Int) -> Int {
            var n = 0, i = 0
            while i < end && isCons(i) { i += 1 }
            while i < end {
                while i < end && !isCons(i) { i += 1 }
                if i >= end { break }
                while i < end && isCons(i) { i += 1 }
                n += 1
            }
            return n
        }
        func hasVowel(_ end: Int) -> Bool { (0..<end).contains { !isCons($0) } }
        func ends(_ s: String) -> Bool { w.count >= s.count && String(w.suffix(s.count)) == s }
        func doubleCons(_ end: Int) -> Bool { end >= 2 && w[end - 1] == w[end - 2] && isCons(end - 1) }
        func cvc(_ end: Int) -> Bool {
            guard end >= 3, isCons(end - 1), !isCons(end - 2), isCons(end - 3) else { return false }
            return !["w", "x", "y"].contains(w[end - 1])
        }
        func replace(_ s: String, _ r: String, minM: Int) -> Bool {
            guard ends(s) else { return false }
            let stemEnd = w.count - s.count
            if measure(stemEnd) > minM { w = Array(w[0..<stemEnd]) + Array(r) }
            return true
        }
        // Step 1a
        if ends("sses") { w.removeLast(2) } else if ends("ies") { w.removeLast(2) } else if ends("ss") {} else if ends("s") { w.removeLast() }
        // Step 1b
        var extra = false
        if ends("eed") { if measure(w.count - 3) > 0 { w.removeLast() } } else if ends("ed"), hasVowel(w.count - 2) { w.removeLast(2); extra = true }
        else if ends("ing"), hasVowel(w.count - 3) { w.removeLast(3); extra = true }
        if extra {
            if ends("at") || ends("bl") || ends("iz") { w.append("e") }
            else if doubleCons(w.count), !["l", "s", "z"].contains(w[w.count - 1]) { w.removeLast() }
            else if measure(w.count) == 1, cvc(w.count) { w.append("e") }
        }
        // Step 1c
        if ends("y"), hasVowel(w.count - 1) { w[w.count - 1] = "i" }
        // Step 2
        let step2: [(String, String)] = [("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"), ("izer", "ize"),
                                         ("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous"),
                                         ("ization", "ize"), ("ation", "ate"), ("ator", "ate"), ("alism", "al"), ("iveness", "ive"),
                                         ("fulness", "ful"), ("ousness", "ous"), ("aliti", "al"), ("iviti", "ive"), ("biliti", "ble"),
                                         ("logi", "log")]
        for (s, r) in step2 where replace(s, r, minM: 0) { break }
        // Step 3
        let step3: [(String, String)] = [("icate", "ic"), ("ative", ""), ("alize", "al"), ("iciti", "ic"), ("ical", "ic"), ("ful", ""), ("ness", "")]
        for (s, r) in step3 where replace(s, r, minM: 0) { break }
        // Step 4
        let step4 = ["al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent", "ion", "ou", "ism", "ate", "iti",
                     "ous", "ive", "ize"]
        for s in step4.sorted(by: { $0.count > $1.count }) where ends(s) {
            let stemEnd = w.count - s.count
            if s == "ion" {
                if stemEnd > 0, w[stemEnd - 1] == "s" || w[stemEnd - 1] == "t", measure(stemEnd) > 1 { w = Array(w[0..<stemEnd]) }
            } else if measure(stemEnd) > 1 {
                w = Array(w[0..<stemEnd])
            }
            break
        }
        // Step 5a
        if ends("e") {
            let m = measure(w.count - 1)
            if m > 1 || (m == 1 && !cvc(w.count - 1)) { w.removeLast() }
        }
        // Step 5b
        if measure(w.count) > 1, doubleCons(w.count), w[w.count - 1] == "l" { w.removeLast() }
        return String(w)
    }
}
