// Limit.swift: the memory limit and its reclaim, after the rump kernel's pagedaemon (seed 002).
//
// Owns: `held`, the bytes the allocator holds from the OS (slabs handed out of the arena
// or back from a clean depot, big mappings, lazily cached big blocks); the cap; and the
// reclaim pass. Every path that takes memory from the OS calls reserve() first, with no
// lock held, so reclaim can take any lock it needs.
//
// At 90% of the cap, reclaim releases caches in order: the lazy big-block cache, then the
// depots' empty slabs, then the threads' cached empty slabs (each thread hands them back
// at its next slow path when it sees the reclaim epoch move). Past the cap, reserve()
// fails and the allocation returns NULL with ENOMEM: no abort, no deadlock, whether or not
// the calling thread holds slabs itself.
// Touches: LazyUnmap, Depot, Orphans, the calling thread's zone cache.

import ZoneSupport
import Synchronization

enum Limit {
  static let held = Atomic<UInt>(0)
  static let cap = Atomic<UInt>(0)
  static let epoch = Atomic<UInt>(0)
  static let reclaims = Atomic<UInt>(0)
  static let refusals = Atomic<UInt>(0)

  /// Charges bytes about to be taken from the OS. False (ENOMEM) past the cap.
  @inline(__always) static func reserve(_ bytes: UInt) -> Bool {
    let limit = cap.load(ordering: .relaxed)
    if limit == 0 {
      held.wrappingAdd(bytes, ordering: .relaxed)
      return true
    }
    return reserveUnderCap(bytes, limit)
  }

  @inline(never) private static func reserveUnderCap(_ bytes: UInt, _ limit: UInt) -> Bool {
    if held.load(ordering: .relaxed) &+ bytes > limit / 10 * 9 { reclaim(until: limit / 10 * 9 &- bytes) }
    let now = held.wrappingAdd(bytes, ordering: .relaxed).newValue
    if now <= limit { return true }
    held.wrappingSubtract(bytes, ordering: .relaxed)
    refusals.wrappingAdd(1, ordering: .relaxed)
    return false
  }

  static func release(_ bytes: UInt) {
    held.wrappingSubtract(bytes, ordering: .relaxed)
  }

  /// Sets the cap (0 removes it). Returns 0 or EINVAL.
  static func set(_ bytes: UInt) -> Int32 {
    if bytes != 0 && bytes < 1 << 20 { return EINVAL }
    cap.store(bytes, ordering: .relaxed)
    if bytes != 0 && held.load(ordering: .relaxed) > bytes / 10 * 9 { reclaim(until: bytes / 10 * 9) }
    return 0
  }

  /// One reclaim pass, in the seed's order, stopping once held <= target. Passes are
  /// serialized; a thread that waited for another's pass re-checks before starting its own.
  static func reclaim(until target: UInt) {
    Lock.reclaim.lock()
    defer { Lock.reclaim.unlock() }
    guard held.load(ordering: .relaxed) > target else { return }
    reclaims.wrappingAdd(1, ordering: .relaxed)
    LazyUnmap.purge(downTo: 0, olderThan: 0, wait: true)
    if held.load(ordering: .relaxed) <= target { return }
    Depot.releaseAll(keeping: 0, parkedBefore: UInt.max)
    Orphans.sweep(budget: Int.max)
    epoch.wrappingAdd(1, ordering: .relaxed)
    let zone = ThreadZone.current
    if !Zones.isPlaceholder(zone) {
      zone.pointee.reclaimEpoch = epoch.load(ordering: .relaxed)
      ThreadZone.flushCache(zone)
    }
    Depot.releaseAll(keeping: 0, parkedBefore: UInt.max)
  }
}
