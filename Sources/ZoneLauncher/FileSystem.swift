// FileSystem.swift: the file operations zm needs, over Glibc (zm links no Foundation).
//
// Owns: paths (canonical, absolute, parent, this executable's folder, lookup in PATH),
// tests (is a file, a folder, an executable) and reading part of a file.
// Touches: the file system only.
#if canImport(Glibc)
import Glibc
#endif

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

  /// Up to `count` bytes at `offset`, fewer at the end of the file; nil if unreadable.
  static func read(_ path: String, offset: Int, count: Int) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: count)
    let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
    return n < 0 ? nil : Array(bytes[0..<n])
  }
}
