import FlywheelSupport
import Foundation

/// One model behind chat completions with tool calls and JSON output. Implementations: the
/// OpenAI-compatible client over libcurl, the record/replay cassette, and the offline example model.
///
/// Synchronous on purpose: the agent loop is sequential and libcurl's easy handle blocks; a caller that
/// wants concurrency runs several models on several threads, each confined to its own.
public protocol ChatModel: Sendable {
    /// The name the loop knows it by, e.g. `openai:gpt-4.1-mini` or `offline-example`.
    var id: String { get }
    /// What to show in traces, the site and the handoff; a simulation says so.
    var label: String { get }
    /// True for the offline example model (it is labelled as a simulation wherever it appears).
    var isSimulation: Bool { get }
    /// Runs one chat completion.
    /// - Throws: `ModelError` with what went wrong (transport, HTTP status with the server's message, bad JSON, …).
    func complete(_ request: ChatRequest) throws -> ChatResponse
}

/// A message of a chat.
public struct ChatMessage: Sendable, Hashable, Codable {
    public enum Role: String, Sendable, Hashable, Codable { case system, user, assistant, tool }
    public var role: Role
    /// Text content (nil for an assistant message that only calls tools).
    public var content: String?
    /// Tool calls an assistant message makes.
    public var toolCalls: [ToolCall]
    /// For a `tool` message: the id of the call it answers.
    public var toolCallID: String?
    /// For a `tool` message: the tool's name.
    public var name: String?

    public init(role: Role, content: String?, toolCalls: [ToolCall] = [], toolCallID: String? = nil, name: String? = nil) {
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
        self.toolCallID = toolCallID
        self.name = name
    }

    public static func system(_ text: String) -> ChatMessage { ChatMessage(role: .system, content: text) }
    public static func user(_ text: String) -> ChatMessage { ChatMessage(role: .user, content: text) }
    public static func assistant(_ text: String?, toolCalls: [ToolCall] = []) -> ChatMessage {
        ChatMessage(role: .assistant, content: text, toolCalls: toolCalls)
    }
    public static func tool(callID: String, name: String, content: String) -> ChatMessage {
        ChatMessage(role: .tool, content: content, toolCallID: callID, name: name)
    }
}

/// A function call requested by the model.
public struct ToolCall: Sendable, Hashable, Codable {
    public var id: String
    public var name: String
    /// The arguments as JSON text, exactly as the model produced them (may be invalid JSON).
    public var arguments: String

    public init(id: String, name: String, arguments: String) {
        self.id = id
        self.name = name
        self.arguments = arguments
    }
}

/// A tool the model may call.
public struct ToolDefinition: Sendable, Hashable, Codable {
    public var name: String
    public var description: String
    /// JSON Schema of the arguments.
    public var parameters: JSONValue

    public init(name: String, description: String, parameters: JSONValue) {
        self.name = name
        self.description = description
        self.parameters = parameters
    }
}

/// Whether and which tool the model must call.
public enum ToolChoice: Sendable, Hashable, Codable {
    case auto, none, required
    case function(String)
}

/// The shape of the answer.
public enum ResponseFormat: Sendable, Hashable, Codable {
    case text
    case jsonObject
    /// Structured output validated against `schema` (OpenAI's `json_schema` response format).
    case jsonSchema(name: String, schema: JSONValue, strict: Bool)
}

/// One chat-completions request.
public struct ChatRequest: Sendable, Hashable, Codable {
    /// The provider-side model name (without the `openai:` prefix).
    public var model: String
    public var messages: [ChatMessage]
    public var tools: [ToolDefinition]
    public var toolChoice: ToolChoice?
    public var responseFormat: ResponseFormat?
    public var temperature: Double?
    public var maxTokens: Int?
    public var seed: Int?

    public init(
        model: String, messages: [ChatMessage], tools: [ToolDefinition] = [], toolChoice: ToolChoice? = nil,
        responseFormat: ResponseFormat? = nil, temperature: Double? = nil, maxTokens: Int? = nil, seed: Int? = nil
    ) {
        self.model = model
        self.messages = messages
        self.tools = tools
        self.toolChoice = toolChoice
        self.responseFormat = responseFormat
        self.temperature = temperature
        self.maxTokens = maxTokens
        self.seed = seed
    }
}

/// Token counts.
public struct Usage: Sendable, Hashable, Codable {
    public var promptTokens: Int
    public var completionTokens: Int
    public var totalTokens: Int { promptTokens + completionTokens }

    public init(promptTokens: Int, completionTokens: Int) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
    }
}

/// One chat-completions answer.
public struct ChatResponse: Sendable, Hashable, Codable {
    /// The assistant's message (text and/or tool calls).
    public var message: ChatMessage
    /// `stop`, `tool_calls`, `length`, `content_filter`, …
    public var finishReason: String
    public var usage: Usage
    /// Wall time of the call, milliseconds.
    public var latencyMs: Double
    /// Estimated cost in US dollars, when the price of the model is known.
    public var costUSD: Double?
    /// The model name the server reported.
    public var model: String

    public init(message: ChatMessage, finishReason: String, usage: Usage, latencyMs: Double, costUSD: Double? = nil, model: String) {
        self.message = message
        self.finishReason = finishReason
        self.usage = usage
        self.latencyMs = latencyMs
        self.costUSD = costUSD
        self.model = model
    }
}

/// What went wrong talking to a model.
public struct ModelError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// Could not connect, timed out, reset (curl's errors).
        case transport
        /// The server answered with an HTTP error status.
        case http
        /// The body was not the JSON we expected.
        case invalidResponse
        /// The body exceeded the size limit.
        case responseTooLarge
        /// A cassette has no recording for this request.
        case cassetteMiss
        /// Misconfiguration: unknown model name, missing base URL, …
        case configuration
    }
    public var kind: Kind
    /// HTTP status, when there was one.
    public var status: Int?
    public var message: String

    public init(_ kind: Kind, status: Int? = nil, _ message: String) {
        self.kind = kind
        self.status = status
        self.message = message
    }

    public var description: String {
        if let status { return "model \(kind.rawValue) error (HTTP \(status)): \(message)" }
        return "model \(kind.rawValue) error: \(message)"
    }
}
