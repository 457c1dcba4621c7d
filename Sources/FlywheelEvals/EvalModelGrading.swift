import FlywheelSupport
import Foundation
import FlywheelModels

/// Model-graded assertions (§3): llm-rubric (and trajectory:goal-success), model-graded-closedqa, factuality, g-eval.
/// Without a judge they are skipped, never passed.
enum EvalModelGrading {
    static let rubricSystem = """
    You grade an AI system's output against a rubric. Judge only whether the output satisfies the rubric. \
    Reply with only a JSON object: {"reason": string, "pass": boolean, "score": number} where score is between 0.0 and 1.0.
    """

    static func modelName(_ judge: any ChatModel) -> String {
        judge.id.hasPrefix("openai:chat:") ? String(judge.id.dropFirst(12)) : judge.id.hasPrefix("openai:") ? String(judge.id.dropFirst(7)) : judge.id
    }

    static func call(_ judge: any ChatModel, _ messages: [ChatMessage]) throws -> (String, EvalTokenUsage) {
        let resp: ChatResponse
        do {
            resp = try judge.complete(ChatRequest(model: modelName(judge), messages: messages, temperature: 0))
        } catch let e as ModelError {
            throw GradeFailure(message: e.description)
        }
        let text = resp.message.content ?? ""
        if JSText.trim(text).isEmpty { throw GradeFailure(message: "The grader returned an empty response") }
        let u = EvalTokenUsage(total: resp.usage.totalTokens, prompt: resp.usage.promptTokens, completion: resp.usage.completionTokens, numRequests: 1)
        return (text, u)
    }

    struct GradeFailure: Error { var message: String }

    static func render(_ v: JSONValue?, _ vars: JSONObject) -> [ChatMessage]? {
        guard let v else { return nil }
        if let s = v.stringValue {
            let text = EvalTemplate.renderLenient(s, vars: vars)
            if let arr = JSONValue.parseStrictOrNil(text)?.arrayValue { return messages(arr) }
            return [.user(text)]
        }
        if let arr = v.arrayValue {
            return messages(arr.map { m in
                var o = m.objectValue ?? JSONObject()
                if let c = o["content"]?.stringValue { o["content"] = .string(EvalTemplate.renderLenient(c, vars: vars)) }
                return .object(o)
            })
        }
        return nil
    }

    static func messages(_ arr: [JSONValue]) -> [ChatMessage] {
        arr.compactMap { m in
            guard let c = m["content"]?.stringValue else { return nil }
            let role = ChatMessage.Role(rawValue: m["role"]?.stringValue ?? "user") ?? .user
            return ChatMessage(role: role, content: c)
        }
    }

    static func grade(_ a: EvalAssertion, base: String, value: JSONValue?, output o: EvalOutput, context ctx: EvalAssertionContext,
                      judge: (any ChatModel)?) throws -> EvalGradingResult {
        guard let judge else { return .skip("\(base) needs a judge model and none is configured", assertion: a) }
        let T = a.threshold
        var vars = ctx.vars
        let outputString = o.outputString
        do {
            switch EvalAssertionType(rawValue: base) {
            case .llmRubric?, .trajectoryGoalSuccess?:
                let rubric = value.map { $0.stringValue ?? $0.jsonString } ?? ""
                vars["output"] = JSONValue.parseStrictOrNil(outputString) ?? .string(outputString)
                vars["rubric"] = .string(rubric)
                let msgs = render(a.rubricPrompt ?? ctx.test["options"]?["rubricPrompt"], vars) ?? [
                    .system(rubricSystem),
                    .user("<Output>\n\(outputString)\n</Output>\n<Rubric>\n\(rubric)\n</Rubric>"),
                ]
                let (text, usage) = try call(judge, msgs)
                let parsed: JSONObject
                if let obj = JSONValue.parseStrictOrNil(text)?.objectValue { parsed = obj } else if let first = EvalJSONExtractor.extractObjects(text).first?.objectValue {
                    parsed = first
                } else {
                    return EvalGradingResult(pass: false, score: 0, reason: "Could not extract JSON from llm-rubric response", tokensUsed: usage)
                }
                var pass: Bool
                switch parsed["pass"] {
                case nil, .null?: pass = true
                case .bool(let b)?: pass = b
                case let other?:
                    pass = (try? JSRegex("^(true|yes|pass|y)$", flags: "i"))?.test(other.jsDisplayString) ?? false
                }
                var score: Double
                if let d = parsed["score"]?.doubleValue { score = d } else if let n = parsed["score"]?.jsNumber, n.isFinite, parsed["score"]?.stringValue != nil {
                    score = n
                } else { score = pass ? 1 : 0 }
                if let T, T.isFinite { pass = pass && score >= T }
                let reason = parsed["reason"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
                    ?? (pass ? "Grading passed" : "Score \(JSNumber.string(score)) below threshold \(JSNumber.string(T ?? 0))")
                var md = JSONObject()
                md["renderedGradingPrompt"] = .string(msgs.map { $0.content ?? "" }.joined(separator: "\n"))
                return EvalGradingResult(pass: pass, score: score, reason: reason, tokensUsed: usage, metadata: md)

            case .modelGradedClosedQA?:
                let criteria = value?.jsDisplayString ?? ""
                vars["input"] = .string(ctx.prompt)
                vars["criteria"] = .string(criteria)
                vars["completion"] = .string(outputString)
                let msgs = render(a.rubricPrompt, vars) ?? [
                    .system("You are assessing a submitted answer on a given task based on a criterion. Think step by step about whether the submission meets the criterion, then print only the single character \"Y\" or \"N\" (without quotes or punctuation) on its own line at the end."),
                    .user("[BEGIN DATA]\n[Task]: \(ctx.prompt)\n[Submission]: \(outputString)\n[Criterion]: \(criteria)\n[END DATA]"),
                ]
                let (text, usage) = try call(judge, msgs)
                let t = JSText.trimEnd(text)
                if t.hasSuffix("Y") { return EvalGradingResult(pass: true, score: 1, reason: "The submission meets the criterion:\n\(text)", tokensUsed: usage) }
                if t.hasSuffix("N") { return EvalGradingResult(pass: false, score: 0, reason: "The submission does not meet the criterion:\n\(text)", tokensUsed: usage) }
                return EvalGradingResult(pass: false, score: 0, reason: "Model grader produced a malformed response:\n\(text)", tokensUsed: usage)

            case .factuality?:
                let ideal = value?.jsDisplayString ?? ""
                let msgs = render(a.rubricPrompt, vars.merging(["input": .string(ctx.prompt), "ideal": .string(ideal), "completion": .string(outputString)])) ?? [
                    .system("You compare a submitted answer to an expert answer on a given question. Reply with only JSON: {\"category\": \"A\"|\"B\"|\"C\"|\"D\"|\"E\", \"reason\": string}. A: the submission is a subset of the expert answer and fully consistent with it. B: a superset, fully consistent. C: same details. D: there is a disagreement. E: the answers differ, but the differences don't matter for factuality."),
                    .user("[Question]: \(ctx.prompt)\n[Expert]: \(ideal)\n[Submission]: \(outputString)"),
                ]
                let (text, usage) = try call(judge, msgs)
                let parsed = JSONValue.parseStrictOrNil(text)?.objectValue ?? EvalJSONExtractor.extractObjects(text).first?.objectValue
                guard let cat = parsed?["category"]?.stringValue?.uppercased(), ["A", "B", "C", "D", "E"].contains(cat) else {
                    return EvalGradingResult(pass: false, score: 0, reason: "Invalid factuality category in grader response: \(text)", tokensUsed: usage)
                }
                let keys = ["A": "subset", "B": "superset", "C": "agree", "D": "disagree", "E": "differButFactual"]
                let fopts = ctx.test["options"]?["factuality"]?.objectValue
                let defaults: [String: Double] = ["A": 1, "B": 1, "C": 1, "D": 0, "E": 1]
                let score = fopts?[keys[cat]!]?.doubleValue ?? defaults[cat]!
                return EvalGradingResult(pass: score > 0, score: score, reason: parsed?["reason"]?.stringValue ?? "Category \(cat)", tokensUsed: usage)

            case .gEval?:
                let criteria = value?.arrayValue?.map(\.jsDisplayString) ?? [value?.jsDisplayString ?? ""]
                var total = 0.0
                var reasons: [String] = []
                var usage = EvalTokenUsage()
                for c in criteria {
                    let (stepsText, u1) = try call(judge, [
                        .system("Given evaluation criteria, write evaluation steps. Reply with only JSON: {\"steps\": [string]}."),
                        .user("Criteria: \(c)"),
                    ])
                    let steps = (JSONValue.parseStrictOrNil(stepsText) ?? EvalJSONExtractor.extractObjects(stepsText).first)?["steps"]?.arrayValue?.map(\.jsDisplayString) ?? []
                    let (scoreText, u2) = try call(judge, [
                        .system("Evaluate the reply against the criteria by following the steps. Reply with only JSON: {\"score\": number from 0 to 10, \"reason\": string}."),
                        .user("Criteria: \(c)\nSteps:\n\(steps.joined(separator: "\n"))\nInput: \(ctx.prompt)\nReply: \(outputString)"),
                    ])
                    usage = usage + u1 + u2
                    let parsed = JSONValue.parseStrictOrNil(scoreText) ?? EvalJSONExtractor.extractObjects(scoreText).first
                    guard let s = parsed?["score"]?.doubleValue else {
                        return EvalGradingResult(pass: false, score: 0, reason: "Could not parse g-eval score: \(scoreText)", tokensUsed: usage)
                    }
                    total += s / 10
                    reasons.append(parsed?["reason"]?.stringValue ?? "")
                }
                let score = total / Double(criteria.count)
                return EvalGradingResult(pass: score >= (T ?? 0.7), score: score, reason: reasons.joined(separator: "\n\n"), tokensUsed: usage)

            default:
                return .skip("unsupported model-graded type \(base)", assertion: a)
            }
        } catch let f as GradeFailure {
            return EvalGradingResult(pass: false, score: 0, reason: f.message)
        }
    }
}

extension JSONObject {
    func merging(_ other: [String: JSONValue]) -> JSONObject {
        var o = self
        for k in other.keys.sorted() { o[k] = other[k] }
        return o
    }
}
