import Foundation
import Spawn
import Testing
import TestSupport


@Suite("Child processes (one runner for agents, suite code and credential helpers)")
struct ChildProcessTests {
    let env = ["PATH": "/usr/local/bin:/usr/bin:/bin"]

    func sh(_ script: String, input: String = "", timeout: TimeInterval? = nil, token: String? = nil,
            lines: (@Sendable (String, Int64) -> Void)? = nil) throws -> ChildProcess.Outcome {
        try ChildProcess.run(ChildProcess.Request(
            executable: "/bin/sh", arguments: ["-c", script], environment: env, input: Data(input.utf8), timeout: timeout,
            runToken: token, onStdoutLine: lines))
    }

    @Test("input reaches the child; exit code, both streams and only the given environment come back")
    func roundTrip() throws {
        let r = try sh(#"read x; echo "got $x"; echo "err" >&2; echo "home=${HOME:-none}"; exit 3"#, input: "hello\n")
        #expect(r.status == 3)
        #expect(r.signal == nil)
        #expect(!r.succeeded)
        #expect(String(decoding: r.stdout, as: UTF8.self) == "got hello\nhome=none\n")
        #expect(String(decoding: r.stderr, as: UTF8.self) == "err\n")
    }

    @Test("10 MB on each stream is drained while the child runs (no pipe deadlock)")
    func largeOutput() throws {
        let r = try sh("head -c 10485760 /dev/zero; head -c 10485760 /dev/zero >&2", timeout: 60)
        #expect(r.succeeded)
        #expect(r.stdout.count == 10_485_760)
        #expect(r.stderr.count == 10_485_760)
    }

    @Test("stdout lines arrive one by one, in order, with the unterminated last line")
    func lines() throws {
        final class Lines: @unchecked Sendable {
            let lock = NSLock()
            var all: [String] = []
        }
        let seen = Lines()
        let r = try sh("echo one; sleep 0.2; echo two; printf three", lines: { line, _ in
            seen.lock.lock(); seen.all.append(line); seen.lock.unlock()
        })
        #expect(r.succeeded)
        #expect(seen.all == ["one", "two", "three"])
        #expect(String(decoding: r.stdout, as: UTF8.self) == "one\ntwo\nthree")
    }

    @Test("the run ends when the child exits, though a background grandchild still holds its output open")
    func grandchildHoldingThePipe() throws {
        let start = Date()
        let r = try sh("sleep 20 & echo done", timeout: 60, token: UUID().uuidString)
        #expect(r.succeeded)
        #expect(String(decoding: r.stdout, as: UTF8.self) == "done\n")
        #expect(Date().timeIntervalSince(start) < 15, "waited for the grandchild")
    }

    @Test("a background process that keeps writing after the child exited does not hold the run")
    func grandchildWritingOn() throws {
        let start = Date()
        // Writes for up to about 10 s after its parent exits; the run must end about a second after the parent.
        let r = try sh("(i=0; while [ $i -lt 1000 ]; do echo tick; sleep 0.01; i=$((i+1)); done) & echo done")
        let elapsed = Date().timeIntervalSince(start)
        #expect(r.succeeded)
        // The background writer may print its first tick before the parent's "done": the order is the shell's.
        #expect(String(decoding: r.stdout, as: UTF8.self).split(separator: "\n").contains("done"))
        #expect(elapsed < 5, "waited \(elapsed) s for the background writer")
    }

    @Test("a time limit kills the process group: the run reports the timeout and the signal")
    func timeout() throws {
        let marker = TestPaths.scratch("child-timeout").appendingPathComponent("late")
        let start = Date()
        let r = try sh("(sleep 3; touch '\(marker.path)') & sleep 30", timeout: 1)
        #expect(r.timedOut)
        #expect(r.signal == SIGKILL)
        #expect(Date().timeIntervalSince(start) < 10)
        Thread.sleep(forTimeInterval: 3.5)
        #expect(!FileManager.default.fileExists(atPath: marker.path), "the group's background child outlived the timeout")
    }

    @Test("a missing executable is a launch error naming it")
    func launchError() {
        #expect(throws: ChildProcess.LaunchError.self) {
            try ChildProcess.run(ChildProcess.Request(executable: "/nonexistent/tool", environment: env))
        }
        do { _ = try ChildProcess.run(ChildProcess.Request(executable: "/nonexistent/tool", environment: env)) } catch {
            #expect(error.description.hasPrefix("cannot start /nonexistent/tool"))
        }
    }
}
