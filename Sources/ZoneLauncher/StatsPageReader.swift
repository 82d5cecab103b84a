// StatsPageReader.swift: reading the counters a running process publishes.
//
// Owns: the reader's side of the stats page (/dev/shm/zonemalloc.<pid>, written by
// ZoneCore/Reporting/StatsPage.swift, layout in docs/DESIGN.md): mapping it read-only,
// retrying while the writer's sequence counter is odd or moves (a seqlock, so a
// snapshot is never torn), and telling apart a process that is gone, one that did not
// load zonemalloc and a stale page. The names of the counters come from the page.
// Nothing here stops or attaches to the process: it reads a shared file.
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

  enum Failure: Error {
    case noProcess
    case notLoaded
    case noPage(String)

    func message(_ pid: Int32) -> String {
      switch self {
      case .noProcess: return "no process \(pid) is running"
      case .notLoaded:
        return "process \(pid) did not load zonemalloc (start it with `zm run` or LD_PRELOAD=libzonemalloc.so)"
      case .noPage(let why): return "process \(pid) loaded zonemalloc but publishes no counters: \(why)"
      }
    }
  }

  static func path(_ pid: Int32) -> String { folder + "/" + prefix + String(pid) }

  /// The process's current snapshot.
  static func read(_ pid: Int32) -> Result<StatsSnapshot, Failure> {
    guard processExists(pid) else { return .failure(.noProcess) }
    if let snapshot = map(pid) { return .success(snapshot) }
    guard let maps = FileSystem.lines("/proc/\(pid)/maps") else {
      return .failure(.noPage("cannot read /proc/\(pid)/maps: \(errorText())"))
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
      guard stat(path, &info) == 0, time(nil) - info.st_ctim.tv_sec >= 2 else { continue }
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

  /// The page's snapshot, or nil when there is no valid page for this pid.
  private static func map(_ pid: Int32) -> StatsSnapshot? {
    let fd = open(path(pid), O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    var info = stat()
    let length = 4096
    guard fstat(fd, &info) == 0, info.st_size >= length,
          let raw = mmap(nil, length, PROT_READ, MAP_SHARED, fd, 0), raw != MAP_FAILED else {
      close(fd)
      return nil
    }
    close(fd)
    defer { munmap(raw, length) }
    let words = raw.assumingMemoryBound(to: UInt64.self)
    guard words[0] == magic, words[1] == 1, words[2] == UInt64(pid), mapsOwnPage(pid) else { return nil }
    let count = Int(min(words[5], 64))
    let bytes = raw.assumingMemoryBound(to: UInt8.self)
    let isBytes = (0..<count).map { bytes[576 + $0] == 1 }
    var names: [String] = []
    var offset = 640
    for _ in 0..<count {
      let name = String(cString: raw.advanced(by: offset).assumingMemoryBound(to: CChar.self))
      names.append(name)
      offset += name.utf8.count + 1
    }
    let sequence = UnsafeRawPointer(raw + 24).assumingMemoryBound(to: Atomic<UInt64>.self)
    for _ in 0..<10_000 {
      let before = sequence.pointee.load(ordering: .acquiring)
      if before & 1 == 1 {
        sched_yield()
        continue
      }
      let values = (0..<count).map { words[8 + $0] }
      let time = words[4]
      atomicMemoryFence(ordering: .acquiring)
      if sequence.pointee.load(ordering: .relaxed) == before {
        return StatsSnapshot(names: names, isBytes: isBytes, values: values, time: time)
      }
    }
    return nil
  }
}
