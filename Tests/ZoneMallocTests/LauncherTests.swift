// LauncherTests.swift: the launcher command `zm` (Sources/ZoneLauncher).
//
// `run` must set LD_PRELOAD (prepending to an existing value), set ZONEMALLOC_STATS and
// ZONEMALLOC_LIMIT for --stats and --limit, and exec the command in place (same pid,
// the command's own exit status and signal). The library lookup ($ZONEMALLOC_LIB, next
// to the executable, ../lib) is checked on copies of the launcher in scratch layouts.
// The launcher tells the truth: --version and run --help work; --limit is checked as the
// library checks ZONEMALLOC_LIMIT (the two agree on a table of sizes); a library that is
// not an ELF shared library, or not zonemalloc (its SONAME), is refused; a static command
// gets a warning, and so does
// one the loader runs in secure mode (setuid or setgid to someone else); zm needs no
// Swift runtime from the toolchain. --stats prints one summary, the command's, even when
// the command closes stderr; --stats=json prints it as JSON; --stats=all one per process;
// --stats=FILE writes a file.
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
  /// <tmp>/<libraryDir>/<name> when libraryDir is given.
  func layout(libraryDir: String?, name: String = "libzonemalloc.so") throws -> (root: String, launcher: String) {
    let root = try Paths.resolved(try Paths.makeTempDir("layout"))
    let fm = FileManager.default
    try fm.createDirectory(atPath: root + "/bin", withIntermediateDirectories: true)
    // cp, not copyItem: a write descriptor open in this process would be inherited by the
    // programs other tests start meanwhile, and running the copy would fail (ETXTBSY).
    expectSuccess(try Subprocess.run(["cp", launcher, root + "/bin/zm"]))
    if let libraryDir {
      try fm.createDirectory(atPath: root + "/" + libraryDir, withIntermediateDirectories: true)
      try fm.copyItem(atPath: library, toPath: root + "/" + libraryDir + "/" + name)
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

  /// ls and sort close stderr in an atexit handler; dash leaves through _exit.
  @Test(arguments: [["ls", "/"], ["sort"], ["sh", "-c", "exec 2>&-; true"], ["sh", "-c", "/bin/true; ls / >/dev/null"]])
  func statsPrintsOneSummaryForTheCommand(command: [String]) throws {
    let outcome = try launch(["run", "--stats", "--"] + command)
    expectSuccess(outcome)
    let program = (command[0] as NSString).lastPathComponent
    #expect(SummaryTests.headers(outcome.stderr) == ["zonemalloc: statistics for pid \(outcome.pid) (\(program))"],
            "\(outcome)")
    #expect((StatsSummary.require(outcome)["peak_mapped"] ?? 0) > 0, "\(outcome)")
  }

  @Test func statsAllPrintsOneSummaryPerProcess() throws {
    let outcome = try launch(["run", "--stats=all", "--", "sh", "-c", "/bin/true; exit 0"])
    expectSuccess(outcome)
    let headers = SummaryTests.headers(outcome.stderr)
    #expect(headers.count == 2 && headers.last == "zonemalloc: statistics for pid \(outcome.pid) (sh)", "\(outcome)")
  }

  @Test func statsFileGetsTheCommandsSummary() throws {
    let dir = try Paths.makeTempDir("statsfile")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let file = dir + "/summary.txt"
    try "left over from another run\n".write(toFile: file, atomically: false, encoding: .utf8)
    let outcome = try launch(["run", "--stats=" + file, "--", "sh", "-c", "exec 2>&-; /bin/true; exit 0"])
    expectSuccess(outcome)
    #expect(outcome.stderr.isEmpty, "\(outcome)")
    let text = try String(contentsOfFile: file, encoding: .utf8)
    #expect(text.hasPrefix("zonemalloc: statistics for pid \(outcome.pid) (sh)\n"), "\(text)")
    #expect(SummaryTests.headers(text).count == 1 && StatsSummary.parse(text)["malloc_count"] != nil, "\(text)")
  }

  @Test func statsFileWithPidAndJSONParses() throws {
    let dir = try Paths.makeTempDir("statsjson")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let outcome = try launch(["run", "--stats=" + dir + "/%p.json", "--", "python3", "-c", "print(len(str(2**10000)))"],
                             env: ["ZONEMALLOC_STATS_FORMAT": "json"])
    expectSuccess(outcome, stdout: ["3011"])
    let reader = "import json, sys; d = json.load(open(sys.argv[1])); print(d['pid'], ' '.join(sorted(d)))"
    let parsed = try Subprocess.run(["python3", "-c", reader, dir + "/\(outcome.pid).json"])
    expectSuccess(parsed)
    let fields = try StatsFields.fromHeader()
    #expect(parsed.stdoutLines == ["\(outcome.pid) " + (fields + ["pid", "program"]).sorted().joined(separator: " ")],
            "\(parsed)")
  }

  /// --stats=json is the summary as JSON on stderr, not a file named json.
  @Test func statsJSONPrintsTheSummaryAsJSON() throws {
    let dir = try Paths.makeTempDir("statsjsonflag")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let outcome = try launch(["run", "--stats=json", "--", "sh", "-c", "cd \(dir) && /bin/true; exit 0"])
    expectSuccess(outcome)
    let object = try JSONSerialization.jsonObject(with: Data(outcome.stderr.utf8)) as? [String: Any]
    #expect((object?["pid"] as? Int) == Int(outcome.pid) && object?["malloc_count"] != nil, "\(outcome)")
    #expect(!FileManager.default.fileExists(atPath: "json") && !FileManager.default.fileExists(atPath: dir + "/json"))
  }

  @Test func unwritableStatsFileIsAnError() throws {
    let outcome = try launch(["run", "--stats=/nonexistent/dir/s.txt", "--", "echo", "ran"])
    #expect(outcome.exitCode == 2 && outcome.stdout.isEmpty, "\(outcome)")
    #expect(outcome.stderr.contains("cannot write /nonexistent/dir/s.txt"), "\(outcome)")
  }

  @Test func limitFlagSetsTheVariable() throws {
    let outcome = try launch(["run", "--limit", "64M", "--", "sh", "-c", "echo $ZONEMALLOC_LIMIT $ZONEMALLOC_STATS."])
    expectSuccess(outcome, stdout: ["64M ."])
    let attached = try launch(["run", "--limit=2GiB", "--", "sh", "-c", "echo $ZONEMALLOC_LIMIT"])
    expectSuccess(attached, stdout: ["2GiB"])
  }

  @Test func badLimitIsAUsageError() throws {
    #expect(try launch(["run", "--limit", "lots", "--", "true"]).exitCode == 2)
  }

  @Test func limitBelowTheMinimumIsRefusedWithTheReason() throws {
    let outcome = try launch(["run", "--limit", "512k", "--", "echo", "ran"])
    #expect(outcome.exitCode == 2 && outcome.stdout.isEmpty, "\(outcome)")
    #expect(outcome.stderr == "zm: bad --limit 512k: 524288 bytes is below the minimum of 1M (0 means no limit)\n",
            "\(outcome)")
    let fraction = try launch(["run", "--limit", "1.5G", "--", "true"])
    #expect(fraction.exitCode == 2 && fraction.stderr.contains("is not a unit"), "\(fraction)")
  }

  /// Sizes on both sides of every rule of the library's parser.
  static let sizes = [
    "0", "0K", "1M", "1m", "1048576", "1048575", "1023K", "1024K", "512k", "2G", "2g", "2GiB", "2gib", "2GB",
    "2Gi", "2iB", "5B", "1.5G", "lots", "-1", "+5M", " 5M", "5M ", "0x10M", "1T", "16777215T", "16777216T",
    "18446744073709551615", "18446744073709551616", "5MiBB", "5X", "auto", "AUTO", "Auto", "autox", "auto ",
  ]

  @Test(arguments: sizes)
  func limitIsCheckedAsTheLibraryChecksIt(size: String) throws {
    let zm = try launch(["run", "--limit", size, "--", "/bin/true"])
    let library = try Subprocess.run(["/bin/true"], env: try preloadEnvironment(["ZONEMALLOC_LIMIT": size]))
    let libraryIgnoresIt = library.stderr.contains("ignoring ZONEMALLOC_LIMIT")
    #expect((zm.exitCode == 2) == libraryIgnoresIt, "zm: \(zm)\nlibrary: \(library)")
    #expect(zm.exitCode == 2 || zm.succeeded, "\(zm)")
  }

  @Test func versionIsTheLibrarysVersion() throws {
    let outcome = try launch(["--version"])
    let zm = try ZM.load()
    let header = try String(contentsOfFile: Paths.include + "/zonemalloc.h", encoding: .utf8)
    let libraryVersion = String(cString: zm.version()!)
    expectSuccess(outcome, stdout: ["zm \(libraryVersion)"])
    #expect(header.contains("#define ZONEMALLOC_VERSION_STRING \"\(libraryVersion)\""))
  }

  @Test func runHelpDescribesTheOptions() throws {
    let outcome = try launch(["run", "--help"])
    expectSuccess(outcome)
    for text in ["usage: zm run", "--stats=json", "--stats=FILE", "--stats=all", "--limit SIZE"] {
      #expect(outcome.stdout.contains(text), "\(outcome)")
    }
  }

  @Test(arguments: ["/etc/passwd", "/bin/ls"])
  func aLibraryThatIsNotASharedLibraryIsRefused(path: String) throws {
    let outcome = try launch(["run", "--", "echo", "ran"], env: ["ZONEMALLOC_LIB": path])
    #expect(outcome.exitCode == 2 && outcome.stdout.isEmpty, "\(outcome)")
    #expect(outcome.stderr.hasPrefix("zm: ") && outcome.stderr.contains("not a shared library"), "\(outcome)")
  }

  /// Another allocator (here a small library with no SONAME, and one named libjemalloc.so.2)
  /// is a shared library for this machine, but not zonemalloc: refused, nothing runs.
  @Test func aLibraryThatIsNotZonemallocIsRefused() throws {
    let plain = try TestProgram.build("atfork_alloc_lib.c", linkage: .plain, flags: ["-shared", "-fPIC"])
    let named = try TestProgram.build("atfork_alloc_lib.c", linkage: .plain,
                                      flags: ["-shared", "-fPIC", "-Wl,-soname,libjemalloc.so.2"])
    for (path, soname) in [(plain, "missing"), (named, "libjemalloc.so.2")] {
      let outcome = try launch(["run", "--", "echo", "ran"], env: ["ZONEMALLOC_LIB": path])
      #expect(outcome.exitCode == 2 && outcome.stdout.isEmpty, "\(outcome)")
      #expect(outcome.stderr.contains("is not zonemalloc (its SONAME is \(soname), not libzonemalloc.so.N)"),
              "\(outcome)")
    }
  }

  /// A library whose headers hold offsets and sizes near 2^64 (the program header table's
  /// offset, or every loadable segment's offset and size) gets one line and exit 2: zm's
  /// reads never overflow and trap.
  @Test(arguments: ["table", "segments"])
  func aLibraryWithHostileHeadersIsRefusedWithALine(field: String) throws {
    let dir = try Paths.makeTempDir("hostile-elf")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try Paths.library())))
    func word(_ at: Int) -> Int { (0..<8).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * $1) } }
    func poison(_ at: Int) { for i in 0..<8 { bytes[at + i] = i == 0 ? 0 : 0xff } } // 0xffff...ff00
    let table = word(32), entrySize = Int(bytes[54]) | Int(bytes[55]) << 8, count = Int(bytes[56]) | Int(bytes[57]) << 8
    if field == "table" {
      poison(32)
    } else {
      for i in 0..<count where bytes[table + i * entrySize] == 1 { // PT_LOAD
        poison(table + i * entrySize + 8)
        poison(table + i * entrySize + 32)
      }
    }
    let path = dir + "/libzonemalloc.so"
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    let outcome = try launch(["run", "--", "echo", "ran"], env: ["ZONEMALLOC_LIB": path])
    #expect(outcome.exitCode == 2 && outcome.stdout.isEmpty, "\(outcome)")
    #expect(outcome.stderr.hasPrefix("zm: \(path) is not zonemalloc"), "\(outcome)")
  }

  @Test func aStaticCommandGetsAWarningAndRuns() throws {
    let outcome = try launch(["run", "--", "/sbin/ldconfig", "--version"])
    expectSuccess(outcome)
    #expect(outcome.stdout.hasPrefix("ldconfig"), "\(outcome)")
    #expect(outcome.stderr.contains("zm: warning: /sbin/ldconfig is statically linked"), "\(outcome)")
    #expect(outcome.stderr.contains("without zonemalloc"), "\(outcome)")
    let dynamic = try launch(["run", "--", "/bin/true"])
    #expect(dynamic.succeeded && dynamic.stderr.isEmpty, "\(dynamic)")
  }

  /// As root: a copy of the probe setuid to nobody, or setgid to nogroup, runs in the
  /// loader's secure mode, without zonemalloc, and zm says so; a setuid-root copy does
  /// not (root is its real user), and gets no warning.
  @Test(.enabled(if: getuid() == 0, "needs root, to make files setuid to another user"))
  func aSetuidCommandGetsAWarningAndRuns() throws {
    let probe = try TestProgram.build("preload_probe.c", linkage: .plain)
    let dir = try Paths.makeTempDir("setuid")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for (name, setup, ignored) in [("nobody", "chown nobody p && chmod 4755 p", "setuid to nobody, not you"),
                                   ("nogroup", "chgrp nogroup p && chmod 2755 p", "setgid to group nogroup, not yours"),
                                   ("root", "chmod 4755 p", nil)] {
      let copy = dir + "/" + name
      expectSuccess(try Subprocess.shell("cd '\(dir)' && cp '\(probe)' p && \(setup) && mv p \(name)"))
      let outcome = try launch(["run", "--", copy])
      if let ignored {
        #expect(outcome.exitCode == 1 && outcome.stderr.hasPrefix("zm: warning: \(copy) is \(ignored): the dynamic "
                + "loader ignores LD_PRELOAD for it, so it will run without zonemalloc\n"), "\(outcome)")
      } else {
        #expect(outcome.succeeded && outcome.stdout.hasPrefix("preload active") && outcome.stderr.isEmpty, "\(outcome)")
      }
    }
  }

  @Test func needsNoSwiftRuntimeFromTheToolchain() throws {
    let ldd = try Subprocess.run(["ldd", launcher])
    expectSuccess(ldd)
    #expect(!ldd.stdout.lowercased().contains("swift"), "\(ldd.stdout)")
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

  @Test(arguments: [("bin", "libzonemalloc.so"), ("lib", "libzonemalloc.so"), ("lib", "libzonemalloc.so.0")])
  func findsTheLibraryBesideItself(libraryDir: String, name: String) throws {
    let (root, copy) = try layout(libraryDir: libraryDir, name: name)
    defer { try? FileManager.default.removeItem(atPath: root) }
    expectSuccess(try launch(["lib"], at: copy), stdout: [root + "/" + libraryDir + "/" + name])
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
    for command in ["zm run [--stats", "zm lib", "zm install [--prefix DIR]", "zm uninstall", "zm --version"] {
      #expect(outcome.stdout.contains(command), "\(outcome)")
    }
  }

  @Test func unknownVerbIsAUsageError() throws {
    let outcome = try launch(["frobnicate"])
    #expect(outcome.exitCode == 2, "\(outcome)")
    #expect(outcome.stderr.contains("usage:"), "\(outcome)")
  }
}
