// Allocator.swift: the malloc family, with glibc 2.36's semantics.
//
// zonemalloc in one paragraph. Small blocks (up to 16 KiB) come from 64 KiB slabs, each
// owned by one thread and holding chunks of one size class; a thread's slabs form its
// zone array, so malloc and free of the thread's own memory take no lock and no atomic
// instruction (FastPaths.swift). Medium blocks (up to 512 KiB) are spans: slabs of one
// chunk over 1 to 8 granules, sharing the slab paths, caches and depots. A chunk freed
// by another thread is pushed on its slab's remote list with one CAS, and the owner
// hears about it only when the slab has to come back into its zone array (SlabState).
// Slabs are carved from reserved, aligned arenas whose 64 MiB windows are entered in a
// region table, so free() recognises its own chunks, and foreign pointers, safely. Empty
// slabs go to per-node depots with hysteresis; an exiting thread's slabs go there or
// become orphans for others to adopt, with at most ncpus teardowns at once. Big blocks
// are mappings, cached after free and unmapped lazily in bounded batches (BigBlocks,
// LazyUnmap). A memory limit reclaims caches in order and then refuses with ENOMEM.
// docs/DESIGN.md maps each mechanism to its file.
//
// Owns: the zm_* entry points of the malloc family and glibc's semantics for each:
// errno values, realloc(p, 0) freeing, alignment rules, usable sizes. ZoneExports
// aliases the libc names to these.
// Touches: FastPaths, Allocation, Pointer, Spans, GuardedSlots, BigBlocks, Profiler,
// Foreign (glibc's pointers), Stats, GlibcReports.

import ZoneSupport
import Synchronization

enum Allocator {
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
    if alignment <= SlabGeometry.quantum { return zm_malloc(size) }
    if alignment > OS.pageSize { return Sampling.holdingOff { alignedChunk(alignment, size) } }
    return alignedChunk(alignment, size)
  }

  /// Small sizes use a class whose chunks are naturally aligned; medium sizes a span (its
  /// chunk is 64 KiB aligned) when that suffices; the rest are big blocks (over-mapped
  /// and trimmed past a page).
  private static func alignedChunk(_ alignment: UInt, _ size: UInt) -> UnsafeMutableRawPointer? {
    if size <= Allocation.smallLimit, let c = SizeClass.index(for: Int(size), alignedTo: Int(alignment)) {
      let p = FastPath.mallocSmall(UInt(SizeClass.size(of: c)))
      return p ?? (alignment <= OS.pageSize ? Allocation.noSlabMemory(size, zeroed: false) : Allocation.outOfMemory())
    }
    if size <= Allocation.mediumLimit && alignment <= SlabGeometry.size {
      return Allocation.larger(max(size, Allocation.smallLimit + 1), zeroed: false)
    }
    return Allocation.big(size, alignment: alignment, zeroed: false)
  }

  /// realloc of a live chunk of `slab`: kept when the new size fits and wastes at most
  /// half of it, grown in place when it is a span with room, else moved.
  static func reallocChunk(_ slab: SlabPointer, _ address: UInt, to size: UInt) -> UnsafeMutableRawPointer? {
    let usable = UInt(slab.pointee.chunkSize)
    if size <= usable {
      if size > usable / 2 { return UnsafeMutableRawPointer(bitPattern: address) }
      return move(address, usable: usable, to: size) ?? UnsafeMutableRawPointer(bitPattern: address)
    }
    return Spans.grow(address, to: size) ?? move(address, usable: usable, to: size)
  }

  /// realloc of a big block, with the reclaim-and-retry of a refused growth.
  static func reallocBig(_ address: UInt, to size: UInt) -> UnsafeMutableRawPointer? {
    var outcome = BigBlocks.resize(address, to: size)
    if case .resized(nil) = outcome, Reclaim.makeRoom(for: BigBlocks.pageRound(size) ?? size) {
      outcome = BigBlocks.resize(address, to: size)
    }
    switch outcome {
    case .resized(let p): return p ?? Allocation.outOfMemory()
    case .copy(let usable): return move(address, usable: usable, to: size)
    case .remapped(let old, let new):
      Profiler.noteMoved(from: old, to: UInt(bitPattern: new))
      return new
    case .notBig: return nil
    }
  }

  /// realloc of glibc's block: a zonemalloc block, and glibc frees the old one.
  static func reallocForeign(_ address: UInt, usable: UInt, to size: UInt) -> UnsafeMutableRawPointer? {
    guard let fresh = zm_malloc(size) else { return nil }
    memcpy(fresh, UnsafeRawPointer(bitPattern: address).unsafelyUnwrapped, Int(min(usable, size)))
    __libc_free(UnsafeMutableRawPointer(bitPattern: address))
    return fresh
  }

  static func isPowerOfTwo(_ x: UInt) -> Bool { x != 0 && x & (x &- 1) == 0 }
}

@c(zm_calloc)
public func zm_calloc(_ count: UInt, _ size: UInt) -> UnsafeMutableRawPointer? {
  let (total, overflow) = count.multipliedReportingOverflow(by: size)
  if overflow { return Allocation.outOfMemory() }
  if total > Allocation.smallLimit { return Allocation.larger(total, zeroed: true) }
  // Chunks on a list hold a link and the tag: cleared.
  guard let p = FastPath.mallocSmall(total) ?? Allocation.noSlabMemory(total, zeroed: true) else { return nil }
  memset(p, 0, Int(total))
  return p
}

@c(zm_realloc)
public func zm_realloc(_ pointer: UnsafeMutableRawPointer?, _ size: UInt) -> UnsafeMutableRawPointer? {
  guard let pointer else { return zm_malloc(size) }
  if size == 0 {
    zm_free(pointer)
    return nil
  }
  let address = UInt(bitPattern: pointer)
  switch Pointer.classify(address) {
  case .chunk(let slab):
    return Allocator.reallocChunk(slab, address, to: size)
  case .guarded:
    // A guarded block always moves: its old slot is closed, so a stale pointer faults.
    guard let usable = GuardedSlots.usableSize(address, "realloc") else { Diagnostics.invalidPointer("realloc", address) }
    return Allocator.move(address, usable: usable, to: size)
  case .big:
    return Allocator.reallocBig(address, to: size)
  case .glibc(let usable):
    return Allocator.reallocForeign(address, usable: usable, to: size)
  case .null, .invalid:
    Diagnostics.invalidPointer("realloc", address)
  }
}

@c(zm_reallocarray)
public func zm_reallocarray(_ pointer: UnsafeMutableRawPointer?, _ count: UInt, _ size: UInt)
  -> UnsafeMutableRawPointer?
{
  let (total, overflow) = count.multipliedReportingOverflow(by: size)
  if overflow { return Allocation.outOfMemory() }
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
  guard let rounded = BigBlocks.pageRound(max(size, 1)) else { return Allocation.outOfMemory() }
  return Allocator.aligned(OS.pageSize, rounded)
}

@c(zm_malloc_usable_size)
public func zm_malloc_usable_size(_ pointer: UnsafeMutableRawPointer?) -> UInt {
  let address = UInt(bitPattern: pointer)
  switch Pointer.classify(address) {
  case .null: return 0
  case .chunk(let slab): return UInt(slab.pointee.chunkSize)
  case .guarded:
    guard let usable = GuardedSlots.usableSize(address, "malloc_usable_size") else {
      Diagnostics.invalidPointer("malloc_usable_size", address)
    }
    return usable
  case .big(let value): return value & ~(OS.pageSize - 1)
  case .glibc(let usable): return usable
  case .invalid: Diagnostics.invalidPointer("malloc_usable_size", address)
  }
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
