// Sampling.swift: the thread's allocation tick, and what runs when it runs out.
//
// Owns: each zone's tick, the bytes the thread may still allocate before its next
// sampling event, and the multiplexing of the features that watch a sample of the
// allocations (the heap profiler, the guarded slots). The small and medium malloc paths
// subtract the chunk size from the tick (ThreadZone.handOut: one subtraction and one
// branch); big blocks subtract their length. When it goes negative the allocation takes
// `expired`:
//  - the bytes of the period just ended are taken off each feature's own countdown;
//  - a feature whose countdown ran out gets the allocation: it may serve it from memory
//    of its own (a guarded slot, a sampled span), and the chunk goes back to its slab;
//  - the thread does its housekeeping (the idle pass without a background thread, and
//    the stats page);
//  - the tick is re-armed with the shortest countdown left (or the housekeeping period).
// A feature that is off never fires and costs nothing on the fast path: it only decides
// how long the next period is.
// Also what the features share: their start-up (the per-thread random generator's seed,
// the stack walker: ZoneSupport's zms_backtrace), and holding the sampler off while a
// thread walks its stack or calls out of the allocator, so that nothing it allocates
// meanwhile is sampled.
// Touches: the zone's tick and countdowns, the thread's sampler state (ZoneSupport's
// zms_sampler_state), ThreadZone (to hand the chunk out, or back), Profiler,
// GuardedSlots, SampleRandom, Background and StatsPage (housekeeping).

import ZoneSupport

enum Sampling {
  /// Bytes between two events when no feature wants them sooner: the thread's
  /// housekeeping period.
  static let housekeepingPeriod = 1 << 20
  /// A countdown that never runs out.
  static let never = Int.max

  // MARK: - Start-up

  /// At boot: the seed of the per-thread random draws, and the profiler's tables.
  static func boot() {
    Profiler.prepare()
    if GuardedSlots.enabled || Profiler.enabled { SampleRandom.drawSeed() }
  }

  /// In the library constructor, where allocating is allowed: loads the stack walker (the
  /// blocks dlopen keeps are the allocator's own, not the program's: counted as internal,
  /// and never sampled), then starts each feature.
  static func construct() {
    guard GuardedSlots.enabled || Profiler.enabled else { return }
    let walker = holdingOff { Stats.countingAsInternal { zms_backtrace_setup() } } == 0
    if !walker && Profiler.enabled { Diagnostics.warn("heap profile without stacks: libgcc_s.so.1 cannot be loaded") }
    GuardedSlots.construct()
    Profiler.start()
  }

  /// Runs body with the calling thread's allocations kept out of the sampler: none is
  /// guarded or profiled, and the zone's tick cannot run out meanwhile (nothing re-enters
  /// it).
  static func holdingOff<R>(_ body: () -> R) -> R {
    let thread = zms_sampler_state().unsafelyUnwrapped
    thread.pointee.holdoff &+= 1
    let zone = ThreadZone.current
    let real = thread.pointee.holdoff == 1 && !Zones.isPlaceholder(zone)
    let tick = zone.pointee.tick
    if real {
      settle(zone)
      zone.pointee.tick = never
      zone.pointee.tickPeriod = never
    }
    let result = body()
    if real {
      // What body allocated counts among the bytes allocated, not towards any countdown;
      // the period resumes with what was left of it.
      zone.pointee.allocatedBytes &+= UInt(bitPattern: never &- zone.pointee.tick) &- zone.pointee.tickBig
      zone.pointee.tickBig = 0
      zone.pointee.tick = tick
      zone.pointee.tickPeriod = tick
    }
    thread.pointee.holdoff &-= 1
    return result
  }

  /// True while the calling thread holds the sampler off.
  static var heldOff: Bool { zms_sampler_state().unsafelyUnwrapped.pointee.holdoff != 0 }

  // MARK: - The tick

  /// Arms a new zone's tick and countdowns.
  static func arm(_ zone: ZonePointer) {
    zone.pointee.profileLeft = Profiler.nextInterval()
    zone.pointee.guardLeft = GuardedSlots.nextInterval()
    rearm(zone)
  }

  /// The next period is the shortest of the countdowns and the housekeeping period.
  private static func rearm(_ zone: ZonePointer) {
    let period = min(housekeepingPeriod, zone.pointee.profileLeft, zone.pointee.guardLeft)
    zone.pointee.tick = period
    zone.pointee.tickPeriod = period
    zone.pointee.tickBig = 0
  }

  /// Takes the bytes of the period that just ended off each feature's countdown, and
  /// counts the small and medium ones among the bytes the thread allocated; the period
  /// goes on with what is left of it (settling twice counts nothing twice).
  private static func settle(_ zone: ZonePointer) {
    let consumed = zone.pointee.tickPeriod &- zone.pointee.tick
    zone.pointee.allocatedBytes &+= UInt(bitPattern: consumed) &- zone.pointee.tickBig
    zone.pointee.tickBig = 0
    zone.pointee.tickPeriod = zone.pointee.tick
    if zone.pointee.profileLeft != never { zone.pointee.profileLeft &-= consumed }
    if zone.pointee.guardLeft != never { zone.pointee.guardLeft &-= consumed }
  }

  /// The bytes of small and medium chunks the thread handed out: those of the ended
  /// periods and those of the current one (big blocks are counted apart).
  static func allocatedBytes(_ zone: ZonePointer) -> UInt {
    let current = UInt(bitPattern: zone.pointee.tickPeriod &- zone.pointee.tick) &- zone.pointee.tickBig
    return zone.pointee.allocatedBytes &+ current
  }

  /// The tick ran out on the allocation of `chunk` from `slab`, counted already.
  @inline(never)
  static func expired(_ zone: ZonePointer, _ slab: SlabPointer, _ chunk: UInt) -> UnsafeMutableRawPointer {
    settle(zone)
    let size = UInt(slab.pointee.chunkSize)
    var served: UnsafeMutableRawPointer? = nil
    if zone.pointee.guardLeft < 0 {
      zone.pointee.guardLeft = GuardedSlots.nextInterval()
      served = GuardedSlots.allocate(size)
    }
    if zone.pointee.profileLeft < 0 {
      zone.pointee.profileLeft = Profiler.nextInterval()
      served = Profiler.sample(slab, chunk, servedAt: served)
    }
    rearm(zone)
    Background.runInlineIfDue()
    StatsPage.refreshIfDue()
    guard let served else { return UnsafeMutableRawPointer(bitPattern: chunk).unsafelyUnwrapped }
    ThreadZone.giveBack(zone, slab, chunk)
    return served
  }

  /// A big block of `length` bytes was handed out at `address`: it counts against the
  /// calling thread's tick (when the thread has a zone), and is sampled in place.
  static func noteBig(_ address: UInt, _ length: UInt) {
    let zone = ThreadZone.current
    guard !Zones.isPlaceholder(zone) else { return }
    zone.pointee.tick &-= Int(truncatingIfNeeded: length)
    zone.pointee.tickBig &+= length
    guard zone.pointee.tick < 0 else { return }
    settle(zone)
    if zone.pointee.guardLeft < 0 { zone.pointee.guardLeft = GuardedSlots.nextInterval() }
    if zone.pointee.profileLeft < 0 {
      zone.pointee.profileLeft = Profiler.nextInterval()
      Profiler.sampleInPlace(address, length)
    }
    rearm(zone)
    StatsPage.refreshIfDue()
  }
}
