// Paths.swift: where the tests find things.
//
// - The package root, from this file's #filePath.
// - The library under test: $ZONEMALLOC_LIB, else <root>/.build/release/libzonemalloc.so.
//   A missing library is an error (every test fails with the message), never a skip.
// - The built executables (the launcher `zm`, zonemalloc-host): next to the library, since
//   `swift build -c release` puts them in the same folder. $ZONEMALLOC_LAUNCHER may name
//   the launcher explicitly.
// - The C sources in Tests/programs, the public header folder, and one scratch folder
//   per test run (removed at exit).
import Foundation

/// A failure of the test environment or of a harness step, with a readable message.
struct HarnessError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

enum Paths {
  static let packageRoot: String = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

  static let include = packageRoot + "/include"
  static let programs = packageRoot + "/Tests/programs"

  /// The library under test; throws when it is not there.
  static func library() throws -> String {
    let env = ProcessInfo.processInfo.environment["ZONEMALLOC_LIB"] ?? ""
    let path = env.isEmpty ? packageRoot + "/.build/release/libzonemalloc.so" : env
    guard FileManager.default.fileExists(atPath: path) else {
      throw HarnessError(
        "libzonemalloc.so not found at \(path): run `swift build -c release` first"
          + (env.isEmpty ? " (or set ZONEMALLOC_LIB)" : " (from ZONEMALLOC_LIB)"))
    }
    return path
  }

  /// The folder holding the library and, after a release build, the executables.
  static func productsDir() throws -> String {
    (try library() as NSString).deletingLastPathComponent
  }

  /// A built executable next to the library; throws when it was not built.
  static func product(_ name: String, override variable: String? = nil) throws -> String {
    let env = variable.flatMap { ProcessInfo.processInfo.environment[$0] } ?? ""
    let path = env.isEmpty ? try productsDir() + "/" + name : env
    guard FileManager.default.isExecutableFile(atPath: path) else {
      throw HarnessError("executable \(name) not found at \(path): run `swift build -c release` first")
    }
    return path
  }

  static func launcher() throws -> String { try product("zm", override: "ZONEMALLOC_LAUNCHER") }
  static func host() throws -> String { try product("zonemalloc-host") }

  /// The canonical absolute path (symbolic links resolved), as the launcher reports it.
  static func resolved(_ path: String) throws -> String {
    guard let resolved = realpath(path, nil) else { throw HarnessError("realpath(\(path)) failed") }
    defer { free(resolved) }
    return String(cString: resolved)
  }

  /// A fresh folder under this run's scratch folder.
  static func makeTempDir(_ label: String) throws -> String {
    let path = scratch + "/" + label + "-" + UUID().uuidString.prefix(8)
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  /// This run's scratch folder, created on first use and removed when the process exits.
  static let scratch: String = {
    let pattern = (NSTemporaryDirectory() as NSString).appendingPathComponent("zonemalloc-tests.XXXXXX")
    var template = Array(pattern.utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(made != nil, "mkdtemp failed: \(String(cString: strerror(errno)))")
    let path = String(cString: made!)
    scratchForCleanup = strdup(path)
    atexit { removeScratch() }
    return path
  }()
}

/// The scratch path as a C string, for the atexit handler (which captures nothing).
nonisolated(unsafe) private var scratchForCleanup: UnsafeMutablePointer<CChar>?

private func removeScratch() {
  guard let path = scratchForCleanup else { return }
  try? FileManager.default.removeItem(atPath: String(cString: path))
}
