// FastPath.swift: instructions per malloc+free pair, counted with callgrind.
//
// Three variants, each a program from bench/workloads run under
// `valgrind --tool=callgrind` (LD_PRELOAD passes through valgrind to the program)
// with 100,000 and with 200,000 iterations; the difference of the two instruction
// totals divided by 100,000 is the cost of one pair (plus a few loop instructions,
// equal for all allocators), with start-up and exit cancelled out:
//   live 32 B, live 1000 B  fastpath_live.c: 8 blocks of the size kept live, calls
//                           through volatile function pointers, one byte written to
//                           each block (the common case);
//   empty 32 B              fastpath.c: malloc(32)+free with nothing else live, so
//                           every free empties its slab (the slow case for some).
//
// Valgrind 3.19 (Debian 12) gives up on the DWARF 5 debug information that Swift
// toolchains emit, so each preloaded library is first copied without its debug
// sections (objcopy --strip-debug); the code, and so the count, is unchanged.

import Foundation

struct FastPathVariant {
  let key: String       // in fastpath.csv
  let label: String     // the table's column
  let program: String   // a C stem of bench/workloads
  let size: Int
  let args: [String]    // after `1 ITERATIONS`
  let meaning: String
}

struct FastPathResult {
  let allocator: String
  let variant: String
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
  static let liveMeaning = "8 blocks of the size allocated first and kept (live neighbours in the slab),"
    + " calls through volatile function pointers, one byte written to each block"
  static let variants = [
    FastPathVariant(key: "live-32", label: "live 32 B", program: "fastpath_live", size: 32,
                    args: ["--size", "32"], meaning: liveMeaning),
    FastPathVariant(key: "live-1000", label: "live 1000 B", program: "fastpath_live", size: 1000,
                    args: ["--size", "1000"], meaning: "the same at 1000 B"),
    FastPathVariant(key: "empty-32", label: "empty 32 B", program: "fastpath", size: 32, args: [],
                    meaning: "empty slab: malloc(32)+free with nothing else live, so every free empties"
                      + " it, the slow case for some allocators"),
  ]

  /// Measures every variant under every allocator; returns nil (after saying why) when
  /// valgrind is missing.
  static func measure(_ allocators: [Allocator], builder: Builder, paths: Paths,
                      progress: (String) -> Void) -> [FastPathResult]? {
    guard let valgrind = Builder.findTool(preferred: "/usr/bin/valgrind", name: "valgrind") else {
      print("skipping the fast-path figure: valgrind is not installed (apt-get install valgrind)")
      return nil
    }
    var results: [FastPathResult] = []
    for a in allocators {
      let lib = a.library.map { withoutDebugInfo($0, name: a.name, paths: paths) }
      for v in variants {
        progress("[fast path \(results.count + 1)/\(allocators.count * variants.count)] callgrind under"
                 + " \(a.name), \(v.label)")
        results.append(measureOne(a.name, lib: lib, v, valgrind: valgrind, builder: builder, paths: paths))
      }
    }
    return results
  }

  private static func measureOne(_ name: String, lib: String?, _ v: FastPathVariant, valgrind: String,
                                 builder: Builder, paths: Paths) -> FastPathResult {
    let counts = [FastPathResult.smallN, FastPathResult.largeN].map { n in
      builder.binary(v.program).mapError { CountError(message: $0.message) }.flatMap { bin in
        count(name, lib: lib, v, n: n, valgrind: valgrind, bin: bin, paths: paths)
      }
    }
    let failure = counts.lazy.compactMap { r -> String? in
      if case .failure(let e) = r { return e.message }
      return nil
    }.first
    return FastPathResult(allocator: name, variant: v.key, instructionsSmall: try? counts[0].get(),
                          instructionsLarge: try? counts[1].get(), failure: failure)
  }

  struct CountError: Error { let message: String }

  private static func count(_ name: String, lib: String?, _ v: FastPathVariant, n: Int, valgrind: String,
                            bin: String, paths: Paths) -> Result<Int, CountError> {
    let base = "\(paths.logDir)/fastpath.\(v.key).\(name).\(n)"
    var env = ProcessInfo.processInfo.environment
    env["LD_PRELOAD"] = lib
    let spec = RunSpec(argv: [valgrind, "--tool=callgrind", "--callgrind-out-file=\(base).callgrind",
                              bin, "1", String(n)] + v.args,
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
