// RangeBatch.swift: address ranges collected under a lock, handed to the kernel after it.
//
// Owns: a fixed-size, stack-allocated batch, its sort by address and its coalescing into
// runs of adjacent ranges, so that a bulk release makes one system call per run.
// Used by Depot (madvise of empty slabs) and LazyUnmap (munmap of cached big blocks).

struct RangeBatch: ~Copyable {
  static let capacity = 32
  private var starts = InlineArray<32, UInt>(repeating: 0)
  private var lengths = InlineArray<32, UInt>(repeating: 0)
  private(set) var count = 0
  private(set) var bytes: UInt = 0

  init() {}

  var isFull: Bool { count == RangeBatch.capacity }

  mutating func append(_ start: UInt, _ length: UInt) {
    starts[count] = start
    lengths[count] = length
    count += 1
    bytes += length
  }

  /// Sorts by address (insertion sort: the batch is small).
  mutating func sortByAddress() {
    var i = 1
    while i < count {
      let s = starts[i]
      let l = lengths[i]
      var j = i
      while j > 0 && starts[j - 1] > s {
        starts[j] = starts[j - 1]
        lengths[j] = lengths[j - 1]
        j -= 1
      }
      starts[j] = s
      lengths[j] = l
      i += 1
    }
  }

  /// True when address lies in one of the ranges.
  func contains(_ address: UInt) -> Bool {
    for i in 0..<count where address &- starts[i] < lengths[i] { return true }
    return false
  }

  /// Calls body(start, length) once per run of adjacent ranges. Sort first.
  func forEachRun(_ body: (UInt, UInt) -> Void) {
    var i = 0
    while i < count {
      let runStart = starts[i]
      var runEnd = runStart + lengths[i]
      i += 1
      while i < count && starts[i] == runEnd {
        runEnd += lengths[i]
        i += 1
      }
      body(runStart, runEnd - runStart)
    }
  }
}
