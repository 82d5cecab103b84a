// SlabChunks.swift: a slab's chunks in its owner's hands, as in DragonFly's kern_slaballoc.c.
//
// Owns: formatting a slab for a size class, the chunk geometry (chunk starts by one
// multiplication), the owner's local free list (checked pops, encoded pushes), carving
// never-used chunks onto it a page at a time, taking the remote list back into it, and
// the owner's count of chunks out (the countdown of local frees until the slab needs
// attention). Touches: only the slab it is handed; the words other threads share go
// through SlabState.swift.

import ZoneSupport
import Synchronization

extension UnsafeMutablePointer where Pointee == Slab {
  // MARK: - Formatting

  /// Lays out a slab (or a span: one chunk, several granules) for a class and hands it to
  /// `zone`. A span's chunk is as large as the bytes charged for it allow. No chunk is on
  /// the free list yet: they are carved onto it a page at a time (carve).
  func format(sizeClass c: Int, owner zone: UInt, node: Int, fresh: Bool) {
    let size = c < SizeClass.count ? SizeClass.size(of: c) : Int(pointee.charged)
    let capacity = SizeClass.capacity(of: c)
    let (key, tag) = SlabKeys.draw()
    pointee.free = 0
    pointee.key = key
    pointee.tag = tag
    pointee.base = memory
    setCarved(0)
    pointee.handed = 0
    pointee.carveLimit = UInt32(capacity * size)
    setChunkSize(size)
    pointee.capacity = UInt16(capacity)
    pointee.sizeClass = UInt8(c)
    pointee.list = SlabList.none
    pointee.countdown = 0 // nothing is out: never-used chunks are not `used`
    pointee.node = UInt8(node)
    pointee.fresh = fresh ? 1 : 0
    pointee.granules = UInt8(SizeClass.granules(of: c))
    pointee.sampled = 0
    pointee.next = 0
    pointee.prev = 0
    pointee.relinkNext = 0
    becomeOwned(by: zone)
  }

  private func setChunkSize(_ size: Int) {
    pointee.chunkSize = UInt32(size)
    pointee.startMagic = ChunkStart.magic(size: UInt32(size))
  }

  /// Chunks below `bytes` have been carved: they, and no others, are chunk starts.
  private func setCarved(_ bytes: UInt32) {
    pointee.carved = bytes
    let chunks = pointee.chunkSize == 0 ? 0 : bytes / pointee.chunkSize
    pointee.startLimit = chunks &* ChunkStart.step(magic: pointee.startMagic, size: pointee.chunkSize)
  }

  /// Grows a span's chunk in place to the bytes now charged for it (realloc).
  func growSpanToCharge() {
    setChunkSize(Int(pointee.charged))
    pointee.carveLimit = UInt32(pointee.charged)
    setCarved(UInt32(pointee.charged))
  }

  // MARK: - The owner's count

  /// Files the slab on an owner list, and sets how many local frees until the next event:
  /// the current slab never needs one (it is in the zone array already, and an empty
  /// current slab is kept: hysteresis); a full slab needs one at its first local free (it
  /// goes back to the partial list, so that the owner soon hands its free chunks out
  /// again: a full slab then holds no chunk on its local list, and when other threads
  /// free all of it, every chunk is on its remote list, where the reaper sees it empty);
  /// any other slab when its last chunk comes back
  /// (`used` chunks are out, in the owner's view: it is parked).
  /// (The current slab counts its hand-outs in `handed` instead: malloc adds one, and
  /// `used` is that less the local frees its countdown has seen. The zone counts them
  /// as mallocs when the slab stops being current: ThreadZone.enterCurrent, leaveCurrent.)
  func setList(_ list: UInt8, used: UInt = 0) {
    if list == SlabList.current { pointee.handed = UInt32(self.used) }
    pointee.list = list
    pointee.countdown = list == SlabList.current ? Self.currentCountdown
      : list == SlabList.full ? 1 : UInt32(used)
  }

  /// Chunks handed out and not back in the owner's view (remotely freed ones that were not
  /// drained count as out). What the countdown holds, except for the current slab (its
  /// hand-outs less its local frees) and a full one (all of its chunks, less the one
  /// local free that ends its countdown). Owner only.
  var used: UInt {
    switch pointee.list {
    case SlabList.current: return UInt(pointee.handed &- (Self.currentCountdown &- pointee.countdown))
    case SlabList.full: return UInt(pointee.capacity) - 1 + UInt(pointee.countdown)
    default: return UInt(pointee.countdown)
    }
  }

  /// The current slab's countdown: its event comes after 2^31 local frees, before
  /// `handed` (at most that, plus a slab's capacity) could wrap.
  static let currentCountdown: UInt32 = 1 << 31

  /// `count` chunks came back to the owner: fewer are out. (The current slab's countdown
  /// counts them as local frees: `handed` stays the count of its hand-outs.)
  private func uncount(_ count: UInt) { pointee.countdown &-= UInt32(count) }

  /// Chunks handed out and not freed yet, locally or remotely: used less the remote
  /// list's count. Exact once nobody frees into the slab concurrently (its owner is gone
  /// and no chunk is live, or the caller owns it).
  var liveChunks: UInt { used &- remoteCount }

  // MARK: - Chunk identity

  /// True when address is the start of a chunk that was handed out at least once: one
  /// multiplication and one comparison (ChunkStart). Chunks start at the unit's first
  /// byte, and units are granule aligned, so the offset in the granule is the offset in
  /// the slab (an address in a span's later granule finds a zeroed header, whose limit 0
  /// passes nothing). Hot.
  @inline(__always) func isChunkStart(_ address: UInt) -> Bool {
    let offset = UInt32(truncatingIfNeeded: address & SlabGeometry.mask)
    return offset &* pointee.startMagic < pointee.startLimit
  }

  // MARK: - The local list (hot)

  /// Pops a chunk from the local free list, checked, its tag cleared; 0 when the list is
  /// empty.
  @inline(__always) func takeLocal() -> UInt {
    let chunk = pointee.free
    if _slowPath(!claimHead(chunk)) {
      if chunk == 0 { return 0 }
      brokenList(chunk)
    }
    return pop(chunk)
  }

  /// The head of the free list lies in the slab, 16-byte aligned, and carries the tag
  /// (only a chunk the allocator put on the list does), which it loses here: one XOR
  /// clears and tests it. False for an empty list as well (0 lies in no slab, and the
  /// sentinel slab's base is not 0), so the fast paths test the head once. Hot.
  @inline(__always) func claimHead(_ chunk: UInt) -> Bool {
    let inSlab = (chunk &- pointee.base) & ~(SlabGeometry.mask & ~(SlabGeometry.quantum - 1)) == 0
    if !inSlab { return false }
    let word = ChunkLink.word(chunk, 1)
    let rest = word.pointee ^ pointee.tag
    word.pointee = rest
    return rest == 0
  }

  /// The free list's head is not a chunk the allocator put there: a freed chunk's link was
  /// overwritten (a use-after-free write), and that chunk has been handed out since.
  /// Reports the chunk whose first word still decodes to the bad head when there is one
  /// (it is the one whose link was overwritten), else the bad head itself, and aborts.
  @inline(never) func brokenList(_ head: UInt) -> Never {
    let size = UInt(pointee.chunkSize)
    var chunk = pointee.base
    while size > 0 && chunk < pointee.base + UInt(pointee.carved) {
      if ChunkLink.word(chunk, 0).pointee ^ pointee.key == head { Diagnostics.corruption(chunk) }
      chunk += size
    }
    Diagnostics.corruption(head)
  }

  /// Takes the checked head off the free list. Hot.
  @inline(__always) func pop(_ chunk: UInt) -> UInt {
    pointee.free = ChunkLink.word(chunk, 0).pointee ^ pointee.key
    return chunk
  }

  /// Links a chunk onto the local free list and marks it freed. Hot.
  @inline(__always) func putLocal(_ chunk: UInt, tag: UInt) {
    let link = pointee.free ^ pointee.key
    ChunkLink.word(chunk, 0).pointee = link
    ChunkLink.word(chunk, 1).pointee = tag
    pointee.free = chunk
  }

  @inline(__always) func putLocal(_ chunk: UInt) { putLocal(chunk, tag: pointee.tag) }

  /// True while some chunks were never carved (never handed out). Owner only.
  var hasUncarvedChunks: Bool { pointee.carved < pointee.carveLimit }

  /// Puts never-used chunks on the empty local list, in address order: up to the end of
  /// the page the first one starts in, and at least four (a chunk of a page or more would
  /// otherwise take the slow path at every malloc). False when none are left.
  func carve() -> Bool {
    let first = pointee.base + UInt(pointee.carved)
    let end = pointee.base + UInt(pointee.carveLimit)
    guard first < end else { return false }
    let size = UInt(pointee.chunkSize)
    let limit = min(end, max((first | (OS.pageSize - 1)) + 1, first + 4 * size))
    var chunk = first
    while chunk + size < limit {
      ChunkLink.word(chunk, 0).pointee = (chunk + size) ^ pointee.key
      ChunkLink.word(chunk, 1).pointee = pointee.tag
      chunk += size
    }
    ChunkLink.word(chunk, 0).pointee = pointee.free ^ pointee.key
    ChunkLink.word(chunk, 1).pointee = pointee.tag
    pointee.free = first
    setCarved(UInt32(chunk + size - pointee.base))
    return true
  }

  // MARK: - Taking the remote list back

  /// Moves every remotely freed chunk onto the local list, or makes the chunks of a
  /// reaped slab never-used again. Owner (or adopter) only. Returns how many came back.
  @discardableResult @inline(__always)
  func drainRemote() -> Int {
    guard remoteCount != 0, let detached = detachRemote() else { return 0 }
    if detached.reaped { return reuseReaped(count: detached.count) }
    return spliceIntoLocal(detached.head, count: detached.count)
  }

  /// The reaper returned the pages of this slab, whose `count` chunks (all of them) were
  /// free: they become never-used chunks, carved again. A chunk on the local list now was
  /// freed after all had come back: a double free.
  private func reuseReaped(count: UInt) -> Int {
    if pointee.free != 0 { Diagnostics.doubleFree(pointee.free) }
    reclaimReaped()
    setCarved(0)
    uncount(count)
    Reaper.noteReused(self)
    _ = carve()
    return Int(count)
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
