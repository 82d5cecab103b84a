// Refill.swift: the owner's malloc slow path: finding a slab with a free chunk.
//
// Owns: what a zone does when a class's current slab runs dry: take back the slabs other
// threads signalled, answer a reclaim request, drain the current slab's remote list,
// carve its never-used chunks, and else retire it (to the full list, asking for a
// signal) and try the next candidate: a partial slab, an orphan to adopt, an empty unit
// from the zone's cache, the depot or the arena (charged to the limit first).
// Touches: the zone's lists, its slabs (SlabChunks, SlabState), Orphans, Depot, Arena,
// Limit, Zones (a thread's first zone, a dead zone torn down on demand).

import ZoneSupport
import Synchronization

enum Refill {
  /// Makes the current slab of class c one with a free chunk (the caller pops it), or
  /// returns nil: out of memory, or the memory limit refused (the caller may reclaim and
  /// try again).
  static func slab(_ zone: ZonePointer, _ c: Int) -> SlabPointer? {
    maintain(zone)
    let current = slabAt(zone.pointee.current[c])
    let hadCurrent = current.address != ThreadZone.sentinel
    if hadCurrent {
      if current.pointee.free != 0 || current.drainRemote() > 0 || current.carve() { return current }
      ThreadZone.leaveCurrent(zone, current)
      retireExhausted(zone, c, current)
    }
    // The zone array keeps naming the retired slab until its successor is known: the
    // bucket tables are written once per refill.
    while let slab = nextCandidate(zone, c) {
      ThreadZone.enterCurrent(zone, slab)
      if slab.pointee.free != 0 || slab.drainRemote() > 0 || slab.carve() {
        ThreadZone.setCurrent(zone, c, slab.address)
        return slab
      }
      ThreadZone.leaveCurrent(zone, slab)
      retireExhausted(zone, c, slab)
    }
    if hadCurrent { ThreadZone.setCurrent(zone, c, ThreadZone.sentinel) }
    return nil
  }

  /// Per-slow-path upkeep: take back signalled slabs, answer a reclaim request.
  static func maintain(_ zone: ZonePointer) {
    if zone.pointee.relink.load(ordering: .relaxed) != 0 { relinkSignalled(zone) }
    let epoch = Limit.epoch.load(ordering: .relaxed)
    if zone.pointee.reclaimEpoch != epoch {
      zone.pointee.reclaimEpoch = epoch
      ThreadZone.flushCache(zone)
    }
  }

  /// Slabs other threads signalled re-enter the zone array as partial slabs.
  static func relinkSignalled(_ zone: ZonePointer) {
    var next = LockFreeStack.takeAll(zone.pointee.relink)
    while next != 0 {
      let slab = slabAt(next)
      next = slab.pointee.relinkNext
      guard slab.ownerZone == UInt(bitPattern: zone), slab.pointee.list == SlabList.full else { continue }
      let c = Int(slab.pointee.sizeClass)
      LinkedList<SlabLinks>.remove(&zone.pointee.full[c], slab.address)
      ThreadZone.appendPartial(zone, c, slab)
      slab.setList(SlabList.partial, used: slab.used)
    }
  }

  /// An exhausted slab (every chunk handed out, in the owner's view) goes to the full
  /// list and asks for a signal; if chunks arrived in the meantime it goes to the partial
  /// list instead.
  static func retireExhausted(_ zone: ZonePointer, _ c: Int, _ slab: SlabPointer) {
    if slab.requestNotify() {
      LinkedList<SlabLinks>.push(&zone.pointee.full[c], slab.address)
      slab.setList(SlabList.full)
    } else {
      ThreadZone.appendPartial(zone, c, slab)
      slab.setList(SlabList.partial, used: slab.used)
    }
  }

  /// The next slab to try: a partial one, an orphan to adopt, or an empty one formatted now.
  static func nextCandidate(_ zone: ZonePointer, _ c: Int) -> SlabPointer? {
    if let slab = ThreadZone.popPartial(zone, c) { return slab }
    if let slab = Orphans.adopt(c, by: zone) { return slab }
    if let slab = formatEmpty(zone, c, charge: SlabGeometry.size) { return slab }
    if Zones.reapOneDead(), let slab = Orphans.adopt(c, by: zone) { return slab }
    return nil
  }

  /// An empty slab or span for class c, formatted and owned by the zone, with at least
  /// `charge` bytes charged to the limit for it, or nil.
  static func formatEmpty(_ zone: ZonePointer, _ c: Int, charge: UInt) -> SlabPointer? {
    guard let (slab, fresh) = takeEmpty(zone, granules: SizeClass.granules(of: c), charge: charge) else {
      return nil
    }
    slab.format(sizeClass: c, owner: UInt(bitPattern: zone), node: Arena.node(of: slab.memory), fresh: fresh)
    SmallCounters.slabsInUse.wrappingAdd(UInt(slab.pointee.granules), ordering: .relaxed)
    SmallCounters.activeBytes.wrappingAdd(slab.pointee.charged, ordering: .relaxed)
    return slab
  }

  /// Empty memory of `granules`: the zone's cache, the node's depot, or the arena, with
  /// `charge` bytes charged to the limit (a reused unit keeps a larger charge: its dirty
  /// pages are resident). The flag says whether it is fresh from the OS (zero).
  private static func takeEmpty(_ zone: ZonePointer, granules: Int, charge: UInt) -> (SlabPointer, Bool)? {
    let node = Int(zone.pointee.node)
    let q = ChargeClass.index(of: charge)
    let reused = ThreadZone.takeCached(zone, chargeClass: q).map { ($0, false) }
      ?? Depot.take(node, granules: granules, chargeClass: q)
    if let (slab, fresh) = reused {
      if Depot.charge(slab, atLeast: charge) { return (slab, fresh) }
      Depot.putBack(slab)
      return nil
    }
    guard Limit.reserve(charge) else { return nil }
    guard let slab = Arena.carve(node, granules: granules) else {
      Limit.release(charge)
      return nil
    }
    slab.pointee.charged = charge
    return (slab, true)
  }
}
