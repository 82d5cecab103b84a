// ProfileMath.swift: the heap profiler's random intervals and sample weights, without
// libm (the library links libc only).
//
// Owns: the per-thread random generator (xorshift64*, seeded by splitmix64 from a
// getrandom seed drawn at boot and a counter, so threads never share a sequence and no
// lock is taken), the exponential draw of the bytes until the next sample, and the
// weight of a sample: an allocation of s bytes is sampled with probability
// p = 1 - exp(-s/rate) when samples are one per `rate` bytes on average (a Poisson
// process over the bytes allocated), so each sample stands for s/p bytes, as in tcmalloc.
// ln and exp are short series after range reduction; their error is far below the
// sampling noise.
// Touches: nothing.

import Synchronization

enum ProfileMath {
  nonisolated(unsafe) static var seed: UInt = 0
  private static let streams = Atomic<UInt>(0)
  private static let ln2 = 0.693_147_180_559_945_3

  /// splitmix64's finaliser.
  static func mix(_ value: UInt) -> UInt {
    var z = value &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// The next value of a thread's xorshift64* state (0: not seeded yet).
  static func next(_ state: inout UInt) -> UInt {
    if state == 0 { state = mix(seed ^ mix(streams.wrappingAdd(1, ordering: .relaxed).newValue)) | 1 }
    state ^= state >> 12
    state ^= state << 25
    state ^= state >> 27
    return state &* 0x2545_F491_4F6C_DD1D
  }

  /// Bytes until the next sample: exponential with the given mean, at least 1.
  static func interval(_ state: inout UInt, mean: UInt) -> Int {
    let u = (Double(next(&state) >> 11) + 1) * 0x1p-53 // (0, 1]
    let bytes = -ln(u) * Double(mean)
    return bytes < 1 ? 1 : bytes >= 0x1p62 ? 1 << 62 : Int(bytes)
  }

  /// Estimated bytes a sample of an allocation of `size` bytes stands for.
  static func weight(_ size: UInt, rate: UInt) -> UInt {
    let x = Double(size) / Double(rate)
    let estimate = Double(size) / oneMinusExpNegative(x)
    return estimate >= 0x1p62 ? 1 << 62 : UInt(estimate)
  }

  /// ln(x) for x > 0: x = m * 2^e with m in [sqrt(1/2), sqrt(2)), and
  /// ln m = 2 atanh(z) = 2 (z + z^3/3 + z^5/5 + ...), z = (m-1)/(m+1), |z| < 0.172: six
  /// terms leave an error below 1e-11.
  static func ln(_ x: Double) -> Double {
    let bits = x.bitPattern
    var e = Int((bits >> 52) & 0x7ff) - 1023
    var m = Double(bitPattern: (bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000)
    if m > 1.414_213_562_373_095 {
      m *= 0.5
      e += 1
    }
    let z = (m - 1) / (m + 1)
    let z2 = z * z
    let series = 2 + z2 * (2.0 / 3 + z2 * (2.0 / 5 + z2 * (2.0 / 7 + z2 * (2.0 / 9 + z2 * (2.0 / 11)))))
    return Double(e) * ln2 + z * series
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
