// Profiler.swift: the sampled heap profiler (ZONEMALLOC_PROF). Not built yet: it never
// fires, so the sampling tick only runs housekeeping.
//
// Owns: its own countdown's length, and the samples.
// Touches: nothing yet.

enum Profiler {
  /// Bytes until this thread's next profiled allocation: never, while the profiler is off.
  static func nextInterval() -> Int { Sampling.never }

  /// The tick chose an allocation of `size` bytes; `served` is where another feature put
  /// it, if one did. Returns where the allocation is served, or nil for its own chunk.
  static func sample(_ size: UInt, servedAt served: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    served
  }

  /// The tick chose a big block, which stays where it is.
  static func sampleInPlace(_ address: UInt, _ length: UInt) {}
}
