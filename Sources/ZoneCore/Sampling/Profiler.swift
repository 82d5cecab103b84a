// Profiler.swift: the sampled heap profiler (ZONEMALLOC_PROF=1).
//
// Owns: deciding how far away each thread's next sample is, and taking a sample: the
// allocating thread's stack, where the sampled block lives, and how the profiler hears
// that it was freed.
//  - Intervals are exponential with mean ZONEMALLOC_PROF_RATE bytes (SampleRandom, the
//    thread's own generator), so sampling is a Poisson process over the bytes allocated
//    and the cost does not depend on allocation sizes; each sample is weighted by the
//    chance it had (ProfileMath). Off, every interval is "never" and nothing here runs.
//  - A sampled medium block is a span already: its header's `sampled` flag is set. A
//    sampled small block is served from a span of its own, flagged the same way, and
//    the chunk goes back to its slab (Sampling does that). Spans are 64 KiB aligned, so
//    every alignment a size class promises still holds, and every span free already
//    takes a slow path (SmallFree.freeEvent, freeRemote), which reports the flag:
//    the small free fast path is not touched. A big block is sampled in place: its
//    registry entry carries the flag (BigBlocks), and BigBlocks.free and realloc tell
//    the profiler. A block another feature served (`servedAt`, the guarded slots) is
//    recorded at its address; that feature calls `noteFreed` when it is freed.
//  - The stack is taken by ZoneSupport's walker (Backtrace.c, FrameRules.c), with no
//    allocator lock held and the sampler held off (Sampling.holdingOff), so an
//    allocation inside the walk is not sampled again.
//  - The samples go to ProfileTables under the profile lock; a signal's pending dump is
//    served after the lock is dropped (ProfileDump).
// Touches: SampleRandom, Sampling (holding the sampler off), span headers' `sampled`
// flag, BigBlocks (the registry flag), Spans (a span for a sampled small block),
// ProfileTables, ProfileDump, the stack walker.

import ZoneSupport

enum Profiler {
  nonisolated(unsafe) static var enabled = false
  /// Frames a stack keeps (its buffer, 1 KiB, lives on the sampling thread's stack).
  static let maxDepth = 128

  /// At boot, when ZONEMALLOC_PROF=1: maps the tables. Nothing here allocates.
  static func prepare() {
    guard Config.profile, !enabled, ProfileTables.prepare() else { return }
    enabled = true
  }

  /// The library constructor, after the stack walker is loaded (Sampling.construct):
  /// installs the dump signal's handler and starts the dump interval. Samples taken
  /// before this have no frames.
  static func start() {
    guard enabled else { return }
    ProfileDump.start()
  }

  /// Bytes until this thread's next sampled allocation.
  static func nextInterval() -> Int {
    guard enabled else { return Sampling.never }
    return SampleRandom.exponential(mean: Config.profileRate)
  }

  /// The tick chose the allocation of `chunk` from `slab`; `served` is where another
  /// feature put it, if one did. Returns where the allocation is served, or nil for its
  /// own chunk.
  static func sample(_ zone: ZonePointer, _ slab: SlabPointer, _ chunk: UInt,
                     servedAt served: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    let size = UInt(slab.pointee.chunkSize)
    return withStack { frames in
      if let served {
        record(UInt(bitPattern: served), size, frames)
        return served
      }
      if slab.pointee.capacity == 1 {
        slab.pointee.sampled = 1
        record(chunk, size, frames)
        return nil
      }
      guard let (span, memory) = Spans.allocate(size, zeroed: false, in: zone) else { return nil }
      _ = ThreadZone.handOut(zone, span, memory)
      span.pointee.sampled = 1
      record(memory, size, frames)
      return UnsafeMutableRawPointer(bitPattern: memory)
    }
  }

  /// The tick chose a big block, which stays where it is.
  static func sampleInPlace(_ address: UInt, _ length: UInt) {
    withStack { frames in
      BigBlocks.markSampled(address)
      record(address, length, frames)
    }
  }

  /// A recorded block was freed. The free paths of spans and big blocks call this, and
  /// so must any feature that served a block the profiler recorded (`servedAt`).
  static func noteFreed(_ address: UInt) {
    guard enabled else { return }
    Lock.profile.lock()
    ProfileTables.forget(address)
    Lock.profile.unlock()
    ProfileDump.servePending()
  }

  /// A sampled big block moved (realloc through mremap).
  static func noteMoved(from old: UInt, to new: UInt) {
    Lock.profile.lock()
    ProfileTables.move(from: old, to: new)
    Lock.profile.unlock()
  }

  private static func record(_ address: UInt, _ size: UInt, _ frames: UnsafeBufferPointer<UInt>) {
    let weight = ProfileMath.weight(size, rate: Config.profileRate)
    Lock.profile.lock()
    ProfileTables.record(address, frames.baseAddress!, frames.count, weight: weight)
    Lock.profile.unlock()
    ProfileDump.servePending()
  }

  /// Runs body with the calling thread's return addresses, innermost first, in a buffer
  /// on its stack, with the sampler held off: nothing the walk or body allocates is
  /// sampled.
  private static func withStack<R>(_ body: (UnsafeBufferPointer<UInt>) -> R) -> R {
    Sampling.holdingOff {
      withUnsafeTemporaryAllocation(of: UInt.self, capacity: maxDepth) { buffer in
        let depth = Int(zms_backtrace(buffer.baseAddress!, Int32(maxDepth)))
        return body(UnsafeBufferPointer(rebasing: buffer[0..<depth]))
      }
    }
  }
}
