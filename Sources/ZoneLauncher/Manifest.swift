// Manifest.swift: the record `zm install` leaves in the prefix so that `zm uninstall`
// removes what it installed, and only while it is as install left it.
//
// Owns: share/zonemalloc/install-manifest, format 2, a text file:
//   zonemalloc install manifest 2
//   # comment lines (what the file is, the uninstall command, the columns)
//   file PATH DEVICE INODE SIZE SHA256    a file install wrote
//   link PATH DEVICE INODE SIZE SHA256    a symbolic link it made (SIZE and SHA256 of the
//                                         link's target text)
//   folder PATH                           a folder it created, parents first
// PATH is relative to the prefix; DEVICE and INODE are decimal, SHA256 is 64 hex digits
// (SHA256.swift). Reading trusts nothing: the manifest is read without following a link;
// an entry whose path is not one zm installs (Install.files, and their folders) or that is
// not well formed becomes a problem naming its line, and is never acted on.
// Format 1 (a first line "# zonemalloc install manifest: ...", then "file PATH" and
// "folder PATH" lines) records nothing that identifies a file: uninstall refuses it and
// install keeps only its folders.
// Touches: Folder, FileSystem, Console (escaping), SHA256 (the digests' format).
#if canImport(Glibc)
import Glibc
#endif

struct Manifest {
  static let path = "share/zonemalloc/install-manifest"
  private static let header = "zonemalloc install manifest 2"
  private static let formatOneHeader = "# zonemalloc install manifest:"

  /// An installed file or link, as install left it.
  struct Entry {
    enum Kind: String { case file, link }
    let kind: Kind
    let path: String
    let device: UInt64
    let inode: UInt64
    let size: Int
    let sha256: String
  }

  var entries: [Entry] = []
  var folders: [String] = []

  /// What a prefix's manifest says.
  enum Contents {
    /// Format 2, with the lines that were not acted on, each with the reason.
    case current(Manifest, problems: [String])
    /// Format 1: only its folders are usable.
    case formatOne(folders: [String])
    case unknown
  }

  /// The manifest of the prefix root; nil when there is none.
  static func read(in root: Folder) throws(FileError) -> Contents? {
    guard let (folder, name) = try root.parent(of: path) else { return nil }
    guard let fd = folder.openFile(name) else {
      if errno == ENOENT { return nil }
      throw FileError("cannot read", folder.pathOf(name))
    }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
      throw FileError(message: "\(folder.pathOf(name)) is not a regular file")
    }
    return parse(String(decoding: try FileSystem.read(fd: fd, path: folder.pathOf(name)), as: UTF8.self))
  }

  static func parse(_ text: String) -> Contents {
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    if lines.first?.hasPrefix(formatOneHeader) == true {
      let folders = lines.compactMap { line -> String? in
        let words = line.split(separator: " ", maxSplits: 1).map(String.init)
        return words.count == 2 && words[0] == "folder" && Install.folders.contains(words[1]) ? words[1] : nil
      }
      return .formatOne(folders: folders)
    }
    guard lines.first == Substring(header) else { return .unknown }
    var manifest = Manifest()
    var problems: [String] = []
    for (index, line) in lines.enumerated().dropFirst() where !line.isEmpty && !line.hasPrefix("#") {
      switch entry(line) {
      case .success(let entry?): manifest.entries.append(entry)
      case .success(nil): manifest.folders.append(String(line.dropFirst("folder ".count)))
      case .failure(let error):
        problems.append("ignored line \(index + 1) of \(path) (`\(String(line.prefix(200)).printable)`): \(error.reason)")
      }
    }
    return .current(manifest, problems: problems)
  }

  /// A file or link entry, nil for a folder entry, or the reason the line is refused.
  private static func entry(_ line: Substring) -> Result<Entry?, ManifestLineError> {
    let words = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
    if words.count == 2 && words[0] == "folder" {
      return Install.folders.contains(words[1]) ? .success(nil) : .failure(.init("not a folder zm creates"))
    }
    guard words.count == 6, let kind = Entry.Kind(rawValue: words[0]), let device = UInt64(words[2]),
          let inode = UInt64(words[3]), let size = Int(words[4]), size >= 0,
          words[5].utf8.count == 64, words[5].utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) })
    else { return .failure(.init("not an entry zm writes")) }
    guard Install.files.contains(words[1]) else { return .failure(.init("not a file zm installs")) }
    return .success(Entry(kind: kind, path: words[1], device: device, inode: inode, size: size, sha256: words[5]))
  }

  /// The manifest's text; `prefix` goes into the uninstall command of its comment.
  func text(prefix: String) -> String {
    let lines = [
      Self.header,
      "# Written by `zm install`. `zm uninstall --prefix \(prefix.shellQuoted)` removes each file and link below",
      "# while it is still the one install wrote, then the folders below that are empty.",
      "# kind path device inode size sha256 (of a link: of its target text)",
    ]
    + entries.map { "\($0.kind.rawValue) \($0.path) \($0.device) \($0.inode) \($0.size) \($0.sha256)" }
    + folders.map { "folder " + $0 }
    return lines.joined(separator: "\n") + "\n"
  }
}

struct ManifestLineError: Error {
  let reason: String
  init(_ reason: String) { self.reason = reason }
}
