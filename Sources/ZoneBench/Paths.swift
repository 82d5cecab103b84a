// Paths.swift: where things are: the package root, the workload sources, the folder
// for compiled workloads and logs, and the results folder.
//
// The package root is the first directory, walking up from the current directory,
// that holds both Package.swift and bench/workloads; if there is none (the driver was
// started from elsewhere), the root is derived from this source file's own location.

import Foundation

struct Paths {
  let root: String
  let out: String

  var workloads: String { root + "/bench/workloads" }
  var programs: String { root + "/bench/programs" }
  var include: String { root + "/include" }
  var binDir: String { root + "/.build/bench-bin" }
  var logDir: String { binDir + "/logs" }
  var defaultLib: String { root + "/.build/release/libzonemalloc.so" }

  init(outOverride: String?) {
    root = Paths.findRoot()
    out = outOverride.map(Paths.absolute) ?? root + "/bench/results"
  }

  static func absolute(_ p: String) -> String {
    if p.hasPrefix("/") { return p }
    return FileManager.default.currentDirectoryPath + "/" + p
  }

  private static func isRoot(_ dir: String) -> Bool {
    let fm = FileManager.default
    return fm.fileExists(atPath: dir + "/Package.swift") && fm.fileExists(atPath: dir + "/bench/workloads")
  }

  private static func findRoot() -> String {
    var dir = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).standardized
    while true {
      if isRoot(dir.path) { return dir.path }
      let parent = dir.deletingLastPathComponent()
      if parent.path == dir.path { break }
      dir = parent
    }
    // Sources/ZoneBench/Paths.swift -> three levels up is the package root.
    let fromSource = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .deletingLastPathComponent().deletingLastPathComponent()
    return fromSource.path
  }
}
