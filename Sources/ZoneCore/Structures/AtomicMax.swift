// AtomicMax.swift: the one atomic maximum of the core.
//
// Owns: raising an atomic word to a value when it is lower (a CAS loop), for the peaks
// and high-water marks (peak_mapped, peak_allocated, the longest purge step).
// Touches: the word it is called on.

import Synchronization

extension Atomic where Value == UInt {
  /// Raises the value to `value` if it is lower: an atomic max.
  func raise(toAtLeast value: UInt) {
    var current = load(ordering: .relaxed)
    while value > current {
      let (exchanged, original) = compareExchange(expected: current, desired: value, ordering: .relaxed)
      if exchanged { return }
      current = original
    }
  }
}
