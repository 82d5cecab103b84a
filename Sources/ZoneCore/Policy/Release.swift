// Release.swift: when cached memory goes back to the OS, as the caches see it.
//
// Owns: the release delay's consequences the caches need to know (whether the background
// thread runs, which sets how much they keep), and the requests they raise for the
// housekeeping component (Runtime/Housekeeping.swift) instead of calling it: "something
// is cached" (the thread is wanted, if the policy allows one), and "a purge or a trim is
// due now" (the thread is woken; when there is none, the caller does the work itself).
// A cache only reports; the housekeeping component decides, where no lock is held.
// Touches: the background thread's wake-up (ZoneSupport/Wakeup.c).

import ZoneSupport
import Synchronization

enum Release {
  /// The background thread: 0 not running, 1 starting, 2 running, 3 cannot be started.
  static let backgroundState = Atomic<UInt>(0)
  static let stopped: UInt = 0, starting: UInt = 1, running: UInt = 2, failed: UInt = 3
  /// Something is cached that the thread should watch.
  static let wanted = Atomic<Bool>(false)
  /// A purge or a trim is due: set while a wake-up is pending, so that a burst of frees
  /// wakes the thread once.
  static let requested = Atomic<Bool>(false)

  /// True while the thread runs (the caches then keep their full floors).
  static var backgroundRunning: Bool { backgroundState.load(ordering: .relaxed) == running }

  /// Something was cached, or the stats page was published: the thread is wanted.
  @inline(__always) static func wantBackground() {
    if backgroundState.load(ordering: .relaxed) == stopped && !wanted.load(ordering: .relaxed) {
      wanted.store(true, ordering: .relaxed)
    }
  }

  /// Asks the thread to purge the lazy cache or trim depots now. False when there is no
  /// thread to ask (the caller does the work itself).
  static func requestPass() -> Bool {
    guard backgroundRunning else { return false }
    if !requested.exchange(true, ordering: .relaxed) { zms_background_wake() }
    return true
  }
}
