// ProfSession.swift: the life of one `zm prof`: its scratch folder, the signals that
// reach it, and the wait for the command and for what it leaves running.
//
// Owns:
//  - The scratch folder ($TMPDIR or /tmp, zm-prof.XXXXXX): the profiles the command's
//    processes write there (ZONEMALLOC_PROF_FILE=<folder>/%p.prof) and addr2line's
//    output. It is removed when zm exits, whatever the path (an atexit handler), and
//    before zm dies of a signal; it is kept only for processes still running that will
//    write into it, and zm then says where it is.
//  - Signals. zm blocks SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGCHLD and SIGPIPE for its
//    whole run and takes them with sigtimedwait, from the main thread: nothing runs in a
//    signal handler. A closed stdout (zm prof ... | head) only makes writes fail (EPIPE):
//    zm still writes its files and cleans up. While the command runs, a signal that the
//    terminal sent to the whole process group has reached the command too; one sent to
//    zm alone is passed on to the command. ^C (SIGINT, SIGQUIT) leaves the command to
//    decide, and zm then reports what was written, as before; SIGTERM and SIGHUP also end
//    zm once the command has ended: no report, and zm dies of the same signal, after
//    removing the folder (or keeping it, as below, for processes still running). After
//    the command, any of the four ends zm the same way at the next checkpoint (between
//    the steps of the report).
//  - Processes that outlive the command (a daemon, a job left in the background) write
//    their profiles when they exit. zm finds them by the ZONEMALLOC_PROF_FILE entry in
//    /proc/PID/environ, the processes that will write into the folder, says so once on
//    stderr, and waits for them. A signal while it waits stops the wait: the folder is
//    kept, zm names it and the command that reads the profiles later, and dies of the
//    signal.
// Touches: ChildProcess, FileSystem, Console.
#if canImport(Glibc)
import Glibc
#endif

/// The folder the atexit handler removes; nil when there is none, or it is kept.
nonisolated(unsafe) private var folderToRemove: String?

final class ProfSession {
  private static let ending = [SIGINT, SIGQUIT, SIGTERM, SIGHUP]
  let scratch: String
  private var waited = sigset_t()

  /// Blocks zm's signals and makes the scratch folder; exits 1 if it cannot.
  init() {
    var blocked = sigset_t()
    sigemptyset(&blocked)
    for signal in ChildProcess.zmSignals { sigaddset(&blocked, signal) }
    sigprocmask(SIG_BLOCK, &blocked, nil)
    sigemptyset(&waited)
    for signal in Self.ending + [SIGCHLD] { sigaddset(&waited, signal) }
    do { scratch = try FileSystem.makeScratchFolder("zm-prof") } catch { Console.fail(error.message, status: 1) }
    folderToRemove = scratch
    atexit { if let folder = folderToRemove { FileSystem.removeScratchFolder(folder) } }
  }

  /// The value of ZONEMALLOC_PROF_FILE for the command.
  var profilePattern: String { scratch + "/%p.prof" }

  /// The profiles in the folder.
  var profiles: [String] {
    (FileSystem.list(scratch) ?? []).filter { $0.hasSuffix(".prof") }.sorted().map { scratch + "/" + $0 }
  }

  /// Runs the command and waits for it, then for the processes that will still write
  /// into the folder; how the command ended. Exits 127 or 126 if it cannot start.
  func run(_ argv: [String], changes: [String: String?]) -> ChildProcess.End {
    guard let pid = ChildProcess.spawn(argv, changes: changes) else {
      let code = errno
      Console.fail("cannot run \(argv[0]): \(errorText(code))", status: code == ENOENT ? 127 : 126)
    }
    var ending: Int32?
    var end: ChildProcess.End?
    while end == nil {
      if let (signal, code) = nextSignal(timeout: 1.0) {
        if code != SI_KERNEL { kill(pid, signal) } // sent to zm alone: the command's to handle
        if signal == SIGTERM || signal == SIGHUP { ending = signal }
      }
      end = ChildProcess.ended(pid)
    }
    let entry = "ZONEMALLOC_PROF_FILE=" + profilePattern
    let holders = Self.processes(holding: entry)
    if let ending { stop(ending, keepingFor: holders) }
    wait(for: holders, holding: entry, of: argv[0])
    return end!
  }

  /// Ends zm, as the signal would, when one of the four has arrived.
  func checkpoint() {
    if let (signal, _) = nextSignal(timeout: 0) { die(signal) }
  }

  /// Waits for the processes whose environment holds entry (and so point into the
  /// folder); a signal stops the wait, keeps the folder and ends zm.
  private func wait(for found: [Int32], holding entry: String, of command: String) {
    var holders = found
    guard !holders.isEmpty else { return }
    let which = holders.count == 1 ? "the process it left running (\(pids(holders))), which writes its profile when it exits"
      : "the \(holders.count) processes it left running (\(pids(holders))), which write their profiles when they exit"
    Console.error("prof: \(command.printable) has exited; waiting for \(which); "
                  + "^C stops waiting and keeps the folder of profiles")
    while !holders.isEmpty {
      if let (signal, _) = nextSignal(timeout: 0.1) { stop(signal, keepingFor: holders) }
      holders = holders.filter { Self.holds($0, entry) }
      if holders.isEmpty { holders = Self.processes(holding: entry) }
    }
  }

  /// Dies of the signal; the folder is kept, and named, when processes will still write
  /// into it.
  private func stop(_ signal: Int32, keepingFor holders: [Int32]) -> Never {
    if !holders.isEmpty {
      folderToRemove = nil
      Console.error("prof: kept \(scratch) for \(pids(holders)), still running. Once they have exited: "
                    + "zm prof --from \(scratch.shellQuoted)/*.prof")
    }
    die(signal)
  }

  private func pids(_ holders: [Int32]) -> String {
    (holders.count == 1 ? "pid " : "pids ") + holders.map(String.init).joined(separator: ", ")
  }

  /// The next of zm's signals (SIGCHLD only wakes the wait), with its si_code, or nil
  /// when none comes within timeout seconds.
  private func nextSignal(timeout: Double) -> (Int32, Int32)? {
    var info = siginfo_t()
    var wait = timespec(tv_sec: Int(timeout), tv_nsec: Int((timeout - timeout.rounded(.down)) * 1e9))
    let signal = sigtimedwait(&waited, &info, &wait)
    return signal > 0 && signal != SIGCHLD ? (signal, info.si_code) : nil
  }

  /// Removes the folder unless it is kept, then dies of the signal.
  private func die(_ signal: Int32) -> Never {
    if let folder = folderToRemove { FileSystem.removeScratchFolder(folder) }
    folderToRemove = nil
    Glibc.signal(signal, SIG_DFL)
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, signal)
    sigprocmask(SIG_UNBLOCK, &set, nil)
    raise(signal)
    exit(128 + signal)
  }

  /// The processes whose environment holds entry.
  private static func processes(holding entry: String) -> [Int32] {
    (FileSystem.list("/proc") ?? []).compactMap(Int32.init).filter { $0 != getpid() && holds($0, entry) }.sorted()
  }

  private static func holds(_ pid: Int32, _ entry: String) -> Bool {
    guard let bytes = try? FileSystem.read("/proc/\(pid)/environ") else { return false }
    return bytes.split(separator: 0).contains { $0.elementsEqual(entry.utf8) }
  }
}
