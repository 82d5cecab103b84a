// Config.swift: the ZONEMALLOC_* environment variables.
//
// Owns: parsing and the tunables' values. Read once at boot; a bad value gets a one-line
// warning on stderr and the default stays in force, unless another process of the run
// printed the warnings already (EnvironmentScan, which also reports names that are no
// variable). docs/CONFIGURATION.md lists them.
// In a process the kernel marks AT_SECURE (setuid, setgid, file capabilities), the
// environment belongs to the unprivileged user who started it: every ZONEMALLOC_*
// variable is ignored there, as glibc ignores its malloc tunables, and the library
// creates no file (no stats page); the defaults, guarded sampling among them, stay on.
// Touches: getenv, getauxval, ConfigText (the parsing), Messages, EnvironmentScan, and
// CgroupLimit (ZONEMALLOC_LIMIT=auto).

import ZoneSupport

enum Config {
  /// ZONEMALLOC_STATS: the summary at exit, on the stderr of load time or in a file.
  nonisolated(unsafe) static var printStats = false
  /// The file, when ZONEMALLOC_STATS is a path (it contains a "/"; %p stands for the pid),
  /// copied at boot: a program may overwrite its environment strings (setproctitle).
  nonisolated(unsafe) static var statsPath: UnsafePointer<CChar>? = nil
  /// ZONEMALLOC_STATS_FORMAT=json: every summary is one JSON object.
  nonisolated(unsafe) static var statsJSON = false
  /// ZONEMALLOC_STATS_PID: only this process prints the summary at exit (0: every one).
  nonisolated(unsafe) static var statsPid: UInt = 0
  nonisolated(unsafe) static var limit: UInt = 0
  /// Lazily held big-block bytes before a purge; set at boot to 32 MiB x fls(ncpus).
  nonisolated(unsafe) static var lazyMax: UInt = 64 << 20
  /// Cached memory idle for longer than this is returned (milliseconds).
  nonisolated(unsafe) static var releaseDelay: UInt = 1000
  /// The values of a mode setting (ZONEMALLOC_NUMA, ZONEMALLOC_BACKGROUND).
  static let modeOff: UInt = 0, modeOn: UInt = 1, modeAuto: UInt = 2
  /// NUMA placement: off, forced on, or automatic (on with more than one node).
  nonisolated(unsafe) static var numaMode: UInt = modeAuto
  /// The background thread: never, as soon as something is cached, or (auto) once the
  /// program runs a second thread of its own.
  nonisolated(unsafe) static var backgroundMode: UInt = modeAuto
  /// Check the lock order on every acquisition (ZONEMALLOC_CHECK_LOCKS=1).
  nonisolated(unsafe) static var checkLocks = false
  /// Empty 64 KiB granules a depot keeps per CPU before it releases the excess in bulk.
  nonisolated(unsafe) static var depotSlabsPerCPU: UInt = 64
  /// About one allocation in this many goes to a guarded slot; 0 turns guarding off.
  /// The default keeps the cost under 1% (docs/CONFIGURATION.md, bench/README.md).
  nonisolated(unsafe) static var guardRate: UInt = 100_000
  /// Guarded blocks sit right after a guard page instead of right before one.
  nonisolated(unsafe) static var guardUnderflow = false
  /// Guarded slots reserved when guarding is on.
  nonisolated(unsafe) static var guardSlots: UInt = 256
  /// ZONEMALLOC_LIMIT=auto: the cap follows the cgroup's memory limit (CgroupLimit.swift).
  nonisolated(unsafe) static var limitAuto = false
  /// The heap profiler (Profiler.swift): on, its mean sampling interval in bytes, the
  /// signal that dumps a profile (0: none), and the profile's path pattern (%p: the pid),
  /// copied at boot like the statistics file's; the milliseconds between periodic dumps
  /// (0: none), and whether the exit profile's path goes unannounced on stderr.
  nonisolated(unsafe) static var profile = false
  nonisolated(unsafe) static var profileRate: UInt = 512 << 10
  nonisolated(unsafe) static var profileSignal: UInt = 0
  nonisolated(unsafe) static var profileFile: UnsafePointer<CChar>? = nil
  nonisolated(unsafe) static var profileInterval: UInt = 0
  nonisolated(unsafe) static var profileQuiet = false
  /// The stats page other processes read (StatsPage.swift).
  nonisolated(unsafe) static var statsPage = true
  /// For tests only: a page size larger than the kernel's that the geometry takes as the
  /// page size (16 or 64 KiB on a 4 KiB kernel), 0 for the kernel's (OS.setPageSize).
  nonisolated(unsafe) static var testPageSize: UInt = 0
  /// A setuid, setgid or otherwise privileged process (AT_SECURE): the environment is
  /// not read, and no file is created.
  nonisolated(unsafe) static var secure = false

  static func load(cpus: Int) {
    lazyMax = (32 << 20) * UInt(Int.bitWidth - cpus.leadingZeroBitCount)
    secure = getauxval(UInt(AT_SECURE)) != 0
    if secure {
      statsPage = false
      return
    }
    EnvironmentScan.start()
    readStats()
    readLimit()
    readSize("ZONEMALLOC_LAZY_MAX", into: &lazyMax, minimum: 0, allowZero: true)
    readNumber("ZONEMALLOC_RELEASE_DELAY", into: &releaseDelay, range: 1...3_600_000,
               expected: "a number of milliseconds from 1 to 3600000")
    readMode("ZONEMALLOC_BACKGROUND", into: &backgroundMode)
    readFlag("ZONEMALLOC_CHECK_LOCKS", into: &checkLocks)
    readNumber("ZONEMALLOC_DEPOT_SLABS", into: &depotSlabsPerCPU, range: 0...65536,
               expected: "a number of slabs from 0 to 65536")
    readNumber("ZONEMALLOC_GUARD_RATE", into: &guardRate, range: 0...1_000_000_000,
               expected: "0 (off) or a number up to 1000000000")
    readFlag("ZONEMALLOC_GUARD_UNDERFLOW", into: &guardUnderflow)
    readNumber("ZONEMALLOC_GUARD_SLOTS", into: &guardSlots, range: 1...16384,
               expected: "a number of slots from 1 to 16384")
    readMode("ZONEMALLOC_NUMA", into: &numaMode)
    readFlag("ZONEMALLOC_PROF", into: &profile)
    readSize("ZONEMALLOC_PROF_RATE", into: &profileRate, minimum: 1, allowZero: false)
    readSignal()
    readProfileFile()
    readProfileInterval()
    readFlag("ZONEMALLOC_PROF_QUIET", into: &profileQuiet)
    readFlag("ZONEMALLOC_STATS_PAGE", into: &statsPage)
    readSize("ZONEMALLOC_TEST_PAGE_SIZE", into: &testPageSize, minimum: 4096, allowZero: true,
             expected: "a power of two up to 64K (tests only)")
    EnvironmentScan.finish()
  }

  // MARK: - Readers

  /// The variable's text, or nil when it is unset or empty, or the process is secure.
  static func value(_ name: StaticString) -> UnsafePointer<CChar>? {
    guard !secure, let v = getenv(UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self)),
          v[0] != 0 else { return nil }
    return UnsafePointer(v)
  }

  private static func readFlag(_ name: StaticString, into flag: inout Bool) {
    guard let text = value(name) else { return }
    if let b = ConfigText.parseBool(text) { flag = b } else { warnBad(name, text, "0 or 1") }
  }

  private static func readNumber(_ name: StaticString, into number: inout UInt,
                                 range: ClosedRange<UInt>, expected: StaticString) {
    guard let text = value(name) else { return }
    if let n = ConfigText.parseSize(text, suffixes: false), range.contains(n) { number = n }
    else { warnBad(name, text, expected) }
  }

  private static func readSize(_ name: StaticString, into size: inout UInt, minimum: UInt, allowZero: Bool,
                               expected: StaticString = "a size such as 512K") {
    guard let text = value(name) else { return }
    if let n = ConfigText.parseSize(text, suffixes: true), n >= minimum || (allowZero && n == 0) {
      size = n
    } else {
      warnBad(name, text, expected)
    }
  }

  /// A size, or "auto": the cgroup's memory limit decides, once the rest is read.
  private static func readLimit() {
    if let text = value("ZONEMALLOC_LIMIT"), ConfigText.equals(text, "auto") {
      limitAuto = true
      limit = CgroupLimit.cap()
      return
    }
    readSize("ZONEMALLOC_LIMIT", into: &limit, minimum: 1 << 20, allowZero: true,
             expected: "a size such as 512M or 2G (at least 1M)")
  }

  /// A signal number, or USR1 / USR2 with or without the SIG prefix.
  private static func readSignal() {
    guard let text = value("ZONEMALLOC_PROF_SIGNAL") else { return }
    let name = ConfigText.equals(prefix: text, "SIG") ? text + 3 : text
    if ConfigText.equals(name, "USR1") { profileSignal = UInt(SIGUSR1) }
    else if ConfigText.equals(name, "USR2") { profileSignal = UInt(SIGUSR2) }
    else if let n = ConfigText.parseSize(text, suffixes: false), n >= 1, n <= 64, n != UInt(SIGKILL), n != UInt(SIGSTOP) {
      profileSignal = n
    } else {
      warnBad("ZONEMALLOC_PROF_SIGNAL", text, "a signal number, USR1 or USR2")
    }
  }

  private static func readProfileFile() {
    guard let text = value("ZONEMALLOC_PROF_FILE") else { return }
    if let path = zms_keep_path(text) { profileFile = path }
    else { warnBad("ZONEMALLOC_PROF_FILE", text, "a path under 4 KiB") }
  }

  /// Seconds ("30", "30s") or milliseconds ("250ms"), from 100 ms to a day.
  private static func readProfileInterval() {
    guard let text = value("ZONEMALLOC_PROF_INTERVAL") else { return }
    if let ms = ConfigText.parseDuration(text), ms >= 100, ms <= 86_400_000 { profileInterval = ms }
    else { warnBad("ZONEMALLOC_PROF_INTERVAL", text, "seconds (30, 30s) or milliseconds (250ms), from 100ms to 86400s") }
  }

  /// 0, 1 or auto.
  private static func readMode(_ name: StaticString, into mode: inout UInt) {
    guard let text = value(name) else { return }
    if ConfigText.equals(text, "auto") { mode = modeAuto }
    else if let b = ConfigText.parseBool(text) { mode = b ? modeOn : modeOff }
    else { warnBad(name, text, "0, 1 or auto") }
  }

  private static func readStats() {
    if let text = value("ZONEMALLOC_STATS") {
      if let b = ConfigText.parseBool(text) { printStats = b }
      else if ConfigText.contains(text, 47), let path = zms_keep_path(text) { printStats = true; statsPath = path } // "/"
      else { warnBad("ZONEMALLOC_STATS", text, "0, 1 or a file path with a /, under 4 KiB") }
    }
    if let text = value("ZONEMALLOC_STATS_FORMAT") {
      if ConfigText.equals(text, "json") || ConfigText.equals(text, "text") { statsJSON = ConfigText.equals(text, "json") }
      else { warnBad("ZONEMALLOC_STATS_FORMAT", text, "text or json") }
    }
    if let text = value("ZONEMALLOC_STATS_PID") {
      if let pid = ConfigText.parseSize(text, suffixes: false), pid > 0 { statsPid = pid }
      else { warnBad("ZONEMALLOC_STATS_PID", text, "a process id") }
    }
  }

  static func warnBad(_ name: StaticString, _ text: UnsafePointer<CChar>,
                              _ expected: StaticString) {
    guard !EnvironmentScan.quiet else { return }
    var line = LineBuffer()
    line.append("zonemalloc: ignoring ")
    line.append(name)
    line.append("=")
    line.append(cString: text)
    line.append(" (expected ")
    line.append(expected)
    line.append("); the default stays in force")
    line.writeLine()
  }
}
