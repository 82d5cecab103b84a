// ExitPathTests.swift: leaving from a signal handler, and vfork children (issue 26).
//
// The exported _exit runs the library's exit work (statistics, heap profile, stats page),
// so that work must be async-signal-safe: a handler may call _exit while its thread is
// inside the allocator, holding a lock the exit work needs.
//  1. exit_from_handler.c: four threads allocate, a SIGALRM handler calls _exit(0) after
//     1 to 50 ms. Every run must exit 0 before its timeout, with nothing set, with the
//     summary, the profiler, both, and guarding every allocation. 20 runs each by
//     default, 200 with ZONEMALLOC_HANG_FULL=1.
//  2. The same with exit(0) in the handler (not async-signal-safe, but common): no more
//     hangs or failures than under glibc, both counts printed.
//  3. vfork_storm.c: 300 vfork children leave with _exit(7) while three threads
//     allocate: exactly one summary is printed (the parent's), with the counters of the
//     same run without children.
import Foundation
import Testing

extension Heavy {
  @Suite("never hang: leaving from a signal handler, vfork children")
  struct ExitPathTests {
    static let runs = HangTests.full ? 200 : 20

    /// Runs argv `runs` times; returns how many hung (timed out) and how many failed.
    static func count(_ argv: [String], env: [String: String], runs: Int) throws -> (hangs: Int, failures: Int) {
      var hangs = 0, failures = 0
      for _ in 0..<runs {
        let outcome = try Subprocess.run(argv, env: env, timeout: 10)
        if outcome.timedOut { hangs += 1 } else if !outcome.succeeded { failures += 1 }
      }
      return (hangs, failures)
    }

    static let settings: [String: [String: String]] = [
      "nothing set": [:], "ZONEMALLOC_STATS=1": ["ZONEMALLOC_STATS": "1"],
      "ZONEMALLOC_PROF=1": ["ZONEMALLOC_PROF": "1"],
      "ZONEMALLOC_STATS=1 ZONEMALLOC_PROF=1": ["ZONEMALLOC_STATS": "1", "ZONEMALLOC_PROF": "1"],
      "ZONEMALLOC_GUARD_RATE=1": ["ZONEMALLOC_GUARD_RATE": "1"],
    ]

    @Test(arguments: settings.keys.sorted())
    func underscoreExitFromAHandlerNeverHangs(setting: String) throws {
      let program = try TestProgram.build("exit_from_handler.c", linkage: .plain)
      let profiles = try Paths.makeTempDir("exit-profiles")
      var env = try preloadEnvironment(Self.settings[setting]!)
      env["ZONEMALLOC_PROF_FILE"] = profiles + "/%p.prof"
      let (hangs, failures) = try Self.count([program, "_exit"], env: env, runs: Self.runs)
      print("measured: _exit from a SIGALRM handler, \(setting): \(Self.runs) runs, hangs \(hangs), failures \(failures)")
      #expect(hangs == 0 && failures == 0, "\(setting): \(hangs) hangs and \(failures) failures in \(Self.runs) runs")
    }

    @Test func exitFromAHandlerIsNoWorseThanUnderGlibc() throws {
      let program = try TestProgram.build("exit_from_handler.c", linkage: .plain)
      let glibc = try Self.count([program, "exit"], env: [:], runs: Self.runs)
      let ours = try Self.count([program, "exit"], env: try preloadEnvironment(["ZONEMALLOC_STATS": "1"]), runs: Self.runs)
      print("measured: exit() from a SIGALRM handler, \(Self.runs) runs: glibc hangs \(glibc.hangs) failures "
            + "\(glibc.failures); zonemalloc (ZONEMALLOC_STATS=1) hangs \(ours.hangs) failures \(ours.failures)")
      #expect(ours.hangs <= glibc.hangs && ours.hangs + ours.failures <= glibc.hangs + glibc.failures)
    }

    /// The counters of a vfork_storm run's summary, and how many summaries it printed.
    static func storm(children: Int) throws -> (summaries: Int, fields: [String: UInt64]) {
      let program = try TestProgram.build("vfork_storm.c", linkage: .plain)
      let outcome = try Subprocess.run([program, "\(children)"], env: try preloadEnvironment(["ZONEMALLOC_STATS": "1"]),
                                       timeout: 60)
      expectSuccess(outcome, stdout: ["vfork_storm ok children=\(children)"])
      var fields: [String: UInt64] = [:]
      for line in outcome.stderr.split(separator: "\n") where line.hasPrefix("zonemalloc: ") {
        let words = line.split(separator: " ")
        if words.count >= 3, let value = UInt64(words[2]) { fields[String(words[1])] = value }
      }
      return (outcome.stderr.components(separatedBy: "zonemalloc: statistics for pid ").count - 1, fields)
    }

    @Test func vforkChildrenPrintNothingAndChangeNoCounter() throws {
      let alone = try Self.storm(children: 0)
      let stormy = try Self.storm(children: 300)
      #expect(alone.summaries == 1 && stormy.summaries == 1, "summaries: \(alone.summaries), \(stormy.summaries)")
      for name in ["malloc_count", "free_count", "big_allocs", "zones_created"] {
        #expect(stormy.fields[name] != nil && stormy.fields[name] == alone.fields[name],
                "\(name): \(stormy.fields[name] ?? 0) with 300 vfork children, \(alone.fields[name] ?? 0) without")
      }
      print("measured: 300 vfork children: \(stormy.summaries) summary, malloc_count \(stormy.fields["malloc_count"] ?? 0) "
            + "(\(alone.fields["malloc_count"] ?? 0) without children)")
    }
  }
}
