// ConfigText.swift: the text of a ZONEMALLOC_* value, parsed without allocating.
//
// Owns: sizes ("123", "64K", "512M", "2G", "1T", binary units, a trailing "B" or "iB"
// accepted), durations ("30", "30s", "250ms"), flags ("1", "yes", "true", "on" and their
// opposites), and the comparisons the settings make, all on NUL-terminated C strings.
// Pure: it reads only the text it is given, so the tests check it directly.

enum ConfigText {
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

  /// Milliseconds from "30" or "30s" (seconds) or "250ms".
  static func parseDuration(_ text: UnsafePointer<CChar>) -> UInt? {
    var i = 0
    var n: UInt = 0
    while text[i] >= 48 && text[i] <= 57 {
      guard n < UInt.max / 100_000 else { return nil }
      n = n * 10 + UInt(text[i] - 48)
      i += 1
    }
    if i == 0 { return nil }
    if text[i] == 0 || (text[i] == 115 && text[i + 1] == 0) { return n * 1000 }          // "s"
    if text[i] == 109 && text[i + 1] == 115 && text[i + 2] == 0 { return n }              // "ms"
    return nil
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

  static func contains(_ text: UnsafePointer<CChar>, _ byte: UInt8) -> Bool {
    var i = 0
    while text[i] != 0 {
      if UInt8(bitPattern: text[i]) == byte { return true }
      i += 1
    }
    return false
  }

  static func equals(_ text: UnsafePointer<CChar>, _ word: StaticString) -> Bool {
    equals(prefix: text, word) && text[word.utf8CodeUnitCount] == 0
  }

  /// True when text starts with word, ignoring case.
  static func equals(prefix text: UnsafePointer<CChar>, _ word: StaticString) -> Bool {
    let w = word.utf8Start
    for i in 0..<word.utf8CodeUnitCount where UInt8(bitPattern: text[i]) | 0x20 != w[i] | 0x20 {
      return false
    }
    return true
  }
}
