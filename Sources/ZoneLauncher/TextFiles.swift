// TextFiles.swift: whole files in and out, for `zm prof`, `zm stats` and `zm top`.
//
// Owns: reading a file into bytes or lines, writing a string to a file, listing a
// folder, and a private scratch folder. Plain Glibc calls, no Foundation.
#if canImport(Glibc)
import Glibc
#endif

enum TextFile {
  /// The whole file, or nil when it cannot be read.
  static func bytes(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      if n <= 0 { return n == 0 ? result : nil }
      result += chunk[0..<n]
    }
  }

  /// The file's lines (without their newlines), or nil.
  static func lines(_ path: String) -> [Substring]? {
    guard let data = bytes(path) else { return nil }
    return String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
  }

  /// Writes text to path (created or truncated); false on failure.
  static func write(_ text: String, to path: String) -> Bool {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var copy = text
    return copy.withUTF8 { buffer in
      var done = 0
      while done < buffer.count {
        let n = Glibc.write(fd, buffer.baseAddress! + done, buffer.count - done)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return false }
        done += n
      }
      return true
    }
  }

  /// The names in a folder (without . and ..), or nil.
  static func list(_ folder: String) -> [String]? {
    guard let dir = opendir(folder) else { return nil }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
      if name != "." && name != ".." { names.append(name) }
    }
    return names
  }

  /// "/a/b/c.so" -> "c.so"
  static func lastComponent(_ path: String) -> String {
    path.split(separator: "/").last.map(String.init) ?? path
  }

  /// A new private folder under $TMPDIR (or /tmp), or nil.
  static func makeScratchFolder(_ label: String) -> String? {
    let base = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
    var template = Array((base + "/" + label + ".XXXXXX").utf8CString)
    return template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }.map { String(cString: $0) }
  }

  /// Removes a folder and the files in it (not recursive: scratch folders are flat).
  static func removeFolder(_ folder: String) {
    for name in list(folder) ?? [] { unlink(folder + "/" + name) }
    rmdir(folder)
  }
}
