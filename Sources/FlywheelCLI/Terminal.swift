import Flywheel
import Foundation

/// Output helpers: stderr without touching C globals, colour only on a terminal, JSON printing.
enum Terminal {
    /// A `TextOutputStream` over standard error.
    struct StandardError: TextOutputStream {
        func write(_ string: String) { FileHandle.standardError.write(Data(string.utf8)) }
    }
    static let standardError = StandardError()

    /// True when standard output is a terminal and neither `NO_COLOR` nor `CI` is set.
    static var isInteractive: Bool {
        let env = ProcessInfo.processInfo.environment
        return isatty(STDOUT_FILENO) == 1 && env["NO_COLOR"] == nil && env["CI"] == nil && env["TERM"] != "dumb"
    }

    /// Wraps `text` in an ANSI colour when interactive.
    static func color(_ text: String, _ code: String) -> String {
        isInteractive ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }

    /// One line on standard error.
    static func warn(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Prints `value` as pretty, sorted-keys JSON.
    static func printJSON<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// A progress line: a bar on a terminal, plain lines otherwise.
    static func progress(_ step: Int, _ total: Int, _ label: String) {
        if isInteractive {
            let width = 24
            let filled = total > 0 ? width * step / total : width
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            FileHandle.standardOutput.write(Data("\r\u{1B}[2K[\(bar)] \(step)/\(total) \(label)".utf8))
            if step >= total { print("") }
        } else {
            print("[\(step)/\(total)] \(label)")
        }
    }

    /// A run's progress: tasks done of total, running, failed.
    static func runProgress(_ p: RunProgress) {
        let counts = "\(p.done)/\(p.total) done, \(p.running) running, \(p.failed) failed"
        if isInteractive {
            let width = 24
            let filled = p.total > 0 ? width * p.done / p.total : width
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            FileHandle.standardOutput.write(Data("\r\u{1B}[2K[\(bar)] \(counts) · \(p.task)".utf8))
            if p.done >= p.total && p.running == 0 { print("") }
        } else {
            print("[\(counts)] \(p.task)")
        }
    }
}
