// StatsPageReader.swift: reading the counters a running process publishes.
//
// Owns: the reader's side of the stats page (/dev/shm/zonemalloc.<pid>, written by
// ZoneCore/Reporting/StatsPage.swift, layout in docs/DESIGN.md): finding it, copying it
// and decoding the copy, and telling apart a process that is gone, one that did not load
// zonemalloc, one whose page is not there or not complete, and a malformed page.
// Nothing in the page is trusted. The file is opened without following a link and must
// be a regular file the process maps. It is copied with pread, never mapped (a file
// truncated while zm reads it cannot fault), while the writer's sequence counter stays
// even and unchanged (a seqlock: a snapshot is never torn). Every offset and count is
// checked against the bytes copied: at most 64 counters, each name NUL-terminated within
// 64 bytes and within the name area. Names are kept as read; StatsCommand escapes them
// when it prints. Nothing here stops or attaches to the process: it reads a shared file.
// Touches: FileSystem, Console (errorText). StatsReaderTests feeds it crafted pages.
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// One snapshot of a process's zm_stats counters.
struct StatsSnapshot {
  let names: [String]
  let isBytes: [Bool]
  let values: [UInt64]
  let time: UInt64   // CLOCK_MONOTONIC nanoseconds when the process took it

  subscript(_ name: String) -> UInt64 {
    names.firstIndex(of: name).map { values[$0] } ?? 0
  }
}

enum StatsPageReader {
  static let magic: UInt64 = 0x3153_5441_5453_4D5A // "ZMSTATS1"
  static let folder = "/dev/shm"
  static let prefix = "zonemalloc."

  /// The layout (docs/DESIGN.md): header words, then values, kinds and names.
  private enum Layout {
    static let version: UInt64 = 1
    static let sequenceOffset = 24
    static let values = 64
    static let kinds = 576
    static let names = 640
    static let end = 1664       // the name area is 1024 bytes
    static let maxCount = 64
    static let maxName = 64     // bytes, with the NUL
    static let pageSize = 4096  // what zm copies
  }

  enum Failure: Error {
    case noProcess
    case notLoaded
    case noPage(String)
    case cannotTell(String)
    case malformed(String)

    func message(_ pid: Int32) -> String {
      switch self {
      case .noProcess: return "no process \(pid) is running"
      case .notLoaded:
        return "process \(pid) did not load zonemalloc (start it with `zm run` or LD_PRELOAD=libzonemalloc.so)"
      case .noPage(let why): return "process \(pid) loaded zonemalloc but publishes no counters: \(why)"
      case .cannotTell(let why):
        return "cannot tell whether process \(pid) loaded zonemalloc: it publishes no stats page, and \(why)"
      case .malformed(let why): return "the stats page of process \(pid) (\(path(pid))) is malformed: \(why)"
      }
    }
  }

  static func path(_ pid: Int32) -> String { folder + "/" + prefix + String(pid) }

  /// The process's current snapshot.
  static func read(_ pid: Int32) -> Result<StatsSnapshot, Failure> {
    guard processExists(pid) else { return .failure(.noProcess) }
    switch copy(pid) {
    case .success(let page?): return decode(page, pid: pid)
    case .failure(let failure): return .failure(failure)
    case .success(nil): break
    }
    guard let maps = FileSystem.lines("/proc/\(pid)/maps") else {
      return .failure(.cannotTell("/proc/\(pid)/maps cannot be read (\(errorText()))"))
    }
    guard maps.contains(where: { $0.contains("libzonemalloc") }) else { return .failure(.notLoaded) }
    return .failure(.noPage("no valid \(path(pid)) (ZONEMALLOC_STATS_PAGE=0, /dev/shm not writable, "
                            + "or a fork child that has not allocated since)"))
  }

  /// Removes the pages of processes that are gone, or whose pid now names a process
  /// that does not map its page (the page's owner was killed before it could remove it).
  /// A page younger than two seconds is left alone: its process may be between creating
  /// the file and mapping it.
  static func removeStale() {
    for name in FileSystem.list(folder) ?? [] where name.hasPrefix(prefix) {
      guard let pid = Int32(name.dropFirst(prefix.count)) else { continue }
      let path = folder + "/" + name
      var info = stat()
      guard lstat(path, &info) == 0, time(nil) - info.st_ctim.tv_sec >= 2 else { continue }
      if !processExists(pid) || !mapsOwnPage(pid) { unlink(path) }
    }
  }

  static func processExists(_ pid: Int32) -> Bool {
    pid > 0 && (kill(pid, 0) == 0 || errno == EPERM)
  }

  /// True when the process maps its page, or when its maps cannot be read (then the
  /// page is given the benefit of the doubt).
  private static func mapsOwnPage(_ pid: Int32) -> Bool {
    guard let maps = FileSystem.lines("/proc/\(pid)/maps") else { return true }
    let page = path(pid)
    return maps.contains { $0.hasSuffix(page) }
  }

  /// A consistent copy of the page (up to 4 KiB); nil when there is no page of this
  /// process (no file, not a regular file, not mapped by it, or not complete: no magic).
  private static func copy(_ pid: Int32) -> Result<[UInt8]?, Failure> {
    let fd = open(path(pid), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
    guard fd >= 0 else { return .success(nil) }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, mapsOwnPage(pid) else { return .success(nil) }
    for _ in 0..<10_000 {
      guard let before = word(fd, at: Layout.sequenceOffset) else { return .success(nil) }
      if before & 1 == 1 {
        sched_yield()
        continue
      }
      atomicMemoryFence(ordering: .acquiring) // the copy's loads come after the first sequence load
      var page = [UInt8](repeating: 0, count: Layout.pageSize)
      let count = page.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
      atomicMemoryFence(ordering: .acquiring) // ... and before the second one
      guard count >= 0 else { return .success(nil) }
      guard word(fd, at: Layout.sequenceOffset) == before else { continue }
      page.removeLast(page.count - count)
      return .success(page.count >= 8 && page.load(at: 0) == magic ? page : nil)
    }
    return .failure(.noPage("its snapshot never settled: the sequence counter stayed odd or kept moving "
                            + "(a process stopped in the middle of a refresh?)"))
  }

  /// The 64-bit word at offset of the file, or nil when the file is shorter.
  private static func word(_ fd: Int32, at offset: Int) -> UInt64? {
    var value: UInt64 = 0
    return pread(fd, &value, 8, off_t(offset)) == 8 ? value : nil
  }

  /// The snapshot in a copied page that starts with the magic, every field checked.
  private static func decode(_ page: [UInt8], pid: Int32) -> Result<StatsSnapshot, Failure> {
    guard page.count >= Layout.end else {
      return .failure(.malformed("it is truncated to \(page.count) bytes; its layout needs \(Layout.end)"))
    }
    let version = page.load(at: 8)
    guard version == Layout.version else {
      return .failure(.malformed("layout version \(version); this zm reads version \(Layout.version)"))
    }
    guard page.load(at: 16) == UInt64(pid) else {
      return .failure(.noPage("\(path(pid)) still holds the page of the process it was forked from "
                              + "(a fork child that has not allocated since)"))
    }
    let claimed = page.load(at: 40)
    guard claimed <= UInt64(Layout.maxCount) else {
      return .failure(.malformed("it claims \(claimed) counters; the layout holds at most \(Layout.maxCount)"))
    }
    let count = Int(claimed)
    var names: [String] = []
    var offset = Layout.names
    for index in 0..<count {
      let limit = min(offset + Layout.maxName, Layout.end)
      guard let end = page[offset..<limit].firstIndex(of: 0), end > offset else {
        return .failure(.malformed("the name of counter \(index + 1) is empty or does not end within "
                                   + "\(Layout.maxName) bytes inside the name area"))
      }
      names.append(String(decoding: page[offset..<end], as: UTF8.self))
      offset = end + 1
    }
    return .success(StatsSnapshot(names: names, isBytes: (0..<count).map { page[Layout.kinds + $0] == 1 },
                                  values: (0..<count).map { page.load(at: Layout.values + 8 * $0) },
                                  time: page.load(at: 32)))
  }
}

private extension [UInt8] {
  /// The native-endian 64-bit word at offset (the caller has checked the bounds).
  func load(at offset: Int) -> UInt64 {
    withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self) }
  }
}
