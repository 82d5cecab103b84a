// SizeClass.swift: DragonFly-style chunking of small sizes into 64 classes, and the span
// classes of medium sizes.
//
// Owns: the geometry of arena windows and granules, the mapping size -> class -> chunk
// size, and each class's slab geometry. Pure: arithmetic, no tables, so it needs no
// initialisation and the tests check it directly.
//
// Classes 0..7 are 16-byte steps up to 128 bytes. Above that each power of two is cut
// into 8 equal steps (144, 160, ... 256, 288, ... 512, ... 16 KiB), as kern_slaballoc.c
// does. Every class size is a multiple of 16, so every chunk is 16-byte aligned. Chunks
// start at the slab's first byte (headers live elsewhere), so a class whose size is a
// multiple of an alignment A hands out A-aligned chunks: power-of-two sizes come back
// naturally aligned.
//
// Classes 64..71 are spans: one chunk filling 1 to 8 contiguous 64 KiB granules, for
// medium sizes (16 KiB to 512 KiB); their chunks are 64 KiB aligned. A span is a slab of
// capacity 1, so it shares the slab's free path, caches and depots; a 1-granule span and
// an ordinary slab are the same unit of memory.

import ZoneSupport

enum SlabGeometry {
  static let shift: UInt = 16
  static let size: UInt = 1 << shift
  static let mask: UInt = size - 1
  /// Each granule's header is this long, in the array at the start of its window.
  static let headerShift: UInt = 7
  static let headerStride: UInt = 1 << headerShift
  static let regionMask: UInt = (1 << UInt(ZMS_REGION_SHIFT)) - 1
  /// The header array at the start of each window: one header per granule (128 KiB).
  static let metadataBytes: UInt = ((regionMask + 1) >> shift) * headerStride
  /// Chunks are multiples of 16 bytes and start 16-byte aligned.
  static let quantum: UInt = 16
}

enum SizeClass {
  /// Slab classes (many chunks per slab).
  static let count = 64
  static let maxGranules = 8
  /// Largest size served from a slab class.
  static let limit = 16384
  /// Largest size served by a span; bigger requests are big blocks (BigBlocks.swift).
  static let mediumLimit = maxGranules * Int(SlabGeometry.size)

  /// Class of a request of `size` bytes (0 ... limit). Hot.
  @inline(__always) static func index(for size: Int) -> Int {
    let s = UInt(bitPattern: size &- 1) // size 0 wraps: caught below
    if s < 128 { return Int(s >> 4) }
    if size == 0 { return 0 }
    let bit = UInt(63 &- s.leadingZeroBitCount) // 2^bit <= s < 2^(bit+1), bit >= 7
    return Int(8 &+ (bit &- 7) &* 8 &+ ((s >> (bit &- 3)) & 7))
  }

  /// Granules (64 KiB units) of a span holding `size` bytes.
  static func granules(for size: Int) -> Int {
    (size + Int(SlabGeometry.mask)) >> Int(SlabGeometry.shift)
  }

  /// The span class of a span of `granules` granules.
  static func spanClass(granules: Int) -> Int { count + granules - 1 }

  /// Granules of a class's slab: 1 for slab classes.
  static func granules(of index: Int) -> Int { index < count ? 1 : index - count + 1 }

  /// Chunk size of a class.
  @inline(__always) static func size(of index: Int) -> Int {
    if index >= count { return granules(of: index) * Int(SlabGeometry.size) }
    if index < 8 { return (index + 1) * 16 }
    let group = (index - 8) >> 3
    let step = 16 << group
    return (128 << group) + ((index & 7) + 1) * step
  }

  /// Sizes up to this are served through the bucket table (Zone.direct), one entry per
  /// 16 bytes: the classes below directClasses.
  static let directLimit: UInt = 1024
  static let directClasses = 32

  /// The 16-byte buckets (size + 15) / 16 whose requests class c serves; c < directClasses.
  static func buckets(of c: Int) -> ClosedRange<Int> {
    (c == 0 ? 0 : size(of: c - 1) / 16 + 1)...(size(of: c) / 16)
  }

  static func capacity(of index: Int) -> Int {
    if index >= count { return 1 }
    return Int(SlabGeometry.size) / size(of: index)
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
