// Suite.swift: runs the selected workloads under the selected allocators.
//
// For each workload the allocators interleave (zonemalloc, glibc, jemalloc, mimalloc,
// tcmalloc, zonemalloc, glibc, ...) for the requested repetitions, so slow drifts of
// the machine spread over all allocators alike. A progress line names each run. A
// pair (workload, allocator) that fails once is reported FAILED and not run again.
// A workload marked countSyscalls then runs once more per allocator under strace
// (SyscallCount.swift). A workload whose optional interpreter is missing is skipped
// with a line. Logs of the latest runs stay in .build/bench-bin/logs.

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
  /// The strace command prefix for the syscall counts; nil to skip them.
  let tracer: [String]?
  /// The system-call counts of the traced runs, filled by run().
  private(set) var syscalls: [SyscallRecord] = []
  private var step = 0
  private let progress = Progress()

  init(workloads: [Workload], allocators: [Allocator], options: Options, builder: Builder, paths: Paths,
       tracer: [String]?) {
    self.workloads = workloads
    self.allocators = allocators
    self.reps = options.repetitions
    self.quick = options.quick
    self.timeout = options.timeout
    self.builder = builder
    self.paths = paths
    self.tracer = tracer
  }

  private func traces(_ w: Workload) -> Bool { w.countSyscalls && tracer != nil }

  var totalRuns: Int { workloads.map { allocators.count * (reps + (traces($0) ? 1 : 0)) }.reduce(0, +) }

  func run() -> [RunRecord] {
    try? FileManager.default.createDirectory(atPath: paths.logDir, withIntermediateDirectories: true)
    var records: [RunRecord] = []
    for w in workloads {
      switch builder.command(for: w, quick: quick) {
      case .success(let argv): records += runWorkload(w, argv)
      case .failure(let e) where e.skip: skip(w, reason: e.message)
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
    if let tracer, w.countSyscalls { traceAll(w, argv, tracer: tracer, skipping: broken) }
    return records
  }

  private func runOnce(_ w: Workload, _ argv: [String], _ a: Allocator, _ rep: Int) -> RunRecord {
    let base = "\(paths.logDir)/\(w.name).\(a.name).\(rep)"
    let spec = RunSpec(argv: argv, env: environment(for: w, under: a), stdoutPath: base + ".out",
                       stderrPath: base + ".err", timeout: timeout, measurer: builder.measurer)
    let (m, last, failure) = execute(spec)
    return RunRecord(workload: w.name, allocator: a.name, rep: rep, measurement: m, failure: failure,
                     metrics: failure == nil ? OkLine.metrics(last) : [:], okLine: last)
  }

  /// The traced run of every allocator that passed the timed runs.
  private func traceAll(_ w: Workload, _ argv: [String], tracer: [String], skipping broken: Set<String>) {
    for a in allocators {
      step += 1
      if broken.contains(a.name) { continue }
      progress.show("[\(step)/\(totalRuns)] \(w.name) under \(a.name) (system calls counted under strace)")
      let r = traceOnce(w, argv, a, tracer: tracer)
      syscalls.append(r)
      if let why = r.failure { progress.note("FAILED: \(w.name) under \(a.name) (strace count): \(why)") }
    }
  }

  private func traceOnce(_ w: Workload, _ argv: [String], _ a: Allocator, tracer: [String]) -> SyscallRecord {
    let base = "\(paths.logDir)/\(w.name).\(a.name).strace"
    var env = environment(for: w, under: a)
    let preload = env.removeValue(forKey: "LD_PRELOAD")
    let report = base + ".counts"
    try? FileManager.default.removeItem(atPath: report)
    let spec = RunSpec(argv: SyscallCount.command(tracer: tracer, report: report, preload: preload, argv: argv),
                       env: env, stdoutPath: base + ".out", stderrPath: base + ".err", timeout: timeout * 2)
    var (_, last, failure) = execute(spec)
    let text = try? String(contentsOfFile: report, encoding: .utf8)
    if failure == nil && text == nil { failure = "strace wrote no counts" }
    return SyscallRecord(workload: w.name, allocator: a.name, failure: failure,
                         calls: SyscallCount.parse(text ?? ""), frees: OkLine.metrics(last)["frees"].flatMap { Int($0) })
  }

  /// Runs a spec; returns its measurement, its last stdout line and why it failed (nil: passed).
  private func execute(_ spec: RunSpec) -> (Measurement, String, String?) {
    let m = Spawner.run(spec)
    let out = (try? String(contentsOfFile: spec.stdoutPath, encoding: .utf8)) ?? ""
    let err = (try? String(contentsOfFile: spec.stderrPath, encoding: .utf8)) ?? ""
    let last = OkLine.lastLine(of: out)
    return (m, last, judge(m, lastOut: last, err: err))
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

  /// The driver's environment without any preload and the workload's unset variables,
  /// plus the workload's variables, the allocator's own and its LD_PRELOAD.
  private func environment(for w: Workload, under a: Allocator) -> [String: String] {
    var env = ProcessInfo.processInfo.environment
    env["LD_PRELOAD"] = nil
    for k in w.unsetEnv { env[k] = nil }
    for (k, v) in w.env { env[k] = v }
    for (k, v) in a.env { env[k] = v }
    if let lib = a.library { env["LD_PRELOAD"] = lib }
    return env
  }

  private func skip(_ w: Workload, reason: String) {
    progress.note("skipping \(w.name): \(reason)")
    step += allocators.count * (reps + (traces(w) ? 1 : 0))
  }

  private func failAll(_ w: Workload, reason: String) -> [RunRecord] {
    progress.note("FAILED: \(w.name) cannot run: \(reason)")
    step += allocators.count * (reps + (traces(w) ? 1 : 0))
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
