// FileSystem.swift: the file operations zm needs, over Glibc (zm links no Foundation).
//
// Owns: paths (canonical, absolute, parent, last component, this executable's folder,
// lookup in PATH), tests (is a file, a folder, an executable), reading (whole files,
// lines, parts), writing, and replacing a file atomically (a new file beside the old one,
// created exclusively under a random name and renamed over it: a program running the old
// copy keeps it, and a link planted beside it is never written through), folders
// (creating, listing, private scratch folders). Failures throw FileError with the path
// and the system's reason.
// Touches: Folder (replace), the file system.
#if canImport(Glibc)
import Glibc
#endif

struct FileError: Error {
  let message: String

  init(message: String) { self.message = message }

  /// "<what> <path>: <strerror(errno)>".
  init(_ what: String, _ path: String, code: Int32 = errno) {
    message = "\(what) \(path): \(errorText(code))"
  }
}

enum FileSystem {
  /// The canonical absolute path (symbolic links resolved), or nil if it does not exist.
  static func realPath(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
  }

  /// An absolute path for `path`, relative to the current folder (nothing resolved).
  static func absolute(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    guard let cwd = getcwd(nil, 0) else { return path }
    defer { free(cwd) }
    return String(cString: cwd) + "/" + path
  }

  /// The folder part of a path: "/a/b" for "/a/b/c", "/" for "/a".
  static func parent(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
  }

  /// The last component of a path: "c.so" for "/a/b/c.so".
  static func lastComponent(_ path: String) -> String {
    path.split(separator: "/").last.map(String.init) ?? path
  }

  /// The folder this executable is in, from /proc/self/exe.
  static func executableDirectory() -> String? {
    realPath("/proc/self/exe").map(parent)
  }

  /// What execvp would run for `command`: itself if it names a path, else the first
  /// executable file of that name in $PATH.
  static func findCommand(_ command: String) -> String? {
    if command.contains("/") { return isFile(command) ? command : nil }
    let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
    for dir in path.split(separator: ":", omittingEmptySubsequences: false) {
      let candidate = (dir.isEmpty ? "." : String(dir)) + "/" + command
      if isFile(candidate) && access(candidate, X_OK) == 0 { return candidate }
    }
    return nil
  }

  static func isFile(_ path: String) -> Bool { mode(path) == S_IFREG }

  static func isDirectory(_ path: String) -> Bool { mode(path) == S_IFDIR }

  private static func mode(_ path: String) -> mode_t? {
    var info = stat()
    return stat(path, &info) == 0 ? info.st_mode & S_IFMT : nil
  }

  /// The whole file.
  static func read(_ path: String) throws(FileError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw FileError("cannot read", path) }
    defer { close(fd) }
    return try read(fd: fd, path: path)
  }

  /// Everything left to read from fd (path names it in messages).
  static func read(fd: Int32, path: String) throws(FileError) -> [UInt8] {
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
      let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      guard n >= 0 else { throw FileError("cannot read", path) }
      if n == 0 { return bytes }
      bytes += chunk[0..<n]
    }
  }

  /// The file's lines (without their newlines), or nil when it cannot be read.
  static func lines(_ path: String) -> [Substring]? {
    guard let bytes = try? read(path) else { return nil }
    return String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
  }

  /// Up to `count` bytes at `offset`, fewer at the end of the file; nil if unreadable.
  static func read(_ path: String, offset: Int, count: Int) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: count)
    let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
    return n < 0 ? nil : Array(bytes[0..<n])
  }

  /// Writes all of bytes to fd (path names it in messages).
  static func write(_ bytes: [UInt8], to fd: Int32, path: String) throws(FileError) {
    var done = 0
    while done < bytes.count {
      let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else { throw FileError("cannot write", path) }
      done += n
    }
  }

  /// Replaces path with bytes and the mode: written beside it, then renamed over it.
  static func replace(_ path: String, with bytes: [UInt8], mode: mode_t) throws(FileError) {
    let folder = try Folder.open(parent(path))
    let temporary = try folder.createFile(bytes, mode: mode).name
    do throws(FileError) {
      try folder.rename(temporary, to: lastComponent(path))
    } catch {
      folder.remove(temporary)
      throw error
    }
  }

  /// Creates a folder (its parent must exist).
  static func makeDirectory(_ path: String) throws(FileError) {
    guard mkdir(path, 0o755) == 0 || (errno == EEXIST && isDirectory(path)) else {
      throw FileError("cannot create folder", path)
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

  /// A new private folder under $TMPDIR (or /tmp).
  static func makeScratchFolder(_ label: String) throws(FileError) -> String {
    let base = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
    var template = Array((base + "/" + label + ".XXXXXX").utf8CString)
    guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
      throw FileError("cannot create folder", base + "/" + label + ".XXXXXX")
    }
    return String(cString: made)
  }

  /// Removes a scratch folder and the files in it (not recursive: scratch folders are flat).
  static func removeScratchFolder(_ folder: String) {
    for name in list(folder) ?? [] { unlink(folder + "/" + name) }
    rmdir(folder)
  }
}
