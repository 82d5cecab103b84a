// Background.swift: the thread that returns idle memory.
//
// Owns: one detached thread and when it exists. Each tick (half the release delay, at
// most a second) or wake-up it runs Housekeeping.backgroundRound: the purges that the
// lazy unmap threshold asks for (a free() that crosses it only wakes the thread), the
// trims of depots past four times their working set, the idle pass, the reaper, the
// stats page, a heap profile a signal left pending. It never allocates. The stats page
// asks for the thread too, so that `zm stats` and `zm top` see a threaded program's
// counters move even while it caches nothing.
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
// Touches: Release (its state, the requests), Housekeeping, Zones.liveCount, Boot.

import ZoneSupport
import Synchronization

enum Background {
  /// True while the thread runs.
  static var isRunning: Bool { Release.backgroundRunning }

  /// Whether the policy allows the thread now.
  private static var allowed: Bool {
    guard Boot.constructed else { return false }
    switch Config.backgroundMode {
    case Config.modeOff: return false
    case Config.modeOn: return true
    default: return Zones.liveCount.load(ordering: .relaxed) >= 2
    }
  }

  /// Starts the thread if it was asked for, the policy allows it and the calling thread
  /// holds no allocator lock.
  static func startIfWanted() {
    guard Release.wanted.load(ordering: .relaxed),
          Release.backgroundState.load(ordering: .relaxed) == Release.stopped, Lock.noneHeld, allowed,
          Release.backgroundState.compareExchange(expected: Release.stopped, desired: Release.starting,
                                                  ordering: .acquiring).exchanged
    else { return }
    Release.wanted.store(false, ordering: .relaxed)
    Release.backgroundState.store(start() ? Release.running : Release.failed, ordering: .releasing)
  }

  private static func start() -> Bool {
    // What glibc allocates for the thread counts as internal through the zone's counters,
    // which do not see guarded blocks: none may be guarded.
    Sampling.holdingOff {
      Stats.countingAsInternal {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        pthread_attr_setstacksize(&attributes, stackBytes)
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

  /// The thread's stack: it calls nothing deep.
  private static let stackBytes = 256 << 10

  private static func run() -> UnsafeMutableRawPointer? {
    let tick = min(max(Config.releaseDelay / 2, 10), 1000)
    while true {
      zms_background_sleep(UInt32(tick))
      // The program's last thread is gone (the process is exiting, or its threads all
      // ended): a pass now would return memory that exit returns anyway.
      guard Zones.liveCount.load(ordering: .relaxed) > 0 else { break }
      Housekeeping.backgroundRound()
    }
    Release.backgroundState.store(Release.stopped, ordering: .releasing)
    return nil
  }

  /// The thread does not exist in a fork child; the child starts its own when needed.
  static func afterForkInChild() {
    Release.backgroundState.store(Release.stopped, ordering: .relaxed)
    Release.wanted.store(false, ordering: .relaxed)
    Release.requested.store(false, ordering: .relaxed)
  }
}
