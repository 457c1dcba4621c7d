import Foundation
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelSupport

/// Paths of the trace fixtures copied into the test folder.
enum TraceFixtures {
    static let dir = TestPaths.packageRoot.appendingPathComponent("Tests/FlywheelTests/Fixtures/Traces")
    static func url(_ name: String) -> URL { dir.appendingPathComponent(name) }
    static func data(_ name: String) throws -> Data { try Data(contentsOf: url(name)) }
    static let validFiles = [
        "spec_examples.jsonl", "gen_small_3traces.jsonl", "agents_sdk_offline_custom.jsonl",
        "agents_sdk_offline_mock.jsonl", "agents_sdk_offline_demo_tracing.jsonl",
    ]
    static let sdkFiles = [
        "agents_sdk_offline_custom.jsonl", "agents_sdk_offline_mock.jsonl", "agents_sdk_offline_demo_tracing.jsonl",
    ]

    /// Non-empty lines of a file as byte arrays.
    static func lines(_ data: Data) -> [[UInt8]] {
        data.split(separator: 0x0A, omittingEmptySubsequences: true).map { Array($0) }
    }

    /// Runs `gen_spans.py` (copied beside the fixtures) into `out`.
    static func generate(_ out: URL, _ args: [String]) throws {
        let r = try runTool("python3", [url("tools/gen_spans.py").path, out.path] + args, timeout: 300)
        guard r.status == 0 else { throw GenError(message: r.stderr) }
    }

    struct GenError: Error { var message: String }
}

/// The top-level keys of a JSON object line, in order, read with the byte scanner.
func topLevelKeys(_ line: [UInt8]) throws -> [String] {
    try objectKeys(line, path: [])
}

/// The keys of the object at `path` (a list of keys from the top) in order.
func objectKeys(_ line: [UInt8], path: [String]) throws -> [String] {
    try line.withUnsafeBytes { buf in
        var s = JSONScanner(buf)
        var remaining = path[...]
        while true {
            s.skipWhitespace()
            #expect(s.pos < buf.count && buf[s.pos] == UInt8(ascii: "{"))
            s.pos += 1
            var keys: [String] = []
            var descended = false
            s.skipWhitespace()
            if buf[s.pos] == UInt8(ascii: "}") { return keys }
            while true {
                s.skipWhitespace()
                let k = try s.parseString()
                try s.expectColon()
                if let want = remaining.first, k == want {
                    remaining = remaining.dropFirst()
                    descended = true
                    break
                }
                keys.append(k)
                try s.skipValue()
                s.skipWhitespace()
                let c = buf[s.pos]
                s.pos += 1
                if c == UInt8(ascii: "}") { break }
            }
            if !descended { return keys }
        }
    }
}
