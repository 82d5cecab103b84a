// AddressMap.swift: an open-addressing hash map from addresses to words, that a fork
// cannot tear.
//
// Owns: one table mapped from the OS (and the previous one, reused by the next rebuild of
// the same size), linear probing, deletion by tombstone, rebuilding at half load (live
// entries plus tombstones) into a fresh table. Not thread-safe:
// BigBlocks and LazyUnmap use it under the big lock, the heap profiler (ProfileTables)
// under the profile lock. Keys are non-zero addresses, spread best when they are
// page-aligned (the profiler's keys are spans, big blocks and guarded blocks, each in
// pages of its own).
//
// Every change a reader can see is one store: an insert writes the value, then the key;
// a removal overwrites the key with a tombstone; a rebuild fills a new table and then
// publishes it by storing one word (the table's address with its size in the low bits).
// So a child forked while another thread was in the middle of a change (Fork.swift) finds
// the map as it was before the change or after it, never between: it can still free the
// parent's big blocks.

import ZoneSupport

struct AddressMap {
  private var table: UInt = 0      // address of 2 x capacity words (key, value) | log2(capacity)
  private(set) var count: UInt = 0 // live entries
  private var tombstones: UInt = 0
  private var spare: UInt = 0      // the table before the last rebuild, kept for the next one
  private static let tombstone: UInt = 1
  private static let sizeBits: UInt = 63

  init() {}

  private var slots: UInt { table & ~AddressMap.sizeBits }
  private var capacity: UInt { table == 0 ? 0 : 1 << (table & AddressMap.sizeBits) }

  private func keyAt(_ i: UInt) -> UnsafeMutablePointer<UInt> {
    UnsafeMutablePointer<UInt>(bitPattern: slots).unsafelyUnwrapped + Int(2 * i)
  }

  private func home(_ key: UInt) -> UInt {
    ((key >> 12) &* 0x9E37_79B9_7F4A_7C15) >> UInt(64 - capacity.trailingZeroBitCount)
  }

  /// The slot holding key, or nil.
  private func find(_ key: UInt) -> UInt? {
    guard capacity > 0 else { return nil }
    var i = home(key)
    while true {
      let k = keyAt(i).pointee
      if k == key { return i }
      if k == 0 { return nil }
      i = (i + 1) & (capacity - 1)
    }
  }

  func value(for key: UInt) -> UInt? {
    find(key).map { keyAt($0)[1] }
  }

  /// True when some entry satisfies the predicate (a full scan).
  func contains(_ predicate: (UInt, UInt) -> Bool) -> Bool {
    var i: UInt = 0
    while i < capacity {
      let k = keyAt(i).pointee
      if k > AddressMap.tombstone && predicate(k, keyAt(i)[1]) { return true }
      i += 1
    }
    return false
  }

  /// Inserts or replaces. False only if the table cannot grow (out of memory).
  mutating func set(_ key: UInt, _ value: UInt) -> Bool {
    if let i = find(key) {
      keyAt(i)[1] = value
      return true
    }
    if (count + tombstones + 1) * 2 > capacity && !rebuild() { return false }
    var i = home(key)
    while keyAt(i).pointee > AddressMap.tombstone { i = (i + 1) & (capacity - 1) }
    if keyAt(i).pointee == AddressMap.tombstone { tombstones -= 1 }
    keyAt(i)[1] = value
    publish(keyAt(i), key)
    count += 1
    return true
  }

  mutating func remove(_ key: UInt) -> UInt? {
    guard let i = find(key) else { return nil }
    let removed = keyAt(i)[1]
    publish(keyAt(i), AddressMap.tombstone)
    count -= 1
    tombstones += 1
    return removed
  }

  /// A store that becomes visible after every store before it.
  private func publish(_ word: UnsafeMutablePointer<UInt>, _ value: UInt) {
    zms_store_release(word, value)
  }

  /// Moves the live entries into a fresh table with room for four times as many, then
  /// publishes it with one store. A table the size of the previous one is that previous
  /// table, cleared (a map that churns keeps rebuilding to shed tombstones: mapping and
  /// unmapping a table each time put system calls, and the TLB shootdowns of munmap,
  /// under the caller's lock).
  private mutating func rebuild() -> Bool {
    var bits: UInt = 10
    while (1 << bits) < (count + 1) * 4 { bits += 1 }
    let newCapacity: UInt = 1 << bits
    guard let fresh = reusableTable(bits) ?? OS.map(newCapacity * 16) else { return false }
    var next = AddressMap()
    next.table = fresh | bits
    var i: UInt = 0
    while i < capacity {
      let k = keyAt(i).pointee
      if k > AddressMap.tombstone { _ = next.set(k, keyAt(i)[1]) }
      i += 1
    }
    let old = table
    zms_store_release(&table, next.table)
    tombstones = 0
    if old != 0 { spare = old }
    return true
  }

  /// The spare table cleared, if it has 2^bits slots; else nil (a spare of another size is
  /// unmapped).
  private mutating func reusableTable(_ bits: UInt) -> UInt? {
    guard spare != 0 else { return nil }
    let (address, spareBits) = (spare & ~AddressMap.sizeBits, spare & AddressMap.sizeBits)
    spare = 0
    let bytes = (UInt(1) << spareBits) * 16
    if spareBits != bits {
      OS.unmap(address, bytes)
      return nil
    }
    memset(UnsafeMutableRawPointer(bitPattern: address).unsafelyUnwrapped, 0, Int(bytes))
    return address
  }
}
