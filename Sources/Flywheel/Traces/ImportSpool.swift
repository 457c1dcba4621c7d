import Dispatch
import Foundation

/// Holds import's normalized output between the pass that makes it and the object stream that stores it (which needs
/// the total size before its first byte): pieces are kept in memory up to `memoryBytes`, the rest is appended to an
/// unlinked temporary file (so nothing is left behind whatever happens to the process) and read back in bounded
/// pieces. The file is written on a queue of its own, one group of pieces (``append(_:)``'s call) at a time, so the
/// caller makes the next group meanwhile. Memory stays at `memoryBytes` plus one group being written and one read
/// buffer whatever the output's size; an output that fits is never written to disk. Not thread-safe: one caller
/// at a time (the queue only ever touches the file and `writeError`).
final class ImportSpool: @unchecked Sendable {
    /// Bytes appended so far.
    private(set) var byteCount = 0
    private let memoryBytes: Int
    private var kept: [[UInt8]] = []
    private var keptBytes = 0
    /// The temporary file (opened at the first piece past the memory budget), already unlinked.
    private var fd: Int32 = -1
    private var fileBytes = 0
    private let queue = DispatchQueue(label: "flywheel.import-spool")
    /// The first failed write (set and read on `queue` only).
    private var writeError: ImportSpoolError?
    /// Bytes read back from the file per call of the drain's body.
    static let readBytes = 4 << 20

    init(memoryBytes: Int) throws {
        self.memoryBytes = max(0, memoryBytes)
    }

    deinit {
        queue.sync {}
        if fd >= 0 { close(fd) }
    }

    /// Appends `pieces` in order, each in memory while the budget allows, else to the file; the file writes happen on
    /// the spool's queue once the previous call's are done (a failure is thrown by a later call or ``drain(_:)``).
    func append(_ pieces: [[UInt8]]) throws {
        try finishWrites()
        var toFile: [[UInt8]] = []
        for piece in pieces where !piece.isEmpty {
            if fd < 0, keptBytes + piece.count <= memoryBytes {
                kept.append(piece)
                keptBytes += piece.count
            } else {
                if fd < 0 { try openFile() }
                toFile.append(piece)
                fileBytes += piece.count
            }
            byteCount += piece.count
        }
        guard !toFile.isEmpty else { return }
        let fd = fd
        queue.async { [self, toFile] in
            guard writeError == nil else { return }
            do { for piece in toFile { try Self.write(piece, to: fd) } } catch { writeError = error as? ImportSpoolError }
        }
    }

    /// Waits for the file writes under way; throws the first that failed.
    private func finishWrites() throws {
        if let error = queue.sync(execute: { writeError }) { throw error }
    }

    private static func write(_ piece: [UInt8], to fd: Int32) throws {
        try piece.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { throw ImportSpoolError.io("write", reason(errno)) }
                done += n
            }
        }
    }

    /// Hands every byte appended, in order, to `body`: the pieces kept in memory (each freed once handed over),
    /// then the file's bytes in pieces of ``readBytes``.
    func drain(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        try finishWrites()
        while !kept.isEmpty {
            let piece = kept.removeFirst()
            keptBytes -= piece.count
            try piece.withUnsafeBytes { try body($0) }
        }
        guard fd >= 0, fileBytes > 0 else { return }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: min(Self.readBytes, fileBytes), alignment: 16)
        defer { buffer.deallocate() }
        var offset = 0
        while offset < fileBytes {
            let n = pread(fd, buffer.baseAddress!, min(buffer.count, fileBytes - offset), off_t(offset))
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw ImportSpoolError.io("read", n == 0 ? "the file ended early" : Self.reason(errno)) }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            offset += n
        }
    }

    /// Whether anything went to the temporary file (for tests).
    var spilled: Bool { fd >= 0 }
    /// Bytes that went to the temporary file.
    var spooledBytes: Int { fileBytes }
    /// The temporary file's descriptor, -1 before it is made (for tests).
    var fileDescriptor: Int32 { fd }

    private func openFile() throws {
        let dir = NSTemporaryDirectory()
        var template = Array((dir.hasSuffix("/") ? dir : dir + "/").utf8CString.dropLast()) + Array("flywheel-import-XXXXXX".utf8CString)
        let opened = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard opened >= 0 else { throw ImportSpoolError.io("create a temporary file in \(dir)", Self.reason(errno)) }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        fd = opened
    }

    static func reason(_ code: Int32) -> String { String(cString: strerror(code)) }
}

/// The temporary file behind ``ImportSpool`` failed.
public enum ImportSpoolError: Error, CustomStringConvertible, Equatable {
    case io(String, String)

    public var description: String {
        switch self {
        case .io(let what, let reason): "import's temporary file: cannot \(what): \(reason)"
        }
    }
}
