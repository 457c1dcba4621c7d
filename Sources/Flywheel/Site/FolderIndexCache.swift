import Foundation

/// The build cache of cycle folders: per folder tree id, its files' object ids and its `cycle.json` text, so a
/// build reads from git only the folders it has not seen. Append-only: a build after one more cycle appends one
/// record instead of rewriting every cycle's (the file is rewritten only when it holds many folders the history no
/// longer has, or a damaged record).
///
/// Format (`.flywheel-site/folders.idx`): a header line, then per folder
/// `<folder id> <file count> <cycle.json byte count>\n`, one `<name>\t<object id>\n` line per file, the `cycle.json`
/// bytes and `\n`. A record that does not parse ends the reading: it and what follows are read from git again.
final class FolderIndexCache {
    struct Record: Sendable {
        var folder: String
        var files: [String: String]
        var cycleJSON: Data
    }
    static let name = "folders.idx"
    static let header = Data("flywheel-site-folders 1\n".utf8)

    private let url: URL?
    private(set) var records: [String: Record] = [:]
    /// The file ends in a record that does not parse (a build stopped while appending): the next write rewrites it.
    private var damaged = false

    init(_ cache: SiteCache) {
        url = cache.dir?.appendingPathComponent(Self.name)
        guard let url, let data = FileManager.default.contents(atPath: url.path) else { return }
        guard data.starts(with: Self.header) else { damaged = true; return }
        damaged = !data.withUnsafeBytes { parse($0, from: Self.header.count) }
    }

    /// Reads records from `offset`; false when a record does not parse.
    private func parse(_ b: UnsafeRawBufferPointer, from offset: Int) -> Bool {
        var i = offset
        func line() -> Substring? {
            guard i < b.count, let nl = b[i...].firstIndex(of: 0x0A) else { return nil }
            defer { i = nl + 1 }
            return Substring(String(decoding: UnsafeRawBufferPointer(rebasing: b[i..<nl]), as: UTF8.self))
        }
        while i < b.count {
            guard let head = line() else { return false }
            let parts = head.split(separator: " ")
            guard parts.count == 3, let count = Int(parts[1]), let length = Int(parts[2]), count >= 0, length >= 0,
                count < 1_000_000
            else { return false }
            var files: [String: String] = [:]
            for _ in 0..<count {
                guard let l = line(), let tab = l.firstIndex(of: "\t") else { return false }
                files[String(l[..<tab])] = String(l[l.index(after: tab)...])
            }
            guard length < b.count - i, b[i + length] == 0x0A else { return false }
            let text = Data(UnsafeRawBufferPointer(rebasing: b[i..<(i + length)]))
            i += length + 1
            let folder = String(parts[0])
            records[folder] = Record(folder: folder, files: files, cycleJSON: text)
        }
        return true
    }

    private static func encode(_ r: Record) -> Data? {
        // A name with a tab or a line break cannot be written in this format: that folder is read from git each time.
        guard r.files.keys.allSatisfy({ !$0.contains("\t") && !$0.contains("\n") && !$0.contains("\r") }) else { return nil }
        var d = Data("\(r.folder) \(r.files.count) \(r.cycleJSON.count)\n".utf8)
        for (name, id) in r.files.sorted(by: { $0.key < $1.key }) { d.append(Data("\(name)\t\(id)\n".utf8)) }
        d.append(r.cycleJSON)
        d.append(0x0A)
        return d
    }

    /// Adds `new` records. When the file holds many folders not in `live` (rebuilt history, a build `--at` an older
    /// cycle) or ends in a damaged record, it is rewritten with the live folders only. Best effort, as every cache.
    func append(_ new: [Record], keeping live: Set<String>) {
        guard let url else { return }
        for r in new { records[r.folder] = r }
        let stale = records.keys.filter { !live.contains($0) }.count
        if damaged || stale > max(64, live.count) || !FileManager.default.fileExists(atPath: url.path) {
            var data = Self.header
            for f in live.sorted() { if let r = records[f], let d = Self.encode(r) { data.append(d) } }
            try? data.write(to: url, options: .atomic)
            // (The JSON index of earlier versions, which every build rewrote whole.)
            try? FileManager.default.removeItem(at: url.deletingLastPathComponent().appendingPathComponent("index.json"))
            damaged = false
            return
        }
        guard !new.isEmpty, let handle = try? FileHandle(forWritingTo: url) else { return }
        defer { try? handle.close() }
        _ = try? handle.seekToEnd()
        var data = Data()
        for r in new { if let d = Self.encode(r) { data.append(d) } }
        try? handle.write(contentsOf: data)
    }
}
