// MachineInfo.swift: a one-line description of the machine a suite ran on (core
// count, CPU model from /proc/cpuinfo, kernel release, the transparent-huge-page mode,
// which decides what the huge-page variants get) and the date, printed under the
// report so that every table says where and when it was measured.

import Foundation

enum MachineInfo {
  static func describe() -> String {
    let cores = ProcessInfo.processInfo.activeProcessorCount
    let date = ISO8601DateFormatter.string(from: Date(), timeZone: TimeZone(identifier: "UTC")!,
                                           formatOptions: [.withFullDate])
    return "machine: nproc=\(cores), \(cpuModel()), kernel \(kernel()), THP \(transparentHugePages()); date \(date)"
  }

  static func cpuModel() -> String {
    guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown CPU" }
    for line in text.split(separator: "\n") where line.hasPrefix("model name") {
      if let colon = line.firstIndex(of: ":") {
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
      }
    }
    return "unknown CPU"
  }

  /// The selected mode of /sys/kernel/mm/transparent_hugepage/enabled, shown there in
  /// brackets (`always [madvise] never`): with madvise, only memory an allocator marks
  /// with MADV_HUGEPAGE gets huge pages.
  static func transparentHugePages() -> String {
    let path = "/sys/kernel/mm/transparent_hugepage/enabled"
    guard let text = try? String(contentsOfFile: path, encoding: .utf8),
          let open = text.firstIndex(of: "["), let close = text.firstIndex(of: "]"), open < close else {
      return "unknown"
    }
    return String(text[text.index(after: open)..<close])
  }

  static func kernel() -> String {
    let text = (try? String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8)) ?? "unknown"
    return text.trimmingCharacters(in: .whitespacesAndNewlines)
  }
}
