// Foreign.swift: pointers that zonemalloc did not hand out.
//
// Owns: recognising a block of glibc's own allocator (from before zonemalloc was loaded,
// or from an explicit __libc_malloc call) and its usable size. The caller hands such a
// block back to glibc; anything else is an invalid pointer, and the caller aborts with a
// message.
// Touches: only memory whose mapping it has checked first (mincore), never a page that
// might be unmapped; reads no file (it works without /proc and with every fd in use).
//
// glibc's chunk header sits just before the pointer, where a program can write anything,
// so the header is never trusted alone. A pointer is taken as glibc's only when
//  - it is 16-byte aligned, not on the calling thread's stack, and lies in none of
//    zonemalloc's memory: no arena window's reserved part, no big block, no cached
//    extent (Ownership.swift); and
//  - mmapped chunk (size bit 2): the header page is mapped, the mapping the header
//    describes is page aligned, and that whole range touches none of zonemalloc's memory
//    either (glibc's free would unmap it);
//  - main arena: it lies between the end of the executable's last segment (from the
//    auxiliary vector, read once at boot) and the current break, sbrk(0), and the next
//    chunk's header marks it in use;
//  - other arenas: the 64 MiB-aligned heap it lies in has a plausible heap header, and
//    the next chunk's header marks it in use.

import ZoneSupport

enum Foreign {
  /// glibc's heaps of non-main arenas are this large at most, and this aligned.
  private static let heapMax: UInt = 64 << 20
  /// glibc's chunk header: the size, with three flags in its low bits.
  private static let previousInUse: UInt = 1
  private static let isMmapped: UInt = 2
  private static let nonMainArena: UInt = 4
  private static let flags: UInt = 7
  /// The header's two words sit before the pointer; the smallest chunk.
  private static let headerBytes: UInt = 16
  private static let smallestChunk: UInt = 32

  @inline(__always) private static func word(_ address: UInt) -> UInt {
    UnsafePointer<UInt>(bitPattern: address).unsafelyUnwrapped.pointee
  }

  /// The lowest address glibc's brk heap can start at: the end of the executable's
  /// loaded segments (from the auxiliary vector, read at the first question).
  nonisolated(unsafe) private static var brkFloorRead: UInt = 0
  private static var brkFloor: UInt {
    if brkFloorRead == 0 { brkFloorRead = UInt(zms_executable_end()) }
    return brkFloorRead
  }

  /// The usable size of a glibc block, or nil if address is not one.
  static func glibcUsableSize(_ address: UInt) -> UInt? {
    guard address & (headerBytes - 1) == 0, address > OS.pageSize, !isOnThisStack(address),
          !Ownership.holds(address), OS.isMapped(address - headerBytes), OS.isMapped(address) else { return nil }
    let header = word(address - 8)
    let size = header & ~flags
    guard size >= smallestChunk else { return nil }
    if header & isMmapped != 0 { return isMmappedChunk(address, size) ? size - headerBytes : nil }
    guard isInUse(address, size) else { return nil }
    if header & nonMainArena != 0 { return isInArenaHeap(address, size) ? size - 8 : nil }
    return isInBrkHeap(address, size) ? size - 8 : nil
  }

  private static func isMmappedChunk(_ address: UInt, _ size: UInt) -> Bool {
    let offset = word(address - headerBytes)
    let mask = OS.pageSize - 1
    let block = address &- headerBytes &- offset
    guard (block | (offset &+ size)) & mask == 0, offset < heapMax, size < UInt(Int.max) - offset else {
      return false
    }
    return !Ownership.intersects(block, block &+ offset &+ size)
  }

  /// The next chunk's header records this one as in use (its PREV_INUSE bit).
  private static func isInUse(_ address: UInt, _ size: UInt) -> Bool {
    guard size < heapMax else { return false }
    let nextHeader = address - headerBytes + size + 8
    guard OS.isMapped(nextHeader) else { return false }
    return word(nextHeader) & previousInUse != 0
  }

  private static func isInBrkHeap(_ address: UInt, _ size: UInt) -> Bool {
    let end = UInt(bitPattern: sbrk(0))
    return brkFloor != 0 && address >= brkFloor && address + size - headerBytes <= end
  }

  private static func isInArenaHeap(_ address: UInt, _ size: UInt) -> Bool {
    let heap = (address - headerBytes) & ~(heapMax - 1)
    guard OS.isMapped(heap), !Ownership.holds(heap) else { return false }
    let arena = word(heap)
    let heapSize = word(heap + 16)
    return arena != 0 && heapSize <= heapMax && address + size - headerBytes <= heap + heapSize
  }

  /// Within 1 MiB of the caller's stack: a stack object, never a heap block.
  private static func isOnThisStack(_ address: UInt) -> Bool {
    var marker: UInt8 = 0
    let here = withUnsafeMutablePointer(to: &marker) { UInt(bitPattern: $0) }
    let distance = address > here ? address - here : here - address
    return distance < 1 << 20
  }
}
