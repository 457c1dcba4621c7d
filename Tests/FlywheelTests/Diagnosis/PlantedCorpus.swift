import Foundation
import TestSupport

@testable import Flywheel
@testable import FlywheelSupport
@testable import FlywheelTraces

/// Generates planted trace corpora: an agent of some domain runs tasks, and three failure modes are planted on known
/// traces with varied wording, among clean runs and one-off noise (a single unrelated error, a decline that states
/// the policy, two identical calls). Deterministic for a seed.
struct PlantedCorpus {
    struct Agent {
        var name: String
        var service: String
        var tools: [String]
        /// A second agent the first hands off to (for handoff modes), and a guardrail name.
        var peer: String
        var guardrail: String
        var tasks: [String]
        /// A decline that states the applicable rule (must not be reported as a refusal).
        var policyDecline: String
    }

    /// A failure mode to plant. Tool modes name the tool that fails.
    enum Mode: Hashable, CustomStringConvertible {
        case toolLimit(String), toolNotFound(String), toolTimeout(String), toolPermission(String)
        case contextOverflow, invalidArguments, rateLimit, emptyAnswer, handoffLoop, guardrail, refusal, loop, unknownTool, maxTurns

        var description: String {
            switch self {
            case .toolLimit(let t): return "limit(\(t))"
            case .toolNotFound(let t): return "not-found(\(t))"
            case .toolTimeout(let t): return "timeout(\(t))"
            case .toolPermission(let t): return "permission(\(t))"
            case .contextOverflow: return "context-overflow"
            case .invalidArguments: return "invalid-arguments"
            case .rateLimit: return "rate-limit"
            case .emptyAnswer: return "empty-answer"
            case .handoffLoop: return "handoff-loop"
            case .guardrail: return "guardrail"
            case .refusal: return "refusal"
            case .loop: return "loop"
            case .unknownTool: return "unknown-tool"
            case .maxTurns: return "max-turns"
            }
        }

        /// Whether a reported failure mode is this planted mode (by what it is, not by its traces).
        func isReported(by fm: FailureMode) -> Bool {
            switch self {
            case .toolLimit(let t): return fm.id == "fm-tool-error-\(slugify(t, max: 24))-limit"
            case .toolNotFound(let t): return fm.id == "fm-tool-error-\(slugify(t, max: 24))-not-found"
            case .toolTimeout(let t): return fm.id == "fm-tool-error-\(slugify(t, max: 24))-timeout"
            case .toolPermission(let t): return fm.id == "fm-tool-error-\(slugify(t, max: 24))-permission-denied"
            case .contextOverflow: return fm.id == "fm-context-overflow"
            case .invalidArguments: return fm.id == "fm-invalid-tool-arguments"
            case .rateLimit: return fm.id == "fm-rate-limits"
            case .emptyAnswer: return fm.id == "fm-empty-final-answer"
            case .handoffLoop: return fm.id == "fm-handoff-loops"
            case .guardrail: return fm.id.hasPrefix("fm-guardrail-")
            case .refusal: return fm.id == "fm-refusals"
            case .loop: return fm.id == "fm-repeated-tool-calls"
            case .unknownTool: return fm.id == "fm-unknown-tools"
            case .maxTurns: return fm.id == "fm-max-turns"
            }
        }
    }

    /// Wordings of each mode. `variants` picks which ones a corpus uses (tuning vs held-out sets differ).
    enum Wording {
        static func limit(_ i: Int, _ n: Int, _ max: Int) -> String {
            [
                "ValidationError: page_limit \(n) exceeds maximum \(max)",
                "parameter 'limit' must be <= \(max) (got \(n))",
                "Invalid request: max_results=\(n) is above the limit of \(max)",
                "ValueError: count must be at most \(max), received \(n)",
                "Requested \(n) rows; maximum allowed is \(max)",
                // held-out wordings
                "top_k (\(n)) is greater than the max of \(max)",
                "RangeError: value \(n) out of range [1, \(max)]",
                "too many items requested: \(n) > \(max)",
            ][i]
        }
        static func notFound(_ i: Int, _ id: String) -> String {
            [
                "FileNotFoundError: [Errno 2] No such file or directory: 'data/\(id).csv'",
                "Order \(id) not found",
                "404 Not Found: /api/v2/items/\(id)",
                "KeyError: record '\(id)' does not exist",
                "no record found for \(id)",
                // held-out
                "Could not find document with id \(id)",
                "LookupError: unknown id \(id)",
            ][i]
        }
        static func timeout(_ i: Int, _ s: Int) -> String {
            [
                "TimeoutError: request to backend timed out after \(s)s",
                "ReadTimeout: HTTPSConnectionPool(host='api.internal', port=443): Read timed out. (read timeout=\(s))",
                "deadline exceeded while waiting for the backend (\(s * 1000) ms)",
                "Tool call timed out after \(s) seconds",
                // held-out
                "Operation exceeded time limit of \(s)s",
                "upstream request timeout (\(s)s)",
            ][i]
        }
        static func permission(_ i: Int, _ id: String) -> String {
            [
                "PermissionError: [Errno 13] Permission denied: '/srv/\(id)'",
                "403 Forbidden: token lacks scope for \(id)",
                "Access denied for resource \(id)",
                // held-out
                "Unauthorized: credentials rejected for \(id)",
            ][i]
        }
        static func context(_ i: Int, _ n: Int) -> String {
            [
                "Error code: 400 - {'error': {'message': \"This model's maximum context length is 128000 tokens. However, your messages resulted in \(n) tokens.\", 'code': 'context_length_exceeded'}}",
                "prompt is too long: \(n) tokens > 200000 maximum",
                "InvalidRequestError: context_length_exceeded (\(n) tokens)",
                // held-out
                "input is too long for the model: \(n) tokens requested",
            ][i]
        }
        static func rate(_ i: Int, _ n: Int) -> String {
            [
                "Error code: 429 - Rate limit reached for requests in organization org-\(n) on tokens per min (TPM): Limit 30000, Used 29950",
                "RateLimitError: You exceeded your current quota, please check your plan",
                "HTTP 429 Too Many Requests (retry after \(n % 9 + 1)s)",
                // held-out
                "ThrottlingException: Rate exceeded for account \(n)",
            ][i]
        }
        static func invalidJSON(_ i: Int) -> String {
            [
                "JSONDecodeError: Expecting ',' delimiter: line 1 column 42 (char 41)",
                "Invalid JSON in tool arguments: Unterminated string starting at: line 1 column 10 (char 9)",
                "Failed to parse tool arguments: unexpected end of JSON input",
                // held-out
                "arguments are not valid JSON",
            ][i]
        }
        static func refusal(_ i: Int) -> String {
            [
                "I'm sorry, but I can't help with that.",
                "I am unable to assist with this request.",
                "Unfortunately, I cannot provide that information.",
                // held-out
                "I must decline to answer this.",
            ][i]
        }
        static func guardrail(_ i: Int, _ name: String) -> String {
            [
                "InputGuardrailTripwireTriggered: Guardrail \(name) triggered tripwire",
                "OutputGuardrailTripwireTriggered: guardrail \(name) blocked the response",
                // held-out
                "Guardrail \(name) tripped",
            ][i]
        }
        static func unknownTool(_ i: Int, _ tool: String) -> String {
            ["Tool \(tool) not found in agent", "Unknown tool: \(tool)", "No such tool '\(tool)'"][i]
        }
    }

    var agent: Agent
    var modes: [Mode]
    var seed: UInt64
    var traceCount = 40
    /// Indexes into each mode's wordings this corpus draws from.
    var wordings: [Int]

    struct Output {
        var spans: [Span]
        var truth: [Mode: [String]]
        var traceIDs: [String]
    }

    // MARK: - Random

    struct RNG {
        var base: SplitMix64
        init(state: UInt64) { base = SplitMix64(seed: state) }
        mutating func next() -> UInt64 { base.next() }
        mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }
        mutating func pick<T>(_ a: [T]) -> T { a[Int(next() % UInt64(a.count))] }
        mutating func hex(_ n: Int) -> String { (0..<n).map { _ in String(next() % 16, radix: 16) }.joined() }
    }

    // MARK: - Building

    func generate() -> Output {
        var rng = RNG(state: seed &* 0x2545_F491_4F6C_DD1D &+ 17)
        let ids = (0..<traceCount).map { _ in rng.hex(32) }
        // Disjoint planted trace sets of 4–8 traces each; the rest stay clean except for noise.
        var free = Array(ids.indices)
        var truth: [Mode: [String]] = [:]
        var planted: [Int: Mode] = [:]
        for m in modes {
            let k = rng.int(4...8)
            var chosen: [Int] = []
            for _ in 0..<k {
                let j = Int(rng.next() % UInt64(free.count))
                chosen.append(free.remove(at: j))
            }
            for c in chosen { planted[c] = m }
            truth[m] = chosen.sorted().map { ids[$0] }
        }
        let noiseError = free.isEmpty ? nil : free.remove(at: Int(rng.next() % UInt64(free.count)))
        let noiseDecline = free.isEmpty ? nil : free.remove(at: Int(rng.next() % UInt64(free.count)))
        let noiseRepeat = free.isEmpty ? nil : free.remove(at: Int(rng.next() % UInt64(free.count)))
        var spans: [Span] = []
        for (i, traceID) in ids.enumerated() {
            var t = TraceBuilder(traceID: traceID, agent: agent, rng: RNG(state: rng.next()), start: 1_780_000_000 + Double(i) * 600)
            t.run(task: agent.tasks[i % agent.tasks.count], mode: planted[i], wordings: wordings,
                  noise: i == noiseError ? .error : i == noiseDecline ? .decline : i == noiseRepeat ? .repeatTwice : nil)
            spans += t.spans
        }
        return Output(spans: spans, truth: truth, traceIDs: ids)
    }

    enum Noise { case error, decline, repeatTwice }

    struct TraceBuilder {
        var traceID: String
        var agent: Agent
        var rng: RNG
        var clock: Double
        var spans: [Span] = []
        var rootID = ""

        init(traceID: String, agent: Agent, rng: RNG, start: Double) {
            self.traceID = traceID
            self.agent = agent
            self.rng = rng
            self.clock = start
        }

        static func time(_ t: Double) -> String {
            let whole = Int(t)
            let frac = Int(((t - Double(whole)) * 1_000_000).rounded())
            let date = Date(timeIntervalSince1970: Double(whole))
            var cal = Calendar(identifier: .gregorian)
            cal.timeZone = TimeZone(identifier: "UTC")!
            let c = cal.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
            return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06d000Z", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!, frac)
        }

        mutating func span(
            name: String, kind: String, parent: String, duration: Double, status: SpanStatus = .ok, attributes: [String: JSONValue]
        ) -> String {
            let id = rng.hex(16)
            let start = clock
            clock += duration
            var attrs = attributes
            attrs["openinference.span.kind"] = .string(kind)
            attrs["inference.observation_kind"] = .string(kind)
            attrs["inference.agent_name"] = .string(agent.name)
            spans.append(Span(
                traceID: traceID, spanID: id, parentSpanID: parent, name: name, kind: kind == "LLM" ? "SPAN_KIND_CLIENT" : "SPAN_KIND_INTERNAL",
                startTime: Self.time(start), endTime: Self.time(clock), status: status,
                resourceAttributes: ["service.name": .string(agent.service)], scope: SpanScope(name: "planted", version: "1"), attributes: attrs))
            clock += 0.05
            return id
        }

        static func messages(_ content: String?, toolCall: (name: String, args: String)? = nil, finish: String? = nil) -> JSONValue {
            var m: [String: JSONValue] = ["role": "assistant", "content": content.map { .string($0) } ?? .null]
            if let toolCall {
                m["tool_calls"] = .array([["id": .string("call_1"), "type": "function", "function": ["name": .string(toolCall.name), "arguments": .string(toolCall.args)]]])
            }
            if let finish { m["finish_reason"] = .string(finish) }
            return .string(JSONValue.array([.object(m)]).canonicalText)
        }

        mutating func llm(_ content: String?, toolCall: (name: String, args: String)? = nil, status: SpanStatus = .ok, finish: String? = nil, extra: [String: JSONValue] = [:]) {
            var a: [String: JSONValue] = [
                "llm.model_name": "gpt-4.1-mini", "inference.llm.model_name": "gpt-4.1-mini",
                "inference.llm.input_tokens": .int(Int64(rng.int(800...1400))), "inference.llm.output_tokens": .int(Int64(rng.int(40...160))),
            ]
            if status.code != "STATUS_CODE_ERROR" { a["llm.output_messages"] = Self.messages(content, toolCall: toolCall, finish: finish) }
            for (k, v) in extra { a[k] = v }
            _ = span(name: "generation.gpt-4.1-mini", kind: "LLM", parent: rootID, duration: Double(rng.int(6...14)) / 10, status: status, attributes: a)
        }

        mutating func tool(_ name: String, args: String, output: String = "ok", error: String? = nil, duration: Double? = nil) {
            var a: [String: JSONValue] = ["tool.name": .string(name), "input.value": .string(args)]
            a["output.value"] = .string(error.map { "Error: \($0)" } ?? output)
            _ = span(name: "function.\(name)", kind: "TOOL", parent: rootID, duration: duration ?? Double(rng.int(2...9)) / 10,
                     status: error.map { SpanStatus.error($0) } ?? .ok, attributes: a)
        }

        /// A normal tool step: the model asks for a tool, the tool answers.
        mutating func step(_ tool: String, args: String) {
            llm(nil, toolCall: (tool, args))
            self.tool(tool, args: args, output: "result of \(tool): \(rng.hex(6))")
        }

        mutating func run(task: String, mode: Mode?, wordings: [Int], noise: Noise?) {
            func w(_ count: Int) -> Int { let pool = wordings.filter { $0 < count }; return pool.isEmpty ? 0 : rng.pick(pool) }
            // Root first (its end time is fixed after the children).
            rootID = rng.hex(16)
            let rootStart = clock
            clock += 0.01
            let tools = agent.tools
            var answer: String? = "Here is what I found for \"\(task)\": \(rng.hex(8)). Summary ready."
            var rootStatus = SpanStatus.ok
            var stopReason: String?
            var handoffs: [(String, String)] = [(agent.name, agent.peer)]
            if rng.int(0...2) == 0 { handoffs = [] }
            var guardTripped = false

            // Two or three ordinary steps.
            for _ in 0..<rng.int(2...3) { step(rng.pick(tools), args: "{\"query\":\"\(task)\",\"page\":\(rng.int(1...3))}") }

            switch mode {
            case .toolLimit(let t)?:
                let n = rng.int(30...300), max = rng.pick([10, 20, 25, 50])
                llm(nil, toolCall: (t, "{\"limit\":\(n)}"))
                tool(t, args: "{\"limit\":\(n)}", error: Wording.limit(w(8), n, max))
                step(t, args: "{\"limit\":\(max)}")
            case .toolNotFound(let t)?:
                let id = rng.pick(["A", "BK-", "INC-", "C"]) + String(rng.int(1000...9999))
                llm(nil, toolCall: (t, "{\"id\":\"\(id)\"}"))
                tool(t, args: "{\"id\":\"\(id)\"}", error: Wording.notFound(w(7), id))
            case .toolTimeout(let t)?:
                let s = rng.pick([10, 15, 20, 30])
                llm(nil, toolCall: (t, "{\"range\":\"7d\"}"))
                tool(t, args: "{\"range\":\"7d\"}", error: Wording.timeout(w(6), s), duration: Double(s) / 4)
            case .toolPermission(let t)?:
                let id = "res-\(rng.int(100...999))"
                llm(nil, toolCall: (t, "{\"target\":\"\(id)\"}"))
                tool(t, args: "{\"target\":\"\(id)\"}", error: Wording.permission(w(4), id))
            case .contextOverflow?:
                let n = rng.int(128_500...260_000)
                switch rng.int(0...2) {
                case 0, 1:
                    llm(nil, status: .error(Wording.context(w(4), n)))
                    answer = nil
                    rootStatus = .error("run failed")
                default:
                    llm(String(repeating: "partial findings ", count: 20), finish: "length")
                    answer = "partial findings partial findings"
                }
            case .invalidArguments?:
                let t = rng.pick(tools)
                let broken = "{\"query\": \"\(task)\", \"filters\": [\"a\""
                llm(nil, toolCall: (t, broken))
                tool(t, args: broken, error: Wording.invalidJSON(w(4)))
            case .rateLimit?:
                for _ in 0..<rng.int(3...5) { llm(nil, status: .error(Wording.rate(w(4), rng.int(1000...9999)))) }
            case .emptyAnswer?:
                answer = ""
            case .handoffLoop?:
                handoffs = [(agent.name, agent.peer), (agent.peer, agent.name), (agent.name, agent.peer), (agent.peer, agent.name)]
            case .guardrail?:
                guardTripped = true
            case .refusal?:
                answer = Wording.refusal(w(4))
            case .loop?:
                let t = rng.pick(tools)
                for _ in 0..<rng.int(3...5) { step(t, args: "{\"query\":\"\(task)\"}") }
            case .unknownTool?:
                let ghost = rng.pick(["get_weather", "lookup_everything", "send_email", "translate_text"])
                llm(nil, toolCall: (ghost, "{}"))
                tool(ghost, args: "{}", error: Wording.unknownTool(rng.int(0...2), ghost))
            case .maxTurns?:
                for _ in 0..<3 { step(rng.pick(tools), args: "{\"query\":\"\(task) more\"}") }
                stopReason = "max_turns"
                rootStatus = .error("MaxTurnsExceeded: Max turns (10) exceeded")
                answer = nil
            case nil:
                break
            }
            switch noise {
            case .error?:
                tool(rng.pick(tools), args: "{\"query\":\"x\"}", error: "ConnectionResetError: [Errno 104] Connection reset by peer")
            case .decline?:
                answer = agent.policyDecline
            case .repeatTwice?:
                let t = rng.pick(tools)
                step(t, args: "{\"query\":\"same\"}")
                step(t, args: "{\"query\":\"same\"}")
            case nil:
                break
            }
            for (from, to) in handoffs {
                _ = span(name: "handoff", kind: "CHAIN", parent: rootID, duration: 0.01,
                         attributes: ["agent.handoff.from": .string(from), "agent.handoff.to": .string(to)])
            }
            let gName = agent.guardrail
            _ = span(name: "guardrail.\(gName)", kind: "GUARDRAIL", parent: rootID, duration: 0.05,
                     status: guardTripped ? .error(Wording.guardrail(w(3), gName)) : .ok,
                     attributes: ["guardrail.name": .string(gName), "guardrail.triggered": .bool(guardTripped)])
            if guardTripped {
                answer = nil
                rootStatus = .error(Wording.guardrail(w(3), gName))
            }
            if let answer { llm(answer) }
            var rootAttrs: [String: JSONValue] = [
                "agent.name": .string(agent.name), "openinference.span.kind": "AGENT", "inference.observation_kind": "AGENT",
                "agent.tools": .string(JSONValue.array(agent.tools.map { .string($0) }).canonicalText), "input.value": .string(task),
            ]
            if let answer { rootAttrs["output.value"] = .string(answer) }
            if let stopReason { rootAttrs["agent.stop_reason"] = .string(stopReason) }
            spans.insert(Span(
                traceID: traceID, spanID: rootID, name: "agent.\(agent.name)", kind: "SPAN_KIND_INTERNAL", startTime: Self.time(rootStart),
                endTime: Self.time(clock), status: rootStatus, resourceAttributes: ["service.name": .string(agent.service)],
                scope: SpanScope(name: "planted", version: "1"), attributes: rootAttrs), at: 0)
        }
    }

    // MARK: - Agents

    static let travel = Agent(
        name: "TravelPlanner", service: "travel-agent", tools: ["search_flights", "search_hotels", "get_booking", "book_trip"], peer: "BookingDesk",
        guardrail: "payment_data", tasks: ["Find a flight from Lisbon to Oslo in May", "Hotels near the Prado for 3 nights", "Change booking BK-2211 to Friday"],
        policyDecline: "I'm sorry, but this fare is non-refundable under the airline's fare rules, so I cannot cancel it for a refund.")
    static let ops = Agent(
        name: "OpsResponder", service: "ops-agent", tools: ["query_metrics", "get_incident", "run_runbook", "page_oncall"], peer: "Escalation",
        guardrail: "destructive_commands", tasks: ["Why is p99 latency up on checkout?", "Summarise incident INC-4410", "Restart the stuck worker pool"],
        policyDecline: "I'm sorry, but production restarts require an approved change request per the change policy; I have not restarted anything.")
    static let commerce = Agent(
        name: "ShopAssistant", service: "shop-agent", tools: ["search_products", "get_order", "refund_order", "check_inventory"], peer: "Returns",
        guardrail: "pii_filter", tasks: ["Where is my order A1001?", "Do you have trail shoes in size 44?", "Refund my last order"],
        policyDecline: "I'm sorry, but order A1001 was delivered 45 days ago, past our 30-day return window.")
    static let research = Agent(
        name: "ResearchAgent", service: "research-agent", tools: ["web_search", "fetch_page", "read_paper", "save_note"], peer: "Reviewer",
        guardrail: "source_policy", tasks: ["Survey recent work on sparse attention", "Compare three vector databases", "What causes coral bleaching?"],
        policyDecline: "I'm sorry, but that paper is behind a paywall and our access policy only allows open-access sources.")
    static let support = Agent(
        name: "SupportBot", service: "support-agent", tools: ["lookup_customer", "get_ticket", "search_kb", "escalate"], peer: "Tier2",
        guardrail: "account_takeover", tasks: ["I cannot log in to my account", "Reset my two-factor device", "Why was I charged twice?"],
        policyDecline: "I'm sorry, but I can only change the account email after identity verification, as our security policy requires.")
    // Held-out agents (not used while tuning).
    static let legal = Agent(
        name: "LegalAssistant", service: "legal-agent", tools: ["search_cases", "get_statute", "draft_clause", "check_conflicts"], peer: "Paralegal",
        guardrail: "privileged_info", tasks: ["Find precedent on non-compete enforceability", "Draft an indemnity clause", "Check conflicts for Acme"],
        policyDecline: "I'm sorry, but giving a definitive legal opinion is outside what the firm's rules allow me to do; a licensed attorney must review this.")
    static let hr = Agent(
        name: "HRHelper", service: "hr-agent", tools: ["get_employee", "list_policies", "submit_leave", "payroll_lookup"], peer: "PeopleOps",
        guardrail: "salary_privacy", tasks: ["How many vacation days do I have?", "Submit parental leave from June", "Explain the remote work policy"],
        policyDecline: "I'm sorry, but salary details of other employees are restricted by the privacy policy.")
    static let coding = Agent(
        name: "CodeFixer", service: "coding-agent", tools: ["read_file", "grep", "run_tests", "apply_patch"], peer: "Reviewer",
        guardrail: "secrets_scanner", tasks: ["Fix the failing date parser test", "Add pagination to the users endpoint", "Why does the build fail on Linux?"],
        policyDecline: "I'm sorry, but pushing to main is not permitted by the repository rules; I opened a pull request instead.")
    static let logistics = Agent(
        name: "FleetDispatcher", service: "logistics-agent", tools: ["track_shipment", "plan_route", "assign_driver", "notify_customer"], peer: "Dispatch",
        guardrail: "driver_hours", tasks: ["Where is shipment SH-9921?", "Plan tomorrow's routes for depot 4", "Reassign driver for route 12"],
        policyDecline: "I'm sorry, but that driver has reached the legal limit of driving hours for today, so I cannot assign the route.")

    /// Corpora used while building the detectors (wording variants 0–4).
    static let tuning: [PlantedCorpus] = [
        PlantedCorpus(agent: travel, modes: [.toolLimit("search_flights"), .contextOverflow, .handoffLoop], seed: 1, wordings: [0, 1, 2, 3, 4]),
        PlantedCorpus(agent: ops, modes: [.toolTimeout("query_metrics"), .rateLimit, .guardrail], seed: 2, wordings: [0, 1, 2, 3, 4]),
        PlantedCorpus(agent: commerce, modes: [.toolNotFound("get_order"), .invalidArguments, .refusal], seed: 3, wordings: [0, 1, 2, 3, 4]),
        PlantedCorpus(agent: research, modes: [.contextOverflow, .toolLimit("web_search"), .emptyAnswer], seed: 4, wordings: [0, 1, 2, 3, 4]),
        PlantedCorpus(agent: support, modes: [.loop, .unknownTool, .toolPermission("lookup_customer")], seed: 5, wordings: [0, 1, 2, 3, 4]),
        PlantedCorpus(agent: travel, modes: [.maxTurns, .toolNotFound("get_booking"), .rateLimit], seed: 6, wordings: [0, 1, 2]),
        PlantedCorpus(agent: commerce, modes: [.toolLimit("search_products"), .toolTimeout("check_inventory"), .handoffLoop], seed: 7, wordings: [1, 3]),
    ]

    /// Held-out corpora: other agents and wordings (variants 5+ where a mode has them), other seeds.
    static let heldOut: [PlantedCorpus] = [
        PlantedCorpus(agent: legal, modes: [.toolLimit("search_cases"), .maxTurns, .refusal], seed: 101, wordings: [5, 6, 7, 3]),
        PlantedCorpus(agent: hr, modes: [.toolTimeout("payroll_lookup"), .emptyAnswer, .handoffLoop], seed: 102, wordings: [4, 5]),
        PlantedCorpus(agent: coding, modes: [.invalidArguments, .toolNotFound("read_file"), .contextOverflow], seed: 103, wordings: [3, 5, 6]),
        PlantedCorpus(agent: logistics, modes: [.rateLimit, .guardrail, .loop], seed: 104, wordings: [2, 3]),
        PlantedCorpus(agent: ops, modes: [.toolPermission("run_runbook"), .toolLimit("query_metrics"), .unknownTool], seed: 105, wordings: [3, 5, 6, 7]),
        PlantedCorpus(agent: research, modes: [.guardrail, .toolTimeout("fetch_page"), .refusal], seed: 106, wordings: [2, 3, 4, 5]),
    ]

    /// Corpora drawn at random: any agent, three distinct modes (tool modes on distinct tools), any wordings.
    static func random(count: Int, seed: UInt64) -> [PlantedCorpus] {
        var rng = RNG(state: seed)
        let agents = [travel, ops, commerce, research, support, legal, hr, coding, logistics]
        return (0..<count).map { i in
            let agent = rng.pick(agents)
            var modes: [Mode] = []
            var usedTools = Set<String>()
            while modes.count < 3 {
                let tool = rng.pick(agent.tools)
                let all: [Mode] = [
                    .toolLimit(tool), .toolNotFound(tool), .toolTimeout(tool), .toolPermission(tool), .contextOverflow, .invalidArguments, .rateLimit,
                    .emptyAnswer, .handoffLoop, .guardrail, .refusal, .loop, .unknownTool, .maxTurns,
                ]
                let m = rng.pick(all)
                let isTool: Bool
                switch m {
                case .toolLimit, .toolNotFound, .toolTimeout, .toolPermission: isTool = true
                default: isTool = false
                }
                if modes.contains(m) || (isTool && usedTools.contains(tool)) { continue }
                if isTool { usedTools.insert(tool) }
                modes.append(m)
            }
            return PlantedCorpus(agent: agent, modes: modes, seed: seed &+ UInt64(i) &* 7919, wordings: Array(0..<8))
        }
    }
}
