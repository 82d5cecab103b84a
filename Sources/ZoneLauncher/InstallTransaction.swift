// InstallTransaction.swift: writing an install into a prefix all at once, or not at all.
//
// Owns: the two phases of an install and their undoing.
//  - Staging: each file or link is created beside its destination under a random name
//    (Folder.createFile, createLink: exclusive, never through a link), in folders opened
//    from the prefix's descriptor without following links (a link or a file where a
//    folder should be is an error) and created when missing. Each staged item gives the
//    manifest entry of what will be installed: device, inode, size and SHA-256.
//  - Placing, in staging order: an existing destination first gets a second name
//    (".zm-old-" and random hex digits, a hard link), then the new file is renamed over
//    it; a folder at a destination is an error. Once all are placed the second names
//    are removed.
// A failure anywhere undoes everything: placed files are renamed back from their second
// names (or removed when there was none), staged files removed, created folders removed
// in reverse order, so the prefix holds what it held before, down to the inodes.
// Touches: Folder, Manifest (the entries), SHA256.
#if canImport(Glibc)
import Glibc
#endif

final class InstallTransaction {
  private struct Staged {
    let folder: Folder
    let temporary: String
    let name: String
    var backup: String?
    var placed = false
  }

  private let root: Folder
  private var opened: [String: Folder]
  private var createdIn: [(parent: Folder, name: String)] = []
  private var staged: [Staged] = []
  /// The folders this install created inside the prefix, parents first.
  private(set) var createdFolders: [String] = []

  init(root: Folder) {
    self.root = root
    opened = ["": root]
  }

  /// Runs body (which stages), then places what it staged; on any failure, undoes both
  /// and rethrows.
  func run(_ body: () throws(FileError) -> Void) throws(FileError) {
    do throws(FileError) {
      try body()
      try place()
    } catch {
      undo()
      throw error
    }
  }

  /// Stages a file; its manifest entry.
  func stageFile(_ path: String, bytes: [UInt8], mode: mode_t) throws(FileError) -> Manifest.Entry {
    let (folder, name) = try folder(for: path)
    let (temporary, status) = try folder.createFile(bytes, mode: mode)
    staged.append(Staged(folder: folder, temporary: temporary, name: name))
    return Manifest.Entry(kind: .file, path: path, device: UInt64(status.st_dev), inode: UInt64(status.st_ino),
                          size: bytes.count, sha256: SHA256.hex(bytes))
  }

  /// Stages a symbolic link; its manifest entry.
  func stageLink(_ path: String, to target: String) throws(FileError) -> Manifest.Entry {
    let (folder, name) = try folder(for: path)
    let (temporary, status) = try folder.createLink(to: target)
    staged.append(Staged(folder: folder, temporary: temporary, name: name))
    let text = Array(target.utf8)
    return Manifest.Entry(kind: .link, path: path, device: UInt64(status.st_dev), inode: UInt64(status.st_ino),
                          size: text.count, sha256: SHA256.hex(text))
  }

  /// The folder that holds path (opened, or created, without following links) and the
  /// last component of path.
  func folder(for path: String) throws(FileError) -> (Folder, String) {
    let components = path.split(separator: "/").map(String.init)
    var folder = root
    var key = ""
    for name in components.dropLast() {
      key += (key.isEmpty ? "" : "/") + name
      if let known = opened[key] {
        folder = known
        continue
      }
      guard let next = try folder.subfolder(name, createMode: 0o755) else {
        throw FileError(message: "\(folder.pathOf(name)) vanished while zm created it")
      }
      if next.created {
        createdIn.append((folder, name))
        createdFolders.append(key)
      }
      opened[key] = next.folder
      folder = next.folder
    }
    return (folder, components.last!)
  }

  private func place() throws(FileError) {
    for index in staged.indices {
      let item = staged[index]
      if let existing = item.folder.status(item.name) {
        guard existing.st_mode & S_IFMT != S_IFDIR else {
          throw FileError(message: "\(item.folder.pathOf(item.name)) is a folder")
        }
        staged[index].backup = try item.folder.link(item.name, prefix: ".zm-old-")
      }
      try item.folder.rename(item.temporary, to: item.name)
      staged[index].placed = true
    }
    for item in staged { if let backup = item.backup { item.folder.remove(backup) } }
  }

  private func undo() {
    for item in staged.reversed() {
      if item.placed {
        if let backup = item.backup { try? item.folder.rename(backup, to: item.name) } else { item.folder.remove(item.name) }
      } else {
        item.folder.remove(item.temporary)
        if let backup = item.backup { item.folder.remove(backup) }
      }
    }
    for (parent, name) in createdIn.reversed() { parent.removeFolderIfEmpty(name) }
  }
}
