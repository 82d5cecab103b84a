// Folder.swift: a folder held open by its descriptor, and the file operations relative to
// it that cannot be led elsewhere by a symbolic link.
//
// Owns: opening a subfolder without following a link (openat with O_DIRECTORY |
// O_NOFOLLOW), optionally creating it; a new file or link under a random name
// (".zm-new-" and 16 hex digits) created exclusively (O_CREAT | O_EXCL | O_NOFOLLOW: a
// name planted in advance, a link among them, is never opened, only skipped); status,
// reading, renaming, hard-linking and removing entries of the folder, none of which
// follows a link in the entry's name. Install, uninstall and FileSystem.replace work
// through it. Failures throw FileError naming the path.
// Touches: the file system only.
#if canImport(Glibc)
import Glibc
#endif

final class Folder {
  let fd: Int32
  /// The folder's path, for messages.
  let path: String

  private init(fd: Int32, path: String) {
    self.fd = fd
    self.path = path
  }

  deinit { close(fd) }

  /// The folder at path (following links: the caller has resolved it).
  static func open(_ path: String) throws(FileError) -> Folder {
    let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { throw FileError("cannot open folder", path) }
    return Folder(fd: fd, path: path)
  }

  func pathOf(_ name: String) -> String { path == "/" ? "/" + name : path + "/" + name }

  /// The subfolder `name`, never through a symbolic link; created with `createMode` when
  /// it is missing and a mode is given, then `created` is true. nil when it is missing and
  /// not created.
  func subfolder(_ name: String, createMode: mode_t? = nil) throws(FileError) -> (folder: Folder, created: Bool)? {
    var created = false
    for attempt in 0..<2 {
      let fd = openat(self.fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
      if fd >= 0 { return (Folder(fd: fd, path: pathOf(name)), created) }
      let code = errno
      switch status(name).map({ $0.st_mode & S_IFMT }) {
      case nil where code == ENOENT && createMode != nil && attempt == 0:
        if mkdirat(self.fd, name, createMode!) == 0 {
          created = true
        } else if errno != EEXIST {
          throw FileError("cannot create folder", pathOf(name))
        }
      case nil where code == ENOENT: return nil
      case S_IFLNK?:
        throw FileError(message: "\(pathOf(name)) is a symbolic link, which zm does not follow inside the prefix")
      case let kind? where kind != S_IFDIR:
        throw FileError(message: "\(pathOf(name)) is not a folder")
      default: throw FileError("cannot open folder", pathOf(name), code: code)
      }
    }
    throw FileError(message: "\(pathOf(name)) keeps changing while zm opens it")
  }

  /// The folder holding the relative path and the path's last component, reached without
  /// following a link; nil when a folder on the way is missing.
  func parent(of path: String) throws(FileError) -> (folder: Folder, name: String)? {
    let components = path.split(separator: "/").map(String.init)
    var folder = self
    for name in components.dropLast() {
      guard let next = try folder.subfolder(name) else { return nil }
      folder = next.folder
    }
    return (folder, components.last!)
  }

  /// lstat of an entry: a link is described, not followed. nil when there is none.
  func status(_ name: String) -> stat? {
    var info = stat()
    return fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 ? info : nil
  }

  /// A new file holding bytes with exactly this mode, under a fresh random name; returns
  /// the name and the file's status.
  func createFile(_ bytes: [UInt8], mode: mode_t) throws(FileError) -> (name: String, status: stat) {
    let (name, fd) = try createExclusively(".zm-new-") { name in
      openat(self.fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
    }
    defer { close(fd) }
    var info = stat()
    do throws(FileError) {
      try FileSystem.write(bytes, to: fd, path: pathOf(name))
      guard fchmod(fd, mode) == 0, fstat(fd, &info) == 0 else { throw FileError("cannot write", pathOf(name)) }
    } catch {
      unlinkat(self.fd, name, 0)
      throw error
    }
    return (name, info)
  }

  /// A new symbolic link to target, under a fresh random name; returns the name and the
  /// link's status.
  func createLink(to target: String) throws(FileError) -> (name: String, status: stat) {
    let (name, _) = try createExclusively(".zm-new-") { name in symlinkat(target, self.fd, name) }
    guard let info = status(name) else { throw FileError("cannot create link", pathOf(name)) }
    return (name, info)
  }

  /// A second name for the entry (a hard link; a symbolic link is linked, not followed),
  /// under a fresh random name starting with `prefix`.
  func link(_ name: String, prefix: String) throws(FileError) -> String {
    try createExclusively(prefix) { linkName in linkat(self.fd, name, self.fd, linkName, 0) }.name
  }

  /// Renames an entry over another of this folder.
  func rename(_ from: String, to: String) throws(FileError) {
    guard renameat(fd, from, fd, to) == 0 else { throw FileError("cannot replace", pathOf(to)) }
  }

  /// Removes a file or link; the errno when that fails.
  @discardableResult
  func remove(_ name: String) -> Int32? { unlinkat(fd, name, 0) == 0 ? nil : errno }

  /// Removes a subfolder if it is empty (never a link to one).
  func removeFolderIfEmpty(_ name: String) { unlinkat(fd, name, AT_REMOVEDIR) }

  /// A regular file's descriptor, not through a link, or nil.
  func openFile(_ name: String) -> Int32? {
    let fd = openat(self.fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
    return fd >= 0 ? fd : nil
  }

  /// The target of a symbolic link, or nil.
  func linkTarget(_ name: String) -> String? {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let count = readlinkat(fd, name, &buffer, buffer.count - 1)
    guard count >= 0 else { return nil }
    return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// Calls create with fresh random names starting with prefix until one does not exist
  /// yet; the name and create's result (>= 0).
  private func createExclusively(_ prefix: String, _ create: (String) -> Int32) throws(FileError)
    -> (name: String, result: Int32)
  {
    for _ in 0..<100 {
      let random = String(UInt64.random(in: 0...UInt64.max), radix: 16)
      let name = prefix + String(repeating: "0", count: 16 - random.count) + random
      let result = create(name)
      if result >= 0 { return (name, result) }
      guard errno == EEXIST else { throw FileError("cannot create", pathOf(name)) }
    }
    throw FileError(message: "cannot create a new file in \(path): every name tried was taken")
  }
}
