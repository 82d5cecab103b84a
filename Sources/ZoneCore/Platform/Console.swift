// Console.swift: where the library's own messages go.
//
// Owns: the descriptor every message is written to (warnings, fatal errors, the guarded
// slots' reports, the heap profiler's lines, the statistics summary): the stderr the
// program had when the library was constructed, and never a file the program has since
// put in its place. Programs close fd 2 (coreutils do, in an atexit handler) and open
// their data files, which then get fd 2: a message written to fd 2 would land in the
// data. So the constructor notes which file fd 2 named (device and inode) and, when a
// feature that reports is on (the summary, the profiler, guarded sampling: the default),
// keeps a close-on-exec duplicate of it. A message goes to that duplicate while it still
// names the file, else to fd 2 if fd 2 names it again, else nowhere. Before the constructor runs (boot may
// come first: the dynamic loader allocates) messages go to fd 2 as it is. A program
// started with fd 2 closed gets no messages at all.
// Touches: file descriptors (fstat, one dup at load). fstat and write are
// async-signal-safe: the fault handler and exit paths may write.

import ZoneSupport

enum Console {
  /// A file's device and inode numbers.
  struct FileIdentity: Equatable {
    var device: UInt = 0
    var inode: UInt = 0
  }

  /// Whether the constructor has looked at fd 2, the file it named, and the duplicate.
  nonisolated(unsafe) private static var captured = false
  nonisolated(unsafe) private static var stderrFile: FileIdentity? = nil
  nonisolated(unsafe) private static var duplicate: Int32 = -1

  /// The library constructor: notes fd 2's file, and keeps a duplicate when asked to.
  static func capture(keepingDuplicate: Bool) {
    stderrFile = identity(of: 2)
    if keepingDuplicate && stderrFile != nil { duplicate = zms_dup_cloexec(2) }
    captured = true
  }

  /// The descriptor for a message now: -1 when none names the stderr of load time.
  static var fd: Int32 {
    guard captured else { return 2 }
    guard let file = stderrFile else { return -1 }
    if duplicate >= 0 && identity(of: duplicate) == file { return duplicate }
    return identity(of: 2) == file ? 2 : -1
  }

  static func identity(of fd: Int32) -> FileIdentity? {
    var info = stat()
    guard fstat(fd, &info) == 0 else { return nil }
    return FileIdentity(device: UInt(info.st_dev), inode: UInt(info.st_ino))
  }
}
