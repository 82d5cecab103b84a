// StatsPage.swift: the counters published for other processes (`zm stats PID`,
// `zm top PID`), which read them without attaching to the process or stopping it.
//
// Owns: one page per process, /dev/shm/zonemalloc.<pid>, created by the library
// constructor (open, ftruncate, mmap MAP_SHARED, close: no descriptor stays open) and
// removed by the destructor (or _exit). It holds a zm_stats snapshot, refreshed at most
// every 100 ms process-wide: from the sampling tick's housekeeping (at least every 1 MiB
// a thread allocates), from the background thread's rounds (the page asks for the
// thread, which runs once the program has a second thread), and at exit. A
// single-threaded program that stops allocating keeps the snapshot of its last refresh
// (zm stats says how old it is). Refreshes run with no allocator lock held (the snapshot
// takes the zones lock). A sequence counter, odd while a snapshot is written, lets a
// reader retry instead of seeing a torn one; a writer that finds it odd skips its
// refresh. A forked child shares its parent's page until its first refresh, which sees
// the parent's pid in it, unmaps it (never writing to it) and publishes the child's own;
// a child that exits before that leaves the parent's page alone.
// ZONEMALLOC_STATS_PAGE=0 turns it off. The layout is in StatsPageLayout below and in
// docs/DESIGN.md; zm reads the names from the page, so a counter added to
// Summary.forEachField needs no change in zm.
// Touches: Stats (the snapshot), Summary (the field list), OS (the mapping), Files (the
// path), Release (the page wants the background thread).

import ZoneSupport
import Synchronization

/// The page, as zm reads it. Words are native-endian.
struct StatsPageLayout: ~Copyable {
  var magic: UInt64                   // "ZMSTATS1" once the page is complete
  var version: UInt64                 // 1
  var pid: UInt64
  let sequence: Atomic<UInt64>        // odd while a snapshot is being written
  var time: UInt64                    // CLOCK_MONOTONIC nanoseconds of the snapshot
  var fieldCount: UInt64              // at most 64
  var reserved: (UInt64, UInt64)
  var values: InlineArray<64, UInt64> // offset 64
  var kinds: InlineArray<64, UInt8>   // offset 576: 1 for a byte count, 0 for a count
  var names: InlineArray<1024, UInt8> // offset 640: fieldCount NUL-terminated names
}

enum StatsPage {
  static let magic: UInt64 = 0x3153_5441_5453_4D5A // "ZMSTATS1" in memory order
  private static let intervalMilliseconds: UInt = 100
  /// The file's length: the layout fits in 4 KiB whatever the page size.
  private static let length: UInt = 4096

  /// The mapped page, 0 when there is none; in a forked child, possibly the parent's.
  nonisolated(unsafe) private static var page: UInt = 0
  private static let nextRefresh = Atomic<UInt>(0)

  private static var layout: UnsafeMutablePointer<StatsPageLayout> {
    UnsafeMutablePointer<StatsPageLayout>(bitPattern: page).unsafelyUnwrapped
  }

  /// The library constructor: creates and fills the page.
  static func publish() {
    guard Config.statsPage else { return }
    var path = PathBuffer()
    pathOf(&path)
    page = path.withCString { create($0) } ?? 0
    guard page != 0 else { return }
    describe()
    refresh()
    layout.pointee.magic = magic
    Release.wantBackground()
  }

  /// Housekeeping: a fresh snapshot when the last one is at least 100 ms old. In a forked
  /// child, the first one replaces the parent's page with the child's own.
  static func refreshIfDue() {
    guard page != 0, Lock.noneHeld else { return }
    let now = OS.nowMilliseconds()
    let due = nextRefresh.load(ordering: .relaxed)
    guard now >= due,
          nextRefresh.compareExchange(expected: due, desired: now + intervalMilliseconds,
                                      ordering: .relaxed).exchanged else { return }
    if isOwn {
      refresh()
    } else {
      OS.unmap(page, length)
      page = 0
      publish()
    }
  }

  /// The library destructor: a last snapshot, and the file goes (only the page's own
  /// process removes it).
  static func atExit() {
    guard page != 0, isOwn else { return }
    refresh()
    var path = PathBuffer()
    pathOf(&path)
    _ = path.withCString { unlink($0) }
  }

  /// False in a forked child that still maps its parent's page.
  private static var isOwn: Bool { layout.pointee.pid == UInt64(getpid()) }

  // MARK: - The page

  private static func pathOf(_ path: inout PathBuffer) {
    path.append("/dev/shm/zonemalloc.")
    path.append(decimal: UInt(getpid()))
  }

  /// A fresh file at path (a stale one of the same pid goes first), mapped shared.
  private static func create(_ path: UnsafePointer<CChar>) -> UInt? {
    unlink(path)
    let fd = zms_open_create(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    guard ftruncate(fd, off_t(length)) == 0 else {
      unlink(path)
      return nil
    }
    guard let mapped = OS.mapShared(fd, length) else {
      unlink(path)
      return nil
    }
    return mapped
  }

  /// The fields' names and kinds, written once.
  private static func describe() {
    let p = layout
    p.pointee.version = 1
    p.pointee.pid = UInt64(getpid())
    var count = 0
    var offset = 0
    Summary.forEachField(zm_stats_t()) { name, _, isBytes in
      let n = name.utf8CodeUnitCount
      guard count < p.pointee.kinds.count, offset + n < p.pointee.names.count else { return }
      p.pointee.kinds[count] = isBytes ? 1 : 0
      for i in 0..<n { p.pointee.names[offset + i] = name.utf8Start[i] }
      p.pointee.names[offset + n] = 0
      offset += n + 1
      count += 1
    }
    p.pointee.fieldCount = UInt64(count)
  }

  /// Writes a snapshot, unless another thread is writing one.
  private static func refresh() {
    let p = layout
    let sequence = p.pointee.sequence.load(ordering: .relaxed)
    guard sequence & 1 == 0,
          p.pointee.sequence.compareExchange(expected: sequence, desired: sequence + 1,
                                             ordering: .acquiring).exchanged else { return }
    // The odd sequence is seen before any store of the snapshot (a weakly ordered CPU
    // could otherwise publish the stores first, and a reader accept a torn snapshot).
    atomicMemoryFence(ordering: .releasing)
    var s = zm_stats_t()
    Stats.snapshot(&s, recentHugeShare: true)
    var i = 0
    Summary.forEachField(s) { _, value, _ in
      if i < Int(p.pointee.fieldCount) { p.pointee.values[i] = value }
      i += 1
    }
    p.pointee.time = UInt64(OS.nowNanoseconds())
    p.pointee.sequence.store(sequence + 2, ordering: .releasing)
  }
}
