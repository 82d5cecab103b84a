// Arena.swift: where slabs come from.
//
// Owns: per NUMA node, 4 GiB regions of reserved address space (PROT_NONE, no commit
// charge), each aligned to 4 GiB and entered in the region table, so that free() can tell
// a zonemalloc chunk from a foreign pointer with one table load. A region starts with the
// 8 MiB array of granule headers (Slab.swift); the rest is committed (mprotect) in 4 MiB
// steps, which the kernel merges into one mapping, and carved by a bump pointer into
// 64 KiB slabs and spans of up to 8 contiguous granules. With NUMA on, a region is bound to its node once, with a
// preferred policy, so every slab carved from it lands there.
// Touches: the region table, Limit accounting, Numa.
//
// Slab memory is never unmapped: empty slabs are madvised (Depot) and reused. That keeps
// slab headers valid for the lock-free paths that read them.

import ZoneSupport

enum Arena {
  static let regionSize: UInt = 1 << UInt(ZMS_REGION_SHIFT)
  static let commitStep: UInt = 4 << 20

  /// The node of the arena that holds address. Only valid for arena addresses.
  @inline(__always) static func node(of address: UInt) -> Int {
    Int(zms_region_of(address)) - 1
  }

  /// Never-used memory of `granules` contiguous granules of the node, as the header of
  /// its first granule, or nil. The caller charges the limit first.
  static func carve(_ node: Int, granules: Int) -> SlabPointer? {
    Lock.arena(node).lock()
    let memory = carveLocked(node, UInt(granules) * SlabGeometry.size)
    Lock.arena(node).unlock()
    return memory.map { slabOf($0) }
  }

  private static func carveLocked(_ node: Int, _ bytes: UInt) -> UInt? {
    var arena = Global.g.pointee.arenas[node]
    defer { Global.g.pointee.arenas[node] = arena }
    if arena.bump + bytes > arena.regionEnd {
      // A span that does not fit the region's tail starts a new region (the tail, less
      // than 512 KiB, is left unused).
      guard let base = reserveRegion(node) else { return nil }
      let first = base + SlabGeometry.metadataBytes
      arena = ArenaState(bump: first, committedEnd: first, regionEnd: base + regionSize)
    }
    while arena.bump + bytes > arena.committedEnd {
      guard OS.commit(arena.committedEnd, commitStep) else { return nil }
      arena.committedEnd += commitStep
    }
    let unit = arena.bump
    arena.bump += bytes
    return unit
  }

  /// Reserves an aligned region (twice the size, then the unaligned ends are returned)
  /// and commits its header array; untouched header pages cost nothing.
  private static func reserveRegion(_ node: Int) -> UInt? {
    guard let raw = OS.reserve(2 * regionSize) else { return nil }
    let base = (raw + regionSize - 1) & ~(regionSize - 1)
    OS.unmap(raw, base - raw)
    OS.unmap(base + regionSize, raw + regionSize - base)
    guard OS.commit(base, SlabGeometry.metadataBytes) else {
      OS.unmap(base, regionSize)
      return nil
    }
    zms_region_set(base >> UInt(ZMS_REGION_SHIFT), UInt32(node + 1))
    Numa.prefer(base, regionSize, node: node)
    return base
  }

  /// The node's bump pointer was being moved when the child was forked: leave the
  /// current region; the next slab starts a new one.
  static func abandonInChild(_ node: Int) {
    Global.g.pointee.arenas[node] = ArenaState()
  }

  /// Applies the node policy to the regions reserved before NUMA was set up (boot order).
  static func applyNumaPolicyToExistingRegions() {
    for node in 0..<Numa.nodeCount {
      let arena = Global.g.pointee.arenas[node]
      if arena.regionEnd != 0 { Numa.prefer(arena.regionEnd - regionSize, regionSize, node: node) }
    }
  }
}
