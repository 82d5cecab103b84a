// GuardPool.swift: the guarded slots' memory, their records, and the quarantine.
//
// Owns:
//  - the pool: one reservation of address space (PROT_NONE, MAP_NORESERVE: no commit
//    charge), made the first time a guarded allocation is wanted, laid out as a guard
//    page, then each slot's data pages followed by a guard page. So every slot's data
//    lies between two guard pages. Only the pages under a live block are accessible;
//    on free their contents are dropped and they become PROT_NONE again, so only live
//    blocks are resident (a madvise and a page fault more per guarded block, about 1.6
//    times its cost: at the default rate nothing measurable, where keeping them cost a
//    small program about 1 MiB, a page per slot that ever held a block); a block is
//    cleared when it is placed.
//  - the records: a separately mapped table, one record per slot (state, block, size,
//    allocating and freeing stacks), never inside the guarded pages.
//  - the quarantine: a lock-free FIFO ring of the free slots' indices (Vyukov's bounded
//    queue: a sequence number per cell, one CAS per push or pop). A freed slot goes to
//    the back, so it is reused only after every other free slot, and a late use of the
//    freed block faults in the meantime.
// If either mapping fails (for example under a tight RLIMIT_AS) guarding stays off.
// Nothing here takes a lock: a fork in the middle of another thread's push or pop can cost
// the child a slot, or its guarding (takes then find the ring empty), never a hang.
// Touches: OS (mappings and protections), Config (slot count, placement).

import Synchronization
import ZoneSupport

/// A slot's state, in its record.
enum SlotState {
  static let unused: UInt = 0   // never held a block
  static let live: UInt = 1     // holds the block
  static let freeing: UInt = 2  // its free is under way
  static let freed: UInt = 3    // in quarantine; the record keeps the last block's details
}

struct GuardSlot: ~Copyable {
  let state: Atomic<UInt>
  var block: UInt
  var size: UInt
  var allocated: CallStack
  var freed: CallStack
}

typealias GuardSlotPointer = UnsafeMutablePointer<GuardSlot>

struct RingCell: ~Copyable {
  let sequence: Atomic<UInt>
  var slot: UInt
}

enum GuardPool {
  /// The largest block guarded.
  static let largestBlock: UInt = 32 << 10
  /// A slot's data pages (32 KiB, or one page where pages are larger), and the slot with
  /// the guard page after it.
  static var slotBytes: UInt { OS.pageRound(largestBlock) }
  static var stride: UInt { slotBytes + OS.pageSize }

  /// The reservation: not made, being made, ready, or failed (guarding stays off).
  private static let state = Atomic<UInt>(0)
  private static let notReserved: UInt = 0, reserving: UInt = 1, reserved: UInt = 2, failed: UInt = 3
  /// The pool's bounds; both 0 until it is ready, so that nothing is inside.
  nonisolated(unsafe) private(set) static var base: UInt = 0
  nonisolated(unsafe) private(set) static var end: UInt = 0
  nonisolated(unsafe) private static var count: UInt = 0
  nonisolated(unsafe) private static var records: UInt = 0
  nonisolated(unsafe) private static var cells: UInt = 0
  nonisolated(unsafe) private static var ringMask: UInt = 0
  private static let ringTail = Atomic<UInt>(0)
  private static let ringHead = Atomic<UInt>(0)

  // MARK: - The reservation

  /// True when the pool is there, reserving it on first use. A thread that finds another
  /// reserving it gets false (that allocation is simply not guarded).
  @inline(__always) static func ready() -> Bool {
    state.load(ordering: .acquiring) == reserved || reserveOnce()
  }

  @inline(never) private static func reserveOnce() -> Bool {
    guard state.compareExchange(expected: notReserved, desired: reserving, ordering: .acquiring).exchanged else {
      return false
    }
    let ok = reserve(slots: Config.guardSlots)
    state.store(ok ? reserved : failed, ordering: .releasing)
    return ok
  }

  private static func reserve(slots: UInt) -> Bool {
    let ring = UInt(1) << UInt(UInt.bitWidth - (slots - 1).leadingZeroBitCount)
    let cellBytes = ring * UInt(MemoryLayout<RingCell>.stride)
    let tableBytes = OS.pageRound(cellBytes + slots * UInt(MemoryLayout<GuardSlot>.stride))
    let poolBytes = slots * stride + OS.pageSize
    guard let table = OS.map(tableBytes) else { return false }
    guard let pool = OS.reserve(poolBytes) else {
      OS.unmap(table, tableBytes)
      return false
    }
    cells = table
    records = table + cellBytes
    ringMask = ring - 1
    for i in 0..<ring {
      let cell = cellAt(i)
      cell.pointee.slot = i
      cell.pointee.sequence.store(i < slots ? i + 1 : i, ordering: .relaxed)
    }
    ringTail.store(slots, ordering: .relaxed)
    count = slots
    base = pool
    end = pool + poolBytes
    return true
  }

  // MARK: - Geometry

  @inline(__always) static func contains(_ address: UInt) -> Bool { address &- base < end &- base }

  static func record(_ index: UInt) -> GuardSlotPointer {
    GuardSlotPointer(bitPattern: records + index * UInt(MemoryLayout<GuardSlot>.stride)).unsafelyUnwrapped
  }

  static func dataStart(_ index: UInt) -> UInt { base + OS.pageSize + index * stride }

  /// The slot whose data pages hold an address of the pool, or nil for a guard page.
  static func slot(holding address: UInt) -> UInt? {
    let offset = address &- base &- OS.pageSize
    guard address &- base >= OS.pageSize, offset / stride < count, offset % stride < slotBytes else { return nil }
    return offset / stride
  }

  /// The slots an access at this address of the pool may have aimed at: the one whose
  /// data holds it, or the two on either side of the guard page that holds it.
  static func neighbours(of address: UInt) -> ClosedRange<UInt> {
    let offset = address &- base
    guard offset >= OS.pageSize else { return 0...0 }
    let index = (offset - OS.pageSize) / stride
    if index >= count { return (count - 1)...(count - 1) }
    if (offset - OS.pageSize) % stride < slotBytes { return index...index }
    return index...min(index + 1, count - 1)
  }

  /// Where a block of `size` bytes goes in a slot: flush against the guard page after
  /// the slot (its end 16-byte aligned), or with ZONEMALLOC_GUARD_UNDERFLOW=1 right
  /// after the guard page before it.
  static func place(_ size: UInt, in index: UInt) -> UInt {
    Config.guardUnderflow ? dataStart(index) : dataStart(index) + slotBytes - ((size + 15) & ~15)
  }

  /// The whole pages under a block.
  private static func pages(_ block: UInt, _ size: UInt) -> (UInt, UInt) {
    let first = block & ~(OS.pageSize - 1)
    return (first, OS.pageRound(block + size) - first)
  }

  /// Makes a block's pages accessible and the block zero (calloc relies on it, as on a
  /// fresh span); false if the kernel refuses.
  static func open(_ block: UInt, _ size: UInt) -> Bool {
    let (first, length) = pages(block, size)
    guard OS.commit(first, length) else { return false }
    memset(UnsafeMutableRawPointer(bitPattern: block).unsafelyUnwrapped, 0, Int(size))
    return true
  }

  /// Returns a block's pages and makes them inaccessible. False when the kernel refused
  /// the protection: the slot then leaves the pool (its pages stay open, and a slot that
  /// cannot guard is never handed out again).
  static func close(_ block: UInt, _ size: UInt) -> Bool {
    let (first, length) = pages(block, size)
    OS.discard(first, length)
    return OS.revoke(first, length)
  }

  /// Bytes of the pages under a block of `size` bytes at `block`.
  static func pageBytes(_ block: UInt, _ size: UInt) -> UInt { pages(block, size).1 }

  // MARK: - The quarantine ring

  private static func cellAt(_ position: UInt) -> UnsafeMutablePointer<RingCell> {
    UnsafeMutablePointer<RingCell>(bitPattern: cells + (position & ringMask) * UInt(MemoryLayout<RingCell>.stride))
      .unsafelyUnwrapped
  }

  /// The slot free for longest, or nil when every slot holds a block.
  static func take() -> UInt? {
    var position = ringHead.load(ordering: .relaxed)
    while true {
      let cell = cellAt(position)
      let lag = Int(bitPattern: cell.pointee.sequence.load(ordering: .acquiring) &- (position &+ 1))
      if lag < 0 { return nil }
      if lag > 0 {
        position = ringHead.load(ordering: .relaxed)
        continue
      }
      let (won, seen) = ringHead.compareExchange(expected: position, desired: position &+ 1, ordering: .relaxed)
      if won {
        let slot = cell.pointee.slot
        cell.pointee.sequence.store(position &+ ringMask &+ 1, ordering: .releasing)
        return slot
      }
      position = seen
    }
  }

  /// Puts a freed slot at the back of the ring. The ring has room for every slot, so the
  /// cell at the back is free, or about to be while a taker publishes it. A cell that
  /// stays unpublished was left half taken by a thread a fork left behind: after a
  /// bounded wait the slot is dropped from the ring rather than waited for forever.
  static func put(_ index: UInt) {
    var position = ringTail.load(ordering: .relaxed)
    var waits = 0
    while true {
      let cell = cellAt(position)
      if cell.pointee.sequence.load(ordering: .acquiring) != position {
        waits += 1
        if waits > 1 << 16 { return }
        zms_cpu_relax()
        position = ringTail.load(ordering: .relaxed)
        continue
      }
      let (won, seen) = ringTail.compareExchange(expected: position, desired: position &+ 1, ordering: .relaxed)
      if won {
        cell.pointee.slot = index
        cell.pointee.sequence.store(position &+ 1, ordering: .releasing)
        return
      }
      position = seen
    }
  }
}
