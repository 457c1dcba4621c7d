import FlywheelSupport
import Foundation

/// One call of a `javascript` / `python` assertion (or a JS transform) in a script runtime.
public struct EvalScriptRequest: Sendable {
    /// The runtime.
    public enum Language: String, Sendable { case javascript, python }
    /// Which runtime runs the body.
    public var language: Language
    /// The function body as Flywheel built it (§2.5).
    public var body: String
    /// The output, as is (string or JSON).
    public var output: JSONValue
    /// `{prompt, vars, test, logProbs, config, provider:{id,label}, providerResponse, trace?}`.
    public var context: JSONValue
    /// A script file to load instead of `body` (absolute path): its function is called as `fn(output, context)`.
    public var file: String?
    /// The function of `file` (nil: the module's export for JavaScript, `get_assert` for Python).
    public var function: String?

    public init(language: Language, body: String, output: JSONValue, context: JSONValue, file: String? = nil, function: String? = nil) {
        self.language = language
        self.body = body
        self.output = output
        self.context = context
        self.file = file
        self.function = function
    }

    /// Splits `file://path[:function]` into the path and the function name (a Windows drive letter is not a function).
    static func fileReference(_ ref: String) -> (path: String, function: String?) {
        var rest = ref.hasPrefix("file://") ? String(ref.dropFirst(7)) : ref
        if let colon = rest.lastIndex(of: ":"), !rest[rest.index(after: colon)...].contains("/") {
            let fn = String(rest[rest.index(after: colon)...])
            rest = String(rest[..<colon])
            return (rest, fn.isEmpty ? nil : fn)
        }
        return (rest, nil)
    }
}

/// What the script returned.
public enum EvalScriptResult: Sendable {
    /// The return value, JSON-encoded by the harness.
    case value(JSONValue)
    /// The script threw.
    case failure(message: String, stack: String)
    /// No runtime (binary missing, scripts disabled): the assertion is skipped.
    case unavailable(String)
    /// The script ran out of time (an ERROR row).
    case timedOut
}

/// Runs assertion scripts. The default runs `node` / `python3` subprocesses; tests inject stubs.
public protocol EvalScriptRunner: Sendable {
    func run(_ request: EvalScriptRequest) -> EvalScriptResult
}

/// Runs scripts in `node` / `python3` found on PATH, one process per call, under an `EvalScriptPolicy`: a scrubbed
/// environment, the policy's working folder, and a time limit that kills the script's whole process tree.
public struct SubprocessScriptRunner: EvalScriptRunner {
    /// Seconds before a script is killed (an ERROR row).
    public var timeout: TimeInterval { policy.timeout }
    /// The environment, working folder and time limit scripts run under.
    public var policy: EvalScriptPolicy
    /// The `node` found on PATH (nil: javascript is skipped).
    public var nodePath: String?
    /// The `python3` found on PATH (nil: python is skipped).
    public var pythonPath: String?

    public init(timeout: TimeInterval = 30, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.init(policy: EvalScriptPolicy(timeout: timeout), environment: environment)
    }

    public init(policy: EvalScriptPolicy, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.policy = policy
        self.nodePath = SubprocessScriptRunner.which("node", environment)
        self.pythonPath = SubprocessScriptRunner.which("python3", environment)
    }

    /// The runner a policy asks for: scripts on, or a runner that skips every script with the policy's reason.
    public static func forPolicy(_ policy: EvalScriptPolicy) -> any EvalScriptRunner {
        policy.allowScripts ? SubprocessScriptRunner(policy: policy) : DisabledScriptRunner(reason: policy.disabledReason)
    }

    static func which(_ name: String, _ env: [String: String]) -> String? {
        for dir in (env["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let p = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    static let nodeHarness = #"""
    let input = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (c) => { input += c; });
    process.stdin.on('end', async () => {
      try {
        const req = JSON.parse(input);
        let fn;
        if (req.file) {
          let m = req.file.endsWith('.mjs') ? await import(require('url').pathToFileURL(req.file).href) : require(req.file);
          fn = req.function ? m[req.function] : (typeof m === 'function' ? m : m.default);
          if (fn && typeof fn !== 'function' && typeof fn.default === 'function') fn = fn.default;
          if (typeof fn !== 'function') throw new Error(`${req.file} does not export a function${req.function ? ' ' + req.function : ''}`);
        } else {
          fn = new Function('output', 'context', 'process', req.body);
        }
        const v = await fn(req.output, req.context, process);
        const kind = v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
        process.stdout.write(JSON.stringify({ ok: true, kind, value: v === undefined ? null : v }));
      } catch (e) {
        process.stdout.write(JSON.stringify({ ok: false, error: String(e && e.message || e), stack: String(e && e.stack || '') }));
      }
    });
    """#

    static let pythonHarness = #"""
    import json, sys, traceback
    req = json.loads(sys.stdin.read())
    try:
        if req.get("file"):
            import importlib.util, os
            sys.path.insert(0, os.path.dirname(req["file"]))
            spec = importlib.util.spec_from_file_location("flywheel_suite_module", req["file"])
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            name = req.get("function") or "get_assert"
            if not hasattr(mod, name):
                raise Exception(f"{req['file']} has no function {name}")
            v = getattr(mod, name)(req["output"], req["context"])
        else:
            ns = {}
            exec(req["body"], ns)
            v = ns["main"](req["output"], req["context"])
        print(json.dumps({"ok": True, "kind": type(v).__name__, "value": v}))
    except Exception as e:
        print(json.dumps({"ok": False, "error": str(e), "stack": traceback.format_exc()}))
    """#

    /// Runs one script in a new process.
    public func run(_ request: EvalScriptRequest) -> EvalScriptResult {
        guard policy.allowScripts else { return .unavailable(policy.disabledReason) }
        let exe: String?
        let args: [String]
        switch request.language {
        case .javascript: exe = nodePath; args = ["-e", SubprocessScriptRunner.nodeHarness]
        case .python: exe = pythonPath; args = ["-c", SubprocessScriptRunner.pythonHarness]
        }
        guard let exe else { return .unavailable("no \(request.language == .javascript ? "node" : "python3") on PATH") }
        var fields: [(String, JSONValue)] = [("body", .string(request.body)), ("output", request.output), ("context", request.context)]
        if let f = request.file { fields.append(("file", .string(f))) }
        if let f = request.function { fields.append(("function", .string(f))) }
        let payload = JSONValue.obj(fields).jsonString
        let r = SandboxedProcess.run(exe, args, stdin: Data(payload.utf8), policy: policy)
        if let why = r.launchError { return .unavailable(why) }
        if r.timedOut { return .timedOut }
        let text = String(decoding: r.stdout, as: UTF8.self)
        guard let line = text.split(separator: "\n").last, let reply = JSONValue.parseStrictOrNil(String(line)) else {
            return .failure(message: "script produced no result (exit \(r.status))", stack: "")
        }
        if reply["ok"]?.boolValue == true { return .value(reply["value"] ?? .null) }
        return .failure(message: reply["error"]?.stringValue ?? "unknown error", stack: reply["stack"]?.stringValue ?? "")
    }
}

/// Builds script bodies as Promptfoo does (§2.5).
public enum EvalScriptBody {
    /// The JS function body: a single line becomes `return <v>`; a single line of `const/let/var`
    /// statements gets `return` before its last statement; several lines are used as written.
    public static func javascript(_ code: String) -> String {
        let trimmed = JSText.trim(code)
        if trimmed.contains("\n") { return code }
        if trimmed.hasPrefix("const ") || trimmed.hasPrefix("let ") || trimmed.hasPrefix("var ") {
            var stmts = splitStatements(trimmed)
            if let last = stmts.popLast() {
                return (stmts + ["return " + last]).joined(separator: ";\n") + ";"
            }
        }
        return "return " + trimmed
    }

    /// Top-level `;`-separated statements (aware of quotes, templates and brackets); a trailing `;` is dropped.
    static func splitStatements(_ s: String) -> [String] {
        var out: [String] = []
        var cur = ""
        var depth = 0
        var quote: Character? = nil
        var escape = false
        for ch in s {
            if let q = quote {
                cur.append(ch)
                if escape { escape = false } else if ch == "\\" { escape = true } else if ch == q { quote = nil }
                continue
            }
            switch ch {
            case "\"", "'", "`": quote = ch; cur.append(ch)
            case "(", "[", "{": depth += 1; cur.append(ch)
            case ")", "]", "}": depth -= 1; cur.append(ch)
            case ";" where depth == 0:
                let t = JSText.trim(cur)
                if !t.isEmpty { out.append(t) }
                cur = ""
            default: cur.append(ch)
            }
        }
        let t = JSText.trim(cur)
        if !t.isEmpty { out.append(t) }
        return out
    }

    /// The Python program: defines `main(output, context)`.
    public static func python(_ code: String) -> String {
        let trimmed = JSText.trim(code)
        if !trimmed.contains("\n") { return "def main(output, context):\n    return \(trimmed)\n" }
        let body = code.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n")
        return "def main(output, context):\n\(body)\n"
    }
}
