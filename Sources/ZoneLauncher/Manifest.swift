// Manifest.swift: the record `zm install` leaves in the prefix so that `zm uninstall`
// removes exactly what it installed.
//
// Owns: share/zonemalloc/install-manifest: a comment line, then "file PATH" for each file
// or link installed and "folder PATH" for each folder install created (parents first),
// paths relative to the prefix. Reading refuses any path that could leave the prefix
// (absolute, or with a ".." component).
// Touches: FileSystem.

struct Manifest {
  static let path = "share/zonemalloc/install-manifest"

  var files: [String] = []
  var folders: [String] = []

  /// The manifest in prefix; nil when there is none.
  static func read(prefix: String) throws(FileError) -> Manifest? {
    let path = prefix + "/" + Self.path
    guard FileSystem.isFile(path) else { return nil }
    var manifest = Manifest()
    for line in String(decoding: try FileSystem.read(path), as: UTF8.self).split(separator: "\n") {
      let words = line.split(separator: " ", maxSplits: 1).map(String.init)
      guard words.count == 2, words[0] == "file" || words[0] == "folder" else { continue }
      guard isInside(words[1]) else { throw FileError(message: "\(path): \(words[1]) is not inside the prefix") }
      if words[0] == "file" { manifest.files.append(words[1]) } else { manifest.folders.append(words[1]) }
    }
    return manifest
  }

  func write(prefix: String) throws(FileError) {
    let lines = ["# zonemalloc install manifest: `zm uninstall --prefix \(prefix)` removes these"]
      + files.map { "file " + $0 } + folders.map { "folder " + $0 }
    try FileSystem.replace(prefix + "/" + Self.path, with: Array((lines.joined(separator: "\n") + "\n").utf8),
                           mode: 0o644)
  }

  private static func isInside(_ path: String) -> Bool {
    !path.hasPrefix("/") && !path.split(separator: "/").contains("..")
  }
}
