internal import CGit2

/// A git object id (SHA-1), as a value. Formats as 40 lowercase hex digits.
public struct ObjectID: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    /// The 40-digit lowercase hex form.
    public let hex: String

    /// Parses a full 40-digit hex id; nil when it is not one.
    public init?(hex: String) {
        let lower = hex.lowercased()
        guard lower.utf8.count == 40, lower.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) })
        else { return nil }
        self.hex = lower
    }

    init(_ oid: git_oid) {
        var oid = oid
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(40)
        withUnsafeBytes(of: &oid.id) { raw in
            for byte in raw.prefix(20) {
                out.append(digits[Int(byte >> 4)])
                out.append(digits[Int(byte & 0xF)])
            }
        }
        self.hex = String(decoding: out, as: UTF8.self)
    }

    init(_ pointer: UnsafePointer<git_oid>) { self.init(pointer.pointee) }

    /// The libgit2 form.
    var oid: git_oid {
        var oid = git_oid()
        _ = hex.withCString { git_oid_fromstr(&oid, $0) }
        return oid
    }

    /// The first seven digits.
    public var short: String { String(hex.prefix(7)) }
    public var description: String { hex }
    public static func < (a: ObjectID, b: ObjectID) -> Bool { a.hex < b.hex }

    public init(from decoder: any Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        guard let id = ObjectID(hex: s) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an object id: \(s)"))
        }
        self = id
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(hex)
    }
}
