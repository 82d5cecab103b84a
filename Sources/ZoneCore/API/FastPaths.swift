// FastPaths.swift: malloc and free as most calls run them. Hot.
//
// Owns: zm_malloc and zm_free. malloc of up to 1 KiB: thread slot, the current slab of
// the request's 16-byte bucket (a table: no class arithmetic), pop from its local list
// (checked: in the slab, aligned, carrying the slab's tag), count, tick. free: the
// region's header array (a table; outside the arenas an array of zeros), the slab header
// by arithmetic on the address, chunk-start check (one multiplication: nothing passes
// outside the arenas), freed-tag check, owner check, push on the local list, one decrement
// that says when the slab needs attention. Neither takes a lock or executes an atomic
// read-modify-write. Every way out of them is a jump: the slow paths use the C calling
// convention (SlowPaths.swift), as these do, since LLVM makes no tail call across
// conventions, so they need no stack frame.
// Touches: the thread slot, slab headers and chunks (Small), the slow paths.

import ZoneSupport


@c(zm_malloc)
public func zm_malloc(_ size: UInt) -> UnsafeMutableRawPointer? {
  if _fastPath(size <= SizeClass.directLimit) { return FastPath.mallocDirect(size) }
  return zmcore_malloc_above_direct(size)
}

@c(zm_free)
public func zm_free(_ pointer: UnsafeMutableRawPointer?) {
  let address = UInt(bitPattern: pointer)
  let slab = slabOf(address, headers: zms_headers_of(zms_region_index(address)))
  if _slowPath(!slab.isChunkStart(address)) { return zmcore_free_elsewhere(address) }
  let tag = slab.pointee.tag
  if _slowPath(ChunkLink.word(address, 1).pointee == tag) {
    return zmcore_free_tagged(address, UnsafeMutableRawPointer(slab))
  }
  FastPath.freeChunk(slab, address, tag: tag)
}

enum FastPath {
  /// malloc for 0 ... 1 KiB: the current slab of the size's 16-byte bucket. Hot.
  @inline(__always) static func mallocDirect(_ size: UInt) -> UnsafeMutableRawPointer? {
    let zone = ThreadZone.current
    let slab = slabAt(zone.pointee.direct[Int((size &+ 15) >> 4)])
    let chunk = slab.pointee.free
    if _slowPath(!slab.claimHead(chunk)) { return zmcore_malloc_stalled(size, UnsafeMutableRawPointer(slab)) }
    return handOut(zone, slab, slab.pop(chunk))
  }

  /// malloc for 1 ... 16 KiB: the current slab of the size's 128-byte bucket. Hot.
  @inline(__always) static func mallocWide(_ size: UInt) -> UnsafeMutableRawPointer? {
    let zone = ThreadZone.current
    let slab = slabAt(zone.pointee.wide[Int((size &+ 127) >> SizeClass.wideShift)])
    let chunk = slab.pointee.free
    if _slowPath(!slab.claimHead(chunk)) { return zmcore_malloc_stalled(size, UnsafeMutableRawPointer(slab)) }
    return handOut(zone, slab, slab.pop(chunk))
  }

  /// malloc of any slab class (aligned requests name their class's size). Hot.
  @inline(__always) static func mallocSmall(_ size: UInt) -> UnsafeMutableRawPointer? {
    let zone = ThreadZone.current
    let slab = slabAt(zone.pointee.current[SizeClass.index(for: Int(size))])
    let chunk = slab.takeLocal()
    if _fastPath(chunk != 0) { return handOut(zone, slab, chunk) }
    return zmcore_refill(size)
  }

  /// The chunk goes to the program, counted, unless the thread's tick runs out on it. Hot.
  @inline(__always) static func handOut(_ zone: ZonePointer, _ slab: SlabPointer, _ chunk: UInt) -> UnsafeMutableRawPointer {
    if _slowPath(!ThreadZone.handOut(zone, slab, chunk)) {
      return zmcore_tick_expired(chunk, UnsafeMutableRawPointer(slab), UnsafeMutableRawPointer(zone))
    }
    return UnsafeMutableRawPointer(bitPattern: chunk).unsafelyUnwrapped
  }

  /// A checked, untagged chunk: the owner's free, or the remote push. Hot.
  @inline(__always) static func freeChunk(_ slab: SlabPointer, _ address: UInt, tag: UInt) {
    let zone = ThreadZone.current
    if _fastPath(SmallFree.isOwner(slab, zone)) {
      if _slowPath(!SmallFree.freeLocal(zone, slab, address, tag: tag)) {
        zmcore_free_event(UnsafeMutableRawPointer(slab), UnsafeMutableRawPointer(zone))
      }
    } else {
      zmcore_free_remote(address, UnsafeMutableRawPointer(slab), UnsafeMutableRawPointer(zone))
    }
  }
}
