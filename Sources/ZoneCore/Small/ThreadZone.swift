// ThreadZone.swift: a thread's zone array (DragonFly's ZoneAry) and the small-object paths.
//
// Owns: the Zone record, the malloc and free fast paths for small sizes, the medium path
// (spans), and the owner's slow paths: refilling a class, detaching a full slab,
// relinking slabs that other threads signalled, and parking slabs that emptied.
// Touches: slabs it owns (Slab.swift), the relink stack of other zones (one CAS push when it
// signals), and Orphans, Depot and Arena when it needs a slab.
//
// Each thread owns, per size class, a current slab, a list of partial slabs and a list of
// full slabs it took out of the array. The malloc fast path is: thread slot, the current
// slab of the request's 16-byte bucket (a table: no class arithmetic up to 1 KiB), pop
// from its local list (checked: in the slab, aligned, carrying the slab's tag), count.
// The free fast path is: region table, slab header by arithmetic on the address,
// chunk-start check (one multiplication), freed-tag check, owner check, push on the local
// list, one decrement that says when the slab needs attention. Neither takes a lock or
// executes an atomic read-modify-write. Counters are plain per-thread words, summed when
// read (Stats.swift), as seed 003 moved kmalloc accounting per cpu.

import ZoneSupport
import Synchronization

struct Zone: ~Copyable {
  // First, as the C empty zone mirrors them (ZMS_SENTINEL_WORDS): the current slab of the
  // class of each 16-byte bucket of sizes up to 1 KiB, then of each class.
  var direct: InlineArray<65, UInt>
  var current: InlineArray<64, UInt>
  var mallocs: UInt                    // chunks this thread handed out (slabs and spans)
  var frees: UInt                      // chunks this thread freed (local or remote)
  var allocatedBytes: UInt             // bytes of the tick's ended periods (Sampling.settle)
  var freedBytes: UInt
  var partial: InlineArray<64, UInt>   // slabs with free chunks, not current
  var full: InlineArray<64, UInt>      // exhausted slabs waiting for a signal or a local free
  var cache: InlineArray<32, UInt>     // empty slabs and spans kept for reuse, by charge class - 1
  var cachedGranules: UInt
  var remoteFrees: UInt
  var signals: UInt
  var node: UInt
  var reclaimEpoch: UInt
  var tick: Int                        // bytes until the next sampling event (Sampling.swift)
  var tickPeriod: Int                  // ... out of a period of this many
  var tickBig: UInt                    // bytes of big blocks in the tick's current period
  var profileLeft: Int                 // bytes until the next profiled allocation
  var guardLeft: Int                   // bytes until the next guarded allocation
  var linkNext: UInt                   // live/dead/free zone lists          [zones lock]
  var linkPrev: UInt
  var padding: (UInt, UInt)
  let relink: Atomic<UInt>             // slabs signalled back by other threads (own line)
}

typealias ZonePointer = UnsafeMutablePointer<Zone>

enum ThreadZone {
  /// Granules of empty slabs and spans a zone keeps for itself (512 KiB).
  static let cacheBudget: UInt = 8

  /// The calling thread's zone (the empty zone until its first slow path). Hot.
  @inline(__always) static var current: ZonePointer {
    zms_zone().unsafelyUnwrapped.assumingMemoryBound(to: Zone.self)
  }

  @inline(__always) static var sentinel: UInt { Zones.empty.pointee.current[0] }

  /// Sizes up to this are served through the bucket table (Zone.direct).
  static let directLimit: UInt = 1024

  // MARK: - Fast paths

  /// malloc for 0 ... 1 KiB: the current slab of the size's 16-byte bucket. Hot.
  /// Every way out is a jump: its slow paths use the C calling convention, as zm_malloc
  /// does (LLVM makes no tail call across conventions), so it needs no stack frame.
  @inline(__always) static func mallocDirect(_ size: UInt) -> UnsafeMutableRawPointer? {
    let zone = current
    let slab = slabAt(zone.pointee.direct[Int((size &+ 15) >> 4)])
    let chunk = slab.pointee.free
    if _slowPath(chunk == 0) { return zmcore_refill_direct(UnsafeMutableRawPointer(zone), size) }
    if _slowPath(!slab.isIntactHead(chunk)) { return zmcore_corrupt_list(UnsafeMutableRawPointer(slab), chunk) }
    return handOut(zone, slab, slab.pop(chunk))
  }

  /// malloc for 0 ... SizeClass.limit bytes.
  @inline(__always) static func malloc(_ size: UInt) -> UnsafeMutableRawPointer? {
    malloc(class: SizeClass.index(for: Int(size)), in: current)
  }

  /// A chunk of class c from the zone's current slab, or the slow path.
  @inline(__always) static func malloc(class c: Int, in zone: ZonePointer) -> UnsafeMutableRawPointer? {
    let slab = slabAt(zone.pointee.current[c])
    let chunk = slab.takeLocal()
    if _fastPath(chunk != 0) { return handOut(zone, slab, chunk) }
    return refill(zone, c)
  }

  /// calloc for small sizes: a chunk cleared (chunks on a list hold a link and the tag).
  static func calloc(_ size: UInt) -> UnsafeMutableRawPointer? {
    guard let p = malloc(size) else { return nil }
    memset(p, 0, Int(size))
    return p
  }

  /// Hands a chunk just taken from the slab to the program and counts it, unless the
  /// thread's sampling tick runs out on it (Sampling.swift). Hot.
  @inline(__always) static func handOut(_ zone: ZonePointer, _ slab: SlabPointer,
                                        _ chunk: UInt) -> UnsafeMutableRawPointer {
    ChunkLink.word(chunk, 1).pointee = 0
    slab.pointee.handed &+= 1
    zone.pointee.mallocs &+= 1
    let tick = zone.pointee.tick &- Int(slab.pointee.chunkSize)
    zone.pointee.tick = tick
    if _slowPath(tick < 0) { return zmcore_tick_expired(UnsafeMutableRawPointer(zone), UnsafeMutableRawPointer(slab), chunk) }
    return UnsafeMutableRawPointer(bitPattern: chunk).unsafelyUnwrapped
  }

  /// Puts back a chunk handed out but served elsewhere (Sampling), and its count: a
  /// slab's chunk returns to its local list; a span, which held only that chunk, is parked.
  static func giveBack(_ zone: ZonePointer, _ slab: SlabPointer, _ chunk: UInt) {
    zone.pointee.mallocs &-= 1
    zone.pointee.allocatedBytes &-= UInt(slab.pointee.chunkSize)
    slab.pointee.handed &-= 1
    if slab.pointee.capacity == 1 { return park(zone, slab) }
    slab.putLocal(chunk)
  }

  /// Makes slab the current one of class c, in the class array and the bucket table.
  static func setCurrent(_ zone: ZonePointer, _ c: Int, _ slab: UInt) {
    zone.pointee.current[c] = slab
    guard c < SizeClass.directClasses else { return }
    for b in SizeClass.buckets(of: c) { zone.pointee.direct[b] = slab }
  }

  /// free of an address inside a slab arena. Hot.
  @inline(__always) static func free(_ address: UInt, _ slab: SlabPointer) {
    if _slowPath(!slab.isChunkStart(address)) { return Allocator.freeNotAChunk(address) }
    let tag = slab.pointee.tag
    if _slowPath(ChunkLink.word(address, 1).pointee == tag) { return freeTagged(slab, address) }
    freeChunk(slab, address, tag: tag)
  }

  @inline(__always) static func freeChunk(_ slab: SlabPointer, _ address: UInt, tag: UInt) {
    let zone = current
    if _fastPath(slab.pointee.owner.load(ordering: .relaxed) == UInt(bitPattern: zone)) {
      slab.putLocal(address, tag: tag)
      zone.pointee.frees &+= 1
      zone.pointee.freedBytes &+= UInt(slab.pointee.chunkSize)
      let countdown = slab.pointee.countdown &- 1
      slab.pointee.countdown = countdown
      if _slowPath(countdown == 0) { localFreeEvent(zone, slab) }
    } else {
      freeRemote(zone, slab, address)
    }
  }

  // MARK: - Free slow paths

  /// The chunk carries the freed tag: it is free already (a double free), unless the
  /// program stored the tag's random value there itself. Every free writes the tag and
  /// every hand-out clears it, so the tag alone is the evidence for a thread that does
  /// not own the slab: it may not walk the owner's local list, where an owner's free put
  /// the chunk, and the owner may have moved a remote list there meanwhile. The owner
  /// makes sure by finding the chunk on its lists.
  @inline(never) static func freeTagged(_ slab: SlabPointer, _ address: UInt) {
    let mine = slab.ownerZone == UInt(bitPattern: current)
    if !mine || slab.holdsFreeChunk(address) { Diagnostics.doubleFree(address) }
    freeChunk(slab, address, tag: slab.pointee.tag)
  }

  /// A chunk freed by a thread that does not own its slab: one CAS onto the remote list.
  /// Only when that push finds the slab detached as full is the owner told (seed 003);
  /// when it brings the slab's last chunk back, the reaper hears of it (Reaper.swift).
  /// A span has one chunk, so its remote free empties it: the freer claims the span with
  /// one CAS and parks it in the depot, where its owner's next span finds it (not in the
  /// freer's own cache, which nobody else can take from or release while the freer
  /// sleeps); the owner never hears of it.
  @inline(never) static func freeRemote(_ zone0: ZonePointer, _ slab: SlabPointer, _ address: UInt) {
    let bytes = UInt(slab.pointee.chunkSize)
    var zone = zone0
    if zone == Zones.empty, let created = Zones.createForCurrentThread() { zone = created }
    var signalled = false
    if slab.pointee.capacity == 1 {
      if !slab.claimFreedSpan() { Diagnostics.doubleFree(address) }
      if slab.pointee.sampled != 0 { Profiler.noteSpanFreed(slab) }
      Depot.prepareForParking(slab)
      Depot.put(slab)
    } else {
      let old = slab.pushRemote(address)
      signalled = RemoteWord.state(old) == RemoteState.notify
      if signalled { signalOwner(slab) }
      if RemoteWord.out(old) == 1 && RemoteWord.state(old) == RemoteState.normal {
        Reaper.queue(slab)
      }
    }
    if Zones.isPlaceholder(zone) {
      Stats.noteZonelessFree(bytes: bytes, remote: true, signal: signalled)
    } else {
      zone.pointee.remoteFrees &+= 1
      zone.pointee.frees &+= 1
      zone.pointee.freedBytes &+= bytes
      if signalled { zone.pointee.signals &+= 1 }
    }
  }

  /// Pushes a slab onto its owner's relink stack, then ends the signalling state.
  static func signalOwner(_ slab: SlabPointer) {
    let ownerAddress = slab.pointee.owner.load(ordering: .acquiring) & ~1
    let owner = ZonePointer(bitPattern: ownerAddress).unsafelyUnwrapped
    var head = owner.pointee.relink.load(ordering: .relaxed)
    while true {
      slab.pointee.relinkNext = head
      let (done, seen) = owner.pointee.relink.compareExchange(
        expected: head, desired: slab.address, successOrdering: .releasing, failureOrdering: .relaxed)
      if done { break }
      head = seen
    }
    slab.finishSignal()
  }

  /// A local free ran the slab's countdown out (Slab.setList): a full slab got a chunk
  /// back, another slab emptied, or the current slab's countdown merely wrapped.
  @inline(never) static func localFreeEvent(_ zone: ZonePointer, _ slab: SlabPointer) {
    let c = Int(slab.pointee.sizeClass)
    switch slab.pointee.list {
    case SlabList.current:
      slab.setList(SlabList.current) // the countdown wrapped; keep the current slab, even empty
    case SlabList.full:
      unlink(zone, c, slab)
      SlabChain.push(&zone.pointee.partial[c], slab)
      slab.setList(SlabList.partial, used: UInt(slab.pointee.capacity) - 1)
    default:
      if slab.pointee.sampled != 0 { Profiler.noteSpanFreed(slab) }
      unlink(zone, c, slab)
      park(zone, slab)
    }
  }

  /// Takes a slab off the partial or full list (a full one stops asking for a signal).
  static func unlink(_ zone: ZonePointer, _ c: Int, _ slab: SlabPointer) {
    if slab.pointee.list == SlabList.full {
      slab.setRemoteState(RemoteState.normal)
      SlabChain.remove(&zone.pointee.full[c], slab)
    } else if slab.pointee.list == SlabList.partial {
      SlabChain.remove(&zone.pointee.partial[c], slab)
    }
    slab.setList(SlabList.none)
  }

  /// An empty slab or span leaves the zone: into the zone's small cache, or the depot.
  static func park(_ zone: ZonePointer, _ slab: SlabPointer) {
    Depot.prepareForParking(slab)
    let g = UInt(slab.pointee.granules)
    if zone.pointee.cachedGranules + g <= cacheBudget {
      let q = ChargeClass.index(of: slab.pointee.charged) - 1
      slab.pointee.next = zone.pointee.cache[q]
      zone.pointee.cache[q] = slab.address
      zone.pointee.cachedGranules += g
      Stats.cachedGranules.wrappingAdd(g, ordering: .relaxed)
    } else {
      Depot.put(slab)
    }
  }

  /// An empty slab or span of charge class q from the zone's cache, or nil.
  private static func takeCached(_ zone: ZonePointer, chargeClass q: Int) -> SlabPointer? {
    let head = zone.pointee.cache[q - 1]
    guard head != 0 else { return nil }
    let slab = slabAt(head)
    guard slab.pointee.list == SlabList.parked else {
      // Only a zone lost in a fork mid-update can get here: drop the rest of the list.
      zone.pointee.cache[q - 1] = 0
      return nil
    }
    let g = UInt(slab.pointee.granules)
    zone.pointee.cache[q - 1] = slab.pointee.next
    zone.pointee.cachedGranules -= g
    Stats.cachedGranules.wrappingSubtract(g, ordering: .relaxed)
    return slab
  }

  /// Hands every cached empty slab and span to the depot (reclaim, teardown).
  static func flushCache(_ zone: ZonePointer) {
    var chain = SlabChain()
    for q in 1...ChargeClass.count {
      while let slab = takeCached(zone, chargeClass: q) { chain.append(slab) }
    }
    Depot.put(chain)
  }

  // MARK: - Refill (the malloc slow path)

  @inline(never) static func refill(_ zone0: ZonePointer, _ c: Int) -> UnsafeMutableRawPointer? {
    var zone = zone0
    if zone == Zones.exited { return ExitZone.malloc(c) }
    if zone == Zones.empty {
      guard let created = Zones.createForCurrentThread() else { return nil }
      zone = created
    }
    maintain(zone)
    guard let slab = slabWithFreeChunk(zone, c) else { return nil }
    return handOut(zone, slab, slab.takeLocal())
  }

  /// Per-slow-path housekeeping: take back signalled slabs, answer a reclaim request.
  static func maintain(_ zone: ZonePointer) {
    if zone.pointee.relink.load(ordering: .relaxed) != 0 { relinkSignalled(zone) }
    let epoch = Limit.epoch.load(ordering: .relaxed)
    if zone.pointee.reclaimEpoch != epoch {
      zone.pointee.reclaimEpoch = epoch
      flushCache(zone)
    }
  }

  /// Slabs other threads signalled re-enter the zone array as partial slabs.
  static func relinkSignalled(_ zone: ZonePointer) {
    var next = zone.pointee.relink.exchange(0, ordering: .acquiring)
    while next != 0 {
      let slab = slabAt(next)
      next = slab.pointee.relinkNext
      let mine = slab.ownerZone == UInt(bitPattern: zone)
      guard mine, slab.pointee.list == SlabList.full else { continue }
      let c = Int(slab.pointee.sizeClass)
      SlabChain.remove(&zone.pointee.full[c], slab)
      SlabChain.push(&zone.pointee.partial[c], slab)
      slab.setList(SlabList.partial, used: UInt(slab.pointee.capacity))
    }
  }

  /// Makes the current slab of class c one that has a free chunk, or returns nil (ENOMEM).
  /// The current slab first takes back what other threads freed (reusing dirty memory
  /// before it touches more), then carves never-used chunks; a slab with neither is
  /// retired and the next candidate tried.
  static func slabWithFreeChunk(_ zone: ZonePointer, _ c: Int) -> SlabPointer? {
    let current = slabAt(zone.pointee.current[c])
    if current.address != sentinel {
      if current.pointee.free != 0 || current.drainRemote() > 0 || current.carve() { return current }
      setCurrent(zone, c, sentinel)
      retireExhausted(zone, c, current)
    }
    while let slab = nextCandidate(zone, c) {
      slab.setList(SlabList.current)
      if slab.pointee.free != 0 || slab.drainRemote() > 0 || slab.carve() {
        setCurrent(zone, c, slab.address)
        return slab
      }
      retireExhausted(zone, c, slab)
    }
    return nil
  }

  /// An exhausted slab (every chunk handed out, in the owner's view) goes to the full
  /// list and asks for a signal; if chunks arrived in the meantime it goes to the partial
  /// list instead.
  static func retireExhausted(_ zone: ZonePointer, _ c: Int, _ slab: SlabPointer) {
    if slab.requestNotify() {
      SlabChain.push(&zone.pointee.full[c], slab)
      slab.setList(SlabList.full)
    } else {
      SlabChain.push(&zone.pointee.partial[c], slab)
      slab.setList(SlabList.partial, used: UInt(slab.pointee.capacity))
    }
  }

  /// The next slab to try: a partial one, an orphan to adopt, or an empty one formatted now.
  static func nextCandidate(_ zone: ZonePointer, _ c: Int) -> SlabPointer? {
    if let slab = SlabChain.pop(&zone.pointee.partial[c]) { return slab }
    if let slab = Orphans.adopt(c, by: zone) { return slab }
    if let slab = formatEmpty(zone, c, charge: SlabGeometry.size) { return slab }
    if Zones.reapOneDead(), let slab = Orphans.adopt(c, by: zone) { return slab }
    return nil
  }

  /// An empty slab or span for class c, formatted and owned by the zone, with at least
  /// `charge` bytes charged to the limit for it, or nil (ENOMEM).
  static func formatEmpty(_ zone: ZonePointer, _ c: Int, charge: UInt) -> SlabPointer? {
    guard let (slab, fresh) = takeEmpty(zone, granules: SizeClass.granules(of: c), charge: charge) else {
      return nil
    }
    slab.format(sizeClass: c, owner: UInt(bitPattern: zone), node: Arena.node(of: slab.memory),
                fresh: fresh)
    Stats.slabsInUse.wrappingAdd(UInt(slab.pointee.granules), ordering: .relaxed)
    Stats.activeBytes.wrappingAdd(slab.pointee.charged, ordering: .relaxed)
    return slab
  }

  /// Empty memory of `granules`: the zone's cache, the node's depot, or the arena, with
  /// `charge` bytes charged to the limit (a reused unit keeps a larger charge: its dirty
  /// pages are resident). The flag says whether it is fresh from the OS (zero).
  private static func takeEmpty(_ zone: ZonePointer, granules: Int, charge: UInt) -> (SlabPointer, Bool)? {
    let node = Int(zone.pointee.node)
    let q = ChargeClass.index(of: charge)
    let reused = takeCached(zone, chargeClass: q).map { ($0, false) }
      ?? Depot.take(node, granules: granules, chargeClass: q)
    if let (slab, fresh) = reused {
      if Limit.charge(slab, atLeast: charge) { return (slab, fresh) }
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

  // MARK: - Medium blocks (spans)

  /// A span is charged its chunk's pages, not its whole granules: pages past the chunk
  /// are never touched, and the limit counts what can be resident. Spans are filed by
  /// 16 KiB charge class, so a span reused from its class differs from the request by
  /// at most 12 KiB: no system call, at most three page faults.
  static func spanCharge(_ size: UInt) -> UInt {
    OS.pageRound(size)
  }

  /// realloc of a span's chunk within its granules: charge the pages and grow in place.
  static func growSpan(_ address: UInt, to size: UInt) -> UnsafeMutableRawPointer? {
    let span = slabOf(address)
    let charged = span.pointee.charged
    let chunk = UInt(span.pointee.chunkSize)
    guard span.pointee.capacity == 1,
          size <= UInt(span.pointee.granules) * SlabGeometry.size,
          Limit.charge(span, atLeast: spanCharge(size)) else { return nil }
    span.growSpanToCharge()
    Stats.activeBytes.wrappingAdd(span.pointee.charged &- charged, ordering: .relaxed)
    Stats.spanGrowthBytes.wrappingAdd(UInt(span.pointee.chunkSize) &- chunk, ordering: .relaxed)
    return UnsafeMutableRawPointer(bitPattern: address)
  }

  /// malloc for SizeClass.limit < size <= SizeClass.mediumLimit: a span of its own, from
  /// the zone's cache in the common case (no lock).
  static func mallocMedium(_ size: UInt, zeroed: Bool) -> UnsafeMutableRawPointer? {
    let zone = current
    if zone == Zones.exited { return ExitZone.mallocMedium(size, zeroed: zeroed) }
    if zone == Zones.empty {
      guard let created = Zones.createForCurrentThread() else { return nil }
      return mallocMedium(size, zeroed: zeroed, in: created)
    }
    return mallocMedium(size, zeroed: zeroed, in: zone)
  }

  static func mallocMedium(_ size: UInt, zeroed: Bool, in zone: ZonePointer) -> UnsafeMutableRawPointer? {
    let c = SizeClass.spanClass(granules: SizeClass.granules(for: Int(size)))
    guard let span = formatEmpty(zone, c, charge: spanCharge(size)) else { return nil }
    let fresh = span.pointee.fresh != 0
    _ = span.carve()
    let p = handOut(zone, span, span.takeLocal())
    if zeroed { memset(p, 0, fresh && UInt(bitPattern: p) == span.pointee.base ? 16 : Int(size)) }
    return p
  }
}

/// An intrusive list of slabs through Slab.next/prev: doubly linked when it lives in a
/// head word (zone and depot lists), singly linked as a local batch (SlabChain value).
struct SlabChain {
  var head: UInt = 0
  var count: UInt = 0

  mutating func append(_ slab: SlabPointer) {
    slab.pointee.next = head
    head = slab.address
    count += 1
  }

  mutating func pop() -> SlabPointer? {
    guard head != 0 else { return nil }
    let slab = slabAt(head)
    head = slab.pointee.next
    count -= 1
    return slab
  }

  static func push(_ head: inout UInt, _ slab: SlabPointer) {
    slab.pointee.prev = 0
    slab.pointee.next = head
    if head != 0 { slabAt(head).pointee.prev = slab.address }
    head = slab.address
  }

  static func pop(_ head: inout UInt) -> SlabPointer? {
    guard head != 0 else { return nil }
    let slab = slabAt(head)
    remove(&head, slab)
    return slab
  }

  static func remove(_ head: inout UInt, _ slab: SlabPointer) {
    let next = slab.pointee.next
    let prev = slab.pointee.prev
    if prev != 0 { slabAt(prev).pointee.next = next } else { head = next }
    if next != 0 { slabAt(next).pointee.prev = prev }
    slab.pointee.next = 0
    slab.pointee.prev = 0
  }
}

// The fast paths' slow paths, in the C calling convention so that the fast paths reach
// them with a jump (the version script keeps these names local).

/// The bucket table's slow path, with what a failure needs (ENOMEM, or a page-granular
/// block when address space for arenas ran out).
@c(zmcore_refill_direct) @inline(never)
func zmcore_refill_direct(_ zone: UnsafeMutableRawPointer, _ size: UInt) -> UnsafeMutableRawPointer? {
  ThreadZone.refill(zone.assumingMemoryBound(to: Zone.self), SizeClass.index(for: Int(size)))
    ?? Allocator.noSlabMemory(size, zeroed: false)
}

/// A broken free list found by the fast path.
@c(zmcore_corrupt_list) @inline(never)
func zmcore_corrupt_list(_ slab: UnsafeMutableRawPointer, _ chunk: UInt) -> UnsafeMutableRawPointer? {
  slab.assumingMemoryBound(to: Slab.self).brokenList(chunk)
}

/// The sampling tick ran out on a chunk handed out (Sampling.expired).
@c(zmcore_tick_expired) @inline(never)
func zmcore_tick_expired(_ zone: UnsafeMutableRawPointer, _ slab: UnsafeMutableRawPointer,
                         _ chunk: UInt) -> UnsafeMutableRawPointer {
  Sampling.expired(zone.assumingMemoryBound(to: Zone.self), slab.assumingMemoryBound(to: Slab.self), chunk)
}
