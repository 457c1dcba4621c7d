import Foundation
import FlywheelModels

/// The loop's stages that may use a model.
public enum ModelStage: String, Sendable, CaseIterable {
    case agent, critic, evalGeneration = "eval_generation", judge, diagnosis
}

extension LoopContext {
    /// The resolver of this loop: `openai:NAME` (OpenAI-compatible over libcurl, `OPENAI_BASE_URL`/`OPENAI_API_KEY`)
    /// and the models the program's plugins add.
    public func modelResolver(seed: UInt64 = 1) -> ModelResolver {
        var resolver = ModelResolver(environment: environment)
        for (name, factory) in plugins.models { resolver.register(name) { _ in factory(seed) } }
        return resolver
    }

    /// The model name configured for `stage` (`override` wins for the agent), nil when the stage runs deterministic only.
    public func modelName(for stage: ModelStage, override: String? = nil) -> String? {
        if let override, !override.isEmpty { return override }
        let m = config.models
        let name: String?
        switch stage {
        case .agent: name = m.agent
        case .critic: name = m.critic
        case .evalGeneration: name = m.evalGeneration
        case .judge: name = m.judge
        case .diagnosis: name = m.diagnosis
        }
        guard let name, !name.isEmpty, name != "none", name != "null" else { return nil }
        return name
    }

    /// The model of `stage`, or nil when none is configured. A model that only plays an agent (a plugin's simulation)
    /// is refused for the other stages with a clear message.
    public func model(for stage: ModelStage, override: String? = nil, cassette: URL? = nil, cassetteMode: CassetteModel.Mode = .replayOrRecord, seed: UInt64 = 1) throws -> (any ChatModel)? {
        guard let name = modelName(for: stage, override: override) else { return nil }
        if stage != .agent, plugins.agentOnlyModels.contains(name) {
            throw ConfigError(file: Layout.loopConfig, line: nil, field: "models.\(stage.rawValue)",
                              reason: "\(name) only plays an agent; use openai:NAME or leave \(stage.rawValue) empty")
        }
        do {
            var resolver = modelResolver(seed: seed)
            // A stage's own endpoint (loop.yaml `models.<stage>: {model, base_url, api_key_env, …}`), unless the agent's
            // model was overridden on the command line.
            if let endpoint = config.models.endpoints[stage.rawValue], override == nil || override == endpoint.model {
                if let url = endpoint.baseURL { resolver.environment["OPENAI_BASE_URL"] = url }
                if let variable = endpoint.apiKeyEnv {
                    guard let key = environment[variable], !key.isEmpty else {
                        throw ConfigError(file: Layout.loopConfig, line: nil, field: "models.\(stage.rawValue).api_key_env",
                                          reason: "the environment variable \(variable) is not set")
                    }
                    resolver.environment["OPENAI_API_KEY"] = key
                }
                if let t = endpoint.timeout { resolver.timeout = t }
                if let r = endpoint.maxRetries { resolver.maxRetries = r }
            }
            return try resolver.resolve(name, cassette: cassette, mode: cassetteMode)
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError(file: Layout.loopConfig, line: nil, field: "models.\(stage.rawValue)", reason: "\(error)")
        }
    }
}
