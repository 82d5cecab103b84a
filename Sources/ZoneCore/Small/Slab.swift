// Slab.swift: one 64 KiB slab of equal-sized chunks, as in DragonFly's kern_slaballoc.c.
//
// Owns: the slab header layout, the chunk geometry, the owner's local free list and the
// carving of never-used chunks onto it, the remote free list with its state bits, and
// the per-slab keys and tags of free-list links.
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
//               pushing the slab onto the owner's relink stack (seed 003's IPI, ~1/100).
//   signalling  a freer is in the middle of that push. Whoever wants to orphan the slab
//               waits for it to finish, so no freer ever touches a zone that has gone.
//   orphan      the owner exited; frees still push, and an adopter drains them.
//   parked      the slab is empty, cached or in a depot. A free into it is invalid.
//   reaping     every chunk had come back through the remote list and stayed there: the
//               background thread is returning the slab's pages (Reaper.swift). Owner
//               and freers wait for it (one madvise).
// A reaped slab is normal with no head and a count: its chunks are free and their memory
// is zero pages. The owner's drain makes them never-used chunks again (reuseReaped), and
// a free into it is invalid.

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
  static let reaping: UInt = 5
  static let mask: UInt = 7
}

/// The fields of the remote word, low to high: state (3 bits), the reaper's mark (1 bit),
/// the head chunk as its 16-byte index in the slab plus one (13 bits; 0: the stack is
/// empty), how many chunks the stack holds (13 bits), and how many carved chunks are not
/// on it (13 bits: live, or on the owner's local list). A slab holds at most 4088 chunks.
enum RemoteWord {
  /// The reaper saw the slab wholly free at its last tick (Reaper.swift). A push or a
  /// drain rebuilds the word without it.
  static let observed: UInt = 8
  static let headShift: UInt = 4
  static let countShift: UInt = 17
  static let outShift: UInt = 30
  static let field: UInt = (1 << 13) - 1

  @inline(__always) static func headIndex(_ word: UInt) -> UInt { (word >> headShift) & field }
  @inline(__always) static func count(_ word: UInt) -> UInt { (word >> countShift) & field }
  @inline(__always) static func out(_ word: UInt) -> UInt { (word >> outShift) & field }
  @inline(__always) static func state(_ word: UInt) -> UInt { word & RemoteState.mask }

  static func make(_ state: UInt, head: UInt = 0, count: UInt = 0, out: UInt = 0) -> UInt {
    state | head << headShift | count << countShift | out << outShift
  }

  /// Chunks counted with no stack: the reaper returned them (Reaper.swift).
  @inline(__always) static func isReaped(_ word: UInt) -> Bool { headIndex(word) == 0 && count(word) != 0 }
  static func reaped(count: UInt) -> UInt { make(RemoteState.normal, count: count) }
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
  var free: UInt            // local free list head (links encoded with `key`), 0 when empty
  var key: UInt             // this slab's link key, drawn at each format
  var tag: UInt             // this slab's freed tag: word 1 of every chunk on its lists
  var base: UInt            // the unit's first byte
  let owner: Atomic<UInt>   // owning zone, 0 when parked or orphaned; bit 0: reaped (ownerZone)
  var magic: UInt           // 1 + (2^64 - 1) / chunkSize: chunk starts by one multiplication
  var chunkSize: UInt32
  var countdown: UInt32     // local frees until the next event (see setList)
  var carved: UInt32        // chunks below this offset have been on the free list
  var handed: UInt32        // hand-outs since the slab became current, plus what was out then
  // Cache line 1: the remote list, and what only slow paths touch.
  var next: UInt            // intrusive links for zone, depot and orphan lists
  let remote: Atomic<UInt>  // RemoteWord: count | remote free stack | RemoteState
  var prev: UInt
  var relinkNext: UInt      // link on the owner's relink stack, written by the signaller
  var parkedAt: UInt        // milliseconds when the slab was parked, or orphaned
  let reapNext: Atomic<UInt> // Reaper.swift: 0, or the link on its lists with bit 0 set
  var chargedBytes: UInt32  // bytes charged to the limit (Limit.swift) for this unit
  var carveLimit: UInt32    // end of the chunks: carved < carveLimit while never-used ones remain
  var capacity: UInt16
  var sizeClass: UInt8
  var list: UInt8           // SlabList
  var node: UInt8           // NUMA node of the arena the slab lives in
  var fresh: UInt8          // 1 while never-used chunks are known to be zero (fresh from the OS)
  var granules: UInt8       // 64 KiB units: 1 for a slab, 1...8 for a span
  var sampled: UInt8        // 1 while a span's chunk is a heap profiler sample (Profiler.swift)
}

extension Slab {
  /// Bytes charged to the limit for this unit (at most 8 granules: 32 bits hold it).
  var charged: UInt {
    get { UInt(chargedBytes) }
    set { chargedBytes = UInt32(newValue) }
  }
}

typealias SlabPointer = UnsafeMutablePointer<Slab>

/// The header of the granule holding an address of a slab arena. Hot.
@inline(__always) func slabOf(_ address: UInt) -> SlabPointer {
  let offset = address & SlabGeometry.regionMask
  let header = (address & ~SlabGeometry.regionMask) | ((offset >> (SlabGeometry.shift - 7)) & ~0x7f)
  return SlabPointer(bitPattern: header).unsafelyUnwrapped
}

/// The same from free's region-table index (zms_region_index), which also stands for the
/// window's base address. Hot.
@inline(__always) func slabOf(_ address: UInt, window: UInt) -> SlabPointer {
  let header = (window << UInt(ZMS_REGION_SHIFT)) | ((address >> (SlabGeometry.shift - 7)) & (SlabGeometry.regionMask >> 9) & ~0x7f)
  return SlabPointer(bitPattern: header).unsafelyUnwrapped
}

@inline(__always) func slabAt(_ base: UInt) -> SlabPointer {
  SlabPointer(bitPattern: base).unsafelyUnwrapped
}

/// Free-list links are stored encoded with the slab's own key, and a chunk on a list
/// carries the slab's own tag in its second word. Both are drawn anew each time a unit is
/// formatted (SlabKeys), so what one slab's freed block gives away says nothing about any
/// other slab's. A chunk is checked when it is taken from the list: it must lie in the
/// slab, 16-byte aligned, and carry the tag; only a chunk the allocator itself put on the
/// list does (a corrupted link that points elsewhere, into the middle of a chunk or at a
/// live block of the same slab, finds no tag there). free() of a chunk that still carries
/// the tag is checked for a double free.
enum ChunkLink {
  @inline(__always) static func word(_ chunk: UInt, _ index: Int) -> UnsafeMutablePointer<UInt> {
    UnsafeMutablePointer<UInt>(bitPattern: chunk).unsafelyUnwrapped + index
  }

  /// A decoded link is plausible when it ends the list or stays, aligned, in the slab.
  @inline(__always) static func isPlausible(_ next: UInt, after slot: UInt) -> Bool {
    let target = next == 0 ? slot : next
    return ((target ^ slot) >> SlabGeometry.shift) | (target & 15) == 0
  }
}

/// The keys and tags of slabs: a secret drawn at boot mixed with a counter, so no two
/// formats of a unit share them and none can be derived from another.
enum SlabKeys {
  nonisolated(unsafe) static var secret: UInt = 0
  static let counter = Atomic<UInt>(0)

  /// SplitMix64's finaliser.
  @inline(__always) static func mix(_ value: UInt) -> UInt {
    var z = value
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  static func draw() -> (key: UInt, tag: UInt) {
    let n = counter.wrappingAdd(1, ordering: .relaxed).newValue
    let key = mix(secret &+ n &* 0x9E37_79B9_7F4A_7C15)
    return (key, mix(key ^ secret) | 1)
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
  /// `owner`. A span's chunk is as large as the bytes charged for it allow. No chunk is on
  /// the free list yet: they are carved onto it a page at a time (carve).
  func format(sizeClass c: Int, owner zone: UInt, node: Int, fresh: Bool) {
    let size = c < SizeClass.count ? SizeClass.size(of: c) : Int(pointee.charged)
    let capacity = SizeClass.capacity(of: c)
    let (key, tag) = SlabKeys.draw()
    pointee.free = 0
    pointee.key = key
    pointee.tag = tag
    pointee.base = memory
    pointee.carved = 0
    pointee.handed = 0
    pointee.carveLimit = UInt32(capacity * size)
    setChunkSize(size)
    pointee.capacity = UInt16(capacity)
    pointee.sizeClass = UInt8(c)
    pointee.list = SlabList.none
    pointee.countdown = UInt32(capacity)
    pointee.node = UInt8(node)
    pointee.fresh = fresh ? 1 : 0
    pointee.granules = UInt8(SizeClass.granules(of: c))
    pointee.sampled = 0
    pointee.next = 0
    pointee.prev = 0
    pointee.relinkNext = 0
    pointee.remote.store(RemoteState.normal, ordering: .releasing)
    pointee.owner.store(zone, ordering: .releasing)
  }

  private func setChunkSize(_ size: Int) {
    pointee.chunkSize = UInt32(size)
    pointee.magic = UInt.max / UInt(size) &+ 1
  }

  /// Grows a span's chunk in place to the bytes now charged for it (realloc).
  func growSpanToCharge() {
    setChunkSize(Int(pointee.charged))
    pointee.carveLimit = UInt32(pointee.charged)
    pointee.carved = UInt32(pointee.charged)
  }

  /// Files the slab on an owner list, and sets how many local frees until the next event:
  /// the current slab never needs one (it is in the zone array already, and an empty
  /// current slab is kept: hysteresis); a full slab needs one at its first local free (it
  /// goes back to the partial list); any other slab when its last chunk comes back
  /// (`used` chunks are out, in the owner's view: it is parked).
  /// (The current slab counts its hand-outs in `handed` instead: malloc adds one, and
  /// `used` is that less the local frees its countdown has seen.)
  func setList(_ list: UInt8, used: UInt = 0) {
    if list == SlabList.current { pointee.handed = UInt32(self.used) }
    pointee.list = list
    pointee.countdown = list == SlabList.current ? UInt32.max : list == SlabList.full ? 1 : UInt32(used)
  }

  /// Chunks handed out and not back in the owner's view (remotely freed ones that were not
  /// drained count as out). What the countdown holds, except for the current slab (its
  /// hand-outs less its local frees) and a full one, all of whose chunks are out. Owner only.
  var used: UInt {
    switch pointee.list {
    case SlabList.current: return UInt(pointee.handed &- (UInt32.max &- pointee.countdown))
    case SlabList.full: return UInt(pointee.capacity)
    default: return UInt(pointee.countdown)
    }
  }

  // MARK: - Chunk identity

  /// True when address is the start of a chunk that was handed out at least once. Hot.
  /// Chunks start at the unit's first byte, and units are granule aligned, so the offset
  /// in the granule is the offset in the slab; a multiple of the chunk size passes one
  /// multiplication (offset * magic < magic; an address in a span's later granule finds a
  /// zeroed header, whose magic 0 passes nothing).
  @inline(__always) func isChunkStart(_ address: UInt) -> Bool {
    let offset = address & SlabGeometry.mask
    return offset &* pointee.magic < pointee.magic && offset < UInt(pointee.carved)
  }

  // MARK: - Owner's local list (hot)

  /// Pops a chunk from the local free list, checked; 0 when the list is empty.
  @inline(__always) func takeLocal() -> UInt {
    let chunk = pointee.free
    if _slowPath(chunk == 0) { return 0 }
    if _slowPath(!isIntactHead(chunk)) { brokenList(chunk) }
    return pop(chunk)
  }

  /// The head of the free list lies in the slab, 16-byte aligned, and carries the tag:
  /// only a chunk the allocator put on the list does. Hot.
  @inline(__always) func isIntactHead(_ chunk: UInt) -> Bool {
    let inSlab = (chunk &- pointee.base) & ~(SlabGeometry.mask & ~15) == 0
    return inSlab && ChunkLink.word(chunk, 1).pointee == pointee.tag
  }

  /// The free list's head is not a chunk the allocator put there: a freed chunk's link was
  /// overwritten (a use-after-free write), and that chunk has been handed out since.
  /// Reports the chunk whose first word still decodes to the bad head when there is one
  /// (it is the one whose link was overwritten), else the bad head itself, and aborts.
  @inline(never) func brokenList(_ head: UInt) -> Never {
    let size = UInt(pointee.chunkSize)
    var chunk = pointee.base
    while size > 0 && chunk < pointee.base + UInt(pointee.carved) {
      let words = ChunkLink.word(chunk, 0)
      if words.pointee ^ pointee.key == head { Diagnostics.corruption(chunk) }
      chunk += size
    }
    Diagnostics.corruption(head)
  }

  /// Takes the checked head off the free list. Hot.
  @inline(__always) func pop(_ chunk: UInt) -> UInt {
    pointee.free = ChunkLink.word(chunk, 0).pointee ^ pointee.key
    return chunk
  }

  /// Links a chunk onto the local free list and marks it freed.
  @inline(__always) func putLocal(_ chunk: UInt, tag: UInt) {
    let link = pointee.free ^ pointee.key
    ChunkLink.word(chunk, 0).pointee = link
    ChunkLink.word(chunk, 1).pointee = tag
    pointee.free = chunk
  }

  @inline(__always) func putLocal(_ chunk: UInt) { putLocal(chunk, tag: pointee.tag) }

  /// Puts never-used chunks on the empty local list, in address order: up to the end of
  /// the page the first one starts in, and at least four (a chunk of a page or more would
  /// otherwise take the slow path at every malloc). False when none are left.
  func carve() -> Bool {
    let first = pointee.base + UInt(pointee.carved)
    let end = pointee.base + UInt(pointee.carveLimit)
    guard first < end else { return false }
    let size = UInt(pointee.chunkSize)
    let limit = min(end, max((first | (OS.pageSize - 1)) + 1, first + 4 * size))
    guard countCarved((limit - first + size - 1) / size) else { return drainRemote() > 0 }
    var chunk = first
    while chunk + size < limit {
      ChunkLink.word(chunk, 0).pointee = (chunk + size) ^ pointee.key
      ChunkLink.word(chunk, 1).pointee = pointee.tag
      chunk += size
    }
    ChunkLink.word(chunk, 0).pointee = pointee.free ^ pointee.key
    ChunkLink.word(chunk, 1).pointee = pointee.tag
    pointee.free = first
    pointee.carved = UInt32(chunk + size - pointee.base)
    return true
  }

  // MARK: - Remote list

  /// Pushes a chunk freed by another thread with one compare-and-swap. Returns the word it
  /// replaced: its state `notify` means this caller must signal the owner, and one chunk
  /// out that this push brought every carved chunk back. A free when no chunk is out (a
  /// reaped slab's included) is a double free.
  func pushRemote(_ chunk: UInt) -> UInt {
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
      if done { return old }
      old = seen
    }
  }

  /// Moves every remotely freed chunk onto the local list, or makes the chunks of a
  /// reaped slab never-used again. Owner (or adopter) only. Returns how many came back.
  @discardableResult
  func drainRemote() -> Int {
    var old = pointee.remote.load(ordering: .relaxed)
    while true {
      if RemoteWord.state(old) == RemoteState.reaping { old = waitWhileReaping(); continue }
      let count = RemoteWord.count(old)
      if count == 0 { return 0 }
      let reaped = RemoteWord.headIndex(old) == 0
      let out = reaped ? 0 : RemoteWord.out(old) &+ count
      let (done, seen) = pointee.remote.compareExchange(
        expected: old, desired: RemoteWord.make(RemoteWord.state(old), out: out),
        successOrdering: .acquiring, failureOrdering: .relaxed)
      if done { return reaped ? reuseReaped(count: count) : spliceIntoLocal(remoteChunk(old), count: count) }
      old = seen
    }
  }

  /// Waits while the background thread returns this slab's memory (one madvise); in a
  /// forked child, whose repair finishes that return, runs the repair first.
  @inline(never) func waitWhileReaping() -> UInt {
    var waited = 0
    while true {
      let word = pointee.remote.load(ordering: .acquiring)
      if RemoteWord.state(word) != RemoteState.reaping { return word }
      if zms_needs_fork_repair() { zms_fork_repair() }
      waited += 1
      if waited & 63 == 0 { sched_yield() } else { zms_cpu_relax() }
    }
  }

  /// The reaper returned the pages of this slab, whose `count` chunks (all of them) were
  /// free: they become never-used chunks, carved again. A chunk on the local list now was
  /// freed after all had come back: a double free.
  private func reuseReaped(count: UInt) -> Int {
    if pointee.free != 0 { Diagnostics.doubleFree(pointee.free) }
    pointee.owner.store(ownerZone, ordering: .relaxed)
    pointee.carved = 0
    uncount(count)
    Reaper.noteReused(self)
    _ = carve()
    return Int(count)
  }

  /// `count` chunks came back to the owner: fewer are out.
  private func uncount(_ count: UInt) {
    if pointee.list == SlabList.current { pointee.handed &-= UInt32(count) } else { pointee.countdown &-= UInt32(count) }
  }

  /// Puts a detached remote list in front of the local list. When the local list is
  /// empty (the usual case: the owner drains when it runs dry) that is one store; else
  /// the list is walked to its tail, every link checked, the walk bounded by the count.
  private func spliceIntoLocal(_ head: UInt, count: UInt) -> Int {
    if count == 0 || count > UInt(pointee.capacity) { Diagnostics.corruption(head) }
    if pointee.free != 0 {
      var tail = head
      for _ in 1..<count {
        let next = ChunkLink.word(tail, 0).pointee ^ pointee.key
        if next == 0 || !ChunkLink.isPlausible(next, after: tail) { Diagnostics.corruption(tail) }
        tail = next
      }
      ChunkLink.word(tail, 0).pointee = pointee.free ^ pointee.key
    }
    pointee.free = head
    uncount(count)
    return Int(count)
  }

  /// Chunks handed out and not freed yet, locally or remotely: used less the remote
  /// list's count. Exact once nobody frees into the slab concurrently (its owner is gone
  /// and no chunk is live, or the caller owns it).
  var liveChunks: UInt {
    used &- RemoteWord.count(pointee.remote.load(ordering: .acquiring))
  }

  /// The first chunk on the remote list, 0 when it is empty.
  var remoteHead: UInt { remoteChunk(pointee.remote.load(ordering: .acquiring)) }

  /// The chunk a remote word's head names, 0 for none.
  @inline(__always) func remoteChunk(_ word: UInt) -> UInt {
    let index = RemoteWord.headIndex(word)
    return index == 0 ? 0 : pointee.base + ((index - 1) << 4)
  }

  @inline(__always) func remoteIndex(_ chunk: UInt) -> UInt { ((chunk - pointee.base) >> 4) + 1 }

  /// Counts `n` chunks about to be carved as out, before they are written: one CAS, which
  /// the reaper's cannot pass (Reaper.swift). False if the slab was reaped meanwhile.
  private func countCarved(_ n: UInt) -> Bool {
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

  /// The owning zone. While the reaper has returned the slab's memory (Reaper.swift) the
  /// owner field also has bit 0 set, so that a free by the owner itself fails the fast
  /// path's owner test and reaches the remote push, which reports the double free.
  var ownerZone: UInt { pointee.owner.load(ordering: .relaxed) & ~1 }

  /// True when the reaper returned the slab's memory and its owner has not taken it back.
  var isReaped: Bool { RemoteWord.isReaped(pointee.remote.load(ordering: .acquiring)) }

  // MARK: - Remote state transitions

  /// The owner found the slab exhausted: ask to be told about its next remote free.
  /// Returns false if chunks arrived meanwhile (the caller drains them instead).
  func requestNotify() -> Bool {
    var old = pointee.remote.load(ordering: .acquiring)
    while true {
      if RemoteWord.count(old) != 0 { return false }
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
      if RemoteWord.state(old) == RemoteState.reaping { old = waitWhileReaping(); continue }
      let (done, seen) = pointee.remote.compareExchange(
        expected: old, desired: (old & ~RemoteState.mask) | state,
        successOrdering: .acquiringAndReleasing, failureOrdering: .acquiring)
      if done { return }
      old = seen
    }
  }

  /// A span's only chunk was freed by a thread that does not own it: that thread takes the
  /// span with one CAS, from "normal, nothing queued, its chunk out" to parked. False when the span was
  /// parked already (a double free).
  func claimFreedSpan() -> Bool {
    pointee.remote.compareExchange(
      expected: RemoteWord.make(RemoteState.normal, out: 1), desired: RemoteState.parked, ordering: .acquiringAndReleasing
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
      let next = ChunkLink.word(p, 0).pointee ^ pointee.key
      if !ChunkLink.isPlausible(next, after: p) { return false }
      p = next
      steps += 1
    }
    return false
  }
}
