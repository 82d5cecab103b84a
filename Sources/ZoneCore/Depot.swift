// Depot.swift: empty slabs and spans, per NUMA node, with hysteresis (seed 000's per-cpu
// cache).
//
// Owns: each node's lists of empty memory, one per size in granules (1 for slabs and
// 1-granule spans, 2...8 for larger spans): dirty units (pages still resident, reused
// first) and a stack of clean ones (pages returned with MADV_DONTNEED; only address space
// is left, reused when no dirty unit fits).
// A depot keeps a working set of dirty granules: depotSlabsPerCPU x ncpus, or an eighth of
// the granules in use if that is more, so that the hysteresis scales with the program (a
// storm of short-lived threads hands back and takes again thousands of slabs a second; a
// fixed 2 MiB depot made it fault every one of them back in). When a put takes the depot
// past twice its working set, the background thread releases the excess in bulk, largest
// units first: unlinked under the lock, madvised in runs of adjacent units after the lock
// is dropped (no free() makes that system call; without the thread, the caller does).
// The background thread releases units idle longer than the release delay; reclaim
// releases what the limit needs.
// Touches: parked slab headers (dirty list links), Limit accounting.
//
// Clean units are tracked in side arrays, not through their headers: writing a link into
// released memory would fault its first page back in.

import ZoneSupport
import Synchronization

struct DepotList {
  var dirtyHead: UInt = 0   // newest first                                     [depot lock]
  var dirtyTail: UInt = 0
  var dirtyCount: UInt = 0
  var cleanStack: UInt = 0  // array of addresses of released units
  var cleanCount: UInt = 0
  var cleanCapacity: UInt = 0
}

struct DepotState {
  var lists: InlineArray<8, DepotList>     // by granules - 1
  var dirtyGranules: UInt                  // sum over the lists                 [depot lock]
}

enum Depot {
  /// Dirty granules in every depot (a gauge, read without locks).
  static let dirtyGranules = Atomic<UInt>(0)
  static let releasedGranules = Atomic<UInt>(0)
  /// The configured floor of the working set, set at boot.
  nonisolated(unsafe) static var minimumKeep: UInt = 32

  /// Dirty granules a depot keeps.
  static var keep: UInt {
    max(minimumKeep, Stats.slabsInUse.load(ordering: .relaxed) / 8)
  }

  /// Marks an empty slab or span as parked: no owner, and any further free into it is
  /// invalid. Its remote list is dropped: no chunk of an empty slab is live.
  static func prepareForParking(_ slab: SlabPointer) {
    slab.pointee.remote.store(RemoteState.parked, ordering: .releasing)
    slab.pointee.owner.store(0, ordering: .relaxed)
    slab.setList(SlabList.parked)
    slab.pointee.parkedAt = OS.nowMilliseconds()
    Stats.slabsInUse.wrappingSubtract(UInt(slab.pointee.granules), ordering: .relaxed)
  }

  static func put(_ slab: SlabPointer) {
    var chain = SlabChain()
    chain.append(slab)
    put(chain)
  }

  /// Parks a batch of empty units, taking each node's lock once per run of that node.
  static func put(_ batch: SlabChain) {
    guard batch.count > 0 else { return }
    var chain = batch
    var lockedNode = -1
    var overflowing: UInt64 = 0
    var added: UInt = 0
    let keep = self.keep
    while let slab = chain.pop() {
      let node = Int(slab.pointee.node)
      if node != lockedNode {
        if lockedNode >= 0 { Lock.depot(lockedNode).unlock() }
        Lock.depot(node).lock()
        lockedNode = node
      }
      let g = UInt(slab.pointee.granules)
      let list = self.list(node, Int(g))
      SlabChain.push(&list.pointee.dirtyHead, slab)
      if list.pointee.dirtyTail == 0 { list.pointee.dirtyTail = slab.base }
      list.pointee.dirtyCount += 1
      state(node).pointee.dirtyGranules += g
      added += g
      if state(node).pointee.dirtyGranules > 2 * keep { overflowing |= 1 << UInt64(node) }
    }
    Lock.depot(lockedNode).unlock()
    dirtyGranules.wrappingAdd(added, ordering: .relaxed)
    Background.ensureStarted()
    // The background thread releases the excess; without one, the caller does.
    if overflowing != 0 && !Background.wakeToRelease() { trimOverflowing() }
  }

  /// Releases every node's depot that holds more than twice its working set down to it.
  static func trimOverflowing() {
    let keep = self.keep
    for node in 0..<Numa.nodeCount where state(node).pointee.dirtyGranules > 2 * keep {
      release(node: node, keeping: keep, parkedBefore: UInt.max)
    }
  }

  /// An empty unit of `granules` from the node: dirty first (warm), then clean (charged to
  /// the limit). The flag says whether it is fresh (zero).
  static func take(_ node: Int, granules: Int) -> (SlabPointer, Bool)? {
    let list = self.list(node, granules)
    let g = UInt(granules)
    Lock.depot(node).lock()
    if let slab = SlabChain.pop(&list.pointee.dirtyHead) {
      if list.pointee.dirtyHead == 0 { list.pointee.dirtyTail = 0 }
      list.pointee.dirtyCount -= 1
      state(node).pointee.dirtyGranules -= g
      Lock.depot(node).unlock()
      dirtyGranules.wrappingSubtract(g, ordering: .relaxed)
      return (slab, false)
    }
    guard list.pointee.cleanCount > 0 else {
      Lock.depot(node).unlock()
      return nil
    }
    list.pointee.cleanCount -= 1
    let base = cleanStack(list)[Int(list.pointee.cleanCount)]
    Lock.depot(node).unlock()
    if Limit.reserve(g * SlabGeometry.size) { return (slabAt(base), true) }
    Lock.depot(node).lock()
    cleanStack(list)[Int(list.pointee.cleanCount)] = base
    list.pointee.cleanCount += 1
    Lock.depot(node).unlock()
    return nil
  }

  /// Returns the pages of dirty units to the OS while the node keeps more than `keeping`
  /// dirty granules: largest units first, oldest first within a size, and only units
  /// parked before `parkedBefore` (ms). Returns the granules released.
  @discardableResult
  static func release(node: Int, keeping: UInt, parkedBefore: UInt) -> UInt {
    var released: UInt = 0
    for granules in stride(from: SizeClass.maxGranules, through: 1, by: -1) {
      released += release(node: node, granules: granules, keeping: keeping, parkedBefore: parkedBefore)
    }
    return released
  }

  private static func release(node: Int, granules: Int, keeping: UInt, parkedBefore: UInt) -> UInt {
    let list = self.list(node, granules)
    let g = UInt(granules)
    var released: UInt = 0
    while true {
      var batch = RangeBatch()
      Lock.depot(node).lock()
      while !batch.isFull && state(node).pointee.dirtyGranules > keeping && list.pointee.dirtyTail != 0 {
        let slab = slabAt(list.pointee.dirtyTail)
        guard slab.pointee.parkedAt < parkedBefore else { break }
        list.pointee.dirtyTail = slab.pointee.prev
        SlabChain.remove(&list.pointee.dirtyHead, slab)
        list.pointee.dirtyCount -= 1
        state(node).pointee.dirtyGranules -= g
        batch.append(slab.base, g * SlabGeometry.size)
      }
      Lock.depot(node).unlock()
      guard batch.count > 0 else { break }
      batch.sortByAddress()
      batch.forEachRun { OS.discard($0, $1) }
      pushClean(node, list, batch)
      let n = UInt(batch.count) * g
      Limit.release(n * SlabGeometry.size)
      dirtyGranules.wrappingSubtract(n, ordering: .relaxed)
      releasedGranules.wrappingAdd(n, ordering: .relaxed)
      released += n
      if !batch.isFull { break }
    }
    return released
  }

  /// Releases dirty units of every node's depot. Returns the granules released.
  @discardableResult
  static func releaseAll(keeping: UInt, parkedBefore: UInt) -> UInt {
    var released: UInt = 0
    for node in 0..<Numa.nodeCount { released += release(node: node, keeping: keeping, parkedBefore: parkedBefore) }
    return released
  }

  // MARK: - Storage

  private static func state(_ node: Int) -> UnsafeMutablePointer<DepotState> {
    withUnsafeMutablePointer(to: &Global.g.pointee.depots[node]) { $0 }
  }

  private static func list(_ node: Int, _ granules: Int) -> UnsafeMutablePointer<DepotList> {
    withUnsafeMutablePointer(to: &Global.g.pointee.depots[node].lists[granules - 1]) { $0 }
  }

  private static func cleanStack(_ list: UnsafeMutablePointer<DepotList>) -> UnsafeMutablePointer<UInt> {
    UnsafeMutablePointer<UInt>(bitPattern: list.pointee.cleanStack).unsafelyUnwrapped
  }

  /// Pushes released units on the clean stack, growing it when needed.
  private static func pushClean(_ node: Int, _ list: UnsafeMutablePointer<DepotList>,
                                _ batch: borrowing RangeBatch) {
    Lock.depot(node).lock()
    defer { Lock.depot(node).unlock() }
    if list.pointee.cleanCount + UInt(batch.count) > list.pointee.cleanCapacity { growCleanStack(list) }
    for i in 0..<batch.count {
      cleanStack(list)[Int(list.pointee.cleanCount)] = batch.start(at: i)
      list.pointee.cleanCount += 1
    }
  }

  /// Doubles a clean stack. Rare: each entry stands for at least 64 KiB released.
  private static func growCleanStack(_ list: UnsafeMutablePointer<DepotList>) {
    let capacity = max(list.pointee.cleanCapacity * 2, 4096)
    guard let fresh = OS.map(capacity * 8) else { Diagnostics.fatal("cannot map a depot stack of", capacity) }
    if list.pointee.cleanStack != 0 {
      memcpy(UnsafeMutableRawPointer(bitPattern: fresh).unsafelyUnwrapped,
             UnsafeRawPointer(bitPattern: list.pointee.cleanStack).unsafelyUnwrapped,
             Int(list.pointee.cleanCount * 8))
      OS.unmap(list.pointee.cleanStack, list.pointee.cleanCapacity * 8)
    }
    list.pointee.cleanStack = fresh
    list.pointee.cleanCapacity = capacity
  }
}
