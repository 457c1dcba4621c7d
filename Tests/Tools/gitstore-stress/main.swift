// gitstore-stress: makes stage commits to one reference through GitStore, as fast as it can, so tests can run
// several at once (lost compare-and-swap races must be re-applied, never lose a commit) or kill it part-way
// (the repository must stay consistent).
//
//   gitstore-stress REPO [--ref REF] [--count N] [--files-per-commit K] [--bytes B] [--label L]
//
// Each commit writes K files `cycles/<label>/<n>[-k].txt` (label defaults to the process id) via
// `Repository.commit(onto:message:author:change:)`; --count 0 means forever. The repository is created (bare) when
// missing. Prints one line per commit: `<n> <commit id>`, and exits 0, or 1 with the error on stderr.
import Foundation
import GitStore

var repoPath: String?
var ref = "refs/heads/main"
var count = 10
var filesPerCommit = 1
var bytes = 64
var label = String(getpid())
var args = CommandLine.arguments.dropFirst().makeIterator()
while let arg = args.next() {
    switch arg {
    case "--ref": ref = args.next() ?? ref
    case "--count": count = Int(args.next() ?? "") ?? count
    case "--files-per-commit": filesPerCommit = max(1, Int(args.next() ?? "") ?? filesPerCommit)
    case "--bytes": bytes = max(0, Int(args.next() ?? "") ?? bytes)
    case "--label": label = args.next() ?? label
    default:
        if repoPath == nil && !arg.hasPrefix("--") {
            repoPath = arg
        } else {
            FileHandle.standardError.write(Data("gitstore-stress: unknown argument \(arg)\n".utf8))
            exit(2)
        }
    }
}
guard let repoPath else {
    FileHandle.standardError.write(Data(
        "usage: gitstore-stress REPO [--ref REF] [--count N] [--files-per-commit K] [--bytes B] [--label L]\n".utf8))
    exit(2)
}

do {
    let repo = try Repository.openOrCreate(at: URL(fileURLWithPath: repoPath))
    var n = 0
    while count == 0 || n < count {
        n += 1
        let filler = String(repeating: "x", count: bytes)
        let message = Repository.message(
            "stress \(label) commit \(n)", trailers: [Trailer("Flywheel-Stage", "stress"), Trailer("Stress-Label", label)])
        let author = Signature(name: "Stress", email: "stress@localhost", time: Int64(Date().timeIntervalSince1970))
        let id = try repo.commit(onto: ref, message: message, author: author) { _ in
            var changes = TreeChanges()
            for k in 0..<filesPerCommit {
                let name = filesPerCommit == 1 ? "\(n).txt" : "\(n)-\(k).txt"
                changes.write("cycles/\(label)/\(name)", text: "\(label) \(n) \(k)\n\(filler)\n")
            }
            return changes
        }
        FileHandle.standardOutput.write(Data("\(n) \(id?.hex ?? "-")\n".utf8))  // unbuffered: a kill loses no line
    }
} catch {
    FileHandle.standardError.write(Data("gitstore-stress: \(error)\n".utf8))
    exit(1)
}
