// SetuidTests.swift: a privileged process ignores the ZONEMALLOC_* variables (issue 29).
//
// setuid_probe.c is installed setuid root in a folder of its own (every component
// readable by all, the library copied beside it) and run as `nobody` with every variable
// the library reads set to a path or to its most dangerous value: it must create no
// file, print no statistics, and keep its defaults (guarded sampling on, no limit, no
// stats page). The same program without the setuid bit, run as root, must honour the
// same variables, so the test would notice a library that ignores them everywhere.
// The preload form: inside a private mount namespace (unshare -m) an overlay over /etc
// holds an /etc/ld.so.preload naming the library, and a plain setuid program gets it
// from there (started by env as nobody, whose own library makes no stats page: the
// probe, which has env's pid, would otherwise find env's). Needs root, setpriv, and for the preload form unshare and overlayfs: where
// one is missing the test says so and skips that part.
import Foundation
import Testing

@Suite("setuid programs ignore the environment")
struct SetuidTests {
  /// Every ZONEMALLOC_* name the library's sources mention.
  static func variableNames() throws -> [String] {
    var names = Set<String>()
    let sources = Paths.packageRoot + "/Sources/ZoneCore"
    for case let file as String in FileManager.default.enumerator(atPath: sources)! where file.hasSuffix(".swift") {
      let text = try String(contentsOfFile: sources + "/" + file, encoding: .utf8)
      for match in text.matches(of: /"(ZONEMALLOC_[A-Z_]+)"/) { names.insert(String(match.output.1)) }
    }
    return names.sorted()
  }

  /// The most dangerous value of each variable; `out` is a folder only root may write.
  static func dangerousValues(_ out: String, statsToFile: Bool) throws -> [String: String] {
    let chosen = [
      "ZONEMALLOC_STATS": statsToFile ? out + "/stats-%p" : "1", "ZONEMALLOC_STATS_FORMAT": "json",
      "ZONEMALLOC_PROF": "1", "ZONEMALLOC_PROF_FILE": out + "/profile", "ZONEMALLOC_PROF_RATE": "1",
      "ZONEMALLOC_PROF_SIGNAL": "USR1", "ZONEMALLOC_GUARD_RATE": "0", "ZONEMALLOC_GUARD_SLOTS": "1",
      "ZONEMALLOC_LIMIT": "48M", "ZONEMALLOC_CGROUP_ROOT": out, "ZONEMALLOC_STATS_PAGE": "1",
      "ZONEMALLOC_CHECK_LOCKS": "1", "ZONEMALLOC_RELEASE_DELAY": "1", "ZONEMALLOC_LAZY_MAX": "0",
      "ZONEMALLOC_DEPOT_SLABS": "0",
    ]
    var values: [String: String] = [:]
    for name in try variableNames() { values[name] = chosen[name] ?? "1" }
    values["ZONEMALLOC_STAT"] = "1" // misspelt: not even the unknown name is reported
    return values
  }

  /// A folder every user may enter, with the library copied in and the probe built
  /// against it (absolute rpath), and an empty `out` folder only root may write.
  static func installation(linked: Bool) throws -> (dir: String, probe: String, library: String) {
    let dir = "/tmp/zonemalloc-setuid-" + UUID().uuidString.prefix(8)
    let fm = FileManager.default
    try fm.createDirectory(atPath: dir + "/lib", withIntermediateDirectories: true)
    try fm.createDirectory(atPath: dir + "/out", withIntermediateDirectories: true)
    let library = dir + "/lib/libzonemalloc.so.0"
    try fm.copyItem(atPath: try Paths.library(), toPath: library)
    try fm.createSymbolicLink(atPath: dir + "/lib/libzonemalloc.so", withDestinationPath: "libzonemalloc.so.0")
    let probe = dir + "/probe"
    var argv = ["cc", "-O2", "-I", Paths.include, "-I", Paths.programs, Paths.programs + "/setuid_probe.c", "-o", probe]
    if linked { argv += ["-L" + dir + "/lib", "-lzonemalloc", "-Wl,-rpath," + dir + "/lib"] }
    let built = try Subprocess.run(argv + ["-ldl"], timeout: 120)
    guard built.succeeded else { throw HarnessError("cannot build setuid_probe.c:\n\(built)") }
    for path in [dir, dir + "/lib", dir + "/out"] { chmod(path, 0o755) }
    return (dir, probe, library)
  }

  static var canRun: Bool {
    geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")
  }

  static func asNobody(_ argv: [String]) -> [String] {
    ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"] + argv
  }

  /// Checks a run of the probe that must have ignored the environment.
  static func expectIgnored(_ outcome: Outcome, out: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let f = expectReport(outcome, prefix: "probe ", sourceLocation: sourceLocation)
    #expect(f["euid"] == 0, "the probe did not run setuid root: \(outcome)", sourceLocation: sourceLocation)
    #expect(f["limit"] == 0 && outcome.stdout.contains("big=ok"), "ZONEMALLOC_LIMIT was obeyed: \(outcome)",
            sourceLocation: sourceLocation)
    #expect((f["guarded"] ?? 0) > 0, "ZONEMALLOC_GUARD_RATE=0 turned guarding off: \(outcome)",
            sourceLocation: sourceLocation)
    #expect(outcome.stdout.contains("page=no"), "a stats page was created: \(outcome)", sourceLocation: sourceLocation)
    #expect(!outcome.stderr.contains("zonemalloc"), "the library printed: \(outcome)", sourceLocation: sourceLocation)
    let made = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
    #expect(made.isEmpty, "files created as root: \(made)", sourceLocation: sourceLocation)
  }

  @Test func aSetuidProgramRunByAnotherUserIgnoresEveryVariable() throws {
    guard Self.canRun else {
      print("skipped: needs root and setpriv to run a setuid program as another user")
      return
    }
    let names = try Self.variableNames()
    #expect(names.count >= 18, "the scan of the sources found too few variables: \(names)")
    let (dir, probe, _) = try Self.installation(linked: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let plain = dir + "/probe-plain"
    try FileManager.default.copyItem(atPath: probe, toPath: plain)
    chmod(probe, 0o4755)
    for toFile in [false, true] {
      let env = try Self.dangerousValues(dir + "/out", statsToFile: toFile)
      Self.expectIgnored(try Subprocess.run(Self.asNobody([probe]), env: env), out: dir + "/out")
    }
    // Without the setuid bit, root's own run honours the same variables.
    let env = try Self.dangerousValues(dir + "/out", statsToFile: true)
    // (ZONEMALLOC_STATS_PID=1 would keep this process from printing its summary.)
    var rootEnv = env.merging(["ZONEMALLOC_PROF_RATE": "512K"]) { $1 }
    rootEnv["ZONEMALLOC_STATS_PID"] = nil
    let honoured = try Subprocess.run([plain], env: rootEnv)
    let f = expectReport(honoured, prefix: "probe ")
    #expect(f["limit"] == 48 << 20 && honoured.stdout.contains("big=refused"), "\(honoured)")
    #expect(f["guarded"] == 0 && honoured.stdout.contains("page=yes"), "\(honoured)")
    let made = try FileManager.default.contentsOfDirectory(atPath: dir + "/out")
    #expect(made.contains { $0.hasPrefix("stats-") } && made.contains("profile"), "\(made)")
    print("measured: setuid as nobody with \(names.count) variables set: no file, no output, defaults kept; "
          + "as root without the bit: limit, guard rate, stats file and profile honoured")
  }

  @Test func aSetuidProgramUnderLdSoPreloadIgnoresEveryVariable() throws {
    guard Self.canRun, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else {
      print("skipped: needs root, setpriv and unshare for a private /etc/ld.so.preload")
      return
    }
    let (dir, probe, library) = try Self.installation(linked: false)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    chmod(probe, 0o4755)
    let layers = try Paths.makeTempDir("overlay")
    let script = """
      mkdir -p "$1/upper" "$1/work" && \
      mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/upper,workdir=$1/work" /etc || exit 97
      echo "$2" > /etc/ld.so.preload && shift 2 && exec "$@"
      """
    // The variables are given to the probe only: every program started inside the
    // namespace loads the library too, and setpriv, which switches its credentials
    // thread by thread, must not have them (ZONEMALLOC_BACKGROUND=1 gives it a thread).
    let assignments = try Self.dangerousValues(dir + "/out", statsToFile: true).map { "\($0.key)=\($0.value)" }
    let argv = ["/usr/bin/unshare", "-m", "/bin/sh", "-c", script, "sh", layers, library]
      + Self.asNobody(["/usr/bin/env"] + assignments.sorted() + [probe])
    let outcome = try Subprocess.run(argv, env: ["ZONEMALLOC_STATS_PAGE": "0"])
    if outcome.exitCode == 97 || outcome.stderr.contains("unshare failed") {
      print("skipped: no private mount namespace with an overlay over /etc here: \(outcome.stderr.prefix(200))")
      return
    }
    Self.expectIgnored(outcome, out: dir + "/out")
    #expect(!FileManager.default.fileExists(atPath: "/etc/ld.so.preload"), "the overlay leaked out of its namespace")
  }
}
