import FlywheelSupport
import Foundation

// MARK: - Results JSON (Promptfoo v3)

/// A results file read back (v3, v2 or legacy).
public struct EvalResultsFile: Sendable {
    /// The eval id (`evalId`, or `id` in the legacy shape).
    public var evalId: String
    /// 3 for files we write; 2 or the legacy `version` otherwise.
    public var version: Int
    /// When the eval ran.
    public var timestamp: String?
    /// The rows, read leniently.
    public var rows: [EvalRow]
    /// `stats` as written.
    public var successes: Int
    /// `stats.failures`.
    public var failures: Int
    /// `stats.errors`.
    public var errors: Int
    /// The prompts (CompletedPrompt) as written.
    public var prompts: [JSONValue]
    /// The suite as recorded.
    public var config: JSONValue?
    /// The file's metadata.
    public var metadata: JSONValue?
}

/// A results file that cannot be read.
public struct EvalResultsError: Error, Sendable, CustomStringConvertible {
    public var key: String
    public var reason: String
    public var description: String { key.isEmpty ? reason : "\(key): \(reason)" }
}

/// Writes and reads Promptfoo's results JSON (§5).
public enum EvalResultsJSON {
    /// Options of a written file.
    public struct Options: Sendable {
        /// The eval id (derived from the suite, cycle and time when nil).
        public var evalId: String?
        /// When the evaluation was created.
        public var createdAt: Date
        /// When the file was written.
        public var exportedAt: Date
        /// Flywheel's version, in `metadata.flywheel.version`.
        var flywheelVersion: String
        /// The loop cycle, in `metadata.flywheel.cycle`.
        public var cycle: Int?
        public init(evalId: String? = nil, createdAt: Date, exportedAt: Date? = nil, flywheelVersion: String = "0.1.0", cycle: Int? = nil) {
            self.evalId = evalId
            self.createdAt = createdAt
            self.exportedAt = exportedAt ?? createdAt
            self.flywheelVersion = flywheelVersion
            self.cycle = cycle
        }
    }

    static func iso(_ d: Date, millis: Bool = true) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = millis ? "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'" : "yyyy-MM-dd'T'HH:mm:ss"
        return f.string(from: d)
    }

    /// `eval-<3 chars>-<YYYY-MM-DDTHH:MM:SS>`, the 3 characters derived from `seed` (deterministic).
    public static func evalId(createdAt: Date, seed: String) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        let d = SHA256.digest(Array(seed.utf8))
        let tag = String((0..<3).map { alphabet[Int(d[$0]) % alphabet.count] })
        return "eval-\(tag)-\(iso(createdAt, millis: false))"
    }

    static let secretKey = try! JSRegex("api[_-]?key|secret|token|password|authorization", flags: "i")

    static func redact(_ v: JSONValue) -> JSONValue {
        switch v {
        case .object(let o):
            var out = JSONObject()
            for (k, x) in o.pairs { out[k] = secretKey.test(k) && (x.stringValue != nil) ? .string("[REDACTED]") : redact(x) }
            return .object(out)
        case .array(let a): return .array(a.map(redact))
        default: return v
        }
    }

    static func tokenJSON(_ t: EvalTokenUsage?) -> JSONValue {
        let t = t ?? EvalTokenUsage()
        return .obj([("total", .int(Int64(t.total))), ("prompt", .int(Int64(t.prompt))), ("completion", .int(Int64(t.completion))),
                     ("cached", .int(Int64(t.cached))), ("numRequests", .int(Int64(t.numRequests)))])
    }

    static func rowJSON(_ r: EvalRow) -> JSONValue {
        var o = JSONObject()
        o["id"] = .string(r.id)
        o["promptIdx"] = .int(Int64(r.promptIdx))
        o["testIdx"] = .int(Int64(r.testIdx))
        o["promptId"] = .string(r.promptId)
        o["prompt"] = .obj([("raw", .string(r.promptRaw)), ("label", .string(r.promptLabel))])
        var p = JSONObject()
        p["id"] = .string(r.providerId)
        if let l = r.providerLabel { p["label"] = .string(l) }
        o["provider"] = .object(p)
        o["testCase"] = r.testCase
        o["vars"] = .object(r.vars)
        if let d = r.description { o["description"] = .string(d) }
        if let resp = r.response {
            var ro = JSONObject()
            ro["output"] = resp.output
            ro["tokenUsage"] = tokenJSON(resp.tokenUsage)
            if let c = resp.cost { ro["cost"] = .number(c) }
            if resp.cached { ro["cached"] = .bool(true) }
            if let l = resp.latencyMs { ro["latencyMs"] = .number(l) }
            if let f = resp.finishReason { ro["finishReason"] = .string(f) }
            if let lp = resp.logProbs { ro["logProbs"] = .array(lp.map(JSONValue.number)) }
            var md = resp.metadata ?? JSONObject()
            if let tid = resp.traceId { md["traceId"] = .string(tid) }
            if let tc = resp.toolCalls { md["toolCalls"] = .array(tc) }
            if !md.isEmpty { ro["metadata"] = .object(md) }
            if let e = resp.error { ro["error"] = .string(e) }
            o["response"] = .object(ro)
        }
        o["success"] = .bool(r.success)
        o["score"] = .number(r.score)
        o["latencyMs"] = .number(r.latencyMs)
        if let c = r.cost { o["cost"] = .number(c) }
        o["gradingResult"] = r.gradingResult?.json ?? .null
        o["namedScores"] = EvalGradingResult.scoresJSON(r.namedScores)
        o["failureReason"] = .int(Int64(r.failureReason))
        if let e = r.error { o["error"] = .string(e) }
        o["metadata"] = .object(r.metadata)
        return .object(o)
    }

    static func completedPrompt(_ run: EvalRunResult, column ci: Int) -> JSONValue {
        let (provider, prompt) = run.columns[ci]
        let rows = run.rows.filter { $0.promptIdx == ci }
        var named: [String: Double] = [:], namedCount: [String: Double] = [:]
        var assertPass = 0, assertFail = 0
        for r in rows {
            for (k, v) in r.namedScores { named[k, default: 0] += v; namedCount[k, default: 0] += 1 }
            for c in r.gradingResult?.componentResults ?? [] where !c.skipped { if c.pass { assertPass += 1 } else { assertFail += 1 } }
        }
        // Promptfoo's derivedMetrics: after the rows, each expression reads the column's summed named scores
        // (and the derived metrics before it); its value is stored as a named score.
        for d in run.derivedMetrics {
            named[d.name] = d.expression.evaluate(named)
            namedCount[d.name] = namedCount[d.name] ?? 0
        }
        let tokens = rows.reduce(EvalTokenUsage()) { $0 + ($1.response?.tokenUsage ?? EvalTokenUsage()) }
        var m = JSONObject()
        m["score"] = .number(rows.reduce(0) { $0 + $1.score })
        m["testPassCount"] = .int(Int64(rows.filter { $0.status == .passed }.count))
        m["testFailCount"] = .int(Int64(rows.filter { $0.status == .failed }.count))
        m["testErrorCount"] = .int(Int64(rows.filter { $0.status == .error || $0.status == .skipped }.count))
        m["assertPassCount"] = .int(Int64(assertPass))
        m["assertFailCount"] = .int(Int64(assertFail))
        m["totalLatencyMs"] = .number(rows.reduce(0) { $0 + $1.latencyMs })
        m["tokenUsage"] = tokenJSON(tokens)
        m["namedScores"] = EvalGradingResult.scoresJSON(named)
        m["namedScoresCount"] = EvalGradingResult.scoresJSON(namedCount)
        m["cost"] = .number(rows.reduce(0) { $0 + ($1.cost ?? 0) })
        var o = JSONObject()
        o["raw"] = .string(prompt.raw)
        o["label"] = .string(prompt.label)
        o["id"] = .string(prompt.promptId)
        o["provider"] = .string(provider.key)
        if let c = prompt.config { o["config"] = c }
        o["metrics"] = .object(m)
        return .object(o)
    }

    /// The results JSON text (2-space indent, keys in Promptfoo's order).
    public static func write(_ run: EvalRunResult, suite: EvalSuite?, options: Options) -> String {
        let id = options.evalId ?? evalId(createdAt: options.createdAt, seed: "\(suite?.file.path ?? "")|\(options.cycle ?? 0)|\(run.rows.count)")
        var results = JSONObject()
        results["version"] = .int(3)
        results["timestamp"] = .string(iso(options.createdAt))
        results["prompts"] = .array(run.columns.indices.map { completedPrompt(run, column: $0) })
        results["results"] = .array(run.rows.map(rowJSON))
        var stats = JSONObject()
        stats["successes"] = .int(Int64(run.summary.passed))
        stats["failures"] = .int(Int64(run.summary.failed))
        stats["errors"] = .int(Int64(run.summary.errors + run.summary.skipped))
        // Promptfoo's OutputFile: tokenUsage with completionDetails, and the graders' own usage under `assertions`.
        let details = JSONValue.obj([("reasoning", .int(0)), ("acceptedPrediction", .int(0)), ("rejectedPrediction", .int(0))])
        var usage = tokenJSON(run.summary.tokenUsage).objectValue ?? JSONObject()
        usage["completionDetails"] = details
        let graders = run.rows.reduce(EvalTokenUsage()) { $0 + ($1.gradingResult?.tokensUsed ?? EvalTokenUsage()) }
        var assertions = tokenJSON(graders).objectValue ?? JSONObject()
        assertions["completionDetails"] = details
        usage["assertions"] = .object(assertions)
        stats["tokenUsage"] = .object(usage)
        if let d = run.summary.durationMs { stats["durationMs"] = .number(d.rounded()) }
        results["stats"] = .object(stats)
        var fw = JSONObject()
        fw["version"] = .string(options.flywheelVersion)
        fw["cycle"] = options.cycle.map { .int(Int64($0)) } ?? .null
        fw["skipped"] = .int(Int64(run.summary.skipped))
        fw["passRate"] = .number(run.summary.passRate)
        var md = JSONObject()
        md["promptfooVersion"] = .string("0.121.3")
        md["exportedAt"] = .string(iso(options.exportedAt))
        md["evaluationCreatedAt"] = .string(iso(options.createdAt))
        // Required by Promptfoo's OutputFile type; Flywheel runs no Node, so the field says so.
        md["nodeVersion"] = .string("n/a (flywheel \(options.flywheelVersion))")
        md["platform"] = .string("linux")
        md["arch"] = .string("x64")
        md["flywheel"] = .object(fw)
        var root = JSONObject()
        root["evalId"] = .string(id)
        root["results"] = .object(results)
        root["config"] = suite.map { redact(.object($0.document)) } ?? .obj([])
        root["shareableUrl"] = .null
        root["metadata"] = .object(md)
        return JSONValue.object(root).prettyString(indent: 2) + "\n"
    }

    /// Reads a results file: v3, v2 (its `table` ignored), or the legacy `{version, createdAt, results:{…}, config, author}`.
    ///
    /// `lenient` is the site's mode for a history whose files are old or damaged: a file that is no JSON object still
    /// throws, but any list of rows under `results.results` or `results` is read, a row that is no object is skipped
    /// and a missing `success` reads as false.
    public static func read(_ text: String, lenient: Bool = false) throws -> EvalResultsFile {
        let root: JSONValue
        do { root = try lenient ? JSONValue.parse(text) : JSONValue.parseStrict(text) } catch {
            throw EvalResultsError(key: "", reason: "not JSON: \(error)")
        }
        guard let o = root.objectValue else { throw EvalResultsError(key: "", reason: "a results file must be a JSON object") }
        if lenient { return readLenient(o) }
        if o["outputs"] != nil || o["results"]?["outputs"] != nil || (o["providers"] != nil && o["results"]?.arrayValue != nil) {
            throw EvalResultsError(key: "results", reason: "this is the stale documentation shape (providers/outputs), not a Promptfoo results file")
        }
        // Promptfoo's legacy summary at the top level: `{version: 1, results: [rows], stats?, table}`.
        let isLegacyList = o["results"]?.arrayValue != nil && (o["table"] != nil || o["version"] != nil)
        guard let res = isLegacyList ? o : o["results"]?.objectValue else {
            throw EvalResultsError(key: "results", reason: o["results"]?.arrayValue != nil
                ? "\"results\" is a list but there is no \"version\" or \"table\" beside it (not a Promptfoo results file)"
                : "missing the \"results\" object")
        }
        guard let list = res["results"]?.arrayValue else { throw EvalResultsError(key: "results.results", reason: "missing the list of rows") }
        var rows: [EvalRow] = []
        for (i, r) in list.enumerated() {
            rows.append(try readRow(r, index: i))
        }
        return file(o, results: res, rows: rows)
    }

    /// The file around its rows: its header fields from `res` (the `results` object, or the file itself in the
    /// legacy shape) and the file's top level `o`, as far as they are there.
    static func file(_ o: JSONObject, results res: JSONObject, rows: [EvalRow]) -> EvalResultsFile {
        let version: Int
        let evalId: String
        if let v = res["version"]?.doubleValue {
            version = whole(v)
            evalId = o["evalId"]?.stringValue ?? o["id"]?.stringValue ?? ""
        } else {
            version = whole(o["version"]?.doubleValue ?? 1)
            evalId = o["id"]?.stringValue ?? o["evalId"]?.stringValue ?? ""
        }
        let stats = res["stats"]
        func n(_ k: String) -> Int { whole(stats?[k]?.doubleValue ?? 0) }
        return EvalResultsFile(evalId: evalId, version: version, timestamp: res["timestamp"]?.stringValue ?? o["createdAt"]?.stringValue,
                               rows: rows, successes: n("successes"), failures: n("failures"), errors: n("errors"),
                               prompts: res["prompts"]?.arrayValue ?? [], config: o["config"], metadata: o["metadata"])
    }

    /// A number from a results file as an Int, clamped (a huge, NaN or infinite value never traps).
    static func whole(_ d: Double) -> Int {
        guard d.isFinite else { return 0 }
        return d >= 9.0e18 ? Int.max : d <= -9.0e18 ? Int.min : Int(d)
    }

    /// The rows the lenient mode finds (see `read(_:lenient:)`).
    static func readLenient(_ o: JSONObject) -> EvalResultsFile {
        let res = o["results"]?.objectValue ?? o
        var rows: [EvalRow] = []
        for (i, r) in (res["results"]?.arrayValue ?? []).enumerated() {
            if let row = try? readRow(r, index: i, lenient: true) { rows.append(row) }
        }
        return file(o, results: res, rows: rows)
    }

    static func readRow(_ r: JSONValue, index i: Int, lenient: Bool = false) throws -> EvalRow {
        guard let o = r.objectValue else { throw EvalResultsError(key: "results.results[\(i)]", reason: "a row must be an object") }
        guard let success = o["success"]?.boolValue ?? (lenient ? false : nil) else {
            throw EvalResultsError(key: "results.results[\(i)].success", reason: "missing boolean \"success\"")
        }
        let failureReason = whole(o["failureReason"]?.doubleValue ?? (success ? 0 : 1))
        let md = o["metadata"]?.objectValue ?? JSONObject()
        let status: EvalRowStatus
        if success { status = .passed } else if failureReason == 2 {
            status = md["flywheel"]?["status"]?.stringValue == "skipped" ? .skipped : .error
        } else { status = .failed }
        var response: EvalOutput? = nil
        if let ro = o["response"]?.objectValue {
            var rmd = ro["metadata"]?.objectValue
            let traceId = rmd?["traceId"]?.stringValue
            let toolCalls = rmd?["toolCalls"]?.arrayValue
            rmd?["traceId"] = nil
            rmd?["toolCalls"] = nil
            response = EvalOutput(output: ro["output"] ?? .null, latencyMs: ro["latencyMs"]?.doubleValue, cost: ro["cost"]?.doubleValue,
                                  tokenUsage: ro["tokenUsage"].map { EvalTokenUsage(json: $0) }, finishReason: ro["finishReason"]?.stringValue,
                                  toolCalls: toolCalls, logProbs: ro["logProbs"]?.arrayValue?.compactMap(\.doubleValue), traceId: traceId,
                                  metadata: (rmd?.isEmpty ?? true) ? nil : rmd, error: ro["error"]?.stringValue, cached: ro["cached"]?.boolValue ?? false)
        }
        var named: [String: Double] = [:]
        for (k, v) in o["namedScores"]?.objectValue?.pairs ?? [] { named[k] = v.doubleValue ?? 0 }
        let gr = o["gradingResult"].flatMap { $0.isNull ? nil : EvalGradingResult(json: $0) }
        let testCase = o["testCase"] ?? .obj([])
        let testId = md["flywheelTestId"]?.stringValue ?? testCase["metadata"]?["id"]?.stringValue ?? EvalTestCase.contentHash(testCase)
        return EvalRow(id: o["id"]?.stringValue ?? "", testIdx: whole(o["testIdx"]?.doubleValue ?? Double(i)), promptIdx: whole(o["promptIdx"]?.doubleValue ?? 0),
                       repeatIndex: 0, promptId: o["promptId"]?.stringValue ?? "", promptRaw: o["prompt"]?["raw"]?.stringValue ?? "",
                       promptLabel: o["prompt"]?["label"]?.stringValue ?? o["prompt"]?["display"]?.stringValue ?? "", providerId: o["provider"]?["id"]?.stringValue ?? o["provider"]?.stringValue ?? "",
                       providerLabel: o["provider"]?["label"]?.stringValue, testCase: testCase, vars: o["vars"]?.objectValue ?? JSONObject(),
                       description: o["description"]?.stringValue ?? testCase["description"]?.stringValue, response: response, success: success,
                       score: o["score"]?.doubleValue ?? (success ? 1 : 0), latencyMs: o["latencyMs"]?.doubleValue ?? 0, cost: o["cost"]?.doubleValue,
                       gradingResult: gr, namedScores: named, failureReason: failureReason, error: o["error"]?.stringValue, metadata: md,
                       status: status, testId: testId)
    }
}

// MARK: - JUnit XML

/// JUnit XML in Flywheel's form (§6): one suite per column, failures apart from errors, skips marked.
public enum EvalJUnit {
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for u in s.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default:
                let v = u.value
                let allowed = v == 0x9 || v == 0xA || v == 0xD || (v >= 0x20 && v <= 0xD7FF) || (v >= 0xE000 && v <= 0xFFFD) || (v >= 0x10000 && v <= 0x10FFFF)
                if allowed { out.unicodeScalars.append(u) }
            }
        }
        return out
    }

    static func seconds(_ ms: Double) -> String { String(format: "%.3f", ms / 1000) }

    static func caseName(_ r: EvalRow) -> String {
        var label = r.description ?? ""
        if label.isEmpty {
            label = r.vars.pairs.map { "\($0.key)=\($0.value.stringValue ?? $0.value.jsonString)" }.joined(separator: ", ")
            if label.count > 200 { label = String(label.prefix(200)) }
        }
        var name = "[\(r.testIdx)] " + label
        if r.repeatIndex > 0 { name += "#\(r.repeatIndex)" }
        return name
    }

    /// The JUnit XML text of a run.
    public static func write(_ run: EvalRunResult, name: String) -> String {
        var suites: [String] = []
        var totals = (tests: 0, failures: 0, errors: 0, skipped: 0, time: 0.0)
        for (ci, col) in run.columns.enumerated() {
            let suiteName = "\(col.provider.key) :: \(col.prompt.label)"
            let rows = run.rows.filter { $0.promptIdx == ci }.sorted { $0.testIdx < $1.testIdx }
            var cases = ""
            var f = 0, e = 0, s = 0, t = 0.0
            for r in rows {
                t += r.latencyMs
                cases += "    <testcase classname=\"\(escape(suiteName))\" name=\"\(escape(caseName(r)))\" time=\"\(seconds(r.latencyMs))\">\n"
                switch r.status {
                case .passed: break
                case .failed:
                    f += 1
                    if r.error == "No output" {
                        cases += "      <failure type=\"no-output\" message=\"No output\"></failure>\n"
                    } else {
                        let lines = (r.gradingResult?.componentResults ?? []).filter { !$0.pass && !$0.skipped }
                            .map { "FAIL \($0.assertion?.type ?? "assertion"): \($0.reason)" }
                        let body = lines.isEmpty ? (r.error ?? "") : lines.joined(separator: "\n")
                        cases += "      <failure type=\"assertion\" message=\"\(escape(r.error ?? ""))\">\(escape(body))</failure>\n"
                    }
                case .error:
                    e += 1
                    cases += "      <error type=\"error\" message=\"\(escape(r.error ?? ""))\">\(escape(r.error ?? ""))</error>\n"
                case .skipped:
                    // The gate counts a skipped row as an error (it could not be graded), so JUnit does too.
                    e += 1
                    s += 1
                    let why = r.error ?? "Skipped"
                    cases += "      <error type=\"skipped\" message=\"\(escape(why))\">\(escape(why))</error>\n"
                }
                if r.status != .passed, let out = r.response?.outputString {
                    var bytes = Array(out.utf8)
                    if bytes.count > 4096 {
                        bytes = Array(bytes.prefix(4096))
                        while let last = bytes.last, last & 0xC0 == 0x80 { bytes.removeLast() }
                        if let last = bytes.last, last >= 0xC0 { bytes.removeLast() }
                    }
                    cases += "      <system-out>\(escape(String(decoding: bytes, as: UTF8.self)))</system-out>\n"
                }
                cases += "    </testcase>\n"
            }
            suites.append("  <testsuite name=\"\(escape(suiteName))\" tests=\"\(rows.count)\" failures=\"\(f)\" errors=\"\(e)\" time=\"\(seconds(t))\">\n\(cases)  </testsuite>\n")
            totals.tests += rows.count; totals.failures += f; totals.errors += e; totals.skipped += s; totals.time += t
        }
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            + "<testsuites name=\"\(escape(name))\" tests=\"\(totals.tests)\" failures=\"\(totals.failures)\" errors=\"\(totals.errors)\" time=\"\(seconds(totals.time))\">\n"
            + suites.joined() + "</testsuites>\n"
    }
}

// MARK: - Summary table

/// A plain-text table of a run for terminals and logs.
public enum EvalSummaryTable {
    /// One line per row (status, test, score, first reason), then the totals.
    public static func render(_ run: EvalRunResult, width: Int = 100) -> String {
        func clip(_ s: String, _ n: Int) -> String {
            let one = s.replacingOccurrences(of: "\n", with: " ")
            return one.count <= n ? one.padding(toLength: n, withPad: " ", startingAt: 0) : String(one.prefix(n - 1)) + "…"
        }
        let testW = 36, reasonW = max(20, width - testW - 8 - 8 - 3)
        var out = clip("STATUS", 8) + clip("TEST", testW) + " " + clip("SCORE", 7) + " " + "REASON\n"
        for r in run.rows {
            let status: String
            switch r.status {
            case .passed: status = "PASS"
            case .failed: status = "FAIL"
            case .error: status = "ERROR"
            case .skipped: status = "SKIP"
            }
            let reason = r.status == .passed ? "" : (r.error ?? "")
            out += clip(status, 8) + clip(EvalJUnit.caseName(r), testW) + " " + clip(JSNumber.toFixed(r.score, 2), 7) + " " + clip(reason, reasonW).trimmingCharacters(in: .whitespaces) + "\n"
        }
        let s = run.summary
        out += "\n\(s.total) rows: \(s.passed) passed, \(s.failed) failed, \(s.errors) errors, \(s.skipped) skipped. "
        out += "Pass rate \(JSNumber.toFixed(s.passRate, 2))% (passed / (passed + failed + errors + skipped)).\n"
        return out
    }
}

// MARK: - Gate

/// The CI decision (§6).
public struct EvalGateDecision: Sendable, Equatable {
    /// 0 when the pass rate reaches the threshold, else the failed-test exit code (default 100).
    public var exitCode: Int32
    /// The CLI pass rate, percent.
    public var passRate: Double
    /// Threshold in percent.
    public var threshold: Double
    /// A one-line explanation for logs.
    public var message: String
}

/// The CI gate: pass rate against a threshold gives the exit code.
public enum EvalGate {
    /// Decides the exit code. Threshold: `loopThreshold` (percent) if given, else the suite's `env:`, else the process
    /// environment `PROMPTFOO_PASS_RATE_THRESHOLD`, else 100. The failure code comes from `PROMPTFOO_FAILED_TEST_EXIT_CODE`
    /// the same way (default 100).
    public static func decide(_ summary: EvalSummary, suiteEnv: [String: String] = [:], environment: [String: String] = [:],
                              loopThreshold: Double? = nil) -> EvalGateDecision {
        func value(_ k: String) -> String? { suiteEnv[k] ?? environment[k] }
        let threshold = loopThreshold ?? value("PROMPTFOO_PASS_RATE_THRESHOLD").flatMap { Double(JSText.trim($0)) } ?? 100
        let failCode = value("PROMPTFOO_FAILED_TEST_EXIT_CODE").flatMap { Int32(JSText.trim($0)) } ?? 100
        let rate = summary.passRate
        let ok = rate >= threshold
        let msg = "Pass rate \(JSNumber.toFixed(rate, 2))% \(ok ? "≥" : "<") threshold \(JSNumber.string(threshold))% "
            + "(\(summary.passed) passed, \(summary.failed) failed, \(summary.errors) errors, \(summary.skipped) skipped)"
        return EvalGateDecision(exitCode: ok ? 0 : failCode, passRate: rate, threshold: threshold, message: msg)
    }

    /// The exit code for a configuration or input error (a bad suite, unreadable outputs): 1.
    public static let inputErrorExitCode: Int32 = 1
}
