// ExitZone.swift: where a thread allocates once its own zone has been torn down.
//
// Owns: one zone record shared by every thread that allocates after its teardown, and
// the lock that serialises them. Touches: Zones (the record).
//
// glibc runs pthread key destructors in up to four rounds, in key order; a program's
// destructor that allocates after zonemalloc's own has torn the thread's zone down would
// otherwise need a new zone, and after the last round nothing would ever tear that zone
// down (one leaked zone per exiting thread). Instead such allocations come from the exit
// zone, under its lock. No thread's slot points at it, so every free into its slabs is a
// remote free (one CAS), and the exit zone takes the chunks back when it next allocates.
// Its counters are summed with the others'.

import ZoneSupport

enum ExitZone {
  nonisolated(unsafe) private static var record: ZonePointer? = nil

  /// The exit zone, if it exists (for the statistics).
  static var zone: ZonePointer? { record }

  /// Runs body with the exit zone, under its lock (nil when no record can be had).
  static func withZone<R>(_ body: (ZonePointer?) -> R) -> R {
    Lock.exit.lock()
    defer { Lock.exit.unlock() }
    if record == nil { record = Zones.createUnowned() }
    return body(record)
  }

  /// A forked child starts without one: the record became one of the parent's zones.
  static func afterForkInChild() {
    record = nil
  }
}
