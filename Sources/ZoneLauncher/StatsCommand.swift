// StatsCommand.swift: `zm stats PID` and `zm top PID`.
//
// Owns: the two commands' arguments and output. Both read the stats page the process's
// libzonemalloc publishes (StatsPageReader): the process is neither stopped nor
// attached to, and keeps running at full speed. Each run first removes stale pages of
// processes that are gone.
//  - zm stats PID prints every counter, as the ZONEMALLOC_STATS=1 summary does:
//    "<name> <value>", byte counts also in readable units.
//  - zm top PID prints one line per interval (default 1 s): bytes allocated, active,
//    mapped and cached (lazy + slab), the malloc and free rates, and remote frees (in
//    all, and in the interval). -n COUNT stops after COUNT lines.
#if canImport(Glibc)
import Glibc
#endif

enum StatsCommand {
  static func stats(_ args: ArraySlice<String>) -> Never {
    guard args.count == 1, let pid = Int32(args.first!) else { usageError("stats needs a PID") }
    let snapshot = read(pid)
    print("zonemalloc statistics of pid \(pid) (\(name(pid))), taken \(age(snapshot)) ago")
    for (i, name) in snapshot.names.enumerated() {
      let value = snapshot.values[i]
      print("\(name) \(value)" + (snapshot.isBytes[i] && value >= 1024 ? " (\(Bytes.text(value)))" : ""))
    }
    exit(0)
  }

  static func top(_ args: ArraySlice<String>) -> Never {
    var count = Int.max
    var interval = 1.0
    var rest = args
    while let arg = rest.first, arg.hasPrefix("-") {
      rest = rest.dropFirst()
      guard let value = rest.first else { usageError("\(arg) needs a value") }
      rest = rest.dropFirst()
      switch arg {
      case "-n":
        guard let n = Int(value), n > 0 else { usageError("bad -n count \(value)") }
        count = n
      case "-d":
        guard let d = Double(value), d >= 0.1 else { usageError("bad -d seconds \(value)") }
        interval = d
      default: usageError("unknown option \(arg)")
      }
    }
    guard rest.count == 1, let pid = Int32(rest.first!) else { usageError("top needs a PID") }
    var previous = read(pid)
    print("zm top: pid \(pid) (\(name(pid))), every \(interval) s")
    let header = ["time", "allocated", "active", "mapped", "cached", "malloc/s", "free/s", "remote frees"]
    print(header.enumerated().map { $0.element.leftPadded($0.offset == 7 ? 22 : 11) }.joined(separator: " "))
    let start = monotonicSeconds()
    for _ in 0..<count {
      usleep(useconds_t(interval * 1_000_000))
      guard case .success(let now) = StatsPageReader.read(pid) else {
        print("zm top: process \(pid) exited")
        exit(0)
      }
      print(line(now, previous, elapsed: monotonicSeconds() - start))
      previous = now
    }
    exit(0)
  }

  private static func line(_ now: StatsSnapshot, _ before: StatsSnapshot, elapsed: Double) -> String {
    let seconds = Double(now.time &- before.time) / 1e9
    func rate(_ name: String) -> String {
      seconds > 0 ? String(UInt64(Double(now[name] &- before[name]) / seconds)) : "0"
    }
    let remote = "\(now["remote_frees"]) (+\(now["remote_frees"] &- before["remote_frees"]))"
    let fields = [clock(elapsed), Bytes.text(now["allocated"]), Bytes.text(now["active"]), Bytes.text(now["mapped"]),
                  Bytes.text(now["lazy_cached"] + now["slab_cached"]), rate("malloc_count"), rate("free_count"), remote]
    return fields.enumerated().map { $0.element.leftPadded($0.offset == 7 ? 22 : 11) }.joined(separator: " ")
  }

  /// The snapshot, or exits 1 with one line saying why there is none.
  private static func read(_ pid: Int32) -> StatsSnapshot {
    StatsPageReader.removeStale()
    switch StatsPageReader.read(pid) {
    case .success(let snapshot): return snapshot
    case .failure(let failure):
      printError(failure.message(pid))
      exit(1)
    }
  }

  private static func name(_ pid: Int32) -> String {
    TextFile.lines("/proc/\(pid)/comm")?.first.map(String.init) ?? "?"
  }

  private static func age(_ snapshot: StatsSnapshot) -> String {
    let seconds = Double(UInt64(monotonicSeconds() * 1e9) &- snapshot.time) / 1e9
    return "\(Int(seconds * 1000)) ms"
  }

  private static func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
  }

  private static func clock(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    return "\(s / 3600):" + String(format2(s / 60 % 60)) + ":" + format2(s % 60)
  }

  private static func format2(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
}
