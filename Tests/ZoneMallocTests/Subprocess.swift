// Subprocess.swift: running a program with a timeout and capturing what it did.
//
// `Subprocess.run` starts argv[0] (looked up in PATH) with posix_spawnp in a process
// group of its own, with stdin from /dev/null and stdout/stderr going to files in the
// scratch folder (no pipe to fill up and block). The environment is this process's,
// less LD_PRELOAD and the ZONEMALLOC_* tuning variables (so every child starts from the
// same state), plus the additions asked for. Past the timeout the whole process group
// is killed with SIGKILL and the outcome says so: allocator bugs often show up as hangs.
// RunningProcess.swift starts a program the same way and leaves it running.
import Foundation

/// What a finished (or killed) subprocess did.
struct Outcome: CustomStringConvertible {
  let command: [String]
  let pid: pid_t
  let exitCode: Int32?
  let signal: Int32?
  let timedOut: Bool
  let stdout: String
  let stderr: String
  let seconds: Double

  var succeeded: Bool { exitCode == 0 && !timedOut }
  var stdoutLines: [String] { stdout.split(separator: "\n").map(String.init) }

  var description: String {
    let end =
      timedOut ? "timed out after \(String(format: "%.1f", seconds)) s and was killed"
      : signal.map { "was killed by signal \($0) (\(String(cString: strsignal($0))))" }
      ?? "exited with status \(exitCode ?? -1)"
    return """
      `\(command.joined(separator: " "))` \(end)
      --- stdout (tail) ---
      \(stdout.suffix(1500))
      --- stderr (tail) ---
      \(stderr.suffix(3000))
      """
  }
}

enum Subprocess {
  /// Variables removed from every child's environment unless given again in `env`.
  static let scrubbed = ["LD_PRELOAD", "ZONEMALLOC_STATS", "ZONEMALLOC_STATS_FORMAT", "ZONEMALLOC_STATS_PID",
                         "ZONEMALLOC_LIMIT", "ZONEMALLOC_LAZY_MAX", "ZONEMALLOC_RELEASE_DELAY", "ZONEMALLOC_NUMA",
                         "ZONEMALLOC_BACKGROUND", "ZONEMALLOC_DEPOT_SLABS", "ZONEMALLOC_CHECK_LOCKS",
                         "ZONEMALLOC_GUARD_RATE", "ZONEMALLOC_GUARD_UNDERFLOW", "ZONEMALLOC_GUARD_SLOTS",
                         "ZONEMALLOC_PROF", "ZONEMALLOC_PROF_RATE", "ZONEMALLOC_PROF_SIGNAL", "ZONEMALLOC_PROF_FILE",
                         "ZONEMALLOC_STATS_PAGE", "ZONEMALLOC_CGROUP_ROOT", "ZONEMALLOC_TEST_PAGE_SIZE",
                         "ZONEMALLOC_WARNED"]

  /// Runs argv with `env` added to the environment and `unset` removed from it.
  static func run(_ argv: [String], env: [String: String] = [:], unset: [String] = [],
                  timeout: Double = 60) throws -> Outcome {
    let dir = try Paths.makeTempDir("run")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let (out, err) = (dir + "/stdout", dir + "/stderr")
    let start = Date()
    let pid = try spawn(argv, environment: environment(adding: env, removing: unset), stdout: out, stderr: err)
    let (status, timedOut) = try wait(pid, timeout: timeout)
    return Outcome(
      command: argv, pid: pid,
      exitCode: timedOut ? nil : exitCode(status), signal: timedOut ? SIGKILL : termSignal(status),
      timedOut: timedOut, stdout: read(out), stderr: read(err), seconds: Date().timeIntervalSince(start))
  }

  /// How a signalled run ended.
  enum End: Equatable {
    case exited(Int32)
    case signal(Int32)
    case timedOut
  }

  /// Starts argv (with `env` added), sends it `signal` after `after` seconds, and waits
  /// for it (killing it past the timeout). Returns how it ended and the seconds from the
  /// signal to its end.
  static func runSignalled(_ argv: [String], env: [String: String], after: Double, signal: Int32,
                           timeout: Double) throws -> (End, Double) {
    let dir = try Paths.makeTempDir("signalled")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let pid = try spawn(argv, environment: environment(adding: env, removing: []),
                        stdout: dir + "/stdout", stderr: dir + "/stderr")
    usleep(useconds_t(after * 1_000_000))
    kill(pid, signal)
    let sent = Date()
    let (status, timedOut) = try wait(pid, timeout: timeout)
    let seconds = Date().timeIntervalSince(sent)
    if timedOut { return (.timedOut, seconds) }
    if let code = exitCode(status) { return (.exited(code), seconds) }
    return (.signal(termSignal(status) ?? 0), seconds)
  }

  /// `sh -c script` with the same options.
  static func shell(_ script: String, env: [String: String] = [:], timeout: Double = 60) throws -> Outcome {
    try run(["/bin/sh", "-c", script], env: env, timeout: timeout)
  }

  static func environment(adding extra: [String: String], removing unset: [String]) -> [String] {
    var env = ProcessInfo.processInfo.environment
    for key in scrubbed + unset { env.removeValue(forKey: key) }
    env.merge(extra) { _, new in new }
    return env.map { "\($0.key)=\($0.value)" }
  }

  static func spawn(_ argv: [String], environment: [String], stdout: String, stderr: String) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var all = sigset_t(), none = sigset_t()
    sigfillset(&all)
    sigemptyset(&none)
    posix_spawnattr_setsigdefault(&attr, &all)
    posix_spawnattr_setsigmask(&attr, &none)
    posix_spawnattr_setpgroup(&attr, 0)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
    var pid: pid_t = 0
    let rc = withCStrings(argv) { args in
      withCStrings(environment) { envp in posix_spawnp(&pid, argv[0], &actions, &attr, args, envp) }
    }
    guard rc == 0 else { throw HarnessError("cannot start \(argv[0]): \(String(cString: strerror(rc)))") }
    return pid
  }

  /// Polls for the child's end; past the deadline kills its process group.
  private static func wait(_ pid: pid_t, timeout: Double) throws -> (status: Int32, timedOut: Bool) {
    let deadline = Date().addingTimeInterval(timeout)
    var status: Int32 = 0
    var pause: useconds_t = 500
    while true {
      let r = waitpid(pid, &status, WNOHANG)
      if r == pid { return (status, false) }
      if r == -1 && errno != EINTR {
        kill(-pid, SIGKILL)
        throw HarnessError("waitpid(\(pid)) failed: \(String(cString: strerror(errno)))")
      }
      if Date() > deadline {
        kill(-pid, SIGKILL)
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return (status, true)
      }
      usleep(pause)
      pause = min(pause * 2, 20_000)
    }
  }

  static func exitCode(_ status: Int32) -> Int32? { status & 0x7f == 0 ? (status >> 8) & 0xff : nil }
  static func termSignal(_ status: Int32) -> Int32? {
    let sig = status & 0x7f
    return sig != 0 && sig != 0x7f ? sig : nil
  }

  static func read(_ path: String) -> String {
    guard let data = FileManager.default.contents(atPath: path) else { return "" }
    return String(decoding: data, as: UTF8.self)
  }
}

/// Calls body with a NULL-terminated C array of the strings (valid only inside body).
func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
  let pointers = strings.map { strdup($0) } + [nil]
  defer { pointers.forEach { free($0) } }
  return body(pointers)
}
