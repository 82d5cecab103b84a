// Retention.swift: how much freed memory a cache keeps, following demand.
//
// Owns: for one cache (the lazy big-block cache, the depots), the bytes it may hold
// before the excess goes back to the OS at once: a floor the cache's owner chooses, plus
// what regrets have added. A regret is a request that found nothing cached less than a
// release delay after the cache released memory for its target: the memory was given
// back too soon and is being faulted in again. Each regret adds the request's size, so a
// working set above the floor stops being released after a few misses; a release delay
// after the last regret, the addition starts to shrink by a quarter per delay, so a
// program that stopped needing it gives it back. (A fixed byte threshold cannot tell a
// working set from garbage; this one follows the recent use. Age still decides what goes
// back when the program idles: the background thread, or the program's own slow paths,
// release what has stayed cached longer than the release delay.)
// Touches: nothing but its own counters and the clock.

import Synchronization

struct Retention: ~Copyable {
  /// Bytes that regrets added to the floor.
  let extra = Atomic<UInt>(0)
  /// When (ms) the cache last released memory for its target, and the last regret.
  let lastTrim = Atomic<UInt>(0)
  let lastRegret = Atomic<UInt>(0)
  let lastDecay = Atomic<UInt>(0)
  /// Regrets so far (statistics).
  let regrets = Atomic<UInt>(0)

  init() {}

  /// The bytes the cache may hold: the floor plus the regrets, at most the ceiling.
  func target(floor: UInt, ceiling: UInt) -> UInt {
    min(ceiling, floor &+ extra.load(ordering: .relaxed))
  }

  /// The cache released memory to stay within its target.
  func noteTrim() {
    lastTrim.store(OS.nowMilliseconds(), ordering: .relaxed)
  }

  /// A request of `bytes` found nothing cached. At most `bound` bytes are kept as extra.
  func noteMiss(_ bytes: UInt, bound: UInt) {
    let now = OS.nowMilliseconds()
    let trimmed = lastTrim.load(ordering: .relaxed)
    guard trimmed != 0, now &- trimmed < Config.releaseDelay else { return }
    lastRegret.store(now, ordering: .relaxed)
    regrets.wrappingAdd(1, ordering: .relaxed)
    let grown = extra.load(ordering: .relaxed) &+ bytes
    extra.store(min(grown, bound), ordering: .relaxed)
  }

  /// Shrinks what regrets added by a quarter per release delay, once a delay passed
  /// without a regret. Called from the idle passes.
  func decay() {
    let now = OS.nowMilliseconds()
    let delay = Config.releaseDelay
    guard now &- lastRegret.load(ordering: .relaxed) > delay,
          now &- lastDecay.load(ordering: .relaxed) >= delay else { return }
    lastDecay.store(now, ordering: .relaxed)
    let e = extra.load(ordering: .relaxed)
    extra.store(e < 4 ? 0 : e - e / 4, ordering: .relaxed)
  }
}
