// OwnAPI.swift: zonemalloc's own API (include/zonemalloc.h).
//
// Owns: zm_stats, zm_stats_print, zm_purge, zm_set_limit, zm_prof_dump, zm_owns,
// zm_numa_node_of and zm_version. Touches: Stats, Housekeeping, Limit, Reclaim,
// ProfileDump, Pointer, GuardedSlots, Arena, BigBlocks, Numa, Boot.

import ZoneSupport
import Synchronization

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
  Housekeeping.purgeAll()
  let after = Limit.held.load(ordering: .relaxed)
  return before > after ? before - after : 0
}

@c(zm_set_limit)
public func zm_set_limit(_ bytes: UInt) -> Int32 {
  guard Boot.ensure() else { return ENOMEM }
  let result = Limit.set(bytes)
  if result == 0 && bytes != 0 && Limit.held.load(ordering: .relaxed) > Limit.watermark(bytes) {
    Reclaim.pass(until: Limit.watermark(bytes))
  }
  return result
}

/// Writes the heap profile now (ZONEMALLOC_PROF=1): 0, ENOTSUP when profiling is off,
/// or the errno of open/write.
@c(zm_prof_dump)
public func zm_prof_dump(_ path: UnsafePointer<CChar>?) -> Int32 {
  ProfileDump.onRequest(path)
}

/// 1 when pointer is a live block zonemalloc handed out.
@c(zm_owns)
public func zm_owns(_ pointer: UnsafeRawPointer?) -> Int32 {
  let address = UInt(bitPattern: pointer)
  switch Pointer.classify(address) {
  case .chunk(let slab):
    return slab.isReaped || ChunkLink.word(address, 1).pointee == slab.pointee.tag ? 0 : 1
  case .guarded: return GuardedSlots.owns(address) ? 1 : 0
  case .big: return 1
  case .null, .glibc, .invalid: return 0
  }
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
