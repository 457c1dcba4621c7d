import Foundation
import GitStore
import TestSupport

/// A fixed signature, so object ids are stable.
let fixedAuthor = Signature(name: "Flywheel Test", email: "test@flywheel.invalid", time: 1_700_000_000, offsetMinutes: 0)

/// A fresh scratch folder holding a new bare repository.
func makeRepository(_ label: String, bare: Bool = true) throws -> (Repository, URL) {
    let dir = TestPaths.scratch("gitstore-\(label)")
    let url = dir.appendingPathComponent(bare ? "repo.git" : "work")
    return (try Repository.create(at: url, bare: bare), url)
}

/// The git CLI as a peer: isolated from the user's and system's configuration, fixed identity and dates.
@discardableResult
func git(_ arguments: [String], in dir: URL, stdin: String? = nil, check: Bool = true) throws -> String {
    var env = ProcessInfo.processInfo.environment
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    env["GIT_CONFIG_GLOBAL"] = "/dev/null"
    env["HOME"] = dir.path
    env["GIT_AUTHOR_NAME"] = fixedAuthor.name
    env["GIT_AUTHOR_EMAIL"] = fixedAuthor.email
    env["GIT_COMMITTER_NAME"] = fixedAuthor.name
    env["GIT_COMMITTER_EMAIL"] = fixedAuthor.email
    env["GIT_AUTHOR_DATE"] = "\(fixedAuthor.time) +0000"
    env["GIT_COMMITTER_DATE"] = "\(fixedAuthor.time) +0000"
    env["LC_ALL"] = "C"
    env["TZ"] = "UTC"
    let result = try runTool("git", arguments, cwd: dir, environment: env, stdin: stdin)
    if check && result.status != 0 {
        throw PeerFailure(command: "git " + arguments.joined(separator: " "), output: result.stdout + result.stderr)
    }
    return result.stdout
}

struct PeerFailure: Error, CustomStringConvertible {
    let command: String
    let output: String
    var description: String { "\(command) failed: \(output)" }
}

extension String {
    var trimmed: String { trimmingCharacters(in: .whitespacesAndNewlines) }
}
