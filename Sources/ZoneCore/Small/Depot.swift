// Depot.swift: empty slabs and spans, per NUMA node, with hysteresis (DragonFly's
// per-cpu free-zone cache).
//
// Owns: each node's empty memory: dirty units (pages still resident, reused first) in
// lists by charge class, and clean units (pages returned with MADV_DONTNEED; only address
// space is left) in lists by size in granules. Headers live outside the units
// (SlabHeader.swift), so a released unit keeps its header and its links. A request takes a dirty unit of the charge
// class it needs when there is one: no system call, no page fault.
// A depot keeps a working set of dirty units (Retention.depotKeep: it scales with what is
// in use, since a storm of short-lived threads hands back and takes again thousands of
// slabs a second; under a memory cap, at most 1/32 of the cap). When a put takes the
// depot past four times its working set, the background thread releases the excess in
// bulk at its next tick, largest charge first: unlinked under the lock, madvised in runs
// of adjacent units after the lock is dropped (no free() makes that system call).
// Without the thread, the caller trims as soon as the depot passes its working set. The
// background thread also releases units idle longer than the release delay; reclaim
// releases what the limit needs. Owns too: a reused unit's charge against the limit.
// With huge pages (HugePages.active), the depot keeps count of its granules per huge page
// (HugePageCounts): a trim while the background thread runs passes over units in huge
// pages mostly in use (less than half free: their free part goes back only with the
// idle pass, after the release delay, or by reclaim); a release that splits a huge page
// counts it in huge_splits; and a released unit is taken from a huge page partly in use
// before one wholly free.
// Touches: parked slab headers (list links, SlabState.park), Limit accounting,
// Retention (the targets), Release (reports what it caches), Reaper, HugePageCounts.

import ZoneSupport
import Synchronization

/// Empty units are filed by the bytes charged for them (Limit.swift), in 16 KiB steps:
/// a 64 KiB slab is class 4, a span charged 100 KiB class 7. Reusing a unit of the class
/// a request needs costs no system call and at most a few page faults.
enum ChargeClass {
  static let step: UInt = 16 << 10
  static let count = 32

  /// The class of a positive charge (whole pages).
  static func index(of charge: UInt) -> Int { Int((charge + step - 1) / step) }

  /// Granules of the units of a class.
  static func granules(of index: Int) -> Int { (index + 3) / 4 }

}

/// A depot's lists (lengths: ChargeClass.count and SizeClass.maxGranules; Boot.checkTables).
typealias DirtyLists = InlineArray<32, TailedList<SlabLinks>>
typealias CleanLists = InlineArray<8, UInt>

struct DepotState {
  var dirty: DirtyLists                    // by charge class - 1, newest first   [depot lock]
  var clean: CleanLists                    // released units by granules - 1 (no charge)
  var dirtyGranules: UInt                  // sum over the dirty lists
}

enum Depot {
  /// Dirty granules in every depot (a gauge, read without locks).
  static let dirtyGranules = Atomic<UInt>(0)
  static let releasedGranules = Atomic<UInt>(0)
  /// Each node's depot, mapped at boot.                                      [depot lock]
  nonisolated(unsafe) private static var states: UnsafeMutablePointer<DepotState>? = nil

  static func setUp() -> Bool { OS.mapRecords(into: &states, count: Int(ZMS_MAX_NODES)) }

  /// Dirty granules a depot keeps (Retention.depotKeep).
  static var keep: UInt {
    let inUse = SmallCounters.slabsInUse.load(ordering: .relaxed) * SlabGeometry.size
    return Retention.depotKeep(bytesInUse: inUse) / SlabGeometry.size
  }

  static var trimBound: UInt { Retention.depotTrimBound(keep: keep) }

  /// Marks an empty slab or span as parked: no owner, and any further free into it is
  /// invalid. Its remote list is dropped: no chunk of an empty slab is live.
  static func prepareForParking(_ slab: SlabPointer) {
    if slab.isReaped { Reaper.noteReused(slab) }
    slab.park()
    slab.setList(SlabList.parked)
    slab.pointee.parkedAt = OS.nowMilliseconds()
    SmallCounters.slabsInUse.wrappingSubtract(UInt(slab.pointee.granules), ordering: .relaxed)
    SmallCounters.activeBytes.wrappingSubtract(slab.pointee.charged, ordering: .relaxed)
  }

  /// Sets the bytes charged for an empty slab or span about to be used to at least
  /// `bytes`. A reused unit keeps a larger charge (its dirty pages are resident), except
  /// under pressure, when pages past `bytes` worth a system call are discarded and their
  /// charge released. False past the cap.
  static func charge(_ slab: SlabPointer, atLeast bytes: UInt) -> Bool {
    let have = slab.pointee.charged
    if have >= bytes + Limit.trimMinimum && Limit.underPressure && OS.discard(slab.memory + bytes, have - bytes) {
      Limit.release(have - bytes)
      slab.pointee.charged = bytes
      return true
    }
    if have >= bytes { return true }
    guard Limit.reserve(bytes - have) else { return false }
    slab.pointee.charged = bytes
    return true
  }

  /// A unit taken for a request that the memory limit then refused goes back where it
  /// came from: a released unit (it carries no charge) to its clean list.
  static func putBack(_ slab: SlabPointer) {
    if slab.pointee.charged != 0 { return put(slab) }
    Lock.depot(Int(slab.pointee.node)).lock()
    HugePageCounts.noteDepot(slab, entering: true)
    Lock.depot(Int(slab.pointee.node)).unlock()
    var chain = SlabChain()
    chain.append(slab.address)
    pushClean(Int(slab.pointee.node), Int(slab.pointee.granules), chain)
  }

  static func put(_ slab: SlabPointer) {
    var chain = SlabChain()
    chain.append(slab.address)
    put(chain)
  }

  /// Parks a batch of empty units, taking each node's lock once per run of that node.
  static func put(_ batch: SlabChain) {
    guard batch.count > 0 else { return }
    var chain = batch
    var lockedNode = -1
    var overflowing: UInt64 = 0
    var added: UInt = 0
    let bound = trimBound
    while let header = chain.pop() {
      let slab = slabAt(header)
      let node = Int(slab.pointee.node)
      if node != lockedNode {
        if lockedNode >= 0 { Lock.depot(lockedNode).unlock() }
        Lock.depot(node).lock()
        lockedNode = node
      }
      let g = UInt(slab.pointee.granules)
      dirtyList(node, ChargeClass.index(of: slab.pointee.charged)).pointee.push(header)
      HugePageCounts.noteDepot(slab, entering: true)
      state(node).pointee.dirtyGranules += g
      added += g
      if state(node).pointee.dirtyGranules > bound { overflowing |= 1 << UInt64(node) }
    }
    Lock.depot(lockedNode).unlock()
    dirtyGranules.wrappingAdd(added, ordering: .relaxed)
    Release.noteCached()
    // The background thread releases the excess at its next tick (a burst of thread
    // exits, as at a program's end, is not worth a burst of madvise at once); without
    // one, the caller does.
    if overflowing != 0 && !Release.backgroundRunning { trimOverflowing() }
  }

  /// A node's depot was being changed when the child was forked: abandon its lists (the
  /// units stay mapped and are never reused in this child; their charge is forgotten
  /// only as far as the dirty count tells).
  static func abandonInChild(_ node: Int) {
    let depot = state(node)
    dirtyGranules.wrappingSubtract(min(depot.pointee.dirtyGranules, dirtyGranules.load(ordering: .relaxed)),
                                   ordering: .relaxed)
    depot.pointee = DepotState(dirty: InlineArray(repeating: TailedList()),
                               clean: InlineArray(repeating: 0), dirtyGranules: 0)
  }

  /// Releases every node's depot that holds more than its trim bound down to its working set.
  static func trimOverflowing() {
    let keep = self.keep, bound = trimBound
    // With the background thread (it comes back for the rest after the release delay), a
    // trim passes over units in huge pages mostly in use: splitting one of those would
    // trade the TLB reach of its live data for little memory, which the idle pass
    // returns after the delay if it stays free.
    let sparing = HugePages.active && Release.backgroundRunning
    for node in 0..<Numa.nodeCount where state(node).pointee.dirtyGranules > bound {
      if release(node: node, keeping: keep, parkedBefore: UInt.max, sparingHugePages: sparing) > 0 {
        Retention.depots.noteTrim()
      }
    }
  }

  /// An empty unit of `granules` for a charge of class `chargeClass`: a dirty one of that
  /// class, else of a smaller class of the same size (its pages past the old charge were
  /// never touched), else of a larger one, else a clean one. The flag says whether it is
  /// fresh (zero). The caller settles the charge (Depot.charge).
  static func take(_ node: Int, granules: Int, chargeClass: Int) -> (SlabPointer, Bool)? {
    let smallest = 4 * (granules - 1) + 1
    let largest = min(4 * granules, ChargeClass.count)
    Lock.depot(node).lock()
    defer { Lock.depot(node).unlock() }
    if let slab = popDirty(node, chargeClass) { return (slab, false) }
    var q = chargeClass - 1
    while q >= smallest {
      if let slab = popDirty(node, q) { return (slab, false) }
      q -= 1
    }
    q = chargeClass + 1
    while q <= largest {
      if let slab = popDirty(node, q) { return (slab, false) }
      q += 1
    }
    Retention.noteDepotMiss(UInt(granules) * SlabGeometry.size)
    return popClean(node, granules).map { ($0, true) }
  }

  /// Returns the pages of dirty units to the OS while the node keeps more than `keeping`
  /// dirty granules and less than `budget` bytes of charge were released: largest charge
  /// first, oldest first within a class, and only units parked before `parkedBefore`
  /// (ms). Returns the bytes of charge released.
  /// Sparing huge pages, units in a huge page that is mostly in use (less than half
  /// of its granules free) are passed over (at most `skipLimit` of them per class and
  /// call) and stay dirty.
  @discardableResult
  static func release(node: Int, keeping: UInt, parkedBefore: UInt, budget: UInt = UInt.max,
                      sparingHugePages: Bool = false) -> UInt {
    var released: UInt = 0
    for q in stride(from: ChargeClass.count, through: 1, by: -1) where released < budget {
      released += release(node: node, chargeClass: q, keeping: keeping, parkedBefore: parkedBefore,
                          budget: budget - released, sparingHugePages: sparingHugePages)
    }
    return released
  }

  /// Units a release sparing huge pages passes over per class, at most.
  static let skipLimit = 256

  private static func release(node: Int, chargeClass: Int, keeping: UInt, parkedBefore: UInt,
                              budget: UInt, sparingHugePages: Bool) -> UInt {
    let list = dirtyList(node, chargeClass)
    let granules = ChargeClass.granules(of: chargeClass)
    let g = UInt(granules)
    var released: UInt = 0
    var skips = sparingHugePages ? skipLimit : 0
    while released < budget {
      var batch = RangeBatch()
      var units = SlabChain()
      var charged: UInt = 0
      Lock.depot(node).lock()
      var cursor = list.pointee.tail
      while !batch.isFull && released + charged < budget && state(node).pointee.dirtyGranules > keeping
              && cursor != 0 {
        let slab = slabAt(cursor)
        guard slab.pointee.parkedAt < parkedBefore else { break }
        cursor = slab.pointee.prev
        if sparingHugePages && HugePageCounts.isSpared(slab) {
          skips -= 1
          if skips > 0 { continue } else { break }
        }
        HugePageCounts.noteRelease(slab)
        list.pointee.remove(slab.address)
        state(node).pointee.dirtyGranules -= g
        charged += slab.pointee.charged
        batch.append(slab.memory, g * SlabGeometry.size)
        units.append(slab.address)
      }
      Lock.depot(node).unlock()
      guard batch.count > 0 else { break }
      batch.sortByAddress()
      var refused = RangeBatch()
      batch.forEachRun { if !OS.discard($0, $1) { refused.append($0, $1) } }
      let charge = settleReleased(node, granules, units, refused: refused)
      released += charge
      if !batch.isFull || refused.count > 0 { break }
    }
    return released
  }

  /// After the madvise of a batch: units whose pages went back are clean (zero, no
  /// charge); those in a run the kernel refused keep their pages, so they go back on
  /// their dirty list with their charge (a clean unit is handed out as zero). Returns the
  /// charge released.
  private static func settleReleased(_ node: Int, _ granules: Int, _ units: SlabChain, refused: borrowing RangeBatch) -> UInt {
    var chain = units
    var clean = SlabChain()
    var charge: UInt = 0
    let g = UInt(granules)
    Lock.depot(node).lock()
    while let header = chain.pop() {
      let slab = slabAt(header)
      if refused.contains(slab.memory) {
        dirtyList(node, ChargeClass.index(of: slab.pointee.charged)).pointee.push(header)
        state(node).pointee.dirtyGranules += g
      } else {
        charge += slab.pointee.charged
        clean.append(header)
      }
    }
    Lock.depot(node).unlock()
    pushClean(node, granules, clean)
    let n = clean.count * g
    Limit.release(charge)
    dirtyGranules.wrappingSubtract(n, ordering: .relaxed)
    releasedGranules.wrappingAdd(n, ordering: .relaxed)
    return charge
  }

  /// Releases dirty units of every node's depot (see release). Returns bytes of charge.
  @discardableResult
  static func releaseAll(keeping: UInt, parkedBefore: UInt, budget: UInt = UInt.max) -> UInt {
    var released: UInt = 0
    for node in 0..<Numa.nodeCount where released < budget {
      released += release(node: node, keeping: keeping, parkedBefore: parkedBefore, budget: budget - released)
    }
    return released
  }

  // MARK: - Storage                                                             [depot lock]

  private static func state(_ node: Int) -> UnsafeMutablePointer<DepotState> {
    states.unsafelyUnwrapped + node
  }

  private static func dirtyList(_ node: Int, _ chargeClass: Int) -> UnsafeMutablePointer<TailedList<SlabLinks>> {
    withUnsafeMutablePointer(to: &state(node).pointee.dirty[chargeClass - 1]) { $0 }
  }

  private static func popDirty(_ node: Int, _ chargeClass: Int) -> SlabPointer? {
    guard let header = dirtyList(node, chargeClass).pointee.popHead() else { return nil }
    let slab = slabAt(header)
    let g = UInt(slab.pointee.granules)
    state(node).pointee.dirtyGranules -= g
    dirtyGranules.wrappingSubtract(g, ordering: .relaxed)
    HugePageCounts.noteDepot(slab, entering: false)
    return slab
  }

  /// Clean units the filler looks at for one in a huge page partly in use.
  static let fillerLook = 16

  /// A released unit: its pages are zero, it carries no charge. With huge pages, the
  /// first of the list's first `fillerLook` that lies in a huge page partly in use (its
  /// fault fills that page), else the first.
  private static func popClean(_ node: Int, _ granules: Int) -> SlabPointer? {
    var link = withUnsafeMutablePointer(to: &state(node).pointee.clean[granules - 1]) { $0 }
    guard link.pointee != 0 else { return nil }
    let first = link
    var look = HugePages.active ? fillerLook : 0
    while look > 0 && link.pointee != 0 && !HugePageCounts.inPartlyUsedPage(slabAt(link.pointee)) {
      link = withUnsafeMutablePointer(to: &slabAt(link.pointee).pointee.next) { $0 }
      look -= 1
    }
    if link.pointee == 0 || look == 0 { link = first }
    let slab = slabAt(link.pointee)
    link.pointee = slab.pointee.next
    HugePageCounts.noteDepot(slab, entering: false)
    return slab
  }

  /// Files released units on their clean list.
  private static func pushClean(_ node: Int, _ granules: Int, _ slabs: SlabChain) {
    var chain = slabs
    Lock.depot(node).lock()
    defer { Lock.depot(node).unlock() }
    let head = withUnsafeMutablePointer(to: &state(node).pointee.clean[granules - 1]) { $0 }
    while let header = chain.pop() {
      let slab = slabAt(header)
      slab.pointee.charged = 0
      slab.pointee.next = head.pointee
      head.pointee = slab.address
    }
  }
}
