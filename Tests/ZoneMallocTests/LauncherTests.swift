// LauncherTests.swift: the launcher command `zm` (Sources/ZoneLauncher).
//
// `run` must set LD_PRELOAD (prepending to an existing value), set ZONEMALLOC_STATS and
// ZONEMALLOC_LIMIT for --stats and --limit, and exec the command in place (same pid,
// the command's own exit status and signal). The library lookup ($ZONEMALLOC_LIB, next
// to the executable, ../lib) is checked on copies of the launcher in scratch layouts.
import Foundation
import Testing

@Suite("zonemalloc launcher")
struct LauncherTests {
  let launcher: String
  let library: String

  init() throws {
    launcher = try Paths.launcher()
    library = try Paths.resolved(try Paths.library())
  }

  func launch(_ args: [String], env: [String: String] = [:], at path: String? = nil) throws -> Outcome {
    var env = env
    if env["ZONEMALLOC_LIB"] == nil && path == nil { env["ZONEMALLOC_LIB"] = library }
    return try Subprocess.run([path ?? launcher] + args, env: env, unset: path == nil ? [] : ["ZONEMALLOC_LIB"])
  }

  /// A copy of the launcher at <tmp>/bin/zm, with the library copied to
  /// <tmp>/<libraryDir>/libzonemalloc.so when libraryDir is given.
  func layout(libraryDir: String?) throws -> (root: String, launcher: String) {
    let root = try Paths.resolved(try Paths.makeTempDir("layout"))
    let fm = FileManager.default
    try fm.createDirectory(atPath: root + "/bin", withIntermediateDirectories: true)
    try fm.copyItem(atPath: launcher, toPath: root + "/bin/zm")
    if let libraryDir {
      try fm.createDirectory(atPath: root + "/" + libraryDir, withIntermediateDirectories: true)
      try fm.copyItem(atPath: library, toPath: root + "/" + libraryDir + "/libzonemalloc.so")
    }
    return (root, root + "/bin/zm")
  }

  @Test func runSetsLDPreload() throws {
    expectSuccess(try launch(["run", "--", "sh", "-c", "echo $LD_PRELOAD"]), stdout: [library])
  }

  @Test func runPrependsToAnExistingPreload() throws {
    let other = "/lib/x86_64-linux-gnu/libm.so.6"
    let outcome = try launch(["run", "--", "sh", "-c", "echo $LD_PRELOAD"], env: ["LD_PRELOAD": other])
    expectSuccess(outcome, stdout: [library + ":" + other])
  }

  @Test func runReplacesItselfWithTheCommand() throws {
    let outcome = try launch(["run", "--", "sh", "-c", "echo $$"])
    expectSuccess(outcome, stdout: ["\(outcome.pid)"])
  }

  @Test func statsFlagPrintsTheSummary() throws {
    let outcome = try launch(["run", "--stats", "--", "python3", "-c", "print(sum(range(1000)))"])
    expectSuccess(outcome, stdout: ["499500"])
    #expect((StatsSummary.parse(outcome.stderr)["malloc_count"] ?? 0) > 0, "no summary:\n\(outcome)")
  }

  @Test func limitFlagSetsTheVariable() throws {
    let outcome = try launch(["run", "--limit", "64M", "--", "sh", "-c", "echo $ZONEMALLOC_LIMIT $ZONEMALLOC_STATS."])
    expectSuccess(outcome, stdout: ["64M ."])
  }

  @Test func badLimitIsAUsageError() throws {
    #expect(try launch(["run", "--limit", "lots", "--", "true"]).exitCode == 2)
  }

  @Test func exitStatusIsTheCommands() throws {
    #expect(try launch(["run", "--", "sh", "-c", "exit 7"]).exitCode == 7)
  }

  @Test func signalIsTheCommands() throws {
    let outcome = try launch(["run", "--", "sh", "-c", "kill -TERM $$"])
    #expect(outcome.signal == SIGTERM, "\(outcome)")
  }

  @Test func missingCommandIs127() throws {
    let outcome = try launch(["run", "--", "/nonexistent/program"])
    #expect(outcome.exitCode == 127, "\(outcome)")
  }

  @Test func libPrintsTheResolvedLibrary() throws {
    expectSuccess(try launch(["lib"]), stdout: [library])
  }

  @Test(arguments: ["bin", "lib"])
  func findsTheLibraryBesideItself(libraryDir: String) throws {
    let (root, copy) = try layout(libraryDir: libraryDir)
    defer { try? FileManager.default.removeItem(atPath: root) }
    expectSuccess(try launch(["lib"], at: copy), stdout: [root + "/" + libraryDir + "/libzonemalloc.so"])
  }

  @Test func missingLibraryIsAOneLineError() throws {
    let (root, copy) = try layout(libraryDir: nil)
    defer { try? FileManager.default.removeItem(atPath: root) }
    let outcome = try launch(["run", "--", "true"], at: copy)
    #expect(outcome.exitCode == 127, "\(outcome)")
    #expect(outcome.stderr.split(separator: "\n").count == 1, "\(outcome)")
    let explicit = try launch(["lib"], env: ["ZONEMALLOC_LIB": root + "/nothing.so"])
    #expect(explicit.exitCode == 127, "\(explicit)")
  }

  @Test func helpPrintsUsage() throws {
    let outcome = try launch(["--help"])
    expectSuccess(outcome)
    #expect(outcome.stdout.contains("usage: zm run [--stats] [--limit SIZE] [--] CMD"), "\(outcome)")
  }

  @Test func unknownVerbIsAUsageError() throws {
    let outcome = try launch(["frobnicate"])
    #expect(outcome.exitCode == 2, "\(outcome)")
    #expect(outcome.stderr.contains("usage:"), "\(outcome)")
  }
}
