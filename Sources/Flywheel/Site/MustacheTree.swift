/// A page's view as dictionaries, for swift-mustache.
///
/// Mustache finds a name in a struct through `Mirror` on every lookup, and on every miss while it walks the context
/// stack outwards; on a site build that was a quarter of all CPU time (`perf`, 50 cycles × 100 traces). The view is
/// turned into `[String: Any]` once, with one `Mirror` per value, and Mustache then looks names up by hashing. The
/// values are the same (optionals unwrapped, `nil` left out, as Mustache's own lookup does), so the pages are
/// byte-identical. Only Flywheel's own view structs are converted; strings, numbers, booleans and Foundation values
/// stay as they are.
enum MustacheTree {
    static func of(_ value: Any) -> Any { convert(value) ?? value }

    /// nil for an optional that holds nothing.
    private static func convert(_ value: Any) -> Any? {
        let mirror = Mirror(reflecting: value)
        switch mirror.displayStyle {
        case .optional?:
            guard let held = mirror.children.first?.value else { return nil }
            return convert(held)
        case .collection?:
            guard let array = value as? [Any] else { return value }
            return array.map { convert($0) ?? $0 }
        case .struct? where String(reflecting: type(of: value)).hasPrefix("Flywheel."):
            var out: [String: Any] = [:]
            for child in mirror.children {
                // `nil` is left out: Mustache then finds nothing, as it does for an optional that is nil.
                guard let label = child.label, let converted = convert(child.value) else { continue }
                out[label] = converted
            }
            return out
        default:
            return value
        }
    }
}
