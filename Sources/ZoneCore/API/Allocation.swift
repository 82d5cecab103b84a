// Allocation.swift: the malloc slow paths, where the layers meet.
//
// Owns: what an allocation does when its fast path has nothing ready: boot the allocator
// and give the thread its zone (or the exit zone after its teardown), refill the class
// or take a span or a big block, hand the result out with the tick's turn when it runs
// out, and when the memory limit refused, one reclaim pass and one more try before NULL
// with ENOMEM. Small and medium requests fall back to page-granular big blocks while
// address space for arena windows has run out (ulimit -v). Every path ends with the
// housekeeping component's turn (no lock is held here).
// Touches: Boot, Zones, ExitZone, Refill, Spans, BigBlocks, AllocationTick, Sampling,
// Reclaim, Housekeeping, Limit, Arena.

import ZoneSupport
import Synchronization

enum Allocation {
  static let smallLimit = UInt(SizeClass.limit)
  static let mediumLimit = UInt(SizeClass.mediumLimit)

  @inline(never) static func outOfMemory() -> UnsafeMutableRawPointer? {
    zms_set_errno(ENOMEM)
    return nil
  }

  // MARK: - Small and medium

  /// A chunk of class c for a request of `size` bytes whose current slab ran dry. The
  /// common case, a thread with its zone whose refill succeeds, comes first.
  static func small(_ c: Int, size: UInt) -> UnsafeMutableRawPointer? {
    let zone = ThreadZone.current
    if _fastPath(!Zones.isPlaceholder(zone)), let slab = Refill.slab(zone, c) {
      let p = handOut(zone, slab, slab.takeLocal())
      Housekeeping.afterSlowPath()
      return p
    }
    let p = retrying(SlabGeometry.size) { inZone { zone in
      guard let slab = Refill.slab(zone, c) else { return nil }
      return handOut(zone, slab, slab.takeLocal())
    } }
    Housekeeping.afterSlowPath()
    return p ?? noSlabMemory(size, zeroed: false)
  }

  /// A span of its own for a medium request.
  static func medium(_ size: UInt, zeroed: Bool) -> UnsafeMutableRawPointer? {
    let p = retrying(Spans.charge(size)) { inZone { zone in
      guard let (span, chunk) = Spans.allocate(size, zeroed: zeroed, in: zone) else { return nil }
      return handOut(zone, span, chunk)
    } }
    Housekeeping.afterSlowPath()
    return p ?? noSlabMemory(size, zeroed: zeroed)
  }

  /// Runs body with the calling thread's zone: its own, created (and the allocator booted)
  /// at its first allocation, or the exit zone, under its lock, after its teardown.
  private static func inZone(_ body: (ZonePointer) -> UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    let zone = ThreadZone.current
    if zone == Zones.exited { return ExitZone.withZone { $0.flatMap(body) } }
    if zone != Zones.empty { return body(zone) }
    guard Boot.ensure(), let created = Zones.createForCurrentThread() else { return nil }
    return body(created)
  }

  /// The chunk goes out counted; the tick's turn comes when it runs out.
  private static func handOut(_ zone: ZonePointer, _ slab: SlabPointer, _ chunk: UInt) -> UnsafeMutableRawPointer {
    if ThreadZone.handOut(zone, slab, chunk) { return UnsafeMutableRawPointer(bitPattern: chunk).unsafelyUnwrapped }
    return tickRanOut(zone, slab, chunk)
  }

  /// A small or medium request found no slab memory. While address space for arena
  /// windows has run out (ulimit -v), it is served as a page-granular big block instead;
  /// otherwise (the memory limit) it fails.
  @inline(never) static func noSlabMemory(_ size: UInt, zeroed: Bool) -> UnsafeMutableRawPointer? {
    guard Arena.exhausted else { return outOfMemory() }
    return big(size, alignment: OS.pageSize, zeroed: zeroed)
  }

  /// malloc above the slab classes: a span, or a big block.
  static func larger(_ size: UInt, zeroed: Bool) -> UnsafeMutableRawPointer? {
    size <= mediumLimit ? medium(size, zeroed: zeroed) : big(size, alignment: OS.pageSize, zeroed: zeroed)
  }

  // MARK: - Big blocks

  static func big(_ size: UInt, alignment: UInt, zeroed: Bool) -> UnsafeMutableRawPointer? {
    guard Boot.ensure() else { return outOfMemory() }
    var block: BigBlocks.Block? = nil
    _ = retrying(BigBlocks.pageRound(size) ?? size) {
      block = BigBlocks.allocate(size, alignment: alignment, zeroed: zeroed)
      return block?.pointer
    }
    Housekeeping.afterSlowPath()
    guard let block else { return outOfMemory() }
    noteBig(block)
    return block.pointer
  }

  /// A big block counts against the calling thread's tick, and is sampled in place.
  private static func noteBig(_ block: BigBlocks.Block) {
    let zone = ThreadZone.current
    guard !Zones.isPlaceholder(zone), AllocationTick.noteBig(zone, block.length) else { return }
    Sampling.settle(zone)
    Sampling.serveBig(zone, block.address, block.length)
    rearm(zone)
    Housekeeping.onTick()
  }

  // MARK: - Shared

  /// The tick ran out on the allocation of `chunk` from `slab` (counted already): the
  /// sampled features and the housekeeping get their turn, and the chunk goes back to its
  /// slab when a feature served the allocation from memory of its own.
  static func tickRanOut(_ zone: ZonePointer, _ slab: SlabPointer, _ chunk: UInt) -> UnsafeMutableRawPointer {
    Sampling.settle(zone)
    let served = Sampling.serve(zone, slab, chunk)
    rearm(zone)
    Housekeeping.onTick()
    guard let served else { return UnsafeMutableRawPointer(bitPattern: chunk).unsafelyUnwrapped }
    SmallFree.giveBack(zone, slab, chunk)
    return served
  }

  /// The next period: the next sampled event, or the housekeeping's turn if sooner.
  private static func rearm(_ zone: ZonePointer) {
    AllocationTick.arm(zone, period: min(Housekeeping.tickPeriod, Sampling.nextEvent(zone)))
  }

  /// One attempt, and when it fails under a memory cap, a reclaim pass that makes room
  /// for `bytes` and another attempt, a few times; the refusal is counted when the last
  /// fails too.
  static func retrying(_ bytes: UInt, _ attempt: () -> UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    if let p = attempt() { return p }
    for _ in 0..<Reclaim.passesBeforeRefusal {
      guard Reclaim.makeRoom(for: bytes) else { return nil }
      if let p = attempt() { return p }
    }
    Limit.refusals.wrappingAdd(1, ordering: .relaxed)
    return nil
  }
}
