// WarningMarker.swift: ZONEMALLOC_WARNED, which makes the library's warnings about the
// settings appear once per `zm run`, not once per process of the command.
//
// Owns: the marker's value, 0:<fingerprint>. The fingerprint is the wrapping sum of the
// 64-bit FNV-1a hashes of this process's ZONEMALLOC_* entries (NAME=VALUE, at most 4096
// bytes each, the marker's own left out) as 16 lowercase hex digits, computed exactly as
// the library's EnvironmentScan computes it: the first process that loads the library
// with the same settings prints the warnings and turns the 0 into a 1, which the
// processes it starts inherit, so they stay quiet (docs/CONFIGURATION.md).
// Touches: the environment.
#if canImport(Glibc)
import Glibc
#endif

enum WarningMarker {
  static let name = "ZONEMALLOC_WARNED"

  /// Sets the marker for the settings the environment holds now.
  static func set() {
    setenv(name, "0:" + hex(fingerprint()), 1)
  }

  static func fingerprint() -> UInt64 {
    var sum: UInt64 = 0
    var p = environ
    while let entry = p.pointee {
      let bytes = UnsafeRawBufferPointer(start: entry, count: min(strlen(entry), 4096)).map { $0 }
      if bytes.starts(with: "ZONEMALLOC_".utf8) && !bytes.starts(with: (name + "=").utf8) { sum &+= hash(bytes) }
      p += 1
    }
    return sum
  }

  private static func hash(_ bytes: [UInt8]) -> UInt64 {
    bytes.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x0000_0100_0000_01b3 }
  }

  private static func hex(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
  }
}
