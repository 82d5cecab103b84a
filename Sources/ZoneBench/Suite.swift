// Suite.swift: runs the selected workloads under the selected allocators.
//
// For each workload the allocators interleave (zonemalloc, glibc, jemalloc, mimalloc,
// tcmalloc, zonemalloc, glibc, ...) for the requested repetitions, so slow drifts of
// the machine spread over all allocators alike. A progress line names each run. A
// pair (workload, allocator) that fails once is reported FAILED and not run again.
// Logs of the latest runs stay in .build/bench-bin/logs.

import Foundation

#if canImport(Glibc)
import Glibc
#endif

final class Suite {
  let workloads: [Workload]
  let allocators: [Allocator]
  let reps: Int
  let quick: Bool
  let timeout: Double
  let builder: Builder
  let paths: Paths
  private var step = 0
  private let progress = Progress()

  init(workloads: [Workload], allocators: [Allocator], options: Options, builder: Builder, paths: Paths) {
    self.workloads = workloads
    self.allocators = allocators
    self.reps = options.repetitions
    self.quick = options.quick
    self.timeout = options.timeout
    self.builder = builder
    self.paths = paths
  }

  var totalRuns: Int { workloads.count * allocators.count * reps }

  func run() -> [RunRecord] {
    try? FileManager.default.createDirectory(atPath: paths.logDir, withIntermediateDirectories: true)
    var records: [RunRecord] = []
    for w in workloads {
      switch builder.command(for: w, quick: quick) {
      case .success(let argv): records += runWorkload(w, argv)
      case .failure(let e): records += failAll(w, reason: e.message)
      }
    }
    progress.finish()
    return records
  }

  private func runWorkload(_ w: Workload, _ argv: [String]) -> [RunRecord] {
    var records: [RunRecord] = []
    var broken = Set<String>()
    for rep in 1...reps {
      for a in allocators {
        step += 1
        if broken.contains(a.name) { continue }
        progress.show("[\(step)/\(totalRuns)] \(w.name) under \(a.name) (rep \(rep)/\(reps))")
        let r = runOnce(w, argv, a, rep)
        records.append(r)
        if let why = r.failure {
          broken.insert(a.name)
          progress.note("FAILED: \(w.name) under \(a.name) (rep \(rep)): \(why)")
        }
      }
    }
    return records
  }

  private func runOnce(_ w: Workload, _ argv: [String], _ a: Allocator, _ rep: Int) -> RunRecord {
    let base = "\(paths.logDir)/\(w.name).\(a.name).\(rep)"
    let spec = RunSpec(argv: argv, env: environment(for: w, under: a), stdoutPath: base + ".out",
                       stderrPath: base + ".err", timeout: timeout, measurer: builder.measurer)
    let m = Spawner.run(spec)
    let out = (try? String(contentsOfFile: spec.stdoutPath, encoding: .utf8)) ?? ""
    let err = (try? String(contentsOfFile: spec.stderrPath, encoding: .utf8)) ?? ""
    let last = OkLine.lastLine(of: out)
    let failure = judge(m, lastOut: last, err: err)
    return RunRecord(workload: w.name, allocator: a.name, rep: rep, measurement: m, failure: failure,
                     metrics: failure == nil ? OkLine.metrics(last) : [:], okLine: last)
  }

  /// nil when the run passed, else a one-line reason.
  private func judge(_ m: Measurement, lastOut: String, err: String) -> String? {
    let errLine = OkLine.lastLine(of: err)
    switch m.end {
    case .spawnFailed(let rc): return "could not start (error \(rc))"
    case .timedOut: return "killed after the \(Int(timeout)) s timeout"
    case .signaled(let s): return "killed by \(signalName(s))" + (errLine.isEmpty ? "" : ": \(errLine)")
    case .exited(let code) where code != 0:
      return "exit status \(code)" + (errLine.isEmpty ? "" : ": \(errLine)")
    case .exited:
      return OkLine.isOk(lastOut) ? nil : "no final ok line (last line: \(lastOut.prefix(120)))"
    }
  }

  /// The driver's environment without any preload, plus the workload's variables, the
  /// allocator's own and its LD_PRELOAD.
  private func environment(for w: Workload, under a: Allocator) -> [String: String] {
    var env = ProcessInfo.processInfo.environment
    env["LD_PRELOAD"] = nil
    for (k, v) in w.env { env[k] = v }
    for (k, v) in a.env { env[k] = v }
    if let lib = a.library { env["LD_PRELOAD"] = lib }
    return env
  }

  private func failAll(_ w: Workload, reason: String) -> [RunRecord] {
    progress.note("FAILED: \(w.name) cannot run: \(reason)")
    step += allocators.count * reps
    let none = Measurement(end: .spawnFailed(-1), wall: 0, user: 0, sys: 0, maxRSSKiB: 0)
    return allocators.map {
      RunRecord(workload: w.name, allocator: $0.name, rep: 1, measurement: none, failure: reason,
                metrics: [:], okLine: "")
    }
  }
}

/// The one-line progress display on stderr: rewritten in place on a terminal, one
/// line per step otherwise (for logs and CI).
final class Progress {
  private let isTTY = isatty(2) != 0
  private var shown = false

  func show(_ line: String) {
    fflush(nil)  // lines printed to stdout so far come before the progress line
    if isTTY {
      FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
      shown = true
    } else {
      FileHandle.standardError.write(Data((line + "\n").utf8))
    }
  }

  /// A line that stays (failures), printed below the progress line.
  func note(_ line: String) {
    fflush(nil)
    finish()
    FileHandle.standardError.write(Data((line + "\n").utf8))
  }

  func finish() {
    if isTTY && shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    shown = false
  }
}
