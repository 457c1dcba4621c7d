import Foundation
import GitStore
import Testing
import TestSupport

@testable import Flywheel
@testable import FlywheelTraces

/// Names an agent chooses (trace ids, artifact names) and links it plants in its output folder.
@Suite("Hostile input: names and links in the output folder")
struct HostileNamesAndLinksTests {
    @Test("a name git refuses maps to a stable safe name; a valid one is kept", arguments: [
        ".git", ".GIT", ".git\u{200C}", "git~1", ".git.", "a/b", "..", "", String(repeating: "k", count: 300), "tab\there",
        "sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX",
    ])
    func safeNames(_ name: String) {
        let safe = SafeName.treeName(name)
        #expect(PathRules.problem(component: safe) == nil, "\(safe)")
        #expect(SafeName.treeName(name) == safe)
        if PathRules.problem(component: name) == nil { #expect(safe == name) } else { #expect(safe != name) }
        #expect(SafeName.treeName("final_answer.md") == "final_answer.md")
    }

    /// An output folder with a planted symlink to an outside file, a hard link to another, a symlinked sub-folder,
    /// a FIFO, a name git refuses and two ordinary files.
    static func plantedFolder(_ label: String) throws -> (folder: URL, outside: URL, secret: String) {
        let root = TestPaths.scratch(label)
        let outside = root.appendingPathComponent("outside")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        let secret = "OUTSIDE-SECRET-\(UUID().uuidString)"
        try Data(secret.utf8).write(to: outside.appendingPathComponent("secret.txt"))
        try Data(secret.utf8).write(to: outside.appendingPathComponent("hard.txt"))
        let folder = root.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try Data("# report\n".utf8).write(to: folder.appendingPathComponent("report.md"))
        try Data("nested\n".utf8).write(to: folder.appendingPathComponent("sub/notes.txt"))
        try Data("odd\n".utf8).write(to: folder.appendingPathComponent(".git\u{200C}"))
        try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent("link.txt"), withDestinationURL: outside.appendingPathComponent("secret.txt"))
        try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent("linkdir"), withDestinationURL: outside)
        try FileManager.default.linkItem(at: outside.appendingPathComponent("hard.txt"), to: folder.appendingPathComponent("hard.txt"))
        #expect(mkfifo(folder.appendingPathComponent("pipe").path, 0o600) == 0)
        return (folder, outside, secret)
    }

    @Test("collecting follows no link, reads no hard link or FIFO, renames what git refuses, and warns once per file")
    func collect() throws {
        let (folder, _, secret) = try Self.plantedFolder("hostile-collect")
        let got = OutputFolder.collect(folder, label: "outputs/t1")
        #expect(got.files["report.md"] == Data("# report\n".utf8))
        #expect(got.files["sub/notes.txt"] == Data("nested\n".utf8))
        #expect(got.files[SafeName.treeName(".git\u{200C}")] == Data("odd\n".utf8))
        #expect(got.files.count == 3, "\(got.files.keys.sorted())")
        for data in got.files.values { #expect(!String(decoding: data, as: UTF8.self).contains(secret)) }
        for name in ["link.txt", "linkdir", "hard.txt", "pipe", ".git\\u{200c}"] {
            #expect(got.warnings.contains { $0.contains("outputs/t1/\(name)") }, "\(name): \(got.warnings)")
        }
        #expect(got.warnings.count == 5)
    }

    @Test("a symlinked output folder is reported, not silently empty")
    func symlinkedFolder() throws {
        let (folder, _, _) = try Self.plantedFolder("hostile-linked-folder")
        let link = folder.deletingLastPathComponent().appendingPathComponent("out-link")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: folder)
        let got = OutputFolder.collect(link, label: "outputs/t2")
        #expect(got.files.isEmpty)
        #expect(got.warnings.count == 1 && got.warnings[0].contains("symbolic link"))
    }

    @Test("writing final_answer.md over a planted symlink or hard link replaces the link, never the outside file")
    func writeNoFollow() throws {
        let (folder, outside, secret) = try Self.plantedFolder("hostile-write")
        try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent("final_answer.md"), withDestinationURL: outside.appendingPathComponent("secret.txt"))
        let w1 = try OutputFolder.write(Data("answer\n".utf8), named: "final_answer.md", in: folder)
        #expect(w1?.contains("symbolic link") == true)
        let w2 = try OutputFolder.write(Data("{}\n".utf8), named: "hard.txt", in: folder)
        #expect(w2?.contains("hard link") == true)
        #expect(try String(contentsOf: outside.appendingPathComponent("secret.txt"), encoding: .utf8) == secret)
        #expect(try String(contentsOf: outside.appendingPathComponent("hard.txt"), encoding: .utf8) == secret)
        #expect(try String(contentsOf: folder.appendingPathComponent("final_answer.md"), encoding: .utf8) == "answer\n")
        #expect(try OutputFolder.write(Data("x".utf8), named: "fresh.json", in: folder) == nil)
        // A folder that is itself a link is refused.
        #expect(throws: StageError.self) {
            try OutputFolder.write(Data("x".utf8), named: "task.json", in: folder.appendingPathComponent("linkdir"))
        }
        #expect(!FileManager.default.fileExists(atPath: outside.appendingPathComponent("task.json").path))
    }

    @Test("harness paths outside the working folder are refused; harness files are redacted")
    func harnessConfined() throws {
        let dir = TestPaths.scratch("hostile-harness")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("harness"), withIntermediateDirectories: true)
        let key = "sk-proj-" + String(repeating: "Q7", count: 12)
        try Data("Use the key \(key) for calls.\n".utf8).write(to: dir.appendingPathComponent("harness/instructions.md"))
        try FileManager.default.createSymbolicLink(at: dir.appendingPathComponent("env"), withDestinationURL: URL(fileURLWithPath: "/proc/self/environ"))
        let ws = Workspace(folder: dir, config: nil, history: LoopHistory(repository: dir.appendingPathComponent("h"), ref: "refs/heads/main"))
        for bad in ["/proc/self/environ", "../outside", "harness/../../etc", "env", "~/x"] {
            do {
                _ = try ws.readHarness([bad])
                Issue.record("\(bad) was read")
            } catch let e as ConfigError {
                #expect(e.field == "harness" && e.reason.contains("outside the working folder"), "\(e)")
            }
        }
        let files = try ws.readHarness(["harness"], redactor: try Redactor())
        let text = String(decoding: try #require(files["instructions.md"]), as: UTF8.self)
        #expect(!text.contains(key) && text.contains("[REDACTED:api_key]"))
    }
}
