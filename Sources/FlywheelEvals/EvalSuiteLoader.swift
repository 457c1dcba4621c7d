import FlywheelSupport
import Foundation

/// Checks a suite document and resolves its `file://` references. Every error names the file, line and key.
final class EvalSuiteLoader {
    let file: String
    let lines: [String: Int]
    let base: URL
    var warnings: [EvalSuiteError] = []
    /// `file://` references of test keys, made absolute (key → `file:///abs[:fn]`).
    var resolvedFiles: [String: String] = [:]
    /// Folders `file://` references may read from (nil: anywhere).
    let allowedRoots: [URL]?

    init(file: String, lines: [String: Int], base: URL, allowedRoots: [URL]? = nil) {
        self.file = file
        self.lines = lines
        self.base = base
        self.allowedRoots = allowedRoots
    }

    /// Whether `url` (symlinks resolved) lies inside one of the allowed roots.
    func isAllowed(_ url: URL) -> Bool {
        guard let roots = allowedRoots else { return true }
        let path = url.standardizedFileURL.resolvingSymlinksInPath().path
        return roots.contains { root in
            let r = root.standardizedFileURL.resolvingSymlinksInPath().path
            return path == r || path.hasPrefix(r.hasSuffix("/") ? r : r + "/")
        }
    }

    static let loadErrorKeys = ["redteam"]
    static let knownTopLevel: Set<String> = [
        "description", "prompts", "providers", "targets", "tests", "defaultTest", "evaluateOptions", "env", "tags", "metadata",
        "sharing", "outputPath", "commandLineOptions", "writeLatestResults", "tracing", "scenarios", "derivedMetrics", "extensions", "definitions",
        "nunjucksFilters", "filters", "assertionTemplates",
    ]
    static let maxFileBytes = 16 * 1024 * 1024

    func err(_ key: String, _ reason: String) -> EvalSuiteError {
        EvalSuiteError(file: file, line: line(key), key: key, reason: reason)
    }

    func line(_ key: String) -> Int? {
        var k = key
        while !k.isEmpty {
            if let l = lines[k] { return l }
            if let dot = k.lastIndex(where: { $0 == "." || $0 == "[" }) { k = String(k[..<dot]) } else { break }
        }
        return lines[k]
    }

    static func typeName(_ v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .bool: return "boolean"
        case .int, .double: return "number"
        case .string: return "string"
        case .array: return "list"
        case .object: return "mapping"
        }
    }

    // MARK: Top level

    func checkTopLevel(_ doc: JSONObject) throws {
        for k in EvalSuiteLoader.loadErrorKeys where doc[k] != nil {
            throw err(k, "\"\(k)\" is not supported by Flywheel")
        }
        for k in doc.keys where !EvalSuiteLoader.knownTopLevel.contains(k) {
            warnings.append(err(k, "unknown top-level key \"\(k)\" is kept but ignored"))
        }
        if let d = doc["description"], d.stringValue == nil { throw err("description", "must be a string, not a \(Self.typeName(d))") }
        if let e = doc["evaluateOptions"] {
            guard let o = e.objectValue else { throw err("evaluateOptions", "must be a mapping") }
            for k in ["repeat", "maxConcurrency", "timeoutMs"] {
                if let v = o[k], !(v.doubleValue.map { $0 >= 0 && $0 == $0.rounded() } ?? false) {
                    throw err("evaluateOptions.\(k)", "must be a non-negative integer, not \(v.jsonString)")
                }
            }
        }
        if let e = doc["env"] {
            guard let o = e.objectValue else { throw err("env", "must be a mapping of names to values") }
            for (k, v) in o.pairs where v.objectValue != nil || v.arrayValue != nil { throw err("env.\(k)", "must be a scalar") }
        }
    }

    /// Replaces every `{$ref: "#/…"}` by the node the JSON pointer names in the suite document (Promptfoo dereferences
    /// the config with json-schema-ref-parser). Only pointers into the same file are followed; sibling keys of `$ref` are
    /// dropped, as the ref parser does.
    func resolveRefs(_ doc: JSONObject) throws -> JSONObject {
        func pointer(_ ref: String, path: String) throws -> JSONValue {
            guard ref.hasPrefix("#") else { throw err(path, "\"$ref\": \(ref) points outside the suite file; only \"#/…\" references are supported") }
            var cur: JSONValue = .object(doc)
            for raw in ref.dropFirst().split(separator: "/", omittingEmptySubsequences: true) {
                let k = String(raw).replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~").removingPercentEncoding ?? String(raw)
                if let o = cur.objectValue, let x = o[k] { cur = x }
                else if let a = cur.arrayValue, let i = Int(k), i >= 0, i < a.count { cur = a[i] }
                else { throw err(path, "\"$ref\": \(ref) does not name anything in the suite (no \"\(k)\")") }
            }
            return cur
        }
        func walk(_ v: JSONValue, path: String, seen: [String]) throws -> JSONValue {
            switch v {
            case .object(let o):
                if let r = o["$ref"] {
                    let p = path.isEmpty ? "$ref" : "\(path).$ref"
                    guard let ref = r.stringValue else { throw err(p, "must be a string") }
                    if seen.contains(ref) { throw err(p, "\"$ref\": \(ref) refers to itself (\((seen + [ref]).joined(separator: " → ")))") }
                    if seen.count > 32 { throw err(p, "\"$ref\" chain is deeper than 32") }
                    return try walk(try pointer(ref, path: p), path: path, seen: seen + [ref])
                }
                var out = JSONObject()
                for (k, x) in o.pairs { out[k] = try walk(x, path: path.isEmpty ? k : "\(path).\(k)", seen: seen) }
                return .object(out)
            case .array(let a):
                return .array(try a.enumerated().map { i, x in try walk(x, path: "\(path)[\(i)]", seen: seen) })
            default:
                return v
            }
        }
        return try walk(.object(doc), path: "", seen: []).objectValue ?? doc
    }

    /// Expands a `file://` reference with `*`, `?` or `**` into the matching files (sorted), as `file://` references;
    /// one without wildcards is returned as it is. No match is an error.
    func expandGlob(_ ref: String, key: String) throws -> [String] {
        let rel = String(ref.dropFirst("file://".count))
        guard rel.contains("*") || rel.contains("?") else { return [ref] }
        let root = rel.hasPrefix("/") ? URL(fileURLWithPath: "/") : base
        let parts = rel.split(separator: "/").map(String.init)
        var found: [URL] = []
        func matchName(_ name: String, _ pat: String) -> Bool { fnmatch(pat, name, 0) == 0 }
        func walk(_ dir: URL, _ i: Int) {
            if i == parts.count {
                var isDir: ObjCBool = false
                if FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir), !isDir.boolValue { found.append(dir) }
                return
            }
            let pat = parts[i]
            if pat == "**" {
                walk(dir, i + 1)
                for name in (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [] where !name.hasPrefix(".") {
                    let u = dir.appendingPathComponent(name)
                    var isDir: ObjCBool = false
                    if FileManager.default.fileExists(atPath: u.path, isDirectory: &isDir), isDir.boolValue { walk(u, i) }
                }
                return
            }
            if !pat.contains("*") && !pat.contains("?") { walk(dir.appendingPathComponent(pat), i + 1); return }
            for name in ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted() where !name.hasPrefix(".") && matchName(name, pat) {
                walk(dir.appendingPathComponent(name), i + 1)
            }
        }
        walk(root, 0)
        var seen = Set<String>()
        let files = found.map { $0.standardizedFileURL.path }.filter { seen.insert($0).inserted }.sorted()
        if files.isEmpty { throw err(key, "no file matches \(ref) (looked under \(root.path))") }
        // Relative to the suite's folder when inside it, so labels (and promptIds) do not depend on the checkout's path.
        let b = base.standardizedFileURL.path
        let prefix = b.hasSuffix("/") ? b : b + "/"
        return files.map { $0.hasPrefix(prefix) && !rel.hasPrefix("/") ? "file://" + String($0.dropFirst(prefix.count)) : "file://" + $0 }
    }

    // MARK: Files

    func resolve(_ ref: String, key: String) throws -> URL {
        let rel = String(ref.dropFirst("file://".count))
        if rel.isEmpty { throw err(key, "empty file:// path") }
        if rel.contains("*") { throw err(key, "a glob is not allowed here (\(ref))") }
        let url = rel.hasPrefix("/") ? URL(fileURLWithPath: rel) : base.appendingPathComponent(rel)
        guard isAllowed(url) else {
            throw err(key, "\(ref) is outside the working folder; Flywheel reads such files only when told (--allow-outside-files, or evals.allow_outside_files in loop.yaml)")
        }
        guard FileManager.default.fileExists(atPath: url.path) else { throw err(key, "file not found: \(ref) (looked for \(url.path))") }
        if let size = (try? FileManager.default.attributesOfItem(atPath: url.path))?[.size] as? Int, size > Self.maxFileBytes {
            throw err(key, "\(ref) is \(size) bytes, more than the limit of \(Self.maxFileBytes)")
        }
        return url
    }

    func readText(_ url: URL, key: String) throws -> String {
        do { return try String(contentsOf: url, encoding: .utf8) } catch { throw err(key, "cannot read \(url.path): \(error.localizedDescription)") }
    }

    /// Loads structured data from .json/.yaml/.yml (and .jsonl as a list).
    func loadData(_ url: URL, key: String) throws -> (JSONValue, [String: Int]) {
        let text = try readText(url, key: key)
        switch url.pathExtension.lowercased() {
        case "json":
            do { return (try JSONValue.parseStrict(text), [:]) } catch { throw EvalSuiteError(file: url.path, line: nil, key: "", reason: "invalid JSON: \(error)") }
        case "jsonl":
            var out: [JSONValue] = []
            for (i, l) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !JSText.trim(String(l)).isEmpty {
                do { out.append(try JSONValue.parseStrict(String(l))) } catch {
                    throw EvalSuiteError(file: url.path, line: i + 1, key: "", reason: "invalid JSON line: \(error)")
                }
            }
            return (.array(out), [:])
        case "yaml", "yml":
            let d = try EvalYAML.load(text, file: url.path)
            return (d.value, d.lines)
        default:
            throw err(key, "unsupported file type .\(url.pathExtension) (\(url.lastPathComponent))")
        }
    }

    // MARK: Prompts

    func prompts(_ v: JSONValue?) throws -> [EvalPrompt] {
        guard let v, !v.isNull else { return [EvalPrompt(label: "{{prompt}}", raw: "{{prompt}}")] }
        let items: [JSONValue] = v.arrayValue ?? [v]
        var out: [EvalPrompt] = []
        for (i, p) in items.enumerated() {
            let key = v.arrayValue == nil ? "prompts" : "prompts[\(i)]"
            switch p {
            case .string(let s):
                if s.hasPrefix("file://") {
                    let files = try expandGlob(s, key: key)
                    for f in files { out += try promptFile(f, label: files.count > 1 ? f : s, key: key) }
                } else if Self.looksLikePromptFile(s), FileManager.default.fileExists(atPath: base.appendingPathComponent(s).path) {
                    // Promptfoo reads a bare path (`prompts: [prompts.txt]`) as a file too.
                    let files = try expandGlob("file://" + s, key: key)
                    for f in files { out += try promptFile(f, label: s, key: key) }
                } else {
                    try checkTemplate(s, key: key)
                    out.append(EvalPrompt(label: s, raw: s))
                }
            case .object(let o):
                let promptConfig = try self.promptConfig(o["config"], key: key + ".config")
                if o["raw"] == nil, let id = o["id"]?.stringValue, id.hasPrefix("file://") {
                    // {id: file://…, label?, config?}: the file's prompts, under the object's label.
                    if let l = o["label"], l.stringValue == nil { throw err(key + ".label", "must be a string") }
                    let loaded = try expandGlob(id, key: key + ".id").flatMap { try promptFile($0, label: $0, key: key + ".id") }
                    for (j, var p) in loaded.enumerated() {
                        if let l = o["label"]?.stringValue { p.label = loaded.count > 1 ? "\(l): \(j)" : l }
                        p.config = promptConfig ?? p.config
                        out.append(p)
                    }
                    continue
                }
                guard let raw = o["raw"]?.stringValue else { throw err(key + ".raw", "a prompt object needs a string \"raw\" (or an \"id\" that is a file://)") }
                try checkTemplate(raw, key: key + ".raw")
                if let l = o["label"], l.stringValue == nil { throw err(key + ".label", "must be a string") }
                if let id = o["id"], id.stringValue == nil { throw err(key + ".id", "must be a string") }
                out.append(EvalPrompt(id: o["id"]?.stringValue, label: o["label"]?.stringValue ?? "", raw: raw, config: promptConfig))
            default:
                throw err(key, "a prompt must be text, file://… or {raw, label?, id?}, not a \(Self.typeName(p))")
            }
        }
        if out.isEmpty { throw err("prompts", "no prompts") }
        return out
    }

    /// A prompt's `config` (merged over the provider's when calling a model API), with `file://` tools, functions and
    /// response formats read.
    func promptConfig(_ v: JSONValue?, key: String) throws -> JSONValue? {
        guard let v, !v.isNull else { return nil }
        guard var o = v.objectValue else { throw err(key, "must be a mapping, not a \(Self.typeName(v))") }
        try inlineConfigFiles(&o, key: key)
        return .object(o)
    }

    /// The prompts of one prompt file: `.txt`/`.md` (split on `---` lines), `.json` (a chat array, kept as written),
    /// `.yaml`/`.yml` (a chat array or object, stored as its JSON).
    func promptFile(_ s: String, label: String, key: String) throws -> [EvalPrompt] {
        let url = try resolve(s, key: key)
        let text = try readText(url, key: key)
        switch url.pathExtension.lowercased() {
        case "txt", "md":
            let parts = text.components(separatedBy: "\n---\n")
            return try parts.enumerated().map { j, part in
                try checkTemplate(part, key: key)
                return EvalPrompt(label: parts.count > 1 ? "\(label): \(j)" : label, raw: part)
            }
        case "json":
            if let arr = JSONValue.parseStrictOrNil(text), arr.arrayValue != nil { return [EvalPrompt(label: label, raw: arr.jsonString)] }
            // A chat array written with template tags (`{% for %}` over earlier messages) is JSON only once rendered.
            guard EvalTemplate.hasSyntax(text) else { throw err(key, "\(s) must hold a JSON chat array") }
            try checkTemplate(text, key: key)
            return [EvalPrompt(label: label, raw: text)]
        case "yaml", "yml":
            let d: JSONValue
            do { d = try EvalYAML.load(text, file: url.path).value } catch { throw err(key, "\(s): \(error)") }
            if let str = d.stringValue {
                try checkTemplate(str, key: key)
                return [EvalPrompt(label: label, raw: str)]
            }
            guard d.arrayValue != nil || d.objectValue != nil else { throw err(key, "\(s) must hold a chat array (or a prompt text)") }
            return [EvalPrompt(label: label, raw: d.jsonString)]
        default:
            throw err(key, "prompt files must be .txt, .md, .json or .yaml (\(s)); script prompts (.js/.py) are not supported")
        }
    }

    /// A one-word prompt ending in a prompt file's extension (`prompts.txt`, `chat.json`): read as a file when it exists.
    static func looksLikePromptFile(_ s: String) -> Bool {
        guard !s.isEmpty, !s.contains(where: { $0.isWhitespace }), !s.contains("{{") else { return false }
        let ext = URL(fileURLWithPath: s).pathExtension.lowercased()
        return ["txt", "md", "json", "yaml", "yml", "j2", "jinja", "jinja2"].contains(ext)
    }

    /// The names of the suite's own filters while its templates are checked.
    @TaskLocal static var customFilterNames: Set<String> = []

    func checkTemplate(_ s: String, key: String) throws {
        do { try EvalTemplate.validate(s, custom: Self.customFilterNames) } catch let e as EvalTemplate.TemplateError { throw err(key, e.message) }
    }

    /// `nunjucksFilters:` (or `filters:`): filter name → JavaScript file exporting the filter function (path relative
    /// to the suite, `file://` optional); checked and made absolute.
    func nunjucksFilters(_ doc: JSONObject) throws -> [String: String] {
        var out: [String: String] = [:]
        for key in ["nunjucksFilters", "filters"] {
            guard let v = doc[key] else { continue }
            guard let o = v.objectValue else { throw err(key, "must be a mapping of filter name to a .js file") }
            for (name, f) in o.pairs {
                guard let path = f.stringValue, !path.isEmpty else { throw err("\(key).\(name)", "must be the path of a .js file") }
                guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }), !name.isEmpty else { throw err("\(key).\(name)", "not a filter name") }
                let ref = path.hasPrefix("file://") ? path : "file://" + path
                guard ["js", "cjs", "mjs"].contains(URL(fileURLWithPath: String(ref.dropFirst(7))).pathExtension.lowercased()) else {
                    throw err("\(key).\(name)", "a filter must be a JavaScript file (\(path))")
                }
                out[name] = try scriptFile(ref, key: "\(key).\(name)")
            }
        }
        return out
    }

    // MARK: Providers

    func providers(_ v: JSONValue?, key: String) throws -> [EvalProvider] {
        guard let v, !v.isNull else { return [EvalProvider(id: "echo")] }
        let items: [JSONValue] = v.arrayValue ?? [v]
        var out: [EvalProvider] = []
        for (i, p) in items.enumerated() {
            let k = v.arrayValue == nil ? key : "\(key)[\(i)]"
            switch p {
            case .string(let s):
                if s.isEmpty { throw err(k, "empty provider id") }
                var p = EvalProvider(id: s)
                try resolveProviderFile(&p, key: k)
                out.append(p)
            case .object(let o):
                if let id = o["id"] {
                    guard let s = id.stringValue, !s.isEmpty else { throw err(k + ".id", "must be a non-empty string") }
                    if let l = o["label"], l.stringValue == nil { throw err(k + ".label", "must be a string") }
                    if o["transform"] != nil { throw err(k + ".transform", "provider transforms are not supported by Flywheel") }
                    var ps: [String]? = nil
                    if let pr = o["prompts"] {
                        guard let arr = pr.arrayValue, arr.allSatisfy({ $0.stringValue != nil }) else { throw err(k + ".prompts", "must be a list of prompt labels") }
                        ps = arr.compactMap(\.stringValue)
                    }
                    for key in o.keys where !["id", "label", "config", "prompts", "env", "delay", "transform"].contains(key) {
                        warnings.append(err(k + ".\(key)", "provider key \"\(key)\" is kept but not used by Flywheel"))
                    }
                    if o["delay"] != nil { warnings.append(err(k + ".delay", "provider delay is not applied when grading recorded outputs")) }
                    var p = EvalProvider(id: s, label: o["label"]?.stringValue, config: o["config"], prompts: ps)
                    try resolveProviderFile(&p, key: k + ".id")
                    out.append(p)
                } else if o.count == 1, let (id, cfg) = o.pairs.first, let co = cfg.objectValue {
                    var p = EvalProvider(id: co["id"]?.stringValue ?? id, label: co["label"]?.stringValue, config: co["config"])
                    try resolveProviderFile(&p, key: k)
                    out.append(p)
                } else if let m = o["model"]?.stringValue {
                    throw err(k + ".model", "Promptfoo has no provider key \"model\": write id: \(m)")
                } else {
                    throw err(k, "a provider needs an \"id\"")
                }
            default:
                throw err(k, "a provider must be an id or a mapping, not a \(Self.typeName(p))")
            }
            if !out.isEmpty { try prepareModelProvider(&out[out.count - 1], key: k) }
        }
        return out
    }

    /// An `openai:`/`anthropic:` provider: `tools`, `functions` and `response_format` given as `file://x.json|yaml` are
    /// read here (errors name the file and key); any `config` key the API call does not read would change the model's
    /// answer in Promptfoo, so rows graded without it get a load warning naming the keys.
    func prepareModelProvider(_ p: inout EvalProvider, key: String) throws {
        if p.id.hasPrefix("openai:assistant:") || p.id.hasPrefix("openai:realtime:") {
            warnings.append(err(key, "\(p.id) is called through chat completions (/v1/chat/completions) by Flywheel, not its own API"))
        }
        guard let sent = EvalProviderCaller.sentKeys(p.id) ?? (p.id.hasPrefix("openai:") ? EvalProviderCaller.openAIChatKeys : nil) else { return }
        if var cfg = p.config?.objectValue {
            try inlineConfigFiles(&cfg, key: key + ".config")
            p.config = .object(cfg)
        }
        let unsent = (p.config?.objectValue?.keys ?? []).filter { !sent.contains($0) }.sorted()
        if !unsent.isEmpty {
            warnings.append(err(key + ".config", "not sent to the model by Flywheel: \(unsent.joined(separator: ", ")) (rows are graded on answers given without them)"))
        }
    }

    /// Reads `file://` values of `tools`, `functions` and `response_format` (JSON or YAML) into the config.
    func inlineConfigFiles(_ cfg: inout JSONObject, key: String) throws {
        for k in ["tools", "functions", "response_format"] {
            guard let s = cfg[k]?.stringValue else { continue }
            guard s.hasPrefix("file://") else { throw err("\(key).\(k)", "must be a list/mapping or file://…, not the string \"\(s)\"") }
            let url = try resolve(s, key: "\(key).\(k)")
            guard ["json", "yaml", "yml"].contains(url.pathExtension.lowercased()) else {
                throw err("\(key).\(k)", "\(s): only .json and .yaml files are read here (function files are not supported)")
            }
            cfg[k] = try loadData(url, key: "\(key).\(k)").0
        }
    }

    /// A `file://provider.py[:fn]` (or `python:provider.py`) provider: the file is checked and made absolute.
    func resolveProviderFile(_ p: inout EvalProvider, key: String) throws {
        let ref: String
        if p.id.hasPrefix("file://") { ref = p.id } else if p.id.hasPrefix("python:") { ref = "file://" + p.id.dropFirst("python:".count) } else { return }
        let path = EvalScriptRequest.fileReference(ref).path
        let ext = URL(fileURLWithPath: path).pathExtension.lowercased()
        guard ext == "py" else {
            throw err(key, "provider files other than Python are not supported (\(p.id)); use a .py file with call_api, or exec:")
        }
        p.resolvedFile = try scriptFile(ref, key: key)
    }

    static func isRunnable(_ id: String) -> Bool {
        id == "echo" || id.hasPrefix("openai:") || EvalProviderCaller.isAnthropic(id) || id == "loop" || id == "flywheel:agent" || id.hasPrefix("flywheel:")
            || id.hasPrefix("exec:") || id.hasPrefix("python:") || (id.hasPrefix("file://") && id.contains(".py")) || EvalProviderCaller.isHTTP(id)
    }

    func checkProviders(_ providers: [EvalProvider], tests: [EvalTestCase], defaultTest: EvalTestCase?) throws {
        let allRecorded = !tests.isEmpty && tests.allSatisfy { $0.providerOutput != nil } || defaultTest?.providerOutput != nil
        if allRecorded { return }
        let runnable = providers.contains { Self.isRunnable($0.id) }
        for (i, p) in providers.enumerated() where !Self.isRunnable(p.id) {
            let what = "provider \"\(p.id)\" cannot be run by Flywheel (echo, openai:…, anthropic:…, http, exec:…, file://provider.py, the loop agent)"
            // One provider Flywheel cannot call fails only its own column (error rows naming it); with none callable
            // the suite cannot run at all.
            if runnable { warnings.append(err("providers[\(i)]", what + "; its rows are errors")) } else {
                throw err("providers[\(i)]", what + "; give every test a providerOutput to grade recorded outputs")
            }
        }
    }

    // MARK: Tests

    func defaultTest(_ v: JSONValue?) throws -> EvalTestCase? {
        guard let v, !v.isNull else { return nil }
        if let s = v.stringValue {
            guard s.hasPrefix("file://") else { throw err("defaultTest", "must be a mapping or file://…") }
            let url = try resolve(s, key: "defaultTest")
            let (d, l) = try loadData(url, key: "defaultTest")
            return try EvalTestCase(node: d, file: url.path, path: "", lines: l, baseDirectory: url.deletingLastPathComponent(), allowedRoots: allowedRoots)
        }
        return try EvalTestCase(node: v, file: file, path: "defaultTest", lines: lines, baseDirectory: base, allowedRoots: allowedRoots)
    }

    func tests(_ v: JSONValue?) throws -> [EvalTestCase] {
        guard let v, !v.isNull else { return [] }
        let items: [JSONValue]
        switch v {
        case .array(let a): items = a
        case .string: items = [v]
        default: throw err("tests", "must be a list of tests or file://…, not a \(Self.typeName(v))")
        }
        var out: [EvalTestCase] = []
        for (i, t) in items.enumerated() {
            let key = v.arrayValue == nil ? "tests" : "tests[\(i)]"
            if let s0 = t.stringValue {
                guard s0.hasPrefix("file://") else { throw err(key, "a test must be a mapping or file://…, not the string \"\(s0)\"") }
                for s in try expandGlob(s0, key: key) {
                let ext = URL(fileURLWithPath: String(s.dropFirst(7))).pathExtension.lowercased()
                if ext == "xlsx" || ext == "xls" { throw err(key, "spreadsheet tests are not supported (\(s))") }
                let url = try resolve(s, key: key)
                if ext == "csv" {
                    let rows: [(line: Int, columns: [(String, String)])]
                    do { rows = try CSVRecords.table(try readText(url, key: key)) } catch let e as CSVRecords.Failure {
                        throw EvalSuiteError(file: url.path, line: e.line, key: "", reason: "invalid CSV: \(e.reason)")
                    }
                    for (j, r) in rows.enumerated() {
                        out.append(try EvalTestCase(node: EvalCSVTests.testCase(fromRow: r.columns), file: url.path, path: "row \(j + 2)",
                                                    lines: ["row \(j + 2)": r.line], baseDirectory: url.deletingLastPathComponent(),
                                                    allowedRoots: allowedRoots))
                    }
                    continue
                }
                if ext == "js" || ext == "py" || ext == "ts" { throw err(key, "test generator scripts are not supported (\(s))") }
                let (d, l) = try loadData(url, key: key)
                let list = d.arrayValue ?? [d]
                for (j, node) in list.enumerated() {
                    let p = d.arrayValue == nil ? "" : "[\(j)]"
                    out.append(try EvalTestCase(node: node, file: url.path, path: p, lines: l, baseDirectory: url.deletingLastPathComponent(), allowedRoots: allowedRoots))
                }
                }
            } else {
                out.append(try EvalTestCase(node: t, file: file, path: key, lines: lines, baseDirectory: base, allowedRoots: allowedRoots))
            }
        }
        return out
    }

    // MARK: Scenarios

    /// `scenarios`: each `config` entry × each test gives one test,
    /// `{…data, …test, vars: {…data.vars, …test.vars}, assert: data.assert + test.assert, metadata: {…data.metadata, …test.metadata}}`
    /// (Promptfoo's evaluator; `defaultTest` is merged later like for any test). Scenarios, their `config` and `tests`
    /// may be `file://` YAML/JSON.
    func scenarios(_ v: JSONValue?) throws -> [EvalTestCase] {
        guard let v, !v.isNull else { return [] }
        func nodes(_ x: JSONValue, key: String) throws -> (list: [JSONValue], file: String, lines: [String: Int], base: URL, prefix: String) {
            if let s = x.stringValue {
                guard s.hasPrefix("file://") else { throw err(key, "must be a list or file://…, not the string \"\(s)\"") }
                var all: [JSONValue] = []
                var last: (String, [String: Int], URL) = (file, lines, base)
                for f in try expandGlob(s, key: key) {
                    let url = try resolve(f, key: key)
                    let (d, l) = try loadData(url, key: key)
                    all += d.arrayValue ?? [d]
                    last = (url.path, l, url.deletingLastPathComponent())
                }
                return (all, last.0, last.1, last.2, "")
            }
            guard let a = x.arrayValue else { throw err(key, "must be a list, not a \(Self.typeName(x))") }
            return (a, file, lines, base, key)
        }
        var out: [EvalTestCase] = []
        let scen = try nodes(v, key: "scenarios")
        for (si, sc) in scen.list.enumerated() {
            let sk = scen.prefix.isEmpty ? "scenarios[\(si)]" : "\(scen.prefix)[\(si)]"
            guard let so = sc.objectValue else { throw err(sk, "a scenario must be a mapping with config and tests, not a \(Self.typeName(sc))") }
            guard let c = so["config"] else { throw err(sk + ".config", "a scenario needs a \"config\" list") }
            let configs = try nodes(c, key: sk + ".config")
            let tests = try so["tests"].map { try nodes($0, key: sk + ".tests") } ?? (list: [.object(JSONObject())], file: file, lines: lines, base: base, prefix: sk + ".tests")
            for (ci, data) in configs.list.enumerated() {
                guard let d = data.objectValue else { throw err("\(sk).config[\(ci)]", "must be a mapping, not a \(Self.typeName(data))") }
                for (ti, t) in tests.list.enumerated() {
                    let tk = tests.prefix.isEmpty ? "\(sk).tests[\(ti)]" : "\(tests.prefix)[\(ti)]"
                    guard let to = t.objectValue else { throw err(tk, "a test must be a mapping, not a \(Self.typeName(t))") }
                    var node = d
                    for (k, x) in to.pairs { node[k] = x }
                    for key in ["vars", "metadata", "options"] {
                        let a = d[key]?.objectValue, b = to[key]?.objectValue
                        if a == nil && b == nil { continue }
                        if d[key] != nil && a == nil { throw err("\(sk).config[\(ci)].\(key)", "must be a mapping") }
                        if to[key] != nil && b == nil { throw err("\(tk).\(key)", "must be a mapping") }
                        var m = a ?? JSONObject()
                        for (k, x) in (b ?? JSONObject()).pairs { m[k] = x }
                        node[key] = .object(m)
                    }
                    let da = d["assert"], ta = to["assert"]
                    if let da, da.arrayValue == nil { throw err("\(sk).config[\(ci)].assert", "must be a list of assertions") }
                    if let ta, ta.arrayValue == nil { throw err("\(tk).assert", "must be a list of assertions") }
                    if da != nil || ta != nil { node["assert"] = .array((da?.arrayValue ?? []) + (ta?.arrayValue ?? [])) }
                    if node["description"] == nil, let sd = so["description"]?.stringValue { node["description"] = .string(sd) }
                    out.append(try EvalTestCase(node: .object(node), file: tests.file, path: tk, lines: tests.lines, baseDirectory: tests.base,
                                                allowedRoots: allowedRoots))
                }
            }
        }
        return out
    }

    // MARK: Extensions

    /// `extensions: [file://hooks.py:fn, file://hooks.js:fn]`, checked and made absolute. They are suite code: they run
    /// only when scripts are allowed (a warning says so), for their side effects.
    func extensions(_ v: JSONValue?) throws -> [String] {
        guard let v, !v.isNull else { return [] }
        guard let a = v.arrayValue else { throw err("extensions", "must be a list of file://path.py:function or file://path.js:function") }
        let out = try a.enumerated().map { i, x in
            guard let s = x.stringValue, s.hasPrefix("file://"), EvalScriptRequest.fileReference(s).function != nil else {
                throw err("extensions[\(i)]", "must be file://path.py:function or file://path.js:function, not \(x.jsonString)")
            }
            return try scriptFile(s, key: "extensions[\(i)]")
        }
        if !out.isEmpty {
            warnings.append(err("extensions", "extension hooks (beforeAll, beforeEach, afterEach, afterAll) run only when scripts are allowed, for their side effects: what they return is ignored"))
        }
        return out
    }

    // MARK: Derived metrics

    /// `derivedMetrics: [{name, value}]`: `value` is an arithmetic expression over named metrics (checked here).
    func derivedMetrics(_ v: JSONValue?) throws -> [EvalDerivedMetric] {
        guard let v, !v.isNull else { return [] }
        guard let a = v.arrayValue else { throw err("derivedMetrics", "must be a list of {name, value}") }
        return try a.enumerated().map { i, x in
            let k = "derivedMetrics[\(i)]"
            guard let name = x["name"]?.stringValue, !name.isEmpty else { throw err(k + ".name", "a derived metric needs a string \"name\"") }
            guard let expr = x["value"]?.stringValue else {
                throw err(k + ".value", "must be an expression over named metrics (a string); functions are not supported")
            }
            do { return EvalDerivedMetric(name: name, expression: try EvalMathExpression(expr)) } catch let e as EvalMathExpression.ParseError {
                throw err(k + ".value", "invalid expression \"\(expr)\": \(e.message)")
            }
        }
    }

    // MARK: One test

    static func checkTest(_ node: JSONValue, file: String, path: String, lines: [String: Int], base: URL,
                          allowedRoots: [URL]? = nil) throws -> ([EvalAssertion], JSONObject, [EvalSuiteError], [String: String]) {
        let l = EvalSuiteLoader(file: file, lines: lines, base: base, allowedRoots: allowedRoots)
        let (a, v) = try l.checkTest(node, path: path)
        return (a, v, l.warnings, l.resolvedFiles)
    }

    func checkTest(_ node: JSONValue, path: String) throws -> ([EvalAssertion], JSONObject) {
        func k(_ s: String) -> String { path.isEmpty ? s : "\(path).\(s)" }
        guard let o = node.objectValue else { throw err(path, "a test must be a mapping, not a \(Self.typeName(node))") }
        if let d = o["description"], d.stringValue == nil { throw err(k("description"), "must be a string, not a \(Self.typeName(d))") }
        var vars = JSONObject()
        if let v = o["vars"] {
            guard let vo = v.objectValue else { throw err(k("vars"), "must be a mapping of names to values, not a \(Self.typeName(v))") }
            for (name, x) in vo.pairs {
                vars[name] = x
                if let s = x.stringValue {
                    if s.hasPrefix("file://") { vars[name] = try loadVarFile(s, key: k("vars.\(name)")) } else { try checkTemplate(s, key: k("vars.\(name)")) }
                }
            }
        }
        for key in ["provider", "providers", "prompts"] where o[key] != nil {
            let isLabels = o[key]!.stringValue != nil || (o[key]!.arrayValue?.allSatisfy { $0.stringValue != nil } ?? false)
            if key != "provider", !isLabels {
                throw err(k(key), "must be a label or a list of labels (with * wildcards)")
            }
            if key == "provider" {
                warnings.append(err(k(key), "a per-test provider override is kept but not used when grading recorded outputs"))
            }
        }
        if let t = o["threshold"], !t.isNull, t.doubleValue == nil { throw err(k("threshold"), "must be a number, not \(t.jsonString)") }
        if let m = o["metadata"], m.objectValue == nil { throw err(k("metadata"), "must be a mapping, not a \(Self.typeName(m))") }
        if let m = o["options"] {
            guard let mo = m.objectValue else { throw err(k("options"), "must be a mapping, not a \(Self.typeName(m))") }
            for key in ["prefix", "suffix"] where mo[key] != nil && mo[key]!.stringValue == nil { throw err(k("options.\(key)"), "must be a string") }
            if let t = mo["transform"] ?? mo["postprocess"] { if t.stringValue == nil { throw err(k("options.transform"), "must be a JavaScript string") } }
            if let t = mo["transformVars"] {
                guard let ts = t.stringValue else { throw err(k("options.transformVars"), "must be JavaScript code or file://…") }
                if ts.hasPrefix("file://") { resolvedFiles["transformVars"] = try scriptFile(ts, key: k("options.transformVars")) }
            }
            if let t = mo["storeOutputAs"], t.stringValue.map({ $0.isEmpty }) ?? true {
                throw err(k("options.storeOutputAs"), "must be a variable name")
            }
            let known: Set<String> = ["prefix", "suffix", "transform", "postprocess", "transformVars", "storeOutputAs", "disableVarExpansion",
                                      "disableConversationVar", "runSerially", "provider", "rubricPrompt"]
            for key in mo.keys where !known.contains(key) {
                warnings.append(err(k("options.\(key)"), "test option \"\(key)\" is kept but not used by Flywheel"))
            }
        }
        if let f = o["assertScoringFunction"] {
            guard let fs = f.stringValue, fs.hasPrefix("file://") else {
                throw err(k("assertScoringFunction"), "must be a file://path.js[:function] or file://path.py[:function] reference")
            }
            resolvedFiles["assertScoringFunction"] = try scriptFile(fs, key: k("assertScoringFunction"))
        }
        guard let a = o["assert"] else { return ([], vars) }
        guard let list = a.arrayValue else { throw err(k("assert"), "must be a list of assertions, not a \(Self.typeName(a))") }
        return (try list.enumerated().map { i, x in try checkAssertion(x, path: k("assert[\(i)]"), allowSet: true) }, vars)
    }

    /// A `file://x.js|py[:fn]` reference made absolute (checked: inside the allowed folders, exists, a script type).
    func scriptFile(_ ref: String, key: String) throws -> String {
        let (path, fn) = EvalScriptRequest.fileReference(ref)
        let ext = URL(fileURLWithPath: path).pathExtension.lowercased()
        guard ["js", "cjs", "mjs", "py"].contains(ext) else { throw err(key, "\(ref) must be a .js or .py file") }
        let url = try resolve("file://" + path, key: key)
        return "file://" + url.standardizedFileURL.path + (fn.map { ":" + $0 } ?? "")
    }

    /// A `file://` var: JSON/YAML parsed, scripts refused, media refused, any other file read as UTF-8 text (`.txt`,
    /// `.md`, `.sql`, `.html`, `.xml`, …). A glob (`file://articles/*`) gives the list of the matching files' values,
    /// which expands into one test per file as Promptfoo does; no match is an error.
    func loadVarFile(_ s: String, key: String) throws -> JSONValue {
        let rel = String(s.dropFirst("file://".count))
        if rel.contains("*") || rel.contains("?") {
            let files = try expandGlob(s, key: key)
            if files.isEmpty { throw err(key, "no files match \(s)") }
            return .array(try files.map { try loadVarFile($0, key: key) })
        }
        let url = try resolve(s, key: key)
        switch url.pathExtension.lowercased() {
        case "json", "yaml", "yml": return try loadData(url, key: key).0
        case "js", "py", "ts", "mjs", "cjs": throw err(key, "script vars are not supported yet (\(s))")
        case "png", "jpg", "jpeg", "gif", "webp", "bmp", "pdf", "mp3", "wav", "ogg", "mp4", "mov", "webm", "docx", "xlsx", "zip":
            throw err(key, "binary var files (images, audio, video, PDF, …) are not supported (\(s))")
        default: return .string(try readText(url, key: key))
        }
    }

    func checkAssertion(_ node: JSONValue, path: String, allowSet: Bool) throws -> EvalAssertion {
        guard var o = node.objectValue else { throw err(path, "an assertion must be a mapping, not a \(Self.typeName(node))") }
        guard let typeNode = o["type"] else { throw err(path, "an assertion needs a \"type\"") }
        guard let type = typeNode.stringValue, !type.isEmpty else { throw err("\(path).type", "must be a string, not \(typeNode.jsonString)") }
        let base = type.hasPrefix("not-") ? String(type.dropFirst(4)) : type
        if EvalAssertionEngine.laterTypes.contains(base) {
            throw err("\(path).type", "\"\(type)\" comes from a Promptfoo release after 0.121.3 and is not supported")
        }
        if type == "assert-set" {
            guard allowSet else { throw err("\(path).type", "assert-set cannot be nested") }
            guard let arr = o["assert"]?.arrayValue else { throw err("\(path).assert", "an assert-set needs a list \"assert\"") }
            let members = try arr.enumerated().map { i, x in try checkAssertion(x, path: "\(path).assert[\(i)]", allowSet: false) }
            try checkCommon(o, path: path)
            var a = try EvalAssertion(parsing: node)
            a.assertions = members
            return a
        }
        guard EvalAssertionEngine.supportedTypes.contains(base) || EvalAssertionEngine.skippedTypes.contains(base) else {
            throw err("\(path).type", "unknown assertion type \"\(type)\"")
        }
        if type.hasPrefix("not-"), ["levenshtein", "latency", "cost", "perplexity", "perplexity-score", "finish-reason", "python",
                                    "trace-span-count", "trace-span-duration", "trace-error-spans", "is-valid-openai-tools-call",
                                    "is-valid-openai-function-call", "is-valid-function-call", "llm-rubric", "model-graded-closedqa",
                                    "factuality", "g-eval", "answer-relevance", "context-recall", "context-relevance", "context-faithfulness", "conversation-relevance"].contains(base) {
            warnings.append(err("\(path).type", "\"\(type)\" acts as \"\(base)\" in Promptfoo 0.121.3 (the not- is ignored)"))
        }
        try checkCommon(o, path: path)
        if o["contextTransform"] != nil, !["context-recall", "context-relevance", "context-faithfulness"].contains(base) {
            warnings.append(err("\(path).contextTransform", "contextTransform is kept but not used: only the context-* types read a context"))
        }
        if let ct = o["contextTransform"], ct.stringValue == nil { throw err("\(path).contextTransform", "must be a JavaScript expression (a string)") }
        // Resolve a file:// value.
        if let s = o["value"]?.stringValue, s.hasPrefix("file://") {
            let ext = URL(fileURLWithPath: String(s.dropFirst(7)).split(separator: ":").first.map(String.init) ?? "").pathExtension.lowercased()
            if ext == "js" || ext == "py" || ext == "cjs" || ext == "mjs" || ext == "ts" {
                guard (base == "javascript" && ext != "py") || (base == "python" && ext == "py") else {
                    throw err("\(path).value", "a script file as the value of \"\(type)\" is not supported (\(s)); use a javascript or python assertion")
                }
                if ext == "ts" { throw err("\(path).value", "TypeScript files are not supported (\(s)); compile it to .js") }
                let ref = EvalScriptRequest.fileReference(s)
                let url = try resolve("file://" + ref.path, key: "\(path).value")
                o["value"] = .string("file://" + url.standardizedFileURL.path + (ref.function.map { ":" + $0 } ?? ""))
                var a: EvalAssertion
                do { a = try EvalAssertion(parsing: .object(o)) } catch let e as EvalAssertionError { throw err(path, e.message) }
                a.raw = node
                return a
            }
            let url = try resolve(s, key: "\(path).value")
            switch ext {
            case "txt", "md": o["value"] = .string(JSText.trim(try readText(url, key: "\(path).value")))
            case "json", "yaml", "yml": o["value"] = try loadData(url, key: "\(path).value").0
            default: throw err("\(path).value", "unsupported value file type (\(s))")
            }
        }
        var a: EvalAssertion
        do { a = try EvalAssertion(parsing: .object(o)) } catch let e as EvalAssertionError { throw err(path, e.message) }
        a.raw = node
        try checkValue(a, path: path)
        return a
    }

    func checkCommon(_ o: JSONObject, path: String) throws {
        if let w = o["weight"], w.doubleValue == nil || w.doubleValue! < 0 { throw err("\(path).weight", "must be a non-negative number, not \(w.jsonString)") }
        if let t = o["threshold"], !t.isNull, t.doubleValue == nil, t.boolValue == nil { throw err("\(path).threshold", "must be a number, not \(t.jsonString)") }
        if let m = o["metric"], m.stringValue == nil { throw err("\(path).metric", "must be a string, not \(m.jsonString)") }
        if let t = o["transform"], t.stringValue == nil { throw err("\(path).transform", "must be a JavaScript string") }
        if let t = o["transform"]?.stringValue, t.hasPrefix("file://") { throw err("\(path).transform", "transform files are not supported yet (\(t))") }
    }

    /// Static checks of values Promptfoo would reject when grading (only when the value has no template).
    func checkValue(_ a: EvalAssertion, path: String) throws {
        let key = "\(path).value"
        let v = a.value
        if let s = v?.stringValue, EvalTemplate.hasSyntax(s) {
            try checkTemplate(s, key: key)
            return
        }
        func need(_ ok: Bool, _ why: String) throws { if !ok { throw err(key, why) } }
        switch EvalAssertionType(rawValue: a.baseType) {
        case .contains?, .icontains?:
            try need(v.map { ($0.stringValue.map { !$0.isEmpty } ?? false) || ($0.isNumber && $0.isTruthy) } ?? false,
                     "\"\(a.baseType)\" needs a non-empty string or number value")
        case .containsAny?, .containsAll?, .icontainsAny?, .icontainsAll?:
            try need(v?.stringValue != nil || (v?.arrayValue.map { $0.allSatisfy { $0.stringValue != nil || $0.isNumber } } ?? false),
                     "\"\(a.baseType)\" needs a list of strings or a comma-separated string")
        case .startsWith?, .levenshtein?, .rougeN?, .finishReason?:
            try need(v?.stringValue != nil, "\"\(a.baseType)\" needs a string value, not \(v?.jsonString ?? "nothing")")
        case .regex?:
            guard let s = v?.stringValue, !s.isEmpty else { throw err(key, "\"regex\" needs a non-empty string value, not \(v?.jsonString ?? "nothing")") }
            do { _ = try JSRegex(s) } catch { throw err(key, "invalid regex: \(error)") }
        case .wordCount?:
            switch v {
            case .int?, .double?: break
            case .string(let s)? where Double(JSText.trim(s)) != nil: break
            case .object(let o)?:
                let mn = o["min"]?.doubleValue, mx = o["max"]?.doubleValue
                try need(mn != nil || mx != nil, "\"word-count\" needs a number or {min, max}")
                if let mn, let mx { try need(mn <= mx, "\"word-count\" min (\(JSNumber.string(mn))) must be less than or equal to max (\(JSNumber.string(mx)))") }
            default: throw err(key, "\"word-count\" needs a number or {min, max}, not \(v?.jsonString ?? "nothing")")
            }
        case .isXML?, .containsXML?:
            if let o = v?.objectValue, o["requiredElements"] == nil { throw err(key, "xml assertion must contain a string, array value, or no value") }
            if v?.boolValue != nil || v?.isNumber == true { throw err(key, "xml assertion must contain a string, array value, or no value") }
        case .isJSON?, .containsJSON?:
            guard let v, !v.isNull else { return }
            var schema = v
            if let s = v.stringValue {
                guard let parsed = JSONValue.parseStrictOrNil(s) ?? EvalYAML.parseOrNil(s), parsed.objectValue != nil else {
                    throw err(key, "the JSON schema must be a mapping (or JSON/YAML text of one)")
                }
                schema = parsed
            }
            do { _ = try JSONSchemaValidator(schema: schema) } catch { throw err(key, "invalid JSON schema: \(error)") }
        case .latency?, .cost?:
            if a.threshold == nil { throw err("\(path).threshold", "\"\(a.baseType)\" needs a threshold") }
        case .traceSpanCount?:
            try need(v?["pattern"]?.stringValue != nil, "trace-span-count assertion must have a value object with pattern property")
        case .traceSpanDuration?:
            try need(v?["max"]?.doubleValue != nil, "trace-span-duration assertion must have a value object with max property")
        case .toolCallF1?:
            try need(v?.stringValue.map { !JSText.trim($0).isEmpty } ?? (v?.arrayValue.map { !$0.isEmpty } ?? false), "\"tool-call-f1\" assertion requires a value")
        case .javascript?, .python?:
            try need(v?.stringValue != nil, "\"\(a.baseType)\" needs code as a string value")
        case .meteor?:
            try need(v?.stringValue != nil || (v?.arrayValue.map { !$0.isEmpty && $0.allSatisfy { $0.stringValue != nil } } ?? false),
                     "\"meteor\" assertion must have a string or array of strings value")
        case .isSQL?, .containsSQL?:
            try need(v == nil || v!.isNull || v!.objectValue != nil, "is-sql assertion must have a object value ({databaseType?, allowedTables?, allowedColumns?})")
            if let db = v?["databaseType"]?.stringValue { try need(EvalSQL.dialect(db) != nil, "databaseType \"\(db)\" is not supported by Flywheel (MySQL, PostgreSQL)") }
        case .bleu?, .gleu?:
            try need(v?.stringValue != nil || (v?.arrayValue.map { !$0.isEmpty && $0.allSatisfy { $0.stringValue != nil } } ?? false),
                     "\"\(a.baseType)\" needs a reference string or a list of them")
        default: break
        }
        if let s = v?.stringValue { try checkTemplate(s, key: key) }
    }
}
