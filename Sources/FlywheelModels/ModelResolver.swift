import FlywheelSupport
import Foundation

/// Turns model names from configuration into models.
///
/// Built in: `openai:NAME` → `OpenAICompatibleModel(model: NAME)` with `OPENAI_BASE_URL` and
/// `OPENAI_API_KEY` from `environment`. Other names (a program's own models, such as the embedded example's
/// simulation) are added with `register(_:_:)`; prefixes with `register(prefix:_:)`.
public struct ModelResolver: Sendable {
    /// Makes a model from its full name.
    public typealias Factory = @Sendable (_ name: String) throws -> any ChatModel

    /// Where `openai:` models read `OPENAI_BASE_URL` and `OPENAI_API_KEY`.
    public var environment: [String: String]
    /// Attempt limit of `openai:` models, seconds.
    public var timeout: Double
    /// Retries of `openai:` models.
    public var maxRetries: Int
    private var named: [String: Factory] = [:]
    private var prefixed: [String: Factory] = [:]

    /// A resolver.
    /// - Parameters:
    ///   - environment: source of the OpenAI defaults (default: the process environment).
    ///   - timeout: per-attempt limit for `openai:` models (default 120 s).
    ///   - maxRetries: retries for `openai:` models (default 3).
    public init(
        environment: [String: String] = ProcessInfo.processInfo.environment, timeout: Double = 120, maxRetries: Int = 3
    ) {
        self.environment = environment
        self.timeout = timeout
        self.maxRetries = maxRetries
    }

    /// Registers an exact name (e.g. `offline-example`); replaces an earlier registration.
    /// - Parameters:
    ///   - name: the full model name.
    ///   - factory: makes the model; receives the name.
    public mutating func register(_ name: String, _ factory: @escaping Factory) { named[name] = factory }

    /// Registers a provider prefix (e.g. `ollama:`); the factory receives the full name. `openai:` is built in
    /// but can be replaced.
    /// - Parameters:
    ///   - prefix: the prefix including its colon.
    ///   - factory: makes the model.
    public mutating func register(prefix: String, _ factory: @escaping Factory) { prefixed[prefix] = factory }

    /// The registered exact names and prefixes (prefixes end in `:`), sorted.
    var knownNames: [String] { (Array(named.keys) + Array(prefixed.keys) + ["openai:"]).uniqued().sorted() }

    /// The model `name` selects.
    /// - Parameter name: e.g. `openai:gpt-4.1-mini`, `offline-example`.
    /// - Returns: the model.
    /// - Throws: `ModelError(.configuration)` for an unknown or malformed name, the reserved
    ///   or what a factory throws (wrapped as `.configuration`
    ///   unless it already is a `ModelError`).
    public func resolve(_ name: String) throws(ModelError) -> any ChatModel {
        let name = name.trimmingCharacters(in: .whitespaces)
        if let factory = named[name] { return try Self.run(factory, name) }
        if let prefix = prefixed.keys.filter({ name.hasPrefix($0) }).max(by: { $0.count < $1.count }) {
            return try Self.run(prefixed[prefix]!, name)
        }
        if name.hasPrefix("openai:") {
            let model = String(name.dropFirst("openai:".count))
            guard !model.isEmpty else { throw ModelError(.configuration, "model name \"\(name)\" has no model after openai:") }
            return OpenAICompatibleModel(model: model, timeout: timeout, maxRetries: maxRetries, environment: environment)
        }
        let hint = name.contains(":") ? "" : " (for an OpenAI-compatible endpoint write openai:\(name))"
        throw ModelError(
            .configuration,
            "unknown model \"\(name)\"\(hint); known: \(knownNames.joined(separator: ", "))")
    }

    /// The model `name` selects, wrapped in a cassette when `cassette` is given.
    /// - Parameters:
    ///   - name: the model name.
    ///   - cassette: a cassette file, or nil for none.
    ///   - mode: the cassette mode. In `.replay` mode the named model is still resolved (for its id
    ///     and label) but never called.
    /// - Returns: the model.
    /// - Throws: `ModelError(.configuration)` as `resolve(_:)` and `CassetteModel.init` do.
    public func resolve(_ name: String, cassette: URL?, mode: CassetteModel.Mode) throws(ModelError) -> any ChatModel {
        let model = try resolve(name)
        guard let cassette else { return model }
        return try CassetteModel(wrapping: model, file: cassette, mode: mode)
    }

    private static func run(_ factory: Factory, _ name: String) throws(ModelError) -> any ChatModel {
        do {
            return try factory(name)
        } catch let error as ModelError {
            throw error
        } catch {
            throw ModelError(.configuration, "cannot create model \(name): \(error)")
        }
    }
}
