// ChildProcess.swift: starting a command and waiting for it, for `zm prof` (the profiled
// command, then addr2line) and `zm install` (the tools that make the static archive).
//
// Owns: posix_spawnp with changes to this process's environment and an optional stdout
// file, and the waits (blocking, or a look that does not block). zm prof blocks the
// signals it handles itself (ProfSession.swift); a child starts with them unblocked and
// with the signal dispositions zm was given, so the command gets ^C, a closed pipe and
// the rest as it would without zm (a SIGHUP ignored under nohup stays ignored).
#if canImport(Glibc)
import Glibc
#endif

enum ChildProcess {
  /// The signals zm prof blocks for itself and a child must not inherit blocked.
  static let zmSignals = [SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGCHLD, SIGPIPE]

  /// How a child ended.
  enum End {
    case exited(Int32)
    case signalled(Int32)

    /// The status for zm to exit with: the child's, or 128 + its signal.
    var status: Int32 {
      switch self {
      case .exited(let code): return code
      case .signalled(let signal): return 128 + signal
      }
    }

    init(waitStatus status: Int32) {
      self = status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signalled(status & 0x7f)
    }
  }

  /// Runs argv to its end; nil with errno when it cannot start.
  static func run(_ argv: [String], changes: [String: String?] = [:], stdoutPath: String? = nil) -> End? {
    guard let pid = spawn(argv, changes: changes, stdoutPath: stdoutPath) else { return nil }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    return End(waitStatus: status)
  }

  /// How the child ended, if it has (it is then reaped); nil while it runs.
  static func ended(_ pid: pid_t) -> End? {
    var status: Int32 = 0
    return waitpid(pid, &status, WNOHANG) == pid ? End(waitStatus: status) : nil
  }

  /// Starts argv with `changes` to the environment (nil removes a variable) and stdout
  /// sent to `stdoutPath` when given; its pid, or nil with errno when it cannot start.
  static func spawn(_ argv: [String], changes: [String: String?] = [:], stdoutPath: String? = nil) -> pid_t? {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    if let stdoutPath {
      posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    }
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var mask = sigset_t()
    sigprocmask(SIG_SETMASK, nil, &mask)
    for signal in zmSignals { sigdelset(&mask, signal) }
    posix_spawnattr_setsigmask(&attributes, &mask)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
    let args = argv.map { strdup($0) } + [nil]
    let env = environment(with: changes).map { strdup($0) } + [nil]
    defer {
      args.forEach { free($0) }
      env.forEach { free($0) }
    }
    var pid: pid_t = 0
    let rc = posix_spawnp(&pid, argv[0], &actions, &attributes, args, env)
    guard rc == 0 else {
      errno = rc
      return nil
    }
    return pid
  }

  /// This process's environment with the changes applied.
  private static func environment(with changes: [String: String?]) -> [String] {
    var result: [String] = []
    var p = environ
    while let entry = p.pointee {
      let text = String(cString: entry)
      let name = String(text.prefix { $0 != "=" })
      if changes[name] == nil { result.append(text) }
      p += 1
    }
    for (name, value) in changes.sorted(by: { $0.key < $1.key }) {
      if let value { result.append(name + "=" + value) }
    }
    return result
  }
}
