// Zones.swift: the life of zone records.
//
// Owns: creating a zone for a thread (thread slot first, then pthread_setspecific, which
// may re-enter calloc), the pthread key whose destructor tears the zone down at thread
// exit, the lists of live, dead (lost in a fork) and free zone records, and folding a
// retired zone's counters into the totals. The caller has booted the allocator.
// Touches: the thread slot (ZoneSupport), Teardown, SmallCounters. Zone records are
// never unmapped: a record is recycled for a new thread only after its teardown, so a
// remote freer can never reach memory that is gone.

import ZoneSupport
import Synchronization

/// The zone record lists, mapped at boot.                                     [zones lock]
struct ZoneLists {
  var live: UInt       // doubly linked through Zone.linkNext/linkPrev
  var dead: UInt       // zones of threads lost in a fork
  var free: UInt       // recycled records
  var carve: UInt      // next unused record in the current chunk of records
  var carveEnd: UInt
}

enum Zones {
  nonisolated(unsafe) private static var lists: UnsafeMutablePointer<ZoneLists>? = nil
  nonisolated(unsafe) static var key = pthread_key_t()
  static let liveCount = Atomic<UInt>(0)
  static let created = Atomic<UInt>(0)
  static let deadCount = Atomic<UInt>(0)
  private static let recordsPerChunk: UInt = 16
  /// A sampled feature's countdown before the zone's first tick event arms it.
  static let unarmed = Int.min

  /// The static zone every thread starts with (and returns to at exit).
  @inline(__always) static var empty: ZonePointer {
    zms_empty_zone_address().unsafelyUnwrapped.assumingMemoryBound(to: Zone.self)
  }

  /// The static zone a thread points at once its own was torn down.
  static var exited: ZonePointer {
    zms_exited_zone_address().unsafelyUnwrapped.assumingMemoryBound(to: Zone.self)
  }

  /// True for the two static zones, which own nothing and count nothing.
  @inline(__always) static func isPlaceholder(_ zone: ZonePointer) -> Bool {
    zone == empty || zone == exited
  }

  static var recordStride: UInt {
    (UInt(MemoryLayout<Zone>.size) + 63) & ~63
  }

  static func setUp() -> Bool { OS.mapRecords(into: &lists) }

  /// False before boot.
  static var isSetUp: Bool { lists != nil }

  // MARK: - Creation

  static func createForCurrentThread() -> ZonePointer? {
    Lock.zones.lock()
    guard let zone = takeRecord() else {
      Lock.zones.unlock()
      return nil
    }
    initialize(zone)
    link(zone, into: &lists.unsafelyUnwrapped.pointee.live)
    Lock.zones.unlock()
    liveCount.wrappingAdd(1, ordering: .relaxed)
    created.wrappingAdd(1, ordering: .relaxed)
    zms_set_zone(UnsafeMutableRawPointer(zone))
    pthread_setspecific(key, UnsafeRawPointer(zone))
    return zone
  }

  /// A zone record that belongs to no thread (the exit zone), or nil.   [no lock held]
  static func createUnowned() -> ZonePointer? {
    Lock.zones.lock()
    let zone = takeRecord()
    if let zone { initialize(zone) }
    Lock.zones.unlock()
    return zone
  }

  private static func initialize(_ zone: ZonePointer) {
    let sentinel = ThreadZone.sentinel
    for b in 0..<zone.pointee.direct.count { zone.pointee.direct[b] = sentinel }
    for b in 0..<zone.pointee.wide.count { zone.pointee.wide[b] = sentinel }
    for c in 0..<SizeClass.count {
      zone.pointee.current[c] = sentinel
      zone.pointee.partial[c] = 0
      zone.pointee.partialTail[c] = 0
      zone.pointee.full[c] = 0
    }
    for q in 0..<ChargeClass.count { zone.pointee.cache[q] = 0 }
    zone.pointee.mallocs = 0
    zone.pointee.frees = 0
    zone.pointee.allocatedBytes = 0
    zone.pointee.freedBytes = 0
    zone.pointee.cachedGranules = 0
    zone.pointee.remoteFrees = 0
    zone.pointee.signals = 0
    zone.pointee.node = UInt(Numa.nodeOfCurrentCPU())
    zone.pointee.reclaimEpoch = Limit.epoch.load(ordering: .relaxed)
    // The first allocation ends the tick at once: its slow path arms the sampled
    // features' countdowns (unarmed) and the first period.
    AllocationTick.arm(zone, period: 0)
    zone.pointee.profileLeft = unarmed
    zone.pointee.guardLeft = unarmed
    zone.pointee.relink.store(0, ordering: .relaxed)
  }

  /// A free record, or a new one carved from a fresh chunk of records.   [zones lock]
  private static func takeRecord() -> ZonePointer? {
    let g = lists.unsafelyUnwrapped
    if let zone = unlinkFirst(&g.pointee.free) { return zone }
    if g.pointee.carve == g.pointee.carveEnd {
      let bytes = recordStride * recordsPerChunk
      guard let chunk = OS.map(bytes) else { return nil }
      g.pointee.carve = chunk
      g.pointee.carveEnd = chunk + bytes
    }
    let record = g.pointee.carve
    g.pointee.carve += recordStride
    return ZonePointer(bitPattern: record)
  }

  // MARK: - Thread exit

  /// The pthread key destructor: the thread is exiting.
  static let destructor: @convention(c) (UnsafeMutableRawPointer?) -> Void = { raw in
    guard let raw else { return }
    let zone = raw.assumingMemoryBound(to: Zone.self)
    zms_set_zone(zms_exited_zone_address())
    Teardown.run(zone)
    retire(zone)
  }

  /// Takes a torn-down zone off the live list and recycles its record.
  static func retire(_ zone: ZonePointer) {
    Lock.zones.lock()
    unlink(zone, from: &lists.unsafelyUnwrapped.pointee.live)
    let live = liveCount.wrappingSubtract(1, ordering: .relaxed).newValue
    recycleLocked(zone)
    Lock.zones.unlock()
    if live == 0 && Release.backgroundRunning { zms_background_wake() } // it leaves now
  }

  /// Folds a torn-down zone's counters into the totals; its record becomes free. [zones lock]
  private static func recycleLocked(_ zone: ZonePointer) {
    SmallCounters.retired.add(zone)
    link(zone, into: &lists.unsafelyUnwrapped.pointee.free)
  }

  // MARK: - Fork

  /// In the child only the forking thread exists. Every other live zone becomes dead: the
  /// live list is spliced in front of the dead list (a walk of the zone records' links to
  /// its tail), and the survivor moves back. No slab is touched; a dead zone is torn down
  /// only when the child needs a slab it cannot find elsewhere (reapOneDead).
  static func afterForkInChild() {
    let g = lists.unsafelyUnwrapped
    let me = ThreadZone.current
    let survivor = !isPlaceholder(me)
    if survivor { unlink(me, from: &g.pointee.live) }
    var dead = g.pointee.dead
    if g.pointee.live != 0 {
      // Splice the old live list in front of the dead list.
      var tail = ZonePointer(bitPattern: g.pointee.live).unsafelyUnwrapped
      var count: UInt = 1
      while tail.pointee.linkNext != 0 {
        tail = ZonePointer(bitPattern: tail.pointee.linkNext).unsafelyUnwrapped
        count += 1
      }
      tail.pointee.linkNext = dead
      if dead != 0 { ZonePointer(bitPattern: dead).unsafelyUnwrapped.pointee.linkPrev = UInt(bitPattern: tail) }
      dead = g.pointee.live
      deadCount.wrappingAdd(count, ordering: .relaxed)
    }
    g.pointee.dead = dead
    g.pointee.live = 0
    liveCount.store(0, ordering: .relaxed)
    if survivor {
      link(me, into: &g.pointee.live)
      liveCount.store(1, ordering: .relaxed)
    }
  }

  /// The zone lists were being changed when the child was forked: they cannot be trusted.
  /// The child keeps only its own zone; the others, the free records and the rest of the
  /// current chunk of records are abandoned (their slabs are never reused here).
  static func abandonInChild() {
    let g = lists.unsafelyUnwrapped
    let me = ThreadZone.current
    g.pointee.live = 0
    g.pointee.dead = 0
    g.pointee.free = 0
    g.pointee.carve = 0
    g.pointee.carveEnd = 0
    deadCount.store(0, ordering: .relaxed)
    liveCount.store(0, ordering: .relaxed)
    guard !isPlaceholder(me) else { return }
    link(me, into: &g.pointee.live)
    liveCount.store(1, ordering: .relaxed)
  }

  /// Tears down one zone lost in a fork, so its slabs become orphans or depot slabs.
  /// Returns false when there is none.
  static func reapOneDead() -> Bool {
    guard deadCount.load(ordering: .relaxed) > 0 else { return false }
    Lock.zones.lock()
    let zone = unlinkFirst(&lists.unsafelyUnwrapped.pointee.dead)
    Lock.zones.unlock()
    guard let zone else { return false }
    deadCount.wrappingSubtract(1, ordering: .relaxed)
    Teardown.dismantle(zone)
    Lock.zones.lock()
    recycleLocked(zone)
    Lock.zones.unlock()
    return true
  }

  // MARK: - Lists of zone records (doubly linked through linkNext/linkPrev)   [zones lock]

  static func link(_ zone: ZonePointer, into head: inout UInt) {
    LinkedList<ZoneLinks>.push(&head, UInt(bitPattern: zone))
  }

  static func unlink(_ zone: ZonePointer, from head: inout UInt) {
    LinkedList<ZoneLinks>.remove(&head, UInt(bitPattern: zone))
  }

  private static func unlinkFirst(_ head: inout UInt) -> ZonePointer? {
    LinkedList<ZoneLinks>.pop(&head).map { ZonePointer(bitPattern: $0).unsafelyUnwrapped }
  }

  /// Calls body for every zone that holds counters: live ones and dead ones.   [zones lock]
  static func forEachCounted(_ body: (ZonePointer) -> Void) {
    let g = lists.unsafelyUnwrapped
    LinkedList<ZoneLinks>.forEach(g.pointee.live) { body(ZonePointer(bitPattern: $0).unsafelyUnwrapped) }
    LinkedList<ZoneLinks>.forEach(g.pointee.dead) { body(ZonePointer(bitPattern: $0).unsafelyUnwrapped) }
  }
}
