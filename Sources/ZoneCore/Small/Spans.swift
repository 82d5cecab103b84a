// Spans.swift: medium blocks (16 KiB to 512 KiB), each a slab of one chunk over 1 to 8
// granules.
//
// Owns: a span's charge (its chunk's pages, not its whole granules), its allocation from
// the zone's cache, the depot or the arena (no lock in the common case), and growing its
// chunk in place for realloc. Touches: Refill (formatting), SlabChunks, Limit (through
// Depot.charge), SmallCounters.
//
// A span is charged its chunk's pages: pages past the chunk are never touched, and the
// limit counts what can be resident. Spans are filed by 16 KiB charge class, so a span
// reused from its class differs from the request by at most 12 KiB: no system call, at
// most three page faults. A span shares the slab's free path, caches and depots.

import ZoneSupport
import Synchronization

enum Spans {
  static func charge(_ size: UInt) -> UInt { OS.pageRound(size) }

  /// A span of its own for `size` bytes (SizeClass.limit < size <= SizeClass.mediumLimit)
  /// from the zone, its chunk handed out and counted; nil when out of memory.
  static func allocate(_ size: UInt, zeroed: Bool, in zone: ZonePointer) -> (SlabPointer, UInt)? {
    let c = SizeClass.spanClass(granules: SizeClass.granules(for: Int(size)))
    guard let span = Refill.formatEmpty(zone, c, charge: charge(size)) else { return nil }
    let fresh = span.pointee.fresh != 0
    _ = span.carve()
    let chunk = span.takeLocal()
    span.setList(SlabList.none, used: 1) // its one chunk is out
    zone.pointee.mallocs &+= 1
    if zeroed { memset(UnsafeMutableRawPointer(bitPattern: chunk).unsafelyUnwrapped, 0, fresh ? 16 : Int(size)) }
    return (span, chunk)
  }

  /// realloc of a span's chunk within its granules: charge the pages and grow in place.
  static func grow(_ address: UInt, to size: UInt) -> UnsafeMutableRawPointer? {
    let span = slabOf(address)
    let charged = span.pointee.charged
    let chunk = UInt(span.pointee.chunkSize)
    guard span.pointee.capacity == 1,
          size <= UInt(span.pointee.granules) * SlabGeometry.size,
          Depot.charge(span, atLeast: charge(size)) else { return nil }
    span.growSpanToCharge()
    SmallCounters.activeBytes.wrappingAdd(span.pointee.charged &- charged, ordering: .relaxed)
    SmallCounters.spanGrowthBytes.wrappingAdd(UInt(span.pointee.chunkSize) &- chunk, ordering: .relaxed)
    return UnsafeMutableRawPointer(bitPattern: address)
  }
}
