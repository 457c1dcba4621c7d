import Foundation

#if canImport(Glibc)
    import Glibc
#endif

extension FlywheelCommand {
    /// Settings of the process that must be made before any other thread starts: call it first, on the main thread
    /// (`main.swift`), with the command line.
    ///
    /// `diagnose --traces` and `traces import` read a whole trace file on worker threads and exit right after
    /// (diagnose builds a span and a record for every span; import normalizes the file in 16 MB batches, one per
    /// core). glibc grows the heap of each thread's malloc arena by what each allocation needs, one `mprotect` call
    /// per 4 KiB page, except that a new arena's heap is made writable with `M_TOP_PAD` bytes to spare: on the 105 MB
    /// benchmark file that was about 9,000 `mprotect` calls in diagnose's worker threads and 20 ms of CPU time, and
    /// import's minor page faults fell from 28.9k to 19.6k and its CPU time by about 9 % with the pad (see
    /// docs/performance.md). With the pad set before the threads start, each arena is made writable in one call. Only
    /// address space is reserved: pages are still touched, and resident, when used (import's peak stayed the same).
    /// Other commands keep glibc's defaults: the pad also fixes glibc's threshold for mapping large blocks, and a
    /// long-running command (`traces receive`, `mcp`) would keep up to the pad of freed memory per arena.
    public static func prepareProcess(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) {
        if padsMallocArenas(arguments) { MallocArenas.padNewArenas() }
    }

    /// Whether the command line is `diagnose --traces …` or `traces import …`, the commands whose arenas
    /// ``prepareProcess(_:)`` pads.
    static func padsMallocArenas(_ arguments: [String]) -> Bool {
        if arguments.first == "diagnose" { return arguments.contains { $0 == "--traces" || $0.hasPrefix("--traces=") } }
        return arguments.count >= 2 && arguments[0] == "traces" && arguments[1] == "import"
    }
}

/// glibc's malloc settings (nothing elsewhere).
enum MallocArenas {
    /// Bytes made writable at once when a thread's arena is made (glibc caps a thread heap at 64 MiB).
    static let pad: Int32 = 64 << 20

    /// Sets `M_TOP_PAD` (see ``FlywheelCommand/prepareProcess(_:)``); false when it could not be set.
    @discardableResult
    static func padNewArenas() -> Bool {
        guard let mallopt = mallopt() else { return false }
        let topPad: Int32 = -2  // M_TOP_PAD
        return mallopt(topPad, pad) == 1
    }

    /// glibc's `mallopt`, declared in <malloc.h>, which the Glibc module does not import: looked up by name (nil
    /// elsewhere).
    static func mallopt() -> (@convention(c) (Int32, Int32) -> Int32)? {
        #if canImport(Glibc)
            guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "mallopt") else { return nil }
            return unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
        #else
            return nil
        #endif
    }
}
