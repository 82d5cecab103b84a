// Uninstall.swift: `zm uninstall [--prefix DIR]`.
//
// Owns: removing an install, touching nothing else. The prefix is resolved once with
// realpath; inside it, folders are opened from its descriptor without following links
// (Folder), so nothing outside the prefix is reached. The manifest (format 2, read by
// Manifest) names the files; each is removed only if it is one zm installs
// (Install.files), is still the same kind (file or link), on the same device, with the
// same inode, size and SHA-256 (of a link: of its target text). Anything else is left
// alone with a warning that says why: an entry that is not a file zm installs or not
// well formed, a folder on the way that is a link, a file replaced or changed since
// install. A file that is already gone is no problem. Then the manifest goes, and the
// folders the manifest lists that are empty, deepest first. A manifest of format 1
// identifies no file, so nothing is removed: zm says to run `zm install --prefix DIR`
// first, which records them. Exit status 1 when anything was left alone.
// ldconfig runs for /usr and /usr/local, as after an install.
// Touches: Manifest, Folder, Install (the file list, ldconfig), SHA256, Console.
#if canImport(Glibc)
import Glibc
#endif

enum Uninstall {
  private static let usage = """
    usage: zm uninstall [--prefix DIR]

    Removes what `zm install --prefix DIR` installed (default /usr/local), as listed in
    DIR/share/zonemalloc/install-manifest: each file and link that is still the one
    install wrote (same inode and content), then the folders it created if they are
    empty. Nothing else is touched, no symbolic link inside DIR is followed, and what is
    left alone is named, with the reason (exit status 1).
    """

  static func uninstall(_ args: ArraySlice<String>) -> Int32 {
    let requested = FileSystem.absolute(Install.prefixOption(args, usage: usage))
    var leftAlone: [String] = []
    let status = Install.perform("uninstall") { () throws(FileError) in
      guard let prefix = FileSystem.realPath(requested) else {
        throw FileError(message: "nothing to uninstall: no \(requested)/\(Manifest.path)")
      }
      let root = try Folder.open(prefix)
      switch try Manifest.read(in: root) {
      case nil:
        throw FileError(message: "nothing to uninstall: no \(prefix)/\(Manifest.path)")
      case .unknown?:
        throw FileError(message: "\(prefix)/\(Manifest.path) is not a zonemalloc install manifest; nothing removed")
      case .formatOne?:
        throw FileError(message: "\(prefix)/\(Manifest.path) is of format 1, which records nothing that "
          + "identifies the files, so zm cannot tell they are still the ones it installed; nothing removed. "
          + "Run `zm install --prefix \(prefix.shellQuoted)` to record them, then uninstall")
      case .current(let manifest, let problems)?:
        leftAlone = problems
        leftAlone += manifest.entries.compactMap { remove($0, in: root) }
        if let problem = removeManifest(in: root) { leftAlone.append(problem) }
        for folder in manifest.folders.sorted(by: { $0.count > $1.count }) { removeIfEmpty(folder, in: root) }
        Install.runLdconfig(ifSystem: prefix)
        for problem in leftAlone { Console.warn(problem) }
        if leftAlone.isEmpty {
          Console.out("removed zonemalloc from \(prefix)")
        } else {
          let warnings = leftAlone.count == 1 ? "the warning above names" : "the \(leftAlone.count) warnings above name"
          Console.error("removed zonemalloc from \(prefix), except what \(warnings)")
        }
      }
    }
    return leftAlone.isEmpty ? status : 1
  }

  /// Removes the entry's file if it is still what install wrote; else why it stays.
  private static func remove(_ entry: Manifest.Entry, in root: Folder) -> String? {
    let folder: Folder
    let name: String
    do {
      guard let found = try root.parent(of: entry.path) else { return nil }
      (folder, name) = found
    } catch {
      return "left \(entry.path) alone: \(error.message)"
    }
    let path = folder.pathOf(name)
    guard let status = folder.status(name) else { return nil }
    let kind = status.st_mode & S_IFMT
    guard kind == (entry.kind == .file ? S_IFREG : S_IFLNK) else {
      return "left \(path) alone: it is no longer a \(entry.kind == .file ? "regular file" : "symbolic link")"
    }
    guard UInt64(status.st_dev) == entry.device && UInt64(status.st_ino) == entry.inode else {
      return "left \(path) alone: it is not the file zm installed (another file has taken its name)"
    }
    guard Int(status.st_size) == entry.size, content(of: name, in: folder, kind: entry.kind, status: status)
      .map(SHA256.hex) == entry.sha256 else {
      return "left \(path) alone: it has changed since zm installed it"
    }
    if let code = folder.remove(name) { return "cannot remove \(path): \(errorText(code))" }
    return nil
  }

  /// The file's bytes (a link's target text), read without following a link and only if
  /// it is still the inode `status` describes.
  private static func content(of name: String, in folder: Folder, kind: Manifest.Entry.Kind, status: stat) -> [UInt8]? {
    if kind == .link { return folder.linkTarget(name).map { Array($0.utf8) } }
    guard let fd = folder.openFile(name) else { return nil }
    defer { close(fd) }
    var opened = stat()
    guard fstat(fd, &opened) == 0, opened.st_dev == status.st_dev, opened.st_ino == status.st_ino else { return nil }
    return try? FileSystem.read(fd: fd, path: folder.pathOf(name))
  }

  /// Removes the manifest, a regular file not reached through a link.
  private static func removeManifest(in root: Folder) -> String? {
    guard let (folder, name) = try? root.parent(of: Manifest.path) else { return nil }
    guard folder.status(name).map({ $0.st_mode & S_IFMT == S_IFREG }) == true else { return nil }
    return folder.remove(name).map { "cannot remove \(folder.pathOf(name)): \(errorText($0))" }
  }

  private static func removeIfEmpty(_ path: String, in root: Folder) {
    if let (folder, name) = try? root.parent(of: path) { folder.removeFolderIfEmpty(name) }
  }
}
