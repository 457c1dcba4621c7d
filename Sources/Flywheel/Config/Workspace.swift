import FlywheelTraces
import Foundation
import GitStore

/// Where a command runs: the folder holding `loop.yaml` (if any), its configuration, and the history.
public struct Workspace: Sendable {
    /// The folder commands resolve relative paths against (where `loop.yaml` is, else the current folder).
    public let folder: URL
    /// The parsed `loop.yaml`, when there is one.
    public let config: LoopConfig?
    /// The artifact repository and its ref.
    public let history: LoopHistory

    /// The default repository folder when neither `--repo` nor `loop.yaml` names one.
    public static let defaultRepository = "loop-history"

    public init(folder: URL, config: LoopConfig?, history: LoopHistory) {
        self.folder = URL(fileURLWithPath: folder.path, isDirectory: true)
        self.config = config
        self.history = history
    }

    /// Resolves the workspace: `--repo` wins, else the repository named by `loop.yaml` in `cwd`, else `loop-history/`.
    /// - Throws: `ConfigError` when `loop.yaml` exists but does not parse.
    public static func resolve(repo: String?, ref: String?, cwd: URL) throws -> Workspace {
        let cwd = URL(fileURLWithPath: cwd.path, isDirectory: true)
        let configURL = cwd.appendingPathComponent(Layout.loopConfig)
        var config: LoopConfig?
        if FileManager.default.fileExists(atPath: configURL.path) {
            config = try LoopConfig.load(configURL)
        }
        let repoPath = repo ?? config?.repository ?? defaultRepository
        let repoURL = URL(fileURLWithPath: repoPath, relativeTo: cwd).standardizedFileURL
        let history = LoopHistory(repository: repoURL, ref: ref ?? config?.ref ?? "refs/heads/main")
        return Workspace(folder: cwd, config: config, history: history)
    }

    /// A path from `loop.yaml` (or the command line) made absolute against the workspace folder.
    public func url(_ path: String) -> URL {
        URL(fileURLWithPath: path, relativeTo: folder).standardizedFileURL
    }

    /// Reads the harness files to snapshot: each path a file (placed by its name) or a folder (its contents,
    /// relative to it). Hidden files and folders are skipped.
    /// - Throws: `ConfigError` naming a path that does not exist or lies outside the working folder.
    ///
    /// Every path must stay inside the working folder: no absolute path, no `..`, no symbolic link out of it (a
    /// harness of `/proc/self/environ` would publish the environment). With a `redactor`, secrets in the files are
    /// replaced before the snapshot reaches the history.
    public func readHarness(_ paths: [String], redactor: Redactor? = nil) throws -> [String: Data] {
        var files: [String: Data] = [:]
        let fm = FileManager.default
        let root = folder.resolvingSymlinksInPath().path
        for path in paths {
            if path.hasPrefix("/") || path.hasPrefix("~") || path.split(separator: "/").contains("..") {
                throw ConfigError(file: Layout.loopConfig, line: nil, field: "harness", reason: "\(path) is outside the working folder (harness paths are relative, without '..')")
            }
            let url = self.url(path)
            let resolved = url.resolvingSymlinksInPath().path
            guard resolved == root || resolved.hasPrefix(root + "/") else {
                throw ConfigError(file: Layout.loopConfig, line: nil, field: "harness", reason: "\(path) leads outside the working folder (a symbolic link to \(resolved))")
            }
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: url.path, isDirectory: &isDir) else {
                throw ConfigError(file: path, line: nil, field: "harness", reason: "no such file or folder")
            }
            if !isDir.boolValue {
                files[url.lastPathComponent] = try Data(contentsOf: url)
                continue
            }
            let base = url.resolvingSymlinksInPath().path
            guard let walker = fm.enumerator(at: url, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles]) else { continue }
            for case let file as URL in walker {
                guard (try? file.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
                let full = file.resolvingSymlinksInPath().path
                guard full.hasPrefix(base + "/") else { continue }
                files[String(full.dropFirst(base.count + 1))] = try Data(contentsOf: file)
            }
        }
        if let redactor { files = files.mapValues { redactor.redact(bytes: $0).0 } }
        return files
    }

    /// The harness paths of `loop.yaml` (default `harness`).
    public var harnessPaths: [String] { config?.harness ?? ["harness"] }

    /// The commit of the agent's repository when the workspace is inside a git work tree.
    public var sourceCommit: String? { Repository.headCommit(containing: folder)?.hex }
}
