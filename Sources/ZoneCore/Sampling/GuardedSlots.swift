// GuardedSlots.swift: sampled allocations placed against guard pages
// (ZONEMALLOC_GUARD_RATE=N), GWP-ASan's idea.
//
// Owns: the sampling decision, and the life of a guarded block: allocate, free, usable
// size, ownership, and the counters of guarded blocks.
//  - Which allocations: the tick is in bytes, but N means about one allocation in N,
//    whatever its size. The guard countdown is drawn from an exponential distribution
//    of mean 16 N bytes, so an allocation of a chunk of s bytes ends it with probability
//    1 - exp(-s / 16N), about s / 16N; it is then accepted with probability 16 / s (the
//    smallest chunk, 16 bytes, always). Overall about 1 / N per allocation, exactly
//    (1 - exp(-s / 16N)) x 16 / s. N = 1 re-arms with 0, so every allocation expires,
//    and accepts all: every allocation that fits a slot and finds one free is guarded.
//  - A guarded block takes the slot free for longest (GuardPool), opens the pages under
//    it and records its stack; the chunk the tick ran out on goes back to its slab
//    (Sampling.serve). A block larger than a slot (32 KiB) is never guarded, nor one
//    asked for with an alignment above a page, nor one allocated while the thread is
//    capturing a stack.
//  - free closes the pages (any later access faults) and records the freeing stack; the
//    slot goes to the back of the quarantine. A second free, or a free of an address in
//    the pool that is not a live block's start, is reported with the block's stacks.
//  - The SIGSEGV handler is installed by the library constructor, after the stack walker
//    is loaded (Sampling.construct; neither allocates at fault time), and re-claimed on
//    each guarded allocation when the program has installed its own since (GuardFault,
//    FaultSignal.c).
// Touches: GuardPool, GuardReport, CallStack, SampleRandom, Sampling (holding the
// sampler off while a stack is captured), Profiler (a freed block it sampled), Config.

import ZoneSupport
import Synchronization

enum GuardedSlots {
  /// A chunk of this many bytes is accepted whenever the countdown ends on it; the mean
  /// countdown is this many bytes times N.
  static let acceptedBytes: UInt = 16

  static let allocs = Atomic<UInt>(0)
  static let frees = Atomic<UInt>(0)
  /// Guarded blocks freed by a thread other than the one that allocated them.
  static let remoteFrees = Atomic<UInt>(0)
  static let liveBytes = Atomic<UInt>(0)
  /// Bytes of the pages under live guarded blocks (resident, or as good as).
  static let pageBytes = Atomic<UInt>(0)

  static var enabled: Bool { Config.guardRate != 0 }

  // MARK: - Start-up

  /// In the library constructor, after the stack walker is loaded (Sampling.construct):
  /// puts the SIGSEGV handler in front of the current one.
  static func construct() {
    guard enabled else { return }
    _ = zms_fault_install(GuardFault.hook)
  }

  // MARK: - Sampling

  /// Bytes until this thread's next candidate for a guarded slot.
  static func nextInterval() -> Int {
    switch Config.guardRate {
    case 0: return Sampling.never
    case 1: return 0
    case let n: return SampleRandom.exponential(mean: n &* acceptedBytes)
    }
  }

  /// The candidate chunk of `size` bytes is guarded with probability 16 / size.
  private static func accepts(_ size: UInt) -> Bool {
    Config.guardRate == 1 || SampleRandom.next() % size < acceptedBytes
  }

  // MARK: - Allocation

  /// A guarded block for a chunk of `size` bytes, or nil (the allocation keeps its chunk).
  static func allocate(_ size: UInt) -> UnsafeMutableRawPointer? {
    guard size <= GuardPool.largestBlock, !Sampling.heldOff,
          accepts(size), GuardPool.ready(), let index = GuardPool.take() else { return nil }
    let block = GuardPool.place(size, in: index)
    guard GuardPool.open(block, size) else {
      GuardPool.put(index)
      return nil
    }
    zms_fault_reclaim()
    let slot = GuardPool.record(index)
    slot.pointee.block = block
    slot.pointee.size = size
    Sampling.holdingOff { slot.pointee.allocated.capture() }
    slot.pointee.state.store(SlotState.live, ordering: .releasing)
    allocs.wrappingAdd(1, ordering: .relaxed)
    liveBytes.wrappingAdd(size, ordering: .relaxed)
    pageBytes.wrappingAdd(GuardPool.pageBytes(block, size), ordering: .relaxed)
    return UnsafeMutableRawPointer(bitPattern: block)
  }

  // MARK: - Free and queries

  /// free() of an address outside the slab arenas: false when it is not in the pool.
  /// A live block is closed and quarantined; anything else in the pool is reported.
  static func free(_ address: UInt) -> Bool {
    guard GuardPool.contains(address) else { return false }
    guard let index = GuardPool.slot(holding: address) else { GuardReport.misuse("free", address, freeing: true) }
    let slot = GuardPool.record(index)
    guard slot.pointee.block == address,
          slot.pointee.state.compareExchange(expected: SlotState.live, desired: SlotState.freeing,
                                             ordering: .acquiring).exchanged else {
      GuardReport.misuse("free", address, freeing: true)
    }
    let size = slot.pointee.size
    Sampling.holdingOff { slot.pointee.freed.capture() }
    Profiler.noteFreed(address) // the profiler may have sampled it (Profiler.sample's servedAt)
    let closed = GuardPool.close(address, size)
    slot.pointee.state.store(SlotState.freed, ordering: .releasing)
    if closed { GuardPool.put(index) }
    frees.wrappingAdd(1, ordering: .relaxed)
    if slot.pointee.freed.thread != slot.pointee.allocated.thread { remoteFrees.wrappingAdd(1, ordering: .relaxed) }
    liveBytes.wrappingSubtract(size, ordering: .relaxed)
    pageBytes.wrappingSubtract(GuardPool.pageBytes(address, size), ordering: .relaxed)
    return true
  }

  @inline(__always) static func contains(_ address: UInt) -> Bool { GuardPool.contains(address) }

  /// The size of the live guarded block at address, or nil when address is not in the
  /// pool. Any other address of the pool is reported as an invalid pointer.
  static func usableSize(_ address: UInt, _ function: StaticString) -> UInt? {
    guard GuardPool.contains(address) else { return nil }
    guard let slot = live(address) else { GuardReport.misuse(function, address, freeing: false) }
    return slot.pointee.size
  }

  /// True when address is the start of a live guarded block.
  static func owns(_ address: UInt) -> Bool { live(address) != nil }

  private static func live(_ address: UInt) -> GuardSlotPointer? {
    guard let index = GuardPool.slot(holding: address) else { return nil }
    let slot = GuardPool.record(index)
    let isLive = slot.pointee.state.load(ordering: .acquiring) == SlotState.live && slot.pointee.block == address
    return isLive ? slot : nil
  }
}
