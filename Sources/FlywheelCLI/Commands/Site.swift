import ArgumentParser
import Flywheel
import Foundation

/// `flywheel site build`.
struct SiteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "site", abstract: "The static HTML site of the history.", subcommands: [Build.self])

    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Render the site from the artifact repository alone (incremental: only pages whose inputs changed).")
        @OptionGroup var repoOptions: RepoOptions
        @Option(name: .long, help: "Output folder (default: site/ beside loop.yaml).") var out: String = "site"
        @Option(name: .long, help: "The published site's absolute URL (canonical links only; every other link is relative).") var baseURL: String?
        @Option(name: .long, help: "Render the site exactly as it was at this cycle.") var at: String?
        @Flag(name: .long, help: "Rewrite every page.") var full = false

        func validate() throws {
            if let baseURL, !(baseURL.hasPrefix("https://") || baseURL.hasPrefix("http://")) {
                throw ValidationError("--base-url must be an http(s) URL")
            }
        }

        func run() throws {
            let workspace = try repoOptions.workspace()
            let number = try at.map { try parseCycle($0, history: workspace.history) }
            let index = try buildSite(history: workspace.history, out: workspace.url(out), baseURL: baseURL ?? workspace.config?.site?.baseURL, at: number, incremental: !full)
            print(index.path)
        }
    }
}

/// Builds the site and returns the path of its index.html (printing what was rewritten).
func buildSite(history: LoopHistory, out: URL, baseURL: String?, at: Int?, incremental: Bool = true) throws -> URL {
    let report = try SiteBuilder.build(
        history: history, options: SiteOptions(outputDirectory: out, baseURL: baseURL, atCycle: at, incremental: incremental))
    Terminal.standardError.write("Site: \(report.pagesWritten) page(s) written, \(report.pagesSkipped) unchanged\n")
    return report.indexPath
}
