import ArgumentParser
import Flywheel
import Foundation

/// `flywheel report`: a short report of a cycle for a pull-request comment or a CI job summary.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "A short report of a cycle against another: gate, pass-rate delta, flipped cases, new failure modes, the next change.")

    enum Format: String, ExpressibleByArgument, CaseIterable { case markdown, json }

    @OptionGroup var repoOptions: RepoOptions
    @Option(name: .long, help: "markdown (default) or json.") var format: Format = .markdown
    @Option(name: .long, help: "The cycle to report (default: the latest).") var cycle: String?
    @Option(name: .long, help: "The cycle to compare with (default: the one before).") var against: String?
    @Option(name: .long, help: "The published site's root URL, for links (default: site-relative links).") var baseURL: String?

    func run() throws {
        let workspace = try repoOptions.workspace()
        let history = workspace.history
        let report = try CycleReport.make(
            history: history, cycle: try cycle.map { try parseCycle($0, history: history) },
            against: try against.map { try parseCycle($0, history: history) },
            baseURL: baseURL ?? workspace.config?.site?.baseURL)
        switch format {
        case .markdown: print(report.markdown, terminator: "")
        case .json: try Terminal.printJSON(report)
        }
    }
}
