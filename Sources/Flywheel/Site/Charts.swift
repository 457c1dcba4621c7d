import Foundation

/// Inline SVG charts built from escaped parts (titles, labels and point tooltips are escaped).
enum Charts {
    struct Series: Sendable {
        var name: String
        /// (x label, value) per point; nil values leave a gap.
        var points: [(x: Int, y: Double?)]
    }

    /// A line chart over cycles. `format` renders a value for axis labels and tooltips.
    static func line(
        title: String, id: String, series: [Series], format: (Double) -> String, zeroBased: Bool = true
    ) -> String {
        let width = 360.0, height = 160.0, left = 48.0, right = 10.0, top = 12.0, bottom = 24.0
        let values = series.flatMap { $0.points.compactMap(\.y) }.filter(\.isFinite)
        let xs = series.flatMap { $0.points.map(\.x) }
        let titleID = "chart-\(id)-title"
        var out = "<figure class=\"chart\" id=\"chart-\(HTML.escape(id))\">"
        out += "<svg viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-labelledby=\"\(HTML.escape(titleID))\">"
        out += "<title id=\"\(HTML.escape(titleID))\">\(HTML.escape(title))</title>"
        guard !values.isEmpty, let minX = xs.min(), let maxX = xs.max() else {
            out += "<text x=\"\(Int(width / 2))\" y=\"\(Int(height / 2))\" text-anchor=\"middle\" class=\"muted\">no data yet</text></svg>"
            out += "<figcaption>\(HTML.escape(title))</figcaption></figure>"
            return out
        }
        var lo = values.min()!, hi = values.max()!
        if zeroBased { lo = min(0, lo) }
        if hi - lo < 1e-12 { hi = lo + (lo == 0 ? 1 : abs(lo) * 0.1) }
        let plotW = width - left - right, plotH = height - top - bottom
        func px(_ x: Int) -> Double { maxX == minX ? left + plotW / 2 : left + (Double(x) - Double(minX)) / (Double(maxX) - Double(minX)) * plotW }
        func py(_ y: Double) -> Double { top + (1 - (y - lo) / (hi - lo)) * plotH }
        func f(_ d: Double) -> String { Format.fixed(d, 1) }
        // Axes and labels.
        out += "<g class=\"axis\"><line x1=\"\(f(left))\" y1=\"\(f(top + plotH))\" x2=\"\(f(left + plotW))\" y2=\"\(f(top + plotH))\"/>"
        out += "<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(top + plotH))\"/>"
        out += "<text x=\"\(f(left - 4))\" y=\"\(f(top + 4))\" text-anchor=\"end\">\(HTML.escape(format(hi)))</text>"
        out += "<text x=\"\(f(left - 4))\" y=\"\(f(top + plotH))\" text-anchor=\"end\">\(HTML.escape(format(lo)))</text>"
        out += "<text x=\"\(f(left))\" y=\"\(f(height - 6))\" text-anchor=\"start\">\(minX)</text>"
        if maxX != minX { out += "<text x=\"\(f(left + plotW))\" y=\"\(f(height - 6))\" text-anchor=\"end\">\(maxX)</text>" }
        out += "</g>"
        for (si, s) in series.enumerated() {
            var path = ""
            var pen = false
            for p in s.points.sorted(by: { $0.x < $1.x }) {
                guard let y = p.y, y.isFinite else { pen = false; continue }
                path += (pen ? " L" : "M") + f(px(p.x)) + " " + f(py(y))
                pen = true
            }
            out += "<g class=\"series s\(si % 8)\"><path d=\"\(path)\" fill=\"none\"/>"
            for p in s.points where p.y?.isFinite == true {
                let tip = (series.count > 1 ? s.name + ", " : "") + "cycle \(p.x): " + format(p.y!)
                out += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y!)))\" r=\"2.5\"><title>\(HTML.escape(tip))</title></circle>"
            }
            out += "</g>"
        }
        out += "</svg><figcaption>\(HTML.escape(title))"
        if series.count > 1 {
            out += "<ul class=\"legend\">"
            for (si, s) in series.enumerated() { out += "<li class=\"s\(si % 8)\">\(HTML.escape(s.name))</li>" }
            out += "</ul>"
        }
        out += "</figcaption></figure>"
        return out
    }
}
