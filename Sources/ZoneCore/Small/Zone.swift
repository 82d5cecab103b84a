// Zone.swift: a thread's zone record, DragonFly's per-cpu SLGlobalData made per thread.
//
// Owns: the Zone record (the zone array: a current slab per class and per 16-byte bucket
// of sizes up to 1 KiB, partial and full slabs per class, a small cache of empty units,
// the allocation tick, the per-thread counters and the relink stack other threads
// signal slabs on), the way to the calling thread's zone, and the zone's cache of empty
// slabs and spans. Touches: slabs the zone owns, Depot (the cache overflows there).

import ZoneSupport
import Synchronization

/// The zone's tables. InlineArray's length must be a literal: each stands for the
/// constant beside it, and boot checks that they agree (Boot.checkTables).
typealias BucketTable = InlineArray<65, UInt>     // SizeClass.directLimit / 16 + 1 buckets
typealias WideTable = InlineArray<129, UInt>      // SizeClass.limit / 128 + 1 buckets
typealias ClassTable = InlineArray<64, UInt>      // SizeClass.count
typealias ChargeClassTable = InlineArray<32, UInt> // ChargeClass.count

struct Zone: ~Copyable {
  // First, as the C empty zone mirrors them (ZMS_SENTINEL_WORDS): the current slab of the
  // class of each 16-byte bucket of sizes up to 1 KiB, of each 128-byte bucket of sizes
  // up to 16 KiB, then of each class.
  var direct: BucketTable
  var wide: WideTable
  var current: ClassTable
  var mallocs: UInt                    // chunks this thread handed out, but from its current slabs (ThreadZone.mallocs)
  var frees: UInt                      // chunks this thread freed (local or remote)
  var allocatedBytes: UInt             // bytes of the tick's ended periods (AllocationTick)
  var freedBytes: UInt
  var partial: ClassTable              // slabs with free chunks, not current: oldest first
  var partialTail: ClassTable          // ... and newest, where slabs join (partial lists below)
  var full: ClassTable                 // exhausted slabs waiting for a signal or a local free
  var cache: ChargeClassTable         // empty slabs and spans kept for reuse, by charge class - 1
  var cachedGranules: UInt
  var remoteFrees: UInt
  var signals: UInt
  var node: UInt
  var reclaimEpoch: UInt
  var tick: Int                        // bytes until the next tick event (AllocationTick)
  var tickPeriod: Int                  // ... out of a period of this many
  var tickBig: UInt                    // bytes of big blocks in the tick's current period
  var profileLeft: Int                 // bytes until the next profiled allocation (Sampling)
  var guardLeft: Int                   // bytes until the next guarded allocation (Sampling)
  var linkNext: UInt                   // live/dead/free zone lists          [zones lock]
  var linkPrev: UInt
  var padding: (UInt, UInt)
  let relink: Atomic<UInt>             // slabs signalled back by other threads (own line)
}

typealias ZonePointer = UnsafeMutablePointer<Zone>

/// Zone records on the live, dead and free lists, linked through linkNext and linkPrev.
enum ZoneLinks: ListLinks {
  static func next(_ node: UInt) -> UnsafeMutablePointer<UInt> {
    withUnsafeMutablePointer(to: &ZonePointer(bitPattern: node).unsafelyUnwrapped.pointee.linkNext) { $0 }
  }
  static func prev(_ node: UInt) -> UnsafeMutablePointer<UInt> {
    withUnsafeMutablePointer(to: &ZonePointer(bitPattern: node).unsafelyUnwrapped.pointee.linkPrev) { $0 }
  }
}

enum ThreadZone {
  /// Granules of empty slabs and spans a zone keeps for itself (512 KiB).
  static let cacheBudget: UInt = 8

  /// The calling thread's zone (the empty zone until its first slow path). Hot.
  @inline(__always) static var current: ZonePointer {
    zms_zone().unsafelyUnwrapped.assumingMemoryBound(to: Zone.self)
  }

  /// The slab with no free chunk that every empty entry of a zone array names. Hot.
  @inline(__always) static var sentinel: UInt { Zones.empty.pointee.current[0] }

  /// Counts a chunk just taken from its slab (its freed tag cleared) as handed out: one
  /// more for the slab's `handed` (the zone's mallocs, when the slab stops being current),
  /// its bytes against the tick. False when the tick ran out. Hot.
  @inline(__always) static func handOut(_ zone: ZonePointer, _ slab: SlabPointer, _ chunk: UInt) -> Bool {
    slab.pointee.handed &+= 1
    let tick = zone.pointee.tick &- Int(slab.pointee.chunkSize)
    zone.pointee.tick = tick
    return tick >= 0
  }

  /// The slab becomes current: its `handed` starts at the chunks out, which the zone's
  /// mallocs do not count twice.
  static func enterCurrent(_ zone: ZonePointer, _ slab: SlabPointer) {
    slab.setList(SlabList.current)
    zone.pointee.mallocs &-= UInt(slab.pointee.handed)
  }

  /// The slab stops being current (the caller files it): the zone counts its hand-outs.
  static func leaveCurrent(_ zone: ZonePointer, _ slab: SlabPointer) {
    zone.pointee.mallocs &+= UInt(slab.pointee.handed)
  }

  /// Chunks handed out by the thread: the mallocs counted, and the hand-outs of its
  /// current slabs (exact while the thread does not run).
  static func mallocs(_ zone: ZonePointer) -> UInt {
    var count = zone.pointee.mallocs
    for c in 0..<SizeClass.count { count &+= UInt(slabAt(zone.pointee.current[c]).pointee.handed) }
    return count
  }

  /// Makes slab the current one of class c, in the class array and the bucket table.
  static func setCurrent(_ zone: ZonePointer, _ c: Int, _ slab: UInt) {
    zone.pointee.current[c] = slab
    if c < SizeClass.directClasses {
      let range = SizeClass.buckets(of: c)
      var b = range.lowerBound
      repeat { zone.pointee.direct[b] = slab; b += 1 } while b <= range.upperBound
    } else if c < SizeClass.count {
      let range = SizeClass.wideBuckets(of: c)
      var b = range.lowerBound
      repeat { zone.pointee.wide[b] = slab; b += 1 } while b <= range.upperBound
    }
  }

  // MARK: - The partial lists

  // A slab that gets chunks back joins its class's partial list at the tail, and a refill
  // takes the head: the slab that has had longest to gather free chunks since it filled
  // (mimalloc queues its pages the same way). Taking the newest instead would take the
  // slab whose first chunk just came back, and a refill every few mallocs would follow.

  static func appendPartial(_ zone: ZonePointer, _ c: Int, _ slab: SlabPointer) {
    LinkedList<SlabLinks>.append(&zone.pointee.partial[c], &zone.pointee.partialTail[c], slab.address)
  }

  static func removePartial(_ zone: ZonePointer, _ c: Int, _ slab: SlabPointer) {
    LinkedList<SlabLinks>.remove(&zone.pointee.partial[c], &zone.pointee.partialTail[c], slab.address)
  }

  static func popPartial(_ zone: ZonePointer, _ c: Int) -> SlabPointer? {
    LinkedList<SlabLinks>.pop(&zone.pointee.partial[c], &zone.pointee.partialTail[c]).map { slabAt($0) }
  }

  // MARK: - The zone's cache of empty units

  /// An empty slab or span leaves the zone's lists: into the zone's small cache, or the
  /// depot. Signals queued for it first go (a parked slab is never on a relink stack).
  static func park(_ zone: ZonePointer, _ slab: SlabPointer) {
    Depot.prepareForParking(slab)
    if zone.pointee.relink.load(ordering: .relaxed) != 0 { Refill.relinkSignalled(zone) }
    let g = UInt(slab.pointee.granules)
    if zone.pointee.cachedGranules + g <= cacheBudget {
      let q = ChargeClass.index(of: slab.pointee.charged) - 1
      slab.pointee.next = zone.pointee.cache[q]
      zone.pointee.cache[q] = slab.address
      zone.pointee.cachedGranules += g
      SmallCounters.cachedGranules.wrappingAdd(g, ordering: .relaxed)
    } else {
      Depot.put(slab)
    }
  }

  /// An empty slab or span of charge class q from the zone's cache, or nil.
  static func takeCached(_ zone: ZonePointer, chargeClass q: Int) -> SlabPointer? {
    let head = zone.pointee.cache[q - 1]
    guard head != 0 else { return nil }
    let slab = slabAt(head)
    guard slab.pointee.list == SlabList.parked else {
      // Only a zone lost in a fork mid-update can get here: drop the rest of the list.
      zone.pointee.cache[q - 1] = 0
      return nil
    }
    let g = UInt(slab.pointee.granules)
    zone.pointee.cache[q - 1] = slab.pointee.next
    zone.pointee.cachedGranules -= g
    SmallCounters.cachedGranules.wrappingSubtract(g, ordering: .relaxed)
    return slab
  }

  /// Hands every cached empty slab and span to the depot (reclaim, teardown).
  static func flushCache(_ zone: ZonePointer) {
    var chain = SlabChain()
    for q in 1...ChargeClass.count {
      while let slab = takeCached(zone, chargeClass: q) { chain.append(slab.address) }
    }
    Depot.put(chain)
  }
}
