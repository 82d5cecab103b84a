// Builder.swift: compiles the C workloads and turns a workload into a command line.
//
// Each bench/workloads/NAME.c is compiled with `cc -O2 -pthread` into
// .build/bench-bin/NAME, again only when the binary is missing or older than the
// source, a header of bench/workloads or include/zonemalloc.h. python3, sqlite3 and
// node are looked up once. A workload whose interpreter is optional (node) is skipped
// where it is missing.

import Foundation

final class Builder {
  let paths: Paths
  private var built: [String: Result<String, BuildError>] = [:]
  private(set) lazy var python: String? = Builder.findTool(preferred: "/usr/bin/python3", name: "python3")
  private(set) lazy var sqlite: String? = Builder.findTool(preferred: "/usr/bin/sqlite3", name: "sqlite3")
  private(set) lazy var node: String? = Builder.findTool(preferred: "/usr/bin/node", name: "node")

  struct BuildError: Error {
    let message: String
    /// The workload is not run here, which is not a failure (an optional tool is missing).
    var skip = false
  }

  init(paths: Paths) { self.paths = paths }

  /// The argv of a workload, or an error message when it cannot be run here.
  func command(for w: Workload, quick: Bool) -> Result<[String], BuildError> {
    let args = w.arguments(quick: quick)
    switch w.program {
    case .c(let stem):
      return binary(stem).map { [$0] + args }
    case .python(let script):
      guard let py = python else { return .failure(BuildError(message: "python3 not found")) }
      return .success([py, paths.programs + "/" + script] + args)
    case .sqlite(let script):
      guard let sq = sqlite else { return .failure(BuildError(message: "sqlite3 not found")) }
      return .success([sq, ":memory:", ".parameter set @n \(args.first ?? "1000")",
                       ".read \(paths.programs)/\(script)"])
    case .node(let script):
      guard let nd = node else { return .failure(BuildError(message: "node is not installed", skip: true)) }
      return .success([nd, paths.programs + "/" + script] + args)
    }
  }

  /// The compiled binary for a C source stem of bench/workloads, built when stale.
  func binary(_ stem: String) -> Result<String, BuildError> {
    if let r = built[stem] { return r }
    let src = "\(paths.workloads)/\(stem).c"
    let r = compile(src, stem: stem, deps: [src, paths.include + "/zonemalloc.h"] + headers)
    built[stem] = r
    return r
  }

  /// The headers of bench/workloads (common.h, smaps.h), which any workload may include.
  private lazy var headers: [String] = {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: paths.workloads)) ?? []
    return names.filter { $0.hasSuffix(".h") }.map { paths.workloads + "/" + $0 }
  }()

  /// bench/support/measure, which runs a command and reports its own rusage; nil
  /// (after a warning) when it cannot be built.
  private(set) lazy var measurer: String? = {
    let src = paths.root + "/bench/support/measure.c"
    switch compile(src, stem: "measure", deps: [src]) {
    case .success(let bin): return bin
    case .failure(let e):
      print("warning: \(e.message); peak RSS will include the driver's own")
      return nil
    }
  }()

  private func compile(_ src: String, stem: String, deps: [String]) -> Result<String, BuildError> {
    let bin = "\(paths.binDir)/\(stem)"
    if !isStale(bin, deps) { return .success(bin) }
    try? FileManager.default.createDirectory(atPath: paths.binDir, withIntermediateDirectories: true)
    let argv = ["cc", "-O2", "-pthread", "-Wall", "-I", paths.include, "-I", paths.workloads,
                "-o", bin, src, "-ldl"]
    let log = "\(paths.binDir)/\(stem).build.log"
    let spec = RunSpec(argv: argv, env: ProcessInfo.processInfo.environment, stdoutPath: log,
                       stderrPath: log, timeout: 120)
    let r = Spawner.run(spec)
    guard case .exited(0) = r.end else {
      let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
      return .failure(BuildError(message: "cc failed for \(stem).c: \(text.prefix(400))"))
    }
    return .success(bin)
  }

  private func isStale(_ target: String, _ sources: [String]) -> Bool {
    guard let t = modified(target) else { return true }
    return sources.contains { (modified($0) ?? .distantFuture) > t }
  }

  private func modified(_ path: String) -> Date? {
    (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
  }

  /// The preferred absolute path if it exists (a real binary, not a version-manager
  /// shim that would run under the preload too), else the first match on PATH.
  static func findTool(preferred: String, name: String) -> String? {
    let fm = FileManager.default
    if fm.isExecutableFile(atPath: preferred) { return preferred }
    let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
    return dirs.map { "\($0)/\(name)" }.first { fm.isExecutableFile(atPath: $0) }
  }
}
