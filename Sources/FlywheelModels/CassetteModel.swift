import FlywheelSupport
import Foundation

/// Record/replay for chat models: records real responses into a JSONL cassette file, keyed by the
/// SHA-256 of the request's canonical JSON, and serves them back offline.
///
/// File format: one JSON object per line, keys sorted:
/// `{"hash": "<sha256>", "label": "…", "model_id": "openai:…", "request": {…}, "response": {…}, "simulation": false}`. Later lines win
/// over earlier ones with the same hash. The API key is never part of a request, so never recorded.
///
/// Thread-safe: the recordings and file appends are guarded by a lock.
public final class CassetteModel: ChatModel, @unchecked Sendable {
    /// How the cassette treats a request.
    public enum Mode: String, Sendable, Hashable, Codable {
        /// Always call the wrapped model and record (or re-record) its response.
        case record
        /// Serve recordings only; a request with none is `ModelError(.cassetteMiss)`.
        case replay
        /// Serve a recording when there is one, otherwise call the wrapped model and record.
        case replayOrRecord
    }

    /// The cassette file.
    public let file: URL
    /// The mode.
    public let mode: Mode
    private let wrapped: (any ChatModel)?
    private let lock = NSLock()
    // Guarded by `lock`.
    private var recordings: [String: Entry]
    private var recordedModelID: String?
    private var recordedLabel: String?
    private var recordedSimulation: Bool?

    /// A cassette over `file`.
    /// - Parameters:
    ///   - wrapped: the real model; required unless `mode` is `.replay`.
    ///   - file: the JSONL cassette (created on first recording; a missing file replays nothing).
    ///   - mode: record, replay, or replay-or-record.
    /// - Throws: `ModelError(.configuration)` when the file cannot be read, a line is not a valid
    ///   recording (naming the file and line), or a recording mode has no model to wrap.
    public init(wrapping wrapped: (any ChatModel)?, file: URL, mode: Mode) throws(ModelError) {
        if mode != .replay && wrapped == nil {
            throw ModelError(.configuration, "cassette \(file.path): mode \(mode.rawValue) needs a model to record from")
        }
        self.wrapped = wrapped
        self.file = file
        self.mode = mode
        recordings = try Self.load(file)
        let first = recordings.values.min { $0.hash < $1.hash }
        (recordedModelID, recordedLabel, recordedSimulation) = (first?.modelID, first?.label, first?.simulation)
    }

    /// The wrapped model's id, else the id recorded in the cassette, else `cassette`.
    public var id: String { wrapped?.id ?? lock.withLock { recordedModelID } ?? "cassette" }
    /// The wrapped (or recorded) model's label, saying it is served from a cassette when replaying.
    public var label: String {
        let base = wrapped?.label ?? lock.withLock { recordedLabel } ?? id
        return mode == .record ? base : "\(base) (cassette replay: \(file.lastPathComponent))"
    }
    /// The wrapped model's flag, else the recorded one: replaying a simulation is still a simulation.
    public var isSimulation: Bool { wrapped?.isSimulation ?? lock.withLock { recordedSimulation } ?? false }
    /// Number of distinct recorded requests.
    public var count: Int { lock.withLock { recordings.count } }

    /// Answers from the cassette or the wrapped model, as `mode` says.
    /// - Parameter request: the chat.
    /// - Returns: the recorded (identical) or fresh response.
    /// - Throws: `ModelError(.cassetteMiss)` naming the request (model, last message excerpt, hash);
    ///   the wrapped model's errors (not recorded); `.configuration` if the cassette cannot be written.
    public func complete(_ request: ChatRequest) throws -> ChatResponse {
        let hash = Self.requestHash(request)
        if mode != .record, let hit = lock.withLock({ recordings[hash] }) { return hit.response }
        guard mode != .replay, let wrapped else { throw miss(request, hash) }
        let response = try wrapped.complete(request)
        let entry = Entry(
            hash: hash, modelID: wrapped.id, label: wrapped.label, simulation: wrapped.isSimulation, request: request,
            response: response)
        lock.lock()
        defer { lock.unlock() }
        try append(entry)
        recordings[hash] = entry
        recordedModelID = recordedModelID ?? wrapped.id
        recordedLabel = recordedLabel ?? wrapped.label
        recordedSimulation = recordedSimulation ?? wrapped.isSimulation
        return response
    }

    /// The canonical JSON text of a request (sorted keys, compact), the text that is hashed.
    public static func canonicalJSON(_ request: ChatRequest) -> String {
        guard let data = try? JSONEncoder().encode(request), let json = try? JSONValue.parse(data) else {
            return String(describing: request)
        }
        return json.canonicalText
    }

    /// The SHA-256 (hex) of the request's canonical JSON: the cassette key.
    public static func requestHash(_ request: ChatRequest) -> String { SHA256.hex(canonicalJSON(request)) }

    // MARK: - Internals

    struct Entry: Codable {
        var hash: String
        var modelID: String
        /// The recorded model's label and simulation flag (absent in early cassettes).
        var label: String?
        var simulation: Bool?
        var request: ChatRequest
        var response: ChatResponse

        enum CodingKeys: String, CodingKey {
            case hash, label, simulation, request, response
            case modelID = "model_id"
        }
    }

    private func miss(_ request: ChatRequest, _ hash: String) -> ModelError {
        var last = "no messages"
        if let m = request.messages.last {
            let text = (m.content ?? m.toolCalls.map { "\($0.name)(\($0.arguments))" }.joined(separator: ", "))
                .replacingOccurrences(of: "\n", with: " ")
            last = "\(m.role.rawValue): \"\(Excerpt.clip(text, 80))\""
        }
        let n = lock.withLock { recordings.count }
        return ModelError(
            .cassetteMiss,
            "no recording for request \(hash) (model \(request.model.isEmpty ? "(default)" : request.model), "
                + "\(request.messages.count) messages, last \(last)) in cassette \(file.path) "
                + "(\(n) recordings); record it with mode record")
    }

    private func append(_ entry: Entry) throws(ModelError) {
        do {
            let json = try JSONValue.parse(try JSONEncoder().encode(entry))
            let line = Data((json.canonicalText + "\n").utf8)
            let fm = FileManager.default
            try fm.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            if !fm.fileExists(atPath: file.path) { _ = fm.createFile(atPath: file.path, contents: nil) }
            let handle = try FileHandle(forWritingTo: file)
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: line)
        } catch {
            throw ModelError(.configuration, "cannot write cassette \(file.path): \(error)")
        }
    }

    private static func load(_ file: URL) throws(ModelError) -> [String: Entry] {
        guard FileManager.default.fileExists(atPath: file.path) else { return [:] }
        let data: Data
        do {
            data = try Data(contentsOf: file)
        } catch {
            throw ModelError(.configuration, "cannot read cassette \(file.path): \(error.localizedDescription)")
        }
        var entries: [String: Entry] = [:]
        let decoder = JSONDecoder()
        for (index, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            if line.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
            do {
                let entry = try decoder.decode(Entry.self, from: Data(line))
                entries[entry.hash] = entry
            } catch {
                throw ModelError(
                    .configuration, "cassette \(file.path) line \(index + 1): not a recording (\(Self.reason(error)))")
            }
        }
        return entries
    }

    private static func reason(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, _)?: return "missing field \(key.stringValue)"
        case .typeMismatch(_, let c)?, .valueNotFound(_, let c)?:
            return "bad field \(c.codingPath.map(\.stringValue).joined(separator: "."))"
        case .dataCorrupted(let c)?:
            let path = c.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? "invalid JSON" : "bad field \(path)"
        default: return "\(error)"
        }
    }
}
