// Slab.swift: one 64 KiB slab of equal-sized chunks, as in DragonFly's kern_slaballoc.c.
//
// Owns: the slab header layout, the chunk geometry, the owner's local free list and bump
// region, the remote free list with its state bits, and the encoding of free-list links.
// Touches: only the slab it is handed. The lists that hold slabs belong to ThreadZone,
// Depot and Orphans.
//
// A slab is 64 KiB and 64 KiB aligned, carved from an arena window. Its header does not
// live in the slab: each 64 MiB window starts with an array of 128-byte headers, one per
// 64 KiB granule, so free() finds the header of any chunk by arithmetic on its address
// (window | granule index * 128). The slab itself holds nothing but chunks. Keeping the
// headers together means a forked child that frees its parent's blocks copies a few
// header pages instead of the first page of every slab it touches. The header's first
// cache line holds what the owning thread touches on every malloc and free; the second
// holds the remote list, which other threads write, so the two never share a line.
//
// The remote word is a lock-free stack of chunks freed by other threads. Its low three
// bits hold a state (chunks are 16-byte aligned), its top 16 bits how many chunks the
// stack holds (user addresses fit in 47 bits; a slab has at most 4088 chunks), so one CAS
// pushes a chunk and counts it, and the owner takes the whole stack with its count in one
// exchange, without walking it. The states:
//   normal      the owner has the slab in its zone array; a remote free just pushes.
//   notify      the owner found the slab full and took it out of its zone array. The first
//               remote free moves the state to signalling and tells the owner, once, by
//               pushing the slab onto the owner's relink stack (seed 003's IPI, ~1/100).
//   signalling  a freer is in the middle of that push. Whoever wants to orphan the slab
//               waits for it to finish, so no freer ever touches a zone that has gone.
//   orphan      the owner exited; frees still push, and an adopter drains them.
//   parked      the slab is empty, cached or in a depot. A free into it is invalid.

import ZoneSupport
import Synchronization

enum SlabGeometry {
  static let shift: UInt = 16
  static let size: UInt = 1 << 16
  static let mask: UInt = size - 1
  /// Each granule's header is this long, in the array at the start of its window.
  static let headerStride: UInt = 128
  static let regionMask: UInt = (1 << UInt(ZMS_REGION_SHIFT)) - 1
  /// The header array at the start of each window: one header per granule (128 KiB).
  static let metadataBytes: UInt = ((regionMask + 1) >> shift) * headerStride
}

enum RemoteState {
  static let normal: UInt = 0
  static let notify: UInt = 1
  static let signalling: UInt = 2
  static let orphan: UInt = 3
  static let parked: UInt = 4
  static let mask: UInt = 7
}

/// The fields of the remote word: count (16 bits) | head chunk (47 bits) | state (3 bits).
enum RemoteWord {
  static let countShift: UInt = 48
  static let headMask: UInt = ((1 << 48) - 1) & ~RemoteState.mask
  static let one: UInt = 1 << countShift

  @inline(__always) static func head(_ word: UInt) -> UInt { word & headMask }
  @inline(__always) static func count(_ word: UInt) -> UInt { word >> countShift }
  @inline(__always) static func state(_ word: UInt) -> UInt { word & RemoteState.mask }
}

/// Which owner list a slab is on. Owner-only bookkeeping.
enum SlabList {
  static let none: UInt8 = 0
  static let current: UInt8 = 1
  static let partial: UInt8 = 2
  static let full: UInt8 = 3
  static let parked: UInt8 = 4
  static let orphan: UInt8 = 5
}

struct Slab: ~Copyable {
  // Cache line 0: the owner's fast paths.
  var free: UInt            // local free list head (links encoded), 0 when empty
  var bump: UInt            // next never-used chunk
  var bumpEnd: UInt         // bump < bumpEnd while never-used chunks remain
  var used: UInt32          // chunks handed out and not yet back in the owner's view
  var watch: UInt32         // a local free leaving used-1 > watch is an event (see setList)
  var chunkSize: UInt32
  var reciprocal: UInt32    // ceil(2^32 / chunkSize): chunk index by multiplication
  var sampled: UInt32       // 1 while a span's chunk is a heap profiler sample (Profiler.swift)
  var capacity: UInt32
  let owner: Atomic<UInt>   // owning zone, 0 when parked or orphaned
  var sizeClass: UInt8
  var list: UInt8           // SlabList
  var node: UInt8           // NUMA node of the arena the slab lives in
  var fresh: UInt8          // 1 while the bump region is known to be zero (fresh from the OS)
  var granules: UInt32      // 64 KiB units: 1 for a slab, 1...8 for a span
  // Cache line 1: the remote list, and cold links.
  var next: UInt            // intrusive links for zone, depot and orphan lists
  let remote: Atomic<UInt>  // RemoteWord: count | remote free stack | RemoteState
  var prev: UInt
  var relinkNext: UInt      // link on the owner's relink stack, written by the signaller
  var parkedAt: UInt        // milliseconds when the slab was parked, or orphaned
  var charged: UInt         // bytes charged to the limit (Limit.swift) for this unit
}

typealias SlabPointer = UnsafeMutablePointer<Slab>

/// The header of the granule holding an address of a slab arena. Hot.
@inline(__always) func slabOf(_ address: UInt) -> SlabPointer {
  let offset = address & SlabGeometry.regionMask
  let header = (address & ~SlabGeometry.regionMask) | ((offset >> (SlabGeometry.shift - 7)) & ~0x7f)
  return SlabPointer(bitPattern: header).unsafelyUnwrapped
}

@inline(__always) func slabAt(_ base: UInt) -> SlabPointer {
  SlabPointer(bitPattern: base).unsafelyUnwrapped
}

/// Free-list links are stored encoded: next ^ secret ^ (slot >> 4), as glibc's
/// safe-linking does, so that a stray write or a use-after-free cannot steer the
/// allocator to an arbitrary address. A decoded link must point into the same slab and be
/// 16-byte aligned, or the heap is corrupt. A freed chunk also carries `freedTag` in its
/// second word: free() of a chunk that still carries it is checked for a double free.
enum ChunkLink {
  nonisolated(unsafe) static var secret: UInt = 0
  nonisolated(unsafe) static var freedTag: UInt = 0

  @inline(__always) static func encode(_ next: UInt, at slot: UInt) -> UInt {
    next ^ secret ^ (slot >> 4)
  }

  @inline(__always) static func decode(_ stored: UInt, at slot: UInt) -> UInt {
    stored ^ secret ^ (slot >> 4)
  }

  /// A link is plausible when it ends the list or stays, aligned, inside slot's slab.
  @inline(__always) static func isPlausible(_ next: UInt, after slot: UInt) -> Bool {
    let target = next == 0 ? slot : next
    return ((target ^ slot) >> SlabGeometry.shift) | (target & 15) == 0
  }

  @inline(__always) static func word(_ chunk: UInt, _ index: Int) -> UnsafeMutablePointer<UInt> {
    UnsafeMutablePointer<UInt>(bitPattern: chunk).unsafelyUnwrapped + index
  }
}

extension UnsafeMutablePointer where Pointee == Slab {
  /// The header's own address: what lists and zone arrays hold.
  var address: UInt { UInt(bitPattern: self) }

  /// The first byte of the slab or span this header describes.
  var memory: UInt {
    let offset = address & SlabGeometry.regionMask
    return (address & ~SlabGeometry.regionMask) | (offset << (SlabGeometry.shift - 7))
  }

  // MARK: - Formatting

  /// Lays out a slab (or a span: one chunk, several granules) for a class and hands it to
  /// `owner`. A span's chunk is as large as the bytes charged for it allow.
  func format(sizeClass c: Int, owner zone: UInt, node: Int, fresh: Bool) {
    let size = c < SizeClass.count ? SizeClass.size(of: c) : Int(pointee.charged)
    let capacity = SizeClass.capacity(of: c)
    pointee.free = 0
    pointee.bump = memory
    pointee.bumpEnd = memory + UInt(capacity * size)
    pointee.used = 0
    pointee.watch = UInt32(capacity - 3)
    setChunkSize(size)
    pointee.capacity = UInt32(capacity)
    pointee.sizeClass = UInt8(c)
    pointee.list = SlabList.none
    pointee.node = UInt8(node)
    pointee.fresh = fresh ? 1 : 0
    pointee.granules = UInt32(SizeClass.granules(of: c))
    pointee.next = 0
    pointee.prev = 0
    pointee.relinkNext = 0
    pointee.sampled = 0
    pointee.remote.store(RemoteState.normal, ordering: .relaxed)
    pointee.owner.store(zone, ordering: .releasing)
  }

  private func setChunkSize(_ size: Int) {
    pointee.chunkSize = UInt32(size)
    pointee.reciprocal = UInt32(((1 << 32) + size - 1) / size)
  }

  /// Grows a span's chunk in place to the bytes now charged for it (realloc).
  func growSpanToCharge() {
    let size = Int(pointee.charged)
    setChunkSize(size)
    pointee.bumpEnd = memory + UInt(size)
    pointee.bump = pointee.bumpEnd
  }

  /// Files the slab on an owner list. The current slab needs no event from a local free:
  /// it is in the zone array already, and an empty current slab is kept (hysteresis).
  /// A slab on another list needs one when it empties (used 0: park it) and when a full
  /// slab gets its first chunk back (used capacity-1: back to the partial list). The
  /// free path tests both with one compare: used-1 > capacity-3, as unsigned numbers.
  func setList(_ list: UInt8) {
    pointee.list = list
    pointee.watch = list == SlabList.current ? UInt32.max : pointee.capacity &- 3
  }

  // MARK: - Chunk identity

  /// True when address is the start of a chunk that was handed out at least once. Hot.
  /// Chunks start at the unit's first byte, and units are granule aligned, so the offset
  /// in the granule is the offset in the slab (a span's chunk is at offset 0; an address
  /// in a span's later granule finds a zeroed header and fails).
  @inline(__always) func isChunkStart(_ address: UInt) -> Bool {
    let offset = address & SlabGeometry.mask
    let index = (offset &* UInt(pointee.reciprocal)) >> 32
    return (index &* UInt(pointee.chunkSize) == offset) && address < pointee.bump
  }

  // MARK: - Owner's local list (hot)

  /// Pops a chunk from the local free list or the bump region; 0 when both are empty.
  @inline(__always) func takeLocal() -> UInt {
    let chunk = pointee.free
    if _fastPath(chunk != 0) {
      let next = ChunkLink.decode(ChunkLink.word(chunk, 0).pointee, at: chunk)
      if _slowPath(!ChunkLink.isPlausible(next, after: chunk)) { Diagnostics.corruption(chunk) }
      pointee.free = next
      return chunk
    }
    let bump = pointee.bump
    if bump < pointee.bumpEnd {
      pointee.bump = bump &+ UInt(pointee.chunkSize)
      return bump
    }
    return 0
  }

  /// Links a chunk onto the local free list and marks it freed.
  @inline(__always) func putLocal(_ chunk: UInt) {
    ChunkLink.word(chunk, 0).pointee = ChunkLink.encode(pointee.free, at: chunk)
    ChunkLink.word(chunk, 1).pointee = ChunkLink.freedTag
    pointee.free = chunk
  }

  // MARK: - Remote list

  /// Pushes a chunk freed by another thread with one compare-and-swap. Returns the state
  /// the slab was in; `notify` means this caller must signal the owner.
  func pushRemote(_ chunk: UInt) -> UInt {
    var old = pointee.remote.load(ordering: .relaxed)
    while true {
      let state = RemoteWord.state(old)
      if _slowPath(state == RemoteState.parked) { Diagnostics.doubleFree(chunk) }
      ChunkLink.word(chunk, 0).pointee = ChunkLink.encode(RemoteWord.head(old), at: chunk)
      ChunkLink.word(chunk, 1).pointee = ChunkLink.freedTag
      let newState = state == RemoteState.notify ? RemoteState.signalling : state
      let counted = (old & ~RemoteWord.headMask & ~RemoteState.mask) &+ RemoteWord.one
      let (done, seen) = pointee.remote.compareExchange(
        expected: old, desired: counted | chunk | newState,
        successOrdering: .releasing, failureOrdering: .relaxed)
      if done { return state }
      old = seen
    }
  }

  /// Moves every remotely freed chunk onto the local free list. Owner (or adopter) only.
  /// Returns how many chunks came back.
  @discardableResult
  func drainRemote() -> Int {
    var old = pointee.remote.load(ordering: .relaxed)
    while RemoteWord.head(old) != 0 {
      let (done, seen) = pointee.remote.compareExchange(
        expected: old, desired: RemoteWord.state(old),
        successOrdering: .acquiring, failureOrdering: .relaxed)
      if done { return spliceIntoLocal(RemoteWord.head(old), count: RemoteWord.count(old)) }
      old = seen
    }
    return 0
  }

  /// Puts a detached remote list in front of the local list. When the local list is
  /// empty (the usual case: the owner drains when it runs dry) that is one store; else
  /// the list is walked to its tail, every link checked, the walk bounded by the count.
  private func spliceIntoLocal(_ head: UInt, count: UInt) -> Int {
    if count == 0 || count > UInt(pointee.used) { Diagnostics.corruption(head) }
    if pointee.free != 0 {
      var tail = head
      for _ in 1..<count {
        let next = ChunkLink.decode(ChunkLink.word(tail, 0).pointee, at: tail)
        if next == 0 || !ChunkLink.isPlausible(next, after: tail) { Diagnostics.corruption(tail) }
        tail = next
      }
      ChunkLink.word(tail, 0).pointee = ChunkLink.encode(pointee.free, at: tail)
    }
    pointee.free = head
    pointee.used &-= UInt32(count)
    return Int(count)
  }

  /// Chunks handed out and not freed yet, locally or remotely: used less the remote
  /// list's count. Exact once nobody frees into the slab concurrently (its owner is gone
  /// and no chunk is live, or the caller owns it).
  var liveChunks: UInt {
    UInt(pointee.used) &- RemoteWord.count(pointee.remote.load(ordering: .acquiring))
  }

  /// The first chunk on the remote list, 0 when it is empty.
  var remoteHead: UInt { RemoteWord.head(pointee.remote.load(ordering: .acquiring)) }

  // MARK: - Remote state transitions

  /// The owner found the slab exhausted: ask to be told about its next remote free.
  /// Returns false if chunks arrived meanwhile (the caller drains them instead).
  func requestNotify() -> Bool {
    var old = pointee.remote.load(ordering: .acquiring)
    while true {
      if RemoteWord.head(old) != 0 { return false }
      if RemoteWord.state(old) == RemoteState.signalling {
        zms_cpu_relax()
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

  /// Moves the state to `state` (keeping queued chunks), first waiting for an in-flight
  /// signal to finish. `patience` bounds the wait (after fork a signaller may be gone).
  func setRemoteState(_ state: UInt, patience: Int = Int.max) {
    var old = pointee.remote.load(ordering: .acquiring)
    var waited = 0
    while true {
      if RemoteWord.state(old) == RemoteState.signalling && waited < patience {
        waited += 1
        if waited & 63 == 0 { sched_yield() } else { zms_cpu_relax() }
        old = pointee.remote.load(ordering: .acquiring)
        continue
      }
      let (done, seen) = pointee.remote.compareExchange(
        expected: old, desired: (old & ~RemoteState.mask) | state,
        successOrdering: .acquiringAndReleasing, failureOrdering: .acquiring)
      if done { return }
      old = seen
    }
  }

  /// A span's only chunk was freed by a thread that does not own it: that thread takes the
  /// span with one CAS, from "normal, nothing queued" to parked. False when the span was
  /// parked already (a double free).
  func claimFreedSpan() -> Bool {
    pointee.remote.compareExchange(
      expected: RemoteState.normal, desired: RemoteState.parked, ordering: .acquiringAndReleasing
    ).exchanged
  }

  /// The signaller's last step: the owner has the slab on its relink stack.
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

  var remoteState: UInt { RemoteWord.state(pointee.remote.load(ordering: .acquiring)) }

  // MARK: - Double-free search (slow path)

  /// True if chunk sits on the local free list or the remote list. Owner only; the walks
  /// are bounded by the capacity.
  func holdsFreeChunk(_ chunk: UInt) -> Bool {
    listContains(pointee.free, chunk) || listContains(remoteHead, chunk)
  }

  /// Walks an encoded list looking for chunk. Safe for any thread: slab memory is never
  /// unmapped, and the walk stops at the first implausible link.
  func listContains(_ head: UInt, _ chunk: UInt) -> Bool {
    var p = head
    var steps = 0
    while p != 0 && steps <= Int(pointee.capacity) {
      if p == chunk { return true }
      let next = ChunkLink.decode(ChunkLink.word(p, 0).pointee, at: p)
      if !ChunkLink.isPlausible(next, after: p) { return false }
      p = next
      steps += 1
    }
    return false
  }
}
