import Flywheel
import Foundation

/// A small deterministic random number generator (SplitMix64). Same seed, same sequence, on every platform;
/// used by the offline example model and for trace/span ids when a run must be reproducible.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// - Parameter seed: any value; equal seeds give equal sequences.
    public init(seed: UInt64) { state = seed }

    /// Seeds from several parts (e.g. a run seed and a question), mixed with FNV-1a so nearby inputs diverge.
    public init(seed: UInt64, salt: String) {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in salt.utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01b3
        }
        state = seed ^ h
        _ = next()
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state = state &+ 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// A uniform double in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) / Double(UInt64(1) << 53) }

    /// `count` lowercase hex digits, never all zeros (trace ids: 32, span ids: 16).
    public mutating func hex(_ count: Int) -> String {
        while true {
            var s = ""
            while s.count < count { s += String(format: "%016llx", next()) }
            s = String(s.prefix(count))
            if s.contains(where: { $0 != "0" }) { return s }
        }
    }
}
