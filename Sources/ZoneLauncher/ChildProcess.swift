// ChildProcess.swift: running a command and waiting for it, for `zm prof` (the profiled
// command, then addr2line).
//
// Owns: posix_spawnp with changes to this process's environment, an optional stdout
// file, and the wait. While a profiled command runs, zm ignores SIGINT and SIGQUIT (as
// time(1) does), so ^C reaches the command and zm still reports what it wrote.
#if canImport(Glibc)
import Glibc
#endif

enum ChildProcess {
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
  }

  /// Runs argv with `changes` to the environment (nil removes a variable) and stdout
  /// sent to `stdoutPath` when given. nil with errno when it cannot start.
  static func run(_ argv: [String], changes: [String: String?] = [:], stdoutPath: String? = nil,
                  ignoringInterrupts: Bool = false) -> End? {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    if let stdoutPath {
      posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    }
    let oldInt = ignoringInterrupts ? signal(SIGINT, SIG_IGN) : nil
    let oldQuit = ignoringInterrupts ? signal(SIGQUIT, SIG_IGN) : nil
    defer {
      if let oldInt { signal(SIGINT, oldInt) }
      if let oldQuit { signal(SIGQUIT, oldQuit) }
    }
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    if ignoringInterrupts {
      // The child gets the default dispositions back.
      var defaults = sigset_t()
      sigemptyset(&defaults)
      sigaddset(&defaults, SIGINT)
      sigaddset(&defaults, SIGQUIT)
      posix_spawnattr_setsigdefault(&attributes, &defaults)
      posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF))
    }
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
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    return status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signalled(status & 0x7f)
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
