// Locks.swift: typed handles over the C-static pthread mutexes.
//
// Owns: nothing but the spelling. The mutexes themselves live in ZoneSupport/Locks.c
// because they need static initialisers; the lock order is written there.

import ZoneSupport

struct Lock {
  let mutex: UnsafeMutablePointer<pthread_mutex_t>

  static var reclaim: Lock { Lock(mutex: zms_global_lock(Int32(ZMS_LOCK_RECLAIM))) }
  static var zones: Lock { Lock(mutex: zms_global_lock(Int32(ZMS_LOCK_ZONES))) }
  static var orphans: Lock { Lock(mutex: zms_global_lock(Int32(ZMS_LOCK_ORPHANS))) }
  static var purge: Lock { Lock(mutex: zms_global_lock(Int32(ZMS_LOCK_PURGE))) }
  static var big: Lock { Lock(mutex: zms_global_lock(Int32(ZMS_LOCK_BIG))) }
  static var background: Lock { Lock(mutex: zms_global_lock(Int32(ZMS_LOCK_BACKGROUND))) }
  static var profile: Lock { Lock(mutex: zms_global_lock(Int32(ZMS_LOCK_PROFILE))) }
  static func depot(_ node: Int) -> Lock { Lock(mutex: zms_depot_lock(Int32(node))) }
  static func arena(_ node: Int) -> Lock { Lock(mutex: zms_arena_lock(Int32(node))) }
  static func teardown(_ slot: Int) -> Lock { Lock(mutex: zms_teardown_lock(Int32(slot))) }

  @inline(__always) func lock() { pthread_mutex_lock(mutex) }
  @inline(__always) func unlock() { pthread_mutex_unlock(mutex) }
  @inline(__always) func tryLock() -> Bool { pthread_mutex_trylock(mutex) == 0 }

  /// Every lock in the documented order, for the fork handlers.
  static func forEachInOrder(_ body: (Lock) -> Void) {
    body(.reclaim)
    for slot in 0..<Int(ZMS_MAX_TEARDOWN_SLOTS) { body(.teardown(slot)) }
    body(.zones)
    body(.orphans)
    for node in 0..<Int(ZMS_MAX_NODES) { body(.depot(node)) }
    for node in 0..<Int(ZMS_MAX_NODES) { body(.arena(node)) }
    body(.purge)
    body(.big)
    body(.background)
    body(.profile)
  }
}
