// Retention.swift: how much freed memory a cache keeps, following demand.
//
// Owns: the targets of the two caches, the lazy big-block cache (LazyUnmap) and the
// depots of empty slabs (Depot), and for each the bytes it may hold before the excess
// goes back to the OS at once: a floor, plus what regrets have added. A regret is a request that found nothing cached less than a
// release delay after the cache released memory for its target: the memory was given
// back too soon and is being faulted in again. Each regret adds the request's size, so a
// working set above the floor stops being released after a few misses; a release delay
// after the last regret, the addition starts to shrink by a quarter per delay, so a
// program that stopped needing it gives it back. (A fixed byte threshold cannot tell a
// working set from garbage; this one follows the recent use. Age still decides what goes
// back when the program idles: the background thread, or the program's own slow paths,
// release what has stayed cached longer than the release delay.)
// Touches: its own counters, the clock, Config, Limit (the cap), Release (whether the
// background thread runs).

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

extension Retention {
  static let lazyCache = Retention()
  static let depots = Retention()
  /// The configured floor of a depot's working set in bytes, set at boot.
  nonisolated(unsafe) static var depotFloor: UInt = 2 << 20
  /// A depot keeps at most this share of a memory cap (1/32), the lazy cache 1/16.
  static let depotCapShare: UInt = 32
  static let lazyCapShare: UInt = 16

  /// The bytes the lazy cache may hold before it purges: the floor (ZONEMALLOC_LAZY_MAX, a
  /// sixteenth of it without a background thread: nothing else would return the memory of
  /// a program that frees and then sleeps) plus what regrets added, at most 1/16 of a
  /// memory cap (a cache that cannot fit under the cap would only be reclaimed again and
  /// again).
  static var lazyTarget: UInt {
    let floor = Release.backgroundRunning ? Config.lazyMax : Config.lazyMax / 16
    return lazyCache.target(floor: floor, ceiling: capShare(lazyCapShare))
  }

  /// A big request of `bytes` found no cached extent: a regret if the cache purged lately.
  static func noteLazyMiss(_ bytes: UInt) {
    lazyCache.noteMiss(bytes, bound: 16 * Config.lazyMax)
  }

  /// The bytes of dirty units a depot keeps: the floor (ZONEMALLOC_DEPOT_SLABS slabs per
  /// CPU, or an eighth of what is in use if that is more; an eighth of the configured
  /// floor while the program has no background thread) plus what regrets added, but
  /// under a memory cap at most 1/32 of it.
  static func depotKeep(bytesInUse: UInt) -> UInt {
    let floor = Release.backgroundRunning ? max(depotFloor, bytesInUse / 8) : depotFloor / 8
    return depots.target(floor: floor, ceiling: capShare(depotCapShare))
  }

  /// Dirty bytes past which a depot is trimmed to its working set: four times it while
  /// the background thread runs (up to there, age is what releases: a depot refilled by
  /// another thread's burst of frees is reused within the delay more often than not); the
  /// working set itself without the thread, since a program that frees and then sleeps
  /// runs no slow path that could release by age.
  static func depotTrimBound(keep: UInt) -> UInt { Release.backgroundRunning ? 4 * keep : keep }

  /// A request for `bytes` of empty units found no dirty one: a regret if the depots
  /// trimmed lately.
  static func noteDepotMiss(_ bytes: UInt) {
    depots.noteMiss(bytes, bound: 16 * depotFloor)
  }

  private static func capShare(_ share: UInt) -> UInt {
    let cap = Limit.cap.load(ordering: .relaxed)
    return cap == 0 ? UInt.max : cap / share
  }
}
