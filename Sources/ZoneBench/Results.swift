// Results.swift: what one run produced, and the per-workload, per-allocator summary
// (medians over repetitions, ratios to the baseline allocator, geometric means with
// and without the capped workloads, capped against uncapped).
//
// A run counts only when the program exited 0 AND its last stdout line starts with
// "ok"; anything else is a failure with a one-line reason, never a timing.

import Foundation

struct RunRecord {
  let workload: String
  let allocator: String
  let rep: Int
  let measurement: Measurement
  /// nil when the run passed; otherwise why it failed.
  let failure: String?
  /// The key=value pairs of the final ok line (empty on failure).
  let metrics: [String: String]
  let okLine: String

  var passed: Bool { failure == nil }
}

struct Summary {
  let workload: String
  let allocator: String
  let runs: Int
  let failures: Int
  let firstFailure: String?
  let wall: Double?
  let cpu: Double?
  let maxRSSKiB: Double?
  /// Medians of the ok-line values, plus the strace counts (sys_*) when taken.
  var metrics: [String: Double]

  var failed: Bool { failures > 0 }
}

/// The three measures of a run that the report compares.
enum Metric: CaseIterable {
  case wall, cpu, rss

  func value(_ s: Summary) -> Double? {
    switch self {
    case .wall: return s.wall
    case .cpu: return s.cpu
    case .rss: return s.maxRSSKiB
    }
  }
}

enum Stats {
  static func median(_ xs: [Double]) -> Double? {
    guard !xs.isEmpty else { return nil }
    let s = xs.sorted()
    let m = s.count / 2
    return s.count % 2 == 1 ? s[m] : (s[m - 1] + s[m]) / 2
  }

  static func geometricMean(_ xs: [Double]) -> Double? {
    let pos = xs.filter { $0 > 0 }
    guard !pos.isEmpty else { return nil }
    return exp(pos.map { log($0) }.reduce(0, +) / Double(pos.count))
  }

  /// Medians of the passed runs of one workload under one allocator. A pair with any
  /// failed run reports the failure and no timing.
  static func summarize(_ runs: [RunRecord], workload: String, allocator: String) -> Summary {
    let failures = runs.filter { !$0.passed }
    let ok = failures.isEmpty ? runs : []
    var metrics: [String: Double] = [:]
    let keys = Set(ok.flatMap { $0.metrics.keys })
    for k in keys {
      if let m = median(ok.compactMap { $0.metrics[k].flatMap(Double.init) }) { metrics[k] = m }
    }
    return Summary(workload: workload, allocator: allocator, runs: runs.count, failures: failures.count,
                   firstFailure: failures.first?.failure,
                   wall: median(ok.map { $0.measurement.wall }),
                   cpu: median(ok.map { $0.measurement.cpu }),
                   maxRSSKiB: median(ok.map { Double($0.measurement.maxRSSKiB) }),
                   metrics: metrics)
  }
}

/// Parses the final `ok key=value ...` line of a workload's stdout.
enum OkLine {
  static func lastLine(of text: String) -> String {
    text.split(separator: "\n", omittingEmptySubsequences: true).last.map(String.init) ?? ""
  }

  static func isOk(_ line: String) -> Bool { line == "ok" || line.hasPrefix("ok ") }

  static func metrics(_ line: String) -> [String: String] {
    var out: [String: String] = [:]
    for token in line.split(separator: " ") {
      guard let eq = token.firstIndex(of: "=") else { continue }
      out[String(token[..<eq])] = String(token[token.index(after: eq)...])
    }
    return out
  }
}

/// All summaries of a suite, indexed for the reports, with the baseline allocator
/// (zonemalloc when it ran, else the first allocator) that ratios are relative to.
struct SuiteResults {
  let workloads: [String]
  let allocators: [String]
  let baseline: String
  let summaries: [String: Summary]   // key: workload + "\u{1}" + allocator
  let records: [RunRecord]
  let syscalls: [SyscallRecord]
  /// Workloads run under a cap only zonemalloc honours, each with its uncapped twin.
  let uncappedTwins: [String: String]
  /// Workloads whose wall time is mostly a fixed idle period.
  let fixedWall: Set<String>

  func summary(_ w: String, _ a: String) -> Summary? { summaries[w + "\u{1}" + a] }

  /// value(peer) / value(baseline) for one workload, when both passed.
  func ratio(_ w: String, _ a: String, _ value: (Summary) -> Double?) -> Double? {
    guard let s = summary(w, a), !s.failed, let v = value(s),
          let b = summary(w, baseline), !b.failed, let bv = value(b), bv > 0 else { return nil }
    return v / bv
  }

  func ratio(_ w: String, _ a: String, _ m: Metric) -> Double? { ratio(w, a, m.value) }
  func timeRatio(_ w: String, _ a: String) -> Double? { ratio(w, a, .wall) }
  func rssRatio(_ w: String, _ a: String) -> Double? { ratio(w, a, .rss) }
  func cpuRatio(_ w: String, _ a: String) -> Double? { ratio(w, a, .cpu) }

  /// The capped workloads of this run, in catalogue order.
  var capped: [String] { workloads.filter { uncappedTwins[$0] != nil } }

  /// The workloads a mean of m is taken over: all but the fixed-wall ones for wall
  /// time, and without the capped ones unless withCapped.
  func meanWorkloads(_ m: Metric, withCapped: Bool) -> [String] {
    workloads.filter { (m != .wall || !fixedWall.contains($0)) && (withCapped || uncappedTwins[$0] == nil) }
  }

  /// Geometric mean of a peer's ratios over meanWorkloads, the number of workloads it
  /// covers (both allocators passed) and the number it could cover.
  func geomean(_ a: String, _ m: Metric, withCapped: Bool = true) -> (value: Double?, covered: Int, of: Int) {
    let ws = meanWorkloads(m, withCapped: withCapped)
    let xs = ws.compactMap { ratio($0, a, m) }
    return (Stats.geometricMean(xs), xs.count, ws.count)
  }

  /// A capped workload's median over its uncapped twin's, under one allocator.
  func capRatio(_ w: String, _ a: String, _ m: Metric) -> Double? {
    guard let twin = uncappedTwins[w], let c = summary(w, a), !c.failed, let cv = m.value(c),
          let u = summary(twin, a), !u.failed, let uv = m.value(u), uv > 0 else { return nil }
    return cv / uv
  }

  var anyFailure: Bool { records.contains { !$0.passed } || syscalls.contains { $0.failure != nil } }
}
