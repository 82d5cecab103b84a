// World.swift: one slab and the threads around it, for the protocol's exhaustive test.
//
// Owns: a slab header and its chunks (the allocator's own Slab, driven through the
// allocator's own SlabState.swift), the zones that may own it (each with a relink stack),
// what each modelled thread holds, and the owner's private bookkeeping (its local free
// list, its never-used chunks, which list the slab is on). Each operation below is what
// the allocator's caller of those transitions does, named after it; the callers
// themselves (Refill, SmallFree, Teardown, Orphans, Reaper) need the whole allocator,
// so their protocol steps are restated here, in the same order.
// Touches: nothing else. Diagnostics is the stand-in SlabState calls on a double free.

import Synchronization

/// SlabState's reports: a finding of the run (a scenario that expects one says so).
enum Diagnostics {
  static func doubleFree(_ address: UInt) -> Never {
    guard let world = World.current, world.expectDoubleFree else {
      ProtocolModel.fail("double free reported for chunk \(address)")
    }
    world.detected.append(address)
    ProtocolModel.stop()
  }
}

/// A zone: the owner of slabs, with the stack other threads signal it on.
final class ModelZone {
  let relink = Atomic<UInt>(0)
  var gone = false   // its thread exited and dropped its relink stack
  var address: UInt { UInt(bitPattern: Unmanaged.passUnretained(self).toOpaque()) }
}

final class World {
  nonisolated(unsafe) static var current: World? = nil

  let capacity: Int
  let slab: SlabPointer
  let memory: UnsafeMutableRawPointer
  let zones = [ModelZone(), ModelZone()]
  /// Chunks each modelled thread holds (live blocks), by thread number.
  var hands: [[UInt]]
  /// The owner's local free list and its never-used chunks (owner only).
  var local: [UInt] = []
  var uncarved: [UInt] = []
  var parked = false
  /// The reaper: the slab it is returning (for a forked child's repair), and doubles
  /// freed that the scenario expects to be reported.
  var inFlight = false
  var detected: [UInt] = []
  var expectDoubleFree = false

  /// A slab of `capacity` 16-byte chunks owned by zone 0, every chunk carved and held by
  /// the thread `holder(chunk index)` (nil: on the owner's local list).
  init(capacity: Int, threads: Int, holder: (Int) -> Int?) {
    self.capacity = capacity
    memory = UnsafeMutableRawPointer.allocate(byteCount: capacity * 16, alignment: 16)
    slab = SlabPointer.allocate(capacity: 1)
    let keys = SlabKeys.draw()
    slab.initialize(to: Slab(free: 0, key: keys.key, tag: keys.tag, base: UInt(bitPattern: memory),
                             owner: Atomic(0), startMagic: 0, startLimit: 0, chunkSize: 16, countdown: 0, carved: UInt32(capacity * 16),
                             handed: 0, next: 0, remote: Atomic(0), prev: 0, relinkNext: 0, parkedAt: 0,
                             reapNext: Atomic(0), chargedBytes: 0, carveLimit: UInt32(capacity * 16),
                             capacity: UInt16(capacity), sizeClass: 0, list: SlabList.current, node: 0, fresh: 0,
                             granules: 1, sampled: 0))
    hands = Array(repeating: [], count: threads)
    SignalsInFlight.count.store(0, ordering: .relaxed)
    SignalsInFlight.generation = 0
    slab.becomeOwned(by: zones[0].address)
    for i in 0..<capacity {
      let chunk = chunkAddress(i)
      if let t = holder(i) { hands[t].append(chunk) } else { local.append(chunk) }
    }
    World.current = self
  }

  deinit {
    slab.deinitialize(count: 1)
    slab.deallocate()
    memory.deallocate()
  }

  func chunkAddress(_ i: Int) -> UInt { UInt(bitPattern: memory) + UInt(i) * 16 }

  func zone(_ address: UInt) -> ModelZone? { zones.first { $0.address == address } }

  /// A chunk thread `t` holds (its first).
  func take(_ t: Int) -> UInt { hands[t].removeFirst() }

  // MARK: - Another thread's free (SmallFree.freeRemote, signalOwner)

  func remoteFree(_ chunk: UInt) {
    if slab.tryPushPlain(chunk) { return }
    let push = slab.pushRemote(chunk)
    if push.mustSignal { signalOwner(push) }
  }

  func signalOwner(_ push: RemotePush) {
    guard let owner = zone(slab.ownerZone) else { ProtocolModel.fail("a signal found no owner") }
    LockFreeStack.push(owner.relink, slab.address) { slab.pointee.relinkNext = $0 }
    if owner.gone { ProtocolModel.fail("a signal was pushed on the relink stack of a zone that has gone") }
    if parked { ProtocolModel.fail("a parked slab was pushed on a relink stack") }
    slab.finishSignal(push)
  }

  /// A span's only chunk freed by another thread (SmallFree.freeRemote, capacity 1).
  func remoteFreeSpan(_ chunk: UInt) {
    if !slab.claimFreedSpan() { Diagnostics.doubleFree(chunk) }
    parked = true
  }

  // MARK: - The owner (Refill, SlabChunks, ThreadZone.park, Teardown)

  /// SlabChunks.drainRemote: the remote list onto the local list, or a reaped slab's
  /// chunks made never-used again. Returns how many came back.
  @discardableResult
  func drain() -> Int {
    guard slab.remoteCount != 0, let detached = slab.detachRemote() else { return 0 }
    if detached.reaped {
      if !local.isEmpty || !uncarved.isEmpty { ProtocolModel.fail("a reaped slab still had free chunks locally") }
      slab.reclaimReaped()
      uncarved = (0..<capacity).map(chunkAddress)
      return Int(detached.count)
    }
    local += walkRemote(detached.head, count: detached.count)
    return Int(detached.count)
  }

  /// Refill.retireExhausted: the slab goes to the full list asking for a signal, or to
  /// the partial list when chunks came meanwhile.
  func retire() {
    slab.pointee.list = slab.requestNotify() ? SlabList.full : SlabList.partial
  }

  /// Refill.relinkSignalled: signalled slabs re-enter the zone array.
  func relinkSignalled(_ zone: ModelZone) {
    var next = LockFreeStack.takeAll(zone.relink)
    while next != 0 {
      let s = slabAt(next)
      next = s.pointee.relinkNext
      guard s.ownerZone == zone.address, s.pointee.list == SlabList.full else { continue }
      s.pointee.list = SlabList.partial
    }
  }

  /// A local free that finds the slab on the full list moves it to the partial list
  /// (SmallFree.freeEvent); the word is not touched.
  func freeLocal(_ chunk: UInt) {
    local.append(chunk)
    if slab.pointee.list == SlabList.full { slab.pointee.list = SlabList.partial }
  }

  /// ThreadZone.park with Depot.prepareForParking: the empty slab leaves its owner, then
  /// the signals queued for the zone go.
  func park(_ zone: ModelZone) {
    slab.park()
    parked = true
    slab.pointee.list = SlabList.parked
    ProtocolModel.step()
    if zone.relink.load(ordering: .relaxed) != 0 { relinkSignalled(zone) }
  }

  /// Teardown.release and dismantle: the owner exits, the slab becomes an orphan, the
  /// zone's relink stack is dropped and the zone is gone.
  func exit(_ zone: ModelZone) {
    slab.orphan()
    slab.pointee.list = SlabList.orphan
    _ = LockFreeStack.takeAll(zone.relink)
    zone.gone = true
  }

  /// Orphans.adopt: another zone takes the orphan.
  func adopt(by zone: ModelZone) {
    slab.adopt(by: zone.address)
    slab.pointee.list = SlabList.current
  }

  // MARK: - The reaper (Reaper.tick, freeze, reapFrozen)

  /// One tick's look at the slab: marks it observed when wholly free. False when not.
  func reaperObserve() -> Bool {
    let word = slab.remoteWordForReaping
    guard RemoteWord.isWhollyFree(word, capacity: UInt(capacity)) else { return false }
    return word & RemoteWord.observed != 0 || slab.markObserved(word)
  }

  /// The later tick: a slab still wholly free and marked is frozen, its pages go (the
  /// chunks' memory becomes zero, as after madvise), and it becomes reaped.
  func reaperReap() {
    let word = slab.remoteWordForReaping
    guard RemoteWord.isWhollyFree(word, capacity: UInt(capacity)), word & RemoteWord.observed != 0 else { return }
    inFlight = true
    guard slab.freezeForReaping(word) else {
      inFlight = false
      return
    }
    memory.initializeMemory(as: UInt8.self, repeating: 0, count: capacity * 16)
    slab.finishReaping()
    inFlight = false
  }

  // MARK: - Fork

  /// A forked child's repair (Reaper.afterForkInChild, SignalsInFlight.afterForkInChild).
  func repairAfterFork() {
    if inFlight { slab.finishReaping() }
    inFlight = false
    SignalsInFlight.afterForkInChild()
  }

  // MARK: - Checking

  /// The chunks of a detached or standing remote list, each checked: in the slab, on a
  /// chunk boundary, carrying the slab's tag, the list ending after `count`.
  func walkRemote(_ head: UInt, count: UInt) -> [UInt] {
    var chunks: [UInt] = []
    var chunk = head
    for _ in 0..<count {
      guard chunk >= chunkAddress(0), chunk <= chunkAddress(capacity - 1), (chunk - chunkAddress(0)) % 16 == 0
      else { ProtocolModel.fail("a remote list holds \(chunk), not a chunk of the slab") }
      if ChunkLink.word(chunk, 1).pointee != slab.pointee.tag { ProtocolModel.fail("a remote chunk lost its tag") }
      chunks.append(chunk)
      chunk = ChunkLink.word(chunk, 0).pointee ^ slab.pointee.key
    }
    if chunk != 0 { ProtocolModel.fail("a remote list of \(count) chunks goes on") }
    return chunks
  }

  /// Every chunk in exactly one place: held, on the local list, never used, on the remote
  /// list, or (for a reaped slab) returned. A parked slab holds no live chunk.
  func conservation() -> String? {
    var seen = hands.flatMap { $0 }
    if parked { return seen.isEmpty ? nil : "a parked slab has live chunks \(seen)" }
    seen += local + uncarved
    if slab.isReaped {
      seen += (0..<capacity).map(chunkAddress)
    } else {
      seen += walkRemote(slab.remoteHead, count: slab.remoteCount)
    }
    let all = (0..<capacity).map(chunkAddress)
    if seen.sorted() != all { return "chunks lost or doubled: \(seen.sorted().map { ($0 - all[0]) / 16 })" }
    return nil
  }

  /// A slab on the full list must hear of a chunk on its remote list: it asks (notify,
  /// nothing queued) or it is on its owner's relink stack.
  func noLostWakeup(_ zone: ModelZone) -> String? {
    guard slab.pointee.list == SlabList.full, slab.remoteCount != 0 else { return nil }
    var node = zone.relink.load(ordering: .relaxed)
    while node != 0 {
      if node == slab.address { return nil }
      node = slabAt(node).pointee.relinkNext
    }
    return "lost wakeup: the slab is on the full list with \(slab.remoteCount) remote chunks and no signal"
  }

  /// A slab that asks for a signal is not on its owner's relink stack from an earlier
  /// one: the next signal would push it a second time, and the stack would loop.
  func noStaleSignal(_ zone: ModelZone) -> String? {
    guard slab.remoteState == RemoteState.notify else { return nil }
    var node = zone.relink.load(ordering: .relaxed)
    while node != 0 {
      if node == slab.address { return "the slab asks for a signal while an earlier one is still on the relink stack" }
      node = slabAt(node).pointee.relinkNext
    }
    return nil
  }
}
