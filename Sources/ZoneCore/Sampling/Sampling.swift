// Sampling.swift: the features that watch a sample of the allocations, and their turn at
// the allocation tick.
//
// Owns: each zone's countdowns of the sampled features (the heap profiler, the guarded
// slots), the bytes the thread may still allocate before each feature's next event, and
// what happens when the tick (Small/AllocationTick.swift) runs out and a countdown with it:
//  - the bytes of the period just ended are taken off each countdown (settle);
//  - a feature whose countdown ran out gets the allocation: it may serve it from memory
//    of its own (a guarded slot, a sampled span), and the caller gives the chunk back to
//    its slab (serve);
//  - the next period is the shortest countdown (nextEvent).
// A new zone's countdowns are unarmed (Zones.unarmed): its first tick event arms them.
// A feature that is off never fires and costs nothing on the fast path: it only decides
// how long the next period is. Also what the features share: their start-up (the
// per-thread random generator's seed, the stack walker: ZoneSupport's zms_backtrace),
// and holding the sampler off while a thread walks its stack or calls out of the
// allocator, so that nothing it allocates meanwhile is sampled.
// Touches: the zone's countdowns and tick, the thread's sampler state (ZoneSupport's
// zms_sampler_state), Profiler, GuardedSlots, SampleRandom.

import ZoneSupport

enum Sampling {
  /// A countdown that never runs out.
  static let never = AllocationTick.never

  // MARK: - Start-up

  /// At boot: the seed of the per-thread random draws, and the profiler's tables.
  static func boot() {
    Profiler.prepare()
    if GuardedSlots.enabled || Profiler.enabled { SampleRandom.drawSeed() }
  }

  /// In the library constructor, where allocating is allowed: loads the stack walker (the
  /// caller files what dlopen keeps as the allocator's own), then starts each feature.
  static func construct() {
    guard GuardedSlots.enabled || Profiler.enabled else { return }
    let walker = holdingOff { zms_backtrace_setup() } == 0
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
    defer { thread.pointee.holdoff &-= 1 }
    let zone = ThreadZone.current
    guard thread.pointee.holdoff == 1 && !Zones.isPlaceholder(zone) else { return body() }
    settle(zone)
    return AllocationTick.paused(zone, body)
  }

  /// True while the calling thread holds the sampler off.
  static var heldOff: Bool { zms_sampler_state().unsafelyUnwrapped.pointee.holdoff != 0 }

  // MARK: - The tick's turn

  /// Ends the tick's period and takes its bytes off each armed countdown; arms the
  /// countdowns of a new zone.
  static func settle(_ zone: ZonePointer) {
    let consumed = AllocationTick.settle(zone)
    if zone.pointee.profileLeft == Zones.unarmed {
      zone.pointee.profileLeft = Profiler.nextInterval()
      zone.pointee.guardLeft = GuardedSlots.nextInterval()
      return
    }
    if zone.pointee.profileLeft != never { zone.pointee.profileLeft &-= consumed }
    if zone.pointee.guardLeft != never { zone.pointee.guardLeft &-= consumed }
  }

  /// After settle: the feature whose countdown ran out on the allocation of `chunk` from
  /// `slab` gets it, and may serve it elsewhere (the caller then gives the chunk back).
  static func serve(_ zone: ZonePointer, _ slab: SlabPointer, _ chunk: UInt) -> UnsafeMutableRawPointer? {
    let size = UInt(slab.pointee.chunkSize)
    var served: UnsafeMutableRawPointer? = nil
    if zone.pointee.guardLeft < 0 {
      zone.pointee.guardLeft = GuardedSlots.nextInterval()
      served = GuardedSlots.allocate(size)
    }
    if zone.pointee.profileLeft < 0 {
      zone.pointee.profileLeft = Profiler.nextInterval()
      served = Profiler.sample(zone, slab, chunk, servedAt: served)
    }
    return served
  }

  /// Bytes until the next feature's event.
  static func nextEvent(_ zone: ZonePointer) -> Int {
    min(zone.pointee.profileLeft, zone.pointee.guardLeft)
  }

  /// A big block ran the tick out (the caller settled it): it is sampled in place.
  static func serveBig(_ zone: ZonePointer, _ address: UInt, _ length: UInt) {
    if zone.pointee.guardLeft < 0 { zone.pointee.guardLeft = GuardedSlots.nextInterval() }
    if zone.pointee.profileLeft < 0 {
      zone.pointee.profileLeft = Profiler.nextInterval()
      Profiler.sampleInPlace(address, length)
    }
  }
}
