import FlywheelSupport
import Foundation
import Yams

// MARK: - Loading

extension ProjectRules {
    /// Parses a rules file. Every problem names the file, the line and the field; unknown keys are errors (they are
    /// usually typos), and every regular expression and schema is compiled here, so a bad rule fails at load, not
    /// in the middle of a cycle.
    /// - Throws: `RulesError` listing every problem found.
    public static func parse(_ text: String, file: String) throws -> ProjectRules {
        let node: Node?
        do { try YAMLLimits.check(text, file: file) } catch let e as YAMLLimits.Exceeded {
            throw RulesError(issues: [ConfigError(file: file, line: e.line, field: nil, reason: e.reason)])
        }
        do { node = try Yams.compose(yaml: text) } catch {
            let c = ConfigError.from(error, file: file, text: text)
            throw RulesError(issues: [c])
        }
        guard let node else { return .none }
        var reader = RulesReader(file: file)
        let rules = reader.rules(node)
        if !reader.issues.isEmpty { throw RulesError(issues: reader.issues) }
        return rules
    }

    /// Reads a rules file from disk.
    public static func load(_ url: URL, name: String? = nil) throws -> ProjectRules {
        let label = name ?? url.path
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw RulesError(issues: [ConfigError(file: label, line: nil, field: nil, reason: "cannot read the rules file")])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw RulesError(issues: [ConfigError(file: label, line: nil, field: nil, reason: "not valid UTF-8")])
        }
        return try parse(text, file: label)
    }
}

/// A rules file that did not validate: every problem, in file order.
public struct RulesError: Error, Sendable, CustomStringConvertible {
    public var issues: [ConfigError]
    public init(issues: [ConfigError]) { self.issues = issues }
    public var description: String { issues.map(\.description).joined(separator: "\n") }
}

/// Walks the YAML node tree, collecting located problems instead of stopping at the first.
struct RulesReader {
    let file: String
    var issues: [ConfigError] = []

    mutating func fail(_ node: Node?, _ field: String, _ reason: String) {
        issues.append(ConfigError(file: file, line: node?.mark?.line, field: field, reason: reason))
    }

    /// The mapping's pairs, reporting keys outside `known`.
    mutating func mapping(_ node: Node, _ field: String, known: Set<String>) -> [String: Node]? {
        guard let map = node.mapping else {
            fail(node, field, "expected a mapping")
            return nil
        }
        var out: [String: Node] = [:]
        for (k, v) in map {
            guard let key = k.string else { fail(k, field, "keys must be strings"); continue }
            guard known.contains(key) else {
                fail(k, field.isEmpty ? key : "\(field).\(key)", "unknown key (known: \(known.sorted().joined(separator: ", ")))")
                continue
            }
            out[key] = v
        }
        return out
    }

    mutating func string(_ node: Node?, _ field: String, required: Bool = false) -> String? {
        guard let node else {
            if required { issues.append(ConfigError(file: file, line: nil, field: field, reason: "required")) }
            return nil
        }
        guard node.scalar != nil, let s = node.string, !(required && s.trimmingCharacters(in: .whitespaces).isEmpty) else {
            fail(node, field, required ? "required: a non-empty string" : "expected a string")
            return nil
        }
        return s
    }

    mutating func strings(_ node: Node?, _ field: String) -> [String] {
        guard let node else { return [] }
        if node.scalar != nil, let s = node.string { return [s] }
        guard let seq = node.sequence else { fail(node, field, "expected a list of strings"); return [] }
        var out: [String] = []
        for (i, item) in seq.enumerated() {
            if let s = string(item, "\(field)[\(i)]") { out.append(s) }
        }
        return out
    }

    mutating func bool(_ node: Node?, _ field: String, default value: Bool) -> Bool {
        guard let node else { return value }
        guard let b = node.bool else { fail(node, field, "expected true or false"); return value }
        return b
    }

    mutating func severity(_ node: Node?, _ field: String, default value: FeedbackRecord.Severity) -> FeedbackRecord.Severity {
        guard let s = string(node, field) else { return value }
        guard let v = FeedbackRecord.Severity(rawValue: s.lowercased()) else {
            fail(node, field, "expected one of low, medium, high, critical")
            return value
        }
        return v
    }

    mutating func regex(_ node: Node?, _ field: String) -> String? {
        guard let pattern = string(node, field) else { return nil }
        do { _ = try NSRegularExpression(pattern: pattern, options: [.caseInsensitive]) } catch {
            fail(node, field, "not a valid regular expression: \(pattern)")
            return nil
        }
        if let problem = RegexSafety.problem(pattern) {
            fail(node, field, "the regular expression \(pattern) \(problem)")
            return nil
        }
        return pattern
    }

    mutating func list(_ node: Node?, _ field: String) -> [(Int, Node)] {
        guard let node else { return [] }
        guard let seq = node.sequence else { fail(node, field, "expected a list"); return [] }
        return Array(seq.enumerated())
    }

    // MARK: Sections

    mutating func rules(_ node: Node) -> ProjectRules {
        guard let top = mapping(node, "", known: ["answer", "artifacts", "sources", "critic", "expected_declines", "topics"]) else {
            return .none
        }
        var rules = ProjectRules()
        rules.answer = string(top["answer"], "answer")
        rules.artifacts = list(top["artifacts"], "artifacts").compactMap { artifact($1, "artifacts[\($0)]") }
        if let s = top["sources"] { rules.sources = sources(s, "sources") }
        rules.critic = list(top["critic"], "critic").compactMap { critic($1, "critic[\($0)]") }
        for (i, item) in list(top["expected_declines"], "expected_declines").enumerated() {
            if let p = regex(item.1, "expected_declines[\(i)]") { rules.expectedDeclines.append(p) }
        }
        rules.topics = list(top["topics"], "topics").compactMap { topic($1, "topics[\($0)]") }
        var seen: [String: String] = [:]
        for (i, r) in rules.critic.enumerated() {
            if let other = seen[r.id] { fail(nil, "critic[\(i)].id", "duplicate id \(r.id) (also \(other))") }
            seen[r.id] = "critic[\(i)]"
        }
        seen = [:]
        for (i, t) in rules.topics.enumerated() {
            if let other = seen[t.id] { fail(nil, "topics[\(i)].id", "duplicate id \(t.id) (also \(other))") }
            seen[t.id] = "topics[\(i)]"
        }
        return rules
    }

    mutating func artifact(_ node: Node, _ field: String) -> ArtifactRule? {
        if node.scalar != nil, let path = node.string { return ArtifactRule(path: path) }
        guard let m = mapping(node, field, known: ["path", "format", "schema", "required_keys", "header", "required", "description"]),
            let path = string(m["path"], "\(field).path", required: true)
        else { return nil }
        var rule = ArtifactRule(path: path)
        if let f = string(m["format"], "\(field).format") {
            if let format = ArtifactRule.Format(rawValue: f.lowercased()) {
                rule.format = format
            } else if f == "json_array" || f == "json_object" {
                rule.format = .json
            } else {
                fail(m["format"], "\(field).format", "expected one of \(ArtifactRule.Format.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        } else {
            let ext = (path as NSString).pathExtension.lowercased()
            rule.format = ext == "json" ? .json : ext == "csv" ? .csv : ext == "md" ? .markdown : .text
        }
        if let s = m["schema"] {
            let value = JSONValue(yaml: s)
            do { _ = try JSONSchemaValidator(schema: value.keysSorted) } catch {
                fail(s, "\(field).schema", "not a valid JSON Schema: \(error)")
            }
            rule.schema = value
        }
        rule.requiredKeys = strings(m["required_keys"], "\(field).required_keys")
        rule.header = strings(m["header"], "\(field).header")
        rule.required = bool(m["required"], "\(field).required", default: true)
        if rule.format != .json, rule.schema != nil || !rule.requiredKeys.isEmpty {
            fail(m["schema"] ?? m["required_keys"], field, "schema and required_keys apply to json artifacts only")
        }
        if rule.format != .csv, !rule.header.isEmpty { fail(m["header"], "\(field).header", "header applies to csv artifacts only") }
        return rule
    }

    mutating func sources(_ node: Node, _ field: String) -> SourcesRule? {
        guard let m = mapping(node, field, known: ["folder", "citations"]),
            let folder = string(m["folder"], "\(field).folder", required: true)
        else { return nil }
        if folder.hasPrefix("/") || folder.split(separator: "/").contains("..") {
            fail(m["folder"], "\(field).folder", "must be a folder inside the working folder")
        }
        var citations: [CitationRule] = []
        for (i, item) in list(m["citations"], "\(field).citations") {
            let f = "\(field).citations[\(i)]"
            guard let c = mapping(item, f, known: ["artifact", "path_field", "quote_field", "path_column"]),
                let artifact = string(c["artifact"], "\(f).artifact", required: true)
            else { continue }
            let rule = CitationRule(
                artifact: artifact, pathField: string(c["path_field"], "\(f).path_field"), quoteField: string(c["quote_field"], "\(f).quote_field"),
                pathColumn: string(c["path_column"], "\(f).path_column"))
            if (rule.pathField == nil) == (rule.pathColumn == nil) { fail(item, f, "give path_field (json) or path_column (csv)") }
            citations.append(rule)
        }
        return SourcesRule(folder: folder, citations: citations)
    }

    mutating func critic(_ node: Node, _ field: String) -> CriticRule? {
        guard
            let m = mapping(
                node, field,
                known: ["id", "category", "severity", "when", "observation", "evidence", "required_observations", "prohibited_claims"]),
            let id = string(m["id"], "\(field).id", required: true),
            let category = string(m["category"], "\(field).category", required: true),
            let observation = string(m["observation"], "\(field).observation", required: true)
        else { return nil }
        guard let whenNode = m["when"] else {
            fail(node, "\(field).when", "required: what the rule matches (matches, lacks, in, tool, tool_error, tool_input_matches, tool_not_called)")
            return nil
        }
        guard
            let w = mapping(
                whenNode, "\(field).when", known: ["matches", "lacks", "in", "tool", "tool_error", "tool_input_matches", "tool_not_called"])
        else { return nil }
        let condition = CriticRule.Condition(
            matches: regex(w["matches"], "\(field).when.matches"), lacks: regex(w["lacks"], "\(field).when.lacks"),
            files: strings(w["in"], "\(field).when.in"), tool: string(w["tool"], "\(field).when.tool"),
            toolError: bool(w["tool_error"], "\(field).when.tool_error", default: false),
            toolInputMatches: regex(w["tool_input_matches"], "\(field).when.tool_input_matches"),
            toolNotCalled: string(w["tool_not_called"], "\(field).when.tool_not_called"))
        if condition.matches == nil, condition.lacks == nil, condition.tool == nil, condition.toolNotCalled == nil {
            fail(whenNode, "\(field).when", "needs at least one of matches, lacks, tool, tool_not_called")
        }
        if (condition.toolError || condition.toolInputMatches != nil), condition.tool == nil {
            fail(whenNode, "\(field).when", "tool_error and tool_input_matches need tool")
        }
        return CriticRule(
            id: id, category: category, severity: severity(m["severity"], "\(field).severity", default: .medium), when: condition,
            observation: observation, evidence: string(m["evidence"], "\(field).evidence"),
            requiredObservations: strings(m["required_observations"], "\(field).required_observations"),
            prohibitedClaims: strings(m["prohibited_claims"], "\(field).prohibited_claims"))
    }

    mutating func topic(_ node: Node, _ field: String) -> TopicRule? {
        guard
            let m = mapping(node, field, known: ["id", "categories", "keywords", "title", "severity", "kind", "has_rule", "recommendation"]),
            let id = string(m["id"], "\(field).id", required: true),
            let title = string(m["title"], "\(field).title", required: true)
        else { return nil }
        let categories = strings(m["categories"], "\(field).categories")
        let keywords = strings(m["keywords"], "\(field).keywords")
        if categories.isEmpty && keywords.isEmpty { fail(node, field, "needs categories or keywords to match on") }
        var kind = FailureMode.Kind.missingRequirement
        if let k = string(m["kind"], "\(field).kind") {
            let all: [FailureMode.Kind] = [.missingRequirement, .presentButNotFollowed, .implementationDefect]
            if let found = all.first(where: { $0.rawValue == k || $0.slug == k }) { kind = found } else {
                fail(m["kind"], "\(field).kind", "expected one of \(all.map(\.slug).joined(separator: ", "))")
            }
        }
        var hasRule: TopicRule.HasRule?
        if let h = m["has_rule"], let hm = mapping(h, "\(field).has_rule", known: ["file", "all"]) {
            let all = strings(hm["all"], "\(field).has_rule.all")
            if all.isEmpty { fail(h, "\(field).has_rule.all", "required: the words a harness line must hold") }
            hasRule = TopicRule.HasRule(file: string(hm["file"], "\(field).has_rule.file") ?? "*", all: all)
        }
        guard let recNode = m["recommendation"] else {
            fail(node, "\(field).recommendation", "required")
            return nil
        }
        guard let rec = recommendation(recNode, "\(field).recommendation", topicID: id, title: title) else { return nil }
        return TopicRule(
            id: id, categories: categories, keywords: keywords, title: title, severity: severity(m["severity"], "\(field).severity", default: .medium),
            kind: kind, hasRule: hasRule, recommendation: rec)
    }

    mutating func recommendation(_ node: Node, _ field: String, topicID: String, title: String) -> RecommendationTemplate? {
        guard
            let m = mapping(node, field, known: ["id", "title", "area", "change", "patch", "effort", "validation"]),
            let change = string(m["change"], "\(field).change", required: true)
        else { return nil }
        var area = Recommendation.Area.prompt
        if let a = string(m["area"], "\(field).area") {
            if let v = Recommendation.Area(rawValue: a) { area = v } else {
                fail(m["area"], "\(field).area", "expected one of \(Recommendation.Area.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }
        var effort = Recommendation.Effort.small
        if let e = string(m["effort"], "\(field).effort") {
            if let v = Recommendation.Effort(rawValue: e) { effort = v } else {
                fail(m["effort"], "\(field).effort", "expected one of \([Recommendation.Effort.small, .medium, .large].map(\.rawValue).joined(separator: ", "))")
            }
        }
        var patch: HarnessPatch?
        if let p = m["patch"] { patch = self.patch(p, "\(field).patch") }
        return RecommendationTemplate(
            id: string(m["id"], "\(field).id") ?? "rec-\(topicID)", title: string(m["title"], "\(field).title") ?? title, area: area,
            change: change, patch: patch, effort: effort,
            validation: string(m["validation"], "\(field).validation") ?? "Re-run the gate: the cases of this topic pass.")
    }

    mutating func patch(_ node: Node, _ field: String) -> HarnessPatch? {
        guard let m = mapping(node, field, known: ["file", "append", "replace", "with", "enable_tools"]),
            let file = string(m["file"], "\(field).file", required: true)
        else { return nil }
        if !file.hasPrefix("harness/") || file.split(separator: "/").contains("..") {
            fail(m["file"], "\(field).file", "must name a harness file (harness/…)")
        }
        let patch = HarnessPatch(
            file: file, append: string(m["append"], "\(field).append"), replace: string(m["replace"], "\(field).replace"),
            with: string(m["with"], "\(field).with"),
            enableTools: m["enable_tools"].map { strings($0, "\(field).enable_tools") })
        if patch.append == nil, patch.replace == nil, patch.enableTools == nil {
            fail(node, field, "needs append, replace (with with) or enable_tools")
        }
        if (patch.replace == nil) != (patch.with == nil) { fail(node, field, "replace and with go together") }
        return patch
    }
}

extension JSONValue {
    /// A YAML node as JSON, read by the same YAML reader as the eval suite (js-yaml's rules).
    init(yaml node: Node) {
        let text = (try? Yams.serialize(node: node)) ?? ""
        self = (try? EvalTestsYAML.parse(text)) ?? .null
    }
}

extension FailureMode.Kind {
    /// The short name used in rules files (`missing-requirement`, `present-but-not-followed`, `implementation-defect`).
    public var slug: String {
        switch self {
        case .missingRequirement: return "missing-requirement"
        case .presentButNotFollowed: return "present-but-not-followed"
        case .implementationDefect: return "implementation-defect"
        }
    }
}
