// SmallFree.swift: free of a slab's chunk, by its owner or by another thread.
//
// Owns: the owner's free (push on the local list, one decrement that says when the slab
// needs attention), the events that decrement raises (a full slab gets a chunk back, a
// slab empties), the remote free (one CAS onto the slab's remote list, and the signal to
// the owner when the slab must re-enter its zone array), the double-free check of a
// chunk that carries the freed tag, and giving back a chunk that was handed out but
// served elsewhere. Each slow path returns the memory of a span the heap profiler had
// sampled, when it freed one, for the caller to tell the profiler.
// Touches: the slab (SlabChunks, SlabState), the zone's lists, the owner's relink stack,
// Depot, Reaper, Zones (a zone for a thread's first free), SmallCounters.

import ZoneSupport
import Synchronization

enum SmallFree {
  /// A chunk checked as a live chunk start of `slab`, not carrying the freed tag: the
  /// owner puts it on its local list; anyone else pushes it remotely. Hot.
  @inline(__always) static func isOwner(_ slab: SlabPointer, _ zone: ZonePointer) -> Bool {
    slab.isOwned(by: UInt(bitPattern: zone))
  }

  /// The owner's free: false when the countdown ran out (the caller runs freeEvent). Hot.
  @inline(__always) static func freeLocal(_ zone: ZonePointer, _ slab: SlabPointer, _ address: UInt, tag: UInt) -> Bool {
    slab.putLocal(address, tag: tag)
    zone.pointee.frees &+= 1
    zone.pointee.freedBytes &+= UInt(slab.pointee.chunkSize)
    let countdown = slab.pointee.countdown &- 1
    slab.pointee.countdown = countdown
    return countdown != 0
  }

  /// The chunk carries the freed tag: it is free already (a double free), unless the
  /// program stored the tag's random value there itself. Every free writes the tag and
  /// every hand-out clears it, so the tag alone is the evidence for a thread that does
  /// not own the slab: it may not walk the owner's local list, where an owner's free put
  /// the chunk, and the owner may have moved a remote list there meanwhile. The owner
  /// makes sure by finding the chunk on its lists.
  static func checkNotFree(_ slab: SlabPointer, _ address: UInt, _ zone: ZonePointer) {
    let mine = slab.ownerZone == UInt(bitPattern: zone)
    if !mine || slab.holdsFreeChunk(address) { Diagnostics.doubleFree(address) }
  }

  /// A local free ran the slab's countdown out (SlabChunks.setList): a full slab got a
  /// chunk back, another slab emptied, or the current slab's countdown merely wrapped.
  /// Returns a sampled span's memory when the span went, else 0.
  static func freeEvent(_ zone: ZonePointer, _ slab: SlabPointer) -> UInt {
    let c = Int(slab.pointee.sizeClass)
    switch slab.pointee.list {
    case SlabList.current: // the countdown wrapped; keep the current slab, even empty
      ThreadZone.leaveCurrent(zone, slab)
      ThreadZone.enterCurrent(zone, slab)
      return 0
    case SlabList.full:
      let used = slab.used
      unlink(zone, c, slab)
      ThreadZone.appendPartial(zone, c, slab)
      slab.setList(SlabList.partial, used: used)
      return 0
    default:
      let sampled = takeSample(slab)
      unlink(zone, c, slab)
      ThreadZone.park(zone, slab)
      return sampled
    }
  }

  /// Takes a slab off the partial or full list (a full one keeps asking for a signal:
  /// SlabState's sticky notify).
  static func unlink(_ zone: ZonePointer, _ c: Int, _ slab: SlabPointer) {
    if slab.pointee.list == SlabList.full {
      LinkedList<SlabLinks>.remove(&zone.pointee.full[c], slab.address)
    } else if slab.pointee.list == SlabList.partial {
      ThreadZone.removePartial(zone, c, slab)
    }
    slab.setList(SlabList.none)
  }

  /// The common remote free (SlabState.tryPushPlain) by a thread with a zone, counted;
  /// false when freeRemote must take it. Hot.
  @inline(__always) static func freeRemotePlain(_ zone: ZonePointer, _ slab: SlabPointer, _ address: UInt) -> Bool {
    guard !Zones.isPlaceholder(zone), slab.tryPushPlain(address) else { return false }
    zone.pointee.remoteFrees &+= 1
    zone.pointee.frees &+= 1
    zone.pointee.freedBytes &+= UInt(slab.pointee.chunkSize)
    return true
  }

  /// A chunk freed by a thread that does not own its slab: one CAS onto the remote list.
  /// Only when that push finds the slab detached as full is the owner told; when it
  /// brings the slab's last chunk back, the reaper hears of it. A span has one chunk, so
  /// its remote free empties it: the freer claims the span with one CAS and parks it in
  /// the depot, where its owner's next span finds it (not in the freer's own cache, which
  /// nobody else can take from or release while the freer sleeps); the owner never hears
  /// of it. Returns nil after a plain push (nothing for housekeeping to look at: the
  /// common case of producer-consumer programs), else a sampled span's memory when the
  /// span went, or 0.
  static func freeRemote(_ zone0: ZonePointer, _ slab: SlabPointer, _ address: UInt) -> UInt? {
    let bytes = UInt(slab.pointee.chunkSize)
    var zone = zone0
    if zone == Zones.empty, let created = Zones.createForCurrentThread() { zone = created }
    var signalled = false
    var sampled: UInt? = nil
    if slab.pointee.capacity == 1 {
      if !slab.claimFreedSpan() { Diagnostics.doubleFree(address) }
      sampled = takeSample(slab)
      Depot.prepareForParking(slab)
      Depot.put(slab)
    } else {
      let push = slab.pushRemote(address)
      signalled = push.mustSignal
      if signalled { signalOwner(slab, push) }
      if push.emptiedSlab { Reaper.queue(slab) }
      if signalled || push.emptiedSlab { sampled = 0 }
    }
    if Zones.isPlaceholder(zone) {
      SmallCounters.noteZonelessFree(bytes: bytes, remote: true, signal: signalled)
    } else {
      zone.pointee.remoteFrees &+= 1
      zone.pointee.frees &+= 1
      zone.pointee.freedBytes &+= bytes
      if signalled { zone.pointee.signals &+= 1 }
    }
    return sampled
  }

  /// Pushes a slab onto its owner's relink stack, then ends the signalling state.
  private static func signalOwner(_ slab: SlabPointer, _ push: RemotePush) {
    let owner = ZonePointer(bitPattern: slab.ownerZone).unsafelyUnwrapped
    LockFreeStack.push(owner.pointee.relink, slab.address) { slab.pointee.relinkNext = $0 }
    slab.finishSignal(push)
  }

  /// A span leaving its owner: its profiler sample goes with it.
  private static func takeSample(_ slab: SlabPointer) -> UInt {
    guard slab.pointee.sampled != 0 else { return 0 }
    slab.pointee.sampled = 0
    return slab.memory
  }

  /// Puts back a chunk handed out but served elsewhere (a guarded slot, a sampled span),
  /// and its count: a slab's chunk returns to its local list; a span, which held only
  /// that chunk, is parked.
  static func giveBack(_ zone: ZonePointer, _ slab: SlabPointer, _ chunk: UInt) {
    zone.pointee.allocatedBytes &-= UInt(slab.pointee.chunkSize)
    if slab.pointee.list == SlabList.current { slab.pointee.handed &-= 1 } else { zone.pointee.mallocs &-= 1 }
    if slab.pointee.capacity == 1 { return ThreadZone.park(zone, slab) }
    slab.putLocal(chunk)
  }
}
