import FlywheelSupport
import FlywheelTraces
import Foundation
import FlywheelEvals
import FlywheelModels

/// Extra eval cases proposed by a model (`models.eval_generation` in loop.yaml). The reply must match
/// `schema`; each case is then checked (a known feedback id, a known assertion type, a non-empty value, a regex
/// that compiles) before it becomes a test. Ids: `fb-<feedback id stem>-m<8 hex of the assertions>`.
public struct EvalProposer: Sendable {
    public var model: any ChatModel
    public var modelName: String
    public var cycle: Int

    /// Assertion types a proposal may use (deterministic ones and `llm-rubric`).
    public static let allowedTypes: Set<String> = {
        let types: [EvalAssertionType] = [
            .contains, .icontains, .icontainsAny, .icontainsAll, .containsAny, .containsAll, .regex, .equals, .startsWith, .llmRubric,
            .isJSON, .containsJSON,
        ]
        let negated: [EvalAssertionType] = [.contains, .icontains, .regex, .equals]
        return Set(types.map(\.rawValue) + negated.map { "not-\($0.rawValue)" })
    }()

    /// What the model is told about the project.
    public var brief: ProjectBrief

    public init(model: any ChatModel, modelName: String? = nil, cycle: Int, brief: ProjectBrief = ProjectBrief(name: "an AI agent")) {
        self.model = model
        self.modelName = modelName ?? model.id
        self.cycle = cycle
        self.brief = brief
    }

    /// The outcome: tests to add and why other proposals were dropped.
    public struct Result: Sendable {
        public var tests: [JSONValue]
        public var rejected: [String]
    }

    public static let schema: JSONValue = [
        "type": "object", "additionalProperties": false, "required": ["cases"],
        "properties": [
            "cases": [
                "type": "array",
                "items": [
                    "type": "object", "additionalProperties": false, "required": ["feedback_id", "description", "assert"],
                    "properties": [
                        "feedback_id": ["type": "string", "minLength": 1],
                        "description": ["type": "string", "minLength": 1],
                        "assert": [
                            "type": "array", "minItems": 1,
                            "items": [
                                "type": "object", "additionalProperties": false, "required": ["type", "value"],
                                "properties": ["type": ["type": "string"], "value": [:]],
                            ],
                        ],
                    ],
                ],
            ]
        ],
    ]

    /// Asks the model for extra cases covering `records`.
    public func propose(_ records: [FeedbackRecord], questions: [String: String] = [:]) throws -> Result {
        let system = """
            You write regression tests (Promptfoo assertions) for an AI agent from reviewer feedback. \(brief.context)

            For each feedback record that reports a problem you may propose extra cases that check the agent's answer \
            text: use icontains / not-icontains / icontains-any / regex (JavaScript syntax) / llm-rubric. Records with \
            verdict "good" describe behaviour to keep: a case for one checks that the answer keeps it. Reply only with \
            JSON matching the schema.
            """
        let listing = records.sorted { byteOrder($0.feedbackID, $1.feedbackID) }.map { $0.jsonLine }.joined(separator: "\n")
        let request = ChatRequest(
            model: modelName, messages: [.system(system), .user("Feedback records (JSONL):\n" + listing)],
            responseFormat: .jsonSchema(name: "eval_cases", schema: Self.schema, strict: false), temperature: 0)
        let response = try model.complete(request)
        return parse(reply: response.message.content ?? "", records: records, questions: questions)
    }

    /// Validates a reply and builds the tests.
    public func parse(reply: String, records: [FeedbackRecord], questions: [String: String] = [:]) -> Result {
        guard let value = ModelReply.parse(reply) else { return Result(tests: [], rejected: ["reply: not JSON"]) }
        guard let cases = value["cases"]?.arrayValue else {
            return Result(tests: [], rejected: ["reply: " + (ModelReply.firstError(value, schema: Self.schema) ?? "no cases array")])
        }
        let byID = Dictionary(records.map { ($0.feedbackID, $0) }, uniquingKeysWith: { a, _ in a })
        let itemSchema = Self.schema["properties"]!["cases"]!["items"]!
        var tests: [JSONValue] = []
        var rejected: [String] = []
        caseLoop: for (i, c) in cases.enumerated() {
            if let e = ModelReply.firstError(c, schema: itemSchema, path: "data/cases/\(i)") {
                rejected.append("cases[\(i)]: \(e)")
                continue
            }
            guard let record = byID[c["feedback_id"]!.stringValue!] else {
                rejected.append("cases[\(i)]: unknown feedback_id \(c["feedback_id"]!.stringValue!)")
                continue
            }
            var assertions: [JSONValue] = []
            for (j, a) in c["assert"]!.arrayValue!.enumerated() {
                if let problem = Self.check(assertion: a) {
                    rejected.append("cases[\(i)].assert[\(j)]: \(problem)")
                    continue caseLoop
                }
                assertions.append(["type": a["type"]!, "value": a["value"]!])
            }
            let key = JSONValue.array(assertions).canonicalText
            let id = EvalCompiler.idStem(record.feedbackID) + "-m" + StableHash.short(key, 8)
            var vars: [String: JSONValue] = ["trace_id": .string(record.traceID)]
            if let q = questions[record.traceID] { vars["question"] = .string(q) }
            tests.append(.object([
                "description": .string(Excerpt.clip(c["description"]!.stringValue!, 140)),
                "vars": .object(vars), "assert": .array(assertions),
                "metadata": [
                    "id": .string(id), "feedback_id": .string(record.feedbackID), "trace_id": .string(record.traceID),
                    "cycle": .int(Int64(cycle)), "category": .string(record.category),
                    "severity": .string(record.severity.rawValue), "source": .string(record.source.rawValue),
                    "kind": "model-proposed", "proposed_by": .string(model.id),
                ],
            ]))
        }
        return Result(tests: tests, rejected: rejected)
    }

    /// nil when the assertion is acceptable, else the reason.
    public static func check(assertion a: JSONValue) -> String? {
        guard let type = a["type"]?.stringValue else { return "missing type" }
        guard allowedTypes.contains(type) else { return "unknown assertion type \"\(type)\"" }
        let value = a["value"] ?? .null
        switch type {
        case "is-json": return nil
        case "icontains-any", "icontains-all", "contains-any", "contains-all":
            if let list = value.arrayValue {
                return list.isEmpty || list.contains(where: { ($0.stringValue ?? "").isEmpty }) ? "empty value" : nil
            }
            return (value.stringValue ?? "").isEmpty ? "empty value" : nil
        case "regex", "not-regex":
            guard let pattern = value.stringValue, !pattern.isEmpty else { return "empty value" }
            if (try? NSRegularExpression(pattern: pattern)) == nil { return "invalid regex \"\(pattern)\"" }
            return nil
        default:
            if let s = value.stringValue {
                return s.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? "empty value" : nil
            }
            return value.isNull ? "empty value" : nil
        }
    }
}
