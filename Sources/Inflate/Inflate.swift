import Foundation
internal import CZlib

/// Why a compressed body could not be expanded.
public enum InflateError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The expanded bytes passed `limit` (a zip bomb, or simply too big); nothing more was expanded.
    case tooLarge(limit: Int)
    /// The input is not valid gzip / zlib / raw deflate data.
    case corrupt(String)

    public var description: String {
        switch self {
        case .tooLarge(let limit): return "the decompressed body is over the limit of \(limit) bytes"
        case .corrupt(let why): return "invalid compressed data: \(why)"
        }
    }
}

/// Decompression through zlib (the system's libz), bounded: it stops as soon as the output passes a limit, so a
/// tiny bomb never expands in memory.
public enum Inflater {
    /// The container around the deflate stream.
    public enum Format: Sendable {
        /// `Content-Encoding: gzip` (RFC 1952).
        case gzip
        /// `Content-Encoding: deflate`: zlib (RFC 1950) as HTTP specifies, or raw deflate (RFC 1951) as some
        /// clients send it; both are accepted.
        case deflate
    }

    /// Expands `data`, refusing more than `maxOutput` bytes of output.
    public static func decompress(_ data: Data, format: Format, maxOutput: Int) throws(InflateError) -> Data {
        switch format {
        case .gzip:
            return try run(data, windowBits: 15 + 16, maxOutput: maxOutput)
        case .deflate:
            do {
                return try run(data, windowBits: 15, maxOutput: maxOutput)
            } catch .corrupt {
                return try run(data, windowBits: -15, maxOutput: maxOutput)
            }
        }
    }

    static func run(_ data: Data, windowBits: Int32, maxOutput: Int) throws(InflateError) -> Data {
        var stream = z_stream()
        guard fw_inflate_init2(&stream, windowBits) == Z_OK else { throw .corrupt("zlib could not initialise") }
        defer { inflateEnd(&stream) }
        var out = Data()
        let chunk = 64 * 1024
        var buffer = [UInt8](repeating: 0, count: chunk)
        let input = [UInt8](data)
        var failure: InflateError?
        input.withUnsafeBufferPointer { inBuf in
            stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress)
            stream.avail_in = uInt(inBuf.count)
            while true {
                let (rc, produced) = buffer.withUnsafeMutableBufferPointer { outBuf -> (Int32, Int) in
                    stream.next_out = outBuf.baseAddress
                    stream.avail_out = uInt(chunk)
                    let rc = inflate(&stream, Z_NO_FLUSH)
                    return (rc, chunk - Int(stream.avail_out))
                }
                if produced > 0 {
                    if out.count + produced > maxOutput {
                        failure = .tooLarge(limit: maxOutput)
                        return
                    }
                    out.append(contentsOf: buffer[0..<produced])
                }
                switch rc {
                case Z_STREAM_END:
                    // A gzip body may hold several members (RFC 1952 §2.2): go on while input remains.
                    if windowBits > 15, stream.avail_in > 0 {
                        guard inflateReset(&stream) == Z_OK else {
                            failure = .corrupt("cannot start the next gzip member")
                            return
                        }
                        continue
                    }
                    return
                case Z_OK:
                    continue
                case Z_BUF_ERROR where stream.avail_in == 0:
                    failure = .corrupt("the stream ends early (truncated)")
                    return
                default:
                    let msg = stream.msg.map { String(cString: $0) } ?? "zlib error \(rc)"
                    failure = .corrupt(msg)
                    return
                }
            }
        }
        if let failure { throw failure }
        return out
    }
}
