// Limit.swift: the memory limit's accounting, after the rump kernel's pagedaemon.
//
// Owns: `held`, the bytes the allocator holds from the OS (slabs handed out of the arena
// or back from a clean depot, the pages of spans, big mappings, lazily cached big
// blocks), and its peak; the cap; the reclaim epoch and the refusal counters. Every path
// that takes memory from the OS calls reserve() first, with no lock held.
//
// reserve() never reclaims itself, so that nothing below the housekeeping component
// calls up into the caches it would have to empty. Past the cap it fails, and the
// allocation's slow path (Allocation.retrying) runs a reclaim pass (Runtime/Reclaim.swift)
// that makes room for the request and a margin (1/32 of the cap), and tries again.
// Nothing is released before the cap is reached: what the caches hold below it is reused
// without a page fault (a program whose memory in use sits near the cap faults in again,
// at once, whatever a pass released early).
// Touches: nothing but its counters.

import ZoneSupport
import Synchronization

enum Limit {
  static let held = Atomic<UInt>(0)
  /// The most `held` has been (peak_mapped), raised where held grows.
  static let peakHeld = Atomic<UInt>(0)
  static let cap = Atomic<UInt>(0)
  /// Moves at every reclaim pass: each zone hands its cached slabs back when it sees it.
  static let epoch = Atomic<UInt>(0)
  static let reclaims = Atomic<UInt>(0)
  static let refusals = Atomic<UInt>(0)
  /// The least excess worth a system call to discard (smaller excesses stay charged).
  static let trimMinimum: UInt = 16 << 10

  /// 90% of the cap: above it a reused unit gives back the pages it does not need, and a
  /// lowered cap is reclaimed down to it.
  static func watermark(_ limit: UInt) -> UInt { limit / 10 * 9 }

  /// What a refusal's pass frees beyond the request (1/32 of the cap), so that the next
  /// few requests, this thread's and the others', find room without a pass of their own.
  static func margin(_ limit: UInt) -> UInt { limit / 32 }

  /// Charges bytes about to be taken from the OS. False past the cap.
  @inline(__always) static func reserve(_ bytes: UInt) -> Bool {
    let limit = cap.load(ordering: .relaxed)
    if limit == 0 {
      peakHeld.raise(toAtLeast: held.wrappingAdd(bytes, ordering: .relaxed).newValue)
      return true
    }
    return reserveUnderCap(bytes, limit)
  }

  @inline(never) private static func reserveUnderCap(_ bytes: UInt, _ limit: UInt) -> Bool {
    let now = held.wrappingAdd(bytes, ordering: .relaxed).newValue
    guard now <= limit else {
      held.wrappingSubtract(bytes, ordering: .relaxed)
      return false
    }
    peakHeld.raise(toAtLeast: now)
    return true
  }

  /// A cap is set and held is past 90% of it.
  static var underPressure: Bool {
    let limit = cap.load(ordering: .relaxed)
    return limit != 0 && held.load(ordering: .relaxed) > watermark(limit)
  }

  static func release(_ bytes: UInt) {
    held.wrappingSubtract(bytes, ordering: .relaxed)
  }

  /// Sets the cap (0 removes it). Returns 0 or EINVAL; the caller reclaims when held is
  /// already past the new watermark.
  static func set(_ bytes: UInt) -> Int32 {
    if bytes != 0 && bytes < 1 << 20 { return EINVAL }
    cap.store(bytes, ordering: .relaxed)
    return 0
  }

  /// How far held is above `target`.
  static func excess(over target: UInt) -> UInt {
    let current = held.load(ordering: .relaxed)
    return current > target ? current - target : 0
  }
}
