// BigBlocks.swift: blocks above the largest span (512 KiB), as page-granular mappings.
//
// Owns: the registry of live big blocks (address -> length, NUMA node and whether the heap
// profiler sampled the block), and the policy for allocating, freeing, sizing and
// reallocating them.
//  - allocate: reuse a cached extent (LazyUnmap), else grow the largest cached extent
//    with mremap, else map fresh memory, bound to the thread's node. Fresh mappings are
//    zero, so calloc does not clear them again.
//  - free: the block's range goes to the lazy cache, not to munmap.
//  - realloc: shrink in place (the tail goes to the cache); grow into a cached right-hand
//    neighbour when there is one, else with mremap, which moves page tables and copies
//    no bytes.
//  - a sampled block's entry carries `sampledFlag`; its free and its move by mremap are
//    reported to the caller, which tells the heap profiler.
// Nothing here calls up: what the caller must do next (tell the profiler, move a block
// by copying, start housekeeping) comes back as a result.
// Touches: the big lock (registry and lazy cache), OS, Limit, Numa, LazyUnmap,
// Retention, Release, and the calling thread's zone (its node).

import ZoneSupport
import Synchronization

enum BigBlocks {
  static let allocs = Atomic<UInt>(0)
  static let frees = Atomic<UInt>(0)
  static let reuses = Atomic<UInt>(0)
  static let liveBytes = Atomic<UInt>(0)
  private static var pageMask: UInt { OS.pageSize - 1 }
  /// Registry values are length | tag; the tag is the node + 1 (0 when NUMA is off) and
  /// this flag, set while the heap profiler holds a sample of the block.
  static let sampledFlag: UInt = 1 << 11
  private static let nodeMask: UInt = sampledFlag - 1

  /// Live big blocks: address -> length | tag, mapped at boot.                  [big lock]
  nonisolated(unsafe) private static var map: UnsafeMutablePointer<AddressMap>? = nil
  @inline(__always) private static var registry: UnsafeMutablePointer<AddressMap> { map.unsafelyUnwrapped }

  static func setUp() -> Bool { OS.mapRecords(into: &map) }

  /// False before boot: no block is big.
  static var isSetUp: Bool { map != nil }

  /// size rounded up to whole pages, or nil when that overflows what can be mapped.
  static func pageRound(_ size: UInt) -> UInt? {
    size > UInt(Int.max) - pageMask ? nil : (size + pageMask) & ~pageMask
  }

  // MARK: - Allocation

  /// A big block handed out: its address and the length it really has.
  struct Block {
    let address: UInt
    let length: UInt
    var pointer: UnsafeMutableRawPointer { UnsafeMutableRawPointer(bitPattern: address).unsafelyUnwrapped }
  }

  /// A block of at least `size` bytes (the caller has booted the allocator), or nil.
  static func allocate(_ size: UInt, alignment: UInt, zeroed: Bool) -> Block? {
    guard let length = pageRound(max(size, 1)) else { return nil }
    if alignment <= OS.pageSize, let block = reuse(length, size, zeroed) { return block }
    Retention.noteLazyMiss(length)
    if alignment <= OS.pageSize, let block = regrow(length, size, zeroed) { return block }
    return mapFresh(length, alignment)
  }

  private static func reuse(_ length: UInt, _ size: UInt, _ zeroed: Bool) -> Block? {
    guard LazyUnmap.bytes.load(ordering: .relaxed) >= length else { return nil }
    Lock.big.lock()
    guard let (address, taken) = LazyUnmap.takeLocked(length) else {
      Lock.big.unlock()
      return nil
    }
    guard registry.pointee.set(address, taken) else {
      _ = LazyUnmap.insertLocked(address, taken, now: OS.nowMilliseconds())
      Lock.big.unlock()
      return nil
    }
    Lock.big.unlock()
    reuses.wrappingAdd(1, ordering: .relaxed)
    let block = noteAllocated(address, taken)
    if zeroed { memset(block.pointer, 0, Int(size)) }
    return block
  }

  /// No cached extent fits: grow the largest one (at least half the request) with
  /// mremap, which keeps its resident pages. nil when there is none or mremap refuses.
  private static func regrow(_ length: UInt, _ size: UInt, _ zeroed: Bool) -> Block? {
    guard LazyUnmap.bytes.load(ordering: .relaxed) >= length / 2 else { return nil }
    Lock.big.lock()
    let found = LazyUnmap.takeLargestLocked(atLeast: length / 2)
    Lock.big.unlock()
    guard let (address, old) = found else { return nil }
    guard Limit.reserve(length - old) else {
      recache(address, old)
      return nil
    }
    guard let moved = OS.remap(address, from: old, to: length) else {
      Limit.release(length - old)
      recache(address, old)
      return nil
    }
    Lock.big.lock()
    let registered = registry.pointee.set(moved, length)
    Lock.big.unlock()
    guard registered else {
      OS.unmap(moved, length)
      Limit.release(length)
      return nil
    }
    reuses.wrappingAdd(1, ordering: .relaxed)
    let block = noteAllocated(moved, length)
    if zeroed { memset(block.pointer, 0, Int(min(size, old))) } // the grown tail is fresh, hence zero
    return block
  }

  private static func recache(_ address: UInt, _ length: UInt) {
    Lock.big.lock()
    let cached = LazyUnmap.insertLocked(address, length, now: OS.nowMilliseconds())
    Lock.big.unlock()
    if !cached {
      OS.unmap(address, length)
      Limit.release(length)
    }
  }

  private static func mapFresh(_ length: UInt, _ alignment: UInt) -> Block? {
    let aligned = alignment > OS.pageSize
    guard !aligned || (alignment <= UInt(Int.max) && length <= UInt(Int.max) - alignment) else { return nil }
    let span = aligned ? length + alignment : length
    guard Limit.reserve(length) else { return nil }
    guard let raw = OS.map(span) else {
      Limit.release(length)
      return nil
    }
    var address = raw
    if aligned {
      address = (raw + alignment - 1) & ~(alignment - 1)
      OS.unmap(raw, address - raw)
      OS.unmap(address + length, raw + span - address - length)
    }
    let node = currentNode()
    Numa.prefer(address, length, node: node)
    HugePages.adviseBig(address, length)
    Lock.big.lock()
    let registered = registry.pointee.set(address, length | (Numa.enabled ? UInt(node + 1) : 0))
    Lock.big.unlock()
    guard registered else {
      OS.unmap(address, length)
      Limit.release(length)
      return nil
    }
    return noteAllocated(address, length)
  }

  // MARK: - Free

  /// What a free did: nothing (the address is no big block), or freed it (and whether
  /// the heap profiler had sampled it).
  struct Freed {
    let found: Bool
    let sampled: Bool
  }

  /// Frees a big block, if address is one.
  static func free(_ address: UInt) -> Freed {
    guard isSetUp else { return Freed(found: false, sampled: false) }
    let now = OS.nowMilliseconds()
    Lock.big.lock()
    guard let value = registry.pointee.remove(address) else {
      Lock.big.unlock()
      return Freed(found: false, sampled: false)
    }
    let length = value & ~pageMask
    let cached = LazyUnmap.enabled && LazyUnmap.insertLocked(address, length, now: now)
    Lock.big.unlock()
    let freed = Freed(found: true, sampled: value & sampledFlag != 0)
    frees.wrappingAdd(1, ordering: .relaxed)
    liveBytes.wrappingSubtract(length, ordering: .relaxed)
    if !cached {
      OS.unmap(address, length)
      Limit.release(length)
      return freed
    }
    Release.noteCached()
    let held = LazyUnmap.bytes.load(ordering: .relaxed)
    let target = Retention.lazyTarget
    if held > target {
      // The background thread purges; this free only wakes it (a pile of several times
      // the target freed at once is its work too: a munmap in free is a latency spike).
      // Without one, the free purges itself; only if the cache runs far away from a busy
      // background thread does each free help with one bounded step.
      if !Release.requestPass() { LazyUnmap.purgeIfOverTarget(steps: Int.max) }
      else if held > helpFactor * target { LazyUnmap.purgeIfOverTarget(steps: 1) }
    }
    return freed
  }

  /// How far past its target the cache must run before a free helps a busy purger.
  static let helpFactor: UInt = 16

  // MARK: - Queries

  /// (length, node tag) of a live big block, or nil.
  static func lookup(_ address: UInt) -> UInt? {
    guard isSetUp else { return nil }
    Lock.big.lock()
    let value = registry.pointee.value(for: address)
    Lock.big.unlock()
    return value
  }

  /// True when [start, end) overlaps a live big block or a cached extent. A scan under
  /// the big lock: only for the rare questions about foreign pointers (Ownership.swift).
  static func intersects(_ start: UInt, _ end: UInt) -> Bool {
    guard isSetUp else { return false }
    Lock.big.lock()
    defer { Lock.big.unlock() }
    let live = registry.pointee.contains { key, value in start < key &+ (value & ~pageMask) && end > key }
    return live || LazyUnmap.intersectsLocked(start, end)
  }

  static func usableSize(_ address: UInt) -> UInt? {
    lookup(address).map { $0 & ~pageMask }
  }

  /// The node a fresh block was bound to, or -1.
  static func node(of address: UInt) -> Int {
    guard let value = lookup(address), value & nodeMask != 0 else { return -1 }
    return Int(value & nodeMask) - 1
  }

  /// Flags a live block as sampled by the heap profiler.
  static func markSampled(_ address: UInt) {
    Lock.big.lock()
    if let value = registry.pointee.value(for: address) { _ = registry.pointee.set(address, value | sampledFlag) }
    Lock.big.unlock()
  }

  // MARK: - Realloc

  /// What realloc of a big block did, or what its caller must do.
  enum Resize {
    case notBig                                          // not a big block
    case resized(UnsafeMutableRawPointer?)               // in place or by mremap; nil: no memory
    case copy(usable: UInt)                              // allocate, copy `usable` bytes, free
    case remapped(from: UInt, to: UnsafeMutableRawPointer) // a sampled block moved: tell the profiler
  }

  static func resize(_ address: UInt, to size: UInt) -> Resize {
    guard let value = lookup(address) else { return .notBig }
    let old = value & ~pageMask
    let p = UnsafeMutableRawPointer(bitPattern: address)
    if size <= UInt(SizeClass.limit) { return .copy(usable: old) }
    guard let length = pageRound(size) else { return .resized(nil) }
    if length == old { return .resized(p) }
    if length < old {
      shrink(address, from: old, to: length, tag: value & pageMask)
      return .resized(p)
    }
    return grow(address, from: old, to: length, tag: value & pageMask)
  }

  /// The tail goes to the lazy cache: no system call.
  private static func shrink(_ address: UInt, from old: UInt, to length: UInt, tag: UInt) {
    let now = OS.nowMilliseconds()
    Lock.big.lock()
    _ = registry.pointee.set(address, length | tag)
    let cached = LazyUnmap.enabled && LazyUnmap.insertLocked(address + length, old - length, now: now)
    Lock.big.unlock()
    liveBytes.wrappingSubtract(old - length, ordering: .relaxed)
    if !cached {
      OS.unmap(address + length, old - length)
      Limit.release(old - length)
    }
  }

  private static func grow(_ address: UInt, from old: UInt, to length: UInt, tag: UInt) -> Resize {
    Lock.big.lock()
    if let taken = LazyUnmap.extendLocked(at: address + old, by: length - old) {
      _ = registry.pointee.set(address, (old + taken) | tag)
      Lock.big.unlock()
      liveBytes.wrappingAdd(taken, ordering: .relaxed)
      return .resized(UnsafeMutableRawPointer(bitPattern: address))
    }
    Lock.big.unlock()
    guard Limit.reserve(length - old) else { return .resized(nil) }
    Lock.big.lock()
    _ = registry.pointee.remove(address)
    Lock.big.unlock()
    if let moved = OS.remap(address, from: old, to: length) {
      Lock.big.lock()
      let registered = registry.pointee.set(moved, length | tag)
      Lock.big.unlock()
      if !registered { Diagnostics.fatal("cannot register a remapped block at", moved) }
      liveBytes.wrappingAdd(length - old, ordering: .relaxed)
      let p = UnsafeMutableRawPointer(bitPattern: moved).unsafelyUnwrapped
      return tag & sampledFlag != 0 && moved != address ? .remapped(from: address, to: p) : .resized(p)
    }
    Limit.release(length - old)
    Lock.big.lock()
    _ = registry.pointee.set(address, old | tag)
    Lock.big.unlock()
    // mremap refused (for example a block that spans two mappings): copy instead.
    return .copy(usable: old)
  }

  // MARK: - Helpers

  /// Counts a big block handed out.
  private static func noteAllocated(_ address: UInt, _ length: UInt) -> Block {
    allocs.wrappingAdd(1, ordering: .relaxed)
    liveBytes.wrappingAdd(length, ordering: .relaxed)
    return Block(address: address, length: length)
  }

  private static func currentNode() -> Int {
    guard Numa.enabled else { return 0 }
    let zone = ThreadZone.current
    return Zones.isPlaceholder(zone) ? Numa.nodeOfCurrentCPU() : Int(zone.pointee.node)
  }
}
