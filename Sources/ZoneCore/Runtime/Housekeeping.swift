// Housekeeping.swift: returning idle memory, keeping the stats page fresh: one
// component, one entry point per caller.
//
// Owns: what runs outside the allocation paths proper, and when.
//  - afterSlowPath: every allocator slow path calls it last, where it holds no lock. It
//    starts the background thread when the caches asked for it and the policy allows
//    it, and, without that thread, when a cache took memory since, considers the idle
//    pass. Each check is one load when nothing is asked for.
//  - onTick: the allocation tick's turn (about every 1 MiB a thread allocates): the
//    same, the idle pass considered in any case, and the stats page's refresh.
// Without the background thread the idle pass runs at most once per half release delay
// (any thread: the first to see it due does it).
//  - backgroundRound: the background thread's tick (Background.swift): the purge and
//    the trims the caches asked for, the idle pass, the huge-page promotion, the reaper, the stats page, a heap
//    profile a signal left pending.
//  - purgeAll: zm_purge.
// The idle pass returns what stayed cached longer than the release delay (lazy big
// blocks, depot slabs, orphans that came back empty), and lets the caches' targets
// shrink back when nothing was regretted for a while. The caches never call here; they
// report what they cached (Release.swift) and this component decides.
// Touches: Release, LazyUnmap, Depot, Orphans, HugePromotion, Reaper, Retention,
// Background, StatsPage, ProfileDump, the calling thread's zone.

import ZoneSupport
import Synchronization

enum Housekeeping {
  /// Bytes a thread allocates between two turns of the tick that are not sampling
  /// events.
  static let tickPeriod = 1 << 20
  /// Milliseconds of the last idle pass a program thread made itself.
  static let lastInlinePass = Atomic<UInt>(0)

  /// Called last by every slow path, with no allocator lock held.
  @inline(__always) static func afterSlowPath() {
    if _slowPath(Release.wanted.load(ordering: .relaxed)) && Background.allowed { Background.startIfWanted() }
    if _slowPath(Release.cachedSinceLastPass.load(ordering: .relaxed)) {
      Release.cachedSinceLastPass.store(false, ordering: .relaxed)
      idlePassIfDue()
    }
  }

  /// The allocation tick's turn.
  static func onTick() {
    afterSlowPath()
    idlePassIfDue()
    StatsPage.refreshIfDue()
  }

  /// Without the background thread, the idle pass, when half a release delay has passed
  /// since the last.
  @inline(never) private static func idlePassIfDue() {
    guard !Release.backgroundRunning, Lock.noneHeld else { return }
    let now = OS.nowMilliseconds()
    let last = lastInlinePass.load(ordering: .relaxed)
    guard now &- last >= max(Config.releaseDelay / 2, 1),
          lastInlinePass.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged else { return }
    releaseIdle(olderThan: Config.releaseDelay)
  }

  /// The background thread's round.
  static func backgroundRound() {
    Release.requested.store(false, ordering: .relaxed)
    LazyUnmap.purgeIfOverTarget(steps: Int.max)
    Depot.trimOverflowing()
    releaseIdle(olderThan: Config.releaseDelay)
    HugePromotion.passIfDue()
    Reaper.tick()
    StatsPage.refreshIfDue()
    ProfileDump.servePending()
  }

  /// Returns what has been cached for longer than `delay` milliseconds, and lets the
  /// caches' targets shrink back when nothing was regretted for a while.
  static func releaseIdle(olderThan delay: UInt) {
    let now = OS.nowMilliseconds()
    let cutoff = now > delay ? now - delay : 0
    LazyUnmap.purge(downTo: UInt.max, olderThan: cutoff, wait: false)
    Depot.releaseAll(keeping: 0, parkedBefore: cutoff)
    Orphans.sweep(budget: Orphans.idleSweepBudget, orphanedBefore: cutoff)
    Retention.lazyCache.decay()
    Retention.depots.decay()
  }

  /// zm_purge: everything cached goes back to the OS now.
  static func purgeAll() {
    LazyUnmap.purge(downTo: 0, olderThan: 0, wait: true)
    let zone = ThreadZone.current
    if !Zones.isPlaceholder(zone) { ThreadZone.flushCache(zone) }
    Orphans.sweep(budget: Int.max)
    Depot.releaseAll(keeping: 0, parkedBefore: UInt.max)
  }
}
