// SampleRandom.swift: random numbers for the sampled features, per thread, without locks.
//
// Owns: the one random generator of the sampled features (the guarded slots and the heap
// profiler): the boot seed (drawn from getrandom when a sampled feature is on) and each
// thread's xorshift64* state (ZoneSupport's zms_sampler_state, an initial-exec thread
// local), seeded at the thread's first draw from the boot seed and the state's own
// address; and the exponential distribution that sampling intervals follow.
// Touches: nothing else.

import ZoneSupport

enum SampleRandom {
  nonisolated(unsafe) private static var seed: UInt = 0

  /// Draws the boot seed (with a clock-and-address fallback when getrandom has none).
  static func drawSeed() {
    var word: UInt = 0
    let got = withUnsafeMutableBytes(of: &word) { getrandom($0.baseAddress, 8, UInt32(GRND_NONBLOCK)) }
    seed = got == 8 ? word : OS.nowNanoseconds() ^ UInt(bitPattern: zms_sampler_state())
  }

  /// The calling thread's next 64 random bits.
  static func next() -> UInt {
    let state = zms_sampler_state().unsafelyUnwrapped
    var x = UInt(state.pointee.random)
    if x == 0 { x = (seed ^ UInt(bitPattern: state)) &* 0x9E37_79B9_7F4A_7C15 | 1 }
    x ^= x >> 12
    x ^= x << 25
    x ^= x >> 27
    state.pointee.random = UInt64(x)
    return x &* 0x2545_F491_4F6C_DD1D
  }

  /// An exponentially distributed whole number of the given mean: -mean x ln(u) for u
  /// uniform in (0, 1). The distribution is memoryless, so a countdown drawn from it
  /// gives every byte the same chance of ending it, whatever came before.
  static func exponential(mean: UInt) -> Int {
    let u = (Double(next() >> 11) + 0.5) * 0x1p-53
    let bytes = -naturalLog(u) * Double(mean)
    return bytes >= 0x1p62 ? 1 << 62 : Int(bytes)
  }

  /// ln(x) for 0 < x < 1, to about 1e-6: x = m 2^e with m in [1, 2), and ln(m) by the
  /// series 2 atanh(t), t = (m - 1) / (m + 1) < 1/3 (libm is not linked).
  static func naturalLog(_ x: Double) -> Double {
    let bits = x.bitPattern
    let e = Int((bits >> 52) & 0x7ff) - 1023
    let m = Double(bitPattern: (bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000)
    let t = (m - 1) / (m + 1)
    let t2 = t * t
    let series = 2 * t * (1 + t2 * (1.0 / 3 + t2 * (1.0 / 5 + t2 * (1.0 / 7 + t2 / 9))))
    return Double(e) * 0.693_147_180_559_945_3 + series
  }
}
