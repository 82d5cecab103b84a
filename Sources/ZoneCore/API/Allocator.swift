// Allocator.swift: the exported C API.
//
// zonemalloc in one paragraph. Small blocks (up to 16 KiB) come from 64 KiB slabs, each
// owned by one thread and holding chunks of one size class; a thread's slabs form its
// zone array (ThreadZone), so malloc and free of the thread's own memory take no lock and
// no atomic instruction. Medium blocks (up to 512 KiB) are spans: slabs of one chunk over
// 1 to 8 granules, sharing the slab paths, caches and depots. A chunk freed by another thread is pushed on its slab's remote
// list with one CAS, and the owner hears about it only when the slab has to come back into
// its zone array (Slab, ThreadZone). Slabs are carved from reserved, aligned arenas
// (Arena) whose 4 GiB windows are entered in a region table, so free() recognises its own
// chunks, and foreign pointers, safely. Empty slabs go to per-node depots with hysteresis
// (Depot); an exiting thread's slabs go there or become orphans for others to adopt
// (Teardown, Orphans), with at most ncpus teardowns at once. Big blocks are mappings,
// cached after free and unmapped lazily in bounded batches (BigBlocks, LazyUnmap). A
// memory limit reclaims caches in order and then refuses with ENOMEM (Limit). Fork,
// NUMA, statistics and the background release thread have a file each.
//
// Owns: the zm_* entry points and glibc's semantics for each: errno values, realloc(p, 0)
// freeing, alignment rules, usable sizes. ZoneExports aliases the libc names to these.
// Touches: ThreadZone (small), GuardedSlots (sampled blocks), BigBlocks (big), Foreign
// (glibc's pointers), Stats, Limit, ProfileDump (zm_prof_dump).

import ZoneSupport
import Synchronization

enum Allocator {
  static let smallLimit = UInt(SizeClass.limit)
  static let mediumLimit = UInt(SizeClass.mediumLimit)

  @inline(never) static func outOfMemory() -> UnsafeMutableRawPointer? {
    zms_set_errno(ENOMEM)
    return nil
  }

  /// A small or medium request found no slab memory. When address space for arena
  /// windows has run out (ulimit -v), it is served as a page-granular big block instead;
  /// otherwise (the memory limit) it fails.
  @inline(never) static func noSlabMemory(_ size: UInt, zeroed: Bool) -> UnsafeMutableRawPointer? {
    guard Arena.exhausted else { return outOfMemory() }
    return BigBlocks.allocate(size, alignment: OS.pageSize, zeroed: zeroed) ?? outOfMemory()
  }

  /// An address in an arena window that is not a live chunk start: if it lies outside the
  /// window's reserved part it is somebody else's (free goes on as for any address
  /// outside the arenas); inside, it is an invalid pointer.
  @inline(never) static func notAChunk(_ address: UInt, _ function: StaticString) {
    let userSpace = address >> 47 == 0 // free's table lookup lets higher addresses alias a window
    if !userSpace || Arena.isReserved(address) { Diagnostics.invalidPointer(function, address) }
  }

  /// malloc above the slab classes: a span (medium) or a big block.
  @inline(never) static func mallocLarger(_ size: UInt, zeroed: Bool) -> UnsafeMutableRawPointer? {
    if size <= mediumLimit {
      return ThreadZone.mallocMedium(size, zeroed: zeroed) ?? noSlabMemory(size, zeroed: zeroed)
    }
    return BigBlocks.allocate(size, alignment: OS.pageSize, zeroed: zeroed) ?? outOfMemory()
  }

  /// free() of an arena address that is no chunk start.
  @inline(never) static func freeNotAChunk(_ address: UInt) {
    notAChunk(address, "free")
    freeOutsideArena(address)
  }

  /// free() of an address outside the slab arenas: NULL, a guarded block, a big block,
  /// glibc's, or invalid.
  @inline(never) static func freeOutsideArena(_ address: UInt) {
    if address == 0 { return }
    if GuardedSlots.free(address) { return }
    if BigBlocks.free(address) { return }
    if Foreign.glibcUsableSize(address) != nil {
      __libc_free(UnsafeMutableRawPointer(bitPattern: address))
      return
    }
    Diagnostics.invalidPointer("free", address)
  }

  /// The chunk size of a small block, after checking the pointer is a live chunk start;
  /// nil for an address in the unreserved part of an arena window (somebody else's).
  static func smallUsableSize(_ address: UInt, _ function: StaticString) -> UInt? {
    let slab = slabOf(address)
    if !slab.isChunkStart(address) || slab.remoteState == RemoteState.parked {
      notAChunk(address, function)
      return nil
    }
    return UInt(slab.pointee.chunkSize)
  }

  /// Moves a block: allocate, copy, free. nil (old block intact) when out of memory.
  static func move(_ address: UInt, usable: UInt, to size: UInt) -> UnsafeMutableRawPointer? {
    guard let fresh = zm_malloc(size) else { return nil }
    let n = min(usable, size)
    memcpy(fresh, UnsafeRawPointer(bitPattern: address).unsafelyUnwrapped, Int(n))
    Stats.reallocCopied.wrappingAdd(n, ordering: .relaxed)
    zm_free(UnsafeMutableRawPointer(bitPattern: address))
    return fresh
  }

  /// Allocation aligned to a power of two. A guarded block is only page aligned, so
  /// larger alignments are never guarded.
  static func aligned(_ alignment: UInt, _ size: UInt) -> UnsafeMutableRawPointer? {
    if alignment <= 16 { return zm_malloc(size) }
    if alignment > OS.pageSize { return Sampling.holdingOff { alignedChunk(alignment, size) } }
    return alignedChunk(alignment, size)
  }

  /// Small sizes use a class whose chunks are naturally aligned; medium sizes a span (its
  /// chunk is 64 KiB aligned) when that suffices; the rest are big blocks (over-mapped
  /// and trimmed past a page).
  private static func alignedChunk(_ alignment: UInt, _ size: UInt) -> UnsafeMutableRawPointer? {
    if size <= smallLimit, let c = SizeClass.index(for: Int(size), alignedTo: Int(alignment)) {
      return ThreadZone.malloc(UInt(SizeClass.size(of: c))) ?? (alignment <= OS.pageSize ? noSlabMemory(size, zeroed: false) : outOfMemory())
    }
    if size <= mediumLimit && alignment <= SlabGeometry.size {
      return mallocLarger(max(size, smallLimit + 1), zeroed: false)
    }
    return BigBlocks.allocate(size, alignment: alignment, zeroed: false) ?? outOfMemory()
  }

  static func isPowerOfTwo(_ x: UInt) -> Bool { x != 0 && x & (x &- 1) == 0 }
}

// MARK: - The malloc family

@c(zm_malloc)
public func zm_malloc(_ size: UInt) -> UnsafeMutableRawPointer? {
  if _fastPath(size <= ThreadZone.directLimit) { return ThreadZone.mallocDirect(size) }
  return zmcore_malloc_above_direct(size)
}

/// malloc above the bucket table's sizes: the other slab classes, spans, big blocks (in
/// the C calling convention, so that zm_malloc reaches it with a jump).
@c(zmcore_malloc_above_direct) @inline(never)
func zmcore_malloc_above_direct(_ size: UInt) -> UnsafeMutableRawPointer? {
  if size <= Allocator.smallLimit { return ThreadZone.malloc(size) ?? Allocator.noSlabMemory(size, zeroed: false) }
  return Allocator.mallocLarger(size, zeroed: false)
}

@c(zm_free)
public func zm_free(_ pointer: UnsafeMutableRawPointer?) {
  let address = UInt(bitPattern: pointer)
  let window = zms_region_index(address)
  if _fastPath(zms_region_is_arena(window)) {
    ThreadZone.free(address, slabOf(address, window: window))
    return
  }
  Allocator.freeOutsideArena(address)
}

@c(zm_calloc)
public func zm_calloc(_ count: UInt, _ size: UInt) -> UnsafeMutableRawPointer? {
  let (total, overflow) = count.multipliedReportingOverflow(by: size)
  if overflow { return Allocator.outOfMemory() }
  if total <= Allocator.smallLimit { return ThreadZone.calloc(total) ?? Allocator.noSlabMemory(total, zeroed: true) }
  return Allocator.mallocLarger(total, zeroed: true)
}

@c(zm_realloc)
public func zm_realloc(_ pointer: UnsafeMutableRawPointer?, _ size: UInt) -> UnsafeMutableRawPointer? {
  guard let pointer else { return zm_malloc(size) }
  if size == 0 {
    zm_free(pointer)
    return nil
  }
  let address = UInt(bitPattern: pointer)
  if zms_region_of(address) != 0, let usable = Allocator.smallUsableSize(address, "realloc") {
    if size <= usable {
      // Keep the block unless it would waste more than half of it.
      if size > usable / 2 { return pointer }
      return Allocator.move(address, usable: usable, to: size) ?? pointer
    }
    return ThreadZone.growSpan(address, to: size) ?? Allocator.move(address, usable: usable, to: size)
  }
  // A guarded block always moves: its old slot is closed, so a stale pointer faults.
  if let usable = GuardedSlots.usableSize(address, "realloc") {
    return Allocator.move(address, usable: usable, to: size)
  }
  switch BigBlocks.resize(address, to: size) {
  case .done(let result):
    return result ?? Allocator.outOfMemory()
  case .notBig:
    guard let usable = Foreign.glibcUsableSize(address) else {
      Diagnostics.invalidPointer("realloc", address)
    }
    guard let fresh = zm_malloc(size) else { return nil }
    memcpy(fresh, pointer, Int(min(usable, size)))
    __libc_free(pointer)
    return fresh
  }
}

@c(zm_reallocarray)
public func zm_reallocarray(_ pointer: UnsafeMutableRawPointer?, _ count: UInt, _ size: UInt)
  -> UnsafeMutableRawPointer?
{
  let (total, overflow) = count.multipliedReportingOverflow(by: size)
  if overflow { return Allocator.outOfMemory() }
  return zm_realloc(pointer, total)
}

@c(zm_posix_memalign)
public func zm_posix_memalign(_ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
                              _ alignment: UInt, _ size: UInt) -> Int32 {
  if alignment < 8 || !Allocator.isPowerOfTwo(alignment) { return EINVAL }
  // As glibc's: a failure returns ENOMEM and leaves errno set to ENOMEM too.
  guard let p = Allocator.aligned(alignment, size) else { return ENOMEM }
  out?.pointee = p
  return 0
}

@c(zm_aligned_alloc)
public func zm_aligned_alloc(_ alignment: UInt, _ size: UInt) -> UnsafeMutableRawPointer? {
  if !Allocator.isPowerOfTwo(alignment) {
    zms_set_errno(EINVAL)
    return nil
  }
  return Allocator.aligned(alignment, size)
}

@c(zm_memalign)
public func zm_memalign(_ alignment: UInt, _ size: UInt) -> UnsafeMutableRawPointer? {
  if alignment > UInt.max / 2 + 1 {
    zms_set_errno(EINVAL)
    return nil
  }
  var a = max(alignment, 1)
  if !Allocator.isPowerOfTwo(a) { a = 1 << UInt(UInt.bitWidth - (a - 1).leadingZeroBitCount) }
  return Allocator.aligned(a, size)
}

@c(zm_valloc)
public func zm_valloc(_ size: UInt) -> UnsafeMutableRawPointer? {
  Allocator.aligned(OS.pageSize, size)
}

@c(zm_pvalloc)
public func zm_pvalloc(_ size: UInt) -> UnsafeMutableRawPointer? {
  guard let rounded = BigBlocks.pageRound(max(size, 1)) else { return Allocator.outOfMemory() }
  return Allocator.aligned(OS.pageSize, rounded)
}

@c(zm_malloc_usable_size)
public func zm_malloc_usable_size(_ pointer: UnsafeMutableRawPointer?) -> UInt {
  let address = UInt(bitPattern: pointer)
  if address == 0 { return 0 }
  if zms_region_of(address) != 0, let usable = Allocator.smallUsableSize(address, "malloc_usable_size") {
    return usable
  }
  if let usable = GuardedSlots.usableSize(address, "malloc_usable_size") { return usable }
  if let usable = BigBlocks.usableSize(address) { return usable }
  if let usable = Foreign.glibcUsableSize(address) { return usable }
  Diagnostics.invalidPointer("malloc_usable_size", address)
}

@c(zm_malloc_trim)
public func zm_malloc_trim(_ pad: UInt) -> Int32 {
  zm_purge() > 0 ? 1 : 0
}

@c(zm_malloc_stats)
public func zm_malloc_stats() {
  Stats.print()
}

@c(zm_mallinfo2)
public func zm_mallinfo2() -> mallinfo2 {
  GlibcReports.mallinfo2()
}

@c(zm_mallinfo)
public func zm_mallinfo() -> mallinfo {
  GlibcReports.mallinfo()
}

/// glibc's malloc_info: an XML description of the heap on `stream`; options must be 0
/// (else EINVAL is returned, and errno left alone, as glibc does).
@c(zm_malloc_info)
public func zm_malloc_info(_ options: Int32, _ stream: UnsafeMutablePointer<FILE>?) -> Int32 {
  if options != 0 { return EINVAL }
  return GlibcReports.writeXML(stream)
}

@c(zm_mallopt)
public func zm_mallopt(_ parameter: Int32, _ value: Int32) -> Int32 {
  1
}

// MARK: - zonemalloc's own API

@c(zm_stats)
public func zm_stats(_ out: UnsafeMutablePointer<zm_stats_t>?) {
  guard let out else { return }
  Stats.snapshot(out)
}

@c(zm_stats_print)
public func zm_stats_print() {
  Stats.print()
}

/// Everything cached goes back to the OS; the answer is how much `held` fell.
@c(zm_purge)
public func zm_purge() -> UInt {
  guard Boot.isReady else { return 0 }
  let before = Limit.held.load(ordering: .relaxed)
  LazyUnmap.purge(downTo: 0, olderThan: 0, wait: true)
  let zone = ThreadZone.current
  if !Zones.isPlaceholder(zone) { ThreadZone.flushCache(zone) }
  Orphans.sweep(budget: Int.max)
  Depot.releaseAll(keeping: 0, parkedBefore: UInt.max)
  let after = Limit.held.load(ordering: .relaxed)
  return before > after ? before - after : 0
}

@c(zm_set_limit)
public func zm_set_limit(_ bytes: UInt) -> Int32 {
  guard Boot.ensure() else { return ENOMEM }
  return Limit.set(bytes)
}

/// Writes the heap profile now (ZONEMALLOC_PROF=1): 0, ENOTSUP when profiling is off,
/// or the errno of open/write.
@c(zm_prof_dump)
public func zm_prof_dump(_ path: UnsafePointer<CChar>?) -> Int32 {
  ProfileDump.onRequest(path)
}

@c(zm_owns)
public func zm_owns(_ pointer: UnsafeRawPointer?) -> Int32 {
  let address = UInt(bitPattern: pointer)
  if address == 0 { return 0 }
  if zms_region_of(address) != 0 && Arena.isReserved(address) {
    let slab = slabOf(address)
    let live = slab.isChunkStart(address) && slab.remoteState != RemoteState.parked && !slab.isReaped &&
      ChunkLink.word(address, 1).pointee != slab.pointee.tag
    return live ? 1 : 0
  }
  if GuardedSlots.contains(address) { return GuardedSlots.owns(address) ? 1 : 0 }
  return BigBlocks.lookup(address) != nil ? 1 : 0
}

@c(zm_numa_node_of)
public func zm_numa_node_of(_ pointer: UnsafeRawPointer?) -> Int32 {
  let address = UInt(bitPattern: pointer)
  guard Numa.enabled, address != 0 else { return -1 }
  if zms_region_of(address) != 0 { return Int32(Arena.node(of: address)) }
  return Int32(BigBlocks.node(of: address))
}

@c(zm_version)
public func zm_version() -> UnsafePointer<CChar> {
  let version: StaticString = "0.1.0"
  return UnsafeRawPointer(version.utf8Start).assumingMemoryBound(to: CChar.self)
}
