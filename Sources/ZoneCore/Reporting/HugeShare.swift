// HugeShare.swift: how much of the process's memory sits on transparent huge pages, for
// the statistics (huge_bytes, huge_share_permille).
//
// Owns: the reading of /proc/self/smaps_rollup's AnonHugePages and Anonymous lines
// (the kernel's own count, not the allocator's guess), through a 4 KiB stack buffer
// (FileLines), and the last reading. The kernel walks the page tables to answer (about
// a millisecond for 512 MiB on small pages), so the stats page (refreshed at most every
// 100 ms) and mallinfo take the last reading while it is younger than
// `refreshInterval`; zm_stats and the summaries read the file each time.
// No /proc, or no such lines: 0.
// Touches: FileLines, OS's clock.

import ZoneSupport
import Synchronization

enum HugeShare {
  /// The stats page's own refresh interval (StatsPage): each refresh reads the file.
  static let refreshInterval: UInt = 100
  private static let hugeKiB = Atomic<UInt>(0)
  private static let anonymousKiB = Atomic<UInt>(0)
  private static let readAt = Atomic<UInt>(0)

  /// Bytes on huge pages and their share of the anonymous memory in per mille, from a
  /// reading at most `refreshInterval` old (a fresh one when `fresh`).
  static func current(fresh: Bool) -> (bytes: UInt, permille: UInt) {
    let now = OS.nowMilliseconds()
    let last = readAt.load(ordering: .relaxed)
    if fresh || last == 0 || now &- last >= refreshInterval {
      readAt.store(now | 1, ordering: .relaxed)
      read()
    }
    let huge = hugeKiB.load(ordering: .relaxed), anonymous = anonymousKiB.load(ordering: .relaxed)
    return (huge << 10, anonymous == 0 ? 0 : min(huge * 1000 / anonymous, 1000))
  }

  private static func read() {
    var huge: UInt = 0, anonymous: UInt = 0
    let path: StaticString = "/proc/self/smaps_rollup"
    _ = FileLines.forEach(UnsafeRawPointer(path.utf8Start).assumingMemoryBound(to: CChar.self)) { line in
      if let v = value(line, "AnonHugePages:") { huge = v }
      if let v = value(line, "Anonymous:") { anonymous = v }
      return true
    }
    hugeKiB.store(huge, ordering: .relaxed)
    anonymousKiB.store(anonymous, ordering: .relaxed)
  }

  /// The number after `name` when the line starts with it ("Anonymous:   1234 kB").
  private static func value(_ line: UnsafeBufferPointer<UInt8>, _ name: StaticString) -> UInt? {
    let n = name.utf8CodeUnitCount
    guard line.count > n else { return nil }
    for i in 0..<n where line[i] != name.utf8Start[i] { return nil }
    var i = n
    while i < line.count && line[i] == 32 { i += 1 }
    var v: UInt = 0
    while i < line.count && line[i] >= 48 && line[i] <= 57 && v < UInt.max / 20 {
      v = v * 10 + UInt(line[i] - 48)
      i += 1
    }
    return v
  }
}
