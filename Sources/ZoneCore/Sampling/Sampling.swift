// Sampling.swift: the thread's allocation tick, and what runs when it runs out.
//
// Owns: each zone's tick, the bytes the thread may still allocate before its next
// sampling event. The small and medium malloc paths subtract the chunk size from it
// (ThreadZone.handOut: one subtraction and one branch); big blocks subtract their length.
// When it goes negative the allocation takes `expired`, which re-arms the tick and gives
// the features that watch a sample of the allocations their turn. Those features cost
// nothing on the fast path: they only decide how long the next period is.
// Touches: the zone's tick, ThreadZone (to hand the chunk out, or back).

import ZoneSupport

enum Sampling {
  /// Bytes between two events when no feature wants them sooner: the thread's
  /// housekeeping period.
  static let housekeepingPeriod = 1 << 20

  /// The length of the next period, in bytes.
  static func nextPeriod() -> Int { housekeepingPeriod }

  /// The tick ran out on the allocation of `chunk` from `slab` (class c): re-arm it, then
  /// hand the chunk out.
  @inline(never)
  static func expired(_ zone: ZonePointer, _ slab: SlabPointer, _ c: Int, _ chunk: UInt) -> UnsafeMutableRawPointer {
    zone.pointee.tick = nextPeriod()
    return ThreadZone.give(zone, slab, c, chunk)
  }

  /// A big block of `length` bytes was handed out: it counts against the calling
  /// thread's tick (when the thread has a zone).
  static func noteBig(_ length: UInt) {
    let zone = ThreadZone.current
    guard !Zones.isPlaceholder(zone) else { return }
    zone.pointee.tick &-= Int(truncatingIfNeeded: length)
    if zone.pointee.tick < 0 { zone.pointee.tick = nextPeriod() }
  }
}
