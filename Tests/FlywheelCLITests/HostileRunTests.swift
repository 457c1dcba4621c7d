import Foundation
import Testing
import TestSupport

/// End to end with a hostile agent (not the example's): it picks a trace id git refuses, plants links in its output
/// folder, writes secrets in broken encodings and carries a key in its command line. The run commits, nothing
/// outside the folder is read or written, no secret reaches git or the site, and `git fsck --strict` stays clean.
@Suite("Hostile input: a hostile agent, end to end")
struct HostileRunTests {
    /// A support-desk agent that misbehaves on purpose.
    static let agent = #"""
        import json, os, sys
        task = os.environ["FLYWHEEL_TASK"]
        n = int(os.environ["FLYWHEEL_TASK_ID"].lstrip("q"))
        out = os.environ["FLYWHEEL_OUTPUT_DIR"]
        # Task 1 picks a trace id git would refuse as a folder name; task 2 uses a key as its trace id.
        trace = ".git\u200c" if n == 1 else os.environ.get("ID_KEY", os.environ["FLYWHEEL_TRACE_ID"])
        span = {"trace_id": trace, "span_id": "%016x" % n, "parent_span_id": "", "trace_state": "", "name": "agent.support",
                "kind": "SPAN_KIND_INTERNAL", "start_time": "2026-01-01T00:00:00.000000000Z", "end_time": "2026-01-01T00:00:01.000000000Z",
                "status": {"code": "STATUS_CODE_OK", "message": ""}, "resource": {"attributes": {"service.name": "support-bot"}},
                "scope": {"name": "support", "version": "1"},
                "attributes": {"inference.project_id": "support", "inference.agent_name": "SupportBot", "inference.observation_kind": "AGENT",
                               "input.value": task, "output.value": "ticket closed"}}
        with open(os.environ["FLYWHEEL_TRACE_FILE"], "w") as f:
            f.write(json.dumps(span) + "\n")
        key = os.environ["LEAK_KEY"]
        # Links planted in the output folder: Flywheel must neither write through nor read through them.
        os.symlink(os.environ["OUTSIDE"], os.path.join(out, "final_answer.md"))
        os.symlink(os.environ["OUTSIDE"], os.path.join(out, "stolen.txt"))
        os.link(os.environ["OUTSIDE_HARD"], os.path.join(out, "hard.txt"))
        # Secrets behind one invalid UTF-8 byte and in UTF-16.
        with open(os.path.join(out, "notes.bin"), "wb") as f:
            f.write(b"\xff\xfe-not-a-bom \x80 key=" + key.encode() + b"\n")
        with open(os.path.join(out, "utf16.txt"), "wb") as f:
            f.write(("token " + key + "\n").encode("utf-16"))
        # A name git refuses.
        with open(os.path.join(out, "git~1"), "w") as f:
            f.write("short name\n")
        print("Resolved ticket %d" % n)
        """#

    @Test("links are refused with a warning each, names are mapped, secrets are redacted, fsck --strict is clean")
    func hostileAgent() throws {
        let folder = try LoopTest.example("hostile-agent")
        try Self.agent.write(to: folder.appendingPathComponent("support.py"), atomically: true, encoding: .utf8)
        let outside = folder.deletingLastPathComponent().appendingPathComponent("outside.txt")
        let outsideHard = folder.deletingLastPathComponent().appendingPathComponent("outside-hard.txt")
        let outsideText = "OUTSIDE-PRIVATE-\(UUID().uuidString)\n"
        try outsideText.write(to: outside, atomically: true, encoding: .utf8)
        try outsideText.write(to: outsideHard, atomically: true, encoding: .utf8)
        let key = "sk-proj-" + String(repeating: "H0st", count: 6)
        let cmdKey = "sk-" + String(repeating: "CmdK", count: 6)
        #expect(try flywheel(["cycle", "start"], in: folder).status == 0)
        let idKey = "xo" + "xb-" + "123456789012-" + String(repeating: "IdK3", count: 6)
        let env = ["LEAK_KEY": key, "OUTSIDE": outside.path, "OUTSIDE_HARD": outsideHard.path, "ID_KEY": idKey]
        let r = try flywheel(["run", "--agent-cmd", "python3 support.py --api-key \(cmdKey)", "--tasks", "2", "--json"], in: folder, env: env)
        try #require(r.status == 0, "\(r.stderr)\n\(r.stdout)")
        let report = try LoopTest.object(r.stdout)
        let warnings = try #require(report["warnings"] as? [String])
        for needle in ["stolen.txt: a symbolic link", "hard.txt: has 3 hard links", "git~1: not a name git accepts", "final_answer.md: the agent left a symbolic link", "not a name git accepts"] {
            #expect(warnings.contains { $0.contains(needle) }, "no warning for \(needle): \(warnings)")
        }
        #expect(r.stderr.contains("warning: "), "warnings are printed")

        // Nothing outside the folder was written.
        #expect(try String(contentsOf: outside, encoding: .utf8) == outsideText)
        #expect(try String(contentsOf: outsideHard, encoding: .utf8) == outsideText)

        let repo = folder.appendingPathComponent("loop-history")
        let fsck = try LoopTest.git(repo, ["fsck", "--strict", "--no-dangling"])
        #expect(fsck.status == 0, "git fsck --strict: \(fsck.stdout)\(fsck.stderr)")
        let files = try LoopTest.git(repo, ["ls-tree", "-r", "-z", "--name-only", "refs/heads/main", "cycles/0001/outputs"]).stdout
            .split(separator: "\0").map(String.init)
        #expect(!files.contains { $0.contains("stolen.txt") || $0.contains("hard.txt") || $0.contains("\u{200C}") || $0.hasSuffix("/git~1") }, "\(files)")
        #expect(files.contains { $0.hasSuffix("/utf16.txt") } && files.contains { $0.hasSuffix("/notes.bin") } && files.contains { $0.contains("/git_1-") })

        // No secret in any object, in any encoding; the outside file's text never got in either.
        let all = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["git", "-C", repo.path, "cat-file", "--batch-all-objects", "--batch"], timeout: 60)
        let raw = all.stdout
        #expect(raw.contains("Resolved ticket"))
        for secret in [key, cmdKey, idKey, outsideText.trimmingCharacters(in: .newlines)] { #expect(!raw.contains(secret), "\(secret) reached git") }
        // The key used as a trace id is neither a tree entry nor a trace id in traces.jsonl.
        #expect(!files.contains { $0.contains("IdK3") }, "\(files)")
        let ids = try #require(report["trace_ids"] as? [String])
        #expect(ids.contains { $0.hasPrefix("redacted-slack_token-") }, "\(ids)")
        let utf16 = String(decoding: ("token " + key).data(using: .utf16LittleEndian)!, as: UTF8.self)
        #expect(!raw.contains(utf16), "the UTF-16 key reached git")
        let cycle = try LoopTest.object(try LoopTest.show(folder, "refs/heads/main", "cycles/0001/cycle.json"))
        let agentLabel = try #require((cycle["models"] as? [String: Any])?["agent"] as? String)
        #expect(agentLabel.contains("python3 support.py") && agentLabel.contains("[REDACTED:api_key]"), "\(agentLabel)")

        // The loop goes on over the mapped names: the critics read every run (its outputs found under the safe folder).
        let critique = try flywheel(["feedback", "critique", "--json"], in: folder)
        #expect(critique.status == 0, "\(critique.stderr)")
        let fsck2 = try LoopTest.git(repo, ["fsck", "--strict", "--no-dangling"])
        #expect(fsck2.status == 0, "git fsck --strict after critique: \(fsck2.stdout)\(fsck2.stderr)")

        // The site shows the run without the secrets, and the push to a strict remote is accepted.
        let site = folder.appendingPathComponent("site")
        let s = try flywheel(["site", "build", "--out", site.path], in: folder)
        #expect(s.status == 0, "\(s.stderr)")
        let siteText = try FileManager.default.subpathsOfDirectory(atPath: site.path).compactMap { try? String(contentsOf: site.appendingPathComponent($0), encoding: .utf8) }.joined()
        #expect(siteText.contains("Resolved ticket"))
        for secret in [key, cmdKey, idKey] { #expect(!siteText.contains(secret), "\(secret) reached the site") }
        let siteNames = try FileManager.default.subpathsOfDirectory(atPath: site.path)
        #expect(!siteNames.contains { $0.contains("IdK3") }, "a key became a site file name")
        let remote = folder.deletingLastPathComponent().appendingPathComponent("strict.git")
        #expect(try runTool("git", ["init", "--bare", "-q", remote.path]).status == 0)
        #expect(try LoopTest.git(remote, ["config", "receive.fsckObjects", "true"]).status == 0)
        let push = try LoopTest.git(repo, ["push", remote.path, "refs/heads/main:refs/heads/main"])
        #expect(push.status == 0, "push to a receive.fsckObjects remote: \(push.stderr)")
    }

    @Test("a harness path outside the working folder is refused before anything is committed")
    func harnessOutside() throws {
        let folder = try LoopTest.example("hostile-harness")
        for path in ["/proc/self/environ", "../outside"] {
            try LoopTest.expectRefused(["cycle", "start", "--harness", path], in: folder, mentions: ["harness", "outside the working folder"])
        }
    }

    @Test("a harness file with a key is committed redacted")
    func harnessRedacted() throws {
        let folder = try LoopTest.example("hostile-harness-key")
        let key = "AI" + "za" + "SyH" + String(repeating: "k3yQ", count: 8)
        let instructions = folder.appendingPathComponent("harness/instructions.md")
        try (try String(contentsOf: instructions, encoding: .utf8) + "\nMaps key: \(key)\n").write(to: instructions, atomically: true, encoding: .utf8)
        #expect(try flywheel(["cycle", "start"], in: folder).status == 0)
        let snap = try #require(try LoopTest.show(folder, "refs/heads/main", "harness/instructions.md"))
        #expect(!snap.contains(key) && snap.contains("[REDACTED:google_api_key]"))
        let fsck = try LoopTest.git(folder.appendingPathComponent("loop-history"), ["fsck", "--strict", "--no-dangling"])
        #expect(fsck.status == 0, "\(fsck.stderr)")
    }

    @Test("a corrupt blob is reported with its path, cycle and commit by site build and loop stages")
    func corruptBlob() throws {
        let folder = try LoopTest.example("hostile-corrupt")
        try Self.agent.write(to: folder.appendingPathComponent("support.py"), atomically: true, encoding: .utf8)
        let outside = folder.deletingLastPathComponent().appendingPathComponent("o.txt")
        try "x\n".write(to: outside, atomically: true, encoding: .utf8)
        #expect(try flywheel(["cycle", "start"], in: folder).status == 0)
        let env = ["LEAK_KEY": "k", "OUTSIDE": outside.path, "OUTSIDE_HARD": outside.path]
        try #require(try flywheel(["run", "--agent-cmd", "python3 support.py", "--tasks", "1"], in: folder, env: env).status == 0)
        let repo = folder.appendingPathComponent("loop-history")
        let blob = try LoopTest.git(repo, ["rev-parse", "refs/heads/main:cycles/0001/traces.jsonl"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let file = repo.appendingPathComponent("objects/\(blob.prefix(2))/\(blob.dropFirst(2))")
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
        try Data("not zlib at all".utf8).write(to: file)
        for args in [["site", "build", "--out", folder.appendingPathComponent("site").path], ["feedback", "critique"]] {
            let r = try flywheel(args, in: folder)
            #expect(r.status != 0)
            #expect(r.stderr.contains("cycles/0001/traces.jsonl") && r.stderr.contains("cycle 1") && r.stderr.contains("at commit"), "\(args): \(r.stderr)")
            #expect(!r.stderr.contains("Fatal error"))
        }
    }

    /// A folder whose open cycle holds one run of the support agent; returns the folder and a trace id.
    static func ranFolder(_ label: String) throws -> (URL, String) {
        let folder = try LoopTest.example(label)
        try Self.agent.write(to: folder.appendingPathComponent("support.py"), atomically: true, encoding: .utf8)
        let outside = folder.deletingLastPathComponent().appendingPathComponent("o.txt")
        try "x\n".write(to: outside, atomically: true, encoding: .utf8)
        #expect(try flywheel(["cycle", "start"], in: folder).status == 0)
        let env = ["LEAK_KEY": "k", "OUTSIDE": outside.path, "OUTSIDE_HARD": outside.path]
        let r = try flywheel(["run", "--agent-cmd", "python3 support.py", "--tasks", "2", "--json"], in: folder, env: env)
        try #require(r.status == 0, "\(r.stderr)")
        let ids = try #require(try LoopTest.object(r.stdout)["trace_ids"] as? [String])
        let fsck = try LoopTest.git(folder.appendingPathComponent("loop-history"), ["fsck", "--strict", "--no-dangling"])
        #expect(fsck.status == 0, "\(fsck.stderr)")
        return (folder, try #require(ids.last))
    }

    @Test("`{{{` in one feedback phrase skips that one case with a warning; the other cases are added")
    func brokenTemplatePhrase() throws {
        let (folder, trace) = try Self.ranFolder("hostile-template")
        for (category, phrase) in [("broken", "must say {{{ x"), ("fine", "ticket closed")] {
            let r = try flywheel(["feedback", "add", "--trace", trace, "--category", category, "--severity", "high", "--observation", "o \(category)", "--require", phrase], in: folder)
            #expect(r.status == 0, "\(r.stderr)")
        }
        let r = try flywheel(["evals", "generate", "--json"], in: folder)
        try #require(r.status == 0, "\(r.stderr)")
        let report = try LoopTest.object(r.stdout)
        let added = try #require(report["added"] as? [String])
        let skipped = try #require(report["skipped"] as? [String])
        #expect(added.count == 1, "\(added)")
        #expect(skipped.contains { $0.contains("skipped, the generated case is invalid") && $0.contains("{{") }, "\(skipped)")
        let suite = try #require(try LoopTest.show(folder, "refs/heads/main", "evals/promptfooconfig.yaml"))
        #expect(suite.contains("ticket closed") && !suite.contains("{{{"))
        let fsck = try LoopTest.git(folder.appendingPathComponent("loop-history"), ["fsck", "--strict", "--no-dangling"])
        #expect(fsck.status == 0, "\(fsck.stderr)")
    }

    @Test("an invalid suite in the history is reported at its history path, not a working-folder path")
    func invalidSuiteInHistory() throws {
        let (folder, _) = try Self.ranFolder("hostile-suite")
        let repo = folder.appendingPathComponent("loop-history")
        // Another writer commits a broken suite (git as a peer).
        let blob = try runTool("git", ["-C", repo.path, "hash-object", "-w", "--stdin"], stdin: "tests:\n  - assert: [oops\n").stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let base = try LoopTest.git(repo, ["rev-parse", "refs/heads/main"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let index = folder.deletingLastPathComponent().appendingPathComponent("peer-index")
        let env = ["GIT_INDEX_FILE": index.path]
        #expect(try runTool("git", ["-C", repo.path, "read-tree", base], environment: ProcessInfo.processInfo.environment.merging(env) { $1 }).status == 0)
        #expect(try runTool("git", ["-C", repo.path, "update-index", "--add", "--cacheinfo", "100644,\(blob),evals/promptfooconfig.yaml"], environment: ProcessInfo.processInfo.environment.merging(env) { $1 }).status == 0)
        let tree = try runTool("git", ["-C", repo.path, "write-tree"], environment: ProcessInfo.processInfo.environment.merging(env) { $1 }).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let commitEnv = ProcessInfo.processInfo.environment.merging(["GIT_AUTHOR_NAME": "peer", "GIT_AUTHOR_EMAIL": "p@x.invalid", "GIT_COMMITTER_NAME": "peer", "GIT_COMMITTER_EMAIL": "p@x.invalid"]) { $1 }
        let commit = try runTool("git", ["-C", repo.path, "commit-tree", tree, "-p", base, "-m", "peer: broken suite"], environment: commitEnv).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try LoopTest.git(repo, ["update-ref", "refs/heads/main", commit]).status == 0)
        let r = try flywheel(["evals", "run"], in: folder)
        #expect(r.status != 0)
        #expect(r.stderr.contains("refs/heads/main:evals/promptfooconfig.yaml:3"), "\(r.stderr)")
        #expect(!r.stderr.contains(folder.path), "names a working-folder path: \(r.stderr)")
    }
}
