import Foundation
import GitStore

/// The loop's record: an artifact repository (bare or not) and the ref its history lives on.
///
/// Every write is one commit per stage, made with GitStore's compare-and-swap so two writers never lose
/// each other's work; a closed cycle's folder is never rewritten. Each call opens the repository, does
/// its work synchronously and closes it (C handles never cross tasks), so `LoopHistory` is a `Sendable` value.
public struct LoopHistory: Sendable {
    /// The repository folder.
    public let repository: URL
    /// The full ref name, e.g. `refs/heads/main`.
    public let ref: String

    public init(repository: URL, ref: String = "refs/heads/main") {
        self.repository = repository
        self.ref = Layout.refName(ref)
    }

    // MARK: - Set up

    /// Creates the repository if needed (bare by default) and, when the ref has no commit yet, makes the first
    /// commit (stage `init`) holding `files` (e.g. `loop.yaml`, the harness, the suite).
    /// - Returns: true when a first commit was made.
    @discardableResult
    public func initialize(bare: Bool = true, files: [String: Data] = [:], message: String = "flywheel: init") throws -> Bool {
        let repo = try Repository.openOrCreate(at: repository, bare: bare)
        let made = try repo.commit(
            onto: ref, message: Repository.message(message, trailers: [Trailer("Flywheel-Stage", Stage.initialize.rawValue)]),
            author: .flywheel()
        ) { tip in
            tip == nil ? TreeChanges(writes: files) : nil
        }
        return made != nil
    }

    /// True when the repository exists and the ref has a commit.
    public var exists: Bool {
        guard let repo = try? Repository.open(at: repository) else { return false }
        return ((try? repo.referenceTarget(ref)) ?? nil) != nil
    }

    // MARK: - Reading

    /// Opens the repository and runs `body` with it.
    public func withRepository<R>(_ body: (Repository) throws -> R) throws -> R {
        let repo: Repository
        do { repo = try Repository.open(at: repository) } catch { throw HistoryError.git(error.description) }
        return try body(repo)
    }

    /// The tip commit of the ref.
    public func tip() throws -> ObjectID {
        try withRepository { repo in
            guard let tip = try repo.referenceTarget(ref) else { throw HistoryError.emptyHistory(ref: ref) }
            return tip
        }
    }

    /// A read-only view of the history at `revision` (default: the tip of the ref).
    public func snapshot(at revision: String? = nil) throws -> HistorySnapshot {
        try withRepository { repo in try HistorySnapshot(repo: repo, revision: revision ?? ref) }
    }

    /// Every cycle at the tip (or at `revision`), by number.
    public func cycles(at revision: String? = nil) throws -> [Cycle] {
        try withRepository { repo in try HistorySnapshot(repo: repo, revision: revision ?? ref).cycles() }
    }

    /// The newest cycle (nil in a history without one), reading only its `cycle.json`.
    public func lastCycle(at revision: String? = nil) throws -> Cycle? {
        try withRepository { repo in try HistorySnapshot(repo: repo, revision: revision ?? ref).lastCycle() }
    }

    /// The open cycle.
    /// - Throws: `HistoryError.noOpenCycle` when the newest cycle is closed or there is none.
    public func openCycle() throws -> Cycle {
        guard let last = try lastCycle(), last.status == .open else { throw HistoryError.noOpenCycle }
        return last
    }

    /// The cycle numbered `number`.
    public func cycle(_ number: Int) throws -> Cycle {
        // One cycle.json, not every cycle's: revision(ofCycle:) asks this for each cycle a stage or the site reads.
        guard number > 0, let c = try withRepository({ repo in try HistorySnapshot(repo: repo, revision: ref).cycle(number) }) else {
            throw HistoryError.noSuchCycle(number)
        }
        return c
    }

    /// The stage commits, newest first.
    public func log(limit: Int = .max) throws -> [StageCommit] {
        try withRepository { repo in
            guard try repo.referenceTarget(ref) != nil else { throw HistoryError.emptyHistory(ref: ref) }
            return try repo.log(from: ref, limit: limit).map(StageCommit.init)
        }
    }

    // MARK: - Writing

    /// Commits one stage: `change` receives a view of the current tip and returns the edits (paths from the
    /// repository root). Re-run on a lost race, so it must be a pure function of the snapshot. Edits under a
    /// closed cycle's folder are refused.
    /// - Returns: the new commit (nil when `change` returned no edits).
    @discardableResult
    public func commitStage(
        _ stage: Stage, cycle: Int?, title: String? = nil, body: String? = nil,
        change: (HistorySnapshot) throws -> TreeChanges?
    ) throws -> ObjectID? {
        let subject = title ?? (cycle.map { "cycle \($0): \(stage.rawValue)" } ?? "flywheel: \(stage.rawValue)")
        var trailers: [Trailer] = []
        if let cycle { trailers.append(Trailer("Flywheel-Cycle", String(cycle))) }
        trailers.append(Trailer("Flywheel-Stage", stage.rawValue))
        let message = Repository.message([subject, body].compactMap { $0 }.joined(separator: "\n\n"), trailers: trailers)
        try checkStaleLock()
        return try withRepository { repo in
            // Re-running a stage whose output did not change commits nothing (no empty commits).
            try repo.commit(onto: ref, message: message, author: .flywheel(), skipUnchanged: true) { tip in
                guard let tip else { throw HistoryError.emptyHistory(ref: ref) }
                let snap = try HistorySnapshot(repo: repo, revision: tip.hex)
                guard let changes = try change(snap), !changes.isEmpty else { return nil }
                try snap.guardWritable(changes, allowClosing: stage == .close)
                return changes
            }
        }
    }

    /// The lock file of the ref (`<git dir>/refs/heads/main.lock`): held for an instant by each writer.
    public var lockFile: URL {
        let gitDir = (try? withRepository { $0.gitDirectory }) ?? repository
        return gitDir.appendingPathComponent(ref + ".lock")
    }

    /// Refuses to write when the ref's lock is older than `staleAfter` seconds: a writer holds it for milliseconds, so
    /// an old one was left by a killed process. The message names the lock and the command that clears it.
    public func checkStaleLock(staleAfter: TimeInterval = 10) throws {
        let lock = lockFile
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: lock.path),
              let modified = attributes[.modificationDate] as? Date else { return }
        let age = Date().timeIntervalSince(modified)
        guard age > staleAfter else { return }
        throw HistoryError.git(
            "the ref lock \(lock.path) is \(Int(age)) s old: a killed flywheel (or git) left it. If nothing else is writing to "
                + "\(repository.path), clear it with: rm '\(lock.path)' — then run the command again (flywheel loop --resume continues a cycle)")
    }

    /// Commits a stage's files into the open cycle's folder (`names` relative to `cycles/NNNN/`), refusing when no
    /// cycle is open. `extra` edits elsewhere in the tree (e.g. the suite) ride along in the same commit.
    @discardableResult
    public func commitToOpenCycle(
        _ stage: Stage, files: [String: Data], replacing: [String] = [], extra: TreeChanges = TreeChanges(),
        body: String? = nil, updateCycle: ((inout Cycle) -> Void)? = nil
    ) throws -> (cycle: Int, commit: ObjectID?) {
        try commitMerging(stage, body: body, updateCycle: updateCycle) { _, open in
            var changes = extra
            for name in replacing { changes.remove(Layout.cycleFile(open.number, name)) }
            return (files, changes)
        }
    }

    /// Commits a stage into the open cycle with files computed from the tip being committed onto. When another writer
    /// moves the ref first, `compute` runs again on the new tip, so concurrent stages merge (two reviewers adding
    /// feedback at once) or refuse (two runs of one cycle) instead of overwriting each other's files.
    /// - Parameters:
    ///   - compute: given the tip's snapshot and its open cycle, the files (relative to `cycles/NNNN/`) and any
    ///     other edits of the stage. It may throw to refuse.
    ///   - updateCycle: edits `cycle.json` of the open cycle, applied to the tip's version.
    /// - Returns: the cycle number and the commit (nil when nothing changed).
    @discardableResult
    public func commitMerging(
        _ stage: Stage, body: String? = nil, updateCycle: ((inout Cycle) -> Void)? = nil,
        compute: (HistorySnapshot, Cycle) throws -> (files: [String: Data], extra: TreeChanges)
    ) throws -> (cycle: Int, commit: ObjectID?) {
        let number = try openCycle().number
        let commit = try commitStage(stage, cycle: number, title: nil, body: body) { snap in
            guard let open = try snap.lastCycle(), open.status == .open, open.number == number else {
                throw HistoryError.noOpenCycle
            }
            let (files, extra) = try compute(snap, open)
            var changes = extra
            for (name, data) in files { changes.write(Layout.cycleFile(open.number, name), data) }
            if let updateCycle {
                var c = open
                updateCycle(&c)
                changes.write(Layout.cycleFile(open.number, Layout.CycleFile.cycle), c.encoded())
            }
            return changes
        }
        return (number, commit)
    }

    /// Starts a cycle: snapshots `harness` (path → bytes, relative to `harness/`) into `harness/` (replacing it;
    /// nil keeps the harness as it is), writes `cycles/NNNN/cycle.json` with status open, one commit (stage `start`).
    public func startCycle(
        harness: [String: Data]?, sourceCommit: String? = nil, models: [String: String] = [:],
        summary: String? = nil, now: Date = Date(), cycleFiles: [String: Data] = [:],
        experiment: ((_ previous: Cycle?) -> Experiment)? = nil
    ) throws -> Cycle {
        var started: Cycle?
        // The commit's subject names the number seen now; if another writer starts a cycle meanwhile the
        // re-applied change sees it open and refuses, so the name never lies.
        let tipSnapshot = try snapshot()
        let next = (try tipSnapshot.lastCycle()?.number ?? 0) + 1
        _ = try commitStage(.start, cycle: next, body: summary) { snap in
            let cycles = try snap.cycles()
            if let last = cycles.last, last.status == .open { throw HistoryError.cycleAlreadyOpen(last.number) }
            let number = (cycles.last?.number ?? 0) + 1
            guard number == next else { throw HistoryError.git("another writer started cycle \(number - 1) meanwhile") }
            var changes = TreeChanges()
            var harnessTree: String?
            if let harness {
                changes.remove(Layout.harness)
                for (path, data) in harness { changes.write("\(Layout.harness)/\(path)", data) }
                harnessTree = try snap.repo.writeTree(files: harness).hex
            } else {
                harnessTree = try snap.treeID(of: Layout.harness)?.hex
            }
            var cycle = Cycle(
                number: number, startedAt: ISO8601.string(now), harnessTree: harnessTree, sourceCommit: sourceCommit,
                models: models, summary: summary)
            cycle.experiment = experiment?(cycles.last)
            changes.write(Layout.cycleFile(number, Layout.CycleFile.cycle), cycle.encoded())
            for (name, data) in cycleFiles { changes.write(Layout.cycleFile(number, name), data) }
            started = cycle
            return changes
        }
        guard let started else { throw HistoryError.git("cycle start made no commit") }
        return started
    }

    /// Closes the open cycle (stage `close`), updating its record with `update`, and tags it `cycle-NNNN`.
    public func closeCycle(now: Date = Date(), update: ((inout Cycle) -> Void)? = nil) throws -> Cycle {
        let open = try openCycle()
        var closed: Cycle?
        let commit = try commitStage(.close, cycle: open.number) { snap in
            guard var c = try snap.lastCycle(), c.status == .open, c.number == open.number else {
                throw HistoryError.noOpenCycle
            }
            update?(&c)
            c.status = .closed
            c.closedAt = ISO8601.string(now)
            closed = c
            return TreeChanges(writes: [Layout.cycleFile(c.number, Layout.CycleFile.cycle): c.encoded()])
        }
        guard let commit, let closed else { throw HistoryError.noOpenCycle }
        try withRepository { repo in
            let msg = "Flywheel cycle \(closed.number)" + (closed.scores.passRate.map { String(format: ", pass rate %.1f%%", $0 * 100) } ?? "")
            try repo.createTag(Layout.cycleTag(closed.number), target: commit, message: msg + "\n")
        }
        // Closing a cycle packs the history once loose objects pile up (as git's gc.auto does); a failed pack
        // leaves the loose objects as they were, so the close itself stands.
        _ = try? gc(ifLooseObjectsExceed: Self.autoPackThreshold)
        return closed
    }

    /// Loose objects above which `closeCycle` packs the history (git's gc.auto default is 6700; cycles write a few
    /// hundred objects each).
    public static let autoPackThreshold = 2000

    /// Packs the history's reachable objects into one pack (libgit2's packbuilder) and removes the loose copies;
    /// with a threshold, only when there are more loose objects than that. nil when nothing was done.
    @discardableResult
    public func gc(ifLooseObjectsExceed threshold: Int = 0) throws -> Repository.PackReport? {
        try withRepository { repo -> Repository.PackReport? in
            guard repo.looseObjectFiles().count > threshold else { return nil }
            do { return try repo.pack() } catch { throw HistoryError.git("\(error)") }
        }
    }
}

/// A stage commit of the history.
public struct StageCommit: Sendable, Hashable, Codable {
    public let id: String
    public let summary: String
    public let cycle: Int?
    public let stage: String?
    /// ISO-8601 UTC.
    public let date: String
    public let author: String

    init(_ info: CommitInfo) {
        id = info.id.hex
        summary = info.summary
        cycle = info.trailer("Flywheel-Cycle").flatMap { Int($0) }
        stage = info.trailer("Flywheel-Stage")
        date = ISO8601.string(info.committer.date)
        author = info.author.name
    }
}

/// ISO-8601 UTC with seconds, `en_US_POSIX` (deterministic).
public enum ISO8601 {
    public static func string(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd'T'HH:mm:ss'Z'"
        return f.string(from: date)
    }
}

// MARK: - Revisions and diffs

extension LoopHistory {
    /// The revision holding a cycle's state: its tag when closed, else the tip of the ref.
    public func revision(ofCycle number: Int) throws -> String {
        let c = try cycle(number)
        if c.status == .closed {
            let tag = Layout.cycleTag(number)
            let exists = try withRepository { repo in try repo.referenceTarget("refs/tags/\(tag)") != nil }
            if exists { return "refs/tags/\(tag)" }
        }
        return ref
    }

    /// Resolves what a user typed for a diff end: a cycle number (`3`, `0003`, `cycle-0003`) or any revision.
    public func resolveRevision(_ text: String) throws -> String {
        let digits = text.hasPrefix("cycle-") ? String(text.dropFirst(6)) : text
        if let n = Int(digits), digits.count <= 6 { return try revision(ofCycle: n) }
        return text
    }

    /// The diff between two revisions (or cycles), limited to `path` (e.g. `harness`), from libgit2's diff.
    public func diff(from a: String, to b: String, path: String? = nil, contextLines: Int = 3) throws -> TreeDiff {
        let from = try resolveRevision(a), to = try resolveRevision(b)
        return try withRepository { repo in
            do {
                let spec = path.map { $0.hasSuffix("/") || $0.contains("*") ? $0 : $0 + "/" }
                let old = try repo.treeOfCommit(try repo.resolveCommit(from))
                let new = try repo.treeOfCommit(try repo.resolveCommit(to))
                var d = try repo.diff(from: old, to: new, paths: spec.map { [$0] } ?? [], contextLines: contextLines)
                if d.isEmpty, let path, !path.hasSuffix("/") {
                    // A single file path rather than a folder.
                    d = try repo.diff(from: old, to: new, paths: [path], contextLines: contextLines)
                }
                return d
            } catch let error as GitError {
                throw HistoryError.git("cannot diff \(a)..\(b): \(error.message)")
            }
        }
    }
}
