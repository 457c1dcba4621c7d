import Foundation
import TestSupport

#if FLYWHEEL_LIBFUZZER
/// libFuzzer entry (`Tests/fuzz/run.sh --libfuzzer`): the target comes from `FLYWHEEL_FUZZ_TARGET`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ bytes: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let target = ProcessInfo.processInfo.environment["FLYWHEEL_FUZZ_TARGET"] ?? "trace-line"
    FuzzTargets.run(target, bytes.map { Data(bytes: $0, count: size) } ?? Data())
    return 0
}

/// libFuzzer's driver (SwiftPM links an executable's entry point as `<module>_main`, so libFuzzer's own `main` is not
/// used: this entry point hands over to the driver).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@_cdecl("flywheel_fuzz_main")
public func flywheelFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var vector = argv
    return LLVMFuzzerRunDriver(&count, &vector, fuzzOne)
}
#else
/// A self-contained mutation fuzzer for builds without libFuzzer:
/// `flywheel-fuzz TARGET CORPUS_DIR [--seconds N] [--seed S]` mutates the corpus seeds (bit flips, byte edits,
/// splices, dictionary tokens, repeats) and runs the target on each input until the time is up. A crash leaves the
/// input in `crash-TARGET-<n>.bin` in the current folder (written before the run, removed after it passes).
@main
struct FuzzMain {
    static func main() {
        var args = Array(CommandLine.arguments.dropFirst())
        var seconds = 60.0
        var seed: UInt64 = UInt64(Date().timeIntervalSince1970 * 1000)
        if let i = args.firstIndex(of: "--seconds"), i + 1 < args.count { seconds = Double(args[i + 1]) ?? seconds; args.removeSubrange(i...(i + 1)) }
        if let i = args.firstIndex(of: "--seed"), i + 1 < args.count { seed = UInt64(args[i + 1]) ?? seed; args.removeSubrange(i...(i + 1)) }
        guard args.count == 2, FuzzTargets.names.contains(args[0]) else {
            FileHandle.standardError.write(Data("usage: flywheel-fuzz {\(FuzzTargets.names.joined(separator: "|"))} CORPUS_DIR [--seconds N] [--seed S]\n".utf8))
            exit(2)
        }
        let target = args[0]
        let dir = URL(fileURLWithPath: args[1])
        var corpus = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
            .compactMap { try? Data(contentsOf: dir.appendingPathComponent($0)) }
        if corpus.isEmpty { corpus = [Data()] }
        var rng = SplitMix64(seed: seed)
        let dictionary = Dictionaries.tokens(for: target)
        let started = Date()
        var runs = 0
        let crashFile = URL(fileURLWithPath: "crash-\(target)-\(getpid()).bin")
        while Date().timeIntervalSince(started) < seconds {
            for _ in 0..<64 {
                var input = corpus[Int(rng.next() % UInt64(corpus.count))]
                let edits = 1 + Int(rng.next() % 6)
                for _ in 0..<edits { Mutator.mutate(&input, &rng, corpus: corpus, dictionary: dictionary) }
                if input.count > 1 << 16 { input = input.prefix(1 << 16) }
                // Written first so a crash leaves the input behind.
                try? input.write(to: crashFile)
                FuzzTargets.run(target, input)
                runs += 1
                // Keep some inputs as new seeds (no coverage feedback: a small random sample).
                if rng.next() % 512 == 0, corpus.count < 4096 { corpus.append(input) }
            }
        }
        try? FileManager.default.removeItem(at: crashFile)
        let elapsed = Date().timeIntervalSince(started)
        print("flywheel-fuzz \(target): \(runs) inputs in \(String(format: "%.1f", elapsed)) s, no crash (seed \(seed))")
    }
}

enum Mutator {
    static func mutate(_ d: inout Data, _ rng: inout SplitMix64, corpus: [Data], dictionary: [[UInt8]]) {
        var b = [UInt8](d)
        func pos(_ extra: Int = 0) -> Int { b.isEmpty ? 0 : Int(rng.next() % UInt64(b.count + extra)) }
        switch rng.next() % 9 {
        case 0 where !b.isEmpty: let i = pos(); b[i] ^= UInt8(1 << (rng.next() % 8))
        case 1 where !b.isEmpty: b[pos()] = UInt8(truncatingIfNeeded: rng.next())
        case 2: b.insert(UInt8(truncatingIfNeeded: rng.next()), at: pos(1))
        case 3 where !b.isEmpty: let i = pos(); b.removeSubrange(i..<min(b.count, i + 1 + Int(rng.next() % 8)))
        case 4 where !dictionary.isEmpty: b.insert(contentsOf: dictionary[Int(rng.next() % UInt64(dictionary.count))], at: pos(1))
        case 5 where !b.isEmpty:
            // Repeat a slice (deep nesting, long runs).
            let i = pos(), n = min(b.count - i, 1 + Int(rng.next() % 16))
            let slice = Array(b[i..<(i + n)])
            for _ in 0..<(1 + Int(rng.next() % 64)) { b.insert(contentsOf: slice, at: i) }
        case 6:
            // Splice with another seed.
            let other = [UInt8](corpus[Int(rng.next() % UInt64(corpus.count))])
            if !other.isEmpty {
                let j = Int(rng.next() % UInt64(other.count))
                b = Array(b.prefix(pos(1))) + other[j...]
            }
        case 7 where !b.isEmpty:
            // Interesting numbers in place of digits.
            let nums = ["9223372036854775807", "-9223372036854775808", "1e300", "-0", "NaN", "18446744073709551616", "2300", "1600"]
            b.insert(contentsOf: Array(nums[Int(rng.next() % UInt64(nums.count))].utf8), at: pos(1))
        case 8 where b.count > 1: let i = pos(), j = pos(); b.swapAt(i, j)
        default: b.append(UInt8(truncatingIfNeeded: rng.next()))
        }
        d = Data(b)
    }
}
#endif

/// Tokens worth inserting, per target.
enum Dictionaries {
    static func tokens(for target: String) -> [[UInt8]] {
        let t: [String]
        switch target {
        case "trace-line", "otlp":
            t = ["{", "}", "[", "]", "\"", ":", ",", "\\u0000", "\\ud800", "\\u2028", "null", "true", "1e19", "\"trace_id\"", "\"start_time\"",
                 "\"end_time\"", "\"2262-04-11T23:47:16.854775808Z\"", "\"1677-09-21T00:12:43.145224191Z\"", "\"attributes\"",
                 "\"inference.llm.input_tokens\"", "\"resourceSpans\"", "\"scopeSpans\"", "\"spans\"", "\"startTimeUnixNano\"",
                 "\"intValue\"", "\"traceId\"", "\n", "\u{FEFF}"]
        case "suite":
            t = ["&a", "*a", "<<: *a", "- ", ": ", "{", "}", "[", "]", "\n  ", "tests:", "assert:", "type: regex", "value: ", "vars:",
                 "file://", "{{", "}}", "{%", "%}", "!!binary", "!!python/object", "---", "...", "|", ">", "\t", "\"\\u", "'"]
        default:
            t = ["<script>", "<img src=x onerror=alert(1)>", "[a](javascript:alert(1))", "```", "~~~", "| a |\n|---|", "# ", "<!--", "-->",
                 "![x](", "](", "<", ">", "&", "&#x3c;", "\n\n", "    ", "> ", "* ", "1. ", "[^1]", "<details>", "<svg/onload=x>"]
        }
        return t.map { Array($0.utf8) }
    }
}
