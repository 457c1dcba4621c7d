import Testing

@testable import FlywheelCLI

/// `diagnose --traces` and `traces import` pad glibc's new malloc arenas before any thread starts
/// (`FlywheelCommand.prepareProcess`); every other command keeps glibc's defaults.
@Suite("CLI: process setup before the threads start")
struct ProcessSetupTests {
    @Test("only diagnose --traces and traces import pad the arenas")
    func onlyDiagnoseOfAFile() {
        #expect(FlywheelCommand.padsMallocArenas(["diagnose", "--traces", "runs.jsonl"]))
        #expect(FlywheelCommand.padsMallocArenas(["diagnose", "--json", "--traces=runs.jsonl"]))
        #expect(!FlywheelCommand.padsMallocArenas(["diagnose", "--cycle", "3"]))
        #expect(!FlywheelCommand.padsMallocArenas(["diagnose"]))
        #expect(!FlywheelCommand.padsMallocArenas(["traces", "overview", "--file", "runs.jsonl"]))
        #expect(FlywheelCommand.padsMallocArenas(["traces", "import", "--repo", "h", "runs.jsonl"]))
        #expect(!FlywheelCommand.padsMallocArenas(["traces", "receive", "--port", "4318"]))
        #expect(!FlywheelCommand.padsMallocArenas(["import", "runs.jsonl"]))
        #expect(!FlywheelCommand.padsMallocArenas([]))
    }

    #if os(Linux)
        /// Found, not called: the pad would change malloc for every other test of this process.
        @Test("glibc's mallopt is found by name")
        func malloptIsFound() {
            #expect(MallocArenas.mallopt() != nil)
        }
    #endif
}
