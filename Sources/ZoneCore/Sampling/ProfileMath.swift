// ProfileMath.swift: the weight of a heap profiler sample, without libm (the library
// links libc only).
//
// Owns: the weight of a sample: an allocation of s bytes is sampled with probability
// p = 1 - exp(-s/rate) when samples are one per `rate` bytes on average (a Poisson
// process over the bytes allocated: SampleRandom draws the intervals), so each sample
// stands for s/p bytes, as in tcmalloc. exp is a short series after range reduction; its
// error is far below the sampling noise. Also the mixing function the profiler's stack
// table hashes with.
// Touches: nothing.

enum ProfileMath {
  private static let ln2 = 0.693_147_180_559_945_3

  /// splitmix64's finaliser.
  static func mix(_ value: UInt) -> UInt {
    var z = value &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// Estimated bytes a sample of an allocation of `size` bytes stands for.
  static func weight(_ size: UInt, rate: UInt) -> UInt {
    let x = Double(size) / Double(rate)
    let estimate = Double(size) / oneMinusExpNegative(x)
    return estimate >= 0x1p62 ? 1 << 62 : UInt(estimate)
  }

  /// 1 - exp(-x) for x >= 0, without cancellation for small x.
  static func oneMinusExpNegative(_ x: Double) -> Double {
    if x > 40 { return 1 }
    if x >= 0.5 { return 1 - expNegative(x) }
    // x - x^2/2! + x^3/3! - ... = x (1 - x/2 (1 - x/3 (...))), error below x^11/11!
    let a = 1 - x * (1.0 / 10)
    let b = 1 - x * (1.0 / 9) * a
    let c = 1 - x * (1.0 / 8) * b
    let d = 1 - x * (1.0 / 7) * c
    let e = 1 - x * (1.0 / 6) * d
    let f = 1 - x * (1.0 / 5) * e
    let g = 1 - x * (1.0 / 4) * f
    let h = 1 - x * (1.0 / 3) * g
    return x * (1 - x * 0.5 * h)
  }

  /// exp(-x) for 0.5 <= x <= 40: x = k ln2 + r with 0 <= r < ln2; exp(-r) by its series
  /// to r^14/14! (error below 1e-14), times 2^-k.
  private static func expNegative(_ x: Double) -> Double {
    let k = Int(x / ln2)
    let r = x - Double(k) * ln2
    var sum = 1.0
    var n = 14.0
    while n >= 1 {
      sum = 1 - r * sum / n
      n -= 1
    }
    return sum * Double(bitPattern: UInt64(1023 - k) << 52)
  }
}
