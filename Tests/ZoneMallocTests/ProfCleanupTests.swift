// ProfCleanupTests.swift: `zm prof` cleans up its scratch folder whatever ends it, and
// waits for the processes its command leaves running (Sources/ZoneLauncher/ProfSession).
//
// Each test points TMPDIR at a folder of its own, where zm prof makes its scratch folder,
// and checks that folder is empty afterwards:
// - stdout closed early (zm prof ... | true): zm is not killed by SIGPIPE, writes its
//   files, exits with the command's status; the command still gets SIGPIPE by default
//   (yes | head ends quietly) and starts with no signal blocked;
// - SIGTERM sent to zm: the command gets it too and ends, zm dies of SIGTERM;
// - SIGINT sent to zm alone (kill, not the terminal): the command gets it, and zm
//   reports, exiting with the command's status 130;
// - prof_daemon.c leaves a daemon that allocates a second later: zm waits for it, says
//   so, and its allocation site is in the report;
// - a signal while zm waits for a daemon: zm keeps the folder, names it, and dies of the
//   signal.
import Foundation
import Testing

@Suite("zm prof cleans up and waits for what its command leaves running")
struct ProfCleanupTests {
  let launcher: String
  let library: String
  /// zm prof's TMPDIR, and a folder for the outputs and the test's own files.
  let tmp: String
  let files: String

  init() throws {
    launcher = try Paths.launcher()
    library = try Paths.library()
    tmp = try Paths.makeTempDir("proftmp")
    files = try Paths.makeTempDir("proffiles")
  }

  var env: [String: String] { ["ZONEMALLOC_LIB": library, "TMPDIR": tmp] }

  func scratchFolders() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? ["?"] }

  /// zm prof's argv for a command, with outputs in the test's folder.
  func prof(_ command: [String], options: [String] = []) -> [String] {
    [launcher, "prof", "--out", files + "/out"] + options + ["--"] + command
  }

  /// Waits until the file exists and holds a line; its first line.
  func firstLine(of path: String, _ running: RunningProcess) throws -> String {
    let deadline = Date().addingTimeInterval(30)
    while Date() < deadline {
      if let text = try? String(contentsOfFile: path, encoding: .utf8), text.hasSuffix("\n") {
        return String(text.prefix { $0 != "\n" })
      }
      usleep(20_000)
    }
    throw HarnessError("\(path) was not written:\n\(running.stderr)")
  }

  @Test func aClosedStdoutEndsNothingEarly() throws {
    let status = files + "/status"
    let command = ["sh", "-c", "yes | head -1 >/dev/null; exec python3 -c 'x = [str(i) for i in range(50000)]'"]
    let outcome = try Subprocess.run(["/bin/sh", "-c", "{ \"$@\"; echo $? > \"$0\"; } | true", status]
                                     + prof(command, options: ["--rate", "4K"]), env: env)
    expectSuccess(outcome)
    #expect(try String(contentsOfFile: status, encoding: .utf8) == "0\n", "\(outcome)")
    #expect(!outcome.stderr.contains("Broken pipe"), "the command's SIGPIPE is its default:\n\(outcome)")
    #expect(FileManager.default.fileExists(atPath: files + "/out.svg"), "\(outcome)")
    #expect(scratchFolders() == [], "\(outcome)")
    let blocked = try Subprocess.run(prof(["grep", "^SigBlk", "/proc/self/status"]), env: env)
    #expect(blocked.stdoutLines.contains("SigBlk:\t0000000000000000"), "\(blocked)")
  }

  @Test func sigtermEndsTheCommandAndZm() throws {
    let pidFile = files + "/pid"
    let running = try RunningProcess(prof(["sh", "-c", "echo $$ > '\(pidFile)'; exec sleep 30"]), env: env)
    let command = try #require(pid_t(try firstLine(of: pidFile, running)))
    running.signal(SIGTERM)
    let outcome = running.finish(timeout: 10)
    #expect(outcome.signal == SIGTERM && !outcome.timedOut, "\(outcome)")
    #expect(kill(command, 0) == -1 && errno == ESRCH, "the command \(command) still runs")
    #expect(scratchFolders() == [], "\(outcome)")
  }

  @Test func sigintSentToZmReachesTheCommand() throws {
    let pidFile = files + "/pid"
    let running = try RunningProcess(prof(["sh", "-c", "echo $$ > '\(pidFile)'; exec sleep 30"]), env: env)
    _ = try firstLine(of: pidFile, running)
    running.signal(SIGINT)
    let outcome = running.finish(timeout: 10)
    #expect(outcome.exitCode == 130, "\(outcome)")
    #expect(outcome.stderr.contains("no heap profile was written (sh was killed by signal 2"), "\(outcome)")
    #expect(scratchFolders() == [], "\(outcome)")
  }

  @Test func processesThatOutliveTheCommandAreWaitedFor() throws {
    let program = try TestProgram.build("prof_daemon.c", linkage: .plain)
    let outcome = try Subprocess.run(prof([program, "1"], options: ["--rate", "4K"]), env: env)
    expectSuccess(outcome)
    let daemon = try #require(outcome.stdoutLines.first.flatMap { reportFields($0)["pid"] }, "\(outcome)")
    #expect(outcome.stderr.contains("waiting for the process it left running (pid \(daemon))"), "\(outcome)")
    #expect(outcome.stdout.contains("daemon_site (prof_daemon.c:"), "the daemon's profile is read:\n\(outcome)")
    #expect(outcome.seconds >= 1, "\(outcome)")
    #expect(scratchFolders() == [], "\(outcome)")
  }

  @Test func aSignalWhileWaitingKeepsTheFolder() throws {
    let program = try TestProgram.build("prof_daemon.c", linkage: .plain)
    let running = try RunningProcess(prof([program, "30"]), env: env)
    let daemon = pid_t(try #require(reportFields(try running.waitForLine("daemon pid="))["pid"]))
    defer { kill(daemon, SIGKILL) }
    let deadline = Date().addingTimeInterval(30)
    while !running.stderr.contains("waiting for the process") && Date() < deadline { usleep(20_000) }
    running.signal(SIGINT)
    let outcome = running.finish(timeout: 10)
    #expect(outcome.signal == SIGINT, "\(outcome)")
    let folders = scratchFolders()
    #expect(folders.count == 1, "\(outcome)")
    let kept = tmp + "/" + (folders.first ?? "")
    #expect(outcome.stderr.contains("zm: prof: kept \(kept) for pid \(daemon), still running. "
                                    + "Once they have exited: zm prof --from \(kept)/*.prof"), "\(outcome)")
  }
}
