// Size.swift: sizes such as 512M, read exactly as the library reads ZONEMALLOC_LIMIT
// (Sources/ZoneCore/Policy/Config.swift, parseSize and readSize), so that zm rejects
// what the library would ignore, and says why.
//
// Owns: the grammar: decimal digits, then optionally a binary unit K, M, G or T (either
// case), then optionally "i" and then "B" (either case), and nothing else; the value must
// fit in 64 bits. A limit must also be 0 (no limit) or at least 1M, or be "auto" (either
// case: the cgroup's limit decides, CgroupLimit.swift). Also the readable form zm prints
// byte counts in ("57.6 MiB").
// Touches: nothing. LauncherTests checks that zm and the library agree on a table of sizes.

enum Size {
  private static let minimumLimit: UInt64 = 1 << 20

  /// The bytes of a ZONEMALLOC_LIMIT value (nil for "auto"), or the reason it is not one.
  static func parseLimit(_ text: String) -> Result<UInt64?, SizeError> {
    if text.utf8.count == 4 && zip(text.utf8, "auto".utf8).allSatisfy({ $0 | 0x20 == $1 }) { return .success(nil) }
    return parse(text).flatMap { bytes in
      bytes == 0 || bytes >= minimumLimit ? .success(bytes)
        : .failure(SizeError("\(bytes) bytes is below the minimum of 1M (0 means no limit)"))
    }
  }

  /// The bytes of a size, or the reason it is not one. Byte by byte, as the library does
  /// (letters compared in ASCII, either case).
  static func parse(_ text: String) -> Result<UInt64, SizeError> {
    let bytes = Array(text.utf8)
    let digits = bytes.prefix { $0 >= 48 && $0 <= 57 }
    guard !digits.isEmpty else { return .failure(SizeError("a size starts with digits, as in 512M or 2G")) }
    guard let number = UInt64(String(decoding: digits, as: UTF8.self)) else { return .failure(SizeError("too large")) }
    var rest = bytes.dropFirst(digits.count)
    guard let unit = rest.first else { return .success(number) }
    guard let shift = [107: 10, 109: 20, 103: 30, 116: 40][unit | 0x20] else { // k m g t
      return .failure(SizeError("\(quoted(rest)) is not a unit: use K, M, G or T (binary), whole numbers only"))
    }
    rest = rest.dropFirst()
    if let i = rest.first, i | 0x20 == 105 { rest = rest.dropFirst() } // "i" as in MiB
    if let b = rest.first, b | 0x20 == 98 { rest = rest.dropFirst() }  // "B"
    guard rest.isEmpty else { return .failure(SizeError("unexpected \(quoted(rest)) after the unit")) }
    guard number <= UInt64.max >> UInt64(shift) else { return .failure(SizeError("too large")) }
    return .success(number << UInt64(shift))
  }

  /// A byte count in the largest binary unit it reaches, with one decimal: "57.6 MiB".
  static func readable(_ value: UInt64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var scaled = Double(value)
    var unit = 0
    while scaled >= 1024 && unit < units.count - 1 {
      scaled /= 1024
      unit += 1
    }
    if unit == 0 { return "\(value) B" }
    let tenths = Int((scaled * 10).rounded())
    return "\(tenths / 10).\(tenths % 10) \(units[unit])"
  }

  private static func quoted(_ bytes: ArraySlice<UInt8>) -> String {
    "\"" + String(decoding: bytes, as: UTF8.self) + "\""
  }
}

struct SizeError: Error {
  let reason: String
  init(_ reason: String) { self.reason = reason }
}
