// RunningProcess.swift: a program left running while a test looks at it from outside
// (zm stats and zm top, signals that dump a heap profile).
//
// Started like Subprocess.run (its own process group, stdin /dev/null, stdout and
// stderr to files, the same scrubbed environment), it can be waited on for a line of
// output, signalled, and finished with a timeout. A test that fails early still kills
// it: deinit kills the process group.
import Foundation

final class RunningProcess {
  let pid: pid_t
  let command: [String]
  private let dir: String
  private let start = Date()
  private var ended: Int32?

  init(_ argv: [String], env: [String: String] = [:]) throws {
    dir = try Paths.makeTempDir("running")
    command = argv
    pid = try Subprocess.spawn(argv, environment: Subprocess.environment(adding: env, removing: []),
                               stdout: dir + "/stdout", stderr: dir + "/stderr")
  }

  deinit {
    if ended == nil {
      kill(-pid, SIGKILL)
      var status: Int32 = 0
      while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    }
    try? FileManager.default.removeItem(atPath: dir)
  }

  var stdout: String { Subprocess.read(dir + "/stdout") }
  var stderr: String { Subprocess.read(dir + "/stderr") }

  /// The first stdout line that starts with prefix, once it is there; throws if the
  /// program ends or the timeout passes first.
  func waitForLine(_ prefix: String, timeout: Double = 30) throws -> String {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
      if let line = stdout.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }) { return String(line) }
      var status: Int32 = 0
      if waitpid(pid, &status, WNOHANG) == pid {
        ended = status
        throw HarnessError("`\(command.joined(separator: " "))` ended before printing `\(prefix)`:\n\(stdout)\n\(stderr)")
      }
      usleep(10_000)
    }
    throw HarnessError("`\(command.joined(separator: " "))` printed no `\(prefix)` in \(timeout) s:\n\(stdout)\n\(stderr)")
  }

  func signal(_ number: Int32) { kill(pid, number) }

  /// Waits for the end (the process group is killed past the timeout).
  func finish(timeout: Double = 30) -> Outcome {
    let deadline = Date().addingTimeInterval(timeout)
    var status: Int32 = 0
    var timedOut = false
    while true {
      if let ended { status = ended; break }
      if waitpid(pid, &status, WNOHANG) == pid { break }
      if Date() > deadline {
        kill(-pid, SIGKILL)
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        timedOut = true
        break
      }
      usleep(10_000)
    }
    ended = status
    return Outcome(command: command, pid: pid, exitCode: timedOut ? nil : Subprocess.exitCode(status),
                   signal: timedOut ? SIGKILL : Subprocess.termSignal(status), timedOut: timedOut,
                   stdout: stdout, stderr: stderr, seconds: Date().timeIntervalSince(start))
  }
}
