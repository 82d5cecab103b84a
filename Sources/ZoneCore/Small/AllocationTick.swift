// AllocationTick.swift: the thread's count-down of bytes allocated, and what it counts.
//
// Owns: each zone's tick. The small and medium malloc paths subtract the chunk size from
// it (one subtraction and one branch); big blocks subtract their length. When it goes
// negative, the allocation takes the tick's slow path (API/SlowPaths.swift), where the
// sampled features and the thread's housekeeping get their turn and the tick is re-armed
// with a new period. The bytes of the periods that ended are the thread's allocated bytes
// (so no malloc counts bytes on its own); settling a period adds them.
// Touches: the zone's tick fields only.

enum AllocationTick {
  /// A period that never ends.
  static let never = Int.max

  /// Ends the current period where it stands: its bytes (less big blocks, counted apart)
  /// join the allocated bytes, and the period goes on with what is left of it. Returns
  /// the bytes the period consumed. Settling twice counts nothing twice.
  @discardableResult
  static func settle(_ zone: ZonePointer) -> Int {
    let consumed = zone.pointee.tickPeriod &- zone.pointee.tick
    zone.pointee.allocatedBytes &+= UInt(bitPattern: consumed) &- zone.pointee.tickBig
    zone.pointee.tickBig = 0
    zone.pointee.tickPeriod = zone.pointee.tick
    return consumed
  }

  /// Starts a period of `bytes`.
  static func arm(_ zone: ZonePointer, period bytes: Int) {
    zone.pointee.tick = bytes
    zone.pointee.tickPeriod = bytes
    zone.pointee.tickBig = 0
  }

  /// The bytes of small and medium chunks the thread handed out: those of the ended
  /// periods and those of the current one.
  static func allocatedBytes(_ zone: ZonePointer) -> UInt {
    let current = UInt(bitPattern: zone.pointee.tickPeriod &- zone.pointee.tick) &- zone.pointee.tickBig
    return zone.pointee.allocatedBytes &+ current
  }

  /// A big block of `length` bytes counts against the tick; true when the tick ran out.
  static func noteBig(_ zone: ZonePointer, _ length: UInt) -> Bool {
    zone.pointee.tick &-= Int(truncatingIfNeeded: length)
    zone.pointee.tickBig &+= length
    return zone.pointee.tick < 0
  }

  /// Runs body with the tick stopped (the caller settles the period first): what body
  /// allocates counts among the bytes allocated but brings no event, and the period then
  /// resumes with what was left of it.
  static func paused<R>(_ zone: ZonePointer, _ body: () -> R) -> R {
    let left = zone.pointee.tick
    arm(zone, period: never)
    let result = body()
    zone.pointee.allocatedBytes &+= UInt(bitPattern: never &- zone.pointee.tick) &- zone.pointee.tickBig
    arm(zone, period: left)
    return result
  }
}
