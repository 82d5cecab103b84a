// Ownership.swift: is this address zonemalloc's memory?
//
// Owns: the answer for the slow paths that must never treat zonemalloc's memory as
// somebody else's (Foreign.swift hands blocks to glibc, and glibc's free of an mmapped
// chunk unmaps the range its header names). zonemalloc's memory here is: the reserved part
// of every arena window (the region table and the window's first header), every live big
// block and every extent in the lazy cache (a scan under the big lock: these questions
// are asked only for pointers that are not zonemalloc's chunks, which is rare).
// Touches: the region table, Arena, BigBlocks and LazyUnmap (read only).

import ZoneSupport

enum Ownership {
  /// True when address lies in zonemalloc's memory.
  static func holds(_ address: UInt) -> Bool {
    intersects(address, address &+ 1)
  }

  /// True when [start, end) overlaps zonemalloc's memory.
  static func intersects(_ start: UInt, _ end: UInt) -> Bool {
    guard end > start else { return false }
    if intersectsArena(start, end) { return true }
    return BigBlocks.intersects(start, end)
  }

  /// Each 64 MiB window in the range that the table marks is checked for the reserved part.
  private static func intersectsArena(_ start: UInt, _ end: UInt) -> Bool {
    var window = start & ~(Arena.windowSize - 1)
    while window < end {
      if zms_region_of(window) != 0 && Arena.reservedIntersects(window, start, end) { return true }
      let (next, overflow) = window.addingReportingOverflow(Arena.windowSize)
      if overflow { break }
      window = next
    }
    return false
  }
}
