import FlywheelSupport
import Foundation
import FlywheelModels

/// The LLM critic (`models.critic` in loop.yaml): asks a model to review one run, told about the project by its
/// brief (description, the agent's instructions, the team's categories), with a JSON-schema response format, and keeps only findings that validate. Each kept finding is a `FeedbackRecord`
/// with `source: model` and `author` = the model's id.
public struct ModelCritic: Sendable {
    public var model: any ChatModel
    /// The provider-side model name put in the request.
    public var modelName: String
    public var createdAt: String
    /// Each artifact is clipped to this many characters in the prompt.
    public var maxArtifactChars: Int

    public init(model: any ChatModel, modelName: String? = nil, createdAt: String, maxArtifactChars: Int = 6000) {
        self.model = model
        self.modelName = modelName ?? model.id
        self.createdAt = createdAt
        self.maxArtifactChars = maxArtifactChars
    }

    /// The outcome of one critique: the valid findings and why others were dropped.
    public struct Result: Sendable {
        public var records: [FeedbackRecord]
        /// `findings[i]: reason` for every rejected finding (or the whole reply).
        public var rejected: [String]
    }

    /// The response schema (`{"findings": [{category, severity, observation, evidence, required_observations,
    /// prohibited_claims}]}`).
    public static let schema: JSONValue = [
        "type": "object", "additionalProperties": false, "required": ["findings"],
        "properties": [
            "findings": [
                "type": "array",
                "items": [
                    "type": "object", "additionalProperties": false,
                    "required": ["category", "severity", "observation", "evidence", "required_observations", "prohibited_claims"],
                    "properties": [
                        "category": ["type": "string", "minLength": 1],
                        "severity": ["type": "string", "enum": ["low", "medium", "high", "critical"]],
                        "observation": ["type": "string", "minLength": 1],
                        "evidence": ["type": "string"],
                        "required_observations": ["type": "array", "items": ["type": "string", "minLength": 1]],
                        "prohibited_claims": ["type": "array", "items": ["type": "string", "minLength": 1]],
                    ],
                ],
            ]
        ],
    ]

    /// Builds the request for one run: the project's brief, the task, the run's artifacts and tool calls, and the
    /// names of the sources it could cite.
    public func request(run: RunArtifacts, brief: ProjectBrief, sources: SourceFolder? = nil) -> ChatRequest {
        let system = """
            You review one run of an AI agent and report concrete problems in what it produced. \(brief.context)

            Report each problem you can support from the task, the run's outputs, its tool calls or the listed \
            sources: wrong or unsupported claims, instructions the agent did not follow, a task left unanswered or \
            declined without a reason, missing or malformed outputs. Do not report what is correct. For each problem \
            give a short category (kebab-case), a severity, the observation, the evidence (quotes, file paths, tool \
            calls), phrases a correct answer must contain (required_observations) and phrases it must not contain \
            (prohibited_claims). Reply only with JSON matching the schema; an empty findings list is a valid reply.
            """
        var user = "Task: \(run.question ?? "(unknown)")\nTrace: \(run.traceID)\n"
        if let sources, !sources.files.isEmpty {
            user += "\nSource files the agent could cite:\n" + sources.files.keys.sorted(by: byteOrder).prefix(200).map { "- \($0)" }.joined(separator: "\n") + "\n"
        }
        if !run.toolCalls.isEmpty {
            user += "\nTool calls:\n" + run.toolCalls.prefix(50).map { "- \($0.name)(\(Excerpt.clip($0.input, 200)))\($0.failed ? " FAILED" : "")" }.joined(separator: "\n") + "\n"
        }
        for name in run.files.keys.sorted(by: byteOrder) where name != RunFiles.task {
            user += "\n=== \(name) ===\n" + Excerpt.clip(run.files[name]!, maxArtifactChars) + "\n"
        }
        return ChatRequest(
            model: modelName, messages: [.system(system), .user(user)],
            responseFormat: .jsonSchema(name: "critique", schema: Self.schema, strict: true), temperature: 0)
    }

    /// Runs the critic on one run. Throws only when the model call fails; an invalid reply yields no records and a
    /// reason in `rejected`.
    public func critique(run: RunArtifacts, brief: ProjectBrief, sources: SourceFolder? = nil) throws -> Result {
        let response = try model.complete(request(run: run, brief: brief, sources: sources))
        return parse(reply: response.message.content ?? "", traceID: run.traceID)
    }

    /// Validates a reply against the schema, finding by finding.
    public func parse(reply: String, traceID: String) -> Result {
        guard let value = ModelReply.parse(reply) else { return Result(records: [], rejected: ["reply: not JSON"]) }
        guard let findings = value["findings"]?.arrayValue else {
            return Result(records: [], rejected: ["reply: " + (ModelReply.firstError(value, schema: Self.schema) ?? "no findings array")])
        }
        let itemSchema = Self.schema["properties"]!["findings"]!["items"]!
        var records: [FeedbackRecord] = []
        var rejected: [String] = []
        for (i, finding) in findings.enumerated() {
            if let error = ModelReply.firstError(finding, schema: itemSchema, path: "data/findings/\(i)") {
                rejected.append("findings[\(i)]: \(error)")
                continue
            }
            let observation = finding["observation"]!.stringValue!
            guard !observation.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                rejected.append("findings[\(i)]: empty observation")
                continue
            }
            records.append(
                FeedbackRecord(
                    traceID: traceID, source: .model, author: model.id, category: slugify(finding["category"]!.stringValue!),
                    severity: FeedbackRecord.Severity(rawValue: finding["severity"]!.stringValue!)!, observation: observation,
                    evidence: finding["evidence"]!.stringValue!,
                    requiredObservations: finding["required_observations"]!.arrayValue!.compactMap(\.stringValue),
                    prohibitedClaims: finding["prohibited_claims"]!.arrayValue!.compactMap(\.stringValue), createdAt: createdAt))
        }
        return Result(records: FeedbackStore.dedupe(records), rejected: rejected)
    }
}
