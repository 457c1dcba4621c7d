import Foundation
import GitStore

/// A read-only view of the artifact repository at one commit. Confined to the call that made it
/// (it holds the open `Repository`).
public struct HistorySnapshot {
    let repo: Repository
    /// The commit this view is of.
    public let commit: ObjectID
    /// Its root tree.
    public let tree: ObjectID

    init(repo: Repository, revision: String) throws {
        self.repo = repo
        let resolved: ObjectID
        do {
            resolved = try repo.resolveCommit(revision)
        } catch {
            guard error.isNotFound else { throw HistoryError.git(error.description) }
            if revision.hasPrefix("refs/") { throw HistoryError.emptyHistory(ref: revision) }
            throw HistoryError.git("no such revision \"\(revision)\" in the history")
        }
        commit = resolved
        tree = try repo.treeOfCommit(resolved)
    }

    /// The bytes of `path`, or nil when there is no such file.
    public func file(_ path: String) throws -> Data? {
        guard let e = try repo.entry(atPath: path, inTree: tree), e.kind == .blob else { return nil }
        return try blob(e.id, path: path)
    }

    /// Reads a blob; a damaged object is reported with its path, its cycle and the commit, not libgit2's words alone.
    func blob(_ id: ObjectID, path: String) throws -> Data {
        do { return try repo.blob(id) } catch {
            let cycle = Layout.cycleNumber(ofPath: path).map { " (cycle \($0))" } ?? ""
            throw HistoryError.corrupt(
                path: "\(path)\(cycle) at commit \(String(commit.hex.prefix(12)))",
                reason: "the stored object \(String(id.hex.prefix(12))) cannot be read (\(error.message)); restore it from a clone of the history (git fsck names every damaged object)")
        }
    }

    /// The UTF-8 text of `path`, or nil.
    public func text(_ path: String) throws -> String? {
        try file(path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Every file under `prefix`, path (relative to `prefix`) → bytes.
    public func files(under prefix: String) throws -> [String: Data] {
        let all = try repo.fileIDs(inTree: tree, under: prefix)
        let base = prefix.split(separator: "/").joined(separator: "/")
        var out: [String: Data] = [:]
        for (path, id) in all {
            let rel = base.isEmpty ? path : String(path.dropFirst(base.count + 1))
            out[rel] = try blob(id, path: path)
        }
        return out
    }

    /// Every file under `prefix` as UTF-8 text, path (relative to `prefix`) → text.
    public func texts(under prefix: String) throws -> [String: String] {
        try files(under: prefix).mapValues { String(decoding: $0, as: UTF8.self) }
    }

    /// Every file under `prefix` with its blob id (paths relative to `prefix`), without reading contents.
    public func fileIDs(under prefix: String) throws -> [String: ObjectID] {
        let all = try repo.fileIDs(inTree: tree, under: prefix)
        let base = prefix.split(separator: "/").joined(separator: "/")
        var out: [String: ObjectID] = [:]
        for (path, id) in all { out[base.isEmpty ? path : String(path.dropFirst(base.count + 1))] = id }
        return out
    }

    /// The object id of the tree (or blob) at `path`.
    public func treeID(of path: String) throws -> ObjectID? {
        try repo.entry(atPath: path, inTree: tree)?.id
    }

    /// The entries of the tree `id` (a folder the caller found in this view, e.g. by `treeID(of:)`).
    public func entries(ofTree id: ObjectID) throws -> [TreeEntry] {
        do { return try repo.entries(ofTree: id) } catch { throw HistoryError.git("cannot read tree \(String(id.hex.prefix(12))): \(error.description)") }
    }

    /// Every file of the tree `id` (e.g. a cycle's recorded harness), path → bytes; `what` names it in errors.
    public func files(inTree id: ObjectID, what: String) throws -> [String: Data] {
        do { return try repo.files(inTree: id) } catch { throw HistoryError.git("cannot read \(what): \(error.description)") }
    }

    /// libgit2's diff between two trees of the history (nil: an empty tree), limited to `paths` when given; `what`
    /// names it in errors.
    public func diff(from old: ObjectID?, to new: ObjectID?, paths: [String] = [], what: String) throws -> TreeDiff {
        do { return try repo.diff(from: old, to: new, paths: paths) } catch { throw HistoryError.git("cannot diff \(what): \(error.description)") }
    }

    /// Every cycle, by number.
    public func cycles() throws -> [Cycle] {
        guard let folder = try repo.entry(atPath: Layout.cycles, inTree: tree), folder.kind == .tree else { return [] }
        var out: [Cycle] = []
        for e in try repo.entries(ofTree: folder.id) where e.kind == .tree {
            guard let n = Int(e.name) else { continue }
            let path = Layout.cycleFile(n, Layout.CycleFile.cycle)
            guard let data = try file(path) else { continue }
            out.append(try Cycle.decode(data, path: path))
        }
        return out.sorted { $0.number < $1.number }
    }

    /// The newest cycle, reading only its `cycle.json` (what stages ask on every commit: is the last cycle open?).
    public func lastCycle() throws -> Cycle? {
        guard let folder = try repo.entry(atPath: Layout.cycles, inTree: tree), folder.kind == .tree else { return nil }
        let numbers = try repo.entries(ofTree: folder.id).filter { $0.kind == .tree }.compactMap { Int($0.name) }
        for n in Set(numbers).sorted(by: >) {
            if let c = try cycle(n) { return c }
        }
        return nil
    }

    /// Cycle `number`, reading only its own `cycle.json` (nil when the history has no such cycle).
    public func cycle(_ number: Int) throws -> Cycle? {
        let path = Layout.cycleFile(number, Layout.CycleFile.cycle)
        return try file(path).map { try Cycle.decode($0, path: path) }
    }

    /// A cycle's file (`name` relative to `cycles/NNNN/`).
    public func cycleFile(_ number: Int, _ name: String) throws -> Data? {
        try file(Layout.cycleFile(number, name))
    }

    /// Refuses edits that touch the folder of a closed cycle (`allowClosing`: the close stage may write the
    /// open cycle's own `cycle.json`). Reads only the `cycle.json` of the cycles the edits touch, so a commit costs the
    /// same at cycle 5 and at cycle 500.
    func guardWritable(_ changes: TreeChanges, allowClosing: Bool) throws {
        var status: [Int: Bool] = [:]
        func isClosed(_ n: Int) throws -> Bool {
            if let known = status[n] { return known }
            let path = Layout.cycleFile(n, Layout.CycleFile.cycle)
            let closed = try file(path).map { try Cycle.decode($0, path: path).status == .closed } ?? false
            status[n] = closed
            return closed
        }
        for path in changes.touchedPaths {
            if let n = Layout.cycleNumber(ofPath: path), try isClosed(n) {
                throw HistoryError.cycleClosed(n, path: path)
            }
            if path == Layout.cycles || path == Layout.cycles + "/" {
                let closed = try cycles().filter { $0.status == .closed }.map(\.number)
                if let first = closed.min() { throw HistoryError.cycleClosed(first, path: path) }
            }
        }
        _ = allowClosing
    }
}
