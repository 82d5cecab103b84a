// EnvironmentScan.swift: the environment's ZONEMALLOC_* entries, looked at once at boot:
// names that are no variable, and whether this process prints the warnings about the
// settings at all.
//
// Owns:
//  - The warning for a name that is no variable: `zonemalloc: unknown variable NAME; did
//    you mean KNOWN?`, KNOWN the nearest known name (KnownVariables) when it is at most a
//    third of the part after the prefix away (and at least 2), else `zonemalloc: unknown
//    variable NAME (ignored)`.
//  - Once per run. `zm run` sets ZONEMALLOC_WARNED=0:<fingerprint>: the wrapping sum of
//    the 64-bit FNV-1a hashes of the ZONEMALLOC_* entries but this one, as 16 hex digits,
//    the same in every process that inherits the same settings, in whatever order. The
//    first process that loads the library and finds its own fingerprint there prints the
//    warnings (these and Config's), then turns the 0 into a 1 in place; the processes
//    started after that, forked or executed, inherit the 1 and stay quiet. A process
//    whose settings differ (a script changed one) prints its own. The byte is changed
//    only where execve put the entry, among the strings on the main thread's stack
//    (zms_in_exec_strings), which are writable; an entry the program set itself is left
//    alone, and the next process prints again. Without the entry (plain LD_PRELOAD)
//    every process prints.
// Bounded: the first `maximumEntries` entries, each hashed over at most
// `maximumEntryBytes` bytes; at most `maximumUnknown` names reported. Allocates nothing.
// Config does not call it in an AT_SECURE process, which reads no variable.
// Touches: the environment (zms_environment, one byte of the marker), KnownVariables,
// Messages.

import ZoneSupport

enum EnvironmentScan {
  static let maximumEntries = 4096
  static let maximumEntryBytes = 4096
  static let maximumUnknown = 8
  private static let prefix: StaticString = "ZONEMALLOC_"
  private static let markerName: StaticString = "ZONEMALLOC_WARNED="

  /// This process keeps the warnings about the settings to itself.
  nonisolated(unsafe) static var quiet = false
  /// The marker's state byte, to be set to "1" once this process has warned.
  nonisolated(unsafe) private static var pendingMarker: UnsafeMutablePointer<CChar>? = nil

  /// Reads the marker: quiet when it says the warnings about these settings were printed.
  static func start() {
    var fingerprint: UInt64 = 0
    var marker: UnsafeMutablePointer<CChar>? = nil
    forEachEntry { entry in
      if startsWith(entry, markerName) { marker = entry } else { fingerprint &+= hash(entry) }
    }
    guard let marker else { return }
    let value = marker + markerName.utf8CodeUnitCount
    guard value[0] == 48 || value[0] == 49, value[1] == 58, matches(value + 2, fingerprint) else { return } // "0"/"1", ":"
    quiet = value[0] == 49
    if !quiet && zms_in_exec_strings(value, 1) { pendingMarker = value }
  }

  /// Warns about the names that are no variable, then marks the warnings as printed.
  static func finish() {
    if !quiet {
      var reported = 0
      forEachEntry { entry in
        guard reported < maximumUnknown, !startsWith(entry, markerName) else { return }
        let name = UnsafeRawPointer(entry).assumingMemoryBound(to: UInt8.self)
        var length = 0
        while length < KnownVariables.longest + 1, name[length] != 0, name[length] != 61 { length += 1 } // "="
        if !KnownVariables.isKnown(name, length: length) {
          warnUnknown(name, length: length)
          reported += 1
        }
      }
    }
    pendingMarker?.pointee = 49 // "1"
    pendingMarker = nil
  }

  /// Calls body with each ZONEMALLOC_* entry among the first maximumEntries.
  private static func forEachEntry(_ body: (UnsafeMutablePointer<CChar>) -> Void) {
    guard let environment = zms_environment() else { return }
    var i = 0
    while i < maximumEntries, let entry = environment[i] {
      if startsWith(entry, prefix) { body(entry) }
      i += 1
    }
  }

  /// The entry's 64-bit FNV-1a hash, over at most maximumEntryBytes bytes (zm's Run.swift
  /// computes the same).
  static func hash(_ entry: UnsafePointer<CChar>) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    var i = 0
    while i < maximumEntryBytes, entry[i] != 0 {
      h = (h ^ UInt64(UInt8(bitPattern: entry[i]))) &* 0x0000_0100_0000_01b3
      i += 1
    }
    return h
  }

  /// Whether text is exactly the 16 lowercase hex digits of value.
  private static func matches(_ text: UnsafePointer<CChar>, _ value: UInt64) -> Bool {
    for i in 0..<16 {
      let digit = UInt8((value >> UInt64(60 - 4 * i)) & 0xf)
      if UInt8(bitPattern: text[i]) != (digit < 10 ? 48 + digit : 87 + digit) { return false }
    }
    return text[16] == 0
  }

  /// True when text starts with word (case counts).
  private static func startsWith(_ text: UnsafePointer<CChar>, _ word: StaticString) -> Bool {
    let w = word.utf8Start
    for i in 0..<word.utf8CodeUnitCount where UInt8(bitPattern: text[i]) != w[i] { return false }
    return true
  }

  private static func warnUnknown(_ name: UnsafePointer<UInt8>, length: Int) {
    let (known, knownLength, distance) = KnownVariables.nearest(to: name, length: length)
    let suffix = length - prefix.utf8CodeUnitCount
    var line = LineBuffer()
    line.append("zonemalloc: unknown variable ")
    for i in 0..<min(length, KnownVariables.longest) { line.append(name[i]) }
    if distance <= max(2, suffix / 3) {
      line.append("; did you mean ")
      for i in 0..<knownLength { line.append(known[i]) }
      line.append("?")
    } else {
      line.append(" (ignored)")
    }
    line.writeLine()
  }
}
