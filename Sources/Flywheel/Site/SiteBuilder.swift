import FlywheelSiteAssets
import FlywheelSupport
import FlywheelTemplates
import Foundation
import GitStore

/// What `SiteBuilder.build` is asked to do.
public struct SiteOptions: Sendable {
    /// Where the site is written (created when missing).
    public var outputDirectory: URL
    /// Absolute base URL of the published site, used only for canonical links (every other link is relative).
    public var baseURL: String?
    /// Render the site exactly as it was at this cycle (from the cycle's tag commit only).
    public var atCycle: Int?
    /// Rewrite only pages whose inputs (git object ids) changed since the last build in `outputDirectory`.
    public var incremental: Bool
    /// The revision to read (default: the history's ref); ignored when `atCycle` is set.
    public var revision: String?
    /// Markdown renderer for handoffs and Markdown artifacts (safe HTML only).
    public var markdown: any MarkdownRendering
    /// Cycles a page that lists cycles side by side (the eval matrix) shows: the latest `window`; earlier cycles are on
    /// archive pages of `window` cycles each (`matrix-0001-0050.html`), written once their last cycle exists and never
    /// changed by later cycles, so adding a cycle costs the same at cycle 50 and at cycle 500.
    public var window: Int

    public init(
        outputDirectory: URL, baseURL: String? = nil, atCycle: Int? = nil, incremental: Bool = true,
        revision: String? = nil, markdown: any MarkdownRendering = SiteMarkdown.default, window: Int = 50
    ) {
        self.window = max(1, window)
        self.outputDirectory = outputDirectory
        self.baseURL = baseURL
        self.atCycle = atCycle
        self.incremental = incremental
        self.revision = revision
        self.markdown = markdown
    }
}

/// What a build did.
public struct SiteReport: Sendable {
    /// Pages (HTML and data files) written in this build.
    public var pagesWritten: Int
    /// Pages whose inputs had not changed (left as they were).
    public var pagesSkipped: Int
    /// The site's entry page (`index.html`).
    public var indexPath: URL
    /// The written pages, relative to the output folder, sorted.
    public var written: [String]
    /// Files of an earlier build removed because the history no longer has them (e.g. a build `--at` an older cycle).
    public var removed: [String]
}

/// The Markdown renderer the site uses by default.
public enum SiteMarkdown {
    /// The default renderer: cmark-gfm (safe mode, tagfilter), each distinct text rendered once per process.
    public static let `default`: any MarkdownRendering = CachedMarkdown(CmarkMarkdown())
}

/// Errors of a site build.
public enum SiteError: Error, Sendable, CustomStringConvertible, Equatable {
    /// A template is missing or does not parse.
    case template(name: String, reason: String)
    /// The output folder cannot be written.
    case output(path: String, reason: String)

    public var description: String {
        switch self {
        case .template(let name, let reason): return "site template \(name): \(reason)"
        case .output(let path, let reason): return "cannot write \(path): \(reason)"
        }
    }
}

/// Renders the static site from the artifact repository alone.
public enum SiteBuilder {
    /// Bumped whenever the page format changes in a way the template hash does not capture.
    static let formatVersion = "site-2"
    /// Name of the manifest in the output folder.
    public static let manifestName = ".flywheel-site.json"

    /// Builds (or incrementally updates) the site for `history` into `options.outputDirectory`.
    public static func build(history: LoopHistory, options: SiteOptions) throws -> SiteReport {
        let fm = FileManager.default
        let out = options.outputDirectory
        do { try fm.createDirectory(at: out, withIntermediateDirectories: true) } catch {
            throw SiteError.output(path: out.path, reason: error.localizedDescription)
        }
        let timing = ProcessInfo.processInfo.environment["FLYWHEEL_SITE_TIMING"] == "1"
        var t0 = DispatchTime.now().uptimeNanoseconds
        func mark(_ label: String) {
            guard timing else { return }
            let t = DispatchTime.now().uptimeNanoseconds
            FileHandle.standardError.write(Data(String(format: "site: %@ %.3f s\n", label, Double(t - t0) / 1e9).utf8))
            t0 = t
        }
        var renderer = try PageRenderer.load(markdown: options.markdown, baseURL: options.baseURL)
        let oldManifest = options.incremental ? Manifest.read(out.appendingPathComponent(manifestName)) : Manifest()

        // 1. The one synchronous read step: every git object id, then the inputs of the pages to rebuild.
        let revision: String?
        if let n = options.atCycle { revision = try history.revision(ofCycle: n) } else { revision = options.revision }
        mark("templates")
        let snap = try history.snapshot(at: revision)
        // A full (non-incremental) build recomputes every cached value as well.
        if !options.incremental { try? fm.removeItem(at: out.appendingPathComponent(SiteCache.folder)) }
        let reader = try SiteReader(snapshot: snap, atCycle: options.atCycle, cache: SiteCache(output: out))
        mark("index")
        let plan = SitePlan(index: reader.index, renderer: renderer, window: options.window)
        var skipped = 0
        var newManifest = Manifest()
        var written: [String] = []
        let folders = FolderSet()
        var pending: [PageJob] = []
        var readSeconds = 0.0, renderSeconds = 0.0, units = 0
        let unitTimes = UnitTimes()
        func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
        // Rendering runs in batches so a large history never holds every cycle's spans at once. A batch renders (on
        // every core) while this thread reads the next one: the read step is sequential (one snapshot), so without
        // the overlap a large build would leave a core idle for its whole read time. At most one batch is in flight.
        final class Flight: @unchecked Sendable {
            let jobs: [PageJob]
            var results: [Result<[String], SiteError>] = []
            var seconds = 0.0
            let done = DispatchGroup()
            init(_ jobs: [PageJob]) { self.jobs = jobs }
        }
        let renderQueue = DispatchQueue(label: "flywheel.site.render")
        var inFlight: Flight?
        func land() throws {
            guard let f = inFlight else { return }
            inFlight = nil
            f.done.wait()
            renderSeconds += f.seconds
            for (job, result) in zip(f.jobs, f.results) {
                let files = try result.get()
                written.append(contentsOf: files)
                newManifest.units[job.unitID] = Manifest.Unit(key: job.key, files: files.sorted())
            }
        }
        // A read error must not leave a batch writing behind the caller's back.
        defer { inFlight?.done.wait() }
        func flush() throws {
            guard !pending.isEmpty else { return }
            try land()
            let f = Flight(pending)
            pending.removeAll()
            let times = timing ? unitTimes : nil
            let renderer = renderer
            f.done.enter()
            renderQueue.async {
                let t1 = DispatchTime.now().uptimeNanoseconds
                // Each job writes its own files as soon as they are rendered: creating files is a third of a large
                // build (the kernel's inode allocation), and done on the rendering threads it overlaps with the rest.
                f.results = renderAll(f.jobs, renderer: renderer, timing: times, writingTo: out, folders: folders)
                f.seconds = Double(DispatchTime.now().uptimeNanoseconds - t1) / 1e9
                f.done.leave()
            }
            inFlight = f
        }
        let batch = max(4, ProcessInfo.processInfo.activeProcessorCount * 2)
        // The units of one cycle (its page, trace pages, search, compare and run-text data) form a group whose file
        // lists live in their own manifest shard: a group whose units' keys are all unchanged is kept without
        // reading its shard, so the manifest read and written per build does not grow with the history's traces.
        let groupKeys = plan.groupKeys
        var keptGroups = Set<String>(), oldShards: [String: [String: Manifest.Unit]] = [:]
        // (Plain access(2) on path strings: a URL per check costs more than the check at 500 cycles.)
        let outPath = out.path + "/", shardPath = Manifest.shardURL(out, "").deletingLastPathComponent().path + "/"
        for (g, key) in groupKeys {
            if let old = oldManifest.groups[g], old.key == key, access(outPath + old.probe, F_OK) == 0,
                access(shardPath + g + ".json", F_OK) == 0
            {
                keptGroups.insert(g)
                newManifest.groups[g] = old
                skipped += old.count
            } else if oldManifest.groups[g] != nil {
                oldShards[g] = Manifest.readShard(Manifest.shardURL(out, g))
            }
        }
        renderer.spreadPages = groupKeys.count - keptGroups.count <= 2
        // In a build of a cycle or two the task pages take longest to render (every task that ran in the new cycle):
        // prepared first, they render while the rest is read. In a larger build they stay last, where every cycle's
        // summary they read has been made while that cycle's artifacts were parsed for its own pages.
        var order = plan.units
        if renderer.spreadPages, let i = order.firstIndex(where: { $0.id == "tasks" }) { order.insert(order.remove(at: i), at: 0) }
        for unit in order {
            let group = Manifest.group(of: unit.id)
            if let group, keptGroups.contains(group) { continue }
            let key = unit.key
            // (A manifest of the version before groups lists every unit itself.)
            let old = group.flatMap { oldShards[$0]?[unit.id] } ?? oldManifest.units[unit.id]
            // A unit whose key is unchanged is kept when its files are still there: its first and last file are
            // checked (one stat per file of a 500-cycle site would cost more than the rest of an incremental build).
            if let old, old.key == key,
                [old.files.first, old.files.last].allSatisfy({ $0.map { fm.fileExists(atPath: out.appendingPathComponent($0).path) } ?? true })
            {
                newManifest.units[unit.id] = old
                skipped += old.files.count
                continue
            }
            let t0 = now()
            var job = try unit.prepare(reader)
            readSeconds += now() - t0
            if timing { unitTimes.add(unit.id.split(separator: "-").first.map(String.init) ?? unit.id, read: now() - t0) }
            job.unitID = unit.id
            job.key = key
            pending.append(job)
            units += 1
            if pending.count >= batch { try flush() }
        }
        try flush()
        try land()
        if timing {
            FileHandle.standardError.write(Data(
                "site: \(units) units: read \(Format.fixed(readSeconds, 3)) s, render and write \(Format.fixed(renderSeconds, 3)) s\n".utf8))
            FileHandle.standardError.write(Data(unitTimes.report().utf8))
        }
        try copyAssets(to: out)
        mark("write")

        // 4. Files of the old build that this build no longer has (a kept group's files are all still wanted).
        var keep = Set<String>()
        var oldFiles = Set<String>()
        for (id, u) in newManifest.units where Manifest.group(of: id) == nil { keep.formUnion(u.files) }
        for u in oldManifest.units.values { oldFiles.formUnion(u.files) }
        // Each group rewritten here: its shard with the units' file lists.
        var shards: [String: [String: Manifest.Unit]] = [:]
        for (id, u) in newManifest.units { if let g = Manifest.group(of: id) { shards[g, default: [:]][id] = u; keep.formUnion(u.files) } }
        for g in Set(oldManifest.groups.keys).subtracting(keptGroups) {
            let old = oldShards[g] ?? Manifest.readShard(Manifest.shardURL(out, g))
            for u in old.values { oldFiles.formUnion(u.files) }
            if shards[g] == nil { try? fm.removeItem(at: Manifest.shardURL(out, g)) }
        }
        var removed: [String] = []
        for path in oldFiles.subtracting(keep).sorted() {
            let url = out.appendingPathComponent(path)
            if (try? fm.removeItem(at: url)) != nil { removed.append(path) }
        }
        for (g, units) in shards {
            let url = Manifest.shardURL(out, g)
            do {
                try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Manifest.encodedUnits(units).write(to: url, options: .atomic)
            } catch {
                throw SiteError.output(path: url.path, reason: error.localizedDescription)
            }
            let files = units.values.flatMap(\.files).sorted()
            newManifest.groups[g] = Manifest.Group(key: groupKeys[g] ?? "", probe: files.first ?? "", count: files.count)
            for id in units.keys { newManifest.units[id] = nil }
        }
        do {
            try newManifest.encoded().write(to: out.appendingPathComponent(manifestName), options: .atomic)
        } catch {
            throw SiteError.output(path: out.appendingPathComponent(manifestName).path, reason: error.localizedDescription)
        }
        return SiteReport(
            pagesWritten: written.count, pagesSkipped: skipped, indexPath: out.appendingPathComponent("index.html"),
            written: written.sorted(), removed: removed)
    }

    /// Read and render seconds per kind of unit (`FLYWHEEL_SITE_TIMING=1`).
    final class UnitTimes: @unchecked Sendable {
        private var read: [String: Double] = [:], render: [String: Double] = [:]
        private let lock = NSLock()
        func add(_ kind: String, read r: Double = 0, render d: Double = 0) {
            lock.lock()
            read[kind, default: 0] += r
            render[kind, default: 0] += d
            lock.unlock()
        }
        func report() -> String {
            Set(read.keys).union(render.keys).sorted().map {
                "site:   \($0): read \(Format.fixed(read[$0] ?? 0, 3)) s, render \(Format.fixed(render[$0] ?? 0, 3)) s\n"
            }.joined()
        }
    }

    /// Renders each job's pages and writes them under `out`; jobs run concurrently (they only touch immutable values
    /// and their own files). Returns each job's written paths, or the first write error.
    static func renderAll(
        _ jobs: [PageJob], renderer: PageRenderer, timing: UnitTimes? = nil, writingTo out: URL, folders: FolderSet
    ) -> [Result<[String], SiteError>] {
        final class Box: @unchecked Sendable {
            var results: [Result<[String], SiteError>]
            let lock = NSLock()
            init(_ n: Int) { results = Array(repeating: .success([]), count: n) }
        }
        let box = Box(jobs.count)
        DispatchQueue.concurrentPerform(iterations: jobs.count) { i in
            let t0 = DispatchTime.now().uptimeNanoseconds
            let files = jobs[i].render(renderer)
            if let timing {
                let id = jobs[i].unitID
                timing.add(id.split(separator: "-").first.map(String.init) ?? id, render: Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            }
            var result: Result<[String], SiteError> = .success(files.map(\.0))
            for (path, data) in files {
                let url = out.appendingPathComponent(path)
                do {
                    try folders.ensure(url.deletingLastPathComponent())
                    try writeFile(data, to: url)
                } catch let e as SiteError {
                    result = .failure(e)
                    break
                } catch {
                    result = .failure(SiteError.output(path: url.path, reason: error.localizedDescription))
                    break
                }
            }
            box.lock.lock()
            box.results[i] = result
            box.lock.unlock()
        }
        return box.results
    }

    /// The output folders already created (shared by the writing threads).
    final class FolderSet: @unchecked Sendable {
        private var made = Set<String>()
        private let lock = NSLock()
        func ensure(_ folder: URL) throws {
            lock.lock()
            defer { lock.unlock() }
            guard !made.contains(folder.path) else { return }
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            made.insert(folder.path)
        }
    }

    /// Writes `data` to `url` with plain POSIX calls (Foundation's `Data.write` is several times slower here).
    static func writeFile(_ data: Data, to url: URL) throws {
        guard let f = fopen(url.path, "wb") else {
            throw SiteError.output(path: url.path, reason: String(cString: strerror(errno)))
        }
        let n = data.withUnsafeBytes { raw in raw.count == 0 ? 0 : fwrite(raw.baseAddress, 1, raw.count, f) }
        let closed = fclose(f)
        if n != data.count || closed != 0 {
            throw SiteError.output(path: url.path, reason: String(cString: strerror(errno)))
        }
    }

    /// Copies the static assets (CSS, JS, icons) into `assets/`, rewriting only files whose bytes differ.
    static func copyAssets(to out: URL) throws {
        let fm = FileManager.default
        let src = FlywheelSiteAssets.directory
        let dst = out.appendingPathComponent("assets", isDirectory: true)
        try? fm.createDirectory(at: dst, withIntermediateDirectories: true)
        for name in (try? fm.contentsOfDirectory(atPath: src.path))?.sorted() ?? [] {
            let from = src.appendingPathComponent(name), to = dst.appendingPathComponent(name)
            guard let data = fm.contents(atPath: from.path) else { continue }
            if fm.contents(atPath: to.path) == data { continue }
            do { try data.write(to: to, options: .atomic) } catch {
                throw SiteError.output(path: to.path, reason: error.localizedDescription)
            }
        }
    }

    /// A hash of the templates and assets, part of every page key (a new renderer re-renders everything).
    static func rendererFingerprint() -> String {
        var parts: [String] = [formatVersion]
        let fm = FileManager.default
        for dir in [FlywheelTemplates.directory, FlywheelSiteAssets.directory] {
            for name in (try? fm.contentsOfDirectory(atPath: dir.path))?.sorted() ?? [] {
                let data = fm.contents(atPath: dir.appendingPathComponent(name).path) ?? Data()
                parts.append(name + ":" + SiteHash.hex(SiteHash.value(data)))
            }
        }
        return SiteHash.hex(parts.joined(separator: "\n"))
    }
}

/// The incremental-build manifest: each unit (a page, or a trace group's pages) with the key it was built from. The
/// units of a cycle form a group kept in its own shard (`.flywheel-site/manifest/NNNN.json`); the manifest holds the
/// other units and, per group, the hash of its units' keys, one of its files (checked to exist) and its file count.
struct Manifest: Sendable {
    struct Unit: Sendable, Hashable {
        var key: String
        var files: [String]
    }
    struct Group: Sendable, Hashable {
        var key: String
        var probe: String
        var count: Int
    }
    var units: [String: Unit] = [:]
    var groups: [String: Group] = [:]

    /// The group (cycle folder name) of a per-cycle unit id, nil for the site-wide units.
    static func group(of id: String) -> String? {
        for prefix in ["cycle-", "traces-", "search-", "compare-", "taskruns-"] where id.hasPrefix(prefix) {
            let rest = id.dropFirst(prefix.count)
            if !rest.isEmpty, rest.allSatisfy({ $0.isASCII && $0.isNumber }) { return String(rest) }
        }
        return nil
    }

    static func shardURL(_ out: URL, _ group: String) -> URL {
        out.appendingPathComponent(SiteCache.folder).appendingPathComponent("manifest").appendingPathComponent(group + ".json")
    }

    /// Never trust a path that could leave the output folder.
    static func safe(_ files: [String]) -> Bool { files.allSatisfy { !$0.hasPrefix("/") && !$0.split(separator: "/").contains("..") } }

    static func units(_ v: JSONValue?) -> [String: Unit] {
        var out: [String: Unit] = [:]
        for (id, u) in v?.objectValue ?? [:] {
            guard let key = u["key"]?.stringValue, let files = u["files"]?.arrayValue?.compactMap(\.stringValue), safe(files) else { continue }
            out[id] = Unit(key: key, files: files)
        }
        return out
    }

    static func read(_ url: URL) -> Manifest {
        guard let data = FileManager.default.contents(atPath: url.path), let v = JSONValue.parseOrNil(data),
            let version = v["version"]?.intValue, version == 1 || version == 2
        else { return Manifest() }
        var m = Manifest()
        m.units = units(v["units"])
        for (g, e) in v["groups"]?.objectValue ?? [:] {
            guard let a = e.arrayValue, a.count == 3, let key = a[0].stringValue, let probe = a[1].stringValue, let count = a[2].intValue,
                safe([probe])
            else { continue }
            m.groups[g] = Group(key: key, probe: probe, count: Int(clamping: count))
        }
        return m
    }

    /// A group's units (empty when the shard is missing or damaged: its files are then rewritten).
    static func readShard(_ url: URL) -> [String: Unit] {
        guard let data = FileManager.default.contents(atPath: url.path), let v = JSONValue.parseOrNil(data) else { return [:] }
        return units(v)
    }

    static func unitsJSON(_ units: [String: Unit]) -> JSONValue {
        .object(units.mapValues { .object(["key": .string($0.key), "files": .array($0.files.map { .string($0) })]) })
    }

    static func encodedUnits(_ units: [String: Unit]) -> Data { Data((unitsJSON(units).canonicalText + "\n").utf8) }

    func encoded() -> Data {
        let groups = self.groups.mapValues { g -> JSONValue in .array([.string(g.key), .string(g.probe), .int(Int64(g.count))]) }
        let v: JSONValue = .object(["version": 2, "units": Self.unitsJSON(units), "groups": .object(groups)])
        return Data((v.canonicalText + "\n").utf8)
    }
}
