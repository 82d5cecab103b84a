// Stats.swift: counters, summed when read, and the human-readable summary.
//
// Owns: the process-wide gauges and event counters that are not per thread, the totals
// folded in from exited threads, the zm_stats snapshot, the printed summary
// (ZONEMALLOC_STATS=1, zm_stats_print, malloc_stats) and mallinfo2.
// Touches: every zone's counters (plain words written only by their thread; read here
// under the zones lock, which keeps zones from being retired mid-sum), and the counters
// the other files own.
//
// The per-thread counters follow seed 003: each thread counts the mallocs and frees it
// performs, whoever owns the memory, so a chunk allocated on one thread and freed on
// another adds one to each thread; the sums cancel exactly.

import ZoneSupport
import Synchronization

enum Stats {
  static let slabsInUse = Atomic<UInt>(0)       // granules of slabs and spans in use
  static let activeBytes = Atomic<UInt>(0)      // bytes charged for slabs and spans in use
  static let cachedGranules = Atomic<UInt>(0)   // granules of empty slabs/spans in zone caches
  static let teardowns = Atomic<UInt>(0)
  static let reallocCopied = Atomic<UInt>(0)
  static let spanGrowthBytes = Atomic<UInt>(0)  // spans grown in place by realloc
  // Frees by threads that have no zone (rare: a zone is created at a thread's first free).
  static let zonelessFrees = Atomic<UInt>(0)
  static let zonelessFreeBytes = Atomic<UInt>(0)
  static let zonelessRemote = Atomic<UInt>(0)
  static let zonelessSignals = Atomic<UInt>(0)

  /// Counters of retired zones.                                           [zones lock]
  struct Totals {
    var mallocs: UInt = 0
    var frees: UInt = 0
    var allocatedBytes: UInt = 0
    var freedBytes: UInt = 0
    var remoteFrees: UInt = 0
    var signals: UInt = 0

    mutating func add(_ zone: ZonePointer) {
      for c in 0..<SizeClass.totalCount {
        let a = zone.pointee.allocs[c]
        let f = zone.pointee.frees[c]
        mallocs &+= a
        frees &+= f
        guard c < SizeClass.count else { continue } // spans count their bytes themselves
        let size = UInt(SizeClass.size(of: c))
        allocatedBytes &+= a &* size
        freedBytes &+= f &* size
      }
      allocatedBytes &+= zone.pointee.spanBytesAllocated
      freedBytes &+= zone.pointee.spanBytesFreed
      remoteFrees &+= zone.pointee.remoteFrees
      signals &+= zone.pointee.signals
    }
  }

  nonisolated(unsafe) static var retired = Totals()

  /// Blocks glibc allocated while creating the background thread (its thread-local
  /// storage). That thread lives until exit, so they are the allocator's own and are
  /// left out of the program's counts.
  static let internalMallocs = Atomic<UInt>(0)
  static let internalBytes = Atomic<UInt>(0)

  /// Runs body and files what the calling thread allocated meanwhile as internal.
  static func countingAsInternal<R>(_ body: () -> R) -> R {
    let before = threadAllocations()
    let result = body()
    let after = threadAllocations()
    internalMallocs.wrappingAdd(after.0 &- before.0, ordering: .relaxed)
    internalBytes.wrappingAdd(after.1 &- before.1, ordering: .relaxed)
    return result
  }

  private static func threadAllocations() -> (UInt, UInt) {
    let zone = ThreadZone.current
    if Zones.isPlaceholder(zone) { return (0, 0) }
    var mine = Totals()
    mine.add(zone)
    return (mine.mallocs, mine.allocatedBytes)
  }

  static func noteZonelessFree(bytes: UInt, remote: Bool, signal: Bool) {
    zonelessFrees.wrappingAdd(1, ordering: .relaxed)
    zonelessFreeBytes.wrappingAdd(bytes, ordering: .relaxed)
    if remote { zonelessRemote.wrappingAdd(1, ordering: .relaxed) }
    if signal { zonelessSignals.wrappingAdd(1, ordering: .relaxed) }
  }

  /// Folds a zone that is going away into the retired totals.             [zones lock]
  static func fold(_ zone: ZonePointer) {
    retired.add(zone)
  }

  // MARK: - Snapshot

  static func snapshot(_ out: UnsafeMutablePointer<zm_stats_t>) {
    memset(out, 0, MemoryLayout<zm_stats_t>.size)
    out.pointee.version = UInt64(ZM_STATS_VERSION)
    guard Global.state != nil else { return }
    var sum = Totals()
    Lock.zones.lock()
    sum = retired
    Zones.forEachCounted { sum.add($0) }
    Lock.zones.unlock()
    sum.frees &+= zonelessFrees.load(ordering: .relaxed)
    sum.freedBytes &+= zonelessFreeBytes.load(ordering: .relaxed)
    sum.remoteFrees &+= zonelessRemote.load(ordering: .relaxed)
    sum.signals &+= zonelessSignals.load(ordering: .relaxed)
    sum.allocatedBytes &+= spanGrowthBytes.load(ordering: .relaxed)
    sum.mallocs &-= internalMallocs.load(ordering: .relaxed)
    sum.allocatedBytes &-= internalBytes.load(ordering: .relaxed)

    let slab = SlabGeometry.size
    let bigLive = BigBlocks.liveBytes.load(ordering: .relaxed)
    let small = sum.allocatedBytes &- sum.freedBytes
    out.pointee.allocated = UInt64((small > UInt(Int.max) ? 0 : small) &+ bigLive)
    out.pointee.active = UInt64(activeBytes.load(ordering: .relaxed) &+ bigLive)
    out.pointee.mapped = UInt64(Limit.held.load(ordering: .relaxed))
    out.pointee.lazy_cached = UInt64(LazyUnmap.bytes.load(ordering: .relaxed))
    out.pointee.slab_cached = UInt64((cachedGranules.load(ordering: .relaxed) &+
      Depot.dirtyGranules.load(ordering: .relaxed)) &* slab)

    out.pointee.malloc_count = UInt64(sum.mallocs &+ BigBlocks.allocs.load(ordering: .relaxed))
    out.pointee.free_count = UInt64(sum.frees &+ BigBlocks.frees.load(ordering: .relaxed))
    out.pointee.remote_frees = UInt64(sum.remoteFrees)
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
    out.pointee.zone_teardowns = UInt64(teardowns.load(ordering: .relaxed))
    out.pointee.orphan_slabs = UInt64(Orphans.count.load(ordering: .relaxed))
    out.pointee.slabs_adopted = UInt64(Orphans.adopted.load(ordering: .relaxed))
    out.pointee.slabs_released = UInt64(Depot.releasedGranules.load(ordering: .relaxed))

    out.pointee.limit = UInt64(Limit.cap.load(ordering: .relaxed))
    out.pointee.limit_reclaims = UInt64(Limit.reclaims.load(ordering: .relaxed))
    out.pointee.limit_refusals = UInt64(Limit.refusals.load(ordering: .relaxed))

    out.pointee.numa_nodes = UInt64(max(Numa.nodesSeen, 1))
    out.pointee.numa_enabled = Numa.enabled ? 1 : 0
  }

  // MARK: - The printed summary

  /// One line per field: "zonemalloc: <field> <value>", bytes also in readable units.
  static func print() {
    var s = zm_stats_t()
    snapshot(&s)
    var header = LineBuffer()
    header.append("zonemalloc: statistics for pid ")
    header.append(decimal: UInt(getpid()))
    header.writeLine()
    forEachField(s) { name, value, isBytes in
      var line = LineBuffer()
      line.append("zonemalloc: ")
      line.append(name)
      line.append(" ")
      line.append(decimal: UInt(value))
      if isBytes && value >= 1024 {
        line.append(" (")
        line.append(bytes: UInt(value))
        line.append(")")
      }
      line.writeLine()
    }
  }

  /// Every counter of a snapshot, in the printed order: its name (the zm_stats_t field),
  /// its value, and whether it counts bytes. The summary and the stats page use it.
  static func forEachField(_ s: zm_stats_t, _ body: (StaticString, UInt64, Bool) -> Void) {
    body("allocated", s.allocated, true)
    body("active", s.active, true)
    body("mapped", s.mapped, true)
    body("lazy_cached", s.lazy_cached, true)
    body("slab_cached", s.slab_cached, true)
    body("malloc_count", s.malloc_count, false)
    body("free_count", s.free_count, false)
    body("remote_frees", s.remote_frees, false)
    body("owner_signals", s.owner_signals, false)
    body("big_allocs", s.big_allocs, false)
    body("big_reuses", s.big_reuses, false)
    body("mmap_calls", s.mmap_calls, false)
    body("munmap_calls", s.munmap_calls, false)
    body("mremap_calls", s.mremap_calls, false)
    body("purges", s.purges, false)
    body("purge_max_step_ns", s.purge_max_step_ns, false)
    body("realloc_copied_bytes", s.realloc_copied_bytes, true)
    body("threads_live", s.threads_live, false)
    body("zones_created", s.zones_created, false)
    body("zone_teardowns", s.zone_teardowns, false)
    body("orphan_slabs", s.orphan_slabs, false)
    body("slabs_adopted", s.slabs_adopted, false)
    body("slabs_released", s.slabs_released, false)
    body("limit", s.limit, true)
    body("limit_reclaims", s.limit_reclaims, false)
    body("limit_refusals", s.limit_refusals, false)
    body("numa_nodes", s.numa_nodes, false)
    body("numa_enabled", s.numa_enabled, false)
  }

  // MARK: - glibc's mallinfo2

  static func mallinfo() -> mallinfo2 {
    var s = zm_stats_t()
    snapshot(&s)
    var info: mallinfo2 = .init()  // not mallinfo2(): that names the C function, which is this one
    info.arena = Int(s.mapped &- s.lazy_cached)
    info.hblks = 0
    info.hblkhd = Int(BigBlocks.liveBytes.load(ordering: .relaxed))
    info.uordblks = Int(s.allocated)
    info.fordblks = Int(s.mapped > s.allocated ? s.mapped - s.allocated : 0)
    info.keepcost = Int(s.lazy_cached &+ s.slab_cached)
    return info
  }
}
