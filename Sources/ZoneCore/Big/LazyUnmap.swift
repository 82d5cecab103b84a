// LazyUnmap.swift: the lazy munmap batcher for big blocks, after Linux's lazy vmalloc
// purge (lazy_max_pages).
//
// Owns: the cache of freed big-block address ranges ("extents") and the purger.
//  - A freed big block is not unmapped: it becomes an extent, merged with the extents that
//    touch it on either side, filed in a size bin and at the young end of an age list.
//  - A big allocation takes the first extent that fits (splitting it), so churn of large
//    buffers costs no system call at all. When none fits, the largest extent (if it holds
//    at least half the request) is grown with mremap: its pages are still resident, so
//    only the difference is faulted in fresh.
//  - Past its target, one purger unmaps the oldest extents down to 7/8 of it (purging to
//    half made big-block churn fault in three times as many fresh pages). The target
//    follows demand (Retention.lazyTarget): its floor is ZONEMALLOC_LAZY_MAX (32 MiB x
//    fls(ncpus) by default, Linux's lazy_max_pages), a sixteenth of it while the program
//    has no background thread (nothing else would return the memory of a program that
//    frees and then sleeps), and every big request that misses the cache soon after a
//    purge raises it; under a memory cap it is at most 1/16 of the cap.
//    The purge lock is a sleeping mutex, taken with trylock on the free path: a second
//    thread that wants a purge while one runs goes on instead of spinning (the 2016
//    vmalloc fix). The purger holds the big lock only to detach a bounded step (at most
//    32 extents and 2 MiB), and makes the munmap calls with no allocator lock held, so
//    no malloc or free ever waits for a whole purge. A free() past the threshold wakes
//    the background thread to purge; it purges itself only when there is no such thread.
//  - The idle pass (Runtime/Housekeeping.swift) purges extents idle for longer than the
//    release delay, so an idle program gives its memory back.
// Extents live in a table of slots; each is on a size bin's list (ExtentBins), on the age
// list (youngest first), and in two address indexes (by start, by end) that find the
// neighbours to merge with.
// Touches: the big lock (shared with BigBlocks), OS, Limit accounting, Retention.

import ZoneSupport
import Synchronization

struct Extent {
  var address: UInt
  var length: UInt
  var stamp: UInt        // ms when it entered the cache
  var binNext: UInt32    // its bin's list (a recycled slot: the free slots' chain)
  var binPrev: UInt32
  var older: UInt32      // the age list
  var younger: UInt32
}

/// Extents on their bin's list, and recycled slots, linked through binNext/binPrev.
enum ExtentBinLinks: ListLinks {
  static func next(_ node: UInt32) -> UnsafeMutablePointer<UInt32> {
    withUnsafeMutablePointer(to: &LazyUnmap.extent(node).pointee.binNext) { $0 }
  }
  static func prev(_ node: UInt32) -> UnsafeMutablePointer<UInt32> {
    withUnsafeMutablePointer(to: &LazyUnmap.extent(node).pointee.binPrev) { $0 }
  }
}

/// Extents on the age list, youngest first, linked through older/younger.
enum ExtentAgeLinks: ListLinks {
  static func next(_ node: UInt32) -> UnsafeMutablePointer<UInt32> {
    withUnsafeMutablePointer(to: &LazyUnmap.extent(node).pointee.older) { $0 }
  }
  static func prev(_ node: UInt32) -> UnsafeMutablePointer<UInt32> {
    withUnsafeMutablePointer(to: &LazyUnmap.extent(node).pointee.younger) { $0 }
  }
}

struct LazyState {
  var table: UInt = 0          // Extent slots 1...capacity (slot 0 means "none")
  var capacity: UInt32 = 0
  var unused: UInt32 = 0       // next never-used slot
  var freeSlots = Chain<ExtentBinLinks>()
  var ages = TailedList<ExtentAgeLinks>() // head: the youngest; tail: the oldest
  var bitmap = ExtentBins.Bitmap(repeating: 0)
  var bins = ExtentBins.Heads(repeating: 0)
  var starts = AddressMap()    // extent start -> slot
  var ends = AddressMap()      // extent end -> slot
}

enum LazyUnmap {
  /// Bytes held in extents. Read without the lock as a trigger and as a hint.
  static let bytes = Atomic<UInt>(0)
  static let purges = Atomic<UInt>(0)
  static let maxStepNanoseconds = Atomic<UInt>(0)
  /// Smallest extent worth keeping apart: a big block is at least this long.
  static var minimumExtent: UInt { OS.pageRound(20 << 10) }
  /// The most one purge step detaches under the big lock.
  static let stepBytes: UInt = 2 << 20

  /// Whether freed big blocks are cached at all (ZONEMALLOC_LAZY_MAX=0 unmaps at once).
  static var enabled: Bool { Config.lazyMax > 0 }

  /// The cache, mapped at boot.                                              [big lock]
  nonisolated(unsafe) private static var state: UnsafeMutablePointer<LazyState>? = nil
  @inline(__always) private static var lazy: UnsafeMutablePointer<LazyState> { state.unsafelyUnwrapped }

  static func setUp() -> Bool { OS.mapRecords(into: &state) }

  static func extent(_ slot: UInt32) -> UnsafeMutablePointer<Extent> {
    UnsafeMutablePointer<Extent>(bitPattern: lazy.pointee.table).unsafelyUnwrapped + Int(slot)
  }

  // MARK: - Cache operations                                                  [big lock]

  /// Caches a freed range, merging it with its neighbours. False if the cache is full.
  static func insertLocked(_ address: UInt, _ length: UInt, now: UInt) -> Bool {
    var start = address
    var size = length
    if let left = lazy.pointee.ends.value(for: address) {
      start = extent(UInt32(left)).pointee.address
      size += extent(UInt32(left)).pointee.length
      remove(UInt32(left))
    }
    if let right = lazy.pointee.starts.value(for: address + length) {
      size += extent(UInt32(right)).pointee.length
      remove(UInt32(right))
    }
    guard let slot = allocateSlot() else {
      if start != address || size != length { Diagnostics.fatal("lazy cache lost a merged extent at", start) }
      return false
    }
    extent(slot).pointee = Extent(address: start, length: size, stamp: now,
                                  binNext: 0, binPrev: 0, older: 0, younger: 0)
    add(slot)
    bytes.wrappingAdd(length, ordering: .relaxed)
    return true
  }

  /// Takes a range of at least `length` bytes: first fit in the request's bin, else the
  /// first extent of a larger bin. A remainder too small to serve a big block is handed
  /// out with it. Returns (address, length taken).
  static func takeLocked(_ length: UInt) -> (UInt, UInt)? {
    guard lazy.pointee.capacity > 0 else { return nil }
    let b = ExtentBins.bin(bytes: length)
    var slot = lazy.pointee.bins[b]
    while slot != 0 && extent(slot).pointee.length < length { slot = extent(slot).pointee.binNext }
    if slot == 0 {
      guard let higher = ExtentBins.first(in: lazy.pointee.bitmap, after: b) else { return nil }
      slot = lazy.pointee.bins[higher]
    }
    return takeFront(slot, length)
  }

  /// Takes `length` bytes from the extent that starts exactly at `address` (a big block
  /// growing into its free right-hand neighbour). Returns the length taken.
  static func extendLocked(at address: UInt, by length: UInt) -> UInt? {
    guard let slot = lazy.pointee.starts.value(for: address),
          extent(UInt32(slot)).pointee.length >= length else { return nil }
    return takeFront(UInt32(slot), length).1
  }

  /// Takes the largest cached extent whole, if it holds at least `minimum` bytes: a big
  /// request that fits nothing grows it with mremap, reusing its resident pages.
  static func takeLargestLocked(atLeast minimum: UInt) -> (UInt, UInt)? {
    guard lazy.pointee.capacity > 0, let b = ExtentBins.last(in: lazy.pointee.bitmap) else { return nil }
    var best = lazy.pointee.bins[b]
    var slot = extent(best).pointee.binNext
    while slot != 0 {
      if extent(slot).pointee.length > extent(best).pointee.length { best = slot }
      slot = extent(slot).pointee.binNext
    }
    let length = extent(best).pointee.length
    guard length >= minimum else { return nil }
    return takeFront(best, length)
  }

  private static func takeFront(_ slot: UInt32, _ length: UInt) -> (UInt, UInt) {
    let e = extent(slot)
    let address = e.pointee.address
    if e.pointee.length - length < minimumExtent {
      let taken = e.pointee.length
      remove(slot)
      bytes.wrappingSubtract(taken, ordering: .relaxed)
      return (address, taken)
    }
    unindex(slot)
    e.pointee.address += length
    e.pointee.length -= length
    index(slot)
    bytes.wrappingSubtract(length, ordering: .relaxed)
    return (address, length)
  }

  /// Detaches the oldest extents into batch while the cache holds more than `target`
  /// bytes or the oldest entered before `cutoff`, up to one step's worth of bytes.
  /// (Evicting the smallest first was measured too: fragments are rarely adjacent, so it
  /// cost more munmap calls and more faults than age order.)
  private static func detachLocked(_ batch: inout RangeBatch, target: UInt, cutoff: UInt) {
    while !batch.isFull && lazy.pointee.ages.tail != 0 && batch.bytes < stepBytes {
      let slot = lazy.pointee.ages.tail
      guard bytes.load(ordering: .relaxed) > target || extent(slot).pointee.stamp < cutoff else { return }
      let budget = stepBytes - batch.bytes
      let (address, length) = takeFront(slot, min(extent(slot).pointee.length, budget))
      batch.append(address, length)
    }
  }

  /// The cache was being changed when the child was forked: abandon it. Its extents stay
  /// mapped and are never reused in this child; their bytes leave `held`.
  static func abandonInChild() {
    Limit.release(bytes.exchange(0, ordering: .relaxed))
    lazy.pointee = LazyState()
  }

  /// True when [start, end) overlaps a cached extent.                       [big lock]
  static func intersectsLocked(_ start: UInt, _ end: UInt) -> Bool {
    lazy.pointee.starts.contains { address, slot in
      start < address &+ extent(UInt32(slot)).pointee.length && end > address
    }
  }

  // MARK: - Purging

  /// Unmaps cached extents, oldest first, down to `target` bytes, plus every extent older
  /// than `cutoff` ms. With `wait` false a purge already running makes this return at once.
  @discardableResult
  static func purge(downTo target: UInt, olderThan cutoff: UInt, wait: Bool,
                    steps: Int = Int.max) -> UInt {
    guard state != nil else { return 0 }
    if wait { Lock.purge.lock() } else if !Lock.purge.tryLock() { return 0 }
    defer { Lock.purge.unlock() }
    var released: UInt = 0
    var counted = false
    for _ in 0..<steps {
      var batch = RangeBatch()
      Lock.big.lock()
      detachLocked(&batch, target: target, cutoff: cutoff)
      Lock.big.unlock()
      guard batch.count > 0 else { break }
      if !counted {
        purges.wrappingAdd(1, ordering: .relaxed)
        counted = true
      }
      let started = OS.nowNanoseconds()
      batch.sortByAddress()
      batch.forEachRun { OS.unmap($0, $1) }
      maxStepNanoseconds.raise(toAtLeast: OS.nowNanoseconds() &- started)
      Limit.release(batch.bytes)
      released += batch.bytes
    }
    return released
  }

  /// Past the target, purges down to 7/8 of it, at most `steps` bounded steps.
  static func purgeIfOverTarget(steps: Int) {
    let limit = Retention.lazyTarget
    guard bytes.load(ordering: .relaxed) > limit else { return }
    if purge(downTo: limit / 8 * 7, olderThan: 0, wait: false, steps: steps) > 0 { Retention.lazyCache.noteTrim() }
  }

  // MARK: - Bins, age list and indexes

  /// Files a slot: its bin, the young end of the age list, the start and end indexes.
  private static func add(_ slot: UInt32) {
    index(slot)
    lazy.pointee.ages.push(slot)
  }

  /// Unfiles a slot completely and recycles it.
  private static func remove(_ slot: UInt32) {
    unindex(slot)
    lazy.pointee.ages.remove(slot)
    lazy.pointee.freeSlots.append(slot)
  }

  /// Bin list and address indexes (the age list is separate, so a shrinking extent
  /// keeps its age).
  private static func index(_ slot: UInt32) {
    let e = extent(slot)
    let b = ExtentBins.bin(bytes: e.pointee.length)
    LinkedList<ExtentBinLinks>.push(&lazy.pointee.bins[b], slot)
    ExtentBins.mark(&lazy.pointee.bitmap, b)
    // An index that cannot grow only costs merging; lookups stay correct.
    _ = lazy.pointee.starts.set(e.pointee.address, UInt(slot))
    _ = lazy.pointee.ends.set(e.pointee.address + e.pointee.length, UInt(slot))
  }

  private static func unindex(_ slot: UInt32) {
    let e = extent(slot)
    let b = ExtentBins.bin(bytes: e.pointee.length)
    LinkedList<ExtentBinLinks>.remove(&lazy.pointee.bins[b], slot)
    if lazy.pointee.bins[b] == 0 { ExtentBins.clear(&lazy.pointee.bitmap, b) }
    _ = lazy.pointee.starts.remove(e.pointee.address)
    _ = lazy.pointee.ends.remove(e.pointee.address + e.pointee.length)
  }

  private static func allocateSlot() -> UInt32? {
    if lazy.pointee.capacity == 0 && !mapTable() { return nil }
    if let slot = lazy.pointee.freeSlots.pop() { return slot }
    guard lazy.pointee.unused <= lazy.pointee.capacity else { return nil }
    let slot = lazy.pointee.unused
    lazy.pointee.unused += 1
    return slot
  }

  /// Room for one extent per 16 KiB of the threshold (merging keeps far fewer).
  private static func mapTable() -> Bool {
    let wanted = min(max(Config.lazyMax / 16384 + 64, 256), 1 << 20)
    guard let table = OS.map((wanted + 1) * UInt(MemoryLayout<Extent>.stride)) else { return false }
    lazy.pointee.table = table
    lazy.pointee.capacity = UInt32(wanted)
    lazy.pointee.unused = 1
    return true
  }
}
