import Foundation
import GitStore
import Testing
import TestSupport

@testable import Flywheel

/// Where `flywheel push` / `pull` take credentials from: the environment first, then git's credential helper.
@Suite("Git credentials")
struct GitCredentialsTests {
    @Test("a credential helper is asked with git's protocol (protocol, host, path) and its answer is used")
    func helper() throws {
        let dir = TestPaths.scratch("credential-helper")
        let log = dir.appendingPathComponent("asked.txt")
        let script = dir.appendingPathComponent("helper.sh")
        try """
            #!/bin/sh
            [ "$1" = get ] || exit 1
            cat > '\(log.path)'
            printf 'username=ci-bot\\npassword=s3cret-token\\n'

            """.write(to: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
        let answer = try #require(GitCredentials.fromHelper(script.path, url: "https://example.com/acme/agent.git", username: nil))
        #expect(answer.0 == "ci-bot" && answer.1 == "s3cret-token")
        let asked = try String(contentsOf: log, encoding: .utf8)
        #expect(asked == "protocol=https\nhost=example.com\npath=acme/agent.git\n\n", "\(asked)")
        // The `!command` form runs through the shell; a helper that fails gives no credential.
        #expect(GitCredentials.fromHelper("!exit 1; true", url: "https://example.com/x.git", username: nil) == nil)
    }

    @Test("the environment wins over the helper; ssh asks for a key, never a password")
    func environment() throws {
        let provider = GitCredentials.provider(environment: ["FLYWHEEL_GIT_TOKEN": "tok"], helper: "!echo never-run")
        guard case .userPass(let user, let password)? = provider("https://example.com/x.git", nil, .userPass) else {
            Issue.record("no user/password credential from FLYWHEEL_GIT_TOKEN")
            return
        }
        #expect(user == "x-access-token" && password == "tok")
        guard case .sshAgent(let name)? = provider("ssh://git@example.com/x.git", "git", .sshKey) else {
            Issue.record("ssh did not fall back to the ssh-agent")
            return
        }
        #expect(name == "git")
        let keyed = GitCredentials.provider(environment: ["FLYWHEEL_GIT_SSH_KEY": "/keys/id_ed25519"], helper: nil)
        guard case .sshKey(_, _, let key, _)? = keyed("ssh://git@example.com/x.git", "git", .sshKey) else {
            Issue.record("FLYWHEEL_GIT_SSH_KEY was not used")
            return
        }
        #expect(key == "/keys/id_ed25519")
        #expect(GitCredentials.provider(environment: [:], helper: nil)("https://example.com/x.git", nil, .userPass) == nil)
    }
}
