// ExitZone.swift: where a thread allocates once its own zone has been torn down.
//
// Owns: one zone record shared by every thread that allocates after its teardown, and
// the lock that serialises them.
// Touches: ThreadZone's slow paths, which it calls with this zone under its lock.
//
// glibc runs pthread key destructors in up to four rounds, in key order; a program's
// destructor that allocates after zonemalloc's own has torn the thread's zone down would
// otherwise need a new zone, and after the last round nothing would ever tear that zone
// down (one leaked zone per exiting thread). Instead such allocations come from the exit
// zone, under its lock. No thread's slot points at it, so every free into its slabs is a
// remote free (one CAS), and the exit zone takes the chunks back when it next allocates.
// Its counters are summed with the others' (Stats.swift).

import ZoneSupport

enum ExitZone {
  nonisolated(unsafe) private static var record: ZonePointer? = nil

  /// The exit zone, if it exists (for the statistics).
  static var zone: ZonePointer? { record }

  /// malloc of class c for a thread past its teardown.
  static func malloc(_ c: Int) -> UnsafeMutableRawPointer? {
    locked { ThreadZone.malloc(class: c, in: $0) }
  }

  /// A medium block for a thread past its teardown.
  static func mallocMedium(_ size: UInt, zeroed: Bool) -> UnsafeMutableRawPointer? {
    locked { ThreadZone.mallocMedium(size, zeroed: zeroed, in: $0) }
  }

  private static func locked(_ body: (ZonePointer) -> UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    Lock.exit.lock()
    defer { Lock.exit.unlock() }
    if record == nil { record = Zones.createUnowned() }
    guard let zone = record else { return nil }
    return body(zone)
  }

  /// A forked child starts without one: the record became one of the parent's zones.
  static func afterForkInChild() {
    record = nil
  }
}
