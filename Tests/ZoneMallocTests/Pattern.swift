// Pattern.swift: position-dependent byte patterns for in-process checks.
//
// One reference buffer (16 MiB + 64 KiB of pseudo-random bytes, made once) is the
// source of every pattern: the pattern for `seed` is the reference read from offset
// seed % 65536. Filling is a memcpy and checking a memcmp, so even a debug build of the
// tests writes and verifies gigabytes quickly. A block that was moved, shifted,
// overlapped or partly overwritten no longer matches.
import Foundation

enum Pattern {
  static let maxLength = 16 << 20
  private static let seedSpan = 1 << 16

  nonisolated(unsafe) private static let reference: UnsafeMutableRawPointer = {
    let words = (maxLength + seedSpan) / 8
    let buffer = UnsafeMutablePointer<UInt64>.allocate(capacity: words)
    var x: UInt64 = 0x9e37_79b9_7f4a_7c15
    for k in 0..<words {
      x ^= x << 13; x ^= x >> 7; x ^= x << 17
      buffer[k] = x
    }
    return UnsafeMutableRawPointer(buffer)
  }()

  static func fill(_ p: UnsafeMutableRawPointer, count: Int, seed: Int) {
    precondition(count <= maxLength, "pattern of \(count) bytes is longer than \(maxLength)")
    memcpy(p, reference + (seed & (seedSpan - 1)), count)
  }

  static func matches(_ p: UnsafeRawPointer, count: Int, seed: Int) -> Bool {
    count <= maxLength && memcmp(p, reference + (seed & (seedSpan - 1)), count) == 0
  }

  /// True when the first `count` bytes are all zero.
  static func isZero(_ p: UnsafeRawPointer, count: Int) -> Bool {
    count == 0 || (p.load(as: UInt8.self) == 0 && memcmp(p, p + 1, count - 1) == 0)
  }
}
