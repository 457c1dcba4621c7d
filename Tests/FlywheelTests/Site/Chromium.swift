import Foundation
import TestSupport

/// Headless Chromium for the browser tests (skipped with a clear message when it is not installed;
/// `make test` installs it in CI).
enum Chromium {
    static let executable: String? = {
        for name in ["chromium", "chromium-browser", "google-chrome"] where toolExists(name) { return name }
        return nil
    }()

    static var available: Bool { executable != nil }

    static let skipMessage = "chromium not installed: browser tests skipped (apt-get install -y chromium)"

    struct Load {
        var dom: String
        /// Console lines Chromium logged (`CONSOLE(…)`): errors, warnings and uncaught exceptions.
        var console: [String]
        var status: Int32
    }

    static func baseArguments(_ profile: URL) -> [String] {
        ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         "--disable-background-networking", "--user-data-dir=\(profile.path)", "--allow-file-access-from-files"]
    }

    /// Loads `url` (file://…), lets scripts and timers run, and returns the DOM and the console output.
    static func load(_ url: String, budgetMs: Int = 3000) throws -> Load {
        guard let exe = executable else { throw CocoaError(.featureUnsupported) }
        let profile = TestPaths.scratch("chromium-profile")
        defer { try? FileManager.default.removeItem(at: profile) }
        let r = try runTool(exe, baseArguments(profile) + [
            "--enable-logging=stderr", "--v=0", "--virtual-time-budget=\(budgetMs)", "--dump-dom", url,
        ], timeout: 90)
        let console = r.stderr.split(separator: "\n").map(String.init).filter { $0.contains("CONSOLE") || $0.contains("Uncaught") }
        return Load(dom: r.stdout, console: console, status: r.status)
    }

    /// Saves a screenshot of `url` to `file`.
    static func screenshot(_ url: String, to file: URL, width: Int = 1280, height: Int = 900) throws {
        guard let exe = executable else { throw CocoaError(.featureUnsupported) }
        let profile = TestPaths.scratch("chromium-profile")
        defer { try? FileManager.default.removeItem(at: profile) }
        try? FileManager.default.removeItem(at: file)
        _ = try runTool(exe, baseArguments(profile) + [
            "--hide-scrollbars", "--virtual-time-budget=2000", "--screenshot=\(file.path)", "--window-size=\(width),\(height)", url,
        ], timeout: 90)
    }

    /// Runs `body` over `items` with at most `width` at a time (Chromium runs are slow; the machine has 2 cores).
    static func parallel<T: Sendable, R: Sendable>(_ items: [T], width: Int = 2, _ body: @Sendable @escaping (T) throws -> R) -> [Result<R, any Error>] {
        let box = ResultBox<R>(items.count)
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = width
        for (i, item) in items.enumerated() {
            queue.addOperation {
                let r = Result { try body(item) }
                box.lock.lock(); box.out[i] = r; box.lock.unlock()
            }
        }
        queue.waitUntilAllOperationsAreFinished()
        return box.out.map { $0! }
    }
}

final class ResultBox<R>: @unchecked Sendable {
    var out: [Result<R, any Error>?]
    let lock = NSLock()
    init(_ n: Int) { out = Array(repeating: nil, count: n) }
}
