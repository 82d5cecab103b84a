// Limit.swift: the memory limit and its reclaim, after the rump kernel's pagedaemon (seed 002).
//
// Owns: `held`, the bytes the allocator holds from the OS (slabs handed out of the arena
// or back from a clean depot, the pages of spans, big mappings, lazily cached big
// blocks), and its peak; the cap; and the reclaim pass. Each slab and span records what it is charged. Every path that takes memory from the OS calls reserve() first, with no
// lock held, so reclaim can take any lock it needs.
//
// At 90% of the cap, reclaim releases caches in order: the lazy big-block cache, then the
// depots' empty slabs, then the threads' cached empty slabs (each thread hands them back
// at its next slow path when it sees the reclaim epoch move). A new pass waits until held
// has grown by 1/32 of the cap since the last one, unless an allocation would fail. Past the cap, reserve()
// fails and the allocation returns NULL with ENOMEM: no abort, no deadlock, whether or not
// the calling thread holds slabs itself.
// Touches: LazyUnmap, Depot, Orphans, the calling thread's zone cache.

import ZoneSupport
import Synchronization

enum Limit {
  static let held = Atomic<UInt>(0)
  /// The most `held` has been (peak_mapped), raised where held grows.
  static let peakHeld = Atomic<UInt>(0)
  static let cap = Atomic<UInt>(0)
  static let epoch = Atomic<UInt>(0)
  static let reclaims = Atomic<UInt>(0)
  static let refusals = Atomic<UInt>(0)

  /// Charges bytes about to be taken from the OS. False (ENOMEM) past the cap.
  @inline(__always) static func reserve(_ bytes: UInt) -> Bool {
    let limit = cap.load(ordering: .relaxed)
    if limit == 0 {
      peakHeld.raise(toAtLeast: held.wrappingAdd(bytes, ordering: .relaxed).newValue)
      return true
    }
    return reserveUnderCap(bytes, limit)
  }

  /// Above 90% of the cap a reclaim pass runs when `held` has grown by 1/32 of the cap
  /// since the last pass (hysteresis: a program whose live set sits above 90% would
  /// otherwise reclaim on every slab it takes), and always before a refusal.
  @inline(never) private static func reserveUnderCap(_ bytes: UInt, _ limit: UInt) -> Bool {
    let watermark = limit / 10 * 9
    let current = held.load(ordering: .relaxed)
    if current &+ bytes > watermark && current > heldAfterReclaim.load(ordering: .relaxed) &+ limit / 32 {
      reclaim(until: watermark &- bytes)
    }
    if tryCharge(bytes, limit) { return true }
    reclaim(until: limit &- bytes)
    if tryCharge(bytes, limit) { return true }
    refusals.wrappingAdd(1, ordering: .relaxed)
    return false
  }

  private static func tryCharge(_ bytes: UInt, _ limit: UInt) -> Bool {
    let now = held.wrappingAdd(bytes, ordering: .relaxed).newValue
    if now <= limit {
      peakHeld.raise(toAtLeast: now)
      return true
    }
    held.wrappingSubtract(bytes, ordering: .relaxed)
    return false
  }

  /// `held` when the last reclaim pass ended.
  static let heldAfterReclaim = Atomic<UInt>(0)

  /// Sets the bytes charged for an empty slab or span about to be used to at least
  /// `bytes`. A reused unit keeps a larger charge (its dirty pages are resident), except
  /// under pressure, when pages past `bytes` worth a system call (16 KiB or more) are
  /// discarded and their charge released.
  /// False past the cap.
  static func charge(_ slab: SlabPointer, atLeast bytes: UInt) -> Bool {
    let have = slab.pointee.charged
    if have >= bytes + trimMinimum && underPressure {
      OS.discard(slab.memory + bytes, have - bytes)
      release(have - bytes)
      slab.pointee.charged = bytes
      return true
    }
    if have >= bytes { return true }
    guard reserve(bytes - have) else { return false }
    slab.pointee.charged = bytes
    return true
  }

  /// The least excess worth a system call to discard (smaller excesses stay charged).
  static let trimMinimum: UInt = 16 << 10

  /// A cap is set and held is past 90% of it.
  static var underPressure: Bool {
    let limit = cap.load(ordering: .relaxed)
    return limit != 0 && held.load(ordering: .relaxed) > limit / 10 * 9
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
    defer {
      heldAfterReclaim.store(held.load(ordering: .relaxed), ordering: .relaxed)
      Lock.reclaim.unlock()
    }
    guard held.load(ordering: .relaxed) > target else { return }
    reclaims.wrappingAdd(1, ordering: .relaxed)
    // 1. The lazy big-block cache, only as much as the excess.
    let lazy = LazyUnmap.bytes.load(ordering: .relaxed)
    LazyUnmap.purge(downTo: lazy &- min(lazy, excess(over: target)), olderThan: 0, wait: true)
    guard held.load(ordering: .relaxed) > target else { return }
    // 2. The depots' empty slabs, then 3. orphans that came back empty and the threads'
    // cached slabs (this thread's now, the others' at their next slow path).
    releaseDepots(excess(over: target))
    guard held.load(ordering: .relaxed) > target else { return }
    Orphans.sweep(budget: Int.max)
    epoch.wrappingAdd(1, ordering: .relaxed)
    let zone = ThreadZone.current
    if !Zones.isPlaceholder(zone) {
      zone.pointee.reclaimEpoch = epoch.load(ordering: .relaxed)
      ThreadZone.flushCache(zone)
    }
    releaseDepots(excess(over: target))
  }

  private static func excess(over target: UInt) -> UInt {
    let current = held.load(ordering: .relaxed)
    return current > target ? current - target : 0
  }

  /// Releases `bytes` of the depots' dirty slabs and spans (their charge), largest first.
  private static func releaseDepots(_ bytes: UInt) {
    Depot.releaseAll(keeping: 0, parkedBefore: UInt.max, budget: bytes)
  }
}
