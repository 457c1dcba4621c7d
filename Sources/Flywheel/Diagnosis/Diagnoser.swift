import Foundation

/// Deterministic diagnosis: failure modes from traces, feedback and gate results, ranked by impact, each mapped to
/// a concrete recommendation.
///
/// Detectors (traces): tool-error clusters (by tool and normalised error text), calls to unknown tools, repeated
/// identical tool calls (≥ 3 in a trace), refusals in final answers, turn-limit exhaustion, missing artifacts.
/// Feedback records and failing eval rows are grouped by topic (`FailureCatalog`), else by category.
///
/// Impact = severity weight × (2 × failing evals + traces affected) (+ a tiny count tie-break); failure modes and
/// recommendations are ordered by it, ties by id.
public enum Diagnoser {
    /// Diagnoses a HALO JSONL file (or a folder of them); `feedback`, `results`, `harness` and the project's rules are optional.
    public static func diagnose(
        traces: URL, feedback: [FeedbackRecord] = [], results: [ResultRowFacts] = [], harness: HarnessFiles = HarnessFiles(),
        rules: ProjectRules = .none, cycle: Int = 0
    ) throws -> Diagnosis {
        diagnose(
            DiagnosisInput(
                spans: try DiagnosisTraces.spans(at: traces), feedback: feedback, results: results, harness: harness,
                requiredArtifacts: rules.requiredArtifacts, topics: rules.failureTopics),
            cycle: cycle)
    }

    /// Diagnoses spans (and optionally feedback, results, harness).
    public static func diagnose(
        spans: [Span], feedback: [FeedbackRecord] = [], results: [ResultRowFacts] = [], harness: HarnessFiles = HarnessFiles(),
        cycle: Int = 0
    ) -> Diagnosis {
        diagnose(DiagnosisInput(spans: spans, feedback: feedback, results: results, harness: harness), cycle: cycle)
    }

    /// The full entry point.
    /// - Parameter finalAnswers: trace id → the agent's final answer text (`final_answer.md`), when known; otherwise
    ///   the last assistant message without tool calls in the trace's LLM spans.
    public static func diagnose(_ input: DiagnosisInput, cycle: Int, finalAnswers: [String: String] = [:]) -> Diagnosis {
        var builder = Builder(harness: input.harness)
        let traces = groupByTrace(input.spans)
        let offered = offeredTools(input)
        detectToolProblems(traces, offered: offered, into: &builder)
        detectLoops(traces, into: &builder)
        detectRefusals(traces, finalAnswers: finalAnswers, expectedDeclines: input.expectedDeclines, into: &builder)
        detectMaxTurns(traces, into: &builder)
        detectMissingArtifacts(traces, input: input, into: &builder)
        addFeedback(input.feedback, topics: input.topics, into: &builder)
        addResults(input.results, feedback: input.feedback, topics: input.topics, into: &builder)
        return builder.build(cycle: cycle)
    }

    /// Evidence items kept per failure mode (the ids lists stay complete).
    public static let maxEvidencePerMode = 25

    // MARK: - Grouping

    static func groupByTrace(_ spans: [Span]) -> [(id: String, spans: [Span])] {
        var order: [String] = []
        var groups: [String: [Span]] = [:]
        for s in spans {
            if groups[s.traceID] == nil { order.append(s.traceID) }
            groups[s.traceID, default: []].append(s)
        }
        return order.map { ($0, groups[$0]!) }
    }

    static func offeredTools(_ input: DiagnosisInput) -> Set<String> {
        if let o = input.offeredTools { return o }
        var set = Set<String>()
        for s in input.spans {
            guard let v = s.attributes["agent.tools"] else { continue }
            let list = v.arrayValue ?? v.stringValue.flatMap { try? JSONValue.parse($0) }?.arrayValue ?? []
            for t in list {
                if let name = t.stringValue ?? t["name"]?.stringValue { set.insert(name) }
            }
        }
        for (name, enabled) in input.harness.tools where enabled { set.insert(name) }
        return set
    }

    // MARK: - Tool errors and unknown tools

    static let unknownToolPattern = try! NSRegularExpression(
        pattern: #"unknown tool|no such tool|tool\s+['"`]?[\w.-]+['"`]?\s+(is )?not found|not a valid tool|invalid tool|tool not found|unknown function"#,
        options: [.caseInsensitive])

    static func errorDetail(_ s: Span) -> String {
        if let out = s.outputValueText, let r = out.range(of: "Error: ") { return String(out[r.upperBound...]) }
        if !s.status.message.isEmpty, !s.status.message.hasPrefix("Error running tool") { return s.status.message }
        if let out = s.outputValueText, !out.isEmpty { return out }
        if let t = s.attributes["error.type"]?.stringValue { return t }
        return s.status.message
    }

    /// Lowercased error text with quoted strings, paths, ids and numbers replaced by placeholders.
    public static func normalizeError(_ text: String) -> String {
        var s = text.lowercased()
        let rules: [(String, String)] = [
            (#"'[^']*'|"[^"]*"|`[^`]*`|“[^”]*”"#, "<q>"),
            (#"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"#, "<id>"),
            (#"(?<![\w/])(?:[\w.-]+/)+[\w.-]*|[\w-]+\.(?:csv|md|json|jsonl|yaml|yml|txt|pdf|xlsx|py|swift)\b"#, "<path>"),
            (#"\b(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b"#, "<id>"),
            (#"\d+(?:\.\d+)?"#, "<n>"),
            (#"\s+"#, " "),
        ]
        for (pattern, replacement) in rules {
            s = s.replacingOccurrences(of: pattern, with: replacement, options: .regularExpression)
        }
        s = s.trimmingCharacters(in: .whitespaces)
        return s.count > 120 ? String(s.prefix(120)) : s
    }

    static func detectToolProblems(_ traces: [(id: String, spans: [Span])], offered: Set<String>, into b: inout Builder) {
        let unknown = FailureCatalog.unknownTool(offered: offered.sorted(by: byteOrder))
        for (traceID, spans) in traces {
            for s in spans where s.isToolSpan {
                let tool = s.toolNameForDiagnosis ?? s.name
                let detail = s.isErrorSpan ? errorDetail(s) : ""
                let saysUnknown = s.isErrorSpan && unknownToolPattern.firstMatch(in: detail, range: NSRange(detail.startIndex..., in: detail)) != nil
                if (!offered.isEmpty && !offered.contains(tool)) || saysUnknown {
                    b.add(
                        unknown, traceID: traceID, spanID: s.spanID,
                        note: "called tool \"\(tool)\"" + (offered.isEmpty ? "" : " (not offered)") + (saysUnknown ? ": \(RuleCritic.clip(detail, 120))" : ""))
                    continue
                }
                guard s.isErrorSpan else { continue }
                let normalized = normalizeError(detail)
                let slug = slugify(tool, max: 24) + "-" + slugify(normalized.replacingOccurrences(of: #"<(q|n|id|path)>"#, with: " ", options: .regularExpression), max: 32)
                b.add(
                    FailureCatalog.toolError(tool: tool, normalized: normalized, slug: slug), traceID: traceID, spanID: s.spanID,
                    note: "\(tool) error: \(RuleCritic.clip(detail, 160))")
            }
        }
    }

    // MARK: - Loops

    static func detectLoops(_ traces: [(id: String, spans: [Span])], into b: inout Builder) {
        for (traceID, spans) in traces {
            var groups: [String: [Span]] = [:]
            var order: [String] = []
            for s in spans where s.isToolSpan {
                let args = s.inputValueText.map { (try? JSONValue.parse($0))?.canonicalText ?? $0 } ?? ""
                let key = (s.toolNameForDiagnosis ?? s.name) + "\u{0}" + args
                if groups[key] == nil { order.append(key) }
                groups[key, default: []].append(s)
            }
            for key in order {
                let calls = groups[key]!
                guard calls.count >= 3 else { continue }
                let tool = calls[0].toolNameForDiagnosis ?? calls[0].name
                b.add(
                    FailureCatalog.loop, traceID: traceID, spanIDs: calls.map(\.spanID), count: calls.count,
                    note: "\(tool) called \(calls.count)× with the same arguments \(RuleCritic.clip(calls[0].inputValueText ?? "", 100))")
            }
        }
    }

    // MARK: - Refusals

    static let refusalPattern = try! NSRegularExpression(
        pattern: #"\b(i(?:'|’)?m sorry,? but|i(?:'|’)?m (?:unable|not able) to|i am (?:unable|not able) to|i can(?:not|'t|’t) (?:help|assist|provide|answer|comply|do that|complete)|i (?:won't|will not) be able to|i must decline|as an ai(?: language model)?,? i)"#,
        options: [.caseInsensitive])

    static func finalAnswer(_ spans: [Span]) -> (text: String, spanID: String)? {
        if let root = spans.first(where: { $0.parentSpanID.isEmpty && $0.observationKindForDiagnosis == "AGENT" }),
            let out = root.attributes["output.value"]?.stringValue ?? root.attributes["agent.final_output"]?.stringValue, !out.isEmpty
        {
            return (out, root.spanID)
        }
        let llm = spans.enumerated().filter { $0.element.observationKindForDiagnosis == "LLM" }
            .sorted { ($0.element.endTime, $0.offset) < ($1.element.endTime, $1.offset) }
        for (_, s) in llm.reversed() {
            guard let text = s.attributes["llm.output_messages"]?.stringValue, let messages = (try? JSONValue.parse(text))?.arrayValue else { continue }
            for m in messages.reversed() where m["role"]?.stringValue == "assistant" {
                let calls = m["tool_calls"]?.arrayValue ?? []
                if calls.isEmpty, let content = m["content"]?.stringValue, !content.isEmpty { return (content, s.spanID) }
            }
        }
        return nil
    }

    static func detectRefusals(
        _ traces: [(id: String, spans: [Span])], finalAnswers: [String: String], expectedDeclines: [String] = [], into b: inout Builder
    ) {
        let declines = expectedDeclines.compactMap { try? NSRegularExpression(pattern: $0, options: [.caseInsensitive]) }
        func expected(_ text: String) -> Bool { declines.contains { $0.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil } }
        for (traceID, spans) in traces {
            let answer: (text: String, spanID: String?)?
            if let given = finalAnswers[traceID] { answer = (given, nil) } else { answer = finalAnswer(spans).map { ($0.text, $0.spanID) } }
            guard let answer else { continue }
            let head = String(answer.text.prefix(600))
            guard !expected(answer.text), let m = refusalPattern.firstMatch(in: head, range: NSRange(head.startIndex..., in: head)) else { continue }
            b.add(FailureCatalog.refusal, traceID: traceID, spanID: answer.spanID, note: "final answer refuses: \"\(RuleCritic.excerpt(head, around: m.range, radius: 50))\"")
        }
        for (traceID, text) in finalAnswers.sorted(by: { byteOrder($0.key, $1.key) }) where !traces.contains(where: { $0.id == traceID }) {
            let head = String(text.prefix(600))
            if !expected(text), let m = refusalPattern.firstMatch(in: head, range: NSRange(head.startIndex..., in: head)) {
                b.add(FailureCatalog.refusal, traceID: traceID, spanID: nil, note: "final answer refuses: \"\(RuleCritic.excerpt(head, around: m.range, radius: 50))\"")
            }
        }
    }

    // MARK: - Max turns

    static let maxTurnsPattern = try! NSRegularExpression(pattern: #"max(?:imum)?[ _-]?turns|maxturnsexceeded|turn limit"#, options: [.caseInsensitive])

    static func detectMaxTurns(_ traces: [(id: String, spans: [Span])], into b: inout Builder) {
        for (traceID, spans) in traces {
            for s in spans {
                let texts = [
                    s.attributes["agent.stop_reason"]?.stringValue, s.attributes["agent.outcome"]?.stringValue,
                    s.attributes["error.type"]?.stringValue, s.status.message,
                ].compactMap { $0 }
                guard let hit = texts.first(where: { maxTurnsPattern.firstMatch(in: $0, range: NSRange($0.startIndex..., in: $0)) != nil }) else { continue }
                b.add(FailureCatalog.maxTurns, traceID: traceID, spanID: s.spanID, note: "\(s.name) stopped: \(RuleCritic.clip(hit, 120))")
                break
            }
        }
    }

    // MARK: - Missing artifacts

    static func detectMissingArtifacts(_ traces: [(id: String, spans: [Span])], input: DiagnosisInput, into b: inout Builder) {
        // The project's topic for missing artifacts when it has one, else the generic topic.
        let topic = input.topics.first { $0.categories.contains { FailureCatalog.sameCategory($0, "artifact-missing") } } ?? FailureCatalog.missingArtifacts
        var seen = Set<String>()
        for (traceID, spans) in traces {
            seen.insert(traceID)
            var present: Set<String>
            var anchor: String? = spans.first { $0.parentSpanID.isEmpty }?.spanID
            if let given = input.artifacts[traceID] {
                present = given
            } else {
                let writes = spans.filter { ($0.toolNameForDiagnosis ?? "") == "write_artifact" }
                guard !writes.isEmpty else { continue }
                present = []
                for w in writes where !w.isErrorSpan {
                    guard let args = w.inputValueText.flatMap({ try? JSONValue.parse($0) }) else { continue }
                    if let name = args["name"]?.stringValue ?? args["path"]?.stringValue ?? args["file"]?.stringValue ?? args["artifact"]?.stringValue {
                        present.insert((name as NSString).lastPathComponent)
                    }
                }
                anchor = anchor ?? writes.last?.spanID
            }
            let missing = input.requiredArtifacts.filter { !present.contains($0) }
            guard !missing.isEmpty else { continue }
            b.add(topic, traceID: traceID, spanID: anchor, count: missing.count, note: "missing artifacts: \(missing.joined(separator: ", "))")
        }
        for (traceID, present) in input.artifacts.sorted(by: { byteOrder($0.key, $1.key) }) where !seen.contains(traceID) {
            let missing = input.requiredArtifacts.filter { !present.contains($0) }
            if !missing.isEmpty { b.add(topic, traceID: traceID, spanID: nil, count: missing.count, note: "missing artifacts: \(missing.joined(separator: ", "))") }
        }
    }

    // MARK: - Feedback and results

    static func addFeedback(_ feedback: [FeedbackRecord], topics: [FailureTopic], into b: inout Builder) {
        for r in FeedbackStore.sorted(feedback) where r.verdict != .good {
            let topic = FailureCatalog.topic(category: r.category, observation: r.observation, topics: topics)
            b.add(topic, traceID: r.traceID, spanID: nil, severity: r.severity, feedbackID: r.feedbackID,
                  note: "\(r.source.rawValue) feedback \(r.feedbackID) (\(r.author)): \(RuleCritic.clip(r.observation, 200))")
        }
    }

    static func addResults(_ results: [ResultRowFacts], feedback: [FeedbackRecord], topics: [FailureTopic], into b: inout Builder) {
        let byID = Dictionary(feedback.map { ($0.feedbackID, $0) }, uniquingKeysWith: { a, _ in a })
        for row in results where row.failedForReal {
            let record = row.feedbackID.flatMap { byID[$0] }
            let topic = FailureCatalog.topic(category: record?.category ?? row.category ?? "uncategorized", observation: record?.observation ?? row.reason, topics: topics)
            b.add(topic, traceID: row.traceID, spanID: nil, severity: record?.severity ?? row.severity, evalID: row.evalID,
                  note: "eval \(row.evalID) \(row.status.rawValue)" + (row.reason.isEmpty ? "" : ": " + RuleCritic.clip(row.reason, 160)))
        }
    }

    // MARK: - Builder

    struct Accumulator {
        var topic: FailureTopic
        var severity: FeedbackRecord.Severity
        var traceIDs: [String] = []
        var spanIDs: [String] = []
        var evalIDs: [String] = []
        var feedbackIDs: [String] = []
        var evidence: [EvidenceRef] = []
        var count = 0

        mutating func addUnique(_ v: String?, to keyPath: WritableKeyPath<Accumulator, [String]>) {
            guard let v, !v.isEmpty, !self[keyPath: keyPath].contains(v) else { return }
            self[keyPath: keyPath].append(v)
        }

        var impact: Double {
            severity.weight * Double(2 * evalIDs.count + traceIDs.count) + 0.001 * Double(min(count, 999))
        }
    }

    struct Builder {
        var harness: HarnessFiles
        var modes: [String: Accumulator] = [:]

        mutating func add(
            _ topic: FailureTopic, traceID: String?, spanID: String? = nil, spanIDs: [String] = [], count: Int = 1,
            severity: FeedbackRecord.Severity? = nil, evalID: String? = nil, feedbackID: String? = nil, note: String
        ) {
            let id = "fm-" + topic.id
            var acc = modes[id] ?? Accumulator(topic: topic, severity: topic.severity)
            if let severity, severity > acc.severity { acc.severity = severity }
            acc.addUnique(traceID, to: \.traceIDs)
            for s in ([spanID].compactMap { $0 } + spanIDs) { acc.addUnique(s, to: \.spanIDs) }
            acc.addUnique(evalID, to: \.evalIDs)
            acc.addUnique(feedbackID, to: \.feedbackIDs)
            acc.count += count
            acc.evidence.append(EvidenceRef(traceID: traceID ?? "", spanID: spanID ?? spanIDs.first, evalID: evalID, note: note))
            modes[id] = acc
        }

        func build(cycle: Int) -> Diagnosis {
            let ranked = modes.sorted { a, b in
                a.value.impact != b.value.impact ? a.value.impact > b.value.impact : byteOrder(a.key, b.key)
            }
            let failureModes = ranked.map { id, acc in
                FailureMode(
                    id: id, title: acc.topic.title, kind: acc.topic.hasRule(harness) ? .presentButNotFollowed : acc.topic.defaultKind,
                    category: acc.topic.category, count: acc.count, traceIDs: acc.traceIDs, spanIDs: acc.spanIDs, evalIDs: acc.evalIDs,
                    feedbackIDs: acc.feedbackIDs, evidence: Array(acc.evidence.prefix(Diagnoser.maxEvidencePerMode)))
            }
            var recs: [Recommendation] = []
            var index: [String: Int] = [:]
            var impacts: [String: Double] = [:]
            for (id, acc) in ranked {
                let t = acc.topic.recommendation
                if let i = index[t.id] {
                    recs[i].failureModeIDs.append(id)
                    recs[i].predictedImpact.evalIDs += acc.evalIDs.filter { !recs[i].predictedImpact.evalIDs.contains($0) }
                    recs[i].predictedImpact.traceIDs += acc.traceIDs.filter { !recs[i].predictedImpact.traceIDs.contains($0) }
                    recs[i].evidence = Array((recs[i].evidence + acc.evidence).prefix(8))
                    impacts[t.id, default: 0] += acc.impact
                    continue
                }
                index[t.id] = recs.count
                impacts[t.id] = acc.impact
                recs.append(
                    Recommendation(
                        id: t.id, rank: 0, title: t.title, area: t.area, change: t.change, patch: t.patch,
                        predictedImpact: PredictedImpact(evalIDs: acc.evalIDs, traceIDs: acc.traceIDs, summary: ""),
                        confidence: .low, effort: t.effort, evidence: Array(acc.evidence.prefix(8)), validation: t.validation,
                        failureModeIDs: [id]))
            }
            for i in recs.indices {
                let r = recs[i]
                let evals = r.predictedImpact.evalIDs.count, traces = r.predictedImpact.traceIDs.count
                recs[i].confidence = r.patch != nil && (evals > 0 || traces >= 2) ? .high : (r.patch != nil || traces >= 2) ? .medium : .low
                recs[i].predictedImpact.summary =
                    "Should fix \(evals) failing eval\(evals == 1 ? "" : "s") across \(traces) trace\(traces == 1 ? "" : "s") (impact score \(String(format: "%.1f", impacts[r.id] ?? 0)))."
            }
            recs.sort { a, b in
                let ia = impacts[a.id] ?? 0, ib = impacts[b.id] ?? 0
                return ia != ib ? ia > ib : byteOrder(a.id, b.id)
            }
            for i in recs.indices { recs[i].rank = i + 1 }
            return Diagnosis(cycle: cycle, failureModes: failureModes, recommendations: recs)
        }
    }
}
