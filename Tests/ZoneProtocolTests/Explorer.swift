// Explorer.swift: runs a scenario's modelled threads under every interleaving of their
// steps on the slab's shared words.
//
// Owns: ProtocolModel (the hooks SlabState.swift and LockFreeStack.swift call when they
// are compiled with ZONE_PROTOCOL_MODEL), the modelled threads (each a fiber on the
// test's own thread: ZoneProtocolFibers), and the depth-first search over schedules.
// Touches: nothing of the allocator but through the hooks.
//
// A step is one access to a shared word: the hook runs before it, so a thread resumed
// at its hook performs that access and runs on, privately, to its next hook. Every run
// of a scenario replays a prefix of decisions (which enabled thread goes next) and then
// takes the first choice at each new decision; the next run changes the deepest
// decision that has an untried choice. The search ends when none has, so every
// interleaving of the steps, under sequential consistency, has run once. A thread whose
// spin pauses (Backoff) waits for another thread's step before it is enabled again; when
// every live thread waits, they run in turn without a decision, and a run in which they
// keep waiting counts as a hang. A thread that exceeds its steps is a livelock.

import Synchronization
import ZoneProtocolFibers

/// The hooks. On the test's own thread (setting up, checking) they do nothing.
enum ProtocolModel {
  nonisolated(unsafe) static var explorer: Explorer? = nil

  static func step() { explorer?.yield() }
  static func spin() { explorer?.noteSpin() }

  /// A modelled fork: every other live thread vanishes where it stands (a step boundary,
  /// chosen by the search like any other); the caller goes on as the child.
  static func fork() {
    step()
    explorer?.vanishOthers()
  }

  /// Ends the calling thread's run (a report the scenario expected).
  static func stop() -> Never {
    guard explorer?.current != nil else { fatalError("protocol model: stop outside a modelled thread") }
    zpf_exit()
  }

  /// Ends the calling thread's run with a finding.
  static func fail(_ message: String) -> Never {
    guard let explorer, explorer.current != nil else { fatalError("protocol model: \(message)") }
    explorer.record(message)
    zpf_exit()
  }
}

/// What the search found.
struct Exploration {
  var schedules = 0
  var finding: String? = nil
  var trace: [Int] = []

  /// The failing schedule: which thread ran each step, repeats counted ("0 1x3 0x200").
  var traceText: String {
    var parts: [String] = []
    var i = 0
    while i < trace.count {
      var j = i
      while j < trace.count && trace[j] == trace[i] { j += 1 }
      parts.append(j - i == 1 ? "\(trace[i])" : "\(trace[i])x\(j - i)")
      i = j
    }
    return parts.joined(separator: " ")
  }
}

final class Explorer {
  /// A decision: the enabled threads (a bit each) and the one that ran.
  struct Decision {
    var options: UInt64
    var chosen: Int
  }

  final class ModelThread {
    var body: () -> Void = {}
    var finished = false
    var vanished = false
    var waiting = false   // paused in a spin: enabled again after another thread's step
    var steps = 0
    let fiber: OpaquePointer

    init() {
      guard let fiber = zpf_create(1 << 20) else { fatalError("protocol model: cannot map a fiber's stack") }
      self.fiber = fiber
    }
  }

  /// Steps a thread may take in one run before it counts as a livelock, and rounds in
  /// which every live thread waits before the run counts as a hang.
  static let stepLimit = 400
  static let idleLimit = 2000

  private var threads: [ModelThread] = []
  private var path: [Decision] = []
  private var depth = 0
  private var spinPending = false
  private(set) var current: Int? = nil
  private var finding: String? = nil
  private var trace: [Int] = []

  /// Runs `makeRun` (which builds a fresh world and returns its threads' bodies and its
  /// final check) under every schedule, up to `limit` runs; stops at the first finding.
  func explore(limit: Int, _ makeRun: () -> (threads: [() -> Void], check: () -> String?)) -> Exploration {
    var result = Exploration()
    ProtocolModel.explorer = self
    defer { ProtocolModel.explorer = nil }
    path = []
    repeat {
      let run = makeRun()
      while threads.count < run.threads.count { threads.append(ModelThread()) }
      runOnce(run.threads)
      result.schedules += 1
      if finding == nil, let problem = run.check() { finding = problem }
      if let finding {
        result.finding = finding
        result.trace = trace
        return result
      }
    } while advance() && result.schedules < limit
    if !path.isEmpty { result.finding = "the search stopped after \(limit) schedules" }
    return result
  }

  private func runOnce(_ bodies: [() -> Void]) {
    for (i, body) in bodies.enumerated() {
      let thread = threads[i]
      thread.body = body
      thread.finished = false
      thread.vanished = false
      thread.waiting = false
      thread.steps = 0
      zpf_reset(thread.fiber, { Explorer.runBody(Int(bitPattern: $0)) }, UnsafeMutableRawPointer(bitPattern: i))
    }
    depth = 0
    finding = nil
    trace.removeAll(keepingCapacity: true)
    var idle = 0
    while finding == nil {
      var running: UInt64 = 0
      var enabled: UInt64 = 0
      for i in 0..<bodies.count where !threads[i].finished && !threads[i].vanished {
        running |= 1 << UInt64(i)
        if !threads[i].waiting { enabled |= 1 << UInt64(i) }
      }
      if running == 0 { return }
      let next: Int
      if enabled == 0 {
        idle += 1
        if idle > Self.idleLimit {
          finding = "hang: every live thread keeps waiting (threads \(String(running, radix: 2)), one bit each)"
          return
        }
        next = Self.bit(running, idle % running.nonzeroBitCount)
      } else {
        idle = 0
        next = choose(enabled)
      }
      trace.append(next)
      resume(next)
    }
  }

  /// The index of the `n`th set bit of `mask`.
  private static func bit(_ mask: UInt64, _ n: Int) -> Int {
    var m = mask
    for _ in 0..<n { m &= m - 1 }
    return m.trailingZeroBitCount
  }

  private static func runBody(_ i: Int) {
    let explorer = ProtocolModel.explorer.unsafelyUnwrapped
    explorer.threads[i].body()
  }

  private func resume(_ i: Int) {
    let thread = threads[i]
    current = i
    let finished = zpf_resume(thread.fiber) != 0
    current = nil
    thread.finished = finished
    if !thread.waiting {
      for other in threads where other !== thread { other.waiting = false }
    }
  }

  private func choose(_ enabled: UInt64) -> Int {
    guard enabled.nonzeroBitCount > 1 else { return enabled.trailingZeroBitCount }
    if depth == path.count { path.append(Decision(options: enabled, chosen: enabled.trailingZeroBitCount)) }
    let decision = path[depth]
    precondition(decision.options == enabled, "protocol model: a replayed run diverged (the scenario is not deterministic)")
    depth += 1
    return decision.chosen
  }

  /// Moves to the next schedule: false when every one has run.
  private func advance() -> Bool {
    while let last = path.last {
      let later = last.options & ~((2 << UInt64(last.chosen)) - 1)
      if later != 0 {
        path[path.count - 1].chosen = later.trailingZeroBitCount
        return true
      }
      path.removeLast()
    }
    return false
  }

  // MARK: - Called from the modelled threads

  fileprivate func yield() {
    guard let i = current else { return }
    let thread = threads[i]
    thread.steps += 1
    if thread.steps > Self.stepLimit && !spinPending { ProtocolModel.fail("livelock: thread \(i) took \(Self.stepLimit) steps") }
    thread.waiting = spinPending
    spinPending = false
    zpf_yield()
  }

  fileprivate func noteSpin() {
    if current != nil { spinPending = true }
  }

  fileprivate func vanishOthers() {
    guard let i = current else { return }
    for (j, thread) in threads.enumerated() where j != i { thread.vanished = true }
  }

  fileprivate func record(_ message: String) {
    if finding == nil { finding = message }
  }
}
