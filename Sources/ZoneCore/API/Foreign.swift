// Foreign.swift: pointers that zonemalloc did not hand out.
//
// Owns: recognising a block of glibc's own allocator (from before zonemalloc was loaded,
// or from an explicit __libc_malloc call), its usable size, and handing it back to glibc.
// Anything else is an invalid pointer, and the caller aborts with a message.
// Touches: only memory whose mapping it has checked first (mincore), never a page that
// might be unmapped.
//
// glibc's chunk header sits just before the pointer: a size word whose low bits say
// "mmapped" (2) or "non-main arena" (4). A pointer is taken as glibc's when
//  - it is 16-byte aligned and not on the calling thread's stack, and
//  - mmapped: the header page is mapped and the mapping it describes is page aligned;
//  - main arena: it lies in the brk heap and the next chunk's header marks it in use;
//  - other arenas: the 64 MiB-aligned heap it lies in has a plausible heap header.

import ZoneSupport

enum Foreign {
  private static let heapMax: UInt = 64 << 20

  @inline(__always) private static func word(_ address: UInt) -> UInt {
    UnsafePointer<UInt>(bitPattern: address).unsafelyUnwrapped.pointee
  }

  /// The usable size of a glibc block, or nil if address is not one.
  static func glibcUsableSize(_ address: UInt) -> UInt? {
    guard address & 15 == 0, address > 4096, !isOnThisStack(address),
          OS.isMapped(address - 16), OS.isMapped(address) else { return nil }
    let header = word(address - 8)
    let size = header & ~7
    guard size >= 32 else { return nil }
    if header & 2 != 0 { return isMmappedChunk(address, size) ? size - 16 : nil }
    guard isInUse(address, size) else { return nil }
    if header & 4 != 0 { return isInArenaHeap(address, size) ? size - 8 : nil }
    return isInBrkHeap(address, size) ? size - 8 : nil
  }

  private static func isMmappedChunk(_ address: UInt, _ size: UInt) -> Bool {
    let offset = word(address - 16)
    let mask = OS.pageSize - 1
    let block = address &- 16 &- offset
    return (block | (offset &+ size)) & mask == 0 && offset < heapMax
  }

  /// The next chunk's header records this one as in use (its PREV_INUSE bit).
  private static func isInUse(_ address: UInt, _ size: UInt) -> Bool {
    guard size < heapMax else { return false }
    let nextHeader = address - 16 + size + 8
    guard OS.isMapped(nextHeader) else { return false }
    return word(nextHeader) & 1 == 1
  }

  private static func isInBrkHeap(_ address: UInt, _ size: UInt) -> Bool {
    guard let start = brkStart() else { return false }
    let end = UInt(bitPattern: sbrk(0))
    return address >= start && address + size - 16 <= end
  }

  private static func isInArenaHeap(_ address: UInt, _ size: UInt) -> Bool {
    let heap = (address - 16) & ~(heapMax - 1)
    guard OS.isMapped(heap) else { return false }
    let arena = word(heap)
    let heapSize = word(heap + 16)
    return arena != 0 && heapSize <= heapMax && address + size - 16 <= heap + heapSize
  }

  /// Within 1 MiB of the caller's stack: a stack object, never a heap block.
  private static func isOnThisStack(_ address: UInt) -> Bool {
    var marker: UInt8 = 0
    let here = withUnsafeMutablePointer(to: &marker) { UInt(bitPattern: $0) }
    let distance = address > here ? address - here : here - address
    return distance < 1 << 20
  }

  /// start_brk, the 47th field of /proc/self/stat, read once through a small stack
  /// buffer. Fields are counted from the last ')' (the command name may contain spaces).
  nonisolated(unsafe) private static var cachedBrkStart: UInt = 0

  private static func brkStart() -> UInt? {
    if cachedBrkStart != 0 { return cachedBrkStart }
    let fd = zms_open_readonly("/proc/self/stat")
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var chunk: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    var field = 0
    var value: UInt = 0
    var result: UInt = 0
    while true {
      let n = withUnsafeMutableBytes(of: &chunk) { read(fd, $0.baseAddress, $0.count) }
      if n <= 0 { break }
      withUnsafeBytes(of: &chunk) { bytes in
        for i in 0..<n {
          let c = bytes[i]
          if c == 41 { field = 2 } // ')'
          else if c == 32 && field > 0 {
            if field == 47 { result = value }
            field += 1
            value = 0
          } else if c >= 48 && c <= 57 {
            value = value &* 10 &+ UInt(c - 48)
          }
        }
      }
    }
    if field == 47 { result = value }
    guard result != 0 else { return nil }
    cachedBrkStart = result
    return result
  }
}
