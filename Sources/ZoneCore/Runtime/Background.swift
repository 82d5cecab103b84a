// Background.swift: the thread that returns idle memory.
//
// Owns: one detached thread and when it exists. It runs the purges that the lazy unmap
// threshold asks for (a free() that crosses it only wakes the thread) and trims depots
// past four times their working set (at the next tick), and each tick it unmaps lazily
// cached big blocks and releases depot slabs idle longer than the delay, parks orphans
// that came back empty and were not adopted within the delay either, and returns the
// pages of slabs that other threads' frees emptied and that stayed so for a tick
// (Reaper). It never allocates. Each round also refreshes the stats page (StatsPage) and
// writes a heap profile that a signal left pending (ProfileDump); the stats page asks for
// the thread, so that `zm stats` and `zm top` see a threaded program's counters move even
// while it caches nothing.
//
// When it exists (ZONEMALLOC_BACKGROUND): by default (auto) only once the program runs a
// second thread of its own that allocates, so a single-threaded program stays
// single-threaded (it may call unshare(CLONE_NEWUSER)) and returns idle memory from its
// own slow paths instead; 1 starts it as soon as something is cached, 0 never.
// It is started only from a point where the caller holds no allocator lock (pthread_create
// allocates), with every signal blocked in its own initial mask (pthread_attr_setsigmask_np:
// the caller's mask is never touched). It leaves when no thread of the program holds a
// zone any more, without a last pass, so it never keeps a process alive whose threads have
// all ended (glibc then exits the process as it would have without it) and adds no work
// to a program's exit.
// Touches: LazyUnmap, Depot, Orphans, Reaper, Zones.liveCount, StatsPage, ProfileDump.

import ZoneSupport
import Synchronization

enum Background {
  /// 0 not running, 1 starting, 2 running, 3 cannot be started.
  static let state = Atomic<UInt>(0)
  /// Something is cached that the thread should watch.
  static let wanted = Atomic<Bool>(false)

  /// True while the thread runs (the caches then keep their full floors).
  static var isRunning: Bool { state.load(ordering: .relaxed) == 2 }

  /// Whether the policy allows the thread now.
  private static var allowed: Bool {
    guard Boot.constructed else { return false }
    switch Config.backgroundMode {
    case 0: return false
    case 1: return true
    default: return Zones.liveCount.load(ordering: .relaxed) >= 2
    }
  }

  /// Something was cached, or the stats page was published: asks for the thread, and
  /// starts it if the caller may call out.
  static func want() {
    guard state.load(ordering: .relaxed) == 0 else { return }
    if !wanted.load(ordering: .relaxed) { wanted.store(true, ordering: .relaxed) }
    startIfWanted()
  }

  /// Starts the thread if it was asked for, the policy allows it and the calling thread
  /// holds no allocator lock. Called where callers are known to hold none, too.
  static func startIfWanted() {
    guard wanted.load(ordering: .relaxed), state.load(ordering: .relaxed) == 0, Lock.noneHeld, allowed,
          state.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged else { return }
    wanted.store(false, ordering: .relaxed)
    state.store(start() ? 2 : 3, ordering: .releasing)
  }

  private static func start() -> Bool {
    // What glibc allocates for the thread counts as internal through the zone's counters,
    // which do not see guarded blocks: none may be guarded.
    Sampling.holdingOff {
      Stats.countingAsInternal {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        pthread_attr_setstacksize(&attributes, 256 << 10)
        var all = sigset_t()
        sigfillset(&all)
        pthread_attr_setsigmask_np(&attributes, &all)
        var thread = pthread_t()
        let rc = pthread_create(&thread, &attributes, { _ in Background.run() }, nil)
        pthread_attr_destroy(&attributes)
        return rc == 0
      }
    }
  }

  private static func run() -> UnsafeMutableRawPointer? {
    let delay = Config.releaseDelay
    let tick = min(max(delay / 2, 10), 1000)
    while true {
      zms_background_sleep(UInt32(tick))
      // The program's last thread is gone (the process is exiting, or its threads all
      // ended): a pass now would return memory that exit returns anyway.
      guard Zones.liveCount.load(ordering: .relaxed) > 0 else { break }
      requested.store(false, ordering: .relaxed)
      LazyUnmap.purgeIfOverTarget(steps: Int.max)
      Depot.trimOverflowing()
      releaseIdle(olderThan: delay)
      Reaper.tick()
      StatsPage.refreshIfDue()
      ProfileDump.servePending()
    }
    state.store(0, ordering: .releasing)
    return nil
  }

  /// Milliseconds of the last idle pass a program thread made itself.
  static let lastInlinePass = Atomic<UInt>(0)

  /// The program's slow paths call this where they hold no lock: it starts the thread if
  /// one was asked for meanwhile (for example by a reclaim, which holds its lock), and
  /// without the thread makes the idle pass, at most once per half release delay (any
  /// thread: the first to see it due does it).
  static func runInlineIfDue() {
    startIfWanted()
    guard !isRunning, Lock.noneHeld else { return }
    let now = OS.nowMilliseconds()
    let last = lastInlinePass.load(ordering: .relaxed)
    guard now &- last >= max(Config.releaseDelay / 2, 1),
          lastInlinePass.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged else { return }
    releaseIdle(olderThan: Config.releaseDelay)
  }

  /// The last zone of the program went away: the thread should leave now.
  static func programThreadsEnded() {
    if state.load(ordering: .relaxed) == 2 { zms_background_wake() }
  }

  /// Set while a request is pending, so that a burst of frees wakes the thread once.
  static let requested = Atomic<Bool>(false)

  /// Asks the thread to purge the lazy cache or trim depots now. False when there is no
  /// thread to ask (the caller does the work itself).
  static func request() -> Bool {
    guard state.load(ordering: .relaxed) == 2 else { return false }
    if !requested.exchange(true, ordering: .relaxed) { zms_background_wake() }
    return true
  }

  /// Returns what has been cached for longer than `delay` milliseconds, and lets the
  /// caches' targets shrink back when nothing was regretted for a while.
  static func releaseIdle(olderThan delay: UInt) {
    let now = OS.nowMilliseconds()
    let cutoff = now > delay ? now - delay : 0
    LazyUnmap.purge(downTo: UInt.max, olderThan: cutoff, wait: false)
    Depot.releaseAll(keeping: 0, parkedBefore: cutoff)
    Orphans.sweep(budget: Orphans.idleSweepBudget, orphanedBefore: cutoff)
    LazyUnmap.retention.decay()
    Depot.retention.decay()
  }

  /// The thread does not exist in a fork child; the child starts its own when needed.
  static func afterForkInChild() {
    state.store(0, ordering: .relaxed)
    wanted.store(false, ordering: .relaxed)
    requested.store(false, ordering: .relaxed)
  }
}
