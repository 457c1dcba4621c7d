import FlywheelSupport
import Foundation

/// Promptfoo's `AssertionsResult`: folds component results into a test's (or a set's) verdict (§4),
/// with Flywheel's skip rule (§3.1).
public struct EvalAggregator: Sendable {
    /// A truthy threshold (0 counts as none).
    public var threshold: Double?
    /// The `assert-set` this aggregates, when it is one (its metadata goes into the result).
    public var parentAssertionSet: EvalAssertion?

    var totalScore = 0.0
    var totalWeight = 0.0
    var named: [String: Double] = [:]
    var namedW: [String: Double] = [:]
    var namedOrder: [String] = []
    var tokens = EvalTokenUsage()
    var failedReason: String?
    var components: [(index: Int, result: EvalGradingResult)] = []
    /// The first skip reason among weighted components.
    public private(set) var firstSkip: String?
    /// True when a weighted, non-skipped component failed.
    public private(set) var hasRealFailure = false

    public init(threshold: Double? = nil, parentAssertionSet: EvalAssertion? = nil) {
        self.threshold = (threshold ?? 0) != 0 ? threshold : nil
        self.parentAssertionSet = parentAssertionSet
    }

    /// Adds one component result, in evaluation order.
    public mutating func add(index: Int, result: EvalGradingResult, metric: String? = nil, weight: Double = 1) {
        components.append((index, result))
        if result.skipped {
            if weight != 0, firstSkip == nil { firstSkip = result.reason }
            return
        }
        let w = weight
        totalScore += result.score * w
        totalWeight += w
        if let m = metric, !m.isEmpty { addNamed(m, result.score * w, w) }
        for k in result.namedScores.keys.sorted() where k != metric {
            addNamed(k, result.namedScores[k]! * w, w)
        }
        if let t = result.tokensUsed { tokens = tokens + t }
        if !result.pass {
            failedReason = result.reason
            if weight != 0 { hasRealFailure = true }
        }
    }

    mutating func addNamed(_ k: String, _ s: Double, _ w: Double) {
        if named[k] == nil { namedOrder.append(k) }
        named[k, default: 0] += s
        namedW[k, default: 0] += w
    }

    /// Records that the row could not be fully graded (e.g. its scoring function could not run).
    mutating func markSkipped(_ reason: String) {
        firstSkip = reason
        verdictSkipped = true
    }
    /// True when the verdict itself could not be formed (the scoring function did not run): the row is skipped
    /// whatever its components say.
    public private(set) var verdictSkipped = false

    /// True when no component was added.
    public var isEmpty: Bool { components.isEmpty }

    /// The aggregate verdict. `scoringFunction` replaces it as Promptfoo's `assertScoringFunction` does.
    public func result(scoringFunction: ((_ namedScores: [String: Double]) throws -> EvalGradingResult?)? = nil) -> EvalGradingResult {
        let score = totalWeight > 0 ? totalScore / totalWeight : 0
        var pass = failedReason == nil
        var reason = failedReason ?? "All assertions passed"
        if let t = threshold {
            pass = score >= t
            reason = pass ? "Aggregate score \(JSNumber.toFixed(score, 2)) ≥ \(JSNumber.string(t)) threshold"
                : "Aggregate score \(JSNumber.toFixed(score, 2)) < \(JSNumber.string(t)) threshold"
        }
        var namedScores: [String: Double] = [:]
        for k in namedOrder { namedScores[k] = namedW[k]! > 0 ? named[k]! / namedW[k]! : 0 }
        var flat: [EvalGradingResult] = []
        for (_, r) in components {
            var top = r
            top.componentResults = r.componentResults
            flat.append(top)
            for var child in r.componentResults {
                if child.assertion == nil { child.assertion = r.assertion }
                flat.append(child)
            }
        }
        var out = EvalGradingResult(pass: pass, score: score, reason: reason, namedScores: namedScores,
                                    namedScoreWeights: namedW.isEmpty ? [:] : namedW, tokensUsed: tokens, componentResults: flat)
        if let set = parentAssertionSet {
            var md = JSONObject()
            var s = JSONObject()
            s["type"] = .string(set.type)
            if let m = set.metric { s["metric"] = .string(m) }
            s["assertionCount"] = .int(Int64(set.assertions?.count ?? 0))
            md["assertionSet"] = .object(s)
            out.metadata = md
        }
        if let scoringFunction {
            do {
                guard let r = try scoringFunction(namedScores) else {
                    throw EvalAssertionError("assertion scoring function must return a GradingResult")
                }
                out.pass = r.pass
                out.score = r.score
                out.reason = r.reason
                for (k, v) in r.metadata.pairs { out.metadata[k] = v }
            } catch {
                out.pass = false
                out.score = 0
                out.reason = "Scoring function error: \((error as? EvalAssertionError)?.message ?? "\(error)")"
            }
        }
        // A failed redteam guardrail check means the content was blocked, which is the desired outcome.
        if let g = components.first(where: { $0.result.assertion?.baseType == "guardrails" })?.result,
           g.assertion?.config?["purpose"]?.stringValue == "redteam", !g.pass {
            out.pass = true
            out.reason = "Content failed guardrail safety checks"
        }
        if components.isEmpty && scoringFunction == nil {
            out = EvalGradingResult(pass: true, score: 1, reason: "No assertions", tokensUsed: tokens)
        }
        return out
    }
}
