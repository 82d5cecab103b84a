// TableReport.swift: the plain-text report printed at the end of a suite (and saved
// as table.txt): wall time, peak RSS and CPU time per workload as ratios to the
// baseline allocator with the baseline's medians, geometric means of the ratios (with
// and without the capped workloads); the baseline divided by mimalloc, the peer the
// issues' targets name; the capped workload against its uncapped twin; the
// workloads' own figures (medians of their ok-line values); and the fast-path
// instruction counts. CPU time (user+sys) is shown because, on a small shared
// machine, it is less disturbed than wall time when other work takes a core away.

import Foundation

struct TableReport {
  let results: SuiteResults
  let fastPath: [FastPathResult]?
  let headlines: [String: [String]]   // workload -> keys to show
  /// The peer whose ratios the issues' targets are stated against.
  static let reference = "mimalloc"

  private var peers: [String] { results.allocators.filter { $0 != results.baseline } }
  private var withoutCappedLabel: String { "geomean w/o " + results.capped.joined(separator: ",") }
  private var nameWidth: Int {
    let labels = [withoutCappedLabel, "\(results.baseline)/\(TableReport.reference)"] + results.workloads
    return max(16, labels.map(\.count).max()! + 2)
  }

  func render() -> String {
    var out: [String] = []
    out.append(section("Time: median wall time under \(results.baseline); peers as peer/\(results.baseline)"
                       + " (above 1.00 = \(results.baseline) is faster)",
                       value: { s in s.wall.map { String(format: "%.2f s", $0) } }, metric: .wall))
    out.append(section("Peak RSS: median maxrss under \(results.baseline); peers as peer/\(results.baseline)"
                       + " (above 1.00 = \(results.baseline) uses less)",
                       value: { s in s.maxRSSKiB.map { String(format: "%.1f MiB", $0 / 1024) } }, metric: .rss))
    out.append(section("CPU time (user+sys): median under \(results.baseline); peers as peer/\(results.baseline)"
                       + " (above 1.00 = \(results.baseline) uses less)",
                       value: { s in s.cpu.map { String(format: "%.2f s", $0) } }, metric: .cpu))
    out.append(referenceSection())
    out.append(capSections())
    out.append(figures())
    if let fastPath { out.append(fastPathTable(fastPath)) }
    return out.filter { !$0.isEmpty }.joined(separator: "\n\n") + "\n"
  }

  private func row(_ cells: [String], firstWidth: Int? = nil) -> String {
    let first = cells[0].padding(toLength: firstWidth ?? nameWidth, withPad: " ", startingAt: 0)
    return first + cells.dropFirst().map { pad($0, 13) }.joined()
  }

  private func pad(_ s: String, _ n: Int) -> String {
    s.count >= n ? " " + s : String(repeating: " ", count: n - s.count) + s
  }

  private func cell(_ w: String, _ a: String, _ text: (Summary) -> String?) -> String {
    guard let s = results.summary(w, a) else { return "-" }
    if s.failed { return "FAILED" }
    return text(s) ?? "-"
  }

  private func section(_ title: String, value: @escaping (Summary) -> String?, metric: Metric) -> String {
    var lines = [title, row(["workload"] + [results.baseline] + peers)]
    for w in results.workloads {
      let peerCells = peers.map { a in cell(w, a) { _ in results.ratio(w, a, metric).map(times) } }
      lines.append(row([w, cell(w, results.baseline, value)] + peerCells))
    }
    lines += meanRows { a, withCapped in results.geomean(a, metric, withCapped: withCapped) }
      .map { label, cells in row([label, "1.00x"] + peers.map { cells[$0]! }) }
    if metric == .wall, let note = fixedWallNote { lines.append(note) }
    return lines.joined(separator: "\n")
  }

  /// The "geomean" row and, when capped workloads ran, the one without them: a label
  /// and a cell per peer ("1.23x", or "1.23x(12)" when it covers fewer workloads).
  private func meanRows(_ mean: (String, Bool) -> (value: Double?, covered: Int, of: Int),
                        invert: Bool = false) -> [(String, [String: String])] {
    let variants = [("geomean", true)] + (results.capped.isEmpty ? [] : [(withoutCappedLabel, false)])
    return variants.map { label, withCapped in
      var cells: [String: String] = [:]
      for a in results.allocators {
        let g = mean(a, withCapped)
        guard let v = g.value else { cells[a] = "-"; continue }
        let text = times(invert ? 1 / v : v)
        cells[a] = g.covered == g.of ? text : text + "(\(g.covered))"
      }
      return (label, cells)
    }
  }

  private var fixedWallNote: String? {
    let fixed = results.workloads.filter { results.fixedWall.contains($0) }
    if fixed.isEmpty { return nil }
    return "(wall-time means leave out \(fixed.joined(separator: ", ")): most of \(fixed.count == 1 ? "its" : "their")"
      + " wall time is a fixed idle period)"
  }

  private func times(_ v: Double) -> String { String(format: "%.2fx", v) }

  /// The baseline divided by the reference peer, per workload and measure, so that a
  /// target such as "at most 1.15x mimalloc" reads off directly.
  private func referenceSection() -> String {
    let ref = TableReport.reference, base = results.baseline
    guard peers.contains(ref) else { return "" }
    let metrics: [(String, Metric)] = [("wall", .wall), ("CPU", .cpu), ("peak RSS", .rss)]
    var lines = ["\(base) / \(ref): \(base)'s medians divided by \(ref)'s (below 1.00 = \(base) is"
                 + " faster or smaller; the inverse of the \(ref) columns above)",
                 row(["workload"] + metrics.map(\.0))]
    for w in results.workloads {
      let baseFailed = results.summary(w, base)?.failed ?? false
      lines.append(row([w] + metrics.map { _, m in
        baseFailed ? "FAILED" : cell(w, ref) { _ in results.ratio(w, ref, m).map { times(1 / $0) } }
      }))
    }
    let means = metrics.map { _, m in meanRows({ results.geomean($0, m, withCapped: $1) }, invert: true) }
    for (i, (label, _)) in means[0].enumerated() {
      lines.append(row([label] + means.map { $0[i].1[ref]! }))
    }
    if let note = fixedWallNote { lines.append(note) }
    return lines.joined(separator: "\n")
  }

  /// For each capped workload: every allocator's medians under the cap against its
  /// uncapped twin's.
  private func capSections() -> String {
    results.capped.compactMap { w -> String? in
      guard let twin = results.uncappedTwins[w], results.workloads.contains(twin) else { return nil }
      var lines = ["Memory cap: \(w) (under its cap, which only zonemalloc honours) against \(twin) (no cap);"
                   + " c/u = capped / uncapped",
                   row(["allocator", "capped wall", "uncapped", "wall c/u", "CPU c/u", "RSS c/u"])]
      for a in results.allocators {
        let walls = [w, twin].map { x in cell(x, a) { s in s.wall.map { String(format: "%.2f s", $0) } } }
        let ratios = Metric.allCases.map { m in results.capRatio(w, a, m).map(times) ?? "-" }
        lines.append(row([a] + walls + [ratios[0], ratios[1], ratios[2]]))
      }
      return lines.joined(separator: "\n")
    }.joined(separator: "\n\n")
  }

  /// Medians of selected ok-line values, one row per workload and key.
  private func figures() -> String {
    let all = results.allocators
    let labels = results.workloads.flatMap { w in (headlines[w] ?? []).map { "\(w) \($0)" } }
    let width = (labels.map(\.count).max() ?? 12) + 2
    var lines = ["Workload figures (medians of the values each workload prints)",
                 row(["workload key"] + all, firstWidth: width)]
    for w in results.workloads {
      for key in headlines[w] ?? [] {
        let cells = all.map { a in cell(w, a) { s in s.metrics[key].map(formatFigure) } }
        if cells.allSatisfy({ $0 == "-" }) { continue }
        lines.append(row(["\(w) \(key)"] + cells, firstWidth: width))
      }
    }
    return lines.count > 2 ? lines.joined(separator: "\n") : ""
  }

  private func fastPathTable(_ rows: [FastPathResult]) -> String {
    let variants = FastPath.variants
    var lines = ["Fast path: instructions per malloc+free pair (callgrind, (I(200k) - I(100k)) / 100k)",
                 row(["allocator"] + variants.map(\.label))]
    func perPair(_ a: String, _ v: FastPathVariant) -> Double? {
      rows.first { $0.allocator == a && $0.variant == v.key }?.perPair
    }
    for a in results.allocators where rows.contains(where: { $0.allocator == a }) {
      lines.append(row([a] + variants.map { v in perPair(a, v).map { String(format: "%.1f", $0) } ?? "FAILED" }))
    }
    let ref = TableReport.reference, base = results.baseline
    if base != ref, rows.contains(where: { $0.allocator == ref }) {
      lines.append(row(["\(base)/\(ref)"] + variants.map { v -> String in
        guard let b = perPair(base, v), let r = perPair(ref, v), r > 0 else { return "-" }
        return times(b / r)
      }))
    }
    lines += variants.map { "\($0.label): \($0.meaning)" }
    return lines.joined(separator: "\n")
  }
}

/// Large figures with thousands separators, whole ones and those from 1,000 up without
/// decimals, smaller ones with 3 significant digits.
func formatFigure(_ v: Double) -> String {
  if abs(v) >= 10_000 {
    let f = NumberFormatter()
    f.numberStyle = .decimal
    f.maximumFractionDigits = 0
    return f.string(from: NSNumber(value: v.rounded())) ?? String(format: "%.0f", v)
  }
  if v == v.rounded() || abs(v) >= 1000 { return String(format: "%.0f", v) }
  return String(format: "%.3g", v)
}
