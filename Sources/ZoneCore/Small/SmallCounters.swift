// SmallCounters.swift: what the small-block layer counts for the statistics.
//
// Owns: the gauges of slabs and spans (in use, charged, cached in zones), the counters of
// events that have no zone to count them (frees by threads without one, teardowns, spans
// grown by realloc), and the totals of zones that have gone (folded in under the zones
// lock when a record is recycled). Reporting/Stats.swift sums them with each live zone's
// own counters. Touches: zone records (read), nothing else.

import Synchronization

enum SmallCounters {
  static let slabsInUse = Atomic<UInt>(0)       // granules of slabs and spans in use
  static let activeBytes = Atomic<UInt>(0)      // bytes charged for slabs and spans in use
  static let cachedGranules = Atomic<UInt>(0)   // granules of empty slabs/spans in zone caches
  static let teardowns = Atomic<UInt>(0)
  static let spanGrowthBytes = Atomic<UInt>(0)  // spans grown in place by realloc
  // Frees by threads that have no zone (rare: a zone is created at a thread's first free).
  static let zonelessFrees = Atomic<UInt>(0)
  static let zonelessFreeBytes = Atomic<UInt>(0)
  static let zonelessRemote = Atomic<UInt>(0)
  static let zonelessSignals = Atomic<UInt>(0)

  /// A zone's counters, or the sum of several.
  struct Totals {
    var mallocs: UInt = 0
    var frees: UInt = 0
    var allocatedBytes: UInt = 0
    var freedBytes: UInt = 0
    var remoteFrees: UInt = 0
    var signals: UInt = 0

    mutating func add(_ zone: ZonePointer) {
      mallocs &+= ThreadZone.mallocs(zone)
      frees &+= zone.pointee.frees
      allocatedBytes &+= AllocationTick.allocatedBytes(zone)
      freedBytes &+= zone.pointee.freedBytes
      remoteFrees &+= zone.pointee.remoteFrees
      signals &+= zone.pointee.signals
    }
  }

  /// Counters of retired zones.                                           [zones lock]
  nonisolated(unsafe) static var retired = Totals()

  static func noteZonelessFree(bytes: UInt, remote: Bool, signal: Bool) {
    zonelessFrees.wrappingAdd(1, ordering: .relaxed)
    zonelessFreeBytes.wrappingAdd(bytes, ordering: .relaxed)
    if remote { zonelessRemote.wrappingAdd(1, ordering: .relaxed) }
    if signal { zonelessSignals.wrappingAdd(1, ordering: .relaxed) }
  }
}
