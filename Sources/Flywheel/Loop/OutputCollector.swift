import FlywheelSupport
import Foundation
import GitStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Names that become tree entries (trace ids used as folder names, artifact file names an agent chose): kept when
/// git accepts them (``PathRules``), otherwise mapped to a stable safe name so one bad name never aborts a run.
public enum SafeName {
    /// `name` when it is a valid tree entry name, else its ASCII letters, digits, `-`, `_` and inner dots (at most
    /// 64) plus `-` and 12 hex digits of its SHA-256, e.g. `.git\u{200C}` → `git-3f…`. The same name always maps
    /// to the same result.
    public static func treeName(_ name: String) -> String {
        if PathRules.problem(component: name) == nil { return name }
        var kept = ""
        for u in name.unicodeScalars {
            if kept.unicodeScalars.count == 64 { break }
            if u.isASCII, u.properties.isAlphabetic || ("0"..."9").contains(u) || u == "-" || u == "_" || u == "." {
                kept.unicodeScalars.append(u)
            } else {
                kept += "_"
            }
        }
        while kept.hasPrefix(".") || kept.hasPrefix("_") { kept.removeFirst() }
        while kept.hasSuffix(".") || kept.hasSuffix("_") { kept.removeLast() }
        let hash = StableHash.short(name, 12)
        let candidate = kept.isEmpty ? "x-\(hash)" : "\(kept)-\(hash)"
        return PathRules.problem(component: candidate) == nil ? candidate : "x-\(hash)"
    }
}

/// What was collected from an agent's output folder: files (relative path → bytes) and one warning per file or
/// folder that was refused (a symlink, a hard link, a special file, a folder that is itself a link) or renamed.
public struct CollectedOutputs: Sendable, Equatable {
    public var files: [String: Data] = [:]
    public var warnings: [String] = []
}

/// Reads and writes an agent's output folder without ever following a link out of it: every file is opened with
/// `O_NOFOLLOW` relative to its folder's descriptor (no path is resolved twice), symlinks are never followed, files
/// with more than one hard link are refused (their bytes may live outside), and a folder that is itself a symlink is
/// reported instead of read.
public enum OutputFolder {
    /// Files larger than this are refused (an agent's artifact, not a data dump).
    public static let maxFileBytes = 64 << 20

    /// Collects the regular files below `folder`; `label` names the folder in warnings (e.g. `outputs/<trace>`).
    public static func collect(_ folder: URL, label: String) -> CollectedOutputs {
        var out = CollectedOutputs()
        let fd = open(folder.path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            let err = errno
            if err == ENOENT { return out }
            var st = stat()
            if lstat(folder.path, &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK {
                out.warnings.append("\(label): the output folder is a symbolic link; nothing in it was collected (an agent writes its artifacts into $FLYWHEEL_OUTPUT_DIR itself)")
            } else {
                out.warnings.append("\(label): cannot open the output folder (\(String(cString: strerror(err)))); nothing collected")
            }
            return out
        }
        walk(fd, prefix: "", label: label, into: &out)
        return out
    }

    /// Walks the folder open as `dirfd` (and closes it).
    private static func walk(_ dirfd: Int32, prefix: String, label: String, into out: inout CollectedOutputs) {
        guard let dir = fdopendir(dirfd) else {
            close(dirfd)
            return
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            names.append(name)
        }
        for name in names.sorted() {
            let shown = "\(label)/\(prefix)\(PathRules.printable(name))"
            var st = stat()
            guard fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            let type = st.st_mode & S_IFMT
            let safe = SafeName.treeName(name)
            if safe != name {
                out.warnings.append("\(shown): not a name git accepts (\(PathRules.problem(component: name) ?? "invalid")); committed as \(safe)")
            }
            switch type {
            case S_IFLNK:
                out.warnings.append("\(shown): a symbolic link; not followed, not committed")
            case S_IFDIR:
                let sub = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if sub >= 0 { walk(sub, prefix: prefix + safe + "/", label: label, into: &out) }
            case S_IFREG:
                if st.st_nlink > 1 {
                    out.warnings.append("\(shown): has \(st.st_nlink) hard links (its bytes may belong to a file outside the folder); not committed")
                    continue
                }
                if Int(st.st_size) > maxFileBytes {
                    out.warnings.append("\(shown): \(st.st_size) bytes, above the \(maxFileBytes)-byte limit; not committed")
                    continue
                }
                switch readFile(dirfd, name) {
                case .success(let data): out.files[prefix + safe] = data
                case .failure(let reason): out.warnings.append("\(shown): \(reason); not committed")
                }
            default:
                out.warnings.append("\(shown): not a regular file (a FIFO, socket or device); not committed")
            }
        }
    }

    private struct Refused: Error, CustomStringConvertible {
        let description: String
    }

    /// Reads `name` in the folder `dirfd` without following a link, checking it is still a single-link regular file.
    private static func readFile(_ dirfd: Int32, _ name: String) -> Result<Data, Refused> {
        let fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return .failure(Refused(description: "cannot open (\(String(cString: strerror(errno))))")) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_nlink == 1 else {
            return .failure(Refused(description: "changed while being read (no longer one regular file)"))
        }
        var data = Data()
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(Refused(description: "read failed (\(String(cString: strerror(errno))))"))
            }
            if n == 0 { break }
            data.append(contentsOf: buf[0..<n])
            if data.count > maxFileBytes { return .failure(Refused(description: "grew above the \(maxFileBytes)-byte limit")) }
        }
        return .success(data)
    }

    /// Writes `data` as `name` directly inside `folder` (created when missing) without following links: a symlink or
    /// hard link the agent planted under that name is removed (never written through) and reported.
    /// - Returns: a warning when something was replaced, else nil.
    @discardableResult
    public static func write(_ data: Data, named name: String, in folder: URL) throws -> String? {
        var st = stat()
        if lstat(folder.path, &st) != 0 {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        }
        let dirfd = open(folder.path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard dirfd >= 0 else {
            throw StageError(.traces, "\(folder.lastPathComponent): the output folder is not a plain folder (a symbolic link?); \(name) not written")
        }
        defer { close(dirfd) }
        var warning: String?
        if fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 {
            let type = st.st_mode & S_IFMT
            if type == S_IFLNK || st.st_nlink > 1 {
                warning = "\(folder.lastPathComponent)/\(name): the agent left a \(type == S_IFLNK ? "symbolic link" : "hard link") there; removed it and wrote Flywheel's own file (nothing outside the folder was touched)"
            }
            if type == S_IFDIR {
                throw StageError(.traces, "\(folder.lastPathComponent)/\(name) is a folder; \(name) not written")
            }
            guard unlinkat(dirfd, name, 0) == 0 else {
                throw StageError(.traces, "\(folder.lastPathComponent)/\(name): cannot replace (\(String(cString: strerror(errno))))")
            }
        }
        let fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw StageError(.traces, "\(folder.lastPathComponent)/\(name): cannot create (\(String(cString: strerror(errno))))")
        }
        defer { close(fd) }
        var offset = 0
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            while offset < raw.count {
                let n = posixWrite(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw StageError(.traces, "\(folder.lastPathComponent)/\(name): write failed (\(String(cString: strerror(errno))))")
                }
                offset += n
            }
        }
        return warning
    }
}

/// `write(2)` (the enum's own `write` hides the C function's name inside it).
private func posixWrite(_ fd: Int32, _ buf: UnsafeRawPointer, _ count: Int) -> Int { write(fd, buf, count) }
