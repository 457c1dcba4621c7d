import Foundation

/// A Python script run as a loopback server by a test: it must print its port on the first line of stdout.
/// Stopped with SIGKILL (children of test threads may inherit a mask that blocks SIGTERM), at the latest on deinit.
public final class PythonServer: @unchecked Sendable {
    /// The port the script reported.
    public let port: Int
    private let process: Process

    /// Writes `script` to `folder/server.py` and runs `python3 -u server.py arguments…`.
    /// - Throws: when Python cannot start or does not report its port within 10 seconds.
    public init(script: String, arguments: [String], in folder: URL) throws {
        let scriptFile = folder.appendingPathComponent("server.py")
        try script.write(to: scriptFile, atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-u", scriptFile.path] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        var text = ""
        let deadline = Date().addingTimeInterval(10)
        while !text.contains("\n") && Date() < deadline {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        guard let line = text.split(separator: "\n").first, let port = Int(line.trimmingCharacters(in: .whitespaces)) else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "test server did not start: \(text)"])
        }
        self.port = port
    }

    deinit { stop() }

    /// Stops the server and waits for it to exit. Idempotent.
    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}
