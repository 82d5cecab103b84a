// main.swift: zonemalloc-host, an ordinary threaded Swift program that the preload
// tests run under LD_PRELOAD=libzonemalloc.so, so that the Swift runtime, Foundation and
// Dispatch all allocate through zonemalloc.
//
// - 128 tasks on DispatchQueue.concurrentPerform each build an array, a dictionary keyed
//   by strings, and a joined string, and sum what they read back.
// - 4 producer Threads make Parcel objects (a class holding an array and a string) and
//   hand them through a mailbox to 4 consumer Threads, which sum and release them, so
//   objects are freed on threads other than the one that made them.
// The same totals are computed by arithmetic alone (no allocation). On agreement it
// prints "zonemalloc-host ok <checksum>" and exits 0, otherwise it reports the mismatch
// and exits 1. The checksum does not depend on scheduling.
import Foundation

/// Decimal digits of a non-negative number.
func digits(_ value: Int) -> Int {
  var count = 1, rest = value
  while rest >= 10 { rest /= 10; count += 1 }
  return count
}

// MARK: - Dispatch tasks

func taskLength(_ task: Int) -> Int { 300 + task * 7 }
func taskValue(_ task: Int, _ j: Int) -> Int { (task &* 7919 &+ j &* 104_729) % 1_000_003 }

/// Builds the task's collections and sums what it reads back from them.
func runTask(_ task: Int) -> Int {
  let values = (0..<taskLength(task)).map { taskValue(task, $0) }
  var table: [String: Int] = [:]
  for (j, value) in values.enumerated() { table["t\(task)-k\(j)"] = value }
  var sum = 0
  for j in values.indices { sum &+= table["t\(task)-k\(j)"] ?? -1_000_000 }
  let text = values.map(String.init).joined(separator: ",")
  return sum &+ text.utf8.count
}

/// What runTask returns: the values, plus the joined string's length (digits and commas).
func expectedTask(_ task: Int) -> Int {
  var sum = taskLength(task) - 1
  for j in 0..<taskLength(task) { sum += taskValue(task, j) + digits(taskValue(task, j)) }
  return sum
}

// MARK: - Parcels handed between threads

final class Parcel: Sendable {
  let payload: [Int]
  let label: String

  init(id: Int) {
    payload = (0..<(id % 50 + 1)).map { id &* 31 &+ $0 }
    label = "parcel-\(id)"
  }

  var checksum: Int { payload.reduce(0, &+) &+ label.utf8.count }
}

func expectedParcel(_ id: Int) -> Int {
  let n = id % 50 + 1
  return n * id * 31 + n * (n - 1) / 2 + "parcel-".utf8.count + digits(id)
}

/// A closable queue of parcels between producer and consumer threads.
final class Mailbox: @unchecked Sendable {
  private let condition = NSCondition()
  private var parcels: [Parcel] = []
  private var closed = false

  func put(_ parcel: Parcel) {
    condition.withLock { parcels.append(parcel) }
    condition.signal()
  }

  func close() {
    condition.withLock { closed = true }
    condition.broadcast()
  }

  /// The next parcel, or nil once the mailbox is closed and empty.
  func take() -> Parcel? {
    condition.withLock {
      while parcels.isEmpty && !closed { condition.wait() }
      return parcels.popLast()
    }
  }
}

final class Total: @unchecked Sendable {
  private let lock = NSLock()
  private var sum = 0
  func add(_ value: Int) { lock.withLock { sum &+= value } }
  var value: Int { lock.withLock { sum } }
}

/// Starts `count` threads running body(index) and returns a group that is done when all end.
func startThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) -> DispatchGroup {
  let group = DispatchGroup()
  for index in 0..<count {
    group.enter()
    Thread { body(index); group.leave() }.start()
  }
  return group
}

// MARK: - Main

func main() -> Int32 {
  let tasks = 128, producers = 4, consumers = 4, perProducer = 5000
  let total = Total(), mailbox = Mailbox()
  DispatchQueue.concurrentPerform(iterations: tasks) { total.add(runTask($0)) }
  let consuming = startThreads(consumers) { _ in
    while let parcel = mailbox.take() { total.add(parcel.checksum) }
  }
  startThreads(producers) { p in
    for k in 0..<perProducer { mailbox.put(Parcel(id: p * perProducer + k)) }
  }.wait()
  mailbox.close()
  consuming.wait()

  var expected = 0
  for task in 0..<tasks { expected += expectedTask(task) }
  for id in 0..<(producers * perProducer) { expected += expectedParcel(id) }
  guard total.value == expected else {
    print("zonemalloc-host MISMATCH got \(total.value) expected \(expected)")
    return 1
  }
  print("zonemalloc-host ok \(expected)")
  return 0
}

exit(main())
