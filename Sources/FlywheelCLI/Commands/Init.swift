import ArgumentParser
import Flywheel
import FlywheelExample
import Foundation

/// `flywheel init`: create the artifact repository.
struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create the artifact repository (bare, default loop-history/) with a first commit.")

    @OptionGroup var repoOptions: RepoOptions
    @Flag(name: .long, help: "Create a repository with a work tree instead of a bare one.")
    var nonBare = false
    @Option(name: .long, help: "Scaffold an example working folder (available: diligence).")
    var example: String?
    @Argument(help: "With --example: the folder to scaffold (default: the current folder).")
    var directory: String?

    func validate() throws {
        if directory != nil && example == nil { throw ValidationError("a folder argument is only for --example") }
    }

    func run() throws {
        if let example {
            let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            let folder = URL(fileURLWithPath: directory ?? ".", relativeTo: cwd).standardizedFileURL
            let workspace = try ExampleWorkspace.scaffold(example, at: folder)
            print("Scaffolded the \(example) example in \(folder.path)")
            print("  loop.yaml, rules.yaml, harness/, tasks/questions.yaml, feedback/, dataroom/")
            print("  history: \(workspace.history.repository.path) (\(workspace.history.ref))")
            print("Next: cd \(directory ?? ".") && flywheel loop --feedback \(ExampleScaffold.feedbackPath)")
            return
        }
        let workspace = try repoOptions.workspace()
        var files: [String: Data] = [:]
        let configURL = workspace.url(Layout.loopConfig)
        if let data = FileManager.default.contents(atPath: configURL.path) { files[Layout.loopConfig] = data }
        let made = try workspace.history.initialize(bare: !nonBare, files: files)
        let where_ = workspace.history.repository.path
        print(made ? "Initialized the loop history in \(where_) (\(workspace.history.ref))" : "The loop history in \(where_) already exists (\(workspace.history.ref))")
    }
}
