// CrossArch.swift: the test programs for 64-bit Arm, run under qemu-user (issue 25).
//
// - `CrossArch.missing` is nil when qemu-aarch64, aarch64-linux-gnu-gcc and the arm64
//   glibc are installed, else the sentence the tests print ("skipped: ...") before they
//   return: a machine without them passes.
// - `library()` builds libzonemalloc.so for aarch64 once per test run, with
//   scripts/cross-aarch64.sh into the scratch folder, so it is built from the sources
//   under test ($ZONEMALLOC_AARCH64_LIB names one built already).
// - `build(source, linkage:)` cross-compiles a program of Tests/programs with
//   aarch64-linux-gnu-gcc and TestProgram's flags, once per run; `.linked` links it to
//   the aarch64 library (-lzonemalloc with an rpath).
// - `run` starts a program under `qemu-aarch64 -L /usr/aarch64-linux-gnu`, the library
//   preloaded through qemu's -E: an LD_PRELOAD in qemu's own environment would reach the
//   x86-64 loader. The other variables go in the environment, which qemu passes on.
// - `python()` is Debian's python3.11 for arm64 unpacked by scripts/arm64-python.sh, with
//   the variables that make it find its libraries and standard library.
// qemu-user runs with the host's 4 KiB pages and emulates one program at a time, about
// ten times slower than native: the tests scale their counts down (CrossArchTests).
import Foundation
import Synchronization

enum CrossArch {
  static let sysroot = "/usr/aarch64-linux-gnu"

  /// Why the emulated tests cannot run here, or nil when they can.
  static let missing: String? = {
    let needed = ["qemu-aarch64": "qemu-user", "aarch64-linux-gnu-gcc": "gcc-aarch64-linux-gnu"]
    let absent = needed.keys.sorted().filter { tool in
      (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
        .allSatisfy { !FileManager.default.isExecutableFile(atPath: "\($0)/\(tool)") }
    }
    if !absent.isEmpty {
      return "\(absent.joined(separator: " and ")) not installed (apt-get install -y "
        + absent.map { needed[$0]! }.joined(separator: " ") + ")"
    }
    return FileManager.default.fileExists(atPath: sysroot + "/lib/libc.so.6")
      ? nil : "no arm64 glibc in \(sysroot) (apt-get install -y gcc-aarch64-linux-gnu)"
  }()

  /// Prints the skip line and returns true when the emulated tests cannot run.
  static func skipped(_ what: String) -> Bool {
    guard let missing else { return false }
    print("skipped: \(what) under qemu-aarch64: \(missing)")
    return true
  }

  private static let built = Mutex<Result<String, HarnessError>?>(nil)

  /// The aarch64 library, built on first use; throws with the script's output on failure.
  static func library() throws -> String {
    try built.withLock { cached in
      if cached == nil { cached = buildLibrary() }
      return try cached!.get()
    }
  }

  private static func buildLibrary() -> Result<String, HarnessError> {
    if let given = ProcessInfo.processInfo.environment["ZONEMALLOC_AARCH64_LIB"], !given.isEmpty {
      return .success(given)
    }
    let out = Paths.scratch + "/aarch64"
    do {
      let outcome = try Subprocess.run(["bash", Paths.packageRoot + "/scripts/cross-aarch64.sh"], env: ["OUT": out],
                                       timeout: 900)
      return outcome.succeeded ? .success(out + "/libzonemalloc.so") : .failure(HarnessError("cross build failed:\n\(outcome)"))
    } catch {
      return .failure(HarnessError("cross build could not start: \(error)"))
    }
  }

  private static let programs = Mutex<[String: String]>([:])

  /// The path of the program built for aarch64 (cached per source, linkage and flags).
  static func build(_ source: String, linkage: Linkage = .plain, optimize: String = "-O2",
                    flags: [String] = []) throws -> String {
    let key = "\(source)-\(linkage.rawValue)\(optimize)" + flags.joined()
    let link = linkage == .linked ? try linkFlags() : []
    return try programs.withLock { built in
      if let path = built[key] { return path }
      let output = Paths.scratch + "/a64-" + String(key.map { $0 == "/" ? "_" : $0 }.prefix(200))
      var argv = ["aarch64-linux-gnu-gcc", optimize, "-g", "-Wall", "-pthread", "-I", Paths.include, "-I", Paths.programs]
      argv += TestProgram.noBuiltins + [Paths.programs + "/" + source, "-o", output] + flags + link + ["-ldl"]
      let outcome = try Subprocess.run(argv, timeout: 120)
      guard outcome.succeeded else { throw HarnessError("cannot build \(source) for aarch64:\n\(outcome)") }
      built[key] = output
      return output
    }
  }

  /// -lzonemalloc through a folder that names the aarch64 library by both its names.
  private static func linkFlags() throws -> [String] {
    let dir = Paths.scratch + "/a64-lib"
    if !FileManager.default.fileExists(atPath: dir) {
      let library = try Paths.resolved(try library())
      try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
      for name in ["libzonemalloc.so", "libzonemalloc.so.0"] {
        try FileManager.default.createSymbolicLink(atPath: dir + "/" + name, withDestinationPath: library)
      }
    }
    return ["-Wl,--no-as-needed", "-L" + dir, "-lzonemalloc", "-Wl,-rpath," + dir]
  }

  /// argv under qemu-aarch64, with the aarch64 library preloaded unless `preload` is false.
  static func command(_ argv: [String], preload: Bool = true, guestEnv: [String] = []) throws -> [String] {
    let preloaded = preload ? ["-E", "LD_PRELOAD=" + (try library())] : []
    return ["qemu-aarch64", "-L", sysroot] + preloaded + guestEnv.flatMap { ["-E", $0] } + argv
  }

  /// Runs argv under qemu-aarch64 (`env` in the environment qemu passes on).
  static func run(_ argv: [String], env: [String: String] = [:], preload: Bool = true,
                  timeout: Double = 60) throws -> Outcome {
    try Subprocess.run(try command(argv, preload: preload), env: env, timeout: timeout)
  }

  private static let pythonRoot = Mutex<Result<String, HarnessError>?>(nil)

  /// The arm64 python3.11 and the guest variables it needs, or a reason it is not there.
  static func python() -> Result<(path: String, env: [String]), HarnessError> {
    pythonRoot.withLock { cached in
      if cached == nil {
        let dir = Paths.packageRoot + "/.build-aarch64/python3"
        let outcome = try? Subprocess.run(["bash", Paths.packageRoot + "/scripts/arm64-python.sh", dir], timeout: 300)
        cached = outcome?.succeeded == true ? .success(dir) : .failure(HarnessError(
          "scripts/arm64-python.sh could not fetch python3.11 for arm64: \(outcome.map { "\($0)" } ?? "did not start")"))
      }
      return cached!.map { dir in
        (dir + "/usr/bin/python3.11",
         ["PYTHONHOME=\(dir)/usr", "PYTHONMALLOC=malloc",
          "LD_LIBRARY_PATH=\(dir)/lib/aarch64-linux-gnu:\(dir)/usr/lib/aarch64-linux-gnu"])
      }
    }
  }
}
