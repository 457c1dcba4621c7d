import ArgumentParser
import Flywheel
import FlywheelExample
import Foundation

/// `flywheel demo`: the embedded example, offline.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the embedded example offline: scaffold it, run three cycles (applying each handoff's top change), build the site.")
    @Option(name: .long, help: "The working folder to create (default: flywheel-demo).") var dir: String = "flywheel-demo"
    @Option(name: .long, help: "The artifact repository (default: DIR/loop-history).") var repo: String?
    @Option(name: .long, help: "Where to build the site (default: DIR/site).") var out: String?
    @Option(name: .long, help: "How many cycles.") var cycles: Int = 3

    func validate() throws {
        if cycles < 1 || cycles > 20 { throw ValidationError("--cycles must be between 1 and 20") }
    }

    func run() throws {
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let folder = URL(fileURLWithPath: dir, relativeTo: cwd).standardizedFileURL
        if FileManager.default.fileExists(atPath: folder.appendingPathComponent("loop.yaml").path) {
            throw ValidationError("\(folder.path) already holds a loop; remove it or pass --dir")
        }
        let start = Date()
        let report = try Demo.run(folder: folder, cycles: cycles, repository: repo.map { URL(fileURLWithPath: $0, relativeTo: cwd).standardizedFileURL }) { line in
            print(line)
        }
        let outDir = out.map { URL(fileURLWithPath: $0, relativeTo: cwd).standardizedFileURL } ?? folder.appendingPathComponent("site")
        let index = try buildSite(history: report.history, out: outDir, baseURL: nil, at: nil)
        print(String(format: "Done in %.1f s. History: %@ (tags %@)", Date().timeIntervalSince(start), report.history.repository.path,
                     report.cycles.map(\.tag).joined(separator: ", ")))
        print("Site: \(index.path)")
    }
}
