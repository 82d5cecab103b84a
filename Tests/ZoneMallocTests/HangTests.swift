// HangTests.swift: zonemalloc never hangs a program that works under glibc (issue 11).
//
// Each case is a C program of Tests/programs run many times under a timeout; a timeout is
// a hang and fails the test. The cases:
//  1. fork_stdio.c: fork() in a loop against threads in stdio (fflush(NULL) holds glibc's
//     list lock and allocates through FILE locks) and threads that allocate.
//  2. fork_atfork.c, linked with atfork_alloc_lib.c: another library's atfork handlers
//     allocate (all three, or only the child's).
//  3. fork_signal.c: a SIGALRM handler forks every 100 us while the program allocates and
//     forks (one thread, and two).
//  4. limit_first_reclaim.c: the first memory-limit reclaim of a single-threaded program
//     (ENOMEM, exit 0), without and with the background thread, and SIGTERM at any moment.
//  5. exit_threads.c: a process whose threads all ended exits at once (main calls
//     pthread_exit; a child forked from a thread whose function returns), and SIGTERM
//     ends a process while the background work runs.
// The lock order is checked at run time (ZONEMALLOC_CHECK_LOCKS=1) on the fork, limit and
// stress programs, and reentrant_handler.c shows the check fires on a real violation.
//
// The default run counts keep the suite to a few minutes; ZONEMALLOC_HANG_FULL=1 runs the
// counts of the issue (20 runs of 10,000 forks, 50 runs of 10 s, ...), about an hour.
import Foundation
import Testing

extension Heavy {
  @Suite("never hang: fork, signals, the limit, exit")
  struct HangTests {
    static let full = ProcessInfo.processInfo.environment["ZONEMALLOC_HANG_FULL"] == "1"

    /// Runs argv `runs` times preloaded (plus env) and expects every run to succeed,
    /// with its last line starting with `prefix`. Returns the longest run in seconds.
    @discardableResult
    func repeatRuns(_ argv: [String], runs: Int, timeout: Double, env: [String: String] = [:],
                    prefix: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Double {
      var longest = 0.0, hangs = 0, failures = 0
      for _ in 0..<runs {
        let outcome = try Subprocess.run(argv, env: try preloadEnvironment(env), timeout: timeout)
        longest = max(longest, outcome.seconds)
        if outcome.timedOut { hangs += 1 } else if !outcome.succeeded || !(outcome.stdoutLines.last ?? "").hasPrefix(prefix) {
          failures += 1
        }
        #expect(outcome.succeeded && (outcome.stdoutLines.last ?? "").hasPrefix(prefix), "\(outcome)",
                sourceLocation: sourceLocation)
        if hangs + failures > 0 { break }
      }
      let program = prefix.split(separator: " ").first.map(String.init) ?? "program"
      print("measured: \(program) \(argv.dropFirst().joined(separator: " ")) "
            + "\(env.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")): \(runs) runs, "
            + "hangs \(hangs), failures \(failures), longest \(String(format: "%.1f", longest)) s")
      return longest
    }

    // MARK: - Case 1: fork against stdio

    @Test func forkAgainstStdioAndAllocatingThreads() throws {
      let program = try TestProgram.build("fork_stdio.c", linkage: .plain)
      let (runs, forks) = Self.full ? (20, 10_000) : (3, 2_000)
      try repeatRuns([program, "\(forks)"], runs: runs, timeout: 60, prefix: "fork_stdio ok forks=\(forks)")
    }

    // MARK: - Case 2: another library's atfork handlers allocate

    static func atforkProgram() throws -> String {
      let library = try TestProgram.build("atfork_alloc_lib.c", linkage: .plain, flags: ["-shared", "-fPIC"])
      let dir = (library as NSString).deletingLastPathComponent
      return try TestProgram.build("fork_atfork.c", linkage: .plain, flags: [library, "-Wl,-rpath," + dir])
    }

    @Test(arguments: ["all", "child"])
    func forkWhenAnotherLibrarysAtforkHandlersAllocate(handlers: String) throws {
      let program = try Self.atforkProgram()
      try repeatRuns([program, "1000"], runs: Self.full ? 20 : 5, timeout: 60, env: ["ATFORK_ALLOC": handlers],
                     prefix: "fork_atfork ok forks=1000 all_handlers=\(handlers == "all" ? 1 : 0)")
    }

    // MARK: - Case 3: fork from a signal handler

    @Test(arguments: [1, 2])
    func forkFromASignalHandler(threads: Int) throws {
      let program = try TestProgram.build("fork_signal.c", linkage: .plain)
      let (runs, seconds) = Self.full ? (50, 10) : (3, 3)
      try repeatRuns([program, "\(threads)", "\(seconds)"], runs: runs, timeout: Double(seconds) + 30,
                     prefix: "fork_signal ok threads=\(threads) ")
    }

    // MARK: - Case 4: the first reclaim under a memory limit

    @Test(arguments: [["one"], [], ["one", "big"], ["big"]], ["auto", "1"])
    func firstReclaimUnderTheLimitEndsInENOMEM(args: [String], background: String) throws {
      let program = try TestProgram.build("limit_first_reclaim.c", linkage: .plain)
      let env = ["ZONEMALLOC_LIMIT": "16M", "ZONEMALLOC_BACKGROUND": background]
      let outcome = try Subprocess.run([program] + args, env: try preloadEnvironment(env), timeout: 30)
      let f = expectReport(outcome, prefix: "reclaim ok ")
      #expect(f["errno_enomem"] == 1, "malloc's NULL came with ENOMEM: \(f)")
      #expect((f["blocks"] ?? 0) > 8000, "about 16 MiB of 1 KiB blocks before the NULL: \(f)")
      if background == "auto" { #expect(f["threads"] == 1, "a single-threaded program stays single-threaded: \(f)") }
      if args.contains("big") && background == "1" { #expect(f["threads"] == 2, "the background thread ran: \(f)") }
    }

    @Test(arguments: ["auto", "1"])
    func sigtermEndsTheProgramAtAnyMoment(background: String) throws {
      let program = try TestProgram.build("limit_first_reclaim.c", linkage: .plain)
      let env = try preloadEnvironment(["ZONEMALLOC_LIMIT": "16M", "ZONEMALLOC_BACKGROUND": background])
      var delivered = 0
      for delay in stride(from: 0, through: 180, by: 20) {
        let (end, seconds) = try Subprocess.runSignalled([program, "big", "hold", "400"], env: env,
                                                         after: Double(delay) / 1000, signal: SIGTERM, timeout: 10)
        #expect(end == .signal(SIGTERM) || end == .exited(0), "SIGTERM after \(delay) ms: \(end)")
        #expect(seconds < 5, "the process took \(seconds) s to end after SIGTERM at \(delay) ms")
        if end == .signal(SIGTERM) { delivered += 1 }
      }
      #expect(delivered > 5, "most runs were still going when SIGTERM came: \(delivered) of 10")
    }

    // MARK: - Case 5: a process whose threads have ended exits

    @Test(arguments: ["main_exit", "fork_thread"], ["auto", "1"])
    func processExitsWhenItsThreadsHaveEnded(mode: String, background: String) throws {
      let program = try TestProgram.build("exit_threads.c", linkage: .plain)
      let longest = try repeatRuns([program, mode], runs: 20, timeout: 10, env: ["ZONEMALLOC_BACKGROUND": background],
                                   prefix: "exit_threads \(mode) ")
      #expect(longest < 1.0, "a run took \(longest) s to exit")
    }

    @Test func sigtermEndsAProcessWhileBackgroundWorkRuns() throws {
      let program = try TestProgram.build("exit_threads.c", linkage: .plain)
      let env = try preloadEnvironment(["ZONEMALLOC_BACKGROUND": "1"])
      for _ in 0..<5 {
        let (end, seconds) = try Subprocess.runSignalled([program, "busy"], env: env, after: 0.3, signal: SIGTERM,
                                                         timeout: 10)
        #expect(end == .signal(SIGTERM), "\(end)")
        #expect(seconds < 1.5, "the process took \(seconds) s to end")
      }
    }

    // MARK: - The lock order, checked at run time

    @Test func lockOrderHoldsUnderForkLimitAndStress() throws {
      let check = ["ZONEMALLOC_CHECK_LOCKS": "1"]
      try repeatRuns([try TestProgram.build("fork_stdio.c", linkage: .plain), "500"], runs: 1, timeout: 60,
                     env: check, prefix: "fork_stdio ok")
      try repeatRuns([try Self.atforkProgram(), "300"], runs: 1, timeout: 60, env: check, prefix: "fork_atfork ok")
      try repeatRuns([try TestProgram.build("fork_signal.c", linkage: .plain), "2", "2"], runs: 1, timeout: 60,
                     env: check, prefix: "fork_signal ok")
      try repeatRuns([try TestProgram.build("limit_first_reclaim.c", linkage: .plain), "one", "big"], runs: 1,
                     timeout: 30, env: check.merging(["ZONEMALLOC_LIMIT": "16M", "ZONEMALLOC_BACKGROUND": "1"]) { $1 },
                     prefix: "reclaim ok")
      let stress: [(String, [String], String)] = [
        ("thread_storm.c", ["4000", "250"], "storm ok"), ("fork_threads.c", ["40", "4"], "fork ok"),
        ("stress_handoff.c", ["8", "2"], "stress ok"), ("big_churn.c", ["20000", "2"], "churn ok"),
      ]
      for (source, args, prefix) in stress {
        let outcome = try runLinked(source, args, env: check.merging(["ZONEMALLOC_BACKGROUND": "1"]) { $1 }, timeout: 120)
        #expect(outcome.succeeded && !outcome.stderr.contains("lock order"), "\(outcome)")
        #expect((outcome.stdoutLines.last ?? "").hasPrefix(prefix), "\(outcome)")
      }
    }

    @Test func lockOrderCheckCatchesAHandlerThatAllocates() throws {
      let program = try TestProgram.build("reentrant_handler.c", linkage: .plain)
      let outcome = try Subprocess.run([program, "20"], env: try preloadEnvironment(["ZONEMALLOC_CHECK_LOCKS": "1"]),
                                       timeout: 40)
      #expect(outcome.signal == SIGABRT, "\(outcome)")
      #expect(outcome.stderr.contains("zonemalloc: lock order violation"), "\(outcome)")
    }
  }
}
