// ProfTable.swift: the table of allocation sites `zm prof` prints.
//
// Owns: the text of the table: one section per process, largest first by the view's
// figure, each opening with a line naming the process (command and pid), what wrote its
// profile and its sums, then its top N sites with three figures each: bytes allocated in
// all, live at the peak, and live when the profile was written ("at exit" in a profile
// written at exit: the sampled blocks never freed, the leaks; "live now" in one written
// on request, on the signal or on the interval), each with its share of the process's
// sum ("-" when that sum is 0). Against a base (--base), the figures are the changes, signed, without shares.
// Touches: HeapProfile, Size.

extension HeapProfile {
  func table(top count: Int, by metric: Metric) -> String {
    var sections = sorted(by: metric).map { $0.section(top: count, by: metric, diff: isDiff) }
    if !unsampled.isEmpty {
      sections.append("== no sample from \(unsampled.count) more process\(unsampled.count == 1 ? "" : "es"): "
                      + unsampled.joined(separator: ", "))
    }
    return sections.joined(separator: "\n\n")
  }
}

extension ProcessHeap {
  /// What wrote the profile, for the section's heading.
  private var written: String {
    switch reason {
    case "exit": "at exit"
    case "interval": "on the interval"
    case "signal": "on the signal"
    case "request": "by zm_prof_dump"
    default: "(\(reason))"
    }
  }

  func section(top count: Int, by metric: Metric, diff: Bool) -> String {
    let sums = "\(Self.bytes(sum(.total), diff)) allocated, \(Self.bytes(sum(.peak), diff)) live at the peak, "
      + "\(Self.bytes(sum(.live), diff)) \(liveLabel)"
    var heading = "== \(name), profile written \(written): "
    if let base {
      heading += (base.isEmpty ? "no base profile of \(comm), so all of it is new: " : "change since the base \(base): ") + sums
    } else {
      heading += "\(samples) sample\(samples == 1 ? "" : "s"), " + sums
    }
    let liveColumn = reason == "exit" ? "at exit" : "live now"
    var lines = [heading, diff
      ? "      total   peak live" + liveColumn.leftPadded(11) + "  site"
      : "      total       %   peak live       %" + liveColumn.leftPadded(11) + "       %  site"]
    let rows = sites(by: metric).prefix(count)
    if rows.isEmpty { lines.append("  (no site with bytes \(Self.metricName(metric, liveLabel)))") }
    for site in rows {
      let place = site.frame.location.isEmpty ? site.frame.name : "\(site.frame.name) (\(site.frame.location))"
      var row = ""
      for (m, width) in [(Metric.total, 11), (.peak, 12), (.live, 11)] {
        row += Self.bytes(site.figures.value(m), diff).leftPadded(width)
        if !diff { row += Self.percent(site.figures.value(m), sum(m)) }
      }
      lines.append(row + "  " + place + site.from)
    }
    return lines.joined(separator: "\n")
  }

  /// "allocated", "live at the peak", "live at exit" or "live now".
  static func metricName(_ metric: Metric, _ liveLabel: String) -> String {
    switch metric {
    case .total: "allocated"
    case .peak: "live at the peak"
    case .live: liveLabel
    }
  }

  /// "1.5 MiB", or "+1.5 MiB" / "-1.5 MiB" in a difference.
  static func bytes(_ value: Int64, _ signed: Bool) -> String {
    let size = Size.readable(value.magnitude)
    guard signed else { return size }
    return (value > 0 ? "+" : value < 0 ? "-" : "") + size
  }

  private static func percent(_ part: Int64, _ whole: Int64) -> String {
    guard whole > 0, part >= 0 else { return "-".leftPadded(8) }
    let tenths = (part * 1000 + whole / 2) / whole
    return "\(tenths / 10).\(tenths % 10)%".leftPadded(8)
  }
}
