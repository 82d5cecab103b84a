// Reaper.swift: returning slabs that other threads' frees emptied, while their owner sleeps.
//
// Owns: the queue of slabs whose last chunk came back through the remote list, the
// background thread's watch over them, and the return of their memory to the OS in place.
// Touches: the slabs it watches, through SlabState.swift, never an owner's lists. The
// housekeeping component runs it; a forked child's repair finishes a return that a
// fork interrupted.
//
// A slab goes back to the system when its owner sees it empty: a local free that empties
// it parks it, and the depot releases it after the delay. A slab emptied by other
// threads is empty only on its remote list, which the owner reads when it next needs a
// chunk of that class; a thread that made a burst of blocks for others and then waits
// (a producer, redis's main thread after a FLUSHALL done by its background thread) never
// does, and the memory stayed resident for good. The owner's lists belong to the owner,
// so nobody else may move the slab; the reaper returns the memory and leaves the slab
// where it is:
//  1. The free whose push puts the slab's last chunk on the remote list (its count
//     reaches the capacity: every chunk was carved, none is live, none is on the owner's
//     local list) queues the slab here, with one CAS, unless it is queued already
//     (reapNext is its link, bit 0 marking it queued). A slab never fully carved (a
//     current slab the owner has not finished) is not reaped: at most one per class and
//     thread.
//  2. Each background tick (half the release delay, at most a second) takes the queue. A
//     slab still wholly free is marked observed in its remote word (any push or drain
//     rebuilds the word without the mark) and watched; a slab no longer wholly free is
//     dropped (its next emptying queues it again).
//  3. Two ticks later, a watched slab still wholly free and still marked has been idle for
//     the release delay (as a parked slab must be before the depot releases it), or for
//     2 s when the delay is longer: its memory is returned. Its remote word goes to `reaping` (the owner, and any
//     freer, wait), and once up to 32 slabs are frozen their pages are discarded, one
//     madvise per run of adjacent slabs; each word then becomes "reaped": no head, the
//     count kept.
//  4. The owner, draining the slab when it needs the class again, finds it reaped: the
//     chunks become never-used ones, carved again from zero pages (SlabChunks.reuseReaped).
// While reaped, the slab's owner field has bit 0 set: the owner's free of a chunk there
// (a double free: every chunk was free) misses the fast path and the remote push
// reports it, as it does for any other thread's.
// A reaped slab keeps its charge against the limit (its owner reuses it without asking),
// so what the limit counts is unchanged; `mapped` in the statistics leaves it out.
// Only the background thread reaps, with every signal blocked, so no signal handler can
// wait on a slab its own thread is reaping. A fork in the middle of a reap leaves the
// child a slab in `reaping` with no thread to finish it: the child's repair finishes it
// (the memory's content does not matter: every chunk was free). The child drops both
// lists: slabs queued at the fork are not watched in it.

import ZoneSupport
import Synchronization

enum Reaper {
  /// Slabs queued by the freers (a lock-free stack linked through reapNext | 1).
  static let pending = Atomic<UInt>(0)
  /// Slabs marked observed at the last tick. The background thread's alone.
  nonisolated(unsafe) static var watched: UInt = 0
  /// The slabs of the batch being returned (linked through reapNext), for a forked
  /// child's repair. A slab leaves it only once finished, and each change is a release
  /// store after the slab's own, so a fork at any instant finds every unfinished slab.
  static let inFlight = Atomic<UInt>(0)
  /// Granules reaped since start, and bytes reaped and not reused yet.
  static let reapedGranules = Atomic<UInt>(0)
  static let reapedBytes = Atomic<UInt>(0)

  // MARK: - Queueing (any freer)

  /// The push that made every chunk of slab come back: queue it, unless it is queued.
  @inline(never) static func queue(_ slab: SlabPointer) {
    guard slab.pointee.reapNext.compareExchange(expected: 0, desired: 1, ordering: .sequentiallyConsistent).exchanged
    else { return }
    LockFreeStack.push(pending, slab.address) { slab.pointee.reapNext.store($0 | 1, ordering: .relaxed) }
    Release.wantBackground()
  }

  // MARK: - The background tick

  /// Reaps the watched slabs that stayed idle, and watches the newly queued ones.
  static func tick() {
    var list = ReapList(head: watched)
    watched = 0
    list.append(taking: LockFreeStack.takeAll(pending))
    var keep = ReapList()
    var batch = RangeBatch()
    while let (slab, ticks) = list.pop() {
      // Unqueued first: an emptying from now on queues it again (Dekker with queue()).
      slab.pointee.reapNext.store(0, ordering: .sequentiallyConsistent)
      let word = slab.remoteWordForReaping
      guard RemoteWord.isWhollyFree(word, capacity: UInt(slab.pointee.capacity)) else { continue }
      let marked = word & RemoteWord.observed != 0
      if marked && ticks == 2 {
        freeze(slab, word, into: &batch)
        if batch.isFull { reapFrozen(&batch) }
        continue
      }
      if !marked {
        guard slab.markObserved(word) else { continue }
      }
      if slab.pointee.reapNext.compareExchange(expected: 0, desired: 1, ordering: .relaxed).exchanged {
        keep.push(slab, ticks: marked ? 2 : 1)
      }
    }
    reapFrozen(&batch)
    watched = keep.head
  }

  /// Freezes a slab for the batch (SlabState.freezeForReaping; its size is read after
  /// the freeze, which synchronises with the slab's last format). The slab joins the
  /// in-flight chain before the freeze, so a fork at any point finds it there.
  private static func freeze(_ slab: SlabPointer, _ word: UInt, into batch: inout RangeBatch) {
    let previous = inFlight.load(ordering: .relaxed)
    slab.pointee.reapNext.store(previous | 1, ordering: .relaxed)
    inFlight.store(slab.address, ordering: .releasing)
    guard slab.freezeForReaping(word) else {
      inFlight.store(previous, ordering: .relaxed)
      slab.pointee.reapNext.store(0, ordering: .relaxed)
      return
    }
    batch.append(slab.memory, UInt(slab.pointee.granules) * SlabGeometry.size)
  }

  /// Discards the frozen slabs' pages, one madvise per run of adjacent slabs, then lets
  /// their owners and freers go on.
  private static func reapFrozen(_ batch: inout RangeBatch) {
    guard batch.count > 0 else { return }
    batch.sortByAddress()
    batch.forEachRun { OS.discard($0, $1) }
    reapedGranules.wrappingAdd(batch.bytes / SlabGeometry.size, ordering: .relaxed)
    reapedBytes.wrappingAdd(batch.bytes, ordering: .relaxed)
    finishInFlight()
    batch = RangeBatch()
  }

  /// Marks every slab of the in-flight chain reaped (no head, the count kept), each
  /// before it leaves the chain. Its memory's content does not matter: every chunk was
  /// free. Finishing a slab twice (a child repeating what its parent did) is harmless.
  private static func finishInFlight() {
    var head = inFlight.load(ordering: .relaxed)
    while head != 0 {
      let slab = slabAt(head)
      slab.finishReaping()
      head = slab.pointee.reapNext.load(ordering: .relaxed) & ~7
      inFlight.store(head, ordering: .releasing)
      slab.pointee.reapNext.store(0, ordering: .relaxed)
    }
  }

  // MARK: - Reuse, and fork

  /// The owner took back a reaped slab, or parked it: its pages count as mapped again.
  static func noteReused(_ slab: SlabPointer) {
    reapedBytes.wrappingSubtract(UInt(slab.pointee.granules) * SlabGeometry.size, ordering: .relaxed)
  }

  /// In a forked child: finishes the batch the parent was returning, and drops the lists.
  static func afterForkInChild() {
    finishInFlight()
    pending.store(0, ordering: .relaxed)
    watched = 0
  }
}

/// A chain of slabs linked through reapNext. Each link has bit 0 set (queued); the
/// watched list keeps in bits 1 and 2 how many ticks the slab has been seen wholly free
/// (slab headers are 128-byte aligned).
struct ReapList {
  var head: UInt = 0

  /// The next slab, and the ticks it has been watched (0 for a newly queued one).
  mutating func pop() -> (SlabPointer, UInt)? {
    guard head != 0 else { return nil }
    let slab = slabAt(head)
    let link = slab.pointee.reapNext.load(ordering: .relaxed)
    head = link & ~7
    return (slab, (link >> 1) & 3)
  }

  mutating func push(_ slab: SlabPointer, ticks: UInt = 0) {
    slab.pointee.reapNext.store(head | ticks << 1 | 1, ordering: .relaxed)
    head = slab.address
  }

  /// Puts a chain taken from the queue in front.
  mutating func append(taking chain: UInt) {
    guard chain != 0 else { return }
    var tail = slabAt(chain)
    var next = tail.pointee.reapNext.load(ordering: .relaxed) & ~7
    while next != 0 {
      tail = slabAt(next)
      next = tail.pointee.reapNext.load(ordering: .relaxed) & ~7
    }
    tail.pointee.reapNext.store(head | 1, ordering: .relaxed)
    head = chain
  }
}
