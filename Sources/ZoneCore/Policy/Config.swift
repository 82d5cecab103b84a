// Config.swift: the ZONEMALLOC_* environment variables.
//
// Owns: parsing and the tunables' values. Read once at boot; a bad value gets a one-line
// warning on stderr and the default stays in force. docs/CONFIGURATION.md lists them.
// Touches: getenv and Diagnostics only.

import ZoneSupport

enum Config {
  nonisolated(unsafe) static var printStats = false
  nonisolated(unsafe) static var limit: UInt = 0
  /// Lazily held big-block bytes before a purge; set at boot to 32 MiB x fls(ncpus).
  nonisolated(unsafe) static var lazyMax: UInt = 64 << 20
  /// Cached memory idle for longer than this is returned (milliseconds).
  nonisolated(unsafe) static var releaseDelay: UInt = 1000
  /// 0 off, 1 forced on, 2 automatic (on with more than one node).
  nonisolated(unsafe) static var numaMode: UInt = 2
  nonisolated(unsafe) static var background = true
  /// Empty 64 KiB granules a depot keeps per CPU before it releases the excess in bulk.
  nonisolated(unsafe) static var depotSlabsPerCPU: UInt = 64
  /// ZONEMALLOC_LIMIT=auto: the cap follows the cgroup's memory limit (CgroupLimit.swift).
  nonisolated(unsafe) static var limitAuto = false
  /// The heap profiler (Profiler.swift): on, its mean sampling interval in bytes, the
  /// signal that dumps a profile (0: none), and the profile's path pattern (%p: the pid).
  nonisolated(unsafe) static var profile = false
  nonisolated(unsafe) static var profileRate: UInt = 512 << 10
  nonisolated(unsafe) static var profileSignal: UInt = 0
  nonisolated(unsafe) static var profileFile: UnsafePointer<CChar>? = nil
  /// The stats page other processes read (StatsPage.swift).
  nonisolated(unsafe) static var statsPage = true

  static func load(cpus: Int) {
    lazyMax = (32 << 20) * UInt(Int.bitWidth - cpus.leadingZeroBitCount)
    readFlag("ZONEMALLOC_STATS", into: &printStats)
    readLimit()
    readSize("ZONEMALLOC_LAZY_MAX", into: &lazyMax, minimum: 0, allowZero: true)
    readNumber("ZONEMALLOC_RELEASE_DELAY", into: &releaseDelay, range: 1...3_600_000)
    readFlag("ZONEMALLOC_BACKGROUND", into: &background)
    readNumber("ZONEMALLOC_DEPOT_SLABS", into: &depotSlabsPerCPU, range: 0...65536)
    readNUMA()
    readFlag("ZONEMALLOC_PROF", into: &profile)
    readSize("ZONEMALLOC_PROF_RATE", into: &profileRate, minimum: 1, allowZero: false)
    readSignal()
    profileFile = value("ZONEMALLOC_PROF_FILE")
    readFlag("ZONEMALLOC_STATS_PAGE", into: &statsPage)
  }

  // MARK: - Readers

  /// The variable's text, or nil when it is unset or empty.
  static func value(_ name: StaticString) -> UnsafePointer<CChar>? {
    guard let v = getenv(UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self)),
          v[0] != 0 else { return nil }
    return UnsafePointer(v)
  }

  private static func readFlag(_ name: StaticString, into flag: inout Bool) {
    guard let text = value(name) else { return }
    if let b = parseBool(text) { flag = b } else { warnBad(name, text, "0 or 1") }
  }

  private static func readNumber(_ name: StaticString, into number: inout UInt,
                                 range: ClosedRange<UInt>) {
    guard let text = value(name) else { return }
    if let n = parseSize(text, suffixes: false), range.contains(n) { number = n }
    else { warnBad(name, text, "a number of milliseconds or slabs in range") }
  }

  private static func readSize(_ name: StaticString, into size: inout UInt,
                               minimum: UInt, allowZero: Bool) {
    guard let text = value(name) else { return }
    if let n = parseSize(text, suffixes: true), n >= minimum || (allowZero && n == 0) {
      size = n
    } else {
      warnBad(name, text, minimum > 1 ? "a size such as 512M or 2G (at least 1M)" : "a size such as 512K")
    }
  }

  /// A size, or "auto": the cgroup's memory limit decides, once the rest is read.
  private static func readLimit() {
    if let text = value("ZONEMALLOC_LIMIT"), equals(text, "auto") {
      limitAuto = true
      limit = CgroupLimit.cap()
      return
    }
    readSize("ZONEMALLOC_LIMIT", into: &limit, minimum: 1 << 20, allowZero: true)
  }

  /// A signal number, or USR1 / USR2 with or without the SIG prefix.
  private static func readSignal() {
    guard let text = value("ZONEMALLOC_PROF_SIGNAL") else { return }
    let name = equals(prefix: text, "SIG") ? text + 3 : text
    if equals(name, "USR1") { profileSignal = UInt(SIGUSR1) }
    else if equals(name, "USR2") { profileSignal = UInt(SIGUSR2) }
    else if let n = parseSize(text, suffixes: false), n >= 1, n <= 64, n != UInt(SIGKILL), n != UInt(SIGSTOP) {
      profileSignal = n
    } else {
      warnBad("ZONEMALLOC_PROF_SIGNAL", text, "a signal number, USR1 or USR2")
    }
  }

  private static func readNUMA() {
    guard let text = value("ZONEMALLOC_NUMA") else { return }
    if equals(text, "auto") { numaMode = 2 }
    else if let b = parseBool(text) { numaMode = b ? 1 : 0 }
    else { warnBad("ZONEMALLOC_NUMA", text, "0, 1 or auto") }
  }

  // MARK: - Parsing

  /// "123", "64K", "512M", "2G", "1T" (binary units; a trailing "B"/"iB" is accepted).
  static func parseSize(_ text: UnsafePointer<CChar>, suffixes: Bool) -> UInt? {
    var i = 0
    var n: UInt = 0
    while text[i] >= 48 && text[i] <= 57 {
      let (m, o1) = n.multipliedReportingOverflow(by: 10)
      let (a, o2) = m.addingReportingOverflow(UInt(text[i] - 48))
      if o1 || o2 { return nil }
      n = a
      i += 1
    }
    if i == 0 { return nil }
    guard text[i] != 0 else { return n }
    guard suffixes else { return nil }
    var shift: UInt = 0
    switch text[i] | 0x20 {
    case 107: shift = 10 // k
    case 109: shift = 20 // m
    case 103: shift = 30 // g
    case 116: shift = 40 // t
    default: return nil
    }
    i += 1
    if text[i] | 0x20 == 105 { i += 1 } // "i" as in MiB
    if text[i] | 0x20 == 98 { i += 1 }  // "b"
    guard text[i] == 0, n <= (UInt.max >> shift) else { return nil }
    return n << shift
  }

  static func parseBool(_ text: UnsafePointer<CChar>) -> Bool? {
    if equals(text, "1") || equals(text, "yes") || equals(text, "true") || equals(text, "on") {
      return true
    }
    if equals(text, "0") || equals(text, "no") || equals(text, "false") || equals(text, "off") {
      return false
    }
    return nil
  }

  private static func equals(_ text: UnsafePointer<CChar>, _ word: StaticString) -> Bool {
    equals(prefix: text, word) && text[word.utf8CodeUnitCount] == 0
  }

  /// True when text starts with word, ignoring case.
  private static func equals(prefix text: UnsafePointer<CChar>, _ word: StaticString) -> Bool {
    let w = word.utf8Start
    for i in 0..<word.utf8CodeUnitCount where UInt8(bitPattern: text[i]) | 0x20 != w[i] | 0x20 {
      return false
    }
    return true
  }

  private static func warnBad(_ name: StaticString, _ text: UnsafePointer<CChar>,
                              _ expected: StaticString) {
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
