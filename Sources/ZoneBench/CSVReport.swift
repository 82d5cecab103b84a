// CSVReport.swift: the CSV files of a suite run.
//
//   runs.csv      every run: workload, allocator, rep, status, reason, wall, CPU, maxrss,
//                 and the workload's final ok line
//   summary.csv   per workload and allocator: runs, failures, medians, ratios to the
//                 baseline (wall time, peak RSS, CPU time), the baseline over this
//                 allocator (so the mimalloc rows read "zonemalloc / mimalloc"), and
//                 for a capped workload its medians over its uncapped twin's; then
//                 per allocator a "geomean" row and, when capped workloads ran, a
//                 "geomean-without-<capped>" row (wall-time means leave out the
//                 fixed-wall workloads)
//   syscalls.csv  one row per workload, allocator and traced system call (munmap,
//                 madvise, mmap, futex): calls and failed calls counted under strace,
//                 and per free and per 100 frees when the workload reports its frees
//   figures.csv   one row per workload, allocator and ok-line key: the median of the
//                 values the workload printed (with the strace counts as sys_* keys)
//   fastpath.csv  callgrind instruction totals and instructions per malloc+free pair
//                 for each variant (only the header when the fast path was not measured)

import Foundation

enum CSVReport {
  static func write(_ results: SuiteResults, fastPath: [FastPathResult]?, to dir: String) throws {
    try runs(results).write(toFile: dir + "/runs.csv", atomically: true, encoding: .utf8)
    try summary(results).write(toFile: dir + "/summary.csv", atomically: true, encoding: .utf8)
    try syscalls(results).write(toFile: dir + "/syscalls.csv", atomically: true, encoding: .utf8)
    try figures(results).write(toFile: dir + "/figures.csv", atomically: true, encoding: .utf8)
    try fast(fastPath).write(toFile: dir + "/fastpath.csv", atomically: true, encoding: .utf8)
  }

  private static func quote(_ s: String) -> String {
    guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return s }
    return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
  }

  private static func line(_ cells: [String]) -> String { cells.map(quote).joined(separator: ",") }

  private static func num(_ v: Double?, _ fmt: String = "%.4f") -> String { v.map { String(format: fmt, $0) } ?? "" }

  static func runs(_ r: SuiteResults) -> String {
    var rows = [line(["workload", "allocator", "rep", "status", "reason", "wall_s", "cpu_s", "user_s",
                      "sys_s", "maxrss_kib", "ok_line"])]
    for x in r.records {
      let m = x.measurement
      rows.append(line([x.workload, x.allocator, String(x.rep), x.passed ? "ok" : "FAILED", x.failure ?? "",
                        num(m.wall), num(m.cpu), num(m.user), num(m.sys), String(m.maxRSSKiB),
                        x.passed ? x.okLine : ""]))
    }
    return rows.joined(separator: "\n") + "\n"
  }

  static func summary(_ r: SuiteResults) -> String {
    var rows = [line(["workload", "allocator", "runs", "failures", "wall_s_median", "cpu_s_median",
                      "maxrss_kib_median", "time_ratio_to_baseline", "rss_ratio_to_baseline",
                      "cpu_ratio_to_baseline", "baseline", "baseline_over_this_wall", "baseline_over_this_cpu",
                      "baseline_over_this_rss", "capped_over_uncapped_wall", "capped_over_uncapped_cpu",
                      "capped_over_uncapped_rss"])]
    let inverse: (Double?) -> Double? = { $0.map { 1 / $0 } }
    for w in r.workloads {
      for a in r.allocators {
        guard let s = r.summary(w, a) else { continue }
        rows.append(line([w, a, String(s.runs), String(s.failures), num(s.wall), num(s.cpu),
                          num(s.maxRSSKiB, "%.0f"), num(r.timeRatio(w, a)), num(r.rssRatio(w, a)),
                          num(r.cpuRatio(w, a)), r.baseline, num(inverse(r.timeRatio(w, a))),
                          num(inverse(r.cpuRatio(w, a))), num(inverse(r.rssRatio(w, a))),
                          num(r.capRatio(w, a, .wall)), num(r.capRatio(w, a, .cpu)), num(r.capRatio(w, a, .rss))]))
      }
    }
    let means = [("geomean", true)]
      + (r.capped.isEmpty ? [] : [("geomean-without-" + r.capped.joined(separator: "+"), false)])
    for (label, withCapped) in means {
      for a in r.allocators {
        let g = [Metric.wall, .rss, .cpu].map { r.geomean(a, $0, withCapped: withCapped).value }
        rows.append(line([label, a, "", "", "", "", "", num(g[0]), num(g[1]), num(g[2]), r.baseline,
                          num(inverse(g[0])), num(inverse(g[2])), num(inverse(g[1])), "", "", ""]))
      }
    }
    return rows.joined(separator: "\n") + "\n"
  }

  /// The strace counts; only the header when none were taken. A failed traced run
  /// has one row, with no call named.
  static func syscalls(_ r: SuiteResults) -> String {
    var rows = [line(["workload", "allocator", "status", "reason", "syscall", "calls", "failed", "frees",
                      "per_free", "per_100_frees"])]
    for x in r.syscalls {
      let head = [x.workload, x.allocator, x.failure == nil ? "ok" : "FAILED", x.failure ?? ""]
      guard x.failure == nil else {
        rows.append(line(head + ["", "", "", "", "", ""]))
        continue
      }
      let m = x.metrics
      for call in SyscallCount.traced {
        let t = x.calls[call] ?? SyscallTally(calls: 0, failed: 0)
        rows.append(line(head + [call, String(t.calls), String(t.failed), x.frees.map(String.init) ?? "",
                                 num(m["sys_\(call)_per_free"], "%.6f"), num(m["sys_\(call)_per_100_frees"])]))
      }
    }
    return rows.joined(separator: "\n") + "\n"
  }

  /// Every figure of every summary, in catalogue and allocator order, keys sorted.
  static func figures(_ r: SuiteResults) -> String {
    var rows = [line(["workload", "allocator", "key", "median"])]
    for w in r.workloads {
      for a in r.allocators {
        guard let s = r.summary(w, a), !s.failed else { continue }
        for (k, v) in s.metrics.sorted(by: { $0.key < $1.key }) {
          rows.append(line([w, a, k, v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v)]))
        }
      }
    }
    return rows.joined(separator: "\n") + "\n"
  }

  /// The fast-path rows; nil (not measured in this run) leaves only the header, so no
  /// stale figures from an earlier run remain.
  static func fast(_ rows: [FastPathResult]?) -> String {
    var out = [line(["allocator", "variant", "size", "instructions_100k", "instructions_200k",
                     "instructions_per_pair", "status"])]
    let sizes = Dictionary(uniqueKeysWithValues: FastPath.variants.map { ($0.key, $0.size) })
    for x in rows ?? [] {
      out.append(line([x.allocator, x.variant, sizes[x.variant].map(String.init) ?? "",
                       x.instructionsSmall.map(String.init) ?? "", x.instructionsLarge.map(String.init) ?? "",
                       num(x.perPair, "%.2f"), x.failure ?? "ok"]))
    }
    return out.joined(separator: "\n") + "\n"
  }
}
