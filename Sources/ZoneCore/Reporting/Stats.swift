// Stats.swift: counters, summed when read, and the human-readable summary.
//
// Owns: the zm_stats snapshot, the peak of allocated bytes, the counters of what the
// allocator itself allocates through glibc (left out of the program's counts) and of
// realloc's copies. Summary.swift prints the snapshot.
// Touches: every zone's counters (plain words written only by their thread; read here
// under the zones lock, which keeps zones from being retired mid-sum), and the counters
// the other layers own (SmallCounters, BigBlocks, LazyUnmap, Depot, Limit, ...), and the
// huge-page figures (HugeShare, HugePages). Guarded
// blocks count as mallocs, frees (remote when another thread frees them) and allocated
// bytes, and the pages under them as active and mapped.
//
// The per-thread counters follow DragonFly's per-cpu accounting: each thread counts the
// mallocs and frees it performs, whoever owns the memory, so a chunk allocated on one
// thread and freed on another adds one to each thread; the sums cancel exactly.

import ZoneSupport
import Synchronization

enum Stats {
  static let reallocCopied = Atomic<UInt>(0)

  /// Blocks glibc allocated and freed while creating the background thread (its
  /// thread-local storage) or loading libgcc_s for the guarded slots. That thread and
  /// that library live until exit, so their blocks are the allocator's own and are left
  /// out of the program's counts.
  static let internalMallocs = Atomic<UInt>(0)
  static let internalBytes = Atomic<UInt>(0)
  static let internalFrees = Atomic<UInt>(0)
  static let internalFreedBytes = Atomic<UInt>(0)

  /// Runs body and files what the calling thread allocated and freed meanwhile as internal.
  static func countingAsInternal<R>(_ body: () -> R) -> R {
    let before = threadTotals()
    let result = body()
    let after = threadTotals()
    internalMallocs.wrappingAdd(after.mallocs &- before.mallocs, ordering: .relaxed)
    internalBytes.wrappingAdd(after.allocatedBytes &- before.allocatedBytes, ordering: .relaxed)
    internalFrees.wrappingAdd(after.frees &- before.frees, ordering: .relaxed)
    internalFreedBytes.wrappingAdd(after.freedBytes &- before.freedBytes, ordering: .relaxed)
    return result
  }

  private static func threadTotals() -> SmallCounters.Totals {
    var mine = SmallCounters.Totals()
    let zone = ThreadZone.current
    if !Zones.isPlaceholder(zone) { mine.add(zone) }
    return mine
  }

  // MARK: - Snapshot

  /// Fills `out`. On a path that must not block (exit, _exit) the zones lock is only
  /// tried (Lock.lockOnExitPath): false, and `out` left empty, when it cannot be had.
  /// The huge-page figures are read afresh unless `recentHugeShare` (the stats page and
  /// mallinfo, which may be asked often, take a recent reading: HugeShare).
  @discardableResult
  static func snapshot(_ out: UnsafeMutablePointer<zm_stats_t>, onExitPath: Bool = false,
                       recentHugeShare: Bool = false) -> Bool {
    memset(out, 0, MemoryLayout<zm_stats_t>.size)
    out.pointee.version = UInt64(ZM_STATS_VERSION)
    guard Zones.isSetUp else { return true }
    var sum = SmallCounters.Totals()
    if onExitPath {
      guard Lock.zones.lockOnExitPath() else { return false }
    } else {
      Lock.zones.lock()
    }
    sum = SmallCounters.retired
    Zones.forEachCounted { sum.add($0) }
    if let exit = ExitZone.zone { sum.add(exit) }
    Lock.zones.unlock()
    sum.frees &+= SmallCounters.zonelessFrees.load(ordering: .relaxed)
    sum.freedBytes &+= SmallCounters.zonelessFreeBytes.load(ordering: .relaxed)
    sum.remoteFrees &+= SmallCounters.zonelessRemote.load(ordering: .relaxed)
    sum.signals &+= SmallCounters.zonelessSignals.load(ordering: .relaxed)
    sum.allocatedBytes &+= SmallCounters.spanGrowthBytes.load(ordering: .relaxed)
    sum.mallocs &-= internalMallocs.load(ordering: .relaxed)
    sum.allocatedBytes &-= internalBytes.load(ordering: .relaxed)
    sum.frees &-= internalFrees.load(ordering: .relaxed)
    sum.freedBytes &-= internalFreedBytes.load(ordering: .relaxed)

    let slab = SlabGeometry.size
    let bigLive = BigBlocks.liveBytes.load(ordering: .relaxed)
    let guardedLive = GuardedSlots.liveBytes.load(ordering: .relaxed)
    let guardedPages = GuardedSlots.pageBytes.load(ordering: .relaxed)
    let small = sum.allocatedBytes &- sum.freedBytes
    let allocated = (small > UInt(Int.max) ? 0 : small) &+ bigLive &+ guardedLive
    notePeak(allocated: allocated)
    out.pointee.allocated = UInt64(allocated)
    let reaped = Reaper.reapedBytes.load(ordering: .relaxed)
    out.pointee.active = UInt64(SmallCounters.activeBytes.load(ordering: .relaxed) &- reaped &+ bigLive &+ guardedPages)
    out.pointee.mapped = UInt64(Limit.held.load(ordering: .relaxed) &- reaped &+ guardedPages)
    out.pointee.guarded_allocs = UInt64(GuardedSlots.allocs.load(ordering: .relaxed))
    out.pointee.guarded_frees = UInt64(GuardedSlots.frees.load(ordering: .relaxed))
    out.pointee.lazy_cached = UInt64(LazyUnmap.bytes.load(ordering: .relaxed))
    out.pointee.slab_cached = UInt64((SmallCounters.cachedGranules.load(ordering: .relaxed) &+
      Depot.dirtyGranules.load(ordering: .relaxed)) &* slab)

    out.pointee.malloc_count = UInt64(sum.mallocs &+ BigBlocks.allocs.load(ordering: .relaxed) &+
      GuardedSlots.allocs.load(ordering: .relaxed))
    out.pointee.free_count = UInt64(sum.frees &+ BigBlocks.frees.load(ordering: .relaxed) &+
      GuardedSlots.frees.load(ordering: .relaxed))
    out.pointee.remote_frees = UInt64(sum.remoteFrees &+ GuardedSlots.remoteFrees.load(ordering: .relaxed))
    out.pointee.owner_signals = UInt64(sum.signals)

    out.pointee.big_allocs = UInt64(BigBlocks.allocs.load(ordering: .relaxed))
    out.pointee.big_reuses = UInt64(BigBlocks.reuses.load(ordering: .relaxed))
    out.pointee.mmap_calls = UInt64(OS.mmapCalls.load(ordering: .relaxed))
    out.pointee.munmap_calls = UInt64(OS.munmapCalls.load(ordering: .relaxed))
    out.pointee.mremap_calls = UInt64(OS.mremapCalls.load(ordering: .relaxed))
    out.pointee.purges = UInt64(LazyUnmap.purges.load(ordering: .relaxed))
    out.pointee.purge_max_step_ns = UInt64(LazyUnmap.maxStepNanoseconds.load(ordering: .relaxed))
    out.pointee.realloc_copied_bytes = UInt64(reallocCopied.load(ordering: .relaxed))

    out.pointee.threads_live = UInt64(Zones.liveCount.load(ordering: .relaxed))
    out.pointee.zones_created = UInt64(Zones.created.load(ordering: .relaxed))
    out.pointee.zone_teardowns = UInt64(SmallCounters.teardowns.load(ordering: .relaxed))
    out.pointee.orphan_slabs = UInt64(Orphans.count.load(ordering: .relaxed))
    out.pointee.slabs_adopted = UInt64(Orphans.adopted.load(ordering: .relaxed))
    out.pointee.slabs_released = UInt64(Depot.releasedGranules.load(ordering: .relaxed) &+ Reaper.reapedGranules.load(ordering: .relaxed))

    out.pointee.limit = UInt64(Limit.cap.load(ordering: .relaxed))
    out.pointee.limit_reclaims = UInt64(Limit.reclaims.load(ordering: .relaxed))
    out.pointee.limit_refusals = UInt64(Limit.refusals.load(ordering: .relaxed))

    out.pointee.numa_nodes = UInt64(max(Numa.nodesSeen, 1))
    out.pointee.numa_enabled = Numa.enabled ? 1 : 0

    out.pointee.peak_allocated = UInt64(peakAllocated.load(ordering: .relaxed))
    out.pointee.peak_mapped = UInt64(Limit.peakHeld.load(ordering: .relaxed))

    let huge = HugeShare.current(fresh: !recentHugeShare)
    out.pointee.huge_bytes = UInt64(huge.bytes)
    out.pointee.huge_share_permille = UInt64(huge.permille)
    out.pointee.huge_splits = UInt64(HugePages.splits.load(ordering: .relaxed))
    return true
  }

  // MARK: - Peaks

  /// The largest `allocated` noted so far (peak_allocated).
  static let peakAllocated = Atomic<UInt>(0)

  /// Notes an exact value of `allocated`. The snapshot notes each one it computes.
  static func notePeak(allocated: UInt) {
    peakAllocated.raise(toAtLeast: allocated)
  }

  /// The summary on stderr (zm_stats_print, malloc_stats); Summary formats it.
  static func print() {
    Summary.write(to: 2)
  }
}
