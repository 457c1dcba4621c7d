import Flywheel
import FlywheelSupport
import FlywheelTraces
import Foundation
import Testing
import TestSupport

/// The real OpenTelemetry Python SDK and its OTLP/HTTP protobuf exporter (PyPI, in a venv made by
/// Tests/scripts/otel-venv.sh) as a peer. Skipped, with the reason, when the venv cannot be made (no PyPI).
enum OTelPeer {
    static let venv: URL? = {
        let script = TestPaths.packageRoot.appendingPathComponent("Tests/scripts/otel-venv.sh")
        guard let r = try? runProcess(URL(fileURLWithPath: "/bin/sh"), [script.path], timeout: 600), r.status == 0 else {
            print("OTel peer test skipped: Tests/scripts/otel-venv.sh could not create the venv (PyPI unreachable?)")
            return nil
        }
        return URL(fileURLWithPath: r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    }()
    static var available: Bool { venv != nil }
}

@Suite("Traces: the OpenTelemetry Python exporter as a live peer", .serialized, .enabled(if: OTelPeer.available, "OTel venv unavailable (no PyPI); see Tests/scripts/otel-venv.sh"))
struct TracesOTelPeerTests {
    @Test("OTLP/HTTP protobuf with gzip and a bearer token: every span lands with ids, names, times, status and attributes")
    func pythonExporter() async throws {
        let history = try openCycleHistory("receiver-otel-peer")
        final class Lines: @unchecked Sendable {
            let lock = NSLock()
            var all: [String] = []
            func add(_ s: String) { lock.withLock { all.append(s) } }
        }
        let lines = Lines()
        let receiver = TraceReceiver(
            history: history, redactor: try TraceStage.redactor(config: nil), port: 0, token: "peer-token-1", log: { lines.add($0) })
        try await receiver.start()
        let port = try #require(await receiver.port)
        let python = try #require(OTelPeer.venv).appendingPathComponent("bin/python")
        let script = TestPaths.packageRoot.appendingPathComponent("Tests/scripts/otel_send_spans.py")
        let r = try await Task.detached {
            try runProcess(python, [script.path, "http://127.0.0.1:\(port)/v1/traces", "peer-token-1"], timeout: 120)
        }.value
        #expect(r.status == 0, "exporter failed: \(r.stderr.suffix(2000))")
        await receiver.stop()
        #expect(lines.lock.withLock { lines.all.contains { $0.contains("from POST /v1/traces (protobuf, gzip)") } }, "\(lines.all)")
        let sent = try JSONValue.parse(r.stdout)
        #expect(sent.objectValue?["result"] == .string("SUCCESS"))
        let spans = try #require(sent.objectValue?["spans"]?.arrayValue)
        #expect(spans.count == 3)
        let stored = try #require(try storedTraces(history))
        let got = try stored.split(separator: "\n").map { try Span(line: String($0)) }
        #expect(got.count == spans.count)
        for s in spans {
            let o = try #require(s.objectValue)
            let id = try #require(o["span_id"]?.stringValue)
            let g = try #require(got.first { $0.spanID == id }, "span \(id) missing")
            #expect(g.traceID == o["trace_id"]?.stringValue)
            #expect(g.parentSpanID == o["parent_span_id"]?.stringValue)
            #expect(g.name == o["name"]?.stringValue)
            #expect(TraceTime.parse(g.startTime) == o["start"]?.intValue)
            #expect(TraceTime.parse(g.endTime) == o["end"]?.intValue)
            #expect(g.status.code == "STATUS_CODE_" + (o["status"]?.stringValue ?? ""))
            #expect(g.status.message == o["status_message"]?.stringValue)
            #expect(g.resourceAttributes["service.name"] == .string("python-peer"))
            #expect(g.scope == SpanScope(name: "peer.scope", version: "0.9.1"))
            for (k, v) in o["attributes"]?.objectValue ?? [:] {
                #expect(g.attributes[k] == v, "\(g.name): \(k)")
            }
        }
        let t = try #require(try TraceStore(data: Data(stored.utf8)).traces.first)
        #expect(t.inputTokens == 321)
        #expect(t.outputTokens == 45)
        #expect(t.modelNames == ["gpt-4o-mini"])
        #expect(t.agentNames == ["helpdesk"])
        #expect(t.toolErrorSpanCount == 1)
    }
}
