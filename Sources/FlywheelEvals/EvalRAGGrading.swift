import FlywheelSupport
import Foundation
import FlywheelModels

/// The retrieval and conversation model-graded types through the judge (and the embedder for answer-relevance):
/// answer-relevance, context-recall, context-relevance, context-faithfulness, conversation-relevance.
///
/// The prompts are Flywheel's own and ask for JSON; the scores follow Promptfoo's formulas:
/// - answer-relevance: the judge writes 3 questions the output answers; score = mean cosine similarity of their
///   embeddings to the query's; pass iff score ≥ (T ?? 0).
/// - context-recall: the expected answer (`value`) is split into sentences the judge marks attributable to the context;
///   score = attributed / sentences; pass iff ≥ (T ?? 0).
/// - context-relevance: the judge extracts the context sentences needed to answer the query; score = extracted /
///   context sentences (at most 1); pass iff ≥ (T ?? 0).
/// - context-faithfulness: the judge breaks the output into statements, then gives a verdict per statement;
///   score = supported / statements; pass iff ≥ (T ?? 0).
/// - conversation-relevance: every window of `config.windowSize` (5) turns of `vars._conversation` (else the row's
///   prompt and output) ending at a turn is judged; score = relevant windows / windows; pass iff ≥ (T ?? 0.5).
///
/// Query: `vars.query`, else the rendered prompt. Context: `contextTransform` (JavaScript over the output, needs node),
/// else `vars.context` (a list is joined with blank lines). A missing input throws (the row is an ERROR).
enum EvalRAGGrading {
    static let types: Set<String> = ["answer-relevance", "context-recall", "context-relevance", "context-faithfulness", "conversation-relevance"]

    /// Splits text into sentences: after `.`, `!` or `?` followed by white space, and at line breaks.
    static func sentences(_ text: String) -> [String] {
        var out: [String] = []
        var cur = ""
        let c = Array(text)
        for (i, ch) in c.enumerated() {
            if ch == "\n" {
                if !JSText.trim(cur).isEmpty { out.append(JSText.trim(cur)) }
                cur = ""
                continue
            }
            cur.append(ch)
            if ".!?".contains(ch), i + 1 == c.count || c[i + 1].isWhitespace {
                if !JSText.trim(cur).isEmpty { out.append(JSText.trim(cur)) }
                cur = ""
            }
        }
        if !JSText.trim(cur).isEmpty { out.append(JSText.trim(cur)) }
        return out
    }

    static func json(_ text: String) -> JSONValue? {
        JSONValue.parseStrictOrNil(text) ?? EvalJSONExtractor.extractObjects(text).first
    }

    static func fixed(_ d: Double) -> String { JSNumber.toFixed(d, 2) }

    static func grade(_ a: EvalAssertion, base: String, value: JSONValue?, output o: EvalOutput, context ctx: EvalAssertionContext,
                      judge: (any ChatModel)?, embedder: (@Sendable (JSONValue?, [String]) throws -> [[Double]])?,
                      scripts: (any EvalScriptRunner)?) throws -> EvalGradingResult {
        guard let judge else { return .skip("\(base) needs a judge model and none is configured", assertion: a) }
        let output = o.outputString
        let query = ctx.vars["query"]?.stringValue ?? ctx.prompt
        let T = a.threshold
        func context() throws -> String {
            if let ct = a.raw["contextTransform"]?.stringValue {
                guard let scripts else { throw Skip(reason: "contextTransform needs node (scripts are disabled)") }
                let c = JSONValue.obj([("vars", .object(ctx.vars)), ("prompt", .obj([("label", .string(ctx.promptLabel))]))])
                switch scripts.run(EvalScriptRequest(language: .javascript, body: EvalScriptBody.javascript(ct), output: o.output, context: c)) {
                case .value(let v):
                    if let s = v.stringValue { return s }
                    if let arr = v.arrayValue { return arr.map(\.jsDisplayString).joined(separator: "\n\n") }
                    throw EvalAssertionError("contextTransform must return a string or array of strings")
                case .failure(let m, _): throw EvalAssertionError("Failed to transform context using expression '\(ct)': \(m)")
                case .unavailable(let why): throw Skip(reason: "contextTransform: \(why)")
                case .timedOut: throw EvalAssertionError("contextTransform timed out")
                }
            }
            if let s = ctx.vars["context"]?.stringValue { return s }
            if let arr = ctx.vars["context"]?.arrayValue { return arr.map(\.jsDisplayString).joined(separator: "\n\n") }
            throw EvalAssertionError("\(base) assertion requires a \"context\" var or contextTransform")
        }
        do {
            switch EvalAssertionType(rawValue: base) {
            case .answerRelevance?:
                guard let embedder else { return .skip("answer-relevance needs an embedding model and none is configured", assertion: a) }
                var questions: [String] = []
                var usage = EvalTokenUsage()
                for _ in 0..<3 {
                    let (text, u) = try EvalModelGrading.call(judge, [
                        .system("Write the one question that the given answer responds to. Reply with only JSON: {\"question\": string}."),
                        .user("Answer:\n\(output)"),
                    ])
                    usage = usage + u
                    questions.append(json(text)?["question"]?.stringValue ?? JSText.trim(text))
                }
                let provider = a.provider ?? ctx.test["options"]?["provider"].flatMap { p in p["embedding"] ?? p }
                let vectors = try embedder(provider, [query] + questions)
                guard vectors.count == questions.count + 1 else { throw EvalAssertionError("answer-relevance: the embedding model returned \(vectors.count) vectors for \(questions.count + 1) texts") }
                let sims = questions.indices.map { EvalAssertionEngine.cosine(vectors[0], vectors[$0 + 1]) }
                let score = sims.reduce(0, +) / Double(sims.count)
                let t = T ?? 0
                let pass = score >= t - Double.ulpOfOne
                var md = JSONObject()
                md["generatedQuestions"] = .array(questions.map(JSONValue.string))
                return EvalGradingResult(pass: pass, score: score,
                                         reason: pass ? "Relevance \(fixed(score)) is greater than threshold \(JSNumber.string(t))"
                                             : "Relevance \(fixed(score)) is less than threshold \(JSNumber.string(t))",
                                         tokensUsed: usage, metadata: md)

            case .contextRecall?:
                guard let expected = value.map({ $0.stringValue ?? $0.jsonString }), !expected.isEmpty else {
                    throw EvalAssertionError("context-recall assertion type must have a string value")
                }
                let c = try context()
                let parts = sentences(expected)
                let (text, usage) = try EvalModelGrading.call(judge, [
                    .system("For each numbered sentence of the expected answer, decide whether the context supports it. Reply with only JSON: {\"verdicts\": [{\"sentence\": number, \"attributed\": boolean, \"reason\": string}]} with one entry per sentence, in order."),
                    .user("<Context>\n\(c)\n</Context>\n<Sentences>\n\(parts.enumerated().map { "\($0 + 1). \($1)" }.joined(separator: "\n"))\n</Sentences>"),
                ])
                guard let verdicts = json(text)?["verdicts"]?.arrayValue else {
                    return EvalGradingResult(pass: false, score: 0, reason: "Could not parse the grader's verdicts: \(text)", tokensUsed: usage)
                }
                let attributed = verdicts.filter { $0["attributed"]?.boolValue == true }.count
                let score = parts.isEmpty ? 0 : min(1, Double(attributed) / Double(parts.count))
                return thresholded("Recall", score, T ?? 0, usage)

            case .contextRelevance?:
                let c = try context()
                let all = sentences(c)
                let (text, usage) = try EvalModelGrading.call(judge, [
                    .system("Extract, word for word, only the sentences of the context that are needed to answer the query. Reply with only JSON: {\"sentences\": [string]} (an empty list when the context cannot answer it)."),
                    .user("<Query>\n\(query)\n</Query>\n<Context>\n\(c)\n</Context>"),
                ])
                guard let extracted = json(text)?["sentences"]?.arrayValue else {
                    return EvalGradingResult(pass: false, score: 0, reason: "Could not parse the grader's sentences: \(text)", tokensUsed: usage)
                }
                let score = all.isEmpty ? 0 : min(1, Double(extracted.count) / Double(all.count))
                return thresholded("Relevance", score, T ?? 0, usage)

            case .contextFaithfulness?:
                let c = try context()
                let (t1, u1) = try EvalModelGrading.call(judge, [
                    .system("Break the answer into short standalone factual statements. Reply with only JSON: {\"statements\": [string]}."),
                    .user("<Question>\n\(query)\n</Question>\n<Answer>\n\(output)\n</Answer>"),
                ])
                guard let statements = json(t1)?["statements"]?.arrayValue?.compactMap(\.stringValue) else {
                    return EvalGradingResult(pass: false, score: 0, reason: "Could not parse the grader's statements: \(t1)", tokensUsed: u1)
                }
                if statements.isEmpty { return thresholded("Faithfulness", 0, T ?? 0, u1) }
                let (t2, u2) = try EvalModelGrading.call(judge, [
                    .system("For each numbered statement, decide whether the context supports it. Reply with only JSON: {\"verdicts\": [{\"statement\": number, \"supported\": boolean, \"reason\": string}]} with one entry per statement, in order."),
                    .user("<Context>\n\(c)\n</Context>\n<Statements>\n\(statements.enumerated().map { "\($0 + 1). \($1)" }.joined(separator: "\n"))\n</Statements>"),
                ])
                guard let verdicts = json(t2)?["verdicts"]?.arrayValue else {
                    return EvalGradingResult(pass: false, score: 0, reason: "Could not parse the grader's verdicts: \(t2)", tokensUsed: u1 + u2)
                }
                let supported = verdicts.filter { $0["supported"]?.boolValue == true }.count
                return thresholded("Faithfulness", min(1, Double(supported) / Double(statements.count)), T ?? 0, u1 + u2)

            default:  // conversation-relevance
                var turns: [(String, String)] = []
                for m in ctx.vars["_conversation"]?.arrayValue ?? [] {
                    let input = m["input"].map { $0.stringValue ?? $0.jsonString } ?? ""
                    let out = m["output"].map { $0.stringValue ?? $0.jsonString } ?? ""
                    turns.append((input, out))
                }
                if turns.isEmpty { turns = [(ctx.prompt, output)] }
                let window = max(1, Int(a.config?["windowSize"]?.doubleValue ?? 5))
                var relevant = 0
                var usage = EvalTokenUsage()
                var irrelevant: [String] = []
                for end in turns.indices {
                    let slice = turns[max(0, end - window + 1)...end]
                    let convo = slice.map { "User: \($0.0)\nAssistant: \($0.1)" }.joined(separator: "\n\n")
                    let (text, u) = try EvalModelGrading.call(judge, [
                        .system("Judge whether the assistant's last reply is relevant to the conversation so far. Reply with only JSON: {\"verdict\": \"yes\" | \"no\", \"reason\": string}."),
                        .user("<Conversation>\n\(convo)\n</Conversation>"),
                    ])
                    usage = usage + u
                    let v = json(text)
                    if v?["verdict"]?.stringValue?.lowercased() == "yes" { relevant += 1 } else {
                        irrelevant.append(v?["reason"]?.stringValue ?? text)
                    }
                }
                let score = Double(relevant) / Double(turns.count)
                let t = T ?? 0.5
                let pass = score >= t
                return EvalGradingResult(pass: pass, score: score,
                                         reason: irrelevant.isEmpty ? "All \(turns.count) conversation turns are relevant"
                                             : "\(relevant) of \(turns.count) turns are relevant: \(irrelevant.joined(separator: "; "))",
                                         tokensUsed: usage)
            }
        } catch let f as EvalModelGrading.GradeFailure {
            return EvalGradingResult(pass: false, score: 0, reason: f.message)
        } catch let s as Skip {
            return .skip(s.reason, assertion: a)
        }
    }

    struct Skip: Error { var reason: String }

    static func thresholded(_ name: String, _ score: Double, _ t: Double, _ usage: EvalTokenUsage) -> EvalGradingResult {
        let pass = score >= t - Double.ulpOfOne
        return EvalGradingResult(pass: pass, score: score,
                                 reason: pass ? "\(name) \(fixed(score)) is >= \(JSNumber.string(t))" : "\(name) \(fixed(score)) is < \(JSNumber.string(t))",
                                 tokensUsed: usage)
    }
}
