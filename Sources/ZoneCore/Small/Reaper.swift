// Reaper.swift: returning slabs that other threads' frees emptied, while their owner sleeps.
//
// Owns: the queue of slabs whose last chunk came back through the remote list, the
// background thread's watch over them, and the return of their memory to the OS in place.
// Touches: the remote word of the slabs it watches (Slab.swift), never an owner's lists;
// Background runs it, Fork finishes a return that a fork interrupted.
//
// A slab goes back to the system when its owner sees it empty: a local free that empties
// it parks it, and the depot releases it after the delay. A slab emptied by other
// threads is empty only on its remote list, which the owner reads when it next needs a
// chunk of that class; a thread that made a burst of blocks for others and then waits
// (a producer, redis's main thread after a FLUSHALL done by its background thread) never
// does, and the memory stayed resident for good. The owner's lists belong to the owner,
// so nobody else may move the slab; the reaper returns the memory and leaves the slab
// where it is:
//  1. The free whose push leaves no carved chunk off the remote list (nothing is live,
//     nothing on the owner's local list: the remote word counts both, RemoteWord) queues
//     the slab here, with one CAS, unless it is queued already (reapNext is its link,
//     bit 0 marking it queued). A current slab that is only partly carved qualifies too.
//  2. Each background tick takes the queue. A slab still wholly free is marked observed
//     in its remote word (any push or drain rebuilds the word without the mark) and
//     watched; a slab no longer wholly free is dropped (its next emptying queues it again).
//  3. At the next tick, a watched slab still wholly free and still marked has been idle
//     for a whole tick (half the release delay) at least: its memory is returned. The
//     remote word goes to `reaping` (the owner, and any freer, wait: a madvise), the
//     pages are discarded, and the word becomes "reaped": no head, the count kept.
//  4. The owner, draining the slab when it needs the class again, finds it reaped: the
//     chunks become never-used ones, carved again from zero pages (Slab.reuseReaped).
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
  /// The slab whose reap is in progress, for a forked child's repair.
  nonisolated(unsafe) static var inFlight: UInt = 0
  /// Granules reaped since start, and bytes reaped and not reused yet.
  static let reapedGranules = Atomic<UInt>(0)
  static let reapedBytes = Atomic<UInt>(0)

  // MARK: - Queueing (any freer)

  /// The push that made every chunk of slab come back: queue it, unless it is queued.
  @inline(never) static func queue(_ slab: SlabPointer) {
    guard slab.pointee.reapNext.compareExchange(expected: 0, desired: 1, ordering: .sequentiallyConsistent).exchanged
    else { return }
    var head = pending.load(ordering: .relaxed)
    while true {
      slab.pointee.reapNext.store(head | 1, ordering: .relaxed)
      let (done, seen) = pending.compareExchange(expected: head, desired: slab.address,
                                                 successOrdering: .releasing, failureOrdering: .relaxed)
      if done { break }
      head = seen
    }
    Background.want()
  }

  // MARK: - The background tick

  /// Reaps the watched slabs that stayed idle, and watches the newly queued ones.
  static func tick() {
    var list = ReapList(head: watched)
    watched = 0
    list.append(taking: pending.exchange(0, ordering: .acquiring))
    var keep = ReapList()
    while let slab = list.pop() {
      // Unqueued first: an emptying from now on queues it again (Dekker with queue()).
      slab.pointee.reapNext.store(0, ordering: .sequentiallyConsistent)
      let word = slab.pointee.remote.load(ordering: .sequentiallyConsistent)
      guard isWhollyFree(word) else { continue }
      if word & RemoteWord.observed != 0 {
        reap(slab, word)
      } else if slab.pointee.remote.compareExchange(expected: word, desired: word | RemoteWord.observed,
                                                    ordering: .relaxed).exchanged,
                slab.pointee.reapNext.compareExchange(expected: 0, desired: 1, ordering: .relaxed).exchanged {
        keep.push(slab)
      }
    }
    watched = keep.head
  }

  /// Every carved chunk of the slab sits on its remote list (none is live, none on the
  /// owner's local list), and its owner holds it in its zone.
  private static func isWhollyFree(_ word: UInt) -> Bool {
    RemoteWord.state(word) == RemoteState.normal && RemoteWord.headIndex(word) != 0 && RemoteWord.out(word) == 0
  }

  /// Returns the slab's memory in place. The CAS to `reaping` freezes the slab: its owner
  /// must pass a CAS on the word to carve or drain, and freers to push, so they wait; and
  /// it synchronises with the slab's last format (its size is read after it).
  private static func reap(_ slab: SlabPointer, _ word: UInt) {
    inFlight = slab.address
    defer { inFlight = 0 }
    let frozen = (word & ~RemoteState.mask & ~RemoteWord.observed) | RemoteState.reaping
    guard slab.pointee.remote.compareExchange(expected: word, desired: frozen, ordering: .acquiringAndReleasing).exchanged
    else { return }
    slab.pointee.owner.bitwiseOr(1, ordering: .relaxed)
    let bytes = UInt(slab.pointee.granules) * SlabGeometry.size
    OS.discard(slab.memory, bytes)
    reapedGranules.wrappingAdd(UInt(slab.pointee.granules), ordering: .relaxed)
    reapedBytes.wrappingAdd(bytes, ordering: .relaxed)
    slab.pointee.remote.store(RemoteWord.reaped(count: RemoteWord.count(word)), ordering: .releasing)
  }

  // MARK: - Reuse, and fork

  /// The owner took back a reaped slab, or parked it: its pages count as mapped again.
  static func noteReused(_ slab: SlabPointer) {
    reapedBytes.wrappingSubtract(UInt(slab.pointee.granules) * SlabGeometry.size, ordering: .relaxed)
  }

  /// In a forked child: finishes the reap the parent was doing, and drops the lists.
  static func afterForkInChild() {
    if inFlight != 0 {
      let slab = slabAt(inFlight)
      let word = slab.pointee.remote.load(ordering: .relaxed)
      if RemoteWord.state(word) == RemoteState.reaping {
        slab.pointee.owner.bitwiseOr(1, ordering: .relaxed)
        slab.pointee.remote.store(RemoteWord.reaped(count: RemoteWord.count(word)), ordering: .releasing)
      }
      inFlight = 0
    }
    pending.store(0, ordering: .relaxed)
    watched = 0
  }
}

/// A chain of slabs linked through reapNext (each link with bit 0 set: queued).
struct ReapList {
  var head: UInt = 0

  mutating func pop() -> SlabPointer? {
    guard head != 0 else { return nil }
    let slab = slabAt(head)
    head = slab.pointee.reapNext.load(ordering: .relaxed) & ~1
    return slab
  }

  mutating func push(_ slab: SlabPointer) {
    slab.pointee.reapNext.store(head | 1, ordering: .relaxed)
    head = slab.address
  }

  /// Puts a chain taken from the queue in front.
  mutating func append(taking chain: UInt) {
    guard chain != 0 else { return }
    var tail = slabAt(chain)
    var next = tail.pointee.reapNext.load(ordering: .relaxed) & ~1
    while next != 0 {
      tail = slabAt(next)
      next = tail.pointee.reapNext.load(ordering: .relaxed) & ~1
    }
    tail.pointee.reapNext.store(head | 1, ordering: .relaxed)
    head = chain
  }
}
