// Programs.swift: building the C and C++ test programs of Tests/programs.
//
// `TestProgram.build(name, linkage:)` compiles Tests/programs/<name> once per test run
// (later calls get the cached binary) with -I<pkg>/include, -pthread and -ldl, and with
// the compiler's built-in knowledge of the malloc family turned off, so every call
// reaches the allocator as written. With `.linked` the program is linked against the
// library under test (-L<dir> -lzonemalloc -Wl,-rpath,<dir>, where <dir> is a scratch
// folder that names it both libzonemalloc.so and libzonemalloc.so.0, its SONAME, which is
// what the program records and loads); with `.archive` it is linked with the static
// library lib/libzonemalloc.a of a `zm install --prefix` into the scratch folder (made
// once per test run); with `.plain` it is not, for running under LD_PRELOAD. A compile
// error fails the test with the compiler output.
import Foundation
import Synchronization

enum Linkage: String, CaseIterable {
  case linked, archive, plain
}

enum TestProgram {
  private static let cache = Mutex<[String: String]>([:])
  private static let installedPrefix = Mutex<String?>(nil)

  static let noBuiltins = ["malloc", "calloc", "realloc", "free", "aligned_alloc", "posix_memalign",
                           "memalign", "valloc", "pvalloc", "reallocarray"].map { "-fno-builtin-\($0)" }

  /// The path of the built program; `optimize` is the -O flag, `flags` more compiler flags.
  static func build(_ source: String, linkage: Linkage, optimize: String = "-O2", flags: [String] = []) throws -> String {
    let key = "\(source)-\(linkage.rawValue)\(optimize)" + flags.joined()
    return try cache.withLock { built in
      if let path = built[key] { return path }
      let name = key.map { $0 == "/" ? "_" : $0 } // flags may name files
      let path = try compile(source, linkage: linkage, optimize: optimize, flags: flags,
                             output: Paths.scratch + "/bin-" + String(name.prefix(200)))
      built[key] = path
      return path
    }
  }

  private static func compile(_ source: String, linkage: Linkage, optimize: String, flags: [String],
                              output: String) throws -> String {
    let isCxx = source.hasSuffix(".cpp")
    var argv = [isCxx ? "c++" : "cc", optimize, "-g", "-Wall", "-pthread", "-I", Paths.include, "-I", Paths.programs]
    argv += noBuiltins + [Paths.programs + "/" + source, "-o", output]
    argv += flags // after the source, so that libraries named here resolve its symbols
    if linkage == .linked { argv += try linkFlags() }
    if linkage == .archive { argv.append(try installed() + "/lib/libzonemalloc.a") }
    argv.append("-ldl")
    let outcome = try Subprocess.run(argv, timeout: 120)
    guard outcome.succeeded else { throw HarnessError("cannot build \(source):\n\(outcome)") }
    return output
  }

  /// A prefix in the scratch folder where the build folder's zm installed the library
  /// under test (once per test run).
  static func installed() throws -> String {
    try installedPrefix.withLock { prefix in
      if let prefix { return prefix }
      let made = try Paths.resolved(try Paths.makeTempDir("installed"))
      let outcome = try Subprocess.run([try Paths.launcher(), "install", "--prefix", made],
                                       env: ["ZONEMALLOC_LIB": try Paths.library()], timeout: 120)
      guard outcome.succeeded else { throw HarnessError("zm install failed:\n\(outcome)") }
      prefix = made
      return made
    }
  }

  /// Links to the library under test through the scratch folder that holds its two names.
  static func linkFlags() throws -> [String] {
    let dir = Paths.scratch + "/lib"
    let fm = FileManager.default
    if !fm.fileExists(atPath: dir) {
      let library = try Paths.resolved(try Paths.library())
      try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
      for name in ["libzonemalloc.so", "libzonemalloc.so.0"] {
        try fm.createSymbolicLink(atPath: dir + "/" + name, withDestinationPath: library)
      }
    }
    return ["-Wl,--no-as-needed", "-L" + dir, "-lzonemalloc", "-Wl,-rpath," + dir]
  }
}
