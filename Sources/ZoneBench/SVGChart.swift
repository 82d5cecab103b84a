// SVGChart.swift: a grouped bar chart, written as a standalone SVG file.
//
// One group per workload, one bar per allocator, each bar the allocator's value
// divided by the baseline's (so the baseline's bars are all 1.0), a dashed reference
// line at 1.0, a legend, axis titles and the ratio printed above each bar. Bars taller
// than the axis are cut at the top and marked with their value; a failed run shows
// "FAILED" in place of its bar. Used for the time chart and the peak-RSS chart.

import Foundation

struct BarChart {
  let title: String
  let yTitle: String
  let groups: [String]
  let series: [String]
  /// value(group, series): nil = no bar, .nan = failed.
  let value: (String, String) -> Double?

  static let colors = ["#1f5fa8", "#8c8c8c", "#e8871e", "#3a9a3a", "#8e5bb5", "#c0392b", "#17a2b8", "#d4a017",
                       "#e377c2", "#6b8e23", "#7f4f24"]
  private let barWidth = 16.0, groupGap = 26.0, left = 78.0, top = 100.0, plotHeight = 330.0,
              bottom = 110.0, right = 24.0, cap = 4.0

  private var groupWidth: Double { Double(series.count) * barWidth + groupGap }
  private var width: Double { left + Double(groups.count) * groupWidth + right }
  private var height: Double { top + plotHeight + bottom }

  /// The top of the y axis: the largest finite ratio rounded up, kept within [1.5, cap].
  private var yMax: Double {
    let finite = groups.flatMap { g in series.compactMap { value(g, $0) } }.filter { $0.isFinite }
    let m = min(max(finite.max() ?? 1, 1.2), cap)
    return max(1.5, (m * 2).rounded(.up) / 2)
  }

  private func y(_ v: Double) -> Double { top + plotHeight - min(v, yMax) / yMax * plotHeight }

  func render() -> String {
    var parts = [header(), frame(), legend()]
    for (i, g) in groups.enumerated() { parts.append(group(g, index: i)) }
    parts.append(referenceLine())
    parts.append("</svg>\n")
    return parts.joined(separator: "\n")
  }

  private func header() -> String {
    """
    <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
    viewBox="0 0 \(Int(width)) \(Int(height))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">
    <rect width="100%" height="100%" fill="white"/>
    <text x="\(Int(width / 2))" y="26" font-size="18" font-weight="bold" text-anchor="middle">\(esc(title))</text>
    """
  }

  /// Axes, horizontal grid lines with tick labels, and the axis titles.
  private func frame() -> String {
    let step = yMax <= 2 ? 0.25 : (yMax <= 4 ? 0.5 : 1)
    var s: [String] = []
    var t = 0.0
    while t <= yMax + 1e-9 {
      let yy = f(y(t))
      s.append("<line x1=\"\(f(left))\" y1=\"\(yy)\" x2=\"\(f(width - right))\" y2=\"\(yy)\" stroke=\"#e3e3e3\"/>")
      s.append("<text x=\"\(f(left - 6))\" y=\"\(f(y(t) + 4))\" font-size=\"12\" text-anchor=\"end\">\(String(format: "%.2f", t))</text>")
      t += step
    }
    let base = f(top + plotHeight)
    s.append("<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(base)\" stroke=\"black\"/>")
    s.append("<line x1=\"\(f(left))\" y1=\"\(base)\" x2=\"\(f(width - right))\" y2=\"\(base)\" stroke=\"black\"/>")
    let midY = f(top + plotHeight / 2)
    s.append("<text x=\"20\" y=\"\(midY)\" font-size=\"13\" text-anchor=\"middle\" transform=\"rotate(-90 20 \(midY))\">\(esc(yTitle))</text>")
    s.append("<text x=\"\(f(left + (width - left - right) / 2))\" y=\"\(f(height - 10))\" font-size=\"13\" text-anchor=\"middle\">workload</text>")
    return s.joined(separator: "\n")
  }

  private func legend() -> String {
    var s: [String] = []
    var x = left
    for (i, name) in series.enumerated() {
      s.append("<rect x=\"\(f(x))\" y=\"44\" width=\"14\" height=\"14\" fill=\"\(color(i))\"/>")
      s.append("<text x=\"\(f(x + 19))\" y=\"56\" font-size=\"13\">\(esc(name))</text>")
      x += 30 + Double(name.count) * 8
    }
    let ref = "1.0 = \(esc(series.first ?? "")) (reference)"
    s.append("<line x1=\"\(f(x + 6))\" y1=\"51\" x2=\"\(f(x + 36))\" y2=\"51\" stroke=\"#c0392b\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>")
    s.append("<text x=\"\(f(x + 42))\" y=\"56\" font-size=\"13\">\(ref)</text>")
    return s.joined(separator: "\n")
  }

  private func group(_ g: String, index: Int) -> String {
    let x0 = left + groupGap / 2 + Double(index) * groupWidth
    var s: [String] = []
    for (i, name) in series.enumerated() {
      guard let v = value(g, name) else { continue }
      s.append(bar(v, x: x0 + Double(i) * barWidth, color: color(i)))
    }
    let cx = x0 + Double(series.count) * barWidth / 2, ly = top + plotHeight + 14
    s.append("<text x=\"\(f(cx))\" y=\"\(f(ly))\" font-size=\"12\" text-anchor=\"end\" transform=\"rotate(-35 \(f(cx)) \(f(ly)))\">\(esc(g))</text>")
    return s.joined(separator: "\n")
  }

  private func bar(_ v: Double, x: Double, color: String) -> String {
    let base = top + plotHeight, tx = f(x + barWidth / 2 + 3.5)
    if v.isNaN {
      let ty = base - 4
      return "<text x=\"\(tx)\" y=\"\(f(ty))\" font-size=\"10\" fill=\"#c0392b\" transform=\"rotate(-90 \(tx) \(f(ty)))\">FAILED</text>"
    }
    let yTop = y(v), clipped = v > yMax
    var s = "<rect x=\"\(f(x + 1))\" y=\"\(f(yTop))\" width=\"\(f(barWidth - 2))\" height=\"\(f(base - yTop))\" fill=\"\(color)\"/>"
    if clipped {
      s += "\n<path d=\"M\(f(x + 1)) \(f(yTop + 6)) l\(f(barWidth - 2)) -6 v5 l-\(f(barWidth - 2)) 6 z\" fill=\"white\"/>"
    }
    let ly = yTop - 4
    let label = String(format: "%.2f", v)
    s += "\n<text x=\"\(tx)\" y=\"\(f(ly))\" font-size=\"10\" transform=\"rotate(-90 \(tx) \(f(ly)))\">\(label)</text>"
    return s
  }

  private func referenceLine() -> String {
    let yy = f(y(1))
    return "<line x1=\"\(f(left))\" y1=\"\(yy)\" x2=\"\(f(width - right))\" y2=\"\(yy)\" stroke=\"#c0392b\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>"
  }

  private func color(_ i: Int) -> String { BarChart.colors[i % BarChart.colors.count] }
  private func f(_ v: Double) -> String { String(format: "%.1f", v) }
  private func esc(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;")
  }
}

enum Charts {
  /// Writes time_ratio.svg and rss_ratio.svg for a suite into dir.
  static func write(_ r: SuiteResults, to dir: String) throws {
    let order = [r.baseline] + r.allocators.filter { $0 != r.baseline }
    func chart(_ title: String, _ yTitle: String, _ ratio: @escaping (String, String) -> Double?) -> BarChart {
      BarChart(title: title, yTitle: yTitle, groups: r.workloads, series: order) { w, a in
        guard let s = r.summary(w, a) else { return nil }
        if s.failed { return .nan }
        return ratio(w, a)
      }
    }
    let time = chart("Wall time relative to \(r.baseline) (median of runs; lower is better)",
                     "wall time / \(r.baseline)", r.timeRatio)
    let rss = chart("Peak RSS relative to \(r.baseline) (median of runs; lower is better)",
                    "peak RSS / \(r.baseline)", r.rssRatio)
    try time.render().write(toFile: dir + "/time_ratio.svg", atomically: true, encoding: .utf8)
    try rss.render().write(toFile: dir + "/rss_ratio.svg", atomically: true, encoding: .utf8)
  }
}
