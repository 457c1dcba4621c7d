import Testing

@testable import FlywheelCLI

/// `diagnose --traces` pads glibc's new malloc arenas before any thread starts (`FlywheelCommand.prepareProcess`);
/// every other command keeps glibc's defaults.
@Suite("CLI: process setup before the threads start")
struct ProcessSetupTests {
    @Test("only diagnose --traces pads the arenas")
    func onlyDiagnoseOfAFile() {
        #expect(FlywheelCommand.padsMallocArenas(["diagnose", "--traces", "runs.jsonl"]))
        #expect(FlywheelCommand.padsMallocArenas(["diagnose", "--json", "--traces=runs.jsonl"]))
        #expect(!FlywheelCommand.padsMallocArenas(["diagnose", "--cycle", "3"]))
        #expect(!FlywheelCommand.padsMallocArenas(["diagnose"]))
        #expect(!FlywheelCommand.padsMallocArenas(["traces", "overview", "--file", "runs.jsonl"]))
        #expect(!FlywheelCommand.padsMallocArenas(["traces", "import", "--traces", "runs.jsonl"]))
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
