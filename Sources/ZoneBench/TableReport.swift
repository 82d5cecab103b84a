// TableReport.swift: the plain-text report printed at the end of a suite (and saved
// as table.txt): wall time, peak RSS and CPU time per workload as ratios to the
// baseline allocator with the baseline's medians, geometric means of the ratios, the
// workloads' own figures (medians of their ok-line values), and the fast-path
// instruction counts (with live neighbours and with an empty slab). CPU time (user+sys) is shown because, on a small shared
// machine, it is less disturbed than wall time when other work takes a core away.

import Foundation

struct TableReport {
  let results: SuiteResults
  let fastPath: [FastPathResult]?
  let headlines: [String: [String]]   // workload -> keys to show
  /// The peer whose figures the issues' targets are stated against.
  static let reference = "mimalloc"

  private var peers: [String] { results.allocators.filter { $0 != results.baseline } }
  private var nameWidth: Int {
    max(16, (["\(results.baseline)/\(TableReport.reference)"] + results.workloads).map(\.count).max()! + 2)
  }

  func render() -> String {
    var out: [String] = []
    out.append(section("Time: median wall time under \(results.baseline); peers as peer/\(results.baseline)"
                       + " (above 1.00 = \(results.baseline) is faster)",
                       value: { s in s.wall.map { String(format: "%.2f s", $0) } },
                       ratio: results.timeRatio))
    out.append(section("Peak RSS: median maxrss under \(results.baseline); peers as peer/\(results.baseline)"
                       + " (above 1.00 = \(results.baseline) uses less)",
                       value: { s in s.maxRSSKiB.map { String(format: "%.1f MiB", $0 / 1024) } },
                       ratio: results.rssRatio))
    out.append(section("CPU time (user+sys): median under \(results.baseline); peers as peer/\(results.baseline)"
                       + " (above 1.00 = \(results.baseline) uses less)",
                       value: { s in s.cpu.map { String(format: "%.2f s", $0) } },
                       ratio: results.cpuRatio))
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

  private func section(_ title: String, value: @escaping (Summary) -> String?,
                       ratio: @escaping (String, String) -> Double?) -> String {
    var lines = [title, row(["workload"] + [results.baseline] + peers)]
    for w in results.workloads {
      let peerCells = peers.map { a in cell(w, a) { _ in ratio(w, a).map { String(format: "%.2fx", $0) } } }
      lines.append(row([w, cell(w, results.baseline, value)] + peerCells))
    }
    let means = peers.map { a -> String in
      let (g, n) = results.geomean(a, ratio)
      guard let g else { return "-" }
      return n == results.workloads.count ? String(format: "%.2fx", g) : String(format: "%.2fx(%d)", g, n)
    }
    lines.append(row(["geomean", "1.00x"] + means))
    return lines.joined(separator: "\n")
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

  private func times(_ v: Double) -> String { String(format: "%.2fx", v) }

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

/// Large figures with thousands separators, small ones with a few decimals.
func formatFigure(_ v: Double) -> String {
  if abs(v) >= 10_000 {
    let f = NumberFormatter()
    f.numberStyle = .decimal
    f.maximumFractionDigits = 0
    return f.string(from: NSNumber(value: v.rounded())) ?? String(format: "%.0f", v)
  }
  if v == v.rounded() { return String(format: "%.0f", v) }
  return String(format: "%.3g", v)
}
