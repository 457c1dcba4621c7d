import Foundation

/// What can go wrong with the artifact repository, as the user should read it.
public enum HistoryError: Error, Sendable, CustomStringConvertible, Equatable {
    /// No cycle is open (start one with `flywheel cycle start`).
    case noOpenCycle
    /// A cycle is already open; close it first.
    case cycleAlreadyOpen(Int)
    /// The cycle does not exist.
    case noSuchCycle(Int)
    /// The cycle is closed; its folder is never rewritten.
    case cycleClosed(Int, path: String)
    /// The repository has no commit yet (run `flywheel init`).
    case emptyHistory(ref: String)
    /// A stored artifact does not parse.
    case corrupt(path: String, reason: String)
    /// A git operation failed.
    case git(String)

    public var description: String {
        switch self {
        case .noOpenCycle: return "no open cycle: start one with `flywheel cycle start`"
        case .cycleAlreadyOpen(let n): return "cycle \(n) is still open: close it with `flywheel cycle close` first"
        case .noSuchCycle(let n): return "cycle \(n) does not exist in the history"
        case .cycleClosed(let n, let path):
            return "cycle \(n) is closed and its folder is never rewritten (refused to write \(path))"
        case .emptyHistory(let ref): return "the history has no commit on \(ref): run `flywheel init` first"
        case .corrupt(let path, let reason): return "\(path): \(reason)"
        case .git(let message): return message
        }
    }
}
