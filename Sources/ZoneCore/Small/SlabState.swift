// SlabState.swift: the slab's state machine, DragonFly's kfree remote list made lock-free.
//
// Owns: the two words other threads may touch, the owner word and the remote word, and
// every transition of them. No other file writes either word; every other file asks
// this one (and decodes nothing itself).
// Touches: the slab header's two words (their encoding: RemoteWord.swift), and the link
// words of chunks pushed on the remote list (encoded with the slab's key, tagged with
// its tag, as local links are).
//
// The remote word is a lock-free stack of chunks freed by other threads, with a state,
// the stack's length, and how many carved chunks are off the stack (RemoteWord), so one
// CAS pushes a chunk and counts it, and the owner takes the whole stack with its count in
// one exchange, without walking it. The owner counts the chunks it carves into the word
// (one CAS per carve, before it writes them), so "no carved chunk is off the stack", which
// the reaper needs to know that nothing in the slab is live or on the owner's local list,
// is one field of one atomic word. The states:
//   normal      the owner has the slab in its zone array; a remote free just pushes.
//   notify      the owner found the slab full and took it out of its zone array. The first
//               remote free moves the state to signalling and tells the owner, once, by
//               pushing the slab onto the owner's relink stack (DragonFly's reduction of
//               cross-cpu frees to one IPI per zone that must come back).
//   signalling  a freer is in the middle of that push. Whoever wants to orphan the slab
//               waits for it to finish, so no freer ever touches a zone that has gone.
//   orphan      the owner exited; frees still push, and an adopter drains them.
//   parked      the slab is empty, cached or in a depot. A free into it is invalid.
//   reaping     every chunk had come back through the remote list and stayed there: the
//               background thread is returning the slab's pages (Reaper.swift). Owner
//               and freers wait for it (one madvise).
// A reaped slab is normal with no head and a count: its chunks are free and their memory
// is zero pages. The owner's drain makes them never-used chunks again, and a free into it
// is invalid. While it is reaped the owner word has bit 0 set, so the owner's own free
// (a double free: every chunk was free) fails the fast path's owner test and reaches the
// remote push, which reports it.

import ZoneSupport
import Synchronization

/// The owner word's bit that marks a reaped slab.
private let reapedOwnerBit: UInt = 1

extension UnsafeMutablePointer where Pointee == Slab {
  // MARK: - Reading

  /// True when `zone` owns the slab (never while it is reaped: the mark fails the test). Hot.
  @inline(__always) func isOwned(by zone: UInt) -> Bool { pointee.owner.load(ordering: .relaxed) == zone }

  /// The remote word as the reaper examines it (ordered with its unqueueing).
  var remoteWordForReaping: UInt { pointee.remote.load(ordering: .sequentiallyConsistent) }

  /// The owning zone (without the reaped mark).
  var ownerZone: UInt { pointee.owner.load(ordering: .relaxed) & ~reapedOwnerBit }
  var remoteState: UInt { RemoteWord.state(pointee.remote.load(ordering: .acquiring)) }
  var isParked: Bool { remoteState == RemoteState.parked }
  /// True when the reaper returned the slab's memory and its owner has not taken it back.
  var isReaped: Bool { RemoteWord.isReaped(pointee.remote.load(ordering: .acquiring)) }
  /// Chunks on the remote list now.
  var remoteCount: UInt { RemoteWord.count(pointee.remote.load(ordering: .acquiring)) }
  /// The first chunk on the remote list, 0 when it is empty.
  var remoteHead: UInt { remoteChunk(pointee.remote.load(ordering: .acquiring)) }

  /// The chunk a remote word's head names, 0 for none.
  @inline(__always) func remoteChunk(_ word: UInt) -> UInt {
    let index = RemoteWord.headIndex(word)
    return index == 0 ? 0 : pointee.base + ((index - 1) << 4)
  }

  @inline(__always) private func remoteIndex(_ chunk: UInt) -> UInt { ((chunk - pointee.base) >> 4) + 1 }

  // MARK: - The owner's side

  /// A freshly formatted slab belongs to `zone`: nothing queued, state normal.
  func becomeOwned(by zone: UInt) {
    pointee.remote.store(RemoteState.normal, ordering: .releasing)
    pointee.owner.store(zone, ordering: .releasing)
  }

  /// Takes the remote list (owner or adopter only), waiting while the slab is being
  /// reaped; nil when it is empty. A reaped slab's list has no head, only the count.
  func detachRemote() -> DetachedRemote? {
    var old = pointee.remote.load(ordering: .relaxed)
    while true {
      if RemoteWord.state(old) == RemoteState.reaping { old = waitWhileReaping(); continue }
      let count = RemoteWord.count(old)
      if count == 0 { return nil }
      let reaped = RemoteWord.headIndex(old) == 0
      let out = reaped ? 0 : RemoteWord.out(old) &+ count
      let (done, seen) = pointee.remote.compareExchange(
        expected: old, desired: RemoteWord.make(RemoteWord.state(old), out: out),
        successOrdering: .acquiring, failureOrdering: .relaxed)
      if done { return DetachedRemote(head: remoteChunk(old), count: count) }
      old = seen
    }
  }

  /// The owner takes a reaped slab back: its owner word loses the reaped mark.
  func reclaimReaped() {
    pointee.owner.store(ownerZone, ordering: .relaxed)
  }

  /// Counts `n` chunks about to be carved as out, before they are written: one CAS, which
  /// the reaper's cannot pass. False if the slab was reaped meanwhile.
  func countCarved(_ n: UInt) -> Bool {
    var old = pointee.remote.load(ordering: .relaxed)
    while true {
      if RemoteWord.state(old) == RemoteState.reaping { old = waitWhileReaping(); continue }
      if RemoteWord.isReaped(old) { return false }
      let (done, seen) = pointee.remote.compareExchange(
        expected: old, desired: (old & ~RemoteWord.observed) &+ n << RemoteWord.outShift,
        successOrdering: .acquiringAndReleasing, failureOrdering: .relaxed)
      if done { return true }
      old = seen
    }
  }

  /// The owner found the slab exhausted: ask to be told about its next remote free.
  /// Returns false if chunks arrived meanwhile (the caller drains them instead).
  func requestNotify() -> Bool {
    var old = pointee.remote.load(ordering: .acquiring)
    var backoff = Backoff()
    while true {
      if RemoteWord.count(old) != 0 { return false }
      if RemoteWord.state(old) == RemoteState.signalling {
        backoff.pause()
        old = pointee.remote.load(ordering: .acquiring)
        continue
      }
      let (done, seen) = pointee.remote.compareExchange(
        expected: old, desired: (old & ~RemoteState.mask) | RemoteState.notify,
        successOrdering: .acquiringAndReleasing, failureOrdering: .acquiring)
      if done { return true }
      old = seen
    }
  }

  /// The slab leaves the full list: it no longer asks for a signal.
  func cancelNotify() { setRemoteState(RemoteState.normal) }

  /// The slab is empty and leaves its owner for a cache or a depot: no owner, and any
  /// further free into it is invalid. Its remote list is dropped: no chunk is live.
  func park() {
    pointee.remote.store(RemoteState.parked, ordering: .releasing)
    pointee.owner.store(0, ordering: .relaxed)
  }

  /// The owner exits: the slab keeps accepting frees for an adopter. `patience` bounds
  /// the wait for an in-flight signal (a signaller a fork left behind never finishes).
  func orphan(patience: Int) {
    setRemoteState(RemoteState.orphan, patience: patience)
    pointee.owner.store(0, ordering: .releasing)
  }

  /// An adopter takes an orphan.
  func adopt(by zone: UInt) {
    pointee.owner.store(zone, ordering: .releasing)
    setRemoteState(RemoteState.normal)
  }

  /// Moves the state to `state` (keeping queued chunks), first waiting for an in-flight
  /// signal to finish, and for a reaping in progress.
  private func setRemoteState(_ state: UInt, patience: Int = Int.max) {
    var old = pointee.remote.load(ordering: .acquiring)
    var backoff = Backoff()
    while true {
      if RemoteWord.state(old) == RemoteState.signalling && backoff.count < patience {
        backoff.pause()
        old = pointee.remote.load(ordering: .acquiring)
        continue
      }
      if RemoteWord.state(old) == RemoteState.reaping { old = waitWhileReaping(); continue }
      let (done, seen) = pointee.remote.compareExchange(
        expected: old, desired: (old & ~RemoteState.mask) | state,
        successOrdering: .acquiringAndReleasing, failureOrdering: .acquiring)
      if done { return }
      old = seen
    }
  }

  /// Waits while the background thread returns this slab's memory (one madvise); in a
  /// forked child, whose repair finishes that return, runs the repair first.
  @inline(never) func waitWhileReaping() -> UInt {
    var backoff = Backoff()
    while true {
      let word = pointee.remote.load(ordering: .acquiring)
      if RemoteWord.state(word) != RemoteState.reaping { return word }
      if zms_needs_fork_repair() { zms_fork_repair() }
      backoff.pause()
    }
  }

  // MARK: - Other threads' side

  /// Pushes a chunk freed by another thread with one compare-and-swap. A free when no
  /// chunk is out (a reaped slab's included), or into a parked slab, is a double free.
  func pushRemote(_ chunk: UInt) -> RemotePush {
    var old = pointee.remote.load(ordering: .relaxed)
    while true {
      let state = RemoteWord.state(old)
      if _slowPath(state == RemoteState.reaping) { old = waitWhileReaping(); continue }
      let out = RemoteWord.out(old)
      if _slowPath(state == RemoteState.parked || out == 0) { Diagnostics.doubleFree(chunk) }
      ChunkLink.word(chunk, 0).pointee = remoteChunk(old) ^ pointee.key
      ChunkLink.word(chunk, 1).pointee = pointee.tag
      let newState = state == RemoteState.notify ? RemoteState.signalling : state
      let desired = RemoteWord.make(newState, head: remoteIndex(chunk), count: RemoteWord.count(old) &+ 1, out: out &- 1)
      let (done, seen) = pointee.remote.compareExchange(
        expected: old, desired: desired,
        successOrdering: .sequentiallyConsistent, failureOrdering: .relaxed)
      if done { return RemotePush(word: old) }
      old = seen
    }
  }

  /// The signaller's last step, once the owner has the slab on its relink stack.
  func finishSignal() {
    var old = pointee.remote.load(ordering: .relaxed)
    while true {
      let (done, seen) = pointee.remote.compareExchange(
        expected: old, desired: (old & ~RemoteState.mask) | RemoteState.normal,
        successOrdering: .releasing, failureOrdering: .relaxed)
      if done { return }
      old = seen
    }
  }

  /// A span's only chunk was freed by a thread that does not own it: that thread takes
  /// the span with one CAS, from "normal, nothing queued, its chunk out" to parked.
  /// False when the span was parked already (a double free).
  func claimFreedSpan() -> Bool {
    pointee.remote.compareExchange(expected: RemoteWord.make(RemoteState.normal, out: 1),
                                   desired: RemoteState.parked, ordering: .acquiringAndReleasing).exchanged
  }

  // MARK: - The reaper's side

  /// Marks the slab as seen wholly free in `word`: false if the word changed meanwhile.
  func markObserved(_ word: UInt) -> Bool {
    pointee.remote.compareExchange(expected: word, desired: word | RemoteWord.observed, ordering: .relaxed).exchanged
  }

  /// Freezes a wholly free slab for a reap: the CAS to `reaping` stops its owner (which
  /// must pass a CAS on the word to carve or drain) and its freers, who wait; and it
  /// synchronises with the slab's last format. False if the word changed meanwhile.
  func freezeForReaping(_ word: UInt) -> Bool {
    let frozen = (word & ~RemoteState.mask & ~RemoteWord.observed) | RemoteState.reaping
    guard pointee.remote.compareExchange(expected: word, desired: frozen, ordering: .acquiringAndReleasing).exchanged
    else { return false }
    pointee.owner.bitwiseOr(reapedOwnerBit, ordering: .relaxed)
    return true
  }

  /// The slab's pages are returned: its word becomes "reaped" (no head, the count kept),
  /// and owner and freers go on. Nothing if it is not being reaped.
  func finishReaping() {
    let word = pointee.remote.load(ordering: .relaxed)
    guard RemoteWord.state(word) == RemoteState.reaping else { return }
    pointee.owner.bitwiseOr(reapedOwnerBit, ordering: .relaxed)
    pointee.remote.store(RemoteWord.reaped(count: RemoteWord.count(word)), ordering: .releasing)
  }
}
