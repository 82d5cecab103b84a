// FastPath.swift: instructions per malloc(32)+free pair, counted with callgrind.
//
// bench/workloads/fastpath.c loops over malloc(32) and free. It runs under
// `valgrind --tool=callgrind` (LD_PRELOAD passes through valgrind to the program)
// with 100,000 and with 200,000 iterations; the difference of the two instruction
// totals divided by 100,000 is the cost of one pair (plus a few loop instructions,
// equal for all allocators), with start-up and exit cancelled out.
//
// Valgrind 3.19 (Debian 12) gives up on the DWARF 5 debug information that Swift
// toolchains emit, so each preloaded library is first copied without its debug
// sections (objcopy --strip-debug); the code, and so the count, is unchanged.

import Foundation

struct FastPathResult {
  let allocator: String
  let instructionsSmall: Int?
  let instructionsLarge: Int?
  let failure: String?

  static let smallN = 100_000
  static let largeN = 200_000

  var perPair: Double? {
    guard let a = instructionsSmall, let b = instructionsLarge else { return nil }
    return Double(b - a) / Double(FastPathResult.largeN - FastPathResult.smallN)
  }
}

enum FastPath {
  /// Measures every allocator; returns nil (after saying why) when it cannot run.
  static func measure(_ allocators: [Allocator], builder: Builder, paths: Paths,
                      progress: (String) -> Void) -> [FastPathResult]? {
    guard let valgrind = Builder.findTool(preferred: "/usr/bin/valgrind", name: "valgrind") else {
      print("skipping the fast-path figure: valgrind is not installed (apt-get install valgrind)")
      return nil
    }
    let bin: String
    switch builder.binary("fastpath") {
    case .success(let b): bin = b
    case .failure(let e):
      print("skipping the fast-path figure: \(e.message)")
      return nil
    }
    return allocators.enumerated().map { i, a in
      progress("[fast path \(i + 1)/\(allocators.count)] callgrind under \(a.name)")
      return measureOne(a, valgrind: valgrind, bin: bin, paths: paths)
    }
  }

  private static func measureOne(_ a: Allocator, valgrind: String, bin: String, paths: Paths) -> FastPathResult {
    let small = count(a, n: FastPathResult.smallN, valgrind: valgrind, bin: bin, paths: paths)
    let large = count(a, n: FastPathResult.largeN, valgrind: valgrind, bin: bin, paths: paths)
    let failure: String?
    switch (small, large) {
    case (.failure(let e), _), (_, .failure(let e)): failure = e.message
    default: failure = nil
    }
    return FastPathResult(allocator: a.name, instructionsSmall: try? small.get(),
                          instructionsLarge: try? large.get(), failure: failure)
  }

  struct CountError: Error { let message: String }

  private static func count(_ a: Allocator, n: Int, valgrind: String, bin: String,
                            paths: Paths) -> Result<Int, CountError> {
    let base = "\(paths.logDir)/fastpath.\(a.name).\(n)"
    var env = ProcessInfo.processInfo.environment
    env["LD_PRELOAD"] = a.library.map { withoutDebugInfo($0, name: a.name, paths: paths) }
    let spec = RunSpec(argv: [valgrind, "--tool=callgrind", "--callgrind-out-file=\(base).callgrind",
                              bin, "1", String(n)],
                       env: env, stdoutPath: base + ".out", stderrPath: base + ".err", timeout: 300)
    try? FileManager.default.removeItem(atPath: base + ".callgrind")
    let m = Spawner.run(spec)
    guard m.end == .exited(0) else { return .failure(CountError(message: "callgrind run failed: \(m.end)")) }
    guard let text = try? String(contentsOfFile: base + ".callgrind", encoding: .utf8),
          let total = totalInstructions(text) else {
      return .failure(CountError(message: "no totals line in the callgrind output"))
    }
    return .success(total)
  }

  /// A copy of lib without debug sections in .build/bench-bin, or lib itself when
  /// objcopy is missing or fails.
  private static func withoutDebugInfo(_ lib: String, name: String, paths: Paths) -> String {
    guard let objcopy = Builder.findTool(preferred: "/usr/bin/objcopy", name: "objcopy") else { return lib }
    let copy = "\(paths.binDir)/fastpath-\(name).so"
    let log = "\(paths.logDir)/fastpath-\(name).objcopy.log"
    let spec = RunSpec(argv: [objcopy, "--strip-debug", lib, copy], env: ProcessInfo.processInfo.environment,
                       stdoutPath: log, stderrPath: log, timeout: 60)
    return Spawner.run(spec).end == .exited(0) ? copy : lib
  }

  /// The number on the "summary:" (or "totals:") line of a callgrind output file.
  static func totalInstructions(_ text: String) -> Int? {
    for line in text.split(separator: "\n") where line.hasPrefix("summary:") || line.hasPrefix("totals:") {
      if let field = line.split(separator: " ").dropFirst().first, let v = Int(field) { return v }
    }
    return nil
  }
}
