// SlabHeader.swift: where a slab's header is and what it holds.
//
// Owns: the header's layout and the way from any chunk address to its header, the encoding of free-list links, and the per-slab
// keys and tags. Touches: nothing (arithmetic on addresses, and the header it is given).
//
// A slab is 64 KiB and 64 KiB aligned (one granule), carved from an arena window; a
// span is 1 to 8 granules holding one chunk. Headers do not live in the slab: each
// 64 MiB window starts with an array of 128-byte headers, one per granule, so free()
// finds the header of any chunk by arithmetic on its address (window | granule index x
// 128) without reading memory first. The slab itself holds nothing but chunks. Keeping
// the headers together means a forked child that frees its parent's blocks copies a few
// header pages instead of the first page of every slab it touches. The header's first
// cache line holds what the owning thread touches on every malloc and free; the second
// holds the remote list, which other threads write (SlabState.swift), so the two never
// share a line.

import ZoneSupport
import Synchronization

/// Which owner list a slab is on. Owner-only bookkeeping.
enum SlabList {
  static let none: UInt8 = 0
  static let current: UInt8 = 1
  static let partial: UInt8 = 2
  static let full: UInt8 = 3
  static let parked: UInt8 = 4
  static let orphan: UInt8 = 5
}

struct Slab: ~Copyable {
  // Cache line 0: the owner's fast paths.
  var free: UInt            // local free list head (links encoded with `key`), 0 when empty
  var key: UInt             // this slab's link key, drawn at each format
  var tag: UInt             // this slab's freed tag: word 1 of every chunk on its lists
  var base: UInt            // the unit's first byte
  let owner: Atomic<UInt>   // owning zone, 0 when parked or orphaned (SlabState.swift)
  var startMagic: UInt32    // chunk starts by one multiplication (SlabChunks.isChunkStart)
  var startLimit: UInt32    // ... below this product: the carved ones
  var chunkSize: UInt32
  var countdown: UInt32     // local frees until the next event (SlabChunks.setList)
  var carved: UInt32        // chunks below this offset have been on the free list
  var handed: UInt32        // hand-outs since the slab became current, plus what was out then
  // Cache line 1: the remote list, and what only slow paths touch.
  var next: UInt            // intrusive links for zone, depot and orphan lists
  let remote: Atomic<UInt>  // RemoteWord (SlabState.swift)
  var prev: UInt
  var relinkNext: UInt      // link on the owner's relink stack, written by the signaller
  var parkedAt: UInt        // milliseconds when the slab was parked, or orphaned
  let reapNext: Atomic<UInt> // Reaper.swift: 0, or the link on its lists with bit 0 set
  var chargedBytes: UInt32  // bytes charged to the limit (Limit.swift) for this unit
  var carveLimit: UInt32    // end of the chunks: carved < carveLimit while never-used ones remain
  var capacity: UInt16
  var sizeClass: UInt8
  var list: UInt8           // SlabList
  var node: UInt8           // NUMA node of the arena the slab lives in
  var fresh: UInt8          // 1 while never-used chunks are known to be zero (fresh from the OS)
  var granules: UInt8       // 64 KiB units: 1 for a slab, 1...8 for a span
  var sampled: UInt8        // 1 while a span's chunk is a heap profiler sample (Profiler.swift)
}

extension Slab {
  /// Bytes charged to the limit for this unit (at most 8 granules: 32 bits hold it).
  var charged: UInt {
    get { UInt(chargedBytes) }
    set { chargedBytes = UInt32(newValue) }
  }
}

typealias SlabPointer = UnsafeMutablePointer<Slab>

/// The header of the granule holding an address of a slab arena. Hot.
@inline(__always) func slabOf(_ address: UInt) -> SlabPointer {
  let offset = address & SlabGeometry.regionMask
  let index = (offset >> (SlabGeometry.shift - SlabGeometry.headerShift)) & ~(SlabGeometry.headerStride - 1)
  return SlabPointer(bitPattern: (address & ~SlabGeometry.regionMask) | index).unsafelyUnwrapped
}

/// The same from the header array of the address's region (zms_headers_of), which is
/// absent's zeros outside the slab arenas. Hot.
@inline(__always) func slabOf(_ address: UInt, headers: UInt) -> SlabPointer {
  let granuleBits = SlabGeometry.regionMask >> (SlabGeometry.shift - SlabGeometry.headerShift)
  let index = (address >> (SlabGeometry.shift - SlabGeometry.headerShift)) & granuleBits & ~(SlabGeometry.headerStride - 1)
  return SlabPointer(bitPattern: headers &+ index).unsafelyUnwrapped
}

@inline(__always) func slabAt(_ header: UInt) -> SlabPointer {
  SlabPointer(bitPattern: header).unsafelyUnwrapped
}

/// Slabs on zone, depot and orphan lists, linked through next and prev.
enum SlabLinks: ListLinks {
  static func next(_ node: UInt) -> UnsafeMutablePointer<UInt> {
    withUnsafeMutablePointer(to: &slabAt(node).pointee.next) { $0 }
  }
  static func prev(_ node: UInt) -> UnsafeMutablePointer<UInt> {
    withUnsafeMutablePointer(to: &slabAt(node).pointee.prev) { $0 }
  }
}

typealias SlabChain = Chain<SlabLinks>

extension UnsafeMutablePointer where Pointee == Slab {
  /// The header's own address: what lists and zone arrays hold.
  var address: UInt { UInt(bitPattern: self) }

  /// The first byte of the slab or span this header describes.
  var memory: UInt {
    let offset = address & SlabGeometry.regionMask
    return (address & ~SlabGeometry.regionMask) | (offset << (SlabGeometry.shift - SlabGeometry.headerShift))
  }
}

/// Free-list links are stored encoded with the slab's own key, and a chunk on a list
/// carries the slab's own tag in its second word. Both are drawn anew each time a unit is
/// formatted (SlabKeys), so what one slab's freed block gives away says nothing about any
/// other slab's. A chunk is checked when it is taken from the list: it must lie in the
/// slab, 16-byte aligned, and carry the tag; only a chunk the allocator itself put on the
/// list does (a corrupted link that points elsewhere, into the middle of a chunk or at a
/// live block of the same slab, finds no tag there). free() of a chunk that still carries
/// the tag is checked for a double free.
enum ChunkLink {
  @inline(__always) static func word(_ chunk: UInt, _ index: Int) -> UnsafeMutablePointer<UInt> {
    UnsafeMutablePointer<UInt>(bitPattern: chunk).unsafelyUnwrapped + index
  }

  /// A decoded link is plausible when it ends the list or stays, aligned, in the slab.
  @inline(__always) static func isPlausible(_ next: UInt, after slot: UInt) -> Bool {
    let target = next == 0 ? slot : next
    return ((target ^ slot) >> SlabGeometry.shift) | (target & (SlabGeometry.quantum - 1)) == 0
  }
}

/// Chunk starts by one multiplication. A chunk of d bytes starts at the granule offsets
/// k x d (offsets are below 64 KiB: 32 bits hold every product). With magic =
/// floor(2^32 / d) + 1 (d a power of two: 2^32 / d + 1) the product offset x magic wraps
/// to k x step, where step = d x magic - 2^32 lies in 1 ... d, and any other offset gives
/// at least magic, which is above every k x step of a slab. So "offset x magic < n x step"
/// holds exactly for the first n chunk starts. A span's chunk (one per unit) of 64 KiB or
/// more has offset 0 as its only start, as with d = 64 KiB, whose magic it takes.
enum ChunkStart {
  static func magic(size: UInt32) -> UInt32 {
    let d = min(size, UInt32(SlabGeometry.size))
    let powerOfTwo: UInt32 = d & (d &- 1) == 0 ? 1 : 0
    return UInt32.max / d &+ 1 &+ powerOfTwo
  }

  /// The product of the next chunk start: d x magic mod 2^32.
  static func step(magic: UInt32, size: UInt32) -> UInt32 {
    min(size, UInt32(SlabGeometry.size)) &* magic
  }
}

/// The keys and tags of slabs: a secret drawn at boot mixed with a counter, so no two
/// formats of a unit share them and none can be derived from another.
enum SlabKeys {
  nonisolated(unsafe) static var secret: UInt = 0
  static let counter = Atomic<UInt>(0)

  /// SplitMix64's finaliser.
  @inline(__always) static func mix(_ value: UInt) -> UInt {
    var z = value
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  static func draw() -> (key: UInt, tag: UInt) {
    let n = counter.wrappingAdd(1, ordering: .relaxed).newValue
    let key = mix(secret &+ n &* 0x9E37_79B9_7F4A_7C15)
    return (key, mix(key ^ secret) | 1)
  }
}
