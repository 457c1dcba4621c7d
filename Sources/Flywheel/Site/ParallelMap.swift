import Foundation

extension Array where Element: Sendable {
    /// `map` on every core, results in the input's order. For a job that renders many independent pages (a cycle's
    /// trace pages, the task pages): one job is one unit of the build, and without this it would use one core while
    /// the other waits for it at the end of an incremental build.
    func concurrentMap<T: Sendable>(_ transform: @Sendable (Element) -> T) -> [T] {
        guard count > 1 else { return map(transform) }
        var results = [T?](repeating: nil, count: count)
        // Strided chunks, a few per core, so one slow page does not leave the other cores idle.
        let chunks = Swift.min(count, ProcessInfo.processInfo.activeProcessorCount * 4)
        withUnsafeBufferPointer { input in
            results.withUnsafeMutableBufferPointer { output in
                let items = BufferBox(input), out = MutableBufferBox(output)
                DispatchQueue.concurrentPerform(iterations: chunks) { c in
                    // Each index is written by exactly one iteration, and read only after concurrentPerform returns.
                    for i in stride(from: c, to: items.buffer.count, by: chunks) { out.buffer[i] = transform(items.buffer[i]) }
                }
            }
        }
        return results.map { $0! }
    }
}

private struct BufferBox<E>: @unchecked Sendable { let buffer: UnsafeBufferPointer<E>; init(_ b: UnsafeBufferPointer<E>) { buffer = b } }
private struct MutableBufferBox<E>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<E>
    init(_ b: UnsafeMutableBufferPointer<E>) { buffer = b }
}
