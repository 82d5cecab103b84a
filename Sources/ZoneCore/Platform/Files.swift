// Files.swift: files read and written through stack buffers, for the parts of the
// allocator that talk to the file system: the cgroup limit (read at boot, where nothing
// may allocate), the heap profile (written at exit, on request, and from a signal
// handler), the statistics file and the stats page's path.
//
// Owns: PathBuffer (a NUL-terminated path of up to PATH_MAX bytes built in place, with
// %p expanded to the pid), FileWriter (buffered write(2) to a descriptor) and FileLines
// (a file read line by line). Nothing here allocates, and it calls only getpid, open,
// read, write and close, which are async-signal-safe.
// Touches: file descriptors only.

import ZoneSupport

/// A path built on the stack, always NUL-terminated. Text that does not fit sets
/// `overflowed`, and the path must not be used.
struct PathBuffer: ByteSink, ~Copyable {
  private var bytes = InlineArray<4096, UInt8>(repeating: 0)
  private(set) var count = 0
  private(set) var overflowed = false

  init() {}

  mutating func append(_ byte: UInt8) {
    guard count < bytes.count - 1 else {
      overflowed = true
      return
    }
    bytes[count] = byte
    count += 1
    bytes[count] = 0
  }

  func byte(at index: Int) -> UInt8 { bytes[index] }

  /// Appends a path template (ZONEMALLOC_STATS, ZONEMALLOC_PROF_FILE) with every "%p"
  /// replaced by the pid.
  mutating func append(expanding template: UnsafePointer<CChar>) {
    var i = 0
    while template[i] != 0 {
      if template[i] == 37 && template[i + 1] == 112 { // "%p"
        append(decimal: UInt(getpid()))
        i += 2
      } else {
        append(UInt8(bitPattern: template[i]))
        i += 1
      }
    }
  }

  /// Cuts the path back to `length` bytes.
  mutating func truncate(to length: Int) {
    count = min(length, count)
    bytes[count] = 0
  }

  /// Drops the last component: "/a/b" becomes "/a". False when nothing is left to drop.
  mutating func removeLastComponent() -> Bool {
    var i = count - 1
    while i > 0 && bytes[i] != 47 { i -= 1 }
    guard i > 0 else { return false }
    truncate(to: i)
    return true
  }

  mutating func withCString<R>(_ body: (UnsafePointer<CChar>) -> R) -> R {
    withUnsafeBytes(of: &bytes) { body($0.baseAddress!.assumingMemoryBound(to: CChar.self)) }
  }
}

/// Text written to a file descriptor through a 4 KiB stack buffer. A failed write sets
/// `failed` and the rest is dropped.
struct FileWriter: ByteSink, ~Copyable {
  private var buffer = InlineArray<4096, UInt8>(repeating: 0)
  private var count = 0
  private let fd: Int32
  private(set) var failed = false

  init(fd: Int32) { self.fd = fd }

  mutating func append(_ byte: UInt8) {
    if count == buffer.count { flush() }
    buffer[count] = byte
    count += 1
  }

  mutating func flush() {
    let n = count
    count = 0
    guard !failed else { return }
    failed = !withUnsafeBytes(of: &buffer) { FileWriter.writeAll(fd, $0.baseAddress!, n) }
  }

  /// Appends the whole of the file at `path` (for example /proc/self/maps). False when it
  /// cannot be read.
  mutating func copy(from path: StaticString) -> Bool {
    flush()
    let source = zms_open_readonly(UnsafeRawPointer(path.utf8Start).assumingMemoryBound(to: CChar.self))
    guard source >= 0 else { return false }
    defer { close(source) }
    while !failed {
      let n = withUnsafeMutableBytes(of: &buffer) { read(source, $0.baseAddress, $0.count) }
      if n <= 0 { return n == 0 }
      count = n
      flush()
    }
    return false
  }

  /// Writes all `length` bytes (again after EINTR or a short write); false on an error.
  static func writeAll(_ fd: Int32, _ start: UnsafeRawPointer, _ length: Int) -> Bool {
    var done = 0
    while done < length {
      let wrote = write(fd, start + done, length - done)
      if wrote < 0 && zms_errno() == EINTR { continue }
      if wrote <= 0 { return false }
      done += wrote
    }
    return true
  }
}

enum FileLines {
  /// Calls body with each line of the file (without its newline) until body returns
  /// false. A line longer than 4 KiB comes in 4 KiB pieces. False when the file cannot be
  /// opened.
  static func forEach(_ path: UnsafePointer<CChar>, _ body: (UnsafeBufferPointer<UInt8>) -> Bool) -> Bool {
    let fd = zms_open_readonly(path)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var buffer = InlineArray<4096, UInt8>(repeating: 0)
    var filled = 0
    var going = true
    while going {
      let n = withUnsafeMutableBytes(of: &buffer) { read(fd, $0.baseAddress! + filled, $0.count - filled) }
      if n < 0 && zms_errno() == EINTR { continue }
      let atEnd = n <= 0
      if !atEnd { filled += n }
      withUnsafeMutableBytes(of: &buffer) { raw in
        let bytes = raw.bindMemory(to: UInt8.self)
        var start = 0
        for i in 0..<filled where going && bytes[i] == 10 {
          going = body(UnsafeBufferPointer(rebasing: bytes[start..<i]))
          start = i + 1
        }
        if going && (atEnd || start == 0 && filled == bytes.count) && filled > start {
          going = body(UnsafeBufferPointer(rebasing: bytes[start..<filled]))
          start = filled
        }
        if start > 0 {
          memmove(raw.baseAddress!, raw.baseAddress! + start, filled - start)
          filled -= start
        }
      }
      if atEnd { break }
    }
    return true
  }
}
