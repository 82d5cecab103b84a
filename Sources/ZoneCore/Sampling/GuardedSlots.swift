// GuardedSlots.swift: sampled allocations placed against guard pages
// (ZONEMALLOC_GUARD_RATE). Not built yet: it never fires.
//
// Owns: its own countdown's length, and the slots.
// Touches: nothing yet.

enum GuardedSlots {
  /// Bytes until this thread's next guarded allocation: never, while guarding is off.
  static func nextInterval() -> Int { Sampling.never }

  /// A guarded block of `size` bytes, or nil (the allocation keeps its chunk).
  static func allocate(_ size: UInt) -> UnsafeMutableRawPointer? { nil }
}
