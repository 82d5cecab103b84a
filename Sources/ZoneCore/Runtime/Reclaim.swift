// Reclaim.swift: the memory limit's reclaim pass, the rump kernel pagedaemon's order.
//
// Owns: one pass at a time (the reclaim lock), releasing caches in order until `held`
// is at most a target: the lazy big-block cache (only as much as the excess), the
// depots' empty slabs, orphans that came back empty, then the threads' cached empty
// slabs (this thread's now, the others' at their next slow path, when they see the
// epoch move), and the depots again. It runs where the caller holds no allocator lock:
// after a refusal, before a retry (Allocation.retrying), and when zm_set_limit lowers
// the cap below what is held.
// Touches: Limit, LazyUnmap, Depot, Orphans, the calling thread's zone.

import ZoneSupport
import Synchronization

enum Reclaim {
  /// One pass, stopping once held <= target. A thread that waited for another's pass
  /// re-checks before starting its own.
  static func pass(until target: UInt) {
    Lock.reclaim.lock()
    defer { Lock.reclaim.unlock() }
    guard Limit.held.load(ordering: .relaxed) > target else { return }
    Limit.reclaims.wrappingAdd(1, ordering: .relaxed)
    let lazy = LazyUnmap.bytes.load(ordering: .relaxed)
    LazyUnmap.purge(downTo: lazy &- min(lazy, Limit.excess(over: target)), olderThan: 0, wait: true)
    guard Limit.held.load(ordering: .relaxed) > target else { return }
    Depot.releaseAll(keeping: 0, parkedBefore: UInt.max, budget: Limit.excess(over: target))
    guard Limit.held.load(ordering: .relaxed) > target else { return }
    Orphans.sweep(budget: Int.max)
    let epoch = Limit.epoch.wrappingAdd(1, ordering: .relaxed).newValue
    let zone = ThreadZone.current
    if !Zones.isPlaceholder(zone) {
      zone.pointee.reclaimEpoch = epoch
      ThreadZone.flushCache(zone)
    }
    Depot.releaseAll(keeping: 0, parkedBefore: UInt.max, budget: Limit.excess(over: target))
  }

  /// Passes a refused allocation makes before it fails: another thread may take the room
  /// a pass made before this one retries.
  static let passesBeforeRefusal = 3

  /// An allocation of `bytes` was refused: a pass that makes room for it and the limit's
  /// margin. False when no cap is set (the refusal had another cause, and a retry would
  /// fail the same way).
  static func makeRoom(for bytes: UInt) -> Bool {
    let cap = Limit.cap.load(ordering: .relaxed)
    guard cap != 0 else { return false }
    pass(until: cap &- min(cap, bytes &+ Limit.margin(cap)))
    return true
  }
}
