import ArgumentParser
import Flywheel
import Foundation

/// `flywheel init`: create the artifact repository.
struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create the artifact repository (bare, default loop-history/) with a first commit.")

    @OptionGroup var repoOptions: RepoOptions
    @Flag(name: .long, help: "Create a repository with a work tree instead of a bare one.")
    var nonBare = false

    func run() throws {
        let workspace = try repoOptions.workspace()
        var files: [String: Data] = [:]
        let configURL = workspace.url(Layout.loopConfig)
        if let data = FileManager.default.contents(atPath: configURL.path) { files[Layout.loopConfig] = data }
        let made = try workspace.history.initialize(bare: !nonBare, files: files)
        let where_ = workspace.history.repository.path
        print(made ? "Initialized the loop history in \(where_) (\(workspace.history.ref))" : "The loop history in \(where_) already exists (\(workspace.history.ref))")
    }
}
