import Foundation

/// The git object ids of everything the site is built from (cheap to read: no blob is parsed).
struct HistoryIndex: Sendable {
    struct CycleEntry: Sendable {
        var cycle: Cycle
        var folderID: String
        var files: [String: String]
        var harnessTree: String?
        var number: Int { cycle.number }
        func id(_ name: String) -> String { files[name] ?? "-" }
    }
    var project: String
    var loopID: String
    var cycles: [CycleEntry]

    func entry(_ n: Int) -> CycleEntry? { cycles.first { $0.number == n } }
    func previous(of n: Int) -> CycleEntry? { cycles.last { $0.number < n } }
}
