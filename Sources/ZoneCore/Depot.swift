// Depot.swift: empty slabs, per NUMA node, with hysteresis (seed 000's per-cpu cache).
//
// Owns: each node's list of dirty empty slabs (pages still resident, reused first) and its
// stack of clean ones (pages returned with MADV_DONTNEED; only address space is left).
// A depot keeps a working set of dirty slabs: depotSlabsPerCPU x ncpus, or an eighth of
// the slabs in use if that is more, so that the hysteresis scales with the program (a
// storm of short-lived threads hands back and takes again thousands of slabs a second;
// a fixed 2 MiB depot made it fault every one of them back in). When a put takes the
// depot past twice its working set, the excess is released in bulk: unlinked under the
// lock, madvised in runs of adjacent slabs after the lock is dropped. The background thread releases dirty
// slabs that sat idle longer than the release delay; reclaim releases them all.
// Touches: parked slab headers (dirty list links), Limit accounting.
//
// Clean slabs are tracked in a side array, not through their headers: writing a link into
// a released slab would fault its first page back in.

import ZoneSupport
import Synchronization

enum Depot {
  static let dirtySlabs = Atomic<UInt>(0)
  static let releasedSlabs = Atomic<UInt>(0)
  /// The configured floor of the working set, set at boot.
  nonisolated(unsafe) static var minimumKeep: UInt = 32

  /// Dirty slabs a depot keeps.
  static var keep: UInt {
    max(minimumKeep, Stats.slabsInUse.load(ordering: .relaxed) / 8)
  }

  /// Marks an empty slab as parked: no owner, and any further free into it is invalid.
  /// The remote list is dropped: no chunk of an empty slab is live.
  static func prepareForParking(_ slab: SlabPointer) {
    slab.pointee.remote.store(RemoteState.parked, ordering: .releasing)
    slab.pointee.owner.store(0, ordering: .relaxed)
    slab.setList(SlabList.parked)
    slab.pointee.parkedAt = OS.nowMilliseconds()
    Stats.slabsInUse.wrappingSubtract(1, ordering: .relaxed)
  }

  static func put(_ slab: SlabPointer) {
    var chain = SlabChain()
    chain.append(slab)
    put(chain)
  }

  /// Parks a batch of empty slabs, taking each node's lock once per run of that node.
  static func put(_ batch: SlabChain) {
    guard batch.count > 0 else { return }
    var chain = batch
    var lockedNode = -1
    var overflowing: UInt64 = 0
    let keep = self.keep
    while let slab = chain.pop() {
      let node = Int(slab.pointee.node)
      if node != lockedNode {
        if lockedNode >= 0 { Lock.depot(lockedNode).unlock() }
        Lock.depot(node).lock()
        lockedNode = node
      }
      let depot = state(node)
      SlabChain.push(&depot.pointee.dirtyHead, slab)
      if depot.pointee.dirtyTail == 0 { depot.pointee.dirtyTail = slab.base }
      depot.pointee.dirtyCount += 1
      if depot.pointee.dirtyCount > 2 * keep { overflowing |= 1 << UInt64(node) }
    }
    Lock.depot(lockedNode).unlock()
    dirtySlabs.wrappingAdd(batch.count, ordering: .relaxed)
    var node = 0
    while overflowing != 0 {
      if overflowing & 1 != 0 { release(node: node, keeping: keep, parkedBefore: UInt.max) }
      overflowing >>= 1
      node += 1
    }
    Background.ensureStarted()
  }

  /// An empty slab of the node: dirty first (warm), then clean (charged to the limit).
  static func take(_ node: Int) -> (SlabPointer, Bool)? {
    let depot = state(node)
    Lock.depot(node).lock()
    if let slab = SlabChain.pop(&depot.pointee.dirtyHead) {
      if depot.pointee.dirtyHead == 0 { depot.pointee.dirtyTail = 0 }
      depot.pointee.dirtyCount -= 1
      Lock.depot(node).unlock()
      dirtySlabs.wrappingSubtract(1, ordering: .relaxed)
      return (slab, false)
    }
    guard depot.pointee.cleanCount > 0 else {
      Lock.depot(node).unlock()
      return nil
    }
    depot.pointee.cleanCount -= 1
    let base = cleanStack(depot)[Int(depot.pointee.cleanCount)]
    Lock.depot(node).unlock()
    if Limit.reserve(SlabGeometry.size) { return (slabAt(base), true) }
    Lock.depot(node).lock()
    cleanStack(depot)[Int(depot.pointee.cleanCount)] = base
    depot.pointee.cleanCount += 1
    Lock.depot(node).unlock()
    return nil
  }

  /// Returns the pages of dirty slabs to the OS, oldest first, while more than `keeping`
  /// remain and the oldest was parked before `parkedBefore` (ms). Returns slabs released.
  @discardableResult
  static func release(node: Int, keeping: UInt, parkedBefore: UInt) -> UInt {
    let depot = state(node)
    var released: UInt = 0
    while true {
      var batch = RangeBatch()
      Lock.depot(node).lock()
      while !batch.isFull && depot.pointee.dirtyCount > keeping && depot.pointee.dirtyTail != 0 {
        let slab = slabAt(depot.pointee.dirtyTail)
        guard slab.pointee.parkedAt < parkedBefore else { break }
        depot.pointee.dirtyTail = slab.pointee.prev
        SlabChain.remove(&depot.pointee.dirtyHead, slab)
        depot.pointee.dirtyCount -= 1
        batch.append(slab.base, SlabGeometry.size)
      }
      Lock.depot(node).unlock()
      guard batch.count > 0 else { break }
      batch.sortByAddress()
      batch.forEachRun { OS.discard($0, $1) }
      pushClean(node, batch)
      let n = UInt(batch.count)
      Limit.release(n * SlabGeometry.size)
      dirtySlabs.wrappingSubtract(n, ordering: .relaxed)
      releasedSlabs.wrappingAdd(n, ordering: .relaxed)
      released += n
      if !batch.isFull { break }
    }
    return released
  }

  /// Releases dirty slabs of every node that has a depot in use.
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

  private static func cleanStack(_ depot: UnsafeMutablePointer<DepotState>) -> UnsafeMutablePointer<UInt> {
    UnsafeMutablePointer<UInt>(bitPattern: depot.pointee.cleanStack).unsafelyUnwrapped
  }

  /// Pushes released slabs on the clean stack, growing it when needed.
  private static func pushClean(_ node: Int, _ batch: borrowing RangeBatch) {
    let depot = state(node)
    Lock.depot(node).lock()
    defer { Lock.depot(node).unlock() }
    if depot.pointee.cleanCount + UInt(batch.count) > depot.pointee.cleanCapacity {
      growCleanStack(depot)
    }
    for i in 0..<batch.count {
      cleanStack(depot)[Int(depot.pointee.cleanCount)] = batch.start(at: i)
      depot.pointee.cleanCount += 1
    }
  }

  /// Doubles the clean stack. Rare: each entry stands for 64 KiB of released memory.
  private static func growCleanStack(_ depot: UnsafeMutablePointer<DepotState>) {
    let capacity = max(depot.pointee.cleanCapacity * 2, 4096)
    guard let fresh = OS.map(capacity * 8) else { Diagnostics.fatal("cannot map the depot of", capacity) }
    if depot.pointee.cleanStack != 0 {
      memcpy(UnsafeMutableRawPointer(bitPattern: fresh).unsafelyUnwrapped,
             UnsafeRawPointer(bitPattern: depot.pointee.cleanStack).unsafelyUnwrapped,
             Int(depot.pointee.cleanCount * 8))
      OS.unmap(depot.pointee.cleanStack, depot.pointee.cleanCapacity * 8)
    }
    depot.pointee.cleanStack = fresh
    depot.pointee.cleanCapacity = capacity
  }
}
