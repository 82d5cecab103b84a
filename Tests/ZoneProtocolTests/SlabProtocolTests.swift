// SlabProtocolTests.swift: every transition of the slab's owner and remote words, under
// every interleaving of two or three threads' steps (Explorer.swift), on a slab of one to
// four chunks.
//
// Each scenario builds a fresh World per schedule, runs its threads' operations (the
// allocator's own SlabState transitions, called in the order the allocator's callers
// call them: World.swift) and then checks that every chunk is in exactly one place, that
// no slab waits on the full list for a signal that never comes, or asks for one while an
// earlier one is still on the relink stack, that nothing touches a zone that has gone or
// puts a parked slab on a relink stack, that a double free is reported, and that no run
// hangs. Each prints the number of schedules it ran. The last
// two tests plant a protocol bug in a copy of a caller and require the search to find it.

import ZoneSupport
import Synchronization
import Testing

@Suite(.serialized)
struct SlabProtocolTests {
  typealias Run = (threads: [() -> Void], check: () -> String?)

  /// Explores every schedule of the runs `make` builds; fails on a finding.
  func exhaust(_ name: String, _ make: () -> Run) {
    let result = Explorer().explore(limit: Self.freers == 2 ? Int.max : 5_000_000, make)
    #expect(result.finding == nil, "\(name): \(result.finding ?? "") after \(result.schedules) schedules; schedule \(result.traceText)")
    print("measured: protocol, \(name): \(result.schedules) schedules, every interleaving")
  }

  /// The checks every scenario ends with, after the threads (no step runs here).
  static func settled(_ world: World, _ extra: String? = nil) -> String? {
    extra ?? world.conservation() ?? world.noLostWakeup(world.zones[0]) ?? world.noStaleSignal(world.zones[0])
  }

  /// Occurrences of the slab on a zone's relink stack.
  static func signals(_ world: World, _ zone: ModelZone) -> Int {
    var count = 0
    var node = zone.relink.load(ordering: .relaxed)
    while node != 0 {
      if node == world.slab.address { count += 1 }
      node = slabAt(node).pointee.relinkNext
      if count > 1 { break }
    }
    return count
  }

  // MARK: - Remote frees, drains, notify and signals

  @Test func remoteFreesRaceTheOwnersDrains() {
    exhaust("remote frees (2+1) against two drains") {
      let world = World(capacity: 4, threads: 3) { [1, 1, 2, 0][$0] }
      return ([
        { world.drain(); world.drain() },
        { world.remoteFree(world.take(1)); world.remoteFree(world.take(1)) },
        { world.remoteFree(world.take(2)) },
      ], { Self.settled(world) })
    }
  }

  /// One freer in the default run; two (every interleaving of three threads, 42 million
  /// schedules and more, minutes each) with ZONEMALLOC_PROTOCOL_FULL=1.
  static let freers = getenv("ZONEMALLOC_PROTOCOL_FULL").map { String(cString: $0) == "1" } == true ? 2 : 1

  @Test func anExhaustedSlabHearsOfTheNextRemoteFree() {
    exhaust("retire (drain, notify) against \(Self.freers) remote free(s), then relink") {
      let world = World(capacity: 3, threads: 3) { [1, 2, 0][$0] }
      return ([
        {
          if world.drain() == 0 { world.retire() }
          world.relinkSignalled(world.zones[0])
        },
      ] + (1...Self.freers).map { t in { world.remoteFree(world.take(t)) } },
      { Self.signals(world, world.zones[0]) > 1 ? "the slab is twice on the relink stack" : Self.settled(world) })
    }
  }

  @Test func aStickyNotifyAsksAgainWithoutLosingASignal() {
    exhaust("sticky notify: local free, re-exhaustion, relink, against \(Self.freers) remote free(s)") {
      let world = World(capacity: 3, threads: 3) { [1, 2, 0][$0] }
      world.retire() // full, asking, before the threads start
      return ([
        {
          world.freeLocal(world.take(0))
          world.hands[0].append(world.local.removeLast())
          world.relinkSignalled(world.zones[0])
          if world.drain() == 0 { world.retire() }
        },
      ] + (1...Self.freers).map { t in { world.remoteFree(world.take(t)) } },
      { Self.signals(world, world.zones[0]) > 1 ? "the slab is twice on the relink stack" : Self.settled(world) })
    }
  }

  /// The owner takes a chunk whose free is still signalling, uses it up, and asks again:
  /// the signal's entry must leave the relink stack first (settled's noStaleSignal).
  @Test func aDrainMidSignalLeavesNoEntryForTheNextSignal() {
    exhaust("sticky notify: drain, relink, re-exhaustion against a signalling remote free") {
      let world = World(capacity: 2, threads: 2) { $0 }
      world.retire() // full, asking, before the threads start
      return ([
        {
          world.freeLocal(world.take(0))
          world.hands[0].append(world.local.removeLast()) // current again, still asking
          world.slab.pointee.list = SlabList.current
          world.drain() // what came back is handed out
          world.hands[0] += world.local
          world.local = []
          world.relinkSignalled(world.zones[0]) // the next refill's upkeep
          if world.drain() == 0 { world.retire() }
        },
        { world.remoteFree(world.take(1)) },
      ], { Self.settled(world) })
    }
  }

  // MARK: - Park, exit, adopt

  @Test func parkWaitsForASignalInFlight() {
    exhaust("park of an emptied slab against a signalling remote free") {
      let world = World(capacity: 2, threads: 2) { [1, 0][$0] }
      world.retire()
      return ([
        {
          world.freeLocal(world.take(0))
          for _ in 0..<2 where !world.parked {
            world.relinkSignalled(world.zones[0])
            world.drain()
            if world.local.count == world.capacity { world.park(world.zones[0]) }
          }
        },
        { world.remoteFree(world.take(1)) },
      ], {
        if world.parked && Self.signals(world, world.zones[0]) != 0 { return "a parked slab stayed on a relink stack" }
        return Self.settled(world)
      })
    }
  }

  @Test func exitWaitsForASignalInFlight() {
    exhaust("exit (orphan, relink stack dropped) against a signalling remote free") {
      let world = World(capacity: 2, threads: 2) { [1, 0][$0] }
      world.retire()
      return ([{ world.exit(world.zones[0]) }, { world.remoteFree(world.take(1)) }], { Self.settled(world) })
    }
  }

  @Test func anOrphanKeepsEveryFreeAndItsAdopterGetsThem() {
    exhaust("adopt and drain an orphan against two remote frees") {
      let world = World(capacity: 3, threads: 3) { [1, 2, 0][$0] }
      world.exit(world.zones[0])
      return ([
        {
          world.adopt(by: world.zones[1])
          world.drain()
        },
        { world.remoteFree(world.take(1)) },
        { world.remoteFree(world.take(2)) },
      ], { Self.settled(world) })
    }
  }

  // MARK: - Reaping, spans, double frees

  @Test func theReaperNeverTakesAChunkTheOwnerOrAFreerHolds() {
    exhaust("reaper (observe, freeze, return) against the last remote free and the owner's drain") {
      let world = World(capacity: 2, threads: 3) { [1, 0][$0] }
      world.remoteFree(world.take(0))
      return ([
        { world.drain() },
        { world.remoteFree(world.take(1)) },
        { if world.reaperObserve() { world.reaperReap() } },
      ], {
        if world.slab.isOwned(by: world.zones[0].address) == world.slab.isReaped { return "the owner word's reaped mark is wrong" }
        return Self.settled(world)
      })
    }
  }

  @Test func aFreeIntoAWhollyFreeOrReapedSlabIsReported() {
    exhaust("a double free against the reaper") {
      let world = World(capacity: 2, threads: 3) { [1, 1][$0] }
      world.expectDoubleFree = true
      return ([
        {},
        {
          let chunk = world.take(1)
          world.remoteFree(chunk)
          world.remoteFree(world.take(1))
          world.remoteFree(chunk)
        },
        { if world.reaperObserve() { world.reaperReap() } },
      ], { world.detected.count == 1 ? nil : "a double free was reported \(world.detected.count) times" })
    }
  }

  @Test func twoFreesOfASpanClaimItOnce() {
    exhaust("two threads free a span's only chunk") {
      let world = World(capacity: 1, threads: 3) { _ in 1 }
      world.hands[2] = world.hands[1]
      world.expectDoubleFree = true
      return ([
        {},
        { world.remoteFreeSpan(world.take(1)) },
        { world.remoteFreeSpan(world.take(2)) },
      ], { world.detected.count == 1 && world.parked ? nil : "a span's double free was reported \(world.detected.count) times" })
    }
  }

  // MARK: - Fork

  @Test func aForkedChildFinishesAReapItsParentWasIn() {
    exhaust("fork at any step of the reaper; the child drains") {
      let world = World(capacity: 2, threads: 2) { [1, 0][$0] }
      world.remoteFree(world.take(0))
      world.remoteFree(world.take(1))
      return ([
        {
          ProtocolModel.fork()
          world.repairAfterFork()
          world.drain()
        },
        { if world.reaperObserve() { world.reaperReap() } },
      ], { Self.settled(world) })
    }
  }

  @Test func aForkedChildParksASlabWhoseSignallerVanished() {
    exhaust("fork at any step of a signalling remote free; the child empties and parks the slab") {
      let world = World(capacity: 2, threads: 2) { [1, 0][$0] }
      world.retire()
      return ([
        {
          ProtocolModel.fork()
          world.repairAfterFork()
          world.freeLocal(world.take(0))
          world.relinkSignalled(world.zones[0])
          world.drain()
          if world.local.count == world.capacity { world.park(world.zones[0]) }
        },
        { world.remoteFree(world.take(1)) },
      ], {
        // A free caught by the fork before its push never happened in the child.
        if world.parked { return Self.settled(world) }
        return world.local.count + Int(world.slab.remoteCount) == world.capacity ? "the child did not park the emptied slab" : nil
      })
    }
  }

  // MARK: - The search finds planted bugs

  @Test func aRemotePushWithoutItsRetryIsFound() {
    let result = Explorer().explore(limit: 100_000) {
      let world = World(capacity: 2, threads: 2) { $0 }
      return ([
        { Self.pushWithoutRetry(world, world.take(0)) },
        { Self.pushWithoutRetry(world, world.take(1)) },
      ], { world.conservation() })
    }
    #expect(result.finding?.hasPrefix("chunks lost") == true, "\(result)")
    print("measured: protocol, planted push without retry: found after \(result.schedules) schedules: \(result.finding ?? "")")
  }

  @Test func aSignalEndedBeforeItsPushIsFound() {
    let result = Explorer().explore(limit: 100_000) {
      let world = World(capacity: 2, threads: 2) { [1, 0][$0] }
      world.retire()
      return ([
        { world.exit(world.zones[0]) },
        {
          let push = world.slab.pushRemote(world.take(1))
          guard push.mustSignal, let owner = world.zone(world.slab.ownerZone) else { return }
          world.slab.finishSignal(push) // planted: the state ends before the push it guards
          LockFreeStack.push(owner.relink, world.slab.address) { world.slab.pointee.relinkNext = $0 }
          if owner.gone { ProtocolModel.fail("a signal was pushed on the relink stack of a zone that has gone") }
        },
      ], { world.conservation() })
    }
    #expect(result.finding?.contains("zone that has gone") == true, "\(result)")
    print("measured: protocol, planted signal order: found after \(result.schedules) schedules: \(result.finding ?? "")")
  }

  /// The planted bug: SlabState.pushRemote's step with its failed CAS ignored.
  static func pushWithoutRetry(_ world: World, _ chunk: UInt) {
    let slab = world.slab
    ProtocolModel.step()
    let old = slab.pointee.remote.load(ordering: .relaxed)
    ChunkLink.word(chunk, 0).pointee = slab.remoteChunk(old) ^ slab.pointee.key
    ChunkLink.word(chunk, 1).pointee = slab.pointee.tag
    let index = ((chunk - slab.pointee.base) >> 4) + 1
    ProtocolModel.step()
    _ = slab.pointee.remote.compareExchange(
      expected: old, desired: RemoteWord.make(RemoteWord.state(old), head: index, count: RemoteWord.count(old) + 1),
      ordering: .sequentiallyConsistent)
  }
}
