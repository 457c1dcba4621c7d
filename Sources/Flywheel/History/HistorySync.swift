import FlywheelSupport
import Foundation
import GitStore
import Spawn

/// What a push or a pull did.
public struct SyncReport: Sendable, Codable {
    public var remote: String
    /// The ref's commit after the operation (local and, for a push, remote).
    public var tip: String?
    /// Local stage commits re-applied onto the remote's tip (the remote had moved).
    public var reapplied: Int
    /// Local commits left out because the remote already held what they added (a task never twice).
    public var dropped: Int
    /// Attempts a push needed (a lost race is retried).
    public var attempts: Int
    /// Cycle tags pushed or fetched.
    public var tags: [String]
    /// True when nothing needed to move.
    public var upToDate: Bool
}

/// `flywheel push` / `flywheel pull`: the git remote as the shared store of runners that each run part of a cycle.
///
/// Both fetch the remote's ref and bring this clone's history onto it: when one side is ahead it fast-forwards;
/// when both moved, this clone's stage commits since the common ancestor are re-applied onto the remote's tip with
/// the merge rules of concurrent local writers (a run's traces and outputs merge as a union through `RunMerge`, a
/// task never twice; other stages re-apply their file edits, `cycle.json` merged field by field). A push then
/// pushes, and when another runner won the race meanwhile, fetches and does it again.
public enum HistorySync {
    /// Where the remote's ref is fetched to (a private ref of this clone).
    static let remoteTipRef = "refs/flywheel/remote-tip"
    static let remoteTagPrefix = "refs/flywheel/remote-tags/"

    /// Brings the remote's history into this clone (creating the repository when there is none).
    public static func pull(_ history: LoopHistory, remote: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> SyncReport {
        let repo = try open(history)
        let credentials = GitCredentials.provider(environment: environment, helper: repo.configValue("credential.helper"))
        guard let remoteTip = try fetch(repo, history: history, remote: remote, credentials: credentials) else {
            throw HistoryError.git("the remote \(remote) has no \(history.ref): push a history there first")
        }
        var report = try integrate(repo, history: history, remoteTip: remoteTip)
        report.remote = remote
        // Cycle tags the clone does not have yet.
        for tag in try remoteTags(repo) where try repo.referenceTarget("refs/tags/\(tag.name)") == nil {
            try repo.setReference("refs/tags/\(tag.name)", to: tag.id, expected: nil, logMessage: "flywheel: pull")
            report.tags.append(tag.name)
        }
        return report
    }

    /// Pushes this clone's history (and its cycle tags) to the remote, re-applying its stage commits onto the remote's
    /// tip when the remote moved, and retrying when another runner wins the race (up to `maxAttempts`).
    public static func push(
        _ history: LoopHistory, remote: String, maxAttempts: Int = 20, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> SyncReport {
        let repo = try open(history)
        guard try repo.referenceTarget(history.ref) != nil else { throw HistoryError.emptyHistory(ref: history.ref) }
        let credentials = GitCredentials.provider(environment: environment, helper: repo.configValue("credential.helper"))
        var attempt = 0
        var reapplied = 0, dropped = 0
        while true {
            attempt += 1
            let remoteTip = try fetch(repo, history: history, remote: remote, credentials: credentials)
            var report = SyncReport(remote: remote, tip: nil, reapplied: 0, dropped: 0, attempts: attempt, tags: [], upToDate: false)
            if let remoteTip {
                let r = try integrate(repo, history: history, remoteTip: remoteTip)
                reapplied += r.reapplied
                dropped += r.dropped
            }
            guard let local = try repo.referenceTarget(history.ref) else { throw HistoryError.emptyHistory(ref: history.ref) }
            let have = Set(try remoteTags(repo).map(\.name))
            let tags = try repo.tags().filter { $0.name.hasPrefix("cycle-") && !have.contains($0.name) }.map(\.name)
            var specs = tags.map { "refs/tags/\($0):refs/tags/\($0)" }
            if local != remoteTip { specs.insert("\(history.ref):\(history.ref)", at: 0) }
            report.tip = local.hex
            report.tags = tags
            report.reapplied = reapplied
            report.dropped = dropped
            report.upToDate = specs.isEmpty
            if specs.isEmpty { return report }
            do {
                if local != remoteTip, let remoteRepo = localRepository(remote) {
                    // A local or file:// remote: libgit2's local transport moves the remote ref without checking
                    // its old value, so two pushes racing could overwrite each other. The objects go to a ref of
                    // this push's own, then the remote ref moves by compare-and-swap against the tip fetched above.
                    let staging = "refs/flywheel/incoming/\(UUID().uuidString)"
                    try repo.push(to: remote, refspecs: ["\(history.ref):\(staging)"], credentials: credentials)
                    defer { try? remoteRepo.removeReference(staging) }
                    try remoteRepo.setReference(history.ref, to: local, expected: remoteTip, logMessage: "flywheel push")
                    let tagSpecs = Array(specs.dropFirst())
                    if !tagSpecs.isEmpty { try repo.push(to: remote, refspecs: tagSpecs, credentials: credentials) }
                } else {
                    try repo.push(to: remote, refspecs: specs, credentials: credentials)
                }
                return report
            } catch {
                // Lost the race (the remote moved since the fetch, or its ref was locked by the winner): fetch and
                // re-apply again. Any other failure is reported as it is.
                let now = try? fetch(repo, history: history, remote: remote, credentials: credentials)
                let moved = now != remoteTip || error.isConcurrentUpdate
                let locked = error.message.contains("lock")
                guard (moved || locked), attempt < maxAttempts else {
                    throw HistoryError.git("cannot push to \(remote): \(error.message)" + (attempt >= maxAttempts ? " (after \(attempt) attempts)" : ""))
                }
                usleep(UInt32.random(in: 20_000...(50_000 * UInt32(min(attempt, 10)))))
            }
        }
    }

    /// The repository of a local remote (a path or a `file://` URL), opened directly; nil for network remotes.
    static func localRepository(_ remote: String) -> Repository? {
        let path: String
        if remote.hasPrefix("file://") { path = String(remote.dropFirst("file://".count)) } else if remote.hasPrefix("/") || remote.hasPrefix(".") { path = remote } else { return nil }
        return try? Repository.open(at: URL(fileURLWithPath: path))
    }

    // MARK: - Fetching

    static func open(_ history: LoopHistory) throws -> Repository {
        do { return try Repository.openOrCreate(at: history.repository, bare: true) } catch { throw HistoryError.git(error.description) }
    }

    /// Fetches the remote's ref and cycle tags into this clone's private refs; returns the remote's tip (nil when the
    /// remote has no such ref yet).
    static func fetch(_ repo: Repository, history: LoopHistory, remote: String, credentials: CredentialProvider?) throws -> ObjectID? {
        try repo.removeReference(remoteTipRef)
        for name in try repo.referenceNames() where name.hasPrefix(remoteTagPrefix) { try repo.removeReference(name) }
        do {
            try repo.fetch(from: remote, refspecs: ["+\(history.ref):\(remoteTipRef)", "+refs/tags/cycle-*:\(remoteTagPrefix)cycle-*"], credentials: credentials)
        } catch {
            throw HistoryError.git("cannot fetch \(history.ref) from \(remote): \(error.message)")
        }
        return try repo.referenceTarget(remoteTipRef)
    }

    static func remoteTags(_ repo: Repository) throws -> [(name: String, id: ObjectID)] {
        try repo.referenceNames().filter { $0.hasPrefix(remoteTagPrefix) }.compactMap { name in
            try repo.referenceTarget(name).map { (String(name.dropFirst(remoteTagPrefix.count)), $0) }
        }
    }

    // MARK: - Bringing the two histories together

    /// Makes the local ref contain `remoteTip`: fast-forward, or re-apply the local commits since the common ancestor.
    static func integrate(_ repo: Repository, history: LoopHistory, remoteTip: ObjectID) throws -> SyncReport {
        var report = SyncReport(remote: "", tip: nil, reapplied: 0, dropped: 0, attempts: 1, tags: [], upToDate: false)
        guard let local = try repo.referenceTarget(history.ref) else {
            try repo.setReference(history.ref, to: remoteTip, expected: nil, logMessage: "flywheel: pull")
            report.tip = remoteTip.hex
            return report
        }
        report.tip = local.hex
        if try repo.isAncestor(remoteTip, of: local) {
            report.upToDate = true
            return report
        }
        if try repo.isAncestor(local, of: remoteTip) {
            try repo.setReference(history.ref, to: remoteTip, expected: local, logMessage: "flywheel: pull (fast-forward)")
            report.tip = remoteTip.hex
            return report
        }
        guard let base = try repo.mergeBase(local, remoteTip) else {
            throw HistoryError.git("the remote's \(history.ref) shares no commit with this clone's: pull into an empty repository instead")
        }
        // This clone's commits since the common ancestor, oldest first (the history is linear: one parent each).
        var mine: [CommitInfo] = []
        var cursor = local
        while cursor != base {
            let info = try repo.commitInfo(cursor)
            mine.append(info)
            guard let parent = info.parents.first else { break }
            cursor = parent
        }
        var tip = remoteTip
        var moved: [ObjectID: ObjectID] = [:]
        for info in mine.reversed() {
            if let next = try reapply(repo, info, onto: tip) {
                moved[info.id] = next
                tip = next
                report.reapplied += 1
            } else {
                moved[info.id] = tip
                report.dropped += 1
            }
        }
        try repo.setReference(history.ref, to: tip, expected: local, logMessage: "flywheel: re-applied onto the remote's tip")
        // A cycle this clone closed keeps its tag on the re-applied close commit.
        for tag in try repo.tags() where tag.name.hasPrefix("cycle-") {
            if let to = moved[tag.target] {
                try repo.createTag(tag.name, target: to, message: tag.message ?? "Flywheel \(tag.name)\n", force: true)
            }
        }
        report.tip = tip.hex
        return report
    }

    /// Re-applies one stage commit onto `tip`; nil when it adds nothing there.
    static func reapply(_ repo: Repository, _ info: CommitInfo, onto tip: ObjectID) throws -> ObjectID? {
        guard let parent = info.parents.first else { return nil }
        let before = try HistorySnapshot(repo: repo, revision: parent.hex)
        let after = try HistorySnapshot(repo: repo, revision: info.id.hex)
        let target = try HistorySnapshot(repo: repo, revision: tip.hex)
        let stage = info.trailer("Flywheel-Stage")
        let cycle = info.trailer("Flywheel-Cycle").flatMap { Int($0) }
        var changes: TreeChanges
        if stage == Stage.traces.rawValue, let cycle {
            changes = try reapplyRun(before: before, after: after, target: target, cycle: cycle)
        } else {
            if stage == Stage.start.rawValue, let cycle, try target.cycleFile(cycle, Layout.CycleFile.cycle) != nil {
                throw HistoryError.git(
                    "this clone and the remote both started cycle \(cycle): a runner joins a cycle with `flywheel pull` before it runs, it does not start its own")
            }
            changes = try reapplyEdits(before: before, after: after, target: target)
        }
        guard !changes.isEmpty else { return nil }
        let tree = try repo.writeTree(base: target.tree, changes: changes)
        if tree == target.tree { return nil }
        return try repo.createCommit(tree: tree, parents: [tip], message: info.message, author: info.author, committer: .flywheel())
    }

    /// A run commit: the runs it added, merged into the target's cycle as a union (a task the target holds is kept).
    static func reapplyRun(before: HistorySnapshot, after: HistorySnapshot, target: HistorySnapshot, cycle: Int) throws -> TreeChanges {
        guard let open = try target.lastCycle(), open.number == cycle, open.status == .open else {
            throw HistoryError.git("cycle \(cycle) is not open on the remote any more: its runs cannot be added (start a new cycle)")
        }
        let old = try RunMerge.existing(before, cycle: cycle)
        let new = try RunMerge.existing(after, cycle: cycle)
        let outputs = Layout.cycleFile(cycle, Layout.CycleFile.outputs)
        var incoming: [TaskRecord] = []
        for id in new.order where old.spans[id] == nil || old.spans[id] != new.spans[id] {
            guard let task = new.tasks[id] else { continue }
            let files = try after.files(under: "\(outputs)/\(SafeName.treeName(id))")
            let failed = new.spans[id]?.contains { $0.parentSpanID.isEmpty && $0.attributes[TraceIdentity.failedAttribute] == .bool(true) } ?? false
            incoming.append(TaskRecord(taskID: task, traceID: id, spans: new.spans[id] ?? [], outputs: files, failed: failed))
        }
        let merged = try RunMerge.merge(target, cycle: cycle, incoming: incoming, replace: false, taskOrder: try taskOrder(target, cycle: cycle, fallback: after))
        guard !merged.added.isEmpty else { return TreeChanges() }
        var changes = merged.extra
        for (name, data) in merged.files { changes.write(Layout.cycleFile(cycle, name), data) }
        var record = open
        RunMerge.update(&record, merged)
        if let mine = try after.cycles().first(where: { $0.number == cycle }) {
            if let agent = mine.models["agent"] { record.models["agent"] = agent }
            if let cost = mine.scores.costUSD { record.scores.costUSD = (record.scores.costUSD ?? 0) + cost - (try before.cycles().first { $0.number == cycle }?.scores.costUSD ?? 0) }
        }
        changes.write(Layout.cycleFile(cycle, Layout.CycleFile.cycle), record.encoded())
        return changes
    }

    /// The task set's order of a cycle (its snapshot in `cycles/NNNN/tasks/`), else the runs' recorded selection.
    static func taskOrder(_ snap: HistorySnapshot, cycle: Int, fallback: HistorySnapshot) throws -> [String] {
        for (name, data) in try snap.files(under: Layout.cycleFile(cycle, Layout.CycleFile.tasks)).sorted(by: { $0.key < $1.key }) {
            if let set = try? TaskSet.parse(String(decoding: data, as: UTF8.self), file: name) { return set.tasks.map(\.id) }
        }
        let a = try snap.cycles().first { $0.number == cycle }?.experiment?.taskSet?.selected ?? []
        let b = try fallback.cycles().first { $0.number == cycle }?.experiment?.taskSet?.selected ?? []
        return a + b.filter { !a.contains($0) }
    }

    /// Any other stage: its file edits re-applied; a JSON file both sides changed (cycle.json) merged field by field,
    /// this clone's changes winning where both changed the same field.
    static func reapplyEdits(before: HistorySnapshot, after: HistorySnapshot, target: HistorySnapshot) throws -> TreeChanges {
        let old = try before.fileIDs(under: ""), new = try after.fileIDs(under: ""), there = try target.fileIDs(under: "")
        var changes = TreeChanges()
        for (path, id) in new where old[path] != id {
            guard let data = try after.file(path) else { continue }
            if path.hasSuffix(".json"), let base = old[path], let theirs = there[path], theirs != base,
               let merged = try mergeJSON(base: before.file(path), mine: data, theirs: target.file(path)) {
                changes.write(path, merged)
            } else {
                changes.write(path, data)
            }
        }
        for path in old.keys where new[path] == nil { changes.remove(path) }
        return changes
    }

    /// A three-way merge of two edits of one JSON object (nil when a side is not a JSON object).
    static func mergeJSON(base: Data?, mine: Data, theirs: Data?) throws -> Data? {
        func parse(_ d: Data?) -> JSONValue? { d.flatMap { try? JSONValue.parse(String(decoding: $0, as: UTF8.self)) } }
        guard let b = parse(base), let m = parse(mine), let t = parse(theirs) else { return nil }
        func merge(_ b: JSONValue?, _ m: JSONValue?, _ t: JSONValue?) -> JSONValue? {
            if m == b { return t }
            guard case .object(let mo)? = m, case .object(let bo)? = b, case .object(let to)? = t else { return m }
            var out: [String: JSONValue] = [:]
            for key in Set(mo.keys).union(bo.keys).union(to.keys) {
                if let v = merge(bo[key], mo[key], to[key]) { out[key] = v }
            }
            return .object(out)
        }
        guard let merged = merge(b, m, t) else { return nil }
        // cycle.json keeps its encoding (pretty, sorted keys, final newline).
        if let cycle = try? JSONDecoder().decode(Cycle.self, from: Data(merged.canonicalText.utf8)) { return cycle.encoded() }
        return Data((merged.canonicalText + "\n").utf8)
    }
}

/// Credentials for remotes, in this order: `FLYWHEEL_GIT_TOKEN` (https, user `FLYWHEEL_GIT_USERNAME` or
/// `x-access-token`), `FLYWHEEL_GIT_USERNAME` + `FLYWHEEL_GIT_PASSWORD`, git's credential helper
/// (`credential.helper` of the git configuration), and for ssh `FLYWHEEL_GIT_SSH_KEY` (a private key file, passphrase
/// `FLYWHEEL_GIT_SSH_PASSPHRASE`) else the ssh-agent.
public enum GitCredentials {
    public static func provider(environment: [String: String], helper: String?) -> CredentialProvider {
        { url, user, allowed in
            if allowed.contains(.sshKey) {
                let name = user ?? environment["FLYWHEEL_GIT_USERNAME"] ?? "git"
                if let key = environment["FLYWHEEL_GIT_SSH_KEY"] {
                    return .sshKey(username: name, publicKey: nil, privateKey: key, passphrase: environment["FLYWHEEL_GIT_SSH_PASSPHRASE"])
                }
                return .sshAgent(username: name)
            }
            guard allowed.contains(.userPass) else { return nil }
            if let token = environment["FLYWHEEL_GIT_TOKEN"], !token.isEmpty {
                return .userPass(username: environment["FLYWHEEL_GIT_USERNAME"] ?? user ?? "x-access-token", password: token)
            }
            if let name = environment["FLYWHEEL_GIT_USERNAME"], let password = environment["FLYWHEEL_GIT_PASSWORD"] {
                return .userPass(username: name, password: password)
            }
            if let helper, let (name, password) = fromHelper(helper, url: url, username: user) {
                return .userPass(username: name, password: password)
            }
            return nil
        }
    }

    /// Asks git's credential helper (`store`, `cache`, `/path/to/helper` or `!shell command`) with git's
    /// credential protocol (`get`, then `protocol=`, `host=`, `path=`, `username=` lines on stdin).
    public static func fromHelper(_ helper: String, url: String, username: String?) -> (String, String)? {
        guard let parsed = URLComponents(string: url), let scheme = parsed.scheme, let host = parsed.host else { return nil }
        let command: String
        if helper.hasPrefix("!") {
            command = String(helper.dropFirst()) + " get"
        } else if helper.hasPrefix("/") {
            command = "'\(helper.replacingOccurrences(of: "'", with: "'\\''"))' get"
        } else {
            // A helper named like `store` is the program git-credential-store (on PATH or in git's exec folder).
            let name = helper.split(separator: " ").first.map(String.init) ?? helper
            let rest = helper.dropFirst(name.count)
            command = "PATH=\"$PATH:/usr/lib/git-core:/usr/libexec/git-core\" git-credential-\(name)\(rest) get"
        }
        var input = "protocol=\(scheme)\nhost=\(host)\(parsed.port.map { ":\($0)" } ?? "")\n"
        let path = parsed.path.hasPrefix("/") ? String(parsed.path.dropFirst()) : parsed.path
        if !path.isEmpty { input += "path=\(path)\n" }
        if let name = username ?? parsed.user { input += "username=\(name)\n" }
        input += "\n"
        // A helper that hangs (waiting for a terminal, say) must not hang the push: 30 s, then its group is killed.
        guard let run = try? ChildProcess.run(ChildProcess.Request(
            executable: "/bin/sh", arguments: ["-c", command], environment: ProcessInfo.processInfo.environment,
            input: Data(input.utf8), timeout: 30)), run.succeeded
        else { return nil }
        let out = run.stdout
        var values: [String: String] = [:]
        for line in String(decoding: out, as: UTF8.self).split(separator: "\n") {
            let kv = line.split(separator: "=", maxSplits: 1).map(String.init)
            if kv.count == 2 { values[kv[0]] = kv[1] }
        }
        guard let name = values["username"] ?? username, let password = values["password"] else { return nil }
        return (name, password)
    }
}
