// Spawner.swift: runs one command and measures it: wall time, user and system CPU,
// and peak RSS.
//
// The child is started with posix_spawnp in a process group of its own, with stdin
// from /dev/null and stdout and stderr sent to files, and the driver calls wait4
// itself: the rusage of wait4 is where peak RSS (ru_maxrss) and CPU times come from
// (Foundation's Process does not give them). The times and maxrss include the
// child's own waited-for children. A watchdog kills the whole process group when
// the timeout passes.
//
// A child spawned straight from the driver inherits the driver's peak RSS (Linux
// keeps the largest RSS of the address spaces a process had, and posix_spawn's
// child begins in the driver's). So when RunSpec.measurer is set, the command runs
// under bench/support/measure.c, a tiny program that forks and execs it, waits with
// wait4 and writes the command's own wait status and rusage to a report file; the
// driver then takes status, CPU and maxrss from that report.

import Foundation

#if canImport(Glibc)
import Glibc
#endif

struct RunSpec {
  var argv: [String]
  var env: [String: String]
  let stdoutPath: String
  let stderrPath: String
  let timeout: Double
  /// The compiled bench/support/measure, or nil to measure the child directly.
  var measurer: String? = nil
}

enum RunEnd: Equatable {
  case exited(Int32)
  case signaled(Int32)
  case timedOut
  case spawnFailed(Int32)
}

struct Measurement {
  let end: RunEnd
  let wall: Double      // seconds
  let user: Double      // seconds
  let sys: Double       // seconds
  let maxRSSKiB: Int

  var cpu: Double { user + sys }
}

/// Shared between the waiting thread and the watchdog: whether the child is reaped.
private final class ChildState: @unchecked Sendable {
  private let lock = NSLock()
  private var reaped = false
  private(set) var killed = false

  func markReaped() { lock.lock(); reaped = true; lock.unlock() }

  func killIfRunning(_ pid: pid_t) {
    lock.lock()
    defer { lock.unlock() }
    if reaped { return }
    killed = true
    kill(-pid, SIGKILL)
  }
}

enum Spawner {
  static func run(_ spec: RunSpec) -> Measurement {
    guard let measurer = spec.measurer else { return runDirect(spec) }
    let report = spec.stdoutPath + ".rusage"
    try? FileManager.default.removeItem(atPath: report)
    var wrapped = spec
    let preload = spec.env["LD_PRELOAD"].map { ["--preload", $0] } ?? []
    wrapped.argv = [measurer, report] + preload + spec.argv
    wrapped.env["LD_PRELOAD"] = nil
    wrapped.measurer = nil
    let outer = runDirect(wrapped)
    guard outer.end != .timedOut, let text = try? String(contentsOfFile: report, encoding: .utf8),
          let inner = parseReport(text, wall: outer.wall) else { return outer }
    return inner
  }

  /// Reads `status=N maxrss_kib=N user_us=N sys_us=N` written by measure.c.
  private static func parseReport(_ text: String, wall: Double) -> Measurement? {
    var v: [String: Int] = [:]
    for token in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
      let kv = token.split(separator: "=")
      if kv.count == 2, let n = Int(kv[1]) { v[String(kv[0])] = n }
    }
    guard let status = v["status"], let rss = v["maxrss_kib"], let user = v["user_us"],
          let sys = v["sys_us"] else { return nil }
    return Measurement(end: decode(Int32(truncatingIfNeeded: status)), wall: wall, user: Double(user) / 1e6,
                       sys: Double(sys) / 1e6, maxRSSKiB: rss)
  }

  private static func runDirect(_ spec: RunSpec) -> Measurement {
    var pid: pid_t = 0
    let t0 = monotonicSeconds()
    let rc = spawn(spec, &pid)
    if rc != 0 { return Measurement(end: .spawnFailed(rc), wall: 0, user: 0, sys: 0, maxRSSKiB: 0) }

    let state = ChildState()
    let child = pid
    DispatchQueue.global().asyncAfter(deadline: .now() + spec.timeout) { state.killIfRunning(child) }

    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
    state.markReaped()
    let wall = monotonicSeconds() - t0
    kill(-pid, SIGKILL)  // leftovers of the group, if any (normally there are none)

    let end: RunEnd = state.killed ? .timedOut : decode(status)
    return Measurement(end: end, wall: wall, user: seconds(usage.ru_utime), sys: seconds(usage.ru_stime),
                       maxRSSKiB: Int(usage.ru_maxrss))
  }

  private static func spawn(_ spec: RunSpec, _ pid: inout pid_t) -> Int32 {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    let writeFlags = O_WRONLY | O_CREAT | O_TRUNC
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, spec.stdoutPath, writeFlags, 0o644)
    if spec.stderrPath == spec.stdoutPath {
      posix_spawn_file_actions_adddup2(&actions, 1, 2)
    } else {
      posix_spawn_file_actions_addopen(&actions, 2, spec.stderrPath, writeFlags, 0o644)
    }

    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP))
    posix_spawnattr_setpgroup(&attr, 0)

    let argv = spec.argv.map { strdup($0) } + [nil]
    let envp = spec.env.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
      argv.forEach { free($0) }
      envp.forEach { free($0) }
    }
    return posix_spawnp(&pid, spec.argv[0], &actions, &attr, argv, envp)
  }

  /// Decodes a wait status without the C macros (which Swift cannot import).
  private static func decode(_ status: Int32) -> RunEnd {
    let sig = status & 0x7f
    if sig == 0 { return .exited((status >> 8) & 0xff) }
    return .signaled(sig)
  }

  private static func seconds(_ tv: timeval) -> Double { Double(tv.tv_sec) + Double(tv.tv_usec) / 1e6 }
}

func monotonicSeconds() -> Double {
  var ts = timespec()
  clock_gettime(CLOCK_MONOTONIC, &ts)
  return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// A short name for a signal number, for failure messages.
func signalName(_ sig: Int32) -> String {
  let names: [Int32: String] = [SIGSEGV: "SIGSEGV", SIGABRT: "SIGABRT", SIGBUS: "SIGBUS",
                                SIGKILL: "SIGKILL", SIGILL: "SIGILL", SIGFPE: "SIGFPE",
                                SIGTERM: "SIGTERM"]
  return names[sig] ?? "signal \(sig)"
}
