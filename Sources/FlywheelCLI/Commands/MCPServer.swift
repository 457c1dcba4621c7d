import ArgumentParser
import Flywheel
import FlywheelSupport
import Foundation
import MCP

/// `flywheel mcp`: a Model Context Protocol server on stdio (modelcontextprotocol/swift-sdk) serving the loop's
/// read-only tools (`LoopTools`): HALO's trace tools over any cycle, and the history.
struct MCPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Serve the traces and the history to a coding agent over MCP (stdio), read-only.",
        discussion: "Tools: \(LoopTools.definitions.map(\.name).joined(separator: ", ")). Configure it in Codex CLI or Claude Code as a stdio server running `flywheel mcp --repo PATH`.")

    @OptionGroup var repoOptions: RepoOptions

    func run() async throws {
        let tools = LoopTools(history: try repoOptions.workspace().history)
        let server = Server(
            name: "flywheel", version: "0.2.0",
            instructions: "Read-only access to a Flywheel loop history: traces of every cycle (HALO's tools), eval results, harness diffs, diagnosis, handoff and recommendation outcomes.",
            capabilities: .init(tools: .init(listChanged: false)))
        let listed = try LoopTools.definitions.map { d in
            Tool(name: d.name, description: d.description, inputSchema: try MCPValues.value(d.inputSchema), annotations: .init(readOnlyHint: true))
        }
        await server.withMethodHandler(ListTools.self) { _ in .init(tools: listed) }
        await server.withMethodHandler(CallTool.self) { params in
            do {
                let arguments = try MCPValues.json(.object(params.arguments ?? [:]))
                let text = try tools.call(params.name, arguments: arguments)
                return .init(content: [.text(text: text, annotations: nil, _meta: nil)], isError: false)
            } catch {
                return .init(content: [.text(text: "\(error)", annotations: nil, _meta: nil)], isError: true)
            }
        }
        try await server.start(transport: StdioTransport())
        await server.waitUntilCompleted()
    }
}

/// MCP's `Value` and Flywheel's `JSONValue` are both plain JSON: converted through their JSON encodings.
enum MCPValues {
    static func value(_ json: JSONValue) throws -> Value {
        try JSONDecoder().decode(Value.self, from: Data(json.canonicalText.utf8))
    }

    static func json(_ value: Value) throws -> JSONValue {
        try JSONValue.parse(try JSONEncoder().encode(value))
    }
}
