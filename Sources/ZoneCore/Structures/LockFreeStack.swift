// LockFreeStack.swift: the lock-free pushes of the core, and how its spins wait.
//
// Owns: the Treiber push (write the node's link to the current head, then one
// compare-and-swap of the head, with release ordering so that the taker sees the node
// whole), used where many threads hand nodes to one taker that takes the whole stack at
// once with an exchange (an owner's relink stack, the reaper's queue); and Backoff, the
// one way a spin waits for another thread's short step: a pause instruction, and a
// sched_yield every 64 rounds so that a preempted thread can finish its step.
// Touches: the head word and, through the caller's closure, the node's link.

import ZoneSupport
import Synchronization

enum LockFreeStack {
  /// Pushes `node`: `link(head)` stores the current head in the node, then the head
  /// becomes the node. Any number of threads may push at once.
  @inline(__always)
  static func push(_ head: borrowing Atomic<UInt>, _ node: UInt, link: (UInt) -> Void) {
    var current = head.load(ordering: .relaxed)
    while true {
      link(current)
      let (done, seen) = head.compareExchange(expected: current, desired: node,
                                              successOrdering: .releasing, failureOrdering: .relaxed)
      if done { return }
      current = seen
    }
  }

  /// Takes the whole stack: its first node, 0 when it was empty.
  @inline(__always) static func takeAll(_ head: borrowing Atomic<UInt>) -> UInt {
    head.exchange(0, ordering: .acquiring)
  }
}

/// A spin's wait for another thread's short step.
struct Backoff {
  private var rounds = 0

  mutating func pause() {
    rounds += 1
    if rounds & 63 == 0 { sched_yield() } else { zms_cpu_relax() }
  }

  /// Rounds paused so far.
  var count: Int { rounds }
}
