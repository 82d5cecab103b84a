// SlabState.swift: the slab's state machine, DragonFly's kfree remote list made lock-free.
//
// Owns: the two words other threads may touch, the owner word and the remote word, and
// every transition of them. No other file writes either word; every other file asks
// this one (and decodes nothing itself).
// Touches: the slab header's two words (their encoding: RemoteWord.swift), and the link
// words of chunks pushed on the remote list (encoded with the slab's key, tagged with
// its tag, as local links are).
//
// The remote word is a lock-free stack of chunks freed by other threads, with a state
// and the stack's length, so one CAS pushes a chunk and counts it, and the owner takes
// the whole stack with its count in one CAS, without walking it. The owner's own work
// (hand-outs, local frees, carving never-used chunks) never touches the word: a thread
// that frees only what it allocated pays one plain load of it when a slab runs dry, and
// one CAS the first time a slab goes full. The states:
//   normal      a remote free just pushes.
//   notify      the owner wants to hear of the next remote free: it took the slab out of
//               its zone array as full. The first remote free moves the state to
//               signalling and tells the owner, once, by pushing the slab onto the
//               owner's relink stack (DragonFly's reduction of cross-cpu frees to one
//               signal per zone that must come back). The request stays after the slab
//               leaves the full list (a local free brought it back), so a slab that goes
//               full again asks with no CAS; a signal for a slab that is no longer full
//               is one wasted push, which the owner drops.
//   signalling  a freer is in the middle of that push. Whoever drains, parks or orphans
//               the slab waits for it to finish, so no freer ever touches a zone that
//               has gone, no parked slab is ever pushed on a relink stack, and the
//               owner's next refill takes the signal's entry before the slab can ask
//               again (the next signal would push it a second time). A signaller a fork
//               left behind never finishes: the child knows it by the count of signals
//               in flight (SignalsInFlight), and the waiter ends that signal itself.
//   orphan      the owner exited; frees still push, and an adopter drains them.
//   parked      the slab is empty, cached or in a depot. A free into it is invalid.
//   reaping     every chunk came back through the remote list and stayed there: the
//               background thread is returning the slab's pages (Reaper.swift). Owner
//               and freers wait for it (one madvise). Only a fully carved slab can be
//               wholly on its remote list (the count reaches the capacity), so the reaper
//               and the owner's carving never meet.
// A reaped slab is normal with no head and a full count: its chunks are free and their
// memory is zero pages. The owner's drain makes them never-used chunks again, and a free
// into it is invalid. While it is reaped the owner word has bit 0 set, so the owner's own
// free (a double free: every chunk was free) fails the fast path's owner test and
// reaches the remote push, which reports it.

import ZoneSupport
import Synchronization

/// The owner word's bit that marks a reaped slab.
private let reapedOwnerBit: UInt = 1

/// Signals in flight in this process: counted from just before the push that finds
/// `notify` to the end of the signal, so a slab seen signalling while nothing is in flight
/// lost its signaller to a fork. A forked child starts a new count in a new generation (a
/// signal its own thread was in when a signal handler forked ends in the child without
/// touching the new count).
enum SignalsInFlight {
  static let count = Atomic<Int>(0)
  nonisolated(unsafe) static var generation: UInt = 0

  static func afterForkInChild() {
    generation &+= 1
    count.store(0, ordering: .relaxed)
  }
}

/// Every access to the two shared words is preceded by this. The protocol's exhaustive
/// test (Tests/ZoneProtocolTests) compiles this file with ZONE_PROTOCOL_MODEL, where each
/// access is a point at which another thread may run; in the allocator it is nothing.
@inline(__always) private func sharedAccess() {
  #if ZONE_PROTOCOL_MODEL
  ProtocolModel.step()
  #endif
}

extension UnsafeMutablePointer where Pointee == Slab {
  // MARK: - Reading

  /// True when `zone` owns the slab (never while it is reaped: the mark fails the test). Hot.
  @inline(__always) func isOwned(by zone: UInt) -> Bool { sharedAccess(); return pointee.owner.load(ordering: .relaxed) == zone }

  /// The remote word as the reaper examines it (ordered with its unqueueing).
  var remoteWordForReaping: UInt { sharedAccess(); return pointee.remote.load(ordering: .sequentiallyConsistent) }

  /// The owning zone (without the reaped mark).
  var ownerZone: UInt { sharedAccess(); return pointee.owner.load(ordering: .relaxed) & ~reapedOwnerBit }
  var remoteState: UInt { sharedAccess(); return RemoteWord.state(pointee.remote.load(ordering: .acquiring)) }
  var isParked: Bool { remoteState == RemoteState.parked }
  /// True when the reaper returned the slab's memory and its owner has not taken it back.
  var isReaped: Bool { sharedAccess(); return RemoteWord.isReaped(pointee.remote.load(ordering: .acquiring)) }
  /// Chunks on the remote list now.
  @inline(__always) var remoteCount: UInt { sharedAccess(); return RemoteWord.count(pointee.remote.load(ordering: .acquiring)) }
  /// The first chunk on the remote list, 0 when it is empty.
  var remoteHead: UInt { sharedAccess(); return remoteChunk(pointee.remote.load(ordering: .acquiring)) }

  /// The chunk a remote word's head names, 0 for none.
  @inline(__always) func remoteChunk(_ word: UInt) -> UInt {
    let index = RemoteWord.headIndex(word)
    return index == 0 ? 0 : pointee.base + ((index - 1) << 4)
  }

  @inline(__always) private func remoteIndex(_ chunk: UInt) -> UInt { ((chunk - pointee.base) >> 4) + 1 }

  // MARK: - The owner's side

  /// A freshly formatted slab belongs to `zone`: nothing queued, state normal.
  func becomeOwned(by zone: UInt) {
    sharedAccess()
    pointee.remote.store(RemoteState.normal, ordering: .releasing)
    sharedAccess()
    pointee.owner.store(zone, ordering: .releasing)
  }

  /// Takes the remote list (owner or adopter only), waiting while the slab is being
  /// reaped; nil when it is empty. A reaped slab's list has no head, only the count.
  /// It also waits for a signal in flight: once the chunks are taken, the signal's entry
  /// is on the relink stack, and the owner's next refill takes it before the slab can
  /// ask again (taken later, it would be pushed a second time by the next signal).
  @inline(never) func detachRemote() -> DetachedRemote? {
    sharedAccess()
    var old = pointee.remote.load(ordering: .relaxed)
    var backoff = Backoff()
    while true {
      if RemoteWord.state(old) == RemoteState.reaping { old = waitWhileReaping(); continue }
      let count = RemoteWord.count(old)
      if count == 0 { return nil }
      if RemoteWord.state(old) == RemoteState.signalling {
        old = waitForSignal(old, &backoff)
        continue
      }
      sharedAccess()
      let (done, seen) = pointee.remote.compareExchange(
        expected: old, desired: RemoteWord.make(RemoteWord.state(old)),
        successOrdering: .acquiring, failureOrdering: .relaxed)
      if done { return DetachedRemote(head: remoteChunk(old), count: count) }
      old = seen
    }
  }

  /// The owner takes a reaped slab back: its owner word loses the reaped mark.
  func reclaimReaped() {
    sharedAccess()
    pointee.owner.store(ownerZone, ordering: .relaxed)
  }

  /// The owner found the slab exhausted: ask to be told about its next remote free (no
  /// CAS when the slab still asks from an earlier time). Returns false if chunks arrived
  /// meanwhile (the caller drains them instead). A signal in flight always has its chunk
  /// queued (a drain waits for the signal), so the state found here is normal or notify.
  func requestNotify() -> Bool {
    sharedAccess()
    var old = pointee.remote.load(ordering: .acquiring)
    while true {
      if RemoteWord.count(old) != 0 { return false }
      if RemoteWord.state(old) == RemoteState.notify { return true }
      sharedAccess()
      let (done, seen) = pointee.remote.compareExchange(
        expected: old, desired: (old & ~RemoteState.mask) | RemoteState.notify,
        successOrdering: .acquiringAndReleasing, failureOrdering: .acquiring)
      if done { return true }
      old = seen
    }
  }

  /// The slab is empty and leaves its owner for a cache or a depot: no owner, and any
  /// further free into it is invalid. Its remote list is dropped: no chunk is live. A
  /// signal in flight finishes first; the caller then drops the relink stack's entry for
  /// the slab, if that signal made one (no new one can come).
  func park() {
    setRemoteState(RemoteState.parked, keepingChunks: false)
    sharedAccess()
    pointee.owner.store(0, ordering: .relaxed)
  }

  /// The owner exits: the slab keeps accepting frees for an adopter.
  func orphan() {
    setRemoteState(RemoteState.orphan)
    sharedAccess()
    pointee.owner.store(0, ordering: .releasing)
  }

  /// An adopter takes an orphan.
  func adopt(by zone: UInt) {
    sharedAccess()
    pointee.owner.store(zone, ordering: .releasing)
    setRemoteState(RemoteState.normal)
  }

  /// Moves the state to `state` (keeping queued chunks unless told), first waiting for an
  /// in-flight signal to finish, and for a reaping in progress.
  private func setRemoteState(_ state: UInt, keepingChunks: Bool = true) {
    sharedAccess()
    var old = pointee.remote.load(ordering: .acquiring)
    var backoff = Backoff()
    while true {
      if RemoteWord.state(old) == RemoteState.signalling {
        old = waitForSignal(old, &backoff)
        continue
      }
      if RemoteWord.state(old) == RemoteState.reaping { old = waitWhileReaping(); continue }
      let desired = keepingChunks ? (old & ~RemoteState.mask) | state : state
      sharedAccess()
      let (done, seen) = pointee.remote.compareExchange(
        expected: old, desired: desired, successOrdering: .acquiringAndReleasing, failureOrdering: .acquiring)
      if done { return }
      old = seen
    }
  }

  /// One round of waiting for the signal in flight seen in `word`: a pause, or, when no
  /// signal is in flight in this process (its signaller was lost to a fork), the end of
  /// the signal. Returns the word as it is now.
  private func waitForSignal(_ word: UInt, _ backoff: inout Backoff) -> UInt {
    sharedAccess()
    if SignalsInFlight.count.load(ordering: .acquiring) <= 0 {
      sharedAccess()
      let (done, seen) = pointee.remote.compareExchange(
        expected: word, desired: (word & ~RemoteState.mask) | RemoteState.normal,
        successOrdering: .acquiringAndReleasing, failureOrdering: .acquiring)
      return done ? (word & ~RemoteState.mask) | RemoteState.normal : seen
    }
    backoff.pause()
    sharedAccess()
    return pointee.remote.load(ordering: .acquiring)
  }

  /// Waits while the background thread returns this slab's memory (one madvise); in a
  /// forked child, whose repair finishes that return, runs the repair first.
  @inline(never) func waitWhileReaping() -> UInt {
    var backoff = Backoff()
    while true {
      sharedAccess()
      let word = pointee.remote.load(ordering: .acquiring)
      if RemoteWord.state(word) != RemoteState.reaping { return word }
      if zms_needs_fork_repair() { zms_fork_repair() }
      backoff.pause()
    }
  }

  // MARK: - Other threads' side

  /// The common push, inlined into free's slow path: the slab is in its owner's hands
  /// (state normal) and the push leaves at least one chunk out, so it neither signals nor
  /// hands the slab to the reaper. One compare-and-swap; false, with the word untouched,
  /// in every other case, which pushRemote takes. Hot.
  @inline(__always) func tryPushPlain(_ chunk: UInt) -> Bool {
    let capacity = UInt(pointee.capacity)
    sharedAccess()
    var old = pointee.remote.load(ordering: .relaxed)
    while RemoteWord.state(old) == RemoteState.normal && RemoteWord.count(old) &+ 1 < capacity {
      let (done, seen) = casPush(chunk, over: old, state: RemoteState.normal)
      if done { return true }
      old = seen
    }
    return false
  }

  /// One push attempt: links chunk in front of the stack `old` names, marks it freed, and
  /// swaps in the word with `state` and one more chunk. Both pushes share it.
  @inline(__always) private func casPush(_ chunk: UInt, over old: UInt, state: UInt) -> (exchanged: Bool, original: UInt) {
    ChunkLink.word(chunk, 0).pointee = remoteChunk(old) ^ pointee.key
    ChunkLink.word(chunk, 1).pointee = pointee.tag
    let desired = RemoteWord.make(state, head: remoteIndex(chunk), count: RemoteWord.count(old) &+ 1)
    sharedAccess()
    return pointee.remote.compareExchange(
      expected: old, desired: desired, successOrdering: .sequentiallyConsistent, failureOrdering: .relaxed)
  }

  /// Pushes a chunk freed by another thread with one compare-and-swap. A free when every
  /// chunk is on the stack already (a reaped slab's included), or into a parked slab, is
  /// a double free. A push that will signal is counted in flight before its CAS.
  func pushRemote(_ chunk: UInt) -> RemotePush {
    let capacity = UInt(pointee.capacity)
    var counted = false
    sharedAccess()
    var old = pointee.remote.load(ordering: .relaxed)
    while true {
      let state = RemoteWord.state(old)
      if _slowPath(state == RemoteState.reaping) { old = waitWhileReaping(); continue }
      let count = RemoteWord.count(old)
      if _slowPath(state == RemoteState.parked || count >= capacity) { Diagnostics.doubleFree(chunk) }
      if _slowPath((state == RemoteState.notify) != counted) { counted = countSignal(!counted) }
      let newState = state == RemoteState.notify ? RemoteState.signalling : state
      let (done, seen) = casPush(chunk, over: old, state: newState)
      if done { return RemotePush(word: old, capacity: capacity, generation: counted ? SignalsInFlight.generation : 0) }
      old = seen
    }
  }

  /// Counts a signal in flight (or takes back the count of one that will not happen).
  @inline(never) private func countSignal(_ add: Bool) -> Bool {
    sharedAccess()
    SignalsInFlight.count.wrappingAdd(add ? 1 : -1, ordering: .relaxed)
    return add
  }

  /// The signaller's last step, once the owner has the slab on its relink stack: the
  /// state goes back to normal (unless a forked child's waiter ended the signal), and
  /// the signal is no longer in flight. `push` is the push that signalled.
  func finishSignal(_ push: RemotePush) {
    sharedAccess()
    var old = pointee.remote.load(ordering: .relaxed)
    while RemoteWord.state(old) == RemoteState.signalling {
      sharedAccess()
      let (done, seen) = pointee.remote.compareExchange(
        expected: old, desired: (old & ~RemoteState.mask) | RemoteState.normal,
        successOrdering: .releasing, failureOrdering: .relaxed)
      if done { break }
      old = seen
    }
    guard push.generation == SignalsInFlight.generation else { return }
    sharedAccess()
    SignalsInFlight.count.wrappingSubtract(1, ordering: .releasing)
  }

  /// A span's only chunk was freed by a thread that does not own it: that thread takes
  /// the span with one CAS, from "normal, nothing queued" to parked. False when the span
  /// was parked already (a double free).
  func claimFreedSpan() -> Bool {
    sharedAccess()
    return pointee.remote.compareExchange(expected: RemoteWord.make(RemoteState.normal),
                                   desired: RemoteState.parked, ordering: .acquiringAndReleasing).exchanged
  }

  // MARK: - The reaper's side

  /// Marks the slab as seen wholly free in `word`: false if the word changed meanwhile.
  func markObserved(_ word: UInt) -> Bool {
    sharedAccess()
    return pointee.remote.compareExchange(expected: word, desired: word | RemoteWord.observed, ordering: .relaxed).exchanged
  }

  /// Freezes a wholly free slab for a reap: the CAS to `reaping` stops its owner (which
  /// must pass a CAS on the word to drain, and has nothing left to carve) and its freers,
  /// who wait; and it synchronises with the slab's last format. False if the word changed
  /// meanwhile.
  func freezeForReaping(_ word: UInt) -> Bool {
    let frozen = (word & ~RemoteState.mask & ~RemoteWord.observed) | RemoteState.reaping
    sharedAccess()
    guard pointee.remote.compareExchange(expected: word, desired: frozen, ordering: .acquiringAndReleasing).exchanged
    else { return false }
    sharedAccess()
    pointee.owner.bitwiseOr(reapedOwnerBit, ordering: .relaxed)
    return true
  }

  /// The slab's pages are returned: its word becomes "reaped" (no head, the count kept),
  /// and owner and freers go on. Nothing if it is not being reaped.
  func finishReaping() {
    sharedAccess()
    let word = pointee.remote.load(ordering: .relaxed)
    guard RemoteWord.state(word) == RemoteState.reaping else { return }
    sharedAccess()
    pointee.owner.bitwiseOr(reapedOwnerBit, ordering: .relaxed)
    sharedAccess()
    pointee.remote.store(RemoteWord.reaped(count: RemoteWord.count(word)), ordering: .releasing)
  }
}
