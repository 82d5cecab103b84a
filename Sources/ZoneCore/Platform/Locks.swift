// Locks.swift: typed handles over the C-static pthread mutexes.
//
// Owns: the spelling, and each lock's class. The mutexes live in ZoneSupport/Locks.c
// because they need static initialisers; taking one goes through zms_lock, which records
// the class as held by the calling thread, checks the order when ZONEMALLOC_CHECK_LOCKS=1,
// and repairs a forked child first (Fork.swift). docs/DESIGN.md ("Locks") is the lock map.

import ZoneSupport

struct Lock {
  let mutex: UnsafeMutablePointer<pthread_mutex_t>
  let lockClass: UInt32

  private static func global(_ id: Int32, _ lockClass: Int32) -> Lock {
    Lock(mutex: zms_global_lock(id), lockClass: UInt32(lockClass))
  }

  static var exit: Lock { global(Int32(ZMS_LOCK_EXIT), Int32(ZMS_CLASS_EXIT)) }
  static var reclaim: Lock { global(Int32(ZMS_LOCK_RECLAIM), Int32(ZMS_CLASS_RECLAIM)) }
  static var zones: Lock { global(Int32(ZMS_LOCK_ZONES), Int32(ZMS_CLASS_ZONES)) }
  static var orphans: Lock { global(Int32(ZMS_LOCK_ORPHANS), Int32(ZMS_CLASS_ORPHANS)) }
  static var purge: Lock { global(Int32(ZMS_LOCK_PURGE), Int32(ZMS_CLASS_PURGE)) }
  static var big: Lock { global(Int32(ZMS_LOCK_BIG), Int32(ZMS_CLASS_BIG)) }
  static var profile: Lock { global(Int32(ZMS_LOCK_PROFILE), Int32(ZMS_CLASS_PROFILE)) }
  static func depot(_ node: Int) -> Lock {
    Lock(mutex: zms_depot_lock(Int32(node)), lockClass: UInt32(ZMS_CLASS_DEPOT))
  }
  static func arena(_ node: Int) -> Lock {
    Lock(mutex: zms_arena_lock(Int32(node)), lockClass: UInt32(ZMS_CLASS_ARENA))
  }
  static func teardown(_ slot: Int) -> Lock {
    Lock(mutex: zms_teardown_lock(Int32(slot)), lockClass: UInt32(ZMS_CLASS_TEARDOWN))
  }

  @inline(__always) func lock() { zms_lock(mutex, lockClass) }
  @inline(__always) func unlock() { zms_unlock(mutex, lockClass) }
  @inline(__always) func tryLock() -> Bool { zms_trylock(mutex, lockClass) }

  /// True when the calling thread holds no allocator lock, so that it may call code that
  /// can allocate or take a host lock (pthread_create, dlopen, stdio).
  static var noneHeld: Bool { zms_holds_no_lock() }

  /// Attempts (1 ms apart) a path that must not block makes before it gives up.
  static let exitPathAttempts = 1000

  /// Takes the lock on a path that must never block (exit, _exit, a signal handler):
  /// false at once when the calling thread holds a lock of its class (a signal handler
  /// interrupted it there, and waiting would be waiting for itself); otherwise it tries
  /// for about a second while other threads finish their holds, and gives up after that.
  /// Tries cannot deadlock, so the lock order is not checked.
  func lockOnExitPath() -> Bool {
    guard zms_holds_class(lockClass) == false else { return false }
    var pause = timespec(tv_sec: 0, tv_nsec: 1_000_000)
    for _ in 0..<Lock.exitPathAttempts {
      if zms_trylock_anywhere(mutex, lockClass) { return true }
      nanosleep(&pause, nil)
    }
    return false
  }
}
