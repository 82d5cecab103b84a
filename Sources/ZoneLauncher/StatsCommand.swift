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
// Arguments are checked: SECONDS from 0.1 (the page is refreshed at most every 100 ms)
// to 3600, COUNT from 1 to 10^9, a PID from 1 to 4194304. Nothing read from the page or
// from /proc is trusted: names and the process name are printed escaped, and the
// arithmetic saturates (a counter that went backwards gives a rate of 0, sums stop at
// 2^64-1).
// Touches: StatsPageReader, Size (readable bytes), Options, Console, FileSystem.
#if canImport(Glibc)
import Glibc
#endif

enum StatsCommand {
  private static let statsUsage = """
    usage: zm stats PID

    Prints the allocator counters of a running process that loaded zonemalloc, as the
    ZONEMALLOC_STATS=1 summary names them, from the page the library publishes in
    /dev/shm/zonemalloc.PID. The process is neither stopped nor traced. The first line
    says how old the snapshot is: a process refreshes it at most every 100 ms, while it
    allocates or while its background thread runs (a threaded program); a
    single-threaded program that has stopped allocating shows its last snapshot.
    """

  private static let topUsage = """
    usage: zm top [-n COUNT] [-d SECONDS] PID

    Shows the counters of a running process that loaded zonemalloc every SECONDS (default
    1): bytes allocated, active, mapped and cached (lazy + slab), the malloc and free
    rates, and remote frees (in all, and in the interval). -n COUNT stops after COUNT
    lines (1 to 1000000000); SECONDS is from 0.1 to 3600. See zm stats --help for where
    the counters come from.
    """

  static func stats(_ args: ArraySlice<String>) -> Int32 {
    let (_, operands) = OptionParser(usage: statsUsage, accepted: [:]).parse(args)
    let pid = onePid(operands, command: "stats", usage: statsUsage)
    let snapshot = read(pid)
    Console.out("zonemalloc statistics of pid \(pid) (\(name(pid))), taken \(age(snapshot))")
    for (i, name) in snapshot.names.enumerated() {
      let value = snapshot.values[i]
      Console.out("\(name.printable) \(value)"
                  + (snapshot.isBytes[i] && value >= 1024 ? " (\(Size.readable(value)))" : ""))
    }
    return 0
  }

  static func top(_ args: ArraySlice<String>) -> Int32 {
    let (options, operands) = OptionParser(usage: topUsage, accepted: ["-n": .value, "-d": .value]).parse(args)
    var count = Int.max
    var interval = 1.0
    for option in options {
      let value = option.value ?? ""
      if option.name == "-n" {
        count = Argument.integer(value, in: 1...1_000_000_000, what: "-n")
      } else {
        interval = Argument.decimal(value, in: 0.1...3600, what: "-d")
      }
    }
    let pid = onePid(operands, command: "top", usage: topUsage)
    var previous = read(pid)
    Console.out("zm top: pid \(pid) (\(name(pid))), every \(interval) s")
    let header = ["time", "allocated", "active", "mapped", "cached", "malloc/s", "free/s", "remote frees"]
    Console.out(header.enumerated().map { $0.element.leftPadded($0.offset == 7 ? 22 : 11) }.joined(separator: " "))
    let start = monotonicSeconds()
    for _ in 0..<count {
      sleep(seconds: interval)
      guard case .success(let now) = StatsPageReader.read(pid) else {
        Console.out("zm top: process \(pid) exited")
        return 0
      }
      Console.out(line(now, previous, elapsed: monotonicSeconds() - start))
      previous = now
    }
    return 0
  }

  private static func line(_ now: StatsSnapshot, _ before: StatsSnapshot, elapsed: Double) -> String {
    let seconds = Double(now.time.saturatingMinus(before.time)) / 1e9
    func rate(_ name: String) -> String {
      seconds > 0 ? String(UInt64(saturating: Double(now[name].saturatingMinus(before[name])) / seconds)) : "0"
    }
    let remote = "\(now["remote_frees"]) (+\(now["remote_frees"].saturatingMinus(before["remote_frees"])))"
    let cached = now["lazy_cached"].addingReportingOverflow(now["slab_cached"])
    let fields = [clock(elapsed), Size.readable(now["allocated"]), Size.readable(now["active"]),
                  Size.readable(now["mapped"]), Size.readable(cached.overflow ? .max : cached.partialValue),
                  rate("malloc_count"), rate("free_count"), remote]
    return fields.enumerated().map { $0.element.leftPadded($0.offset == 7 ? 22 : 11) }.joined(separator: " ")
  }

  /// The one operand, a PID; else exits 2 saying what is missing or too much.
  private static func onePid(_ operands: ArraySlice<String>, command: String, usage: String) -> Int32 {
    guard let first = operands.first else { Console.usageError("\(command) needs a PID", usage: usage) }
    guard operands.count == 1 else {
      let extra = operands.dropFirst().map { $0.printable }.joined(separator: " ")
      Console.usageError("\(command) takes one PID; unexpected after it: \(extra)", usage: usage)
    }
    return Argument.pid(first)
  }

  /// The snapshot, or exits 1 with one line saying why there is none.
  private static func read(_ pid: Int32) -> StatsSnapshot {
    StatsPageReader.removeStale()
    switch StatsPageReader.read(pid) {
    case .success(let snapshot): return snapshot
    case .failure(let failure):
      Console.fail(failure.message(pid), status: 1)
    }
  }

  /// The process's name (its comm), escaped: a process chooses its own.
  private static func name(_ pid: Int32) -> String {
    FileSystem.lines("/proc/\(pid)/comm")?.first.map { String($0).printable } ?? "?"
  }

  /// "41 ms ago", from the snapshot's time stamp (which the page may get wrong).
  private static func age(_ snapshot: StatsSnapshot) -> String {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    let now = UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    return now >= snapshot.time ? "\((now - snapshot.time) / 1_000_000) ms ago"
      : "\((snapshot.time - now) / 1_000_000) ms in the future (a time stamp zm cannot account for)"
  }

  private static func sleep(seconds: Double) {
    let whole = seconds.rounded(.down)
    var request = timespec(tv_sec: Int(whole), tv_nsec: Int((seconds - whole) * 1e9))
    var remaining = timespec()
    while nanosleep(&request, &remaining) == -1 && errno == EINTR { request = remaining }
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

private extension UInt64 {
  /// self - other, or 0 when other is larger.
  func saturatingMinus(_ other: UInt64) -> UInt64 { self >= other ? self - other : 0 }

  /// The value of a rate, 0 for NaN or below 0, 2^64-1 at or above 2^64.
  init(saturating value: Double) {
    self = value.isNaN || value <= 0 ? 0 : value >= 18_446_744_073_709_551_616.0 ? .max : UInt64(value)
  }
}
