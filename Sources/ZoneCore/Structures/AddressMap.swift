// AddressMap.swift: an open-addressing hash map from addresses to words.
//
// Owns: one table mapped from the OS, linear probing, backward-shift deletion (no
// tombstones), growth by doubling at half load. Not thread-safe: BigBlocks and LazyUnmap
// use it under the big lock, the heap profiler (ProfileTables) under the profile lock.
// Keys are non-zero addresses, spread best when they are page-aligned.

struct AddressMap {
  private var slots: UInt = 0      // address of 2 x capacity words: key, value
  private var capacity: UInt = 0   // power of two
  private(set) var count: UInt = 0

  init() {}

  private func keyAt(_ i: UInt) -> UnsafeMutablePointer<UInt> {
    UnsafeMutablePointer<UInt>(bitPattern: slots).unsafelyUnwrapped + Int(2 * i)
  }

  private func home(_ key: UInt) -> UInt {
    ((key >> 12) &* 0x9E37_79B9_7F4A_7C15) >> UInt(64 - capacity.trailingZeroBitCount)
  }

  func value(for key: UInt) -> UInt? {
    guard capacity > 0 else { return nil }
    var i = home(key)
    while true {
      let k = keyAt(i).pointee
      if k == key { return keyAt(i)[1] }
      if k == 0 { return nil }
      i = (i + 1) & (capacity - 1)
    }
  }

  /// Inserts or replaces. False only if the table cannot grow (out of memory).
  mutating func set(_ key: UInt, _ value: UInt) -> Bool {
    if (count + 1) * 2 > capacity && !grow() { return false }
    var i = home(key)
    while true {
      let k = keyAt(i).pointee
      if k == key || k == 0 {
        if k == 0 { count += 1 }
        keyAt(i).pointee = key
        keyAt(i)[1] = value
        return true
      }
      i = (i + 1) & (capacity - 1)
    }
  }

  mutating func remove(_ key: UInt) -> UInt? {
    guard capacity > 0 else { return nil }
    var i = home(key)
    while keyAt(i).pointee != key {
      if keyAt(i).pointee == 0 { return nil }
      i = (i + 1) & (capacity - 1)
    }
    let removed = keyAt(i)[1]
    // Backward shift: pull later members of the cluster into the hole when allowed.
    var hole = i
    var j = (i + 1) & (capacity - 1)
    while keyAt(j).pointee != 0 {
      let want = home(keyAt(j).pointee)
      let movable = hole <= j ? (want <= hole || want > j) : (want <= hole && want > j)
      if movable {
        keyAt(hole).pointee = keyAt(j).pointee
        keyAt(hole)[1] = keyAt(j)[1]
        hole = j
      }
      j = (j + 1) & (capacity - 1)
    }
    keyAt(hole).pointee = 0
    keyAt(hole)[1] = 0
    count -= 1
    return removed
  }

  private mutating func grow() -> Bool {
    let newCapacity = max(capacity * 2, 1024)
    guard let fresh = OS.map(newCapacity * 16) else { return false }
    let old = self
    slots = fresh
    capacity = newCapacity
    count = 0
    var i: UInt = 0
    while i < old.capacity {
      let k = old.keyAt(i).pointee
      if k != 0 { _ = set(k, old.keyAt(i)[1]) }
      i += 1
    }
    if old.capacity > 0 { OS.unmap(old.slots, old.capacity * 16) }
    return true
  }
}
