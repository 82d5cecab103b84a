// SlowPaths.swift: the fast paths' ways out, in the C calling convention.
//
// Owns: the functions the fast paths (FastPaths.swift) jump to, named zmcore_* (the
// version script keeps them local): the refills (a bucket's stalled slab: empty or broken), the tick's turn,
// the free events of the owner, the remote free, the free of a chunk that carries the
// freed tag, and free of anything that is no live chunk start. Each calls the layer that
// does the work, tells the heap profiler of a sampled span that went, and ends with the
// housekeeping component's turn.
// Touches: Allocation, SmallFree, Pointer, GuardedSlots, BigBlocks, Profiler,
// Housekeeping, Diagnostics.

import ZoneSupport

/// malloc above the bucket table's sizes: the other slab classes, the fast path of the
/// wide table, whose ways out are all jumps (no stack frame), like zm_malloc's.
@c(zmcore_malloc_above_direct) @inline(never)
func zmcore_malloc_above_direct(_ size: UInt) -> UnsafeMutableRawPointer? {
  if _fastPath(size <= Allocation.smallLimit) { return FastPath.mallocWide(size) }
  return zmcore_malloc_larger(size)
}

/// malloc above the slab classes: spans, big blocks.
@c(zmcore_malloc_larger) @inline(never)
func zmcore_malloc_larger(_ size: UInt) -> UnsafeMutableRawPointer? {
  Allocation.larger(size, zeroed: false)
}

/// A class's current slab ran dry (mallocSmall).
@c(zmcore_refill) @inline(never)
func zmcore_refill(_ size: UInt) -> UnsafeMutableRawPointer? {
  Allocation.small(SizeClass.index(for: Int(size)), size: size)
}

/// A bucket's current slab gave no chunk (mallocDirect, mallocWide): its list is empty, or
/// broken (the head is the bad chunk: the fast path checks it before it pops).
@c(zmcore_malloc_stalled) @inline(never)
func zmcore_malloc_stalled(_ size: UInt, _ slab: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer? {
  let header = slab.assumingMemoryBound(to: Slab.self)
  if header.pointee.free != 0 { header.brokenList(header.pointee.free) }
  return Allocation.small(SizeClass.index(for: Int(size)), size: size)
}

/// The tick ran out on a chunk handed out.
@c(zmcore_tick_expired) @inline(never)
func zmcore_tick_expired(_ chunk: UInt, _ slab: UnsafeMutableRawPointer,
                         _ zone: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer {
  Allocation.tickRanOut(zone.assumingMemoryBound(to: Zone.self), slab.assumingMemoryBound(to: Slab.self), chunk)
}

/// An owner's free ran the slab's countdown out.
@c(zmcore_free_event) @inline(never)
func zmcore_free_event(_ slab: UnsafeMutableRawPointer, _ zone: UnsafeMutableRawPointer) {
  let sampled = SmallFree.freeEvent(zone.assumingMemoryBound(to: Zone.self), slab.assumingMemoryBound(to: Slab.self))
  afterSmallFree(sampled)
}

/// A chunk freed by a thread that does not own its slab (housekeeping only after a push
/// that signalled or emptied the slab, or a span that went). The address comes first, as
/// free's own argument: the fast path need not move it.
@c(zmcore_free_remote) @inline(never)
func zmcore_free_remote(_ address: UInt, _ slab: UnsafeMutableRawPointer, _ zone: UnsafeMutableRawPointer) {
  let zone = zone.assumingMemoryBound(to: Zone.self), slab = slab.assumingMemoryBound(to: Slab.self)
  if SmallFree.freeRemotePlain(zone, slab, address) { return }
  if let sampled = SmallFree.freeRemote(zone, slab, address) { afterSmallFree(sampled) }
}

/// A chunk that carries the freed tag: a double free, unless the owner does not find it
/// on its lists (the program stored the tag's value there itself).
@c(zmcore_free_tagged) @inline(never)
func zmcore_free_tagged(_ address: UInt, _ slab: UnsafeMutableRawPointer) {
  let header = slab.assumingMemoryBound(to: Slab.self)
  SmallFree.checkNotFree(header, address, ThreadZone.current)
  FastPath.freeChunk(header, address, tag: header.pointee.tag)
}

/// free of an address that is no live chunk start of a slab arena.
@c(zmcore_free_elsewhere) @inline(never)
func zmcore_free_elsewhere(_ address: UInt) {
  switch Pointer.classify(address) {
  case .null:
    return
  case .guarded:
    _ = GuardedSlots.free(address)
  case .big:
    if BigBlocks.free(address).sampled { Profiler.noteFreed(address) }
    Housekeeping.afterSlowPath()
  case .glibc:
    __libc_free(UnsafeMutableRawPointer(bitPattern: address))
  case .chunk, .invalid: // the fast path found no live chunk start there
    Diagnostics.invalidPointer("free", address)
  }
}

/// After a small free's slow path: the profiler hears of a sampled span that went.
private func afterSmallFree(_ sampledSpan: UInt) {
  if sampledSpan != 0 { Profiler.noteFreed(sampledSpan) }
  Housekeeping.afterSlowPath()
}
