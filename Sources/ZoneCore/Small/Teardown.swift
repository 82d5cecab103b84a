// Teardown.swift: returning an exited thread's zone, with bounded concurrency, as
// DragonFly bounds mass process exit.
//
// Owns: the teardown of one zone: every slab leaves it, either empty (to the depot, in one
// batch) or still holding live chunks (to the orphan lists, in one batch).
// Touches: the zone's slabs, Depot, Orphans.
//
// DragonFly found that 900,000 processes exiting at once made the system unusable for an
// hour, and fixed it by letting at most ncpus teardowns run at once behind a queued
// mutex, and by freeing in bulk. Here a thread storm does the same: an exiting thread
// takes the teardown mutex of its CPU's slot (glibc mutexes wake one waiter at a time,
// so there is no thundering herd), does all of its work without the global locks, and
// takes each global lock once for the whole batch.

import ZoneSupport
import Synchronization

enum Teardown {
  /// Number of teardown slots: min(ncpus, ZMS_MAX_TEARDOWN_SLOTS). Set at boot.
  nonisolated(unsafe) static var slots = 1

  static func run(_ zone: ZonePointer) {
    let slot = Lock.teardown(OS.currentCPU() % slots)
    slot.lock()
    dismantle(zone)
    slot.unlock()
  }

  /// Empties a zone.
  static func dismantle(_ zone: ZonePointer) {
    _ = LockFreeStack.takeAll(zone.pointee.relink) // signals no longer matter
    var empties = SlabChain()
    var orphans = OrphanBatch()
    let sentinel = ThreadZone.sentinel
    for c in 0..<SizeClass.count {
      let current = zone.pointee.current[c]
      zone.pointee.current[c] = sentinel
      if current != sentinel && owns(zone, slabAt(current), SlabList.current) {
        ThreadZone.leaveCurrent(zone, slabAt(current))
        release(slabAt(current), &empties, &orphans)
      }
      while let slab = popOwned(zone, &zone.pointee.partial[c], SlabList.partial) {
        release(slab, &empties, &orphans)
      }
      zone.pointee.partialTail[c] = 0
      while let slab = popOwned(zone, &zone.pointee.full[c], SlabList.full) {
        release(slab, &empties, &orphans)
      }
    }
    _ = LockFreeStack.takeAll(zone.pointee.relink) // signals sent before the slabs were orphaned
    ThreadZone.flushCache(zone)
    Depot.put(empties)
    Orphans.put(&orphans)
    SmallCounters.teardowns.wrappingAdd(1, ordering: .relaxed)
  }

  /// A zone lost in a fork may have been halfway through moving a slab between its lists:
  /// a slab is released only while it is what the list says (owned by the zone, marked
  /// as on that list); the walk of a list stops at the first that is not. A released slab
  /// no longer has the zone as owner, so a walk that loops back also stops.
  private static func owns(_ zone: ZonePointer, _ slab: SlabPointer, _ list: UInt8) -> Bool {
    slab.ownerZone == UInt(bitPattern: zone) && slab.pointee.list == list
  }

  private static func popOwned(_ zone: ZonePointer, _ head: inout UInt, _ list: UInt8) -> SlabPointer? {
    guard head != 0, owns(zone, slabAt(head), list) else {
      head = 0
      return nil
    }
    return LinkedList<SlabLinks>.pop(&head).map { slabAt($0) }
  }

  /// One slab leaves its dying owner: an empty slab carved to its end is parked; one with
  /// live chunks, or with chunks never carved (a current slab), becomes an orphan that
  /// keeps accepting frees, for a thread that needs its class to adopt and carve on (its
  /// touched pages serve the same class again; the idle sweep parks it if nobody does).
  /// Its remote list stays as it is: an adopter drains it when it needs the chunks,
  /// nobody walks it now.
  private static func release(_ slab: SlabPointer, _ empties: inout SlabChain,
                              _ orphans: inout OrphanBatch) {
    slab.orphan()
    let used = slab.used
    if slab.liveChunks == 0 && !slab.hasUncarvedChunks {
      Depot.prepareForParking(slab)
      empties.append(slab.address)
    } else {
      slab.setList(SlabList.orphan, used: used)
      slab.pointee.parkedAt = OS.nowMilliseconds()
      orphans.append(slab)
    }
  }
}
