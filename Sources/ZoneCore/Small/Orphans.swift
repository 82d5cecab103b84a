// Orphans.swift: partly used slabs whose owner exited.
//
// Owns: the per-class orphan lists. An orphan keeps accepting remote frees (its remote
// state is `orphan`). A thread that needs a slab of that class adopts one before it takes
// an empty slab (and drains its remote list when it needs the chunks), and a sweep (from
// the background thread, reclaim and zm_purge) parks orphans whose last chunk has come
// back, which the remote list's count tells without walking it.
// Touches: orphan slabs (only under the orphans lock, where nobody else owns them), Depot.

import ZoneSupport
import Synchronization

/// Orphans collected by one teardown, per class, to be published under one lock.
struct OrphanBatch: ~Copyable {
  var heads = ClassTable(repeating: 0)
  var tails = ClassTable(repeating: 0)
  var counts = ClassTable(repeating: 0)
  var total: UInt = 0

  mutating func append(_ slab: SlabPointer) {
    let c = Int(slab.pointee.sizeClass)
    if heads[c] == 0 { tails[c] = slab.address }
    LinkedList<SlabLinks>.push(&heads[c], slab.address)
    counts[c] += 1
    total += 1
  }
}

/// The orphan lists, mapped at boot.
struct OrphanLists: ~Copyable {
  var heads: ClassTable              // per size class, doubly linked        [orphans lock]
  var counts: ClassTable             // read without the lock as a hint
}

enum Orphans {
  static let count = Atomic<UInt>(0)
  static let adopted = Atomic<UInt>(0)
  /// Orphans an idle pass visits at most (a sweep holds the orphans lock throughout).
  static let idleSweepBudget = 4096
  nonisolated(unsafe) private static var lists: UnsafeMutablePointer<OrphanLists>? = nil

  static func setUp() -> Bool { OS.mapRecords(into: &lists) }

  /// The lists were being changed when the child was forked: abandon them (their slabs
  /// keep accepting frees, and are never adopted in this child).
  static func abandonInChild() {
    let g = lists.unsafelyUnwrapped
    for c in 0..<SizeClass.count {
      g.pointee.heads[c] = 0
      g.pointee.counts[c] = 0
    }
    count.store(0, ordering: .relaxed)
  }

  /// Publishes a teardown's orphans: one lock acquisition for the batch.
  static func put(_ batch: inout OrphanBatch) {
    guard batch.total > 0 else { return }
    let g = lists.unsafelyUnwrapped
    Lock.orphans.lock()
    for c in 0..<SizeClass.count where batch.heads[c] != 0 {
      let tail = slabAt(batch.tails[c])
      tail.pointee.next = g.pointee.heads[c]
      if tail.pointee.next != 0 { slabAt(tail.pointee.next).pointee.prev = tail.address }
      g.pointee.heads[c] = batch.heads[c]
      g.pointee.counts[c] += batch.counts[c]
    }
    Lock.orphans.unlock()
    count.wrappingAdd(batch.total, ordering: .relaxed)
  }

  /// Adopts an orphan of class c for zone, draining what was freed into it meanwhile.
  static func adopt(_ c: Int, by zone: ZonePointer) -> SlabPointer? {
    let g = lists.unsafelyUnwrapped
    if g.pointee.counts[c] == 0 { return nil } // unlocked hint
    Lock.orphans.lock()
    let header = LinkedList<SlabLinks>.pop(&g.pointee.heads[c])
    if header != nil { g.pointee.counts[c] -= 1 }
    Lock.orphans.unlock()
    guard let header else { return nil }
    let slab = slabAt(header)
    count.wrappingSubtract(1, ordering: .relaxed)
    adopted.wrappingAdd(1, ordering: .relaxed)
    slab.adopt(by: UInt(bitPattern: zone))
    slab.setList(SlabList.none, used: slab.used)
    return slab
  }

  /// Parks orphans whose chunks have all come back and that were orphaned before
  /// `orphanedBefore` (ms): in a storm of short-lived threads the orphans of the exited
  /// are the slabs the next threads adopt, so only idle ones are swept. Visits at most
  /// `budget` slabs.
  @discardableResult
  static func sweep(budget: Int, orphanedBefore: UInt = UInt.max) -> UInt {
    guard count.load(ordering: .relaxed) > 0 else { return 0 }
    let g = lists.unsafelyUnwrapped
    var empties = SlabChain()
    var visited = 0
    Lock.orphans.lock()
    for c in 0..<SizeClass.count where visited < budget {
      var s = g.pointee.heads[c]
      while s != 0 && visited < budget {
        let slab = slabAt(s)
        s = slab.pointee.next
        visited += 1
        guard slab.liveChunks == 0, slab.pointee.parkedAt < orphanedBefore else { continue }
        LinkedList<SlabLinks>.remove(&g.pointee.heads[c], slab.address)
        g.pointee.counts[c] -= 1
        Depot.prepareForParking(slab)
        empties.append(slab.address)
      }
    }
    Lock.orphans.unlock()
    count.wrappingSubtract(empties.count, ordering: .relaxed)
    let parked = empties.count
    Depot.put(empties)
    return parked
  }
}
