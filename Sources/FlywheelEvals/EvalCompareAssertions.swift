import FlywheelSupport
import Foundation

/// `select-best` and `max-score`: assertions over all outputs of one test row group (the same test, vars combination
/// and repeat across the columns), graded after the rows, as Promptfoo does. The row keeps its other components;
/// the compare result is appended, and a row that is not selected fails with its reason.
///
/// - select-best: the judge picks the best output for the criteria (`value`); that row passes (`score` 1), the others
///   fail (`score` 0). Needs at least two outputs; without a judge the component is skipped.
/// - max-score: each output's score is the mean (`value.method: average`, default) or sum (`sum`) of its other
///   assertions' scores, weighted by `value.weights[type]` (default 1); the highest (the first on a tie) passes unless
///   it is below `value.threshold`.
extension EvalRunner {
    static let compareTypes: Set<String> = ["select-best", "max-score"]

    func applyCompareAssertions(_ rows: inout [EvalRow], assertionsOf: (EvalRow) -> [EvalAssertion]) {
        var groups: [Int: [Int]] = [:]
        var order: [Int] = []
        for (i, r) in rows.enumerated() {
            if groups[r.testIdx] == nil { order.append(r.testIdx) }
            groups[r.testIdx, default: []].append(i)
        }
        for t in order {
            let idx = groups[t]!
            let compare = assertionsOf(rows[idx[0]]).filter { Self.compareTypes.contains($0.baseType) }
            for a in compare {
                // Only rows that produced an output and were graded take part.
                let graded = idx.filter { rows[$0].gradingResult != nil && rows[$0].response?.error == nil }
                let results: [EvalGradingResult]
                if a.baseType == "select-best" {
                    results = selectBest(a, rows: graded.map { rows[$0] })
                } else {
                    results = maxScore(a, rows: graded.map { rows[$0] }, assertionsOf: assertionsOf)
                }
                for (k, i) in graded.enumerated() { Self.attach(results[k], assertion: a, to: &rows[i]) }
            }
        }
    }

    static func attach(_ r0: EvalGradingResult, assertion a: EvalAssertion, to row: inout EvalRow) {
        var r = r0
        r.assertion = a
        guard var g = row.gradingResult else { return }
        g.componentResults.append(r)
        if let t = r.tokensUsed { g.tokensUsed = (g.tokensUsed ?? EvalTokenUsage()) + t }
        if r.skipped {
            if (a.weight ?? 1) != 0, row.status == .passed {
                row.status = .skipped
                row.success = false
                row.failureReason = 2
                row.error = r.reason
                var fw = row.metadata["flywheel"]?.objectValue ?? JSONObject()
                fw["status"] = .string("skipped")
                row.metadata["flywheel"] = .object(fw)
            }
        } else if !r.pass, (a.weight ?? 1) != 0 {
            g.pass = false
            g.reason = r.reason
            if row.status == .passed || row.status == .failed {
                row.status = .failed
                row.success = false
                row.failureReason = 1
                row.error = r.reason
            }
        }
        row.gradingResult = g
    }

    func selectBest(_ a: EvalAssertion, rows: [EvalRow]) -> [EvalGradingResult] {
        guard let judge = engine.judge else {
            return rows.map { _ in .skip("select-best needs a judge model and none is configured", assertion: a) }
        }
        guard rows.count >= 2 else {
            return rows.map { _ in EvalGradingResult(pass: false, score: 0, reason: "select-best assertion must have at least two outputs to compare") }
        }
        let criteria = a.value.map { v in EvalTemplate.renderLenient(v.stringValue ?? v.jsonString, vars: rows[0].vars) } ?? ""
        let listing = rows.enumerated().map { "<Output index=\"\($0.offset)\">\n\($0.element.response?.outputString ?? "")\n</Output>" }.joined(separator: "\n")
        do {
            let (text, usage) = try EvalModelGrading.call(judge, [
                .system("Several outputs answer the same input. Pick the one that best meets the criteria. Reply with only JSON: {\"best\": index (a number from 0), \"reason\": string}."),
                .user("<Criteria>\n\(criteria)\n</Criteria>\n\(listing)"),
            ])
            let parsed = JSONValue.parseStrictOrNil(text) ?? EvalJSONExtractor.extractObjects(text).first
            guard let best = parsed?["best"]?.doubleValue.map({ Int($0) }), best >= 0, best < rows.count else {
                return rows.map { _ in EvalGradingResult(pass: false, score: 0, reason: "Invalid select-best response from the grader: \(text)", tokensUsed: usage) }
            }
            let why = parsed?["reason"]?.stringValue ?? ""
            return rows.indices.map { i in
                EvalGradingResult(pass: i == best, score: i == best ? 1 : 0,
                                  reason: i == best ? "Output selected as the best: \(why)" : "Output not selected: \(why)",
                                  tokensUsed: i == 0 ? usage : nil)
            }
        } catch let f as EvalModelGrading.GradeFailure {
            return rows.map { _ in EvalGradingResult(pass: false, score: 0, reason: f.message) }
        } catch {
            return rows.map { _ in EvalGradingResult(pass: false, score: 0, reason: "\(error)") }
        }
    }

    func maxScore(_ a: EvalAssertion, rows: [EvalRow], assertionsOf: (EvalRow) -> [EvalAssertion]) -> [EvalGradingResult] {
        let cfg = a.value?.objectValue ?? JSONObject()
        let method = cfg["method"]?.stringValue ?? "average"
        let weights = cfg["weights"]?.objectValue ?? JSONObject()
        let threshold = cfg["threshold"]?.doubleValue
        let scores: [Double] = rows.map { row in
            let comps = (row.gradingResult?.componentResults ?? []).filter { c in
                !c.skipped && !(c.assertion.map { Self.compareTypes.contains($0.baseType) } ?? false)
            }
            var total = 0.0, wsum = 0.0
            for c in comps {
                let w = c.assertion.flatMap { weights[$0.type]?.doubleValue ?? weights[$0.baseType]?.doubleValue } ?? 1
                total += c.score * w
                wsum += w
            }
            if comps.isEmpty { return 0 }
            return method == "sum" ? total : (wsum > 0 ? total / wsum : 0)
        }
        guard let maxScore = scores.max() else { return [] }
        let winner = scores.firstIndex(of: maxScore)!
        let selected = threshold.map { maxScore >= $0 } ?? true
        return rows.indices.map { i in
            let s = JSNumber.toFixed(scores[i], 3), m = JSNumber.toFixed(maxScore, 3)
            if i == winner && selected { return EvalGradingResult(pass: true, score: 1, reason: "Selected as highest scoring output (score: \(s))") }
            if i == winner { return EvalGradingResult(pass: false, score: 0, reason: "Highest score \(m) is below threshold \(JSNumber.string(threshold ?? 0))") }
            return EvalGradingResult(pass: false, score: 0, reason: "Not selected (score: \(s), max: \(m))")
        }
    }
}
