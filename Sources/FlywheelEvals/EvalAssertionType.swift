/// Every assertion type a suite may name (the base name, without `not-`): the one list the loader, the grader and
/// eval generation share, so a type is added in one place and every `switch` over it must say what it does.
public enum EvalAssertionType: String, CaseIterable, Sendable {
    // Text
    case equals, contains, icontains
    case containsAll = "contains-all", containsAny = "contains-any", icontainsAll = "icontains-all", icontainsAny = "icontains-any"
    case startsWith = "starts-with", regex, wordCount = "word-count", isRefusal = "is-refusal", finishReason = "finish-reason"
    // Structure
    case isJSON = "is-json", containsJSON = "contains-json", isXML = "is-xml", containsXML = "contains-xml"
    case isHTML = "is-html", containsHTML = "contains-html", isSQL = "is-sql", containsSQL = "contains-sql"
    // Metrics
    case levenshtein, rougeN = "rouge-n", bleu, gleu, meteor, latency, cost, perplexity, perplexityScore = "perplexity-score"
    // Tool calls and traces
    case isValidOpenAIToolsCall = "is-valid-openai-tools-call", isValidOpenAIFunctionCall = "is-valid-openai-function-call"
    case isValidFunctionCall = "is-valid-function-call", toolCallF1 = "tool-call-f1"
    case traceSpanCount = "trace-span-count", traceSpanDuration = "trace-span-duration", traceErrorSpans = "trace-error-spans"
    case trajectoryToolUsed = "trajectory:tool-used", trajectoryToolSequence = "trajectory:tool-sequence"
    case trajectoryToolArgsMatch = "trajectory:tool-args-match", trajectoryStepCount = "trajectory:step-count"
    case skillUsed = "skill-used"
    // Code
    case javascript, python
    // Composition
    case assertSet = "assert-set"
    // Model-graded
    case llmRubric = "llm-rubric", modelGradedClosedQA = "model-graded-closedqa", factuality, gEval = "g-eval"
    case trajectoryGoalSuccess = "trajectory:goal-success", similar, answerRelevance = "answer-relevance"
    case contextFaithfulness = "context-faithfulness", contextRecall = "context-recall", contextRelevance = "context-relevance"
    case conversationRelevance = "conversation-relevance", selectBest = "select-best", maxScore = "max-score", moderation
    // Accepted in suites, never evaluated (reported as skipped rows)
    case classifier, pi, human, webhook, ruby, guardrails, modelGradedFactuality = "model-graded-factuality"

    /// Types Flywheel accepts but never evaluates: their rows are skipped, never passed.
    var isAlwaysSkipped: Bool {
        switch self {
        case .classifier, .pi, .human, .webhook, .ruby, .guardrails, .modelGradedFactuality: return true
        default: return false
        }
    }

    /// Graded by a judge model (skipped when none is configured).
    var needsJudge: Bool {
        switch self {
        case .llmRubric, .modelGradedClosedQA, .factuality, .gEval, .trajectoryGoalSuccess, .answerRelevance, .contextFaithfulness,
            .contextRecall, .contextRelevance, .conversationRelevance, .selectBest:
            return true
        default: return false
        }
    }

    /// Types of Promptfoo releases after the one Flywheel follows (0.121.3): a load error, not a silent skip.
    static let laterNames: Set<String> = ["ends-with", "character-count", "normalizeUnicode"]
}
