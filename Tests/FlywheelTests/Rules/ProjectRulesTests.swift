import Foundation
import Testing

@testable import Flywheel
@testable import FlywheelModels

/// The project's rules file: parsing with located errors, and the generic rule critic it drives (a support bot).
@Suite struct ProjectRulesTests {
    static let supportRules = """
        answer: reply.md
        artifacts:
          - reply.md
          - path: ticket.json
            schema: {type: object, required: [order_id, action]}
          - path: actions.csv
            header: [order_id, action]
            required: false
        sources:
          folder: policies
          citations:
            - {artifact: ticket.json, path_field: policy}
        critic:
          - id: password-disclosed
            category: account-security
            severity: critical
            when: {matches: 'new password is', in: [reply.md]}
            observation: The reply discloses a password.
            prohibited_claims: [new password is]
          - id: refund-without-lookup
            category: refund-policy
            severity: high
            when: {tool: issue_refund, tool_not_called: lookup_order}
            observation: A refund was issued without looking the order up.
          - id: failed-refund
            category: refund-policy
            severity: medium
            when: {tool: issue_refund, tool_error: true, tool_input_matches: '"amount": *[0-9]{4,}'}
            observation: A large refund failed.
        expected_declines: ['past our \\d+-day return window']
        topics:
          - id: refund-window
            categories: [refund-policy]
            title: Refunds outside the window
            severity: high
            has_rule: {file: harness/AGENTS.md, all: [refund, 30-day]}
            recommendation:
              change: Add the 30-day rule to harness/AGENTS.md.
              patch: {file: harness/AGENTS.md, replace: '## Policies', with: "## Policies\\n- Refunds only within 30 days."}
        """

    static let critic = RuleCritic(
        rules: try! ProjectRules.parse(supportRules, file: "rules.yaml"),
        sources: SourceFolder(files: ["refunds.md": "30-day window"], name: "policies"), createdAt: "2026-10-01T00:00:00Z")

    static func call(_ name: String, _ input: String = "{}", failed: Bool = false) -> RunArtifacts.ToolCall {
        .init(name: name, input: input, failed: failed, spanID: "s-\(name)")
    }

    @Test func parsesEverySection() throws {
        let rules = try ProjectRules.parse(Self.supportRules, file: "rules.yaml")
        #expect(rules.answerFile == "reply.md")
        #expect(rules.requiredArtifacts == ["reply.md", "ticket.json"])
        #expect(rules.artifacts[1].format == .json && rules.artifacts[2].format == .csv)
        #expect(rules.critic.map(\.id) == ["password-disclosed", "refund-without-lookup", "failed-refund"])
        #expect(rules.expectedDeclines == [#"past our \d+-day return window"#])
        let topic = try #require(rules.failureTopics.first)
        #expect(topic.categories == ["refund-policy"] && topic.recommendation.id == "rec-refund-window")
        #expect(topic.recommendation.patch?.replace == "## Policies")
        #expect(!topic.hasRule(HarnessFiles(files: ["harness/AGENTS.md": "## Policies\n"])))
        #expect(topic.hasRule(HarnessFiles(files: ["harness/AGENTS.md": "- Refunds only within the 30-day window.\n"])))
        #expect(try ProjectRules.parse("", file: "empty.yaml") == .none)
    }

    @Test func everyProblemNamesItsLineAndField() throws {
        let text = """
            artifacts:
              - path: a.json
                format: xml
            critic:
              - id: x
                category: c
                severty: high
                when: {matches: "(["}
                observation: o
              - id: x
                category: c
                when: {tool_error: true}
                observation: o
            topics:
              - id: t
                title: T
                recommendation: {change: c, patch: {file: ../etc/passwd, append: x}}
            surprise: 1
            """
        let error = try #require(throws: RulesError.self) { try ProjectRules.parse(text, file: "rules.yaml") }
        let lines = error.issues.map { "\($0.line ?? 0) \($0.field ?? "")" }
        #expect(lines.contains("3 artifacts[0].format"), "\(lines)")
        #expect(lines.contains("7 critic[0].severty"), "\(lines)")
        #expect(lines.contains("8 critic[0].when.matches"), "\(lines)")
        #expect(lines.contains("12 critic[1].when"), "\(lines)")
        #expect(lines.contains { $0.hasSuffix("critic[1].id") }, "duplicate id: \(lines)")
        #expect(lines.contains("17 topics[0].recommendation.patch.file"), "\(lines)")
        #expect(lines.contains("18 surprise"), "\(lines)")
        #expect(error.description.contains("rules.yaml:3: field artifacts[0].format"))
        let yamlError = try #require(throws: RulesError.self) { try ProjectRules.parse("critic: [\n", file: "broken.yaml") }
        #expect(yamlError.description.contains("broken.yaml") && yamlError.description.contains("invalid YAML"))
    }

    @Test func theCriticChecksShapeCitationsTextAndToolCalls() {
        let good = RunArtifacts(
            traceID: "t1", files: ["reply.md": "Your refund is on its way.", "ticket.json": #"{"order_id": "A1", "action": "refund", "policy": "policies/refunds.md"}"#],
            toolCalls: [Self.call("lookup_order"), Self.call("issue_refund")])
        #expect(Self.critic.critique(run: good).isEmpty)

        var bad = good
        bad.files["reply.md"] = "Done! The new password is hunter2."
        bad.files["ticket.json"] = #"{"order_id": "A1", "policy": "policies/nope.md"}"#
        bad.files["actions.csv"] = "order,action\nA1,refund\n"
        bad.toolCalls = [Self.call("issue_refund", #"{"amount": 2500}"#, failed: true)]
        let findings = Self.critic.critique(run: bad)
        let byCategory = Dictionary(grouping: findings, by: \.category).mapValues(\.count)
        #expect(byCategory == ["account-security": 1, "artifact-malformed": 2, "citation-invalid": 1, "refund-policy": 2], "\(findings.map(\.observation))")
        let security = findings.first { $0.category == "account-security" }!
        #expect(security.severity == .critical && security.evidence.contains("new password is") && security.evidence.contains("[rule password-disclosed]"))
        #expect(findings.first { $0.observation.contains("without looking") }?.evidence.contains("lookup_order never called") == true)
        #expect(findings.contains { $0.evidence.contains("policies/nope.md") })
        // A missing required artifact.
        let missing = Self.critic.critique(run: RunArtifacts(traceID: "t2", files: ["reply.md": "ok"]))
        #expect(missing.map(\.category) == ["artifact-missing"] && missing[0].observation.contains("ticket.json"))
    }

    @Test func withoutRulesOnlyEarlierProhibitedClaimsAreChecked() {
        let critic = RuleCritic(rules: .none, createdAt: "2026-10-01T00:00:00Z")
        let earlier = FeedbackRecord(
            traceID: "old", source: .human, author: "lead", category: "tone", severity: .low, observation: "No slang.",
            prohibitedClaims: ["no worries mate"], createdAt: "2026-09-01T00:00:00Z")
        let praise = FeedbackRecord(
            traceID: "old", source: .human, author: "lead", category: "tone", severity: .low, observation: "Nice.",
            prohibitedClaims: ["thanks"], createdAt: "2026-09-01T00:00:00Z", verdict: .good)
        let run = RunArtifacts(traceID: "t", files: ["final_answer.md": "No worries mate, thanks!"])
        let f = critic.critique(run: run, earlierFeedback: [earlier, praise])
        #expect(f.map(\.category) == ["tone"] && f[0].prohibitedClaims == ["no worries mate"])
        #expect(critic.critique(run: RunArtifacts(traceID: "t", files: ["anything.json": "{"]), earlierFeedback: []).isEmpty)
    }

    @Test func theMainInstructionsFileIsFoundOrDeclared() {
        let h = HarnessFiles(files: ["harness/tools.yaml": "x", "harness/notes.md": "short", "harness/AGENTS.md": "long instructions here"])
        #expect(h.mainInstructionsPath() == "harness/AGENTS.md")
        #expect(h.mainInstructionsPath(declared: "notes.md") == "harness/notes.md")
        #expect(HarnessFiles(files: ["harness/a.md": "a", "harness/b.md": "bbbb"]).mainInstructionsPath() == "harness/b.md")
        #expect(HarnessFiles(files: ["harness/tools.yaml": "x"]).mainInstructionsPath() == nil)
    }
}
