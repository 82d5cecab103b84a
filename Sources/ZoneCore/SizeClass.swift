// SizeClass.swift: DragonFly-style chunking of small sizes into 64 classes.
//
// Owns: the mapping size -> class -> chunk size, and each class's slab geometry.
// Touches: nothing (pure arithmetic, no tables, so it needs no initialisation).
//
// Classes 0..7 are 16-byte steps up to 128 bytes. Above that each power of two is cut
// into 8 equal steps (144, 160, ... 256, 288, ... 512, ... 16 KiB), as kern_slaballoc.c
// does. Every class size is a multiple of 16, so every chunk is 16-byte aligned, and a
// class whose size is a multiple of an alignment A hands out A-aligned chunks (the first
// chunk sits at a multiple of the size's lowest set bit), so power-of-two sizes come
// back naturally aligned.

enum SizeClass {
  static let count = 64
  /// Largest small size; bigger requests are big blocks (BigBlocks.swift).
  static let limit = 16384

  /// Class of a request of `size` bytes (0 ... limit). Hot.
  @inline(__always) static func index(for size: Int) -> Int {
    let s = UInt(bitPattern: size &- 1) // size 0 wraps: caught below
    if s < 128 { return Int(s >> 4) }
    if size == 0 { return 0 }
    let bit = UInt(63 &- s.leadingZeroBitCount) // 2^bit <= s < 2^(bit+1), bit >= 7
    return Int(8 &+ (bit &- 7) &* 8 &+ ((s >> (bit &- 3)) & 7))
  }

  /// Chunk size of a class.
  @inline(__always) static func size(of index: Int) -> Int {
    if index < 8 { return (index + 1) * 16 }
    let group = (index - 8) >> 3
    let step = 16 << group
    return (128 << group) + ((index & 7) + 1) * step
  }

  /// Offset of the first chunk in a slab: past the header, at a multiple of the size's
  /// lowest set bit so that aligned classes stay aligned.
  static func firstOffset(of index: Int) -> Int {
    let size = size(of: index)
    let lowBit = size & -size
    return max(Int(SlabGeometry.headerSize), lowBit)
  }

  static func capacity(of index: Int) -> Int {
    (Int(SlabGeometry.size) - firstOffset(of: index)) / size(of: index)
  }

  /// Smallest class that fits `size` and hands out `alignment`-aligned chunks, or nil.
  static func index(for request: Int, alignedTo alignment: Int) -> Int? {
    var c = index(for: request)
    while c < count {
      if size(of: c) % alignment == 0 { return c }
      c += 1
    }
    return nil
  }
}
