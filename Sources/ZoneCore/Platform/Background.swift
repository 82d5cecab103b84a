// Background.swift: the thread that returns idle memory.
//
// Owns: one detached thread, started the first time something is cached (never in a
// program that caches nothing), with every signal blocked. It runs the purges that the
// lazy unmap threshold asks for and trims depots past twice their working set (a free()
// that crosses either only wakes the thread), and each tick
// it unmaps lazily cached big blocks and releases depot slabs idle longer than the delay,
// and parks orphans that came back empty and were not adopted within the delay either.
// It never allocates. Each round also refreshes the stats page and writes a heap
// profile a signal left pending.
// ZONEMALLOC_BACKGROUND=0 turns it off (for example for programs that must stay
// single-threaded, such as those that call unshare(CLONE_NEWUSER)); the thresholds still
// apply then, only idle memory stays until the next purge.
// Touches: LazyUnmap, Depot, Orphans, StatsPage, ProfileDump.

import ZoneSupport
import Synchronization

enum Background {
  /// 0 not started, 1 started, 2 unavailable.
  static let state = Atomic<UInt>(0)

  static func ensureStarted() {
    guard state.load(ordering: .relaxed) == 0, Config.background, Boot.constructed else { return }
    guard state.compareExchange(expected: 0, desired: 1, ordering: .relaxed).exchanged else { return }
    if !start() { state.store(2, ordering: .relaxed) }
  }

  private static func start() -> Bool {
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    pthread_attr_setstacksize(&attributes, 256 << 10)
    var all = sigset_t()
    var previous = sigset_t()
    sigfillset(&all)
    pthread_sigmask(SIG_SETMASK, &all, &previous)
    var thread = pthread_t()
    let rc = Stats.countingAsInternal {
      pthread_create(&thread, &attributes, { _ in Background.run() }, nil)
    }
    pthread_sigmask(SIG_SETMASK, &previous, nil)
    pthread_attr_destroy(&attributes)
    return rc == 0
  }

  private static func run() -> Never {
    let delay = Config.releaseDelay
    let tick = min(max(delay / 2, 10), 1000)
    while true {
      zms_background_sleep(UInt32(tick))
      requested.store(false, ordering: .relaxed)
      LazyUnmap.purgeIfOverThreshold(steps: Int.max)
      Depot.trimOverflowing()
      releaseIdle(olderThan: delay)
      StatsPage.refreshIfDue()
      ProfileDump.servePending()
    }
  }

  /// Set while a request is pending, so that a burst of frees wakes the thread once.
  static let requested = Atomic<Bool>(false)

  /// Asks the thread to purge the lazy cache now. False when there is no thread to ask.
  static func wakeToPurge() -> Bool { request() }

  /// Asks the thread to trim overflowing depots now. False when there is no thread.
  static func wakeToRelease() -> Bool { request() }

  private static func request() -> Bool {
    guard state.load(ordering: .relaxed) == 1 else { return false }
    if !requested.exchange(true, ordering: .relaxed) { zms_background_wake() }
    return true
  }

  /// Returns what has been cached for longer than `delay` milliseconds.
  static func releaseIdle(olderThan delay: UInt) {
    let now = OS.nowMilliseconds()
    let cutoff = now > delay ? now - delay : 0
    LazyUnmap.purge(downTo: UInt.max, olderThan: cutoff, wait: false)
    Depot.releaseAll(keeping: 0, parkedBefore: cutoff)
    Orphans.sweep(budget: 4096, orphanedBefore: cutoff)
  }

  /// The thread does not exist in a fork child; the next cache insertion starts a new one.
  static func afterForkInChild() {
    zms_background_reinit()
    state.store(0, ordering: .relaxed)
  }
}
