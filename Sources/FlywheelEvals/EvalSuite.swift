import FlywheelSupport
import Foundation
import OrderedCollections

/// A prompt of a suite: `{id?, label, raw, config?}`.
public struct EvalPrompt: Sendable, Equatable {
    /// The prompt id, when given.
    public var id: String?
    /// The label (a string prompt's label is its text).
    public var label: String
    /// The template text.
    public var raw: String
    /// Per-prompt config.
    public var config: JSONValue?
    /// Promptfoo's promptId: hex SHA-256 of the label, else of `id`, else of `raw`.
    public var promptId: String { SHA256.hex(!label.isEmpty ? label : (id ?? raw)) }

    public init(id: String? = nil, label: String, raw: String, config: JSONValue? = nil) {
        self.id = id
        self.label = label
        self.raw = raw
        self.config = config
    }
}

/// A provider (column) of a suite.
public struct EvalProvider: Sendable, Equatable {
    /// The provider id (`echo`, `openai:gpt-4.1-mini`, …).
    public var id: String
    /// The label, when set.
    public var label: String?
    /// Per-prompt config.
    public var config: JSONValue?
    /// Labels/ids of the prompts it runs (nil: all).
    public var prompts: [String]?
    /// The column key: `label || id`.
    public var key: String { label ?? id }
    /// For a `file://provider.py[:fn]` provider: the file, made absolute at load time (`file:///abs[:fn]`).
    var resolvedFile: String?

    public init(id: String, label: String? = nil, config: JSONValue? = nil, prompts: [String]? = nil) {
        self.id = id
        self.label = label
        self.config = config
        self.prompts = prompts
    }
}

/// One test case as written (or appended), with its parsed fields. `raw` holds every key, unknown ones included.
public struct EvalTestCase: Sendable, Equatable {
    /// The node as written; edits go through it so a save keeps unknown keys.
    public private(set) var raw: JSONValue
    /// The description.
    public var description: String? { raw["description"]?.stringValue }
    /// The vars, with `file://` vars read (`.txt` as text, `.json`/`.yaml` parsed).
    public private(set) var vars: JSONObject
    /// The test metadata.
    public var metadata: JSONObject { raw["metadata"]?.objectValue ?? JSONObject() }
    /// The test options.
    public var options: JSONObject { raw["options"]?.objectValue ?? JSONObject() }
    /// `threshold` when truthy (0 means none).
    public var threshold: Double? {
        guard let t = raw["threshold"]?.doubleValue, t != 0 else { return nil }
        return t
    }
    /// `providerOutput`: grade this instead of calling a provider.
    public var providerOutput: JSONValue? { raw["providerOutput"] }
    /// Parsed assertions (value `file://` references already resolved).
    public private(set) var assertions: [EvalAssertion]
    /// Where the test came from (the suite file, or the `file://` tests file).
    public var sourceFile: String
    /// Accepted-but-ignored forms in this test (e.g. `not-levenshtein`, which acts as `levenshtein`).
    public private(set) var warnings: [EvalSuiteError] = []
    /// `file://` references of test keys (`assertScoringFunction`, `options.transformVars`), made absolute at load time.
    public private(set) var resolvedFiles: [String: String] = [:]

    /// The test id: `metadata.id` when it is a string, else `t-` + the first 16 hex digits of the SHA-256 of the
    /// canonical JSON (sorted keys) of `{description, vars, assert}` — stable across runs, key order and reformatting.
    public let id: String

    static func computeId(_ raw: JSONValue) -> String {
        if let s = raw["metadata"]?["id"]?.stringValue, !s.isEmpty { return s }
        return contentHash(raw)
    }

    package static func contentHash(_ raw: JSONValue) -> String {
        let key = JSONValue.obj([("description", raw["description"] ?? .null), ("vars", raw["vars"] ?? .obj([])), ("assert", raw["assert"] ?? .array([]))])
        return "t-" + String(SHA256.hex(key.canonicalText).prefix(16))
    }

    /// Builds a test from a node, checking it (errors name `file` and the key path `path`).
    public init(node: JSONValue, file: String, path: String = "tests[0]", lines: [String: Int] = [:], baseDirectory: URL? = nil,
                allowedRoots: [URL]? = nil) throws {
        self.raw = node
        self.id = EvalTestCase.computeId(node)
        self.sourceFile = file
        self.assertions = []
        self.vars = JSONObject()
        (self.assertions, self.vars, self.warnings, self.resolvedFiles) = try EvalSuiteLoader.checkTest(node, file: file, path: path, lines: lines,
                                                                                    base: baseDirectory ?? URL(fileURLWithPath: file).deletingLastPathComponent(),
                                                                                    allowedRoots: allowedRoots)
    }

    /// A new test from parts (for generated cases).
    public init(description: String?, vars: JSONObject = JSONObject(), assertions: [EvalAssertion], threshold: Double? = nil,
                metadata: JSONObject = JSONObject(), providerOutput: JSONValue? = nil, file: String = "<generated>") throws {
        var o = JSONObject()
        if let description { o["description"] = .string(description) }
        if !vars.isEmpty { o["vars"] = .object(vars) }
        if let providerOutput { o["providerOutput"] = providerOutput }
        o["assert"] = .array(assertions.map(\.raw))
        if let threshold { o["threshold"] = .number(threshold) }
        if !metadata.isEmpty { o["metadata"] = .object(metadata) }
        try self.init(node: .object(o), file: file)
    }
}

/// A Promptfoo suite (`promptfooconfig.yaml`) that loads, checks, edits and saves without losing keys.
///
/// Test ids: `metadata.id` when present, else a stable content hash (see `EvalTestCase.id`). `append` dedupes by id;
/// `remove(id:reason:)` records the removal under the top-level `metadata.flywheel.removed` (Promptfoo ignores it).
public struct EvalSuite: Sendable {
    /// The suite file.
    public let file: URL
    /// How messages name the suite: `file`'s path, or the label it was read under (`REV:PATH` of the history).
    public let name: String
    /// The whole document, in order (unknown keys kept).
    public private(set) var document: JSONObject
    /// Line of each key path, for messages.
    public let lines: [String: Int]
    /// The prompts (`file://` prompts read).
    public private(set) var prompts: [EvalPrompt]
    /// The providers (`targets` accepted).
    public private(set) var providers: [EvalProvider]
    /// The tests (inline and from `file://` tests files), in order.
    public private(set) var tests: [EvalTestCase]
    /// `extensions`: `file:///abs/hooks.(py|js):function` references, called as `fn(hookName, context)`.
    public private(set) var extensions: [String] = []
    /// The suite's own Nunjucks filters (`nunjucksFilters:`/`filters:`): name → absolute `file://` path of the .js file.
    public private(set) var nunjucksFilters: [String: String] = [:]
    /// `derivedMetrics`: per column, computed from the summed named scores after the rows.
    public private(set) var derivedMetrics: [EvalDerivedMetric] = []
    /// `defaultTest`, when present.
    public private(set) var defaultTest: EvalTestCase?
    /// `evaluateOptions.repeat` (default 1).
    public var repeatCount: Int { max(1, Int(document["evaluateOptions"]?["repeat"]?.doubleValue ?? 1)) }
    /// The suite's `env:` (strings).
    public var env: [String: String] {
        var out: [String: String] = [:]
        for (k, v) in document["env"]?.objectValue?.pairs ?? [] { out[k] = v.jsDisplayString }
        return out
    }
    /// `description`.
    public var description: String? { document["description"]?.stringValue }
    /// Whether the suite names its providers (`providers:` / `targets:`); without them only `echo` is implied.
    public var hasExplicitProviders: Bool {
        let p = document["providers"] ?? document["targets"]
        return p != nil && !(p!.isNull) && !(p!.arrayValue?.isEmpty ?? false)
    }
    /// Whether every row has a recorded output (`providerOutput` on every test, or on `defaultTest`).
    public var allTestsRecorded: Bool {
        defaultTest?.providerOutput != nil || (!tests.isEmpty && tests.allSatisfy { $0.providerOutput != nil })
    }
    /// Warnings about accepted-but-ignored forms (file, line, key, reason).
    public private(set) var warnings: [EvalSuiteError]
    /// The text as loaded, and the tests appended since (while nothing else changed), so a save can keep comments.
    var originalText: String?
    var appendedSinceLoad: [JSONValue] = []

    /// Loads and checks a suite file. `allowedRoots`: the folders its `file://` references may read (nil: anywhere).
    public static func load(from url: URL, allowedRoots: [URL]? = nil) throws -> EvalSuite {
        let text: String
        do {
            let attrs = try FileManager.default.attributesOfItem(atPath: url.path)
            if let size = attrs[.size] as? Int, size > EvalYAML.Limits().maxBytes {
                throw EvalSuiteError(file: url.path, line: nil, key: "", reason: "file is \(size) bytes, more than the limit of \(EvalYAML.Limits().maxBytes)")
            }
            text = try String(contentsOf: url, encoding: .utf8)
        } catch let e as EvalSuiteError {
            throw e
        } catch {
            throw EvalSuiteError(file: url.path, line: nil, key: "", reason: "cannot read the suite: \(error.localizedDescription)")
        }
        return try parse(yaml: text, file: url, allowedRoots: allowedRoots)
    }

    /// Parses suite text as if read from `file` (whose folder anchors `file://` paths).
    /// - Parameter label: how errors name the file when it is not read from `file` (a suite from the history:
    ///   `refs/heads/main:evals/promptfooconfig.yaml`); `file` still anchors relative `file://` references.
    /// - Parameter allowedRoots: the folders its `file://` references may read (nil: anywhere).
    public static func parse(yaml: String, file: URL, label: String? = nil, allowedRoots: [URL]? = nil) throws -> EvalSuite {
        let doc = try EvalYAML.load(yaml, file: label ?? file.path)
        var suite = try EvalSuite(document: doc.value, lines: doc.lines, file: file, label: label, allowedRoots: allowedRoots)
        suite.originalText = yaml
        return suite
    }

    init(document value: JSONValue, lines: [String: Int], file: URL, label: String? = nil, allowedRoots: [URL]? = nil) throws {
        self.file = file
        self.name = label ?? file.path
        self.lines = lines
        let path = label ?? file.path
        guard case .object(let doc) = value else {
            throw EvalSuiteError(file: path, line: 1, key: "", reason: "a suite must be a YAML mapping (found \(value.isNull ? "an empty document" : "a \(EvalSuiteLoader.typeName(value))"))")
        }
        self.document = doc
        let loader = EvalSuiteLoader(file: path, lines: lines, base: file.deletingLastPathComponent(), allowedRoots: allowedRoots)
        // `$ref`s are resolved for reading; `document` keeps them as written.
        let resolved = try loader.resolveRefs(doc)
        try loader.checkTopLevel(resolved)
        let filters = try loader.nunjucksFilters(resolved)
        self.nunjucksFilters = filters
        let names = Set(filters.keys)
        self.prompts = try EvalSuiteLoader.$customFilterNames.withValue(names) { try loader.prompts(resolved["prompts"]) }
        self.providers = try loader.providers(resolved["providers"] ?? resolved["targets"], key: resolved["providers"] != nil ? "providers" : "targets")
        self.defaultTest = try EvalSuiteLoader.$customFilterNames.withValue(names) { try loader.defaultTest(resolved["defaultTest"]) }
        self.tests = try EvalSuiteLoader.$customFilterNames.withValue(names) { try loader.tests(resolved["tests"]) + loader.scenarios(resolved["scenarios"]) }
        self.derivedMetrics = try loader.derivedMetrics(resolved["derivedMetrics"])
        self.extensions = try loader.extensions(resolved["extensions"])
        try loader.checkProviders(providers, tests: tests, defaultTest: defaultTest)
        self.warnings = loader.warnings + (defaultTest?.warnings ?? []) + tests.flatMap(\.warnings)
    }

    /// A new suite with no tests (for `flywheel init`); `save()` writes it to `file`.
    public static func make(file: URL, description: String?, prompts: [String] = ["{{question}}"], providers: [String] = ["echo"]) throws -> EvalSuite {
        var o = JSONObject()
        if let description { o["description"] = .string(description) }
        o["prompts"] = .array(prompts.map(JSONValue.string))
        o["providers"] = .array(providers.map(JSONValue.string))
        o["tests"] = .array([])
        let text = EvalYAMLWriter.write(.object(o))
        return try parse(yaml: text, file: file)
    }

    // MARK: - Editing

    /// Appends a test unless one with the same id exists; returns whether it was added.
    @discardableResult
    public mutating func append(_ test: EvalTestCase) -> Bool {
        if tests.contains(where: { $0.id == test.id }) { return false }
        var arr = document["tests"]?.arrayValue ?? []
        if let s = document["tests"]?.stringValue { arr = [.string(s)] }
        arr.append(test.raw)
        document["tests"] = .array(arr)
        appendedSinceLoad.append(test.raw)
        var t = test
        t.sourceFile = name
        tests.append(t)
        return true
    }

    /// Removes the inline test with `id`, recording it and `reason` under `metadata.flywheel.removed`; returns the removed test.
    /// Tests that live in a `file://` tests file are not removed (nil).
    @discardableResult
    public mutating func remove(id: String, reason: String) -> EvalTestCase? {
        guard let idx = tests.firstIndex(where: { $0.id == id && $0.sourceFile == name }) else { return nil }
        let test = tests[idx]
        guard var arr = document["tests"]?.arrayValue, let at = arr.firstIndex(where: { $0.looselyEquals(test.raw) }) else { return nil }
        arr.remove(at: at)
        document["tests"] = .array(arr)
        originalText = nil
        tests.remove(at: idx)
        var md = document["metadata"]?.objectValue ?? JSONObject()
        var fw = md["flywheel"]?.objectValue ?? JSONObject()
        var removed = fw["removed"]?.arrayValue ?? []
        // The case itself is kept in the ledger, so the ratchet can keep an equivalent case (the same checks raised
        // again on a later run, under another id) out too.
        removed.append(.obj([("id", .string(id)), ("reason", .string(reason)), ("description", test.raw["description"] ?? .null), ("test", test.raw)]))
        fw["removed"] = .array(removed)
        md["flywheel"] = .object(fw)
        document["metadata"] = .object(md)
        return test
    }

    /// The suite as YAML. When the only edits since loading are appended tests and the file has a block `tests:` list,
    /// the new tests are spliced into the original text (comments and layout kept); otherwise the document is written
    /// anew with keys in their original order (comments are then lost).
    public func yamlText() -> String {
        if let original = originalText {
            if appendedSinceLoad.isEmpty { return original }
            if let spliced = EvalSuite.splice(original, appending: appendedSinceLoad),
               let check = try? EvalYAML.load(spliced, file: name).value, check.looselyEquals(.object(document)) {
                return spliced
            }
        }
        return EvalYAMLWriter.write(.object(document))
    }

    /// Inserts `tests` at the end of the top-level block `tests:` sequence of `text`; nil when there is none.
    static func splice(_ text: String, appending tests: [JSONValue]) -> String? {
        var lines = text.components(separatedBy: "\n")
        guard let start = lines.firstIndex(where: { $0.hasPrefix("tests:") && JSText.trim(String($0.dropFirst(6))).isEmpty || $0.hasPrefix("tests:") && JSText.trim(String($0.dropFirst(6))).hasPrefix("#") }) else {
            return nil
        }
        func isContent(_ l: String) -> Bool {
            let t = JSText.trim(l)
            return !t.isEmpty && !t.hasPrefix("#")
        }
        var end = start  // last content line of the block
        var indent: Int? = nil
        var i = start + 1
        while i < lines.count {
            let l = lines[i]
            if isContent(l) {
                let lead = l.prefix { $0 == " " }.count
                if lead == 0 && !l.hasPrefix("-") { break }
                if indent == nil {
                    guard l.dropFirst(lead).hasPrefix("-") else { return nil }
                    indent = lead
                }
                end = i
            }
            i += 1
        }
        guard let indent else { return nil }
        let pad = String(repeating: " ", count: indent)
        var block = EvalYAMLWriter.write(.array(tests))
        if block.hasSuffix("\n") { block.removeLast() }
        lines.insert(contentsOf: block.components(separatedBy: "\n").map { $0.isEmpty ? $0 : pad + $0 }, at: end + 1)
        return lines.joined(separator: "\n")
    }

    /// Writes `yamlText()` to `url` (default: the suite file).
    public func save(to url: URL? = nil) throws {
        try Data(yamlText().utf8).write(to: url ?? file, options: .atomic)
    }

    // MARK: - Rows

    /// A test merged with `defaultTest` (§1): vars, assert, threshold, options, metadata.
    public func merged(_ t: EvalTestCase) -> (raw: JSONValue, vars: JSONObject, assertions: [EvalAssertion], threshold: Double?, metadata: JSONObject, options: JSONObject) {
        guard let d = defaultTest else { return (t.raw, t.vars, t.assertions, t.threshold, t.metadata, t.options) }
        var vars = d.vars
        for (k, v) in t.vars.pairs { vars[k] = v }
        var md = d.metadata
        for (k, v) in t.metadata.pairs { md[k] = v }
        var opts = d.options
        for (k, v) in t.options.pairs { opts[k] = v }
        let asserts = d.assertions + t.assertions
        let threshold = t.raw["threshold"] != nil ? t.threshold : d.threshold
        var raw = t.raw.objectValue ?? JSONObject()
        if !vars.isEmpty { raw["vars"] = .object(vars) }
        raw["assert"] = .array(asserts.map(\.raw))
        if !opts.isEmpty || raw["options"] != nil { raw["options"] = .object(opts) }
        if !md.isEmpty { raw["metadata"] = .object(md) }
        if let th = threshold { raw["threshold"] = .number(th) }
        for k in ["provider", "providers", "prompts"] where raw[k] == nil && d.raw[k] != nil { raw[k] = d.raw[k] }
        return (.object(raw), vars, asserts, threshold, md, opts)
    }

    /// Promptfoo's var expansion: a var holding an array of strings gives one combination per element
    /// (cartesian product over several such vars); other arrays stay whole.
    public static func expand(_ vars: JSONObject, disabled: Bool = false) -> [JSONObject] {
        if disabled { return [vars] }
        var combos: [JSONObject] = [JSONObject()]
        for (k, v) in vars.pairs {
            if let arr = v.arrayValue, !arr.isEmpty, arr.allSatisfy({ $0.stringValue != nil }) {
                combos = combos.flatMap { c in arr.map { x in var c2 = c; c2[k] = x; return c2 } }
            } else {
                combos = combos.map { c in var c2 = c; c2[k] = v; return c2 }
            }
        }
        return combos
    }
}
