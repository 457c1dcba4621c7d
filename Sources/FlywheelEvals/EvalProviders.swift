import FlywheelSupport
import Foundation
import FlywheelModels

/// Calls a suite's providers for rows without a recorded output: `openai:…` (any OpenAI-compatible server, through
/// the model client), `http` (Promptfoo's HTTP provider, see EvalHTTPProvider.swift), `exec:COMMAND` (the candidate
/// agent as a command), `file://provider.py[:fn]` (Promptfoo's `call_api` contract) and `echo`. Every call obeys the script policy: with scripts off no provider is called (a
/// suite from the history must not send your keys to a server it names, nor run a command, by surprise).
///
/// Thread-safe; results are cached per (provider id, provider config, rendered prompt, vars) for the run, and for
/// `openai:`/`http` providers also on disk when `diskCache` is set.
public final class EvalProviderCaller: @unchecked Sendable {
    /// The policy calls obey (environment, working folder, time limit, whether anything runs).
    public let policy: EvalScriptPolicy
    /// Where `openai:` providers read keys and base URLs (the process environment plus the suite's `env:`).
    public let environment: [String: String]
    /// Retries of a failed HTTP call (the model client's policy).
    public var maxRetries: Int
    /// Seconds per model call.
    public var timeout: Double

    /// A folder for responses kept between runs (`.cache/flywheel/evals` under the working folder; nil: none). Only
    /// successful responses are stored, one JSON file per key; a hit is reported as cached (no latency).
    public var diskCache: URL?

    private let lock = NSLock()
    private var cache: [String: EvalOutput] = [:]
    private var inFlight: [String: DispatchGroup] = [:]
    private var models: [String: OpenAICompatibleModel] = [:]

    public init(policy: EvalScriptPolicy, environment: [String: String] = ProcessInfo.processInfo.environment,
                maxRetries: Int = 3, timeout: Double = 120) {
        self.policy = policy
        self.environment = environment
        self.maxRetries = maxRetries
        self.timeout = timeout
    }

    /// The provider kinds this caller runs.
    static func isCallable(_ id: String) -> Bool {
        id == "echo" || id.hasPrefix("openai:") || isAnthropic(id) || id.hasPrefix("exec:") || (id.hasPrefix("file://") && id.contains(".py"))
            || id.hasPrefix("python:") || isHTTP(id)
    }

    /// What the cache is keyed by.
    static func cacheKey(_ provider: EvalProvider, prompt: String, vars: JSONObject, promptConfig: JSONValue? = nil) -> String {
        let parts = [provider.id, provider.config?.jsonString ?? "null", prompt, JSONValue.object(vars).jsonString]
            + (promptConfig.map { [$0.jsonString] } ?? [])
        return SHA256.hex(parts.joined(separator: "\u{0}"))
    }

    /// Calls `provider` with the rendered prompt. Errors become `EvalOutput.error` (an ERROR row); a provider that
    /// may not run under the policy returns nil with the reason in `skipReason`.
    public func call(_ provider: EvalProvider, prompt: String, promptLabel: String, vars: JSONObject, suiteEnv: [String: String],
                     promptConfig: JSONValue? = nil, useCache: Bool = true) -> Result<EvalOutput, Skip> {
        if provider.id == "echo" { return .success(EvalOutput(output: .string(prompt), latencyMs: 0)) }
        guard policy.allowScripts else { return .failure(Skip(reason: "provider \(provider.id) was not called: \(policy.disabledReason)")) }
        let key = Self.cacheKey(provider, prompt: prompt, vars: vars, promptConfig: promptConfig)
        var mine: DispatchGroup? = nil
        defer {
            if let mine {
                lock.lock()
                if inFlight[key] === mine { inFlight[key] = nil }
                lock.unlock()
                mine.leave()
            }
        }
        if useCache {
            // The same call already under way on another thread (concurrent rows with equal prompts): wait for it.
            lock.lock()
            var hit = cache[key]
            while hit == nil, let busy = inFlight[key] {
                lock.unlock()
                busy.wait()
                lock.lock()
                hit = cache[key]
                if hit == nil, inFlight[key] === busy { break }
            }
            if hit == nil, inFlight[key] == nil { let g = DispatchGroup(); g.enter(); inFlight[key] = g; mine = g }
            lock.unlock()
            if var hit { hit.cached = true; return .success(hit) }
            if Self.diskCacheable(provider.id), let hit = readDisk(key) {
                lock.lock()
                cache[key] = hit
                lock.unlock()
                return .success(hit)
            }
        }
        let out: EvalOutput
        if provider.id.hasPrefix("openai:") {
            out = callOpenAI(provider, prompt: prompt, promptConfig: promptConfig, suiteEnv: suiteEnv)
        } else if Self.isAnthropic(provider.id) {
            out = callAnthropic(provider, prompt: prompt, promptConfig: promptConfig, suiteEnv: suiteEnv)
        } else if Self.isHTTP(provider.id) {
            out = callHTTP(provider, prompt: prompt, vars: vars, suiteEnv: suiteEnv)
        } else if provider.id.hasPrefix("exec:") {
            out = callExec(provider, prompt: prompt, promptLabel: promptLabel, vars: vars)
        } else if provider.id.hasPrefix("file://") || provider.id.hasPrefix("python:") {
            out = callPython(provider, prompt: prompt, promptLabel: promptLabel, vars: vars)
        } else {
            return .success(EvalOutput(output: .null, error: "provider \(provider.id) is not supported by Flywheel (openai:…, anthropic:…, http, exec:…, file://provider.py, echo)"))
        }
        if useCache, out.error == nil {
            lock.lock()
            cache[key] = out
            lock.unlock()
            if Self.diskCacheable(provider.id) { writeDisk(key, out) }
        }
        return .success(out)
    }

    /// Only remote model/API providers are kept on disk: `exec:` and Python providers run the candidate agent, whose
    /// code changes between cycles, so a stored answer would hide the change.
    static func diskCacheable(_ id: String) -> Bool { id.hasPrefix("openai:") || isAnthropic(id) || isHTTP(id) }

    /// The default on-disk cache folder under `folder`.
    public static func defaultDiskCache(in folder: URL) -> URL {
        folder.appendingPathComponent(".cache/flywheel/evals", isDirectory: true)
    }

    func diskURL(_ key: String) -> URL? {
        diskCache?.appendingPathComponent(String(key.prefix(2)), isDirectory: true).appendingPathComponent(key + ".json")
    }

    func readDisk(_ key: String) -> EvalOutput? {
        guard let url = diskURL(key), let data = try? Data(contentsOf: url),
              let o = JSONValue.parseStrictOrNil(String(decoding: data, as: UTF8.self))?.objectValue, o["version"]?.doubleValue == 1,
              let output = o["output"] else { return nil }
        return EvalOutput(output: output, cost: o["cost"]?.doubleValue, tokenUsage: o["tokenUsage"].map { EvalTokenUsage(json: $0) },
                          finishReason: o["finishReason"]?.stringValue, metadata: o["metadata"]?.objectValue, cached: true)
    }

    func writeDisk(_ key: String, _ out: EvalOutput) {
        guard let url = diskURL(key) else { return }
        var o = JSONObject()
        o["version"] = .int(1)
        o["output"] = out.output
        if let t = out.tokenUsage { o["tokenUsage"] = t.json }
        if let c = out.cost { o["cost"] = .number(c) }
        if let f = out.finishReason { o["finishReason"] = .string(f) }
        if let m = out.metadata { o["metadata"] = .object(m) }
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try? Data(JSONValue.object(o).jsonString.utf8).write(to: url, options: .atomic)
    }

    /// Why a provider was not called.
    public struct Skip: Error, Sendable { public let reason: String }

    // MARK: exec

    /// Splits a command line into words (single and double quotes, backslash escapes).
    static func words(_ s: String) -> [String] {
        var out: [String] = [], cur = "", quote: Character? = nil, escape = false, any = false
        for ch in s {
            if escape { cur.append(ch); escape = false; continue }
            if ch == "\\" && quote != "'" { escape = true; any = true; continue }
            if let q = quote { if ch == q { quote = nil } else { cur.append(ch) }; continue }
            if ch == "'" || ch == "\"" { quote = ch; any = true; continue }
            if ch == " " || ch == "\t" || ch == "\n" {
                if any || !cur.isEmpty { out.append(cur); cur = ""; any = false }
                continue
            }
            cur.append(ch)
        }
        if any || !cur.isEmpty { out.append(cur) }
        return out
    }

    /// The absolute path of `command`: as given when it has a slash (relative to the working folder), else from PATH.
    func executable(_ command: String) -> String? {
        if command.contains("/") {
            let url = command.hasPrefix("/") ? URL(fileURLWithPath: command)
                : (policy.workingDirectory ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).appendingPathComponent(command)
            return FileManager.default.isExecutableFile(atPath: url.path) ? url.standardizedFileURL.path : nil
        }
        return SubprocessScriptRunner.which(command, policy.environment())
    }

    /// Promptfoo's `exec:` provider: the command's words, then the prompt, the options JSON and the context JSON as
    /// arguments; the trimmed stdout is the output; a non-zero exit with empty stdout is an error.
    func callExec(_ provider: EvalProvider, prompt: String, promptLabel: String, vars: JSONObject) -> EvalOutput {
        var w = Self.words(String(provider.id.dropFirst("exec:".count)))
        guard !w.isEmpty else { return EvalOutput(output: .null, error: "exec: needs a command") }
        let cmd = w.removeFirst()
        guard let exe = executable(cmd) else { return EvalOutput(output: .null, error: "exec: command not found: \(cmd)") }
        let options = JSONValue.obj([("id", .string(provider.id)), ("config", provider.config ?? .obj([]))])
        let context = JSONValue.obj([("vars", .object(vars)), ("prompt", .obj([("raw", .string(prompt)), ("label", .string(promptLabel))]))])
        let started = Date()
        let timeout = provider.config?["timeout"]?.doubleValue.map { $0 / 1000 } ?? policy.timeout
        let r = SandboxedProcess.run(exe, w + [prompt, options.jsonString, context.jsonString], stdin: Data(), policy: policy, timeout: timeout)
        let ms = Date().timeIntervalSince(started) * 1000
        if let e = r.launchError { return EvalOutput(output: .null, latencyMs: ms, error: e) }
        if r.timedOut { return EvalOutput(output: .null, latencyMs: ms, error: "exec: \(cmd) timed out after \(JSNumber.string(timeout)) s (killed)") }
        let out = String(decoding: r.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if r.status != 0 && out.isEmpty {
            let err = String(decoding: r.stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            return EvalOutput(output: .null, latencyMs: ms, error: "exec: \(cmd) exited with \(r.status): \(String(err.suffix(2000)))")
        }
        return EvalOutput(output: .string(out), latencyMs: ms)
    }

    // MARK: python

    static let pythonHarness = #"""
    import asyncio, importlib.util, inspect, json, os, sys, traceback
    req = json.loads(sys.stdin.read())
    def emit(obj):
        sys.stdout.write("\n__FLYWHEEL_RESULT__" + json.dumps(obj) + "\n")
    try:
        sys.path.insert(0, os.path.dirname(req["file"]))
        spec = importlib.util.spec_from_file_location("flywheel_provider", req["file"])
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        fn = getattr(mod, req["function"], None)
        if fn is None:
            raise Exception("%s has no function %s" % (req["file"], req["function"]))
        r = fn(req["prompt"], req["options"], req["context"])
        if inspect.isawaitable(r):
            r = asyncio.run(r)
        emit({"ok": True, "value": r})
    except Exception as e:
        emit({"ok": False, "error": str(e), "stack": traceback.format_exc()})
    """#

    /// Promptfoo's Python provider: `call_api(prompt, options, context)` (or the named function) returning
    /// `{output, error?, tokenUsage?, cost?, metadata?}`.
    func callPython(_ provider: EvalProvider, prompt: String, promptLabel: String, vars: JSONObject) -> EvalOutput {
        let ref = provider.resolvedFile ?? (provider.id.hasPrefix("python:") ? "file://" + provider.id.dropFirst("python:".count) : provider.id)
        let (path, fn) = EvalScriptRequest.fileReference(String(ref))
        guard let python = SubprocessScriptRunner.which("python3", policy.environment()) else {
            return EvalOutput(output: .null, error: "no python3 on PATH for \(provider.id)")
        }
        let options = JSONValue.obj([("id", .string(provider.id)), ("config", provider.config ?? .obj([]))])
        let context = JSONValue.obj([("vars", .object(vars)), ("prompt", .obj([("raw", .string(prompt)), ("label", .string(promptLabel))]))])
        let payload = JSONValue.obj([("file", .string(path)), ("function", .string(fn ?? "call_api")), ("prompt", .string(prompt)),
                                    ("options", options), ("context", context)])
        let started = Date()
        let r = SandboxedProcess.run(python, ["-c", Self.pythonHarness], stdin: Data(payload.jsonString.utf8), policy: policy)
        let ms = Date().timeIntervalSince(started) * 1000
        if let e = r.launchError { return EvalOutput(output: .null, latencyMs: ms, error: e) }
        if r.timedOut { return EvalOutput(output: .null, latencyMs: ms, error: "\(provider.id) timed out (killed)") }
        let text = String(decoding: r.stdout, as: UTF8.self)
        guard let range = text.range(of: "__FLYWHEEL_RESULT__", options: .backwards),
              let reply = JSONValue.parseStrictOrNil(String(text[range.upperBound...]).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            let err = String(decoding: r.stderr, as: UTF8.self)
            return EvalOutput(output: .null, latencyMs: ms, error: "\(provider.id) produced no result (exit \(r.status)): \(String(err.suffix(2000)))")
        }
        guard reply["ok"]?.boolValue == true else {
            return EvalOutput(output: .null, latencyMs: ms, error: "Error in \(provider.id): \(reply["error"]?.stringValue ?? "unknown error")")
        }
        let v = reply["value"] ?? .null
        guard let o = v.objectValue else { return EvalOutput(output: .null, latencyMs: ms, error: "\(provider.id) must return a dict with \"output\", not \(v.jsonString)") }
        if let e = o["error"], !e.isNull { return EvalOutput(output: .null, latencyMs: ms, error: e.stringValue ?? e.jsonString) }
        var usage: EvalTokenUsage? = nil
        if let t = o["tokenUsage"]?.objectValue {
            let p = Int(t["prompt"]?.doubleValue ?? 0), c = Int(t["completion"]?.doubleValue ?? 0)
            usage = EvalTokenUsage(total: Int(t["total"]?.doubleValue ?? Double(p + c)), prompt: p, completion: c, numRequests: 1)
        }
        return EvalOutput(output: o["output"] ?? .null, latencyMs: ms, cost: o["cost"]?.doubleValue, tokenUsage: usage,
                          metadata: o["metadata"]?.objectValue)
    }

    // MARK: embeddings

    /// The default embedding model of `similar` (Promptfoo's).
    static let defaultEmbeddingProvider = "openai:embedding:text-embedding-3-large"

    private var embeddingCache: [String: [Double]] = [:]

    /// Embeds `texts` with `provider` (an id or `{id, config}`; nil: the default OpenAI embedding model). With scripts
    /// off, the suite's `apiBaseUrl`/`apiKey`/`apiKeyEnvar` are ignored: the key only goes to the environment's server.
    public func embed(provider: JSONValue?, texts: [String]) throws -> [[Double]] {
        let id = provider?.stringValue ?? provider?["id"]?.stringValue ?? Self.defaultEmbeddingProvider
        guard id.hasPrefix("openai:") else { throw EvalAssertionError("similar: embedding provider \(id) is not supported (openai:embedding:MODEL)") }
        var name = String(id.dropFirst("openai:".count))
        for p in ["embedding:", "embeddings:"] where name.hasPrefix(p) { name = String(name.dropFirst(p.count)) }
        let cfg = policy.allowScripts ? (provider?["config"]?.objectValue ?? JSONObject()) : JSONObject()
        let base = cfg["apiBaseUrl"]?.stringValue ?? cfg["apiHost"]?.stringValue.map { "https://\($0)/v1" }
            ?? environment["OPENAI_BASE_URL"] ?? environment["OPENAI_API_BASE_URL"]
        let key = cfg["apiKey"]?.stringValue ?? environment[cfg["apiKeyEnvar"]?.stringValue ?? "OPENAI_API_KEY"]
        let model = OpenAICompatibleModel(model: name, baseURL: base, apiKey: key, timeout: timeout, maxRetries: maxRetries, environment: environment)
        let prefix = "\(name)|\(base ?? "")|"
        lock.lock()
        let missing = Array(Set(texts.filter { embeddingCache[prefix + $0] == nil })).sorted()
        lock.unlock()
        if !missing.isEmpty {
            let vectors: [[Double]]
            do { vectors = try model.embed(missing) } catch { throw EvalAssertionError("similar: embedding API error from \(id): \(error)") }
            lock.lock()
            for (t, v) in zip(missing, vectors) { embeddingCache[prefix + t] = v }
            lock.unlock()
        }
        lock.lock()
        defer { lock.unlock() }
        return texts.map { embeddingCache[prefix + $0] ?? [] }
    }
}
