// Pointers.swift: what an address handed to free, realloc or malloc_usable_size is.
//
// Owns: the one classification of an address that is not a live chunk the fast path
// recognised: NULL, a slab's chunk, a guarded block, a big block, glibc's block, or an
// invalid pointer; and the answer for an address in an arena window that is no live
// chunk start (somebody else's, when it lies past the window's reserved part).
// Touches: the region table, slab headers (read), GuardedSlots, BigBlocks, Foreign.

import ZoneSupport

enum Pointer {
  case null
  case chunk(SlabPointer)   // a live chunk start of a slab or span
  case guarded              // in the guarded slots' pool (GuardedSlots checks it further)
  case big(UInt)            // a live big block: its registry value (length | tag)
  case glibc(UInt)          // glibc's block: its usable size
  case invalid

  /// Classifies address, in this order: NULL, the slab arenas, the guarded pool, the big
  /// blocks, glibc's heap.
  static func classify(_ address: UInt) -> Pointer {
    if address == 0 { return .null }
    if zms_region_of(address) != 0 {
      let slab = slabOf(address)
      if slab.isChunkStart(address) && !slab.isParked { return .chunk(slab) }
      if !isSomebodyElses(address) { return .invalid }
    }
    if GuardedSlots.contains(address) { return .guarded }
    if let value = BigBlocks.lookup(address) { return .big(value) }
    if let usable = Foreign.glibcUsableSize(address) { return .glibc(usable) }
    return .invalid
  }

  /// An address in an arena window that is not a live chunk start is somebody else's only
  /// when it lies outside the window's reserved part (and in user space: the region
  /// table's index lets higher addresses alias a window).
  static func isSomebodyElses(_ address: UInt) -> Bool {
    address >> UInt(ZMS_ADDRESS_BITS) == 0 && !Arena.isReserved(address)
  }
}
