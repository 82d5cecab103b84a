// ProfileTables.swift: what the heap profiler keeps: its stacks and its live samples.
//
// Owns: one mapping made at boot when ZONEMALLOC_PROF=1, holding
//  - the stack table: every distinct stack seen, deduplicated by a hash (buckets of
//    chained entries), with its frames in a pool and, per stack, the estimated bytes
//    live now, allocated in all, and live at the peak;
//  - the live samples: sampled block address -> stack and weight (an AddressMap);
//  - the totals, the peak and the counts of what was dropped when a table was full.
// The peak: the per-stack live bytes are copied to the per-stack peak figures when the
// live estimate passes the last copy by a margin (1/32 of it, at least one sampling
// interval), and once more when a profile is written at the peak, so a sample costs
// O(stacks) only O(log peak) times in a run.
// Everything is guarded by the profile lock, the innermost lock class: its holders call
// nothing that allocates or takes another lock (the AddressMap grows with mmap). A
// forked child whose profile lock was held starts empty tables (abandonInChild).
// Touches: OS (the mapping), AddressMap.

import ZoneSupport

/// One distinct stack and what its samples add up to (bytes are estimates).
struct ProfileStack {
  var hash: UInt
  var firstFrame: UInt32      // index in the frame pool
  var depth: UInt32
  var next: UInt32            // next stack in the same bucket, plus one (0 ends the chain)
  var unused: UInt32
  var liveBytes: UInt
  var liveSamples: UInt
  var totalBytes: UInt
  var totalSamples: UInt
  var peakBytes: UInt         // liveBytes when the peak was last copied
}

/// The profiler's totals, at the start of its mapping.                    [profile lock]
struct ProfileTotals {
  var stacks: UInt = 0
  var frames: UInt = 0
  var liveBytes: UInt = 0
  var liveSamples: UInt = 0
  var totalBytes: UInt = 0
  var totalSamples: UInt = 0
  var peakBytes: UInt = 0        // the largest live estimate seen
  var peakCopied: UInt = 0       // the live estimate when stacks' peakBytes were copied
  var droppedSamples: UInt = 0   // samples not kept: a table was full, or no memory
  var droppedStacks: UInt = 0    // ... of which because the stack table was full
  var samples = AddressMap()     // live sampled block -> stack index << 40 | weight
}

enum ProfileTables {
  static let maxStacks: UInt = 1 << 16
  static let maxFrames: UInt = 1 << 21
  static let maxLiveSamples: UInt = 1 << 22
  private static let bucketCount: UInt = 1 << 16
  private static let weightMask: UInt = (1 << 40) - 1

  nonisolated(unsafe) private static var base: UInt = 0

  private static var bucketsOffset: UInt { OS.pageSize }
  private static var stacksOffset: UInt { bucketsOffset + bucketCount * 4 }
  private static var framesOffset: UInt { stacksOffset + maxStacks * UInt(MemoryLayout<ProfileStack>.stride) }

  /// Maps the tables (at boot, when profiling is on). False when there is no memory.
  static func prepare() -> Bool {
    guard let mapped = OS.map(framesOffset + maxFrames * 8) else { return false }
    base = mapped
    totals.initialize(to: ProfileTotals())
    return true
  }

  /// In a forked child whose profile lock a vanished thread held: the tables may be torn,
  /// so the child starts fresh ones (the old mapping stays, unused). Without memory for
  /// them the child profiles nothing more.
  static func abandonInChild() {
    if !prepare() { Profiler.enabled = false }
  }

  static var totals: UnsafeMutablePointer<ProfileTotals> {
    UnsafeMutablePointer<ProfileTotals>(bitPattern: base).unsafelyUnwrapped
  }

  private static func bucket(_ hash: UInt) -> UnsafeMutablePointer<UInt32> {
    UnsafeMutablePointer<UInt32>(bitPattern: base + bucketsOffset).unsafelyUnwrapped + Int(hash & (bucketCount - 1))
  }

  static func stack(_ index: UInt) -> UnsafeMutablePointer<ProfileStack> {
    UnsafeMutablePointer<ProfileStack>(bitPattern: base + stacksOffset).unsafelyUnwrapped + Int(index)
  }

  static func frames(of stack: UnsafeMutablePointer<ProfileStack>) -> UnsafeMutablePointer<UInt> {
    UnsafeMutablePointer<UInt>(bitPattern: base + framesOffset).unsafelyUnwrapped + Int(stack.pointee.firstFrame)
  }

  // MARK: - Samples                                                         [profile lock]

  /// A sampled block of `weight` estimated bytes at `address`, allocated from this stack.
  static func record(_ address: UInt, _ frames: UnsafePointer<UInt>, _ depth: Int, weight: UInt) {
    let t = totals
    guard t.pointee.samples.count < maxLiveSamples, let index = stackIndex(frames, depth) else {
      t.pointee.droppedSamples += 1
      return
    }
    forget(address) // a block that was freed unseen cannot stay live twice
    let w = min(weight, weightMask)
    guard t.pointee.samples.set(address, index << 40 | w) else {
      t.pointee.droppedSamples += 1
      return
    }
    let s = stack(index)
    s.pointee.liveBytes += w
    s.pointee.liveSamples += 1
    s.pointee.totalBytes += w
    s.pointee.totalSamples += 1
    t.pointee.liveBytes += w
    t.pointee.liveSamples += 1
    t.pointee.totalBytes += w
    t.pointee.totalSamples += 1
    if t.pointee.liveBytes > t.pointee.peakBytes { notePeak() }
  }

  /// The sampled block at address was freed (nothing happens if it was not sampled).
  static func forget(_ address: UInt) {
    let t = totals
    guard let value = t.pointee.samples.remove(address) else { return }
    let w = value & weightMask
    let s = stack(value >> 40)
    s.pointee.liveBytes -= w
    s.pointee.liveSamples -= 1
    t.pointee.liveBytes -= w
    t.pointee.liveSamples -= 1
  }

  /// A sampled block moved (realloc with mremap).
  static func move(from old: UInt, to new: UInt) {
    guard let value = totals.pointee.samples.remove(old) else { return }
    if !totals.pointee.samples.set(new, value) {
      _ = totals.pointee.samples.set(old, value)
      forget(old)
    }
  }

  // MARK: - The peak                                                        [profile lock]

  private static func notePeak() {
    let t = totals
    t.pointee.peakBytes = t.pointee.liveBytes
    let margin = max(t.pointee.peakCopied >> 5, Config.profileRate)
    if t.pointee.liveBytes >= t.pointee.peakCopied + margin { copyPeak() }
  }

  /// Before a profile is written: if the live estimate is at its peak now, the per-stack
  /// peak figures become exact.
  static func settlePeak() {
    let t = totals
    if t.pointee.liveBytes == t.pointee.peakBytes && t.pointee.peakCopied != t.pointee.peakBytes { copyPeak() }
  }

  private static func copyPeak() {
    let t = totals
    var i: UInt = 0
    while i < t.pointee.stacks {
      stack(i).pointee.peakBytes = stack(i).pointee.liveBytes
      i += 1
    }
    t.pointee.peakCopied = t.pointee.liveBytes
  }

  // MARK: - Stacks                                                          [profile lock]

  /// The index of the stack, entered now if it is new; nil when the table is full.
  private static func stackIndex(_ frames: UnsafePointer<UInt>, _ depth: Int) -> UInt? {
    let hash = hashOf(frames, depth)
    let head = bucket(hash)
    var link = head.pointee
    while link != 0 {
      let s = stack(UInt(link - 1))
      if s.pointee.hash == hash && sameFrames(s, frames, depth) { return UInt(link - 1) }
      link = s.pointee.next
    }
    let t = totals
    guard t.pointee.stacks < maxStacks, t.pointee.frames + UInt(depth) <= maxFrames else {
      t.pointee.droppedStacks += 1
      return nil
    }
    let index = t.pointee.stacks
    stack(index).initialize(to: ProfileStack(
      hash: hash, firstFrame: UInt32(t.pointee.frames), depth: UInt32(depth), next: head.pointee, unused: 0,
      liveBytes: 0, liveSamples: 0, totalBytes: 0, totalSamples: 0, peakBytes: 0))
    let pool = self.frames(of: stack(index))
    for i in 0..<depth { pool[i] = frames[i] }
    t.pointee.frames += UInt(depth)
    t.pointee.stacks += 1
    head.pointee = UInt32(index + 1)
    return index
  }

  private static func hashOf(_ frames: UnsafePointer<UInt>, _ depth: Int) -> UInt {
    var h = UInt(depth)
    for i in 0..<depth { h = (h ^ frames[i]) &* 0x9E37_79B9_7F4A_7C15 }
    return ProfileMath.mix(h)
  }

  private static func sameFrames(_ s: UnsafeMutablePointer<ProfileStack>, _ frames: UnsafePointer<UInt>,
                                 _ depth: Int) -> Bool {
    guard Int(s.pointee.depth) == depth else { return false }
    let stored = self.frames(of: s)
    for i in 0..<depth where stored[i] != frames[i] { return false }
    return true
  }
}
